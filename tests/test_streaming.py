"""Streamed image input (`config.data.pipeline`): epoch order and coverage, resume, the 'auto' choice, the checks."""

import collections
import os

import jax
import numpy as np
import pytest

from gan_jax import data, parallel as parallel_lib
from gan_jax.config import ConfigError
from gan_jax.data import images, streaming
from gan_jax.train import train_and_evaluate
from gan_jax.validation import validate
from tests.test_image_training import tiny_dcgan
from tests.test_train import assert_same_params, load_state

RESOLUTION = 16
NUM_TRAIN = 1500  # sklearn_digits' train split (digits_builder.py).


@pytest.fixture(scope='module')
def digits(data_dir):
  """The train split streamed, and as `load_images` reads it (in stored order): (dataset, images, labels)."""
  dataset = streaming.open_split('sklearn_digits', 'train', data_dir, RESOLUTION, 1, 'resize', shuffle_buffer=65_536)
  x, y = images.load_images('sklearn_digits', 'train', data_dir, RESOLUTION, 1)
  return dataset, x, y


def stored_indices(batch_images, batch_labels, x, y):
  """Each streamed example's index in the stored split, found by content (equal examples take turns)."""
  where = collections.defaultdict(list)
  for i, (image, label) in enumerate(zip(x, y)):
    where[image.tobytes(), int(label)].append(i)
  used = collections.Counter()
  found = []
  for image, label in zip(batch_images, batch_labels):
    key = (image.tobytes(), int(label))
    assert key in where, 'a streamed example that load_images does not read'
    found.append(where[key][used[key] % len(where[key])])
    used[key] += 1
  return np.array(found)


def read_steps(feed, calls):
  """Calls `feed` for consecutive chunks of `calls` steps from step 0; the steps' images and labels on the host."""
  step, xs, ys = 0, [], []
  for num_steps in calls:
    arrays = feed(step, num_steps)
    assert int(arrays['first_step']) == step
    xs.append(np.asarray(arrays['images']))
    ys.append(np.asarray(arrays['labels']))
    step += num_steps
  return np.concatenate(xs), np.concatenate(ys)


def test_each_epoch_reads_every_example_once_in_a_fresh_order(digits):
  dataset, x, y = digits
  batch = 64
  steps_per_epoch = NUM_TRAIN // batch  # 23 steps; the other 1500 - 23 * 64 = 28 examples are dropped each epoch.
  assert dataset.steps_per_epoch(batch) == steps_per_epoch == 23
  single = parallel_lib.make_data_parallel('single')
  with dataset.open_feed(seed=0, start_step=0, global_batch=batch, parallel=single) as feed:
    got_x, got_y = read_steps(feed, [5, 1, 17, 23])  # Chunks of any length, across the epoch boundary.
  assert got_x.shape == (2 * steps_per_epoch, batch, RESOLUTION, RESOLUTION, 1) and got_x.dtype == np.uint8
  index = stored_indices(got_x.reshape(-1, RESOLUTION, RESOLUTION, 1), got_y.reshape(-1), x, y)
  epochs = index.reshape(2, steps_per_epoch * batch)
  for epoch in epochs:
    assert len(set(epoch)) == steps_per_epoch * batch  # No example twice within an epoch.
  assert not np.array_equal(epochs[0], epochs[1])
  assert set(epochs[0]) != set(epochs[1])  # Different examples dropped.
  # The examples are the in-memory path's, bit for bit (one conversion), with their own labels.
  np.testing.assert_array_equal(got_x.reshape(-1, RESOLUTION, RESOLUTION, 1), x[index])
  np.testing.assert_array_equal(got_y.reshape(-1), y[index])
  # A uniform shuffle (the buffer holds the whole split): the first batch is no run of stored order.
  assert np.mean(np.diff(epochs[0][:batch]) == 1) < 0.2


def test_a_feed_opened_at_a_later_step_reads_what_an_uninterrupted_one_reads(digits):
  dataset, _, _ = digits
  single = parallel_lib.make_data_parallel('single')
  with dataset.open_feed(0, 0, 32, single) as feed:
    whole, _ = read_steps(feed, [30, 30])
  resumed_from = 53  # Epochs of 1500 // 32 = 46 steps: within the second epoch.
  with dataset.open_feed(0, resumed_from, 32, single) as feed:
    arrays = feed(resumed_from, 7)
    with pytest.raises(ValueError, match='the feed is at step 60, asked for step 61'):
      feed(61, 1)
  np.testing.assert_array_equal(np.asarray(arrays['images']), whole[resumed_from:])
  with dataset.open_feed(1, 0, 32, single) as feed:
    other_seed, _ = read_steps(feed, [1])
  assert not np.array_equal(other_seed[0], whole[0])


