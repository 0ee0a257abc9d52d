"""Gaussian mixtures of the mode-collapse literature, sampled on device from a key.

Ring of 8 (Metz et al. 2017): centres at angle 2*pi*i/8, i = 0..7, radius 2, std 0.02. Grid of 25 (VEEGAN,
PacGAN): a 5x5 lattice with spacing 2 centred at the origin, std 0.05. The 1-D Gaussian of the introductory GAN
demos is a mixture of one component.
"""

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax.rng import data_key


@dataclasses.dataclass(frozen=True, eq=False)
class GaussianMixture:
  """An equal-weight mixture of isotropic Gaussians with a common standard deviation."""
  centers: np.ndarray  # [num_modes, dim]
  std: float

  @property
  def shape(self) -> tuple[int, ...]:
    return (self.centers.shape[1],)

  @property
  def num_classes(self) -> int:
    return self.centers.shape[0]  # A point's label is its component: conditional GANs on mixtures.

  def host_arrays(self) -> dict:
    return {}  # Nothing to hold on device: samples are drawn from the key.

  def sample(self, arrays: dict, rng: jax.Array, step: jax.Array, num: int) -> dict[str, jax.Array]:
    """The `num` real examples of training step `step` ('x', a fresh draw from the step's data key) and their
    components ('y')."""
    del arrays
    return self.draw_labelled(data_key(rng, step), num)

  def draw(self, key: jax.Array, num: int) -> jax.Array:
    """Draws `num` points: a uniform component per point, then Gaussian noise around its centre."""
    return self.draw_labelled(key, num)['x']

  def draw_labelled(self, key: jax.Array, num: int) -> dict[str, jax.Array]:
    """`draw` with each point's component as its label 'y'."""
    component_key, noise_key = jax.random.split(key)
    component = jax.random.randint(component_key, (num,), 0, self.centers.shape[0])
    noise = jax.random.normal(noise_key, (num, self.centers.shape[1]))
    return {'x': jnp.asarray(self.centers, jnp.float32)[component] + self.std * noise, 'y': component}


def ring(num_modes: int, radius: float, std: float) -> GaussianMixture:
  angles = 2 * np.pi * np.arange(num_modes) / num_modes
  return GaussianMixture(radius * np.stack([np.cos(angles), np.sin(angles)], axis=1), std)


def grid(grid_size: int, spacing: float, std: float) -> GaussianMixture:
  coords = (np.arange(grid_size) - (grid_size - 1) / 2) * spacing
  xs, ys = np.meshgrid(coords, coords, indexing='ij')
  return GaussianMixture(np.stack([xs.ravel(), ys.ravel()], axis=1), std)


def gaussian_1d(mean: float, std: float) -> GaussianMixture:
  return GaussianMixture(np.array([[mean]]), std)


def ring_from_config(c: ml_collections.ConfigDict) -> GaussianMixture:
  return ring(c.num_modes, c.radius, c.std)


def grid_from_config(c: ml_collections.ConfigDict) -> GaussianMixture:
  return grid(c.grid_size, c.spacing, c.std)


def gaussian_1d_from_config(c: ml_collections.ConfigDict) -> GaussianMixture:
  return gaussian_1d(c.mean, c.std)
