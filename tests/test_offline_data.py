"""The offline datasets: their sources, their TFDS builders, `python -m gan_jax.data.prepare`, and the errors."""

import gzip
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from gan_jax.data import mnist_builders, prepare, sources


def _sources_or_skip(check):
  try:
    return check()
  except sources.SourceError as error:
    pytest.skip(f'offline sources not installed: {error}')


def test_npm_mnist_digits_are_the_documented_10000():
  paths = _sources_or_skip(mnist_builders.npm_mnist_sources)
  images, labels, held_out = mnist_builders.npm_mnist_arrays()
  assert images.shape == (10_000, 28, 28, 1) and images.dtype == np.uint8
  # The class counts of the first 10,000 digits of MNIST's training set, which the docstring cites.
  assert np.bincount(labels).tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
  assert held_out.sum() == 997 and (~held_out).sum() == 9003
  # Every 10th digit of each class: digit 9 of class 0 is held out, digit 8 is not.
  assert held_out[9] and not held_out[8] and held_out[labels.tolist().index(1) + 9]
  # uint8 v is recovered from the package's round(v / 255, 3): re-encoding gives back the JSON numbers.
  raw = np.asarray(json.loads(paths[3].read_text())['data']).reshape(-1, 784)
  threes = images[labels == 3].reshape(-1, 784)
  np.testing.assert_array_equal(np.round(threes / 255, 3), raw)
  assert len({image.tobytes() for image in images}) == 10_000  # No duplicates to leak into the test split.


def test_fashion_mnist_arrays_are_the_idx_files():
  _sources_or_skip(mnist_builders.fashion_mnist_sources)
  images, labels = mnist_builders.fashion_mnist_arrays('test')
  assert images.shape == (10_000, 28, 28, 1) and np.bincount(labels).tolist() == [1000] * 10
  # Read the first image independently: 16-byte header, then row-major pixels.
  with gzip.open(os.path.join(mnist_builders.FASHION_DIR, 't10k-images-idx3-ubyte.gz')) as f:
    first = np.frombuffer(f.read(16 + 784)[16:], np.uint8).reshape(28, 28)
  np.testing.assert_array_equal(images[0, ..., 0], first)
  with gzip.open(os.path.join(mnist_builders.FASHION_DIR, 't10k-labels-idx1-ubyte.gz')) as f:
    assert labels[:5].tolist() == list(f.read(13)[8:])
  train_images, train_labels = mnist_builders.fashion_mnist_arrays('train')
  assert train_images.shape == (60_000, 28, 28, 1) and np.bincount(train_labels).tolist() == [6000] * 10


def _sorted(images, labels):
  order = np.lexsort((labels, [image.tobytes() for image in images]))
  return images[order], labels[order]


# CI prepares MNIST; Fashion-MNIST (about 25 s to prepare) takes the same builder code, and CI reads its source
# above.
@pytest.mark.parametrize('name', ['mnist', pytest.param('fashion_mnist', marks=pytest.mark.slow)])
def test_prepared_dataset_is_read_by_the_tfds_catalogue_code(name, offline_dir_of):
  import tensorflow_datasets as tfds
  offline_data_dir = offline_dir_of(name)
  builder = tfds.builder(name, data_dir=offline_data_dir)
  # The catalogue's own builder class reads the files prepare wrote.
  assert type(builder).__module__ == 'tensorflow_datasets.image_classification.mnist'
  assert str(builder.version) == '3.0.1'
  dataset = tfds.load(name, split='test', data_dir=offline_data_dir, as_supervised=True, batch_size=-1,
                      download=False)
  images, labels = tfds.as_numpy(dataset)
  if name == 'mnist':
    all_images, all_labels, held_out = mnist_builders.npm_mnist_arrays()
    expected = all_images[held_out], all_labels[held_out]
  else:
    expected = mnist_builders.fashion_mnist_arrays('test')
  for got, want in zip(_sorted(images, labels), _sorted(*expected)):
    np.testing.assert_array_equal(got, want)


def _run_prepare(*args, env=None):
  return subprocess.run([sys.executable, '-m', 'gan_jax.data.prepare', *args], capture_output=True, text=True,
                        env={**os.environ, **(env or {})}, timeout=300)


