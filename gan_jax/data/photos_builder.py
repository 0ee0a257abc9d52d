"""The TFDS builder `photos`: natural colour photographs cut into 96 x 96 crops for super-resolution, offline.

20 photographs from three registry packages, chosen by looking at every candidate: real colour photographs only.
Left out of opencv-doc's examples/data: logos, drawings and charts (HappyFish, ml, detect_blob, ...), text and
sudoku, chessboards and calibration shots (left01.., right01..), synthetic renders (Blender_Suzanne*, pic*, cards;
smarties, which looks rendered), the painting starry_night, greyscale photos (basketball*, box*, blox), the
motion-blurred licenseplate_motion, scanned prints with a visible halftone screen (apple, orange), the forged
ela_modified and the mostly black ela_original, chicky_512 (a half-transparent border), messi5 (a press photo of a
person), the dim left/right stereo pair, and the second view of each stereo or flow pair (aero3, aloeR, graf3,
leuvenB, rubberwhale2), so that no scene appears twice. From scikit-image only its colour photographs (not the
scientific hubble_deep_field, retina, immunohistochemistry, nor the second motorcycle view).
Splits, by photo, disjoint:
- `train`: 96 x 96 crops every 64 pixels (neighbours overlap by 32) from each training photo's top-left corner,
  as many as fit: 1,064 crops of 14 photos (aloeL.jpg, 1282 x 1110, gives 304 of them).
- `test`: the held-out photos cut into non-overlapping 96 x 96 crops on a grid centred in the photo (the margins,
  under 96 pixels, are dropped): 167 crops of 6 photos, which reassemble into each photo's centred region.
One size for both splits, so that the image loader (which needs one fixed shape) reads either; `source` names the
photo's file, `offset` the crop's (top, left) pixel in it.
"""

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from gan_jax.data import png, sources

NAME = 'photos'
CROP = 96
CROP_SHAPE = (CROP, CROP, 3)
TRAIN_STRIDE = 64

OPENCV_PACKAGE = 'Debian opencv-doc 4.6.0+dfsg-12 (examples/data, unpacked by install_sources.sh)'
SKIMAGE_PACKAGE = 'pip scikit-image 0.26.0'
SKLEARN_PACKAGE = 'pip scikit-learn 1.9.1'
# File name -> (package, SHA-256); the names are unique across the packages.
PHOTOS = {
    # opencv-doc 4.6.0+dfsg-12, examples/data.
    'aero1.jpg': ('opencv', 'd9a69191f6e3642ea361bc3c62e677b2f40fe6534b78da540f4155e0734b59ef'),
    'aloeL.jpg': ('opencv', 'cce5736808efe80d9f04b118dbb978c344d4345672b332718c3e039a3eeb8eee'),
    'baboon.jpg': ('opencv', '1a1dd18d78eec44420af3b0b7f08ee3d41c982916cae3ce203d7ff35d754cc0f'),
    'board.jpg': ('opencv', '4c9a24ba67138ad5486d550f586cc5dd1161be112f1c1bea336d6c550cdf255f'),
    'building.jpg': ('opencv', '742a1baad62ac82e91e718e77eedf7e85c2eddc4badfb8c87c6cbc86c45a8b07'),
    'butterfly.jpg': ('opencv', '34a99716b78ded10eae87b4880de739d3e68cc7dd1a96812bb28f469d5eeaea8'),
    'fruits.jpg': ('opencv', '9c031d80a1c52da5eca790db896baffec6a7e52bf786cdb7bbfca5c7f880e6a1'),
    'graf1.png': ('opencv', '1504b769303c7bde00fa578eeaad3c68e02aceabeb1242e556f1f8d19e4bdea5'),
    'home.jpg': ('opencv', '23b8cf46a1965d0ec33459b875aed43187802834db49e0daa9fa2cc842e9d8d2'),
    'leuvenA.jpg': ('opencv', 'b2977cdbd9fb3f94dadd6f76cf586d145676deb8a22b5f0f42149d21c058c09f'),
    'rubberwhale1.png': ('opencv', 'eb312435369dac9efcc92f7e098edbd9ed8d7e6dfede8b3b4d8e3702cd80b796'),
    'squirrel_cls.jpg': ('opencv', '20bb6e8ae96918a36c9886b6d48e54eedeb3948591e1485c206bc1dc60c8dc8b'),
    'stuff.jpg': ('opencv', '21cd00afbdd0727f445dd91c0a09633e6345ed5b05a3d2355453a1f3c314c6c5'),
    # scikit-image 0.26.0, skimage/data (the files bundled in the wheel, no download).
    'astronaut.png': ('skimage', '88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5'),
    'chelsea.png': ('skimage', '596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb'),
    'coffee.png': ('skimage', 'cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7'),
    'motorcycle_left.png': ('skimage', 'db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179'),
    'rocket.jpg': ('skimage', 'c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c'),
    # scikit-learn 1.9.1, sklearn/datasets/images.
    'china.jpg': ('sklearn', '8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29'),
    'flower.jpg': ('sklearn', 'a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638'),
}
# One of each kind of scene held out: fur texture, architecture, close-up nature, a portrait, objects, a landscape.
TEST_PHOTOS = ('baboon.jpg', 'building.jpg', 'butterfly.jpg', 'astronaut.png', 'coffee.png', 'china.jpg')
TRAIN_PHOTOS = tuple(name for name in PHOTOS if name not in TEST_PHOTOS)

