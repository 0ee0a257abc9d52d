r"""Draws one sample figure per offline image-to-image dataset into docs/figures/, for the README.

  python docs/figures/make_dataset_figures.py [--data_dir DIR]

Prepares `satellite_maps`, `emoji_styles` and `photos` in DIR if they are not there (default: $TFDS_DATA_DIR or
~/tensorflow_datasets), then writes, from fixed examples:
- satellite_maps_examples.png: six test tiles, satellite (top row) over map (bottom row), at half size (128 x 128);
- emoji_styles_examples.png: eight emoji of either split, OpenMoji (top row) over Noto (bottom row), 64 x 64 as
  stored;
- photos_examples.png: 96 x 96 test crops as stored, two from the middle of each held-out photo (one per row).
"""

import argparse
import pathlib

import numpy as np

FIGURES = pathlib.Path(__file__).resolve().parent
GAP = 4  # White pixels between images.
SATELLITE_TILES = (2, 9, 16, 23, 30, 37)  # Test tiles from north to south across the held-out band.
EMOJI = ('1F600', '1F431', '1F355', '1F680', '1F30D', '1F697', '2764', '1F333')


def _grid(rows: list[list[np.ndarray]]) -> np.ndarray:
  """Equal-sized uint8 RGB images in rows, GAP white pixels apart."""
  height, width = rows[0][0].shape[:2]
  cols = max(len(row) for row in rows)
  canvas = np.full((len(rows) * (height + GAP) - GAP, cols * (width + GAP) - GAP, 3), 255, np.uint8)
  for i, row in enumerate(rows):
    for j, image in enumerate(row):
      canvas[i * (height + GAP):i * (height + GAP) + height, j * (width + GAP):j * (width + GAP) + width] = image
  return canvas


def _half(image: np.ndarray) -> np.ndarray:
  return ((image.astype(np.uint16).reshape(image.shape[0] // 2, 2, image.shape[1] // 2, 2, 3).sum(axis=(1, 3))
           + 2) // 4).astype(np.uint8)


def _save(canvas: np.ndarray, name: str, palette: bool = False) -> None:
  """Writes a PNG; `palette` quantizes photographs to 256 colours, which keeps their figures under 200 KB."""
  from PIL import Image
  path = FIGURES / name
  image = Image.fromarray(canvas)
  if palette:
    image = image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
  image.save(path, optimize=True)
  print(f'{path}: {canvas.shape[1]}x{canvas.shape[0]}, {path.stat().st_size // 1024} KB')


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--data_dir', default=None,
                      help='TFDS data_dir (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)')
  args = parser.parse_args()

  import tensorflow_datasets as tfds
  from gan_jax.data import images, prepare
  data_dir = images.resolve_data_dir(args.data_dir)

  def read(name, split='test'):
    prepare.prepare(name, data_dir)
    builder = tfds.builder(name, data_dir=data_dir)
    return tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, shuffle_files=False))

  tiles = read('satellite_maps')
  _save(_grid([[_half(tiles[key][i]) for i in SATELLITE_TILES] for key in ('image', 'map')]),
        'satellite_maps_examples.png', palette=True)

  emoji = [read('emoji_styles', split) for split in ('train', 'test')]
  by_code = {code.decode(): (split, i) for split, data in enumerate(emoji) for i, code in enumerate(data['code_point'])}
  _save(_grid([[emoji[by_code[c][0]][key][by_code[c][1]] for c in EMOJI] for key in ('openmoji', 'noto')]),
        'emoji_styles_examples.png')

  photos = read('photos')
  names = list(dict.fromkeys(s.decode() for s in photos['source']))
  # Per photo: its crops nearest the middle of its grid (the centre of the photo).
  rows = [[], []]
  for name in names:
    indices = np.flatnonzero(photos['source'] == name.encode())
    middle = len(indices) // 2
    rows[0].append(photos['image'][indices[middle]])
    rows[1].append(photos['image'][indices[max(middle - 1, 0)]])
  _save(_grid(rows), 'photos_examples.png', palette=True)


if __name__ == '__main__':
  main()
