"""Captioned image sets (StackGAN's text -> image data) held in device memory and read in epoch-shuffled batches.

Two kinds: the generated object sets, whose captions come from checkable attributes (`load_captioned`), and emoji
with their names as captions, the small real-text extra (`load_named_emoji`, dataset name 'emoji_names').

A split of `captioned_mnist` or `captioned_fashion_mnist` (prepared by `python -m gan_jax.data.prepare NAME`, see
`captioned_builder.py`) is read whole into three arrays whose row i is example i: the images, their captions as
token ids (`captions.caption_vocabulary(source)`, PAD = 0 after the words, unknown words UNKNOWN = 1) and their
attributes (`captioned_builder.ATTRIBUTE_NAMES`: label, colour, background, size, position). A training step's batch
gathers all three at the same epoch indices (`in_memory.epoch_indices`, drawn once), as `PairedImages` does, so a
batch's captions are its images' and a resumed run reads the batches an uninterrupted one reads.
"""

import dataclasses
import functools
import unicodedata

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.data import captions
from gan_jax.data.captioned_builder import ATTRIBUTE_NAMES, CANVAS, SOURCES
from gan_jax.data.in_memory import InMemoryImages, epoch_indices, to_unit_range

RESOLUTIONS = (32, 64)  # 64: as stored; 32: area-averaged (bilinear with antialiasing), e.g. StackGAN's stage I.
EMOJI_DATASET = 'emoji_names'
EMOJI_SOURCE = 'emoji'
EMOJI_STYLES = ('noto', 'openmoji')  # emoji_styles' two image features; the first is the default.


@dataclasses.dataclass(frozen=True, eq=False)
class CaptionedImages(InMemoryImages):
  """Captioned images served in epoch-shuffled batches.

  Attributes:
    images: uint8 [N, R, R, 3].
    labels: int32 [N], the object's class (also column 0 of `attributes`).
    tokens: int32 [N, captions.MAX_TOKENS], the captions' token ids.
    attributes: int32 [N, 5], columns `ATTRIBUTE_NAMES` (label, colour, background, size, position); [N, 0] for
      emoji, whose names are not generated from attributes.
    source: 'mnist' or 'fashion_mnist' (the class names), or 'emoji'.
    vocabulary: the captions' words (`captions.caption_vocabulary(source)`, or `emoji_vocabulary`).
  """
  tokens: np.ndarray
  attributes: np.ndarray
  source: str
  vocabulary: captions.Vocabulary

  def host_arrays(self) -> dict[str, np.ndarray]:
    return {'images': self.images, 'tokens': self.tokens, 'attributes': self.attributes}

  @property
  def num_classes(self) -> int:
    return len(captions.CLASS_NAMES.get(self.source, ()))  # Emoji: 0, unlabelled.

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
    labels = attributes[:, 0] if attributes.shape[1] else jnp.full((num,), -1, jnp.int32)
    return {'x': to_unit_range(arrays['images'][indices]), 'tokens': arrays['tokens'][indices],
            'attributes': attributes, 'y': labels}


def encode_captions(texts, source: str | captions.Vocabulary) -> np.ndarray:
  """Captions (str or bytes) -> int32 [N, captions.MAX_TOKENS] token ids of `source`'s vocabulary (or of the
  vocabulary given)."""
  vocabulary = source if isinstance(source, captions.Vocabulary) else captions.caption_vocabulary(source)
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
                         source=builder.SOURCE, vocabulary=captions.caption_vocabulary(builder.SOURCE))


def emoji_caption(name: str) -> str:
  """An emoji's name as a caption: 'woman’s_boot' -> 'womans boot' (underscores are spaces, accents and
  apostrophes dropped)."""
  ascii_name = unicodedata.normalize('NFKD', name).encode('ascii', 'ignore').decode()
  return ' '.join(captions.words(ascii_name.replace('_', ' ')))


def emoji_vocabulary(names) -> captions.Vocabulary:
  """The sorted words of emoji names (pass every split's, so that a test name's words are known words)."""
  return captions.Vocabulary(tuple(sorted({w for name in names for w in emoji_caption(name).split()})))


@functools.cache
def emoji_split_names(split: str, data_dir: str | None = None) -> tuple[str, ...]:
  """The emoji names of a split of the prepared `emoji_styles` (slices allowed), read once per process without its
  images: TFDS parses only the 'name' feature.

  Raises:
    images.DatasetUnavailableError: emoji_styles is not prepared in data_dir.
  """
  import tensorflow_datasets as tfds
  from gan_jax.data import emoji_styles_builder, images as image_data
  data_dir = image_data.resolve_data_dir(data_dir)
  image_data.check_available(emoji_styles_builder.NAME, data_dir)
  builder = emoji_styles_builder.EmojiStyles(data_dir=data_dir)
  names = builder.as_dataset(split=split, batch_size=-1, shuffle_files=False,
                             decoders=tfds.decode.PartialDecoding({'name': True}))
  return tuple(n.decode() for n in tfds.as_numpy(names)['name'])


def emoji_text(split: str, data_dir: str | None = None) -> tuple[captions.Vocabulary, list[str]]:
  """(The vocabulary of every split's emoji names, the captions of `split`'s names), the images left unread: what a
  text encoder's consumer needs of `emoji_names` (e.g. StackGAN's text standardisation over the training names)."""
  from gan_jax.data import emoji_styles_builder, images as image_data
  data_dir = image_data.resolve_data_dir(data_dir)
  image_data.check_available(emoji_styles_builder.NAME, data_dir)
  splits = emoji_styles_builder.EmojiStyles(data_dir=data_dir).info.splits
  vocabulary = emoji_vocabulary([n for s in splits for n in emoji_split_names(s, data_dir)])
  return vocabulary, [emoji_caption(n) for n in emoji_split_names(split, data_dir)]


def load_named_emoji(split: str, data_dir: str | None = None, resolution: int = CANVAS,
                     style: str = EMOJI_STYLES[0]) -> CaptionedImages:
  """Emoji with their names as captions, from the prepared `emoji_styles` (python -m gan_jax.data.prepare
  emoji_styles): the small real-text extra (1,217 train, 160 test emoji, 64 x 64 on white).

  The vocabulary is the words of the names of both splits (the test emoji are held out, their words are not:
  115 of the 160 test names have a word that no training name has), `emoji_text`. Labels are -1 and attributes
  [N, 0].

  Args:
    split: a TFDS split of emoji_styles.
    data_dir: where it was prepared; None for $TFDS_DATA_DIR or ~/tensorflow_datasets.
    resolution: one of `RESOLUTIONS`.
    style: 'noto' or 'openmoji', the drawing style read.
  """
  from gan_jax.data import emoji_styles_builder, images as image_data
  if style not in EMOJI_STYLES:
    raise ValueError(f'style: got {style!r}; accepted values: {", ".join(EMOJI_STYLES)}')
  if resolution not in RESOLUTIONS:
    raise ValueError(f'resolution: got {resolution!r}; accepted values: {", ".join(map(str, RESOLUTIONS))}')
  data_dir = image_data.resolve_data_dir(data_dir)
  vocabulary, texts = emoji_text(split, data_dir)
  pixels = image_data.load_paired(emoji_styles_builder.NAME, split, (style,), data_dir, resolution, 3)[style]
  return CaptionedImages(images=pixels, labels=np.full(len(texts), -1, np.int32),
                         tokens=encode_captions(texts, vocabulary), attributes=np.zeros((len(texts), 0), np.int32),
                         source=EMOJI_SOURCE, vocabulary=vocabulary)