def test_processes_read_disjoint_halves_that_cover_the_split(digits):
  dataset, x, y = digits
  shares = [list(dataset.epoch_batches(0, 0, 100, process_index=p, process_count=2)) for p in range(2)]
  assert [len(s) for s in shares] == [750 // 50] * 2  # Each process: 750 examples, 50 rows of each global batch.
  index = [stored_indices(np.concatenate([b[0] for b in s]), np.concatenate([b[1] for b in s]), x, y)
           for s in shares]
  assert not set(index[0]) & set(index[1])
  assert sorted(np.concatenate(index)) == list(range(NUM_TRAIN))


def streamed_dcgan(data_dir, num_steps):
  config = tiny_dcgan(data_dir, num_steps=num_steps)
  config.data.pipeline = 'stream'
  config.train.steps_per_call = 4
  config.train.log_every_steps = 4
  config.train.checkpoint_every_steps = 12
  config.train.eval_every_steps = 20
  config.eval.num_samples = 100
  return config


def test_streamed_training_trains(tmp_path, data_dir):
  final = train_and_evaluate(streamed_dcgan(data_dir, num_steps=8), str(tmp_path / 'run'))  # Raises on a NaN loss.
  assert final['step'] == 8 and np.isfinite(final['classifier_fd'])


@pytest.mark.slow  # CI trains on a stream (above) and restarts a feed at a later step (test_a_feed_opened_at_...).
def test_streamed_training_trains_and_resumes_bit_for_bit(tmp_path, data_dir):
  config = streamed_dcgan(data_dir, num_steps=20)
  final = train_and_evaluate(config, str(tmp_path / 'whole'))  # Raises NonFiniteLossError on a non-finite loss.
  assert final['step'] == 20 and np.isfinite(final['classifier_fd'])
  # 12 steps, then a resume to 20: the stream restarts at step 12, within the first epoch (1500 // 16 = 93 steps).
  train_and_evaluate(streamed_dcgan(data_dir, num_steps=12), str(tmp_path / 'split'))
  train_and_evaluate(config, str(tmp_path / 'split'))
  whole, split = load_state(tmp_path / 'whole', config), load_state(tmp_path / 'split', config)
  assert int(whole.step) == 20
  assert_same_params(split, whole)
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)),
               split.nets['g'].batch_stats, whole.nets['g'].batch_stats)


def test_auto_streams_only_a_split_over_the_bound(monkeypatch, data_dir):
  config = tiny_dcgan(data_dir).data
  assert config.pipeline == 'auto'
  assert data.split_bytes(config) == NUM_TRAIN * RESOLUTION * RESOLUTION * 1
  free, _ = __import__('gan_jax.validation').validation.available_memory()
  assert data.in_memory_bound() == (data.UNKNOWN_MEMORY_BOUND if free is None else int(free * 0.25))
  assert data.resolve_pipeline(config) == 'in_memory'
  assert isinstance(data.make_dataset(config), data.InMemoryImages)
  monkeypatch.setattr(data, 'in_memory_bound', lambda: NUM_TRAIN * RESOLUTION * RESOLUTION - 1)
  assert data.resolve_pipeline(config) == 'stream'
  dataset = data.make_dataset(config)
  assert isinstance(dataset, streaming.StreamedImages)
  assert (dataset.num_examples, dataset.num_classes, dataset.shape) == (NUM_TRAIN, 10, (16, 16, 1))
  config.pipeline = 'in_memory'  # Given explicitly, it is kept whatever the size.
  assert data.resolve_pipeline(config) == 'in_memory'
  ring = tiny_dcgan(data_dir).data
  ring.name = 'ring'
  assert data.resolve_pipeline(ring) == 'in_memory'


@pytest.mark.parametrize('change, message', [
    ({'data.pipeline': 'disk'}, "config.data.pipeline: got 'disk'; accepted values: auto, in_memory, stream"),
    ({'data.shuffle_buffer': 0}, 'config.data.shuffle_buffer: got 0; must be an integer >= 1'),
    ({'data.pipeline': 'stream', 'data.name': 'stacked_digits'},
     "config.data.pipeline: data.pipeline='stream': a stacked dataset draws three examples"),
    ({'data.pipeline': 'stream', 'semi.labels_per_class': 10},
     'config.data.pipeline: data.pipeline=\'stream\': the semi-supervised GAN samples its labelled subset'),
    ({'data.pipeline': 'stream', 'disc.norm': 'virtual_batch'},
     "config.data.pipeline: data.pipeline='stream': D's virtual batch norm"),
    ({'semi.labels_per_class': 10, 'loss.d.supervised': 1.0, 'cond.enabled': False},
     "config.data.pipeline: data.pipeline='auto' streams data.name='digits': its split takes 375.0 KiB at "
     "data.resolution, more than the in-memory bound of 1000 bytes; set data.pipeline='in_memory' to hold it on "
     'device anyway, or the semi-supervised GAN'),
])
def test_bad_pipelines_are_config_errors(monkeypatch, data_dir, change, message):
  monkeypatch.setattr(data, 'in_memory_bound', lambda: 1000)  # 'auto' streams the digits.
  config = tiny_dcgan(data_dir)
  for field, value in change.items():
    *sections, name = field.split('.')
    section = config
    for part in sections:
      section = section[part]
    section[name] = value
  with pytest.raises(ConfigError) as error:
    validate(config, num_devices=1)
  assert message in str(error.value)


def test_stream_needs_an_image_dataset_and_a_batch_that_fits_the_split(tmp_path, data_dir):
  config = tiny_dcgan(data_dir)
  config.data.pipeline = 'stream'
  config.data.name, config.gen.name, config.disc.name = 'ring', 'mlp', 'mlp'
  with pytest.raises(ConfigError, match="config.data.pipeline: got 'stream', which reads image datasets from TFDS; "
                                        "data.name='ring' is drawn on device"):
    validate(config, num_devices=1)
  config = streamed_dcgan(data_dir, 4)
  config.train.batch_size = 2000
  with pytest.raises(ConfigError, match='config.train.batch_size: .* has 1500 examples .* fewer than one streamed '
                                        'batch of train.batch_size x train.n_critic = 2000'):
    train_and_evaluate(config, str(tmp_path / 'run'))
  assert not os.path.exists(tmp_path / 'run')
