"""The captioned object sets (StackGAN's data): small versions prepared through TFDS, their images checked against
their attributes and captions by pixel statistics, and the in-memory loader's batches row-consistent."""

import numpy as np
import pytest

from gan_jax.data import captioned_builder, captions, sources
from gan_jax.data.captioned_builder import CANVAS, SIZE_PIXELS

TINY_PER_SPLIT = 24


def tiny_builder(source: str):
  """`captioned_<source>` keeping the first `TINY_PER_SPLIT` examples of each split (not registered)."""
  base = {'mnist': captioned_builder.CaptionedMnist, 'fashion_mnist': captioned_builder.CaptionedFashionMnist}[source]

  class Tiny(base, skip_registration=True):
    name = f'tiny_captioned_{source}'
    MAX_PER_SPLIT = TINY_PER_SPLIT

  return Tiny


@pytest.fixture(scope='session')
def tiny_captioned(tmp_path_factory):
  """`tiny_captioned(source)`: the prepared small builder of `source` (skips when its sources are not installed)."""
  data_dir = str(tmp_path_factory.mktemp('tiny_captioned'))
  built = {}

  def prepared(source: str):
    if source not in built:
      builder = tiny_builder(source)(data_dir=data_dir)
      try:
        builder.check_sources()
      except sources.SourceError as error:
        pytest.skip(f'offline sources of {source} not installed: {error}')
      builder.download_and_prepare()
      built[source] = builder
    return built[source]

  return prepared


def _read(builder, split):
  import tensorflow_datasets as tfds
  return tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, shuffle_files=False))