_DESCRIPTION = """\
Natural colour photographs as 96 x 96 RGB crops, for super-resolution (the high-resolution side; make the
low-resolution side by downsampling). 20 real photographs from opencv-doc 4.6.0's examples/data, scikit-image
0.26.0's bundled data and scikit-learn 1.9.1's sample images, chosen by eye: no logos, charts, text, chessboards,
renders, paintings, greyscale, blurred or halftone-scanned images, one view per scene. Most are JPEGs, so the
crops carry their JPEG artefacts. Splits are disjoint by photo. train: 1,064 crops, every 64 pixels from the
top-left corner, of aero1, aloeL, board, fruits, graf1, home, leuvenA, rubberwhale1, squirrel_cls, stuff (opencv),
chelsea, motorcycle_left, rocket (scikit-image), flower (scikit-learn). test: 167 non-overlapping crops on a grid
centred in each of baboon, building, butterfly (opencv), astronaut, coffee (scikit-image), china (scikit-learn).
`source`: the photo's file name; `offset`: the crop's (top, left) pixel in the photo.
Licences and attribution: scikit-learn's china.jpg (danielbuechele) and flower.jpg (vultilion), Flickr, CC BY 2.0.
scikit-image: astronaut (NASA, Eileen Collins, public domain), chelsea (Stefan van der Walt, CC0), coffee (Rachel
Michetti, courtesy of Pikolo Espresso Bar, CC0), rocket (SpaceX, public domain), motorcycle_left (Middlebury 2014
stereo dataset, Scharstein et al., downsampled 4x by scikit-image). OpenCV's sample images ship with its
documentation and carry no licence notes of their own (baboon is the USC-SIPI mandrill; aloeL and rubberwhale1
come from the Middlebury stereo and optical-flow benchmarks; graf1 and leuvenA from the Oxford affine-covariant
features dataset): research and testing use, as OpenCV's samples are used.
"""

_CITATION = """\
@inproceedings{scharstein2014middlebury,
  author = {Scharstein, Daniel and Hirschm{\\"u}ller, Heiko and Kitajima, York and Krathwohl, Greg and
            Ne{\\v{s}}i{\\'c}, Nera and Wang, Xi and Westling, Porter},
  title = {High-Resolution Stereo Datasets with Subpixel-Accurate Ground Truth},
  booktitle = {German Conference on Pattern Recognition (GCPR)},
  year = {2014},
}
@article{vanderwalt2014scikitimage,
  author = {van der Walt, St{\\'e}fan and others},
  title = {scikit-image: image processing in {P}ython},
  journal = {PeerJ},
  volume = {2},
  pages = {e453},
  year = {2014},
}
"""


def _directory(origin: str) -> epath.Path:
  if origin == 'opencv':
    return sources.sources_dir() / 'opencv-samples'
  if origin == 'skimage':
    return sources.package_dir(NAME, 'skimage', SKIMAGE_PACKAGE) / 'data'
  return sources.package_dir(NAME, 'sklearn', SKLEARN_PACKAGE) / 'datasets' / 'images'


def source_files() -> dict[str, epath.Path]:
  """The checked photo files, by file name.

  Raises:
    sources.SourceError: a package is not installed, or a photo is missing or damaged.
  """
  packages = {'opencv': OPENCV_PACKAGE, 'skimage': SKIMAGE_PACKAGE, 'sklearn': SKLEARN_PACKAGE}
  return {name: sources.checked_file(NAME, _directory(origin) / name, sha, packages[origin])
          for name, (origin, sha) in PHOTOS.items()}


def read_photo(path: epath.PathLike) -> np.ndarray:
  """uint8 [H, W, 3]: the file's pixels (every chosen photo is RGB)."""
  from PIL import Image  # Imported here: only preparing the dataset decodes the photos.
  with Image.open(path) as image:
    if image.mode != 'RGB':
      raise sources.SourceError(f'Dataset {NAME!r}: {path} is {image.mode}, not RGB')
    return np.asarray(image)


def train_offsets(height: int, width: int) -> list[tuple[int, int]]:
  """(top, left) of the training crops of a photo: every `TRAIN_STRIDE` pixels, row by row."""
  return [(top, left) for top in range(0, height - CROP + 1, TRAIN_STRIDE)
          for left in range(0, width - CROP + 1, TRAIN_STRIDE)]


def test_offsets(height: int, width: int) -> list[tuple[int, int]]:
  """(top, left) of the test crops of a photo: non-overlapping, on a grid centred in the photo, row by row."""
  rows, cols = height // CROP, width // CROP
  top0, left0 = (height - rows * CROP) // 2, (width - cols * CROP) // 2
  return [(top0 + CROP * i, left0 + CROP * j) for i in range(rows) for j in range(cols)]


class Photos(tfds.core.GeneratorBasedBuilder):
  """Crops of natural photographs (see the module docstring); preparing needs no internet."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release: 96 x 96 crops; train 14 photos (stride 64), test 6 photos (grid).'}
  code_path = epath.Path(__file__)
  check_sources = staticmethod(source_files)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=CROP_SHAPE),
            'source': tfds.features.Text(),
            'offset': tfds.features.Tensor(shape=(2,), dtype=np.int32),
        }),
        supervised_keys=None,
        homepage='https://scikit-image.org/docs/stable/api/skimage.data.html',
        citation=_CITATION,
        disable_shuffling=True,  # Photo by photo in the lists' order, each crop row by row.
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # The photos ship in the packages.
    paths = source_files()
    return {'train': self._generate_examples(paths, TRAIN_PHOTOS, train_offsets),
            'test': self._generate_examples(paths, TEST_PHOTOS, test_offsets)}

  def _generate_examples(self, paths, names, offsets):
    index = 0
    for name in names:
      photo = read_photo(paths[name])
      for top, left in offsets(*photo.shape[:2]):
        yield index, {'image': png.encode(photo[top:top + CROP, left:left + CROP], CROP_SHAPE), 'source': name,
                      'offset': np.array([top, left], np.int32)}
        index += 1
