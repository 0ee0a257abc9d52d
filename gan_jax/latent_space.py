"""Walks and arithmetic in a generator's latent space (DCGAN, Radford et al. 2016; White 2016).

Interpolating between two latents and decoding every point shows whether G has learnt a smooth manifold (DCGAN
section 6.1). For a Gaussian prior in many dimensions almost all the mass lies near a sphere of radius sqrt(D), and
the midpoint of a straight line between two latents is much shorter than that: linear interpolation passes through
latents G never saw in training. Spherical interpolation (slerp) follows the great circle instead and keeps the
norm of unit vectors (White 2016, "Sampling generative networks").
"""

import jax
import jax.numpy as jnp

Array = jax.Array

INTERPOLATION_METHODS = ('slerp', 'linear')

# Below this sin(angle) the slerp weights are 0/0: the latents are parallel (slerp's limit there is lerp) or
# antiparallel (no unique great circle). The lerp fallback differs from slerp by O(angle^2) on the parallel side.
_MIN_SIN_ANGLE = 1e-4


def _expand_t(t, ndim: int) -> Array:
  """Scalar t stays scalar; t of shape [T] becomes [T, 1, ..., 1] so that outputs are [T, ..., D]."""
  t = jnp.asarray(t)
  if t.ndim == 0:
    return t
  if t.ndim != 1:
    raise ValueError(f't must be a scalar or of shape [T], got shape {t.shape}')
  return t.reshape((-1,) + (1,) * ndim)


def _safe_norm(x: Array) -> Array:
  # The floor keeps the gradient of the square root finite where x is exactly zero.
  return jnp.sqrt(jnp.maximum(jnp.sum(x * x, axis=-1, keepdims=True), 1e-30))


def lerp(z0: Array, z1: Array, t) -> Array:
  """Linear interpolation (1 - t) z0 + t z1.

  Args:
    z0: start latents [..., D].
    z1: end latents, the shape of z0.
    t: a scalar, or positions of shape [T].

  Returns:
    [..., D] for scalar t, [T, ..., D] for t of shape [T].
  """
  z0, z1 = jnp.asarray(z0), jnp.asarray(z1)
  t = _expand_t(t, z0.ndim)
  return (1.0 - t) * z0 + t * z1


def slerp(z0: Array, z1: Array, t) -> Array:
  """Spherical interpolation sin((1-t) W)/sin(W) z0 + sin(t W)/sin(W) z1, W the angle between z0 and z1.

  The angle is taken per vector (over the last axis). Where it is near 0 or pi, or a latent is zero, the result is
  lerp's, so the values stay finite.

  Args:
    z0: start latents [..., D].
    z1: end latents, the shape of z0.
    t: a scalar, or positions of shape [T].

  Returns:
    [..., D] for scalar t, [T, ..., D] for t of shape [T].
  """
  z0, z1 = jnp.asarray(z0), jnp.asarray(z1)
  norm0, norm1 = _safe_norm(z0), _safe_norm(z1)
  u0, u1 = z0 / norm0, z1 / norm1
  # Kahan's form of the angle is accurate near 0 and pi, where arccos of the cosine loses half the digits.
  angle = 2.0 * jnp.arctan2(_safe_norm(u0 - u1), _safe_norm(u0 + u1))  # [..., 1]
  sin_angle = jnp.sin(angle)
  degenerate = (sin_angle < _MIN_SIN_ANGLE) | (norm0 < 1e-12) | (norm1 < 1e-12)
  safe_sin = jnp.where(degenerate, 1.0, sin_angle)
  linear = lerp(z0, z1, t)
  t = _expand_t(t, z0.ndim)
  spherical = (jnp.sin((1.0 - t) * angle) * z0 + jnp.sin(t * angle) * z1) / safe_sin
  return jnp.where(degenerate, linear, spherical)


def interpolate(z0: Array, z1: Array, num: int, method: str = 'slerp') -> Array:
  """`num` evenly spaced points from z0 to z1, both endpoints included.

  Args:
    z0: the start latent [D] (or [..., D]).
    z1: the end latent, the shape of z0.
    num: the number of points, at least 2.
    method: 'slerp' (spherical) or 'linear'.

  Returns:
    [num, D] (or [num, ..., D]); row 0 is z0 and row num - 1 is z1.
  """
  if method not in INTERPOLATION_METHODS:
    raise ValueError(f'method must be one of {INTERPOLATION_METHODS}, got {method!r}')
  if num < 2:
    raise ValueError(f'num must be at least 2 to include both endpoints, got {num}')
  t = jnp.linspace(0.0, 1.0, num)
  return slerp(z0, z1, t) if method == 'slerp' else lerp(z0, z1, t)


def vector_arithmetic(a: Array, b: Array, c: Array) -> Array:
  """DCGAN's latent arithmetic mean(a) - mean(b) + mean(c), e.g. smiling woman - neutral woman + neutral man.

  DCGAN averages three latents per concept because single latents gave unstable results.

  Args:
    a: latents [n_a, D] of the first concept.
    b: latents [n_b, D] of the concept to subtract.
    c: latents [n_c, D] of the concept to add.

  Returns:
    The resulting latent [D].
  """
  return jnp.mean(jnp.asarray(a), axis=0) - jnp.mean(jnp.asarray(b), axis=0) + jnp.mean(jnp.asarray(c), axis=0)