def _placement_centres(size: int) -> np.ndarray:
  """The object centres along one axis at the three placements of an object of `size` pixels."""
  return np.array([0, (CANVAS - size) // 2, CANVAS - size]) + size / 2


@pytest.mark.parametrize('source', sorted(captions.CLASS_NAMES))
def test_images_show_their_attributes_and_captions_say_them(tiny_captioned, source):
  builder = tiny_captioned(source)
  assert {s: builder.info.splits[s].num_examples for s in ('train', 'test')} == {'train': TINY_PER_SPLIT,
                                                                                  'test': TINY_PER_SPLIT}
  palette = np.array(list(captions.COLOURS.values()), np.float64)
  for split in ('train', 'test'):
    data = _read(builder, split)
    for i, image in enumerate(data['image'].astype(np.float64)):
      a = captions.Attributes(*(int(data[k][i]) for k in captioned_builder.ATTRIBUTE_NAMES))
      assert data['caption'][i].decode() == captions.caption(source, a)
      assert a.colour != a.background
      size = SIZE_PIXELS[a.size]
      top, left = captioned_builder.placement(size, a.position)
      # Outside the object's square: exactly the background colour.
      outside = np.ones((CANVAS, CANVAS), bool)
      outside[top:top + size, left:left + size] = False
      np.testing.assert_array_equal(image[outside], np.broadcast_to(palette[a.background], image[outside].shape))
      # Every pixel lies on the segment background -> object colour (a blend of the two), the object reaching
      # well towards the colour.
      direction = palette[a.colour] - palette[a.background]
      weight = np.clip((image - palette[a.background]) @ direction / (direction @ direction), 0, 1)
      blend = palette[a.background] + weight[..., None] * direction
      assert np.abs(image - blend).max() <= 1.0
      assert weight.max() >= 0.5, (split, i, weight.max())
      np.testing.assert_array_equal(weight[outside], 0)
      # The object's centre is nearest the named placement along each axis: MNIST digits are centred by their
      # centre of mass (weighted by the blend weight), Fashion-MNIST items by their bounding box.
      centres = _placement_centres(size)
      if source == 'mnist':
        row, col = ((weight.sum(axis=axis) * (np.arange(CANVAS) + 0.5)).sum() / weight.sum() for axis in (1, 0))
      else:
        rows, cols = np.nonzero(weight > 0.15 * weight.max())
        row, col = (rows.min() + rows.max() + 1) / 2, (cols.min() + cols.max() + 1) / 2
      assert np.argmin(np.abs(centres - row)) == a.position // 3, (split, i, row, a)
      assert np.argmin(np.abs(centres - col)) == a.position % 3, (split, i, col, a)
  train, test = _read(builder, 'train'), _read(builder, 'test')
  # Per-example draws: the splits' attributes differ at the same index; all are those of `draw_attributes`.
  assert np.any(train['colour'] != test['colour'])
  assert captioned_builder.draw_attributes('test', 3, int(test['label'][3])) == captions.Attributes(
      *(int(test[k][3]) for k in captioned_builder.ATTRIBUTE_NAMES))


def test_compose_blends_the_source_grey_levels():
  grey = np.zeros((28, 28), np.uint8)
  grey[10:18, 12:16] = 255
  grey[5, 5] = 102  # A blend weight of 0.4.
  a = captions.Attributes(label=0, colour=0, background=2, size=0, position=8)  # Small, red on blue, bottom right.
  image = captioned_builder.compose(grey, a)
  top, left = CANVAS - 28, CANVAS - 28
  red, blue = np.array(captions.COLOURS['red']), np.array(captions.COLOURS['blue'])
  np.testing.assert_array_equal(image[top + 12, left + 13], red)
  np.testing.assert_array_equal(image[top + 5, left + 5], np.rint(0.4 * red + 0.6 * blue))
  np.testing.assert_array_equal(image[0, 0], blue)
  assert image.shape == (64, 64, 3) and image.dtype == np.uint8
  large = captioned_builder.compose(grey, captions.Attributes(0, 0, 2, 1, 0))
  object_rows = np.nonzero(np.any(np.all(large == red, axis=-1), axis=1))[0]
  assert object_rows.min() >= 10 * 44 / 28 - 1 and object_rows.max() <= 18 * 44 / 28 + 1  # Scaled by 44 / 28.


def test_loader_batches_keep_each_example_together(tiny_captioned):
  import jax
  from gan_jax.data import captioned
  dataset = captioned.read_split(tiny_captioned('mnist'), 'train')
  assert dataset.images.shape == (TINY_PER_SPLIT, 64, 64, 3) and dataset.images.dtype == np.uint8
  assert dataset.tokens.shape == (TINY_PER_SPLIT, captions.MAX_TOKENS) and dataset.tokens.dtype == np.int32
  assert dataset.attributes.shape == (TINY_PER_SPLIT, 5) and dataset.attributes.dtype == np.int32
  assert dataset.num_classes == 10 and dataset.shape == (64, 64, 3)
  for i in range(TINY_PER_SPLIT):
    assert dataset.captions(i) == [captions.caption('mnist', captions.Attributes(*dataset.attributes[i].tolist()))]
  arrays = jax.device_put(dataset.host_arrays())
  batch = jax.jit(dataset.sample, static_argnums=3)(arrays, jax.random.key(0), np.int32(5), 8)
  assert batch['x'].shape == (8, 64, 64, 3) and batch['x'].dtype == np.float32
  assert batch['tokens'].dtype == batch['attributes'].dtype == batch['y'].dtype == np.int32
  for x, tokens, attributes, y in zip(*(np.asarray(batch[k]) for k in ('x', 'tokens', 'attributes', 'y'))):
    [row] = np.nonzero(np.all(dataset.images == np.rint((x + 1) * 127.5).astype(np.uint8), axis=(1, 2, 3)))[0]
    np.testing.assert_array_equal(tokens, dataset.tokens[row])
    np.testing.assert_array_equal(attributes, dataset.attributes[row])
    assert y == dataset.labels[row] == attributes[0]
  small = captioned.read_split(tiny_captioned('mnist'), 'test[:4]', resolution=32)
  assert small.images.shape == (4, 32, 32, 3)
  # Area averaging: a 2x2 block's mean, within the rounding of bilinear-with-antialiasing.
  full = captioned.read_split(tiny_captioned('mnist'), 'test[:4]')
  pooled = full.images.astype(np.float64).reshape(4, 32, 2, 32, 2, 3).mean(axis=(2, 4))
  assert np.abs(pooled - small.images).mean() < 8


def test_config_names_and_bad_input():
  import ml_collections
  from gan_jax import data
  from gan_jax.config import ConfigError
  assert data.CAPTIONED_DATASETS == {**captioned_builder.SOURCES, 'emoji_names': 'emoji'}
  from gan_jax.data import prepare
  assert set(captioned_builder.SOURCES) <= set(prepare.OFFLINE_DATASETS) and set(
      captioned_builder.SOURCES) <= set(prepare.offline_builders())
  c = ml_collections.ConfigDict({'name': 'captioned_mnist', 'resize': 'resize', 'channels': 3, 'pipeline': 'auto',
                                 'shuffle_buffer': 10, 'std': 0.02, 'num_train_points': 0, 'resolution': 64})
  data.validate(c)
  for field, value, message in (('channels', 1, 'data.channels'), ('resolution', 48, 'data.resolution'),
                                ('pipeline', 'stream', 'data.pipeline')):
    bad = ml_collections.ConfigDict(c.to_dict())
    bad[field] = value
    with pytest.raises(ConfigError, match=message):
      data.validate(bad)


def test_unprepared_dataset_names_the_prepare_command(tmp_path):
  from gan_jax.data import captioned, images
  with pytest.raises(images.DatasetUnavailableError, match='gan_jax.data.prepare captioned_fashion_mnist'):
    captioned.load_captioned('captioned_fashion_mnist', 'train', str(tmp_path))
  with pytest.raises(ValueError, match='captioned_mnist'):
    captioned.load_captioned('captioned_cifar', 'train', str(tmp_path))


@pytest.fixture(scope='module')
def mnist_classifier():
  from gan_jax.evaluation import digits
  return digits.load_digit_classifier('mnist')


def test_checker_reads_real_images_and_refuses_shuffled_captions(tiny_captioned, mnist_classifier):
  from gan_jax.data import captioned
  from gan_jax.evaluation import caption_match
  for resolution in (64, 32):
    dataset = captioned.read_split(tiny_captioned('mnist'), 'test', resolution=resolution)
    images = dataset.images.astype(np.float32) / 127.5 - 1.0
    real = caption_match.caption_match(images, dataset.attributes, 'mnist', mnist_classifier)
    assert {k: real[k] for k in ('colour', 'background', 'size', 'position')} == dict.fromkeys(
        ('colour', 'background', 'size', 'position'), 1.0), (resolution, real)
    assert real['class'] >= 0.9 and real['all'] == pytest.approx(real['class'])
  # Each image judged against another example's attributes: matches only by coincidence. (The small split's
  # digits are all zeros, the sources' first: the class is judged against the next class instead.)
  wrong = np.roll(dataset.attributes, 1, axis=0)
  wrong[:, 0] = (dataset.attributes[:, 0] + 1) % 10
  wrong = caption_match.caption_match(images, wrong, 'mnist', mnist_classifier)
  assert wrong['all'] == 0 and wrong['class'] <= 0.1
  assert max(wrong[k] for k in ('colour', 'background', 'position')) <= 0.35 and 0.2 <= wrong['size'] <= 0.8


def test_checker_on_drawn_objects_and_empty_images(mnist_classifier):
  from gan_jax.evaluation import caption_match
  grey = np.zeros((28, 28), np.uint8)
  grey[4:24, 12:16] = 255  # A bar: a 'one', 20 px tall as MNIST's digits.
  attributes = [captions.Attributes(1, colour, background, size, position)
                for colour, background, size, position in ((0, 2, 0, 0), (6, 7, 1, 8), (7, 6, 0, 4), (3, 4, 1, 5))]
  images = np.stack([captioned_builder.compose(grey, a) for a in attributes]).astype(np.float32) / 127.5 - 1.0
  blank = np.full((1, 64, 64, 3), np.array(captions.COLOURS['green']) / 127.5 - 1.0, np.float32)
  seen = caption_match.measure(np.concatenate([images, blank]), 'mnist')
  for key, column in (('colour', 1), ('background', 2), ('size', 3), ('position', 4)):
    expected = [getattr(a, key) for a in attributes]
    np.testing.assert_array_equal(seen[key][:4], expected)
  assert seen['background'][4] == captions.COLOUR_NAMES.index('green')
  assert seen['colour'][4] == seen['size'][4] == seen['position'][4] == -1
  # The grey object is the bar again: 20 tall and 4 wide, centred, at full weight.
  bar = seen['grey'][0, ..., 0] > 0
  rows, cols = np.nonzero(bar)
  assert rows.max() - rows.min() + 1 == 20 and 3 <= cols.max() - cols.min() + 1 <= 5
  assert abs(rows.mean() - 13.5) <= 1 and abs(cols.mean() - 13.5) <= 1
  with pytest.raises(ValueError, match=r'\[N, 5\]'):
    caption_match.caption_match(images, np.zeros((4, 4), np.int32), 'mnist', mnist_classifier)
  with pytest.raises(ValueError, match='R, R, 3'):
    caption_match.measure(images[..., :1], 'mnist')


def test_emoji_names_are_captions_of_the_emoji(image_sets_dir):
  import tensorflow_datasets as tfds
  from gan_jax.data import captioned
  data_dir = image_sets_dir('emoji_styles')
  assert captioned.emoji_caption('woman’s_boot') == 'womans boot'
  assert captioned.emoji_caption('piñata') == 'pinata' and captioned.emoji_caption('t-shirt') == 't-shirt'
  test = captioned.load_named_emoji('test', data_dir)
  train = captioned.load_named_emoji('train[:8]', data_dir, resolution=32, style='openmoji')
  assert test.vocabulary == train.vocabulary and test.source == 'emoji' and test.num_classes == 0
  assert test.images.shape == (160, 64, 64, 3) and train.images.shape == (8, 32, 32, 3)
  assert test.attributes.shape == (160, 0) and np.all(test.labels == -1)
  raw = tfds.as_numpy(tfds.builder('emoji_styles', data_dir=data_dir).as_dataset(split='test', batch_size=-1,
                                                                                 shuffle_files=False))
  np.testing.assert_array_equal(test.images, raw['noto'])  # Row i is emoji i, its image and its name.
  assert test.captions(range(160)) == [captioned.emoji_caption(n.decode()) for n in raw['name']]
  assert captions.UNKNOWN not in test.tokens  # Every split's words are in the vocabulary.
  import jax
  batch = test.sample(jax.device_put(test.host_arrays()), jax.random.key(1), 0, 4)
  assert batch['attributes'].shape == (4, 0) and np.all(np.asarray(batch['y']) == -1)
