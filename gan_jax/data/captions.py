"""Captions of the captioned object sets (StackGAN's text -> image data): the grammar that writes a caption from an
image's attributes, and the word vocabulary that turns captions into token ids.

No captioned image set installs here, so the captions are generated, and therefore checkable: each image is one
MNIST digit or Fashion-MNIST garment, coloured, scaled and placed on a coloured background, and its caption says
all four ("a small red seven at the top left on a blue background"). Every attribute is an index into one of the
tuples below, so a sample's class (by a classifier), colours and position (by pixel statistics) can be compared
with the caption it was drawn from.

Tokens are lower-case words (a hyphenated word such as "t-shirt" is one); id 0 pads, id 1 stands for any word
outside the vocabulary, so a caption a user writes with a new word is still encoded rather than refused.
"""

import dataclasses
import functools
import hashlib
import re

import numpy as np

# Name -> RGB. Eight colours far apart in RGB, so that the nearest palette colour to an object's mean colour is
# unambiguous; object and background are always different colours.
COLOURS = {'red': (220, 40, 40), 'green': (40, 170, 60), 'blue': (40, 70, 220), 'yellow': (235, 215, 40),
           'cyan': (40, 205, 215), 'magenta': (205, 45, 205), 'white': (240, 240, 240), 'black': (15, 15, 15)}
COLOUR_NAMES = tuple(COLOURS)
SIZES = ('small', 'large')
# A 3 x 3 grid of placements, row-major from the top left.
POSITIONS = ('top left', 'top', 'top right', 'left', 'centre', 'right', 'bottom left', 'bottom', 'bottom right')
CLASS_NAMES = {
    'mnist': ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'),
    'fashion_mnist': ('t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag',
                      'ankle boot'),
}
PAD, UNKNOWN = 0, 1
MAX_TOKENS = 16  # The longest generated caption has 13 words ("a large white ankle boot at the bottom right ...").


@dataclasses.dataclass(frozen=True)
class Attributes:
  """What a captioned image shows, as indices: `label` into CLASS_NAMES[source], `colour` and `background` into
  COLOUR_NAMES, `size` into SIZES, `position` into POSITIONS."""
  label: int
  colour: int
  background: int
  size: int
  position: int


# The order of the attribute columns wherever they are held as one int32 array [N, 5]: `Attributes`' fields.
ATTRIBUTE_NAMES = tuple(field.name for field in dataclasses.fields(Attributes))


def caption(source: str, attributes: Attributes) -> str:
  """The caption of an image with these attributes, e.g. 'a small red seven at the top left on a blue background'."""
  a = attributes
  return (f'a {SIZES[a.size]} {COLOUR_NAMES[a.colour]} {CLASS_NAMES[source][a.label]} at the '
          f'{POSITIONS[a.position]} on a {COLOUR_NAMES[a.background]} background')


def all_captions(source: str) -> list[str]:
  """Every caption the grammar writes for `source`, once each (10 classes x 8 colours x 7 other backgrounds x 2
  sizes x 9 positions = 10,080): the caption distribution of the datasets, whose attributes are drawn uniformly."""
  return [caption(source, Attributes(label, colour, background, size, position))
          for label in range(len(CLASS_NAMES[source])) for colour in range(len(COLOUR_NAMES))
          for background in range(len(COLOUR_NAMES)) if background != colour
          for size in range(len(SIZES)) for position in range(len(POSITIONS))]


def attribute_counts(source: str) -> tuple[int, int, int, int, int]:
  """How many values each attribute takes, in ATTRIBUTE_NAMES' order."""
  return len(CLASS_NAMES[source]), len(COLOUR_NAMES), len(COLOUR_NAMES), len(SIZES), len(POSITIONS)


def words(text: str) -> list[str]:
  """A text's tokens: its lower-cased words, hyphenated words kept whole, punctuation dropped."""
  return re.findall(r'[a-z0-9]+(?:-[a-z0-9]+)*', text.lower())


@dataclasses.dataclass(frozen=True)
class Vocabulary:
  """Words <-> token ids (0 pads, 1 is any unknown word, then `words` in order).

  Attributes:
    words: the known words, in id order from 2.
  """
  words: tuple[str, ...]

  def __post_init__(self):
    if len(set(self.words)) != len(self.words):
      raise ValueError(f'a vocabulary lists each word once; repeated: '
                       f'{sorted({w for w in self.words if self.words.count(w) > 1})}')

  @property
  def size(self) -> int:
    """The number of token ids, padding and unknown included (an embedding table's rows)."""
    return len(self.words) + 2

  @property
  def fingerprint(self) -> str:
    """A short hash of the word list: a text encoder trained on one vocabulary reads another's ids as other words,
    so checkpoints and encoder files record it and a mismatch is refused."""
    return hashlib.sha256('\n'.join(self.words).encode()).hexdigest()[:16]

  def encode(self, text: str, length: int = MAX_TOKENS) -> np.ndarray:
    """int32 [length] token ids of `text`, padded with PAD; unknown words become UNKNOWN.

    Raises:
      ValueError: if `text` has more than `length` words (silently cutting a caption would drop what it asks for).
    """
    tokens = words(text)
    if len(tokens) > length:
      raise ValueError(f'caption {text!r} has {len(tokens)} words; at most {length} are encoded')
    ids = np.full(length, PAD, np.int32)
    ids[:len(tokens)] = [self._ids.get(word, UNKNOWN) for word in tokens]
    return ids

  @functools.cached_property
  def _ids(self) -> dict[str, int]:
    return {word: i + 2 for i, word in enumerate(self.words)}

  def decode(self, ids: np.ndarray) -> str:
    """The words of token ids, padding dropped and unknown words shown as '<unk>'."""
    return ' '.join('<unk>' if i == UNKNOWN else self.words[i - 2] for i in np.asarray(ids).tolist() if i != PAD)


def caption_vocabulary(source: str) -> Vocabulary:
  """Every word the caption grammar can write for `source` ('mnist' or 'fashion_mnist'), in a fixed order."""
  if source not in CLASS_NAMES:
    raise ValueError(f'source must be one of {sorted(CLASS_NAMES)}, not {source!r}')
  grammar = ['a', 'at', 'the', 'on', 'background', *SIZES, *COLOUR_NAMES, *(w for p in POSITIONS for w in words(p)),
             *(w for name in CLASS_NAMES[source] for w in words(name))]
  return Vocabulary(tuple(dict.fromkeys(grammar)))


@functools.lru_cache(maxsize=None)
def token_table(source: str) -> np.ndarray:
  """int32 [*attribute_counts(source), MAX_TOKENS]: the token ids of the caption of every attribute combination,
  indexed by the attributes (the entries whose colour is the background's, which the grammar never writes, are
  written anyway): a compiled step turns attributes into captions by one gather."""
  vocabulary = caption_vocabulary(source)
  counts = attribute_counts(source)
  table = np.stack([vocabulary.encode(caption(source, Attributes(*map(int, index))))
                    for index in np.ndindex(*counts)]).reshape(*counts, MAX_TOKENS)
  table.setflags(write=False)  # Cached: one array for every caller.
  return table
