"""Datasets by name (`config.data.name`).

Every dataset is sampled on device inside the compiled training step, so no batch crosses from the host:
- the 2-D mixtures and the 1-D Gaussian are drawn afresh from each step's key;
- image datasets are read through TFDS (`tfds.load` from `config.data.data_dir`) once at the start, held in device
  memory, and read in epoch-shuffled batches (see `in_memory.py`). The offline digits are a TFDS dataset too, built
  locally from scikit-learn's copy of the UCI handwritten digits.

A dataset has `shape` (one example), `num_classes`, `host_arrays()` (what to hold on device) and
`sample(arrays, rng, step, num)`: the global batch of a training step, `{'x': examples, 'y': int32 labels}` (a
mixture's labels are its components; stacked digits have 1,000 classes).
"""

from typing import Any, Callable

import ml_collections

from gan_jax.config import ConfigError, choice, int_at_least, require
from gan_jax.data.in_memory import InMemoryImages, StackedImages
from gan_jax.data.mixtures import GaussianMixture, gaussian_1d_from_config, grid_from_config, ring_from_config

# Image datasets: config name -> (TFDS name, stacked). 'digits' needs no download.
IMAGE_DATASETS: dict[str, tuple[str, bool]] = {
    'digits': ('sklearn_digits', False),
    'stacked_digits': ('sklearn_digits', True),
    'mnist': ('mnist', False),
    'stacked_mnist': ('mnist', True),
    'fashion_mnist': ('fashion_mnist', False),
    'cifar10': ('cifar10', False),
    'celeb_a': ('celeb_a', False),
}
RESIZE_METHODS = ('resize', 'pad')  # How an image reaches data.resolution (see images.load_images).
CHANNELS = (1, 3)


def _images_from_config(name: str) -> Callable[[ml_collections.ConfigDict], Any]:
  tfds_name, stacked = IMAGE_DATASETS[name]

  def build(c: ml_collections.ConfigDict):
    from gan_jax.data import images  # TensorFlow loads only for image data.
    channels = 1 if stacked else c.channels
    pixels, labels = images.load_images(tfds_name, c.split, c.data_dir or None, c.resolution, channels, c.resize)
    return StackedImages(pixels, labels) if stacked else InMemoryImages(pixels, labels)

  return build


DATASETS: dict[str, Callable[[ml_collections.ConfigDict], Any]] = {
    'ring': ring_from_config,
    'grid': grid_from_config,
    'gaussian_1d': gaussian_1d_from_config,
    **{name: _images_from_config(name) for name in IMAGE_DATASETS},
}


def make_dataset(config: ml_collections.ConfigDict):
  """Builds the dataset named by `config.name` (the `config.data` section)."""
  return DATASETS[config.name](config)


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks the `config.data` section's values, without reading the disk (see `check_available` for that).

  Raises:
    ConfigError: naming the field, the value and the accepted values.
  """
  choice(config.name, 'data.name', sorted(DATASETS))
  choice(config.resize, 'data.resize', RESIZE_METHODS)
  choice(config.channels, 'data.channels', CHANNELS)
  require(config.std > 0, 'data.std', f'got {config.std}; must be > 0')
  int_at_least(config.num_train_points, 'data.num_train_points', minimum=0)
  if config.name == 'ring':
    int_at_least(config.num_modes, 'data.num_modes')
  if config.name == 'grid':
    int_at_least(config.grid_size, 'data.grid_size')
  if config.name in IMAGE_DATASETS:
    resolution = config.resolution  # The convolutional networks double the resolution from 4x4.
    require(isinstance(resolution, int) and resolution >= 8 and resolution & (resolution - 1) == 0,
            'data.resolution', f'got {resolution!r}; accepted values: 8, 16, 32, 64, 128 (powers of two >= 8)')


def check_available(config: ml_collections.ConfigDict) -> None:
  """Raises a clear error, before anything is compiled or written, when an image dataset is not in data_dir.

  Reads the disk (and loads TensorFlow for image datasets), so validation runs it after every other check.

  Raises:
    ConfigError: naming the dataset, the directory searched and the command that prepares it.
  """
  if config.name in IMAGE_DATASETS:
    from gan_jax.data import images
    try:
      images.check_available(IMAGE_DATASETS[config.name][0], config.data_dir or None)
    except ValueError as error:
      raise ConfigError(f'config.data.name: {error}') from error


__all__ = ['DATASETS', 'IMAGE_DATASETS', 'GaussianMixture', 'InMemoryImages', 'StackedImages', 'make_dataset',
           'validate', 'check_available']