def test_prepare_rejects_an_unknown_name_before_preparing_any(tmp_path):
  result = _run_prepare('sklearn_digits', 'mnistt', '--data_dir', str(tmp_path))
  assert result.returncode == 2
  assert "'mnistt'" in result.stderr and 'fashion_mnist' in result.stderr and 'sklearn_digits' in result.stderr
  assert os.listdir(tmp_path) == []  # Not even the valid name before it.
  # The names the refusal lists are the builders'.
  assert tuple(prepare.offline_builders()) == prepare.OFFLINE_DATASETS


def test_missing_and_damaged_sources_say_how_to_reinstall_and_write_nothing(tmp_path):
  _sources_or_skip(mnist_builders.npm_mnist_sources)
  data_dir = tmp_path / 'tfds'
  data_dir.mkdir()
  result = _run_prepare('mnist', '--data_dir', str(data_dir), env={'GAN_JAX_SOURCES': str(tmp_path / 'none')})
  assert result.returncode == 2
  assert 'is missing' in result.stderr and 'install_sources.sh' in result.stderr and 'npm mnist' in result.stderr
  assert os.listdir(data_dir) == []

  damaged = tmp_path / 'damaged'
  shutil.copytree(sources.sources_dir() / 'npm-mnist-1.1.0', damaged / 'npm-mnist-1.1.0')
  digit_file = damaged / mnist_builders.NPM_MNIST_DIR / '4.json'
  digit_file.write_bytes(digit_file.read_bytes()[:1000])  # Truncated.
  result = _run_prepare('mnist', '--data_dir', str(data_dir), env={'GAN_JAX_SOURCES': str(damaged)})
  assert result.returncode == 2
  assert 'truncated or corrupt' in result.stderr and '4.json' in result.stderr
  assert 'install_sources.sh' in result.stderr
  assert os.listdir(data_dir) == []


def test_a_corrupt_fashion_file_is_named(tmp_path, monkeypatch):
  _sources_or_skip(mnist_builders.fashion_mnist_sources)
  for name, _ in mnist_builders.FASHION_FILES.values():
    shutil.copy(os.path.join(mnist_builders.FASHION_DIR, name), tmp_path / name)
  labels = tmp_path / 't10k-labels-idx1-ubyte.gz'
  content = bytearray(labels.read_bytes())
  content[100] ^= 0xFF  # One flipped byte.
  labels.write_bytes(bytes(content))
  monkeypatch.setattr(mnist_builders, 'FASHION_DIR', str(tmp_path))
  with pytest.raises(sources.SourceError, match=r"'fashion_mnist'.*t10k-labels-idx1-ubyte.gz.*truncated or corrupt"):
    prepare.prepare('fashion_mnist', str(tmp_path / 'tfds'))
  assert not (tmp_path / 'tfds').exists()


def _image_config(**data):
  from gan_jax.config import dcgan_config, smoke
  config = smoke(dcgan_config())
  config.data.update(data)
  return config


@pytest.mark.parametrize('name', ['fashion_mnist', 'mnist', 'stacked_mnist'])
def test_an_unprepared_offline_dataset_names_the_prepare_command(tmp_path, name):
  from gan_jax.config import ConfigError
  from gan_jax.validation import validate
  tfds_name = name.replace('stacked_', '')
  with pytest.raises(ConfigError) as error:
    validate(_image_config(name=name, data_dir=str(tmp_path), resolution=32), num_devices=1)
  message = str(error.value)
  assert f'python -m gan_jax.data.prepare {tfds_name} --data_dir {tmp_path}' in message
  assert 'install_sources.sh' in message and "pip install -e '.[data]'" in message
  assert os.listdir(tmp_path) == []


def test_a_resolution_the_dataset_cannot_give_is_named(offline_data_dir):
  from gan_jax.config import ConfigError
  from gan_jax.validation import validate
  config = _image_config(name='mnist', data_dir=offline_data_dir, resolution=16, resize='pad')
  with pytest.raises(ConfigError, match=r"'mnist': its 28x28 images do not fit in 16x16 by padding.*"
                                        r'data.resolution >= 28'):
    validate(config, num_devices=1)
  config.data.resolution = 32
  validate(config, num_devices=1)  # 28 -> 32 by padding is what 'pad' is for.


def test_channels_that_the_classifier_cannot_read_are_named(offline_data_dir):
  from gan_jax.config import ConfigError
  from gan_jax.validation import validate
  with pytest.raises(ConfigError, match=r'config.data.channels: got 3; .*set data.channels=1'):
    validate(_image_config(name='mnist', data_dir=offline_data_dir, resolution=28, channels=3), num_devices=1)
