"""Image datasets through TFDS: the offline digits, a dataset prepared in a data_dir and loaded by name, and the
availability check that runs at config-validation time."""

import os
import pathlib

from etils import epath
import numpy as np
import pytest
import tensorflow_datasets as tfds
from sklearn.datasets import load_digits

from gan_jax.data import digits_builder, images

TINY_SIDE = 28
TINY_COUNT = 12


def tiny_shape(i: int) -> tuple[np.ndarray, int]:
  """Image i of `tiny_shapes`: label i % 3 (square, cross, frame), size and position and intensity from i."""
  label, size = i % 3, 6 + 3 * (i // 3)
  top, left, value = i, 2 * i % 10, 100 + 10 * i  # Distinct intensities: every image is unique.
  image = np.zeros((TINY_SIDE, TINY_SIDE, 1), np.uint8)
  patch = image[top:top + size, left:left + size]
  if label == 0:
    patch[:] = value
  elif label == 1:
    patch[size // 2] = value
    patch[:, size // 2] = value
  else:
    patch[[0, -1]] = value
    patch[:, [0, -1]] = value
  return image, label


class TinyShapes(tfds.core.GeneratorBasedBuilder):
  """A stand-in for mnist: 28x28 grayscale shapes, written in TFDS's default (shuffled) order."""

  VERSION = tfds.core.Version('1.0.0')
  code_path = epath.Path(__file__)  # As in SklearnDigits: avoids TFDS's undeclared `importlib_resources`.

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(TINY_SIDE, TINY_SIDE, 1)),
            'label': tfds.features.ClassLabel(names=['square', 'cross', 'frame']),
        }),
        supervised_keys=('image', 'label'))

  def _split_generators(self, dl_manager):
    return {'train': self._generate_examples()}

  def _generate_examples(self):
    for i in range(TINY_COUNT):
      image, label = tiny_shape(i)
      yield i, {'image': image, 'label': label}


def expected_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
  """Scikit-learn's digits of a split, mapped here independently of the builder: round(255 v / 16), halves up."""
  digits = load_digits()
  part = slice(None, 1500) if split == 'train' else slice(1500, None)
  levels = digits.images[part]
  return np.floor(levels * 255 / 16 + 0.5).astype(np.uint8)[..., None], digits.target[part]


def listing(path) -> list[str]:
  return sorted(str(p.relative_to(path)) for p in pathlib.Path(path).rglob('*'))


@pytest.fixture(scope='module')
def digits_dir(tmp_path_factory):
  """A data_dir with sklearn_digits prepared, by the first `load_images` call."""
  data_dir = tmp_path_factory.mktemp('tfds')
  images.load_images('sklearn_digits', 'test', str(data_dir), resolution=8, channels=1)
  return str(data_dir)


@pytest.mark.parametrize('split', ['train', 'test'])
def test_digits_match_sklearn_at_native_resolution(digits_dir, split):
  x, y = images.load_images('sklearn_digits', split, digits_dir, resolution=8, channels=1)
  want_x, want_y = expected_digits(split)
  assert x.dtype == np.uint8 and y.dtype == np.int32
  assert x.shape == (len(want_y), 8, 8, 1) == want_x.shape
  np.testing.assert_array_equal(y, want_y)
  np.testing.assert_array_equal(x, want_x)
  assert len(load_digits().target) == 1797 and digits_builder.NUM_TRAIN == 1500


