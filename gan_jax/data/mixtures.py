"""Gaussian mixtures of the mode-collapse literature, sampled on device from a key.

Ring of 8 (Metz et al. 2017): centres at angle 2*pi*i/8, i = 0..7, radius 2, std 0.02. Grid of 25 (VEEGAN,
PacGAN): a 5x5 lattice with spacing 2 centred at the origin, std 0.05. The 1-D Gaussian of the introductory GAN
demos is a mixture of one component.

By default every step draws fresh points. With `num_train_points` N > 0 the training set is finite, as in PacGAN
(100,000 points): N points drawn once from a fixed key and read in epoch-shuffled batches (`in_memory.epoch_indices`).
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax.data.in_memory import epoch_indices
from gan_jax.rng import data_key

TRAIN_POINTS_SEED = 0x6A55  # The finite training set is the same in every run: a dataset, not a draw per seed.


@dataclasses.dataclass(frozen=True, eq=False)
class GaussianMixture:
  """An equal-weight mixture of isotropic Gaussians with a common standard deviation."""
  centers: np.ndarray  # [num_modes, dim]
  std: float
  num_train_points: int = 0  # > 0: a finite training set of this many points; 0: fresh points every step.

  @property
  def shape(self) -> tuple[int, ...]:
    return (self.centers.shape[1],)

  @property
  def num_classes(self) -> int:
    return self.centers.shape[0]  # A point's label is its component: conditional GANs on mixtures.

  def host_arrays(self) -> dict:
    """The finite training set {'points' [N, dim], 'labels' [N]}, or nothing when points are drawn each step."""
    return dict(self._train_set) if self.num_train_points else {}

  @functools.cached_property
  def _train_set(self) -> dict[str, np.ndarray]:
    drawn = self.draw_labelled(jax.random.key(TRAIN_POINTS_SEED), self.num_train_points)
    return {'points': np.asarray(drawn['x']), 'labels': np.asarray(drawn['y'], np.int32)}

  def sample(self, arrays: dict, rng: jax.Array, step: jax.Array, num: int) -> dict[str, jax.Array]:
    """The `num` real examples of training step `step` ('x') and their components ('y'): a fresh draw from the
    step's data key, or the step's slice of the epoch's permutation of the training set in `arrays`."""
    if 'points' not in arrays:
      return self.draw_labelled(data_key(rng, step), num)
    indices = epoch_indices(rng, step, arrays['points'].shape[0], num)
    return {'x': arrays['points'][indices], 'y': arrays['labels'][indices]}

  def draw(self, key: jax.Array, num: int) -> jax.Array:
    """Draws `num` points: a uniform component per point, then Gaussian noise around its centre."""
    return self.draw_labelled(key, num)['x']

  def draw_labelled(self, key: jax.Array, num: int) -> dict[str, jax.Array]:
    """`draw` with each point's component as its label 'y'."""
    component_key, noise_key = jax.random.split(key)
    component = jax.random.randint(component_key, (num,), 0, self.centers.shape[0])
    noise = jax.random.normal(noise_key, (num, self.centers.shape[1]))
    return {'x': jnp.asarray(self.centers, jnp.float32)[component] + self.std * noise, 'y': component}


def ring(num_modes: int, radius: float, std: float, num_train_points: int = 0) -> GaussianMixture:
  angles = 2 * np.pi * np.arange(num_modes) / num_modes
  return GaussianMixture(radius * np.stack([np.cos(angles), np.sin(angles)], axis=1), std, num_train_points)


def grid(grid_size: int, spacing: float, std: float, num_train_points: int = 0) -> GaussianMixture:
  coords = (np.arange(grid_size) - (grid_size - 1) / 2) * spacing
  xs, ys = np.meshgrid(coords, coords, indexing='ij')
  return GaussianMixture(np.stack([xs.ravel(), ys.ravel()], axis=1), std, num_train_points)


def gaussian_1d(mean: float, std: float, num_train_points: int = 0) -> GaussianMixture:
  return GaussianMixture(np.array([[mean]]), std, num_train_points)


def ring_from_config(c: ml_collections.ConfigDict) -> GaussianMixture:
  return ring(c.num_modes, c.radius, c.std, c.num_train_points)


def grid_from_config(c: ml_collections.ConfigDict) -> GaussianMixture:
  return grid(c.grid_size, c.spacing, c.std, c.num_train_points)


def gaussian_1d_from_config(c: ml_collections.ConfigDict) -> GaussianMixture:
  return gaussian_1d(c.mean, c.std, c.num_train_points)
