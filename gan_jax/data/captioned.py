"""Captioned image sets (StackGAN's text -> image data) held in device memory and read in epoch-shuffled batches.

A split of `captioned_mnist` or `captioned_fashion_mnist` (prepared by `python -m gan_jax.data.prepare NAME`, see
`captioned_builder.py`) is read whole into three arrays whose row i is example i: the images, their captions as
token ids (`captions.caption_vocabulary(source)`, PAD = 0 after the words, unknown words UNKNOWN = 1) and their
attributes (`captioned_builder.ATTRIBUTE_NAMES`: label, colour, background, size, position). A training step's batch
gathers all three at the same epoch indices (`in_memory.epoch_indices`, drawn once), as `PairedImages` does, so a
batch's captions are its images' and a resumed run reads the batches an uninterrupted one reads.
"""

import dataclasses

import jax
import numpy as np

from gan_jax.data import captions
from gan_jax.data.captioned_builder import ATTRIBUTE_NAMES, CANVAS, SOURCES
from gan_jax.data.in_memory import InMemoryImages, epoch_indices, to_unit_range

RESOLUTIONS = (32, 64)  # 64: as stored; 32: area-averaged (bilinear with antialiasing), e.g. StackGAN's stage I.


@dataclasses.dataclass(frozen=True, eq=False)
class CaptionedImages(InMemoryImages):
  """Captioned images served in epoch-shuffled batches.

  Attributes:
    images: uint8 [N, R, R, 3].
    labels: int32 [N], the object's class (also column 0 of `attributes`).
    tokens: int32 [N, captions.MAX_TOKENS], the captions' token ids.
    attributes: int32 [N, 5], columns `ATTRIBUTE_NAMES` (label, colour, background, size, position).
    source: 'mnist' or 'fashion_mnist' (the class names and the vocabulary).
  """
  tokens: np.ndarray
  attributes: np.ndarray
  source: str

  @property
  def vocabulary(self) -> captions.Vocabulary:
    return captions.caption_vocabulary(self.source)

  def host_arrays(self) -> dict[str, np.ndarray]:
    return {'images': self.images, 'tokens': self.tokens, 'attributes': self.attributes}

  @property
  def num_classes(self) -> int:
    return len(captions.CLASS_NAMES[self.source])

  def captions(self, indices) -> list[str]:
    """The captions of examples `indices`, as text."""
    return [self.vocabulary.decode(self.tokens[i]) for i in np.atleast_1d(indices)]

  def sample(self, arrays: dict, rng: jax.Array, step: jax.Array, num: int) -> dict[str, jax.Array]:
    """The `num` examples of training step `step`, one set of indices for every feature.

    Returns:
      'x': float32 [num, R, R, 3] in [-1, 1]; 'tokens': int32 [num, MAX_TOKENS]; 'attributes': int32 [num, 5];
      'y': int32 [num], the labels (the attributes' column 0).
    """
    indices = epoch_indices(rng, step, arrays['images'].shape[0], num)
    attributes = arrays['attributes'][indices]
    return {'x': to_unit_range(arrays['images'][indices]), 'tokens': arrays['tokens'][indices],
            'attributes': attributes, 'y': attributes[:, 0]}


def encode_captions(texts, source: str) -> np.ndarray:
  """Captions (str or bytes) -> int32 [N, captions.MAX_TOKENS] token ids of `source`'s vocabulary."""
  vocabulary = captions.caption_vocabulary(source)
  return np.stack([vocabulary.encode(t.decode() if isinstance(t, bytes) else t) for t in texts]).astype(np.int32)


def load_captioned(name: str, split: str, data_dir: str | None = None, resolution: int = CANVAS) -> CaptionedImages:
  """Reads a whole split of a prepared captioned dataset into memory.

  Args:
    name: 'captioned_mnist' or 'captioned_fashion_mnist'.
    split: a TFDS split, slices included ('train', 'test', 'test[:100]').
    data_dir: where it was prepared; None for $TFDS_DATA_DIR or ~/tensorflow_datasets.
    resolution: one of `RESOLUTIONS`.

  Raises:
    ValueError: an unknown name or resolution.
    images.DatasetUnavailableError: the dataset is not prepared in data_dir (naming the command that prepares it).
  """
  from gan_jax.data import captioned_builder, images as image_data
  if name not in SOURCES:
    raise ValueError(f'name: got {name!r}; captioned datasets: {", ".join(SOURCES)}')
  if resolution not in RESOLUTIONS:
    raise ValueError(f'resolution: got {resolution!r}; accepted values: {", ".join(map(str, RESOLUTIONS))}')
  data_dir = image_data.resolve_data_dir(data_dir)
  image_data.check_available(name, data_dir)
  builder = {'captioned_mnist': captioned_builder.CaptionedMnist,
             'captioned_fashion_mnist': captioned_builder.CaptionedFashionMnist}[name](data_dir=data_dir)
  return read_split(builder, split, resolution)


def read_split(builder, split: str, resolution: int = CANVAS) -> CaptionedImages:
  """A split of a prepared `captioned_builder.CaptionedBuilder` (or a subclass, as tests' small versions are)."""
  import tensorflow_datasets as tfds
  from gan_jax.data import images as image_data
  data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, shuffle_files=False))
  pixels = data['image']
  if resolution != pixels.shape[1]:
    pixels = np.concatenate([image_data.convert_batch(pixels[i:i + image_data.READ_BATCH_SIZE], resolution, 3,
                                                      'resize')
                             for i in range(0, len(pixels), image_data.READ_BATCH_SIZE)])
  attributes = np.stack([data[key] for key in ATTRIBUTE_NAMES], axis=1).astype(np.int32)
  return CaptionedImages(images=pixels, labels=attributes[:, 0].copy(),
                         tokens=encode_captions(data['caption'], builder.SOURCE), attributes=attributes,
                         source=builder.SOURCE)