def test_digits_pixel_mapping():
  x, _ = digits_builder.digits_arrays()
  levels = load_digits().images.astype(int)
  assert x[..., 0][levels == 0].max() == 0 and x[..., 0][levels == 16].min() == 255
  assert set(np.unique(x[..., 0][levels == 8])) == {128}  # 127.5 rounds up.
  assert set(np.unique(x)) <= {(255 * v + 8) // 16 for v in range(17)}


@pytest.mark.parametrize('resolution', [16, 32])
@pytest.mark.parametrize('channels', [1, 3])
def test_digits_padded_sit_centred_on_zeros(digits_dir, resolution, channels):
  x, y = images.load_images('sklearn_digits', 'test', digits_dir, resolution, channels, 'pad')
  want_x, want_y = expected_digits('test')
  assert x.shape == (297, resolution, resolution, channels) and x.dtype == np.uint8
  np.testing.assert_array_equal(y, want_y)
  margin = (resolution - 8) // 2
  centre = x[:, margin:margin + 8, margin:margin + 8]
  np.testing.assert_array_equal(centre, np.repeat(want_x, channels, axis=3))
  border = x.copy()
  border[:, margin:margin + 8, margin:margin + 8] = 0
  assert not border.any()


@pytest.mark.parametrize('resolution', [16, 32])
@pytest.mark.parametrize('channels', [1, 3])
def test_digits_resized(digits_dir, resolution, channels):
  x, y = images.load_images('sklearn_digits', 'test', digits_dir, resolution, channels, 'resize')
  want_x, want_y = expected_digits('test')
  assert x.shape == (297, resolution, resolution, channels) and x.dtype == np.uint8
  np.testing.assert_array_equal(y, want_y)
  np.testing.assert_array_equal(x, np.repeat(x[..., :1], channels, axis=3))  # Gray repeated into RGB.
  # Bilinear upsampling keeps each image's mean brightness, up to the edges and the rounding.
  np.testing.assert_allclose(x.mean(axis=(1, 2, 3)), want_x.mean(axis=(1, 2, 3)), atol=3)


def test_rgb_to_gray_and_centre_crop():
  rgb = np.zeros((1, 6, 10, 3), np.uint8)
  rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
  rgb[:, :, :2] = 255  # Left and right strips, cut by the centre crop to 6x6.
  rgb[:, :, -2:] = 255
  gray = images.convert_batch(rgb, 6, 1, 'resize')
  assert gray.shape == (1, 6, 6, 1)
  assert (gray == round(0.2989 * 200 + 0.5870 * 100 + 0.1140 * 50)).all()


@pytest.fixture(scope='module')
def tiny_dir(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp('tfds_tiny')
  TinyShapes(data_dir=str(data_dir)).download_and_prepare()
  return str(data_dir)


def test_dataset_prepared_in_data_dir_loads_by_name(tiny_dir):
  images.check_available('tiny_shapes', tiny_dir)
  x, y = images.load_images('tiny_shapes', 'train', tiny_dir, resolution=32, channels=1, resize_method='pad')
  assert x.shape == (TINY_COUNT, 32, 32, 1) and x.dtype == np.uint8 and y.dtype == np.int32
  want = {}
  for i in range(TINY_COUNT):
    image, label = tiny_shape(i)
    want[np.pad(image, ((2, 2), (2, 2), (0, 0))).tobytes()] = label
  # TFDS shuffles the examples on disk: match them by content, and each to its own label.
  got = {image.tobytes(): label for image, label in zip(x, y)}
  assert got == want


def test_pad_refuses_images_larger_than_the_resolution(tiny_dir):
  with pytest.raises(ValueError, match='do not fit'):
    images.load_images('tiny_shapes', 'train', tiny_dir, resolution=16, channels=1, resize_method='pad')


@pytest.mark.parametrize('name, why', [('no_such_dataset_xyz', 'not a TFDS dataset name'),
                                       ('mnist', 'is not prepared')])
def test_check_available_says_how_to_get_it_and_writes_nothing(tmp_path, name, why):
  data_dir = tmp_path / 'empty'
  data_dir.mkdir()
  with pytest.raises(images.DatasetUnavailableError, match=why) as error:
    images.check_available(name, str(data_dir))
  message = str(error.value)
  assert f"'{name}'" in message and str(data_dir) in message
  assert f'tfds build {name} --data_dir {data_dir}' in message
  assert listing(data_dir) == []
  with pytest.raises(images.DatasetUnavailableError):
    images.load_images(name, 'train', str(data_dir), resolution=32, channels=1)
  assert listing(data_dir) == []


def test_check_available_passes_offline_digits_without_writing(tmp_path):
  images.check_available('sklearn_digits', str(tmp_path))
  assert listing(tmp_path) == []


def test_default_data_dir(monkeypatch, tmp_path):
  monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path))
  assert images.resolve_data_dir(None) == str(tmp_path)
  monkeypatch.delenv('TFDS_DATA_DIR')
  assert images.resolve_data_dir(None) == os.path.expanduser('~/tensorflow_datasets')
  assert images.resolve_data_dir('/given') == '/given'
