"""The TFDS builder `sklearn_digits`: scikit-learn's 1,797 real 8x8 handwritten digits, prepared offline.

`sklearn.datasets.load_digits` ships inside scikit-learn (the test part of UCI's optdigits, 43 writers' digits
downsampled to 8x8 with 17 intensity levels), so this builder downloads nothing: the offline digits then go through
the same `tfds.load` path as mnist or cifar10 prepared in a data_dir. Importing this module registers the builder.

Pixels: intensity v in 0..16 becomes (255 * v + 8) // 16, i.e. round(255 * v / 16) with halves rounded up, so 0 -> 0,
8 -> 128, 16 -> 255. Splits: `train` is the first 1,500 digits and `test` the last 297, in scikit-learn's order
(about 150 and 30 per class). The order is kept on disk, so example i of `train` is scikit-learn's digit i and
example i of `test` is its digit 1500 + i.
"""

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from gan_jax.data import png

NUM_TRAIN = 1500
IMAGE_SHAPE = (8, 8, 1)

_DESCRIPTION = """\
scikit-learn's copy of the UCI optical recognition of handwritten digits test set: 1,797 grayscale 8x8 digits
(0..9), intensities 0..16 mapped to 0..255 by (255 * v + 8) // 16. train: the first 1,500 digits; test: the last
297, in scikit-learn's order.
"""

_CITATION = """\
@misc{alpaydin1998optdigits,
  author = {Alpaydin, E. and Kaynak, C.},
  title = {Optical Recognition of Handwritten Digits},
  year = {1998},
  howpublished = {UCI Machine Learning Repository},
  doi = {10.24432/C50P49},
}
"""


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
  """Scikit-learn's digits in this builder's encoding.

  Returns:
    images: uint8 [1797, 8, 8, 1], intensities mapped to 0..255.
    labels: int64 [1797], the digit shown.
  """
  # Imported here: only preparing the dataset needs scikit-learn.
  from sklearn.datasets import load_digits
  digits = load_digits()
  levels = digits.images.astype(np.int64)  # Exact: the values are the integers 0..16.
  images = ((255 * levels + 8) // 16).astype(np.uint8)[..., None]
  return images, digits.target.astype(np.int64)


class SklearnDigits(tfds.core.GeneratorBasedBuilder):
  """scikit-learn's handwritten digits as a TFDS dataset; preparing it needs no internet."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release: train = first 1,500 digits, test = last 297.'}
  # TFDS's own lookup of this file goes through `importlib_resources`, which neither TFDS nor etils declares.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=IMAGE_SHAPE),
            'label': tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=('image', 'label'),
        homepage='https://scikit-learn.org/stable/modules/generated/sklearn.datasets.load_digits.html',
        citation=_CITATION,
        # Keeps scikit-learn's order on disk, so that example i can be checked against load_digits() directly.
        disable_shuffling=True,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # The data ship inside scikit-learn.
    images, labels = digits_arrays()
    return {
        'train': self._generate_examples(images[:NUM_TRAIN], labels[:NUM_TRAIN]),
        'test': self._generate_examples(images[NUM_TRAIN:], labels[NUM_TRAIN:]),
    }

  def _generate_examples(self, images: np.ndarray, labels: np.ndarray):
    # Integer keys: with shuffling disabled, TFDS writes the examples in key order.
    for i, (image, label) in enumerate(zip(images, labels)):
      yield i, {'image': png.encode(image, IMAGE_SHAPE), 'label': int(label)}
