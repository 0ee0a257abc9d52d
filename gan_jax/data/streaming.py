"""Image datasets streamed from TFDS with tf.data, for splits too large to hold in device memory.

`config.data.pipeline='stream'` (or 'auto' on a large split) builds a `StreamedImages` instead of an
`InMemoryImages`. The compiled training step is the same: it calls `dataset.sample(arrays, rng, step, num)` for
each step's batch. Only what `arrays` holds differs: instead of the whole split, a `StreamFeed` passes each call the
batches of its steps stacked on a leading axis ('images' [num_steps, G, H, W, C] uint8, 'labels' [num_steps, G]) and
the call's first step ('first_step'), and `sample` picks row `step - first_step`. G is the global batch of a
training step, `train.n_critic x train.batch_size`.

The order: epoch e reads the split in an order drawn from (run seed, e): TFDS's file order shuffled with that seed
(datasets that allow it) and a tf.data shuffle buffer of `data.shuffle_buffer` encoded examples seeded with it; a
split no larger than the buffer is therefore read in a uniformly random order. Every epoch is
`steps_per_epoch = N // G` steps and reads each example at most once: the last `N % G` examples of the epoch's order
are dropped (different ones each epoch), as the in-memory path does. Step s reads batch `s % steps_per_epoch` of
epoch `s // steps_per_epoch`, so the batches are a function of (seed, step) alone and a resumed run reads the ones
an uninterrupted run reads. Resuming at step s re-reads the first `s % steps_per_epoch` batches of the epoch as
encoded bytes and skips them (`Dataset.skip` before decoding): at most one epoch of file reading, no decoding.

The examples are decoded in tf.data and brought to the model's resolution and channels on the host by the same
function as the in-memory path (`images.convert_batch`), so both give the same images; only their order differs.

Multi-host: process p of P reads only its part of the split, `tfds.even_splits(split, P, drop_remainder=True)[p]`,
shuffled with (seed, epoch, p), and contributes G / P rows to every global batch; `DataParallel.put_batches` builds
the global array with `jax.make_array_from_process_local_data`. The order then depends on the process count, so a
run resumed under another process count reads other batches (still every example once per epoch).

Not streamable (validation says so): stacked datasets (three independent permutations of the split per step), the
semi-supervised GAN's labelled subset, and virtual batch norm's reference batch, which sample the whole split on
device.
"""

import dataclasses
import functools
import itertools
import queue
import threading
from typing import Any, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from gan_jax.data import images as images_lib
from gan_jax.data import prepare
from gan_jax.data.in_memory import to_unit_range

PREFETCH_STEPS = 4  # Steps of converted batches the reading thread keeps ahead of the training loop (at least).
# A tf.data pipeline spans whole epochs and at least this many steps: starting one (opening the files, filling the
# shuffle buffer, tracing the decoder) takes about 0.2 s, which epochs of a few steps (1,500 digits) would pay every
# few steps; within a pipeline tf.data reads the next epoch ahead while the current one is consumed.
MIN_PIPELINE_STEPS = 1000
_POLL_SECONDS = 0.1  # How often a blocked reader or consumer checks whether the feed was closed.
RANDOM_IMAGES_EPOCH = 2**32 - 1  # `random_images` shuffles as this epoch, one that training never reaches.


def epoch_seed(seed: int, epoch: int, process_index: int = 0) -> int:
  """The shuffle seed of one epoch of one process's part: a 31-bit integer drawn from (seed, epoch, process)."""
  return int(np.random.SeedSequence([seed, epoch, process_index]).generate_state(1)[0] >> 1)


@dataclasses.dataclass(frozen=True, eq=False)
class StreamedImages:
  """A TFDS image split read from disk during training. Build it with `open_split`.

  Attributes:
    name, split, data_dir: the TFDS dataset, split (slices allowed) and directory.
    resolution, channels, resize_method: what each image is brought to (see `images.load_images`).
    num_examples: the split's size (TFDS info).
    num_classes: the label feature's class count; 0 for a dataset without labels.
    shuffle_buffer: encoded examples in tf.data's shuffle buffer.
  """
  name: str
  split: str
  data_dir: str
  resolution: int
  channels: int
  resize_method: str
  num_examples: int
  num_classes: int
  shuffle_buffer: int
  image_key: str
  supervised: bool

  @property
  def shape(self) -> tuple[int, ...]:
    return (self.resolution, self.resolution, self.channels)

  def host_arrays(self) -> dict[str, np.ndarray]:
    return {}  # Nothing is held on device: `open_feed` passes each call its batches.

  def sample(self, arrays: dict, rng: jax.Array, step: jax.Array, num: int) -> dict[str, jax.Array]:
    """The `num` real images of training step `step` ('x') and their labels ('y'): row `step - first_step` of the
    call's stacked batches (`StreamFeed`); `rng` is unused, the order was drawn on the host from the seed."""
    del rng
    if arrays['images'].shape[1] != num:
      raise ValueError(f'the feed stacks batches of {arrays["images"].shape[1]} examples; the step asks for {num}')
    row = step - arrays['first_step']
    images = jax.lax.dynamic_index_in_dim(arrays['images'], row, keepdims=False)
    labels = jax.lax.dynamic_index_in_dim(arrays['labels'], row, keepdims=False)
    return {'x': to_unit_range(images), 'y': labels.astype(jnp.int32)}

  def steps_per_epoch(self, global_batch: int, process_count: int = 1) -> int:
    """Training steps per epoch: each process's equal part of the split over its share of the global batch."""
    return (self.num_examples // process_count) // (global_batch // process_count)

  @functools.cached_property
  def _builder(self):
    return tfds.builder(self.name, data_dir=self.data_dir)

  def _read(self, split, shuffle_seed: int | None):
    """The split's (encoded image, label) pairs: in stored order, or shuffled with `shuffle_seed`."""
    builder = self._builder
    shuffle_files = shuffle_seed is not None and not builder.info.disable_shuffling  # Ordered datasets refuse it.
    read_config = tfds.ReadConfig(shuffle_seed=shuffle_seed, try_autocache=False)
    dataset = builder.as_dataset(split=split, shuffle_files=shuffle_files, read_config=read_config,
                                 as_supervised=self.supervised,
                                 decoders={self.image_key: tfds.decode.SkipDecoding()})
    if not self.supervised:
      dataset = dataset.map(lambda example: (example[self.image_key], tf.constant(images_lib.UNLABELED, tf.int64)))
    if shuffle_seed is not None:
      dataset = dataset.shuffle(self.shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=False)
    return dataset

  def _decoded_batches(self, dataset, batch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Decodes in tf.data, then converts each batch on the host: (uint8 [batch, R, R, C], int32 [batch])."""
    feature = self._builder.info.features[self.image_key]
    dataset = dataset.map(lambda encoded, label: (feature.decode_example(encoded), label),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    for images, labels in tfds.as_numpy(dataset):
      yield (images_lib.convert_batch(images, self.resolution, self.channels, self.resize_method),
             labels.astype(np.int32))

  def epoch_batches(self, seed: int, epoch: int, global_batch: int, start_step: int = 0, process_index: int = 0,
                    process_count: int = 1, num_epochs: int = 1) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """This process's share of the global batches of `num_epochs` epochs from `epoch`, from step `start_step` of
    the first on; one tf.data pipeline.

    Yields:
      (images uint8 [global_batch / process_count, R, R, C], labels int32 [global_batch / process_count]).
    """
    local_batch = global_batch // process_count
    steps = self.steps_per_epoch(global_batch, process_count)
    split = self.split
    if process_count > 1:
      split = tfds.even_splits(self.split, n=process_count, drop_remainder=True)[process_index]
    epochs = []
    for e in range(epoch, epoch + num_epochs):
      # Drop-remainder per epoch, then skip the steps already trained, both before anything is decoded; whole
      # batches per epoch, so no batch straddles two.
      epochs.append(self._read(split, epoch_seed(seed, e, process_index)).take(steps * local_batch)
                    .skip(start_step * local_batch if e == epoch else 0))
    yield from self._decoded_batches(functools.reduce(lambda a, b: a.concatenate(b), epochs), local_batch)

  def first_images(self, num: int) -> np.ndarray:
    """The split's first `num` images in stored order (the evaluator's real images), uint8."""
    num = min(num, self.num_examples)
    return next(self._decoded_batches(self._read(self.split, None).take(num), num))[0]

  def random_images(self, num: int, seed: int) -> np.ndarray:
    """`num` images of the split in a seeded shuffled order (the Inception statistics' real images), uint8."""
    num = min(num, self.num_examples)
    shuffled = self._read(self.split, epoch_seed(seed, RANDOM_IMAGES_EPOCH))
    return next(self._decoded_batches(shuffled.take(num), num))[0]

  def open_feed(self, seed: int, start_step: int, global_batch: int, parallel) -> 'StreamFeed':
    """Starts reading from training step `start_step`; see `StreamFeed`.

    Args:
      seed: the run's seed (`config.seed`): it draws each epoch's order.
      start_step: the first step the feed is asked for (the restored step on a resume).
      global_batch: examples per training step over all processes (`n_critic x batch_size`).
      parallel: the run's `DataParallel`, which places the batches (`put_batches`) and the first step (`put`).
    """
    return StreamFeed(self, seed, start_step, global_batch, parallel)


def open_split(name: str, split: str, data_dir: str | None, resolution: int, channels: int, resize_method: str,
               shuffle_buffer: int) -> StreamedImages:
  """A streamed split, after the checks `images.load_images` makes; reads only the dataset's info.

  Raises:
    DatasetUnavailableError: the dataset is not prepared in data_dir.
    ValueError: its images cannot be brought to the resolution that way.
  """
  data_dir = images_lib.resolve_data_dir(data_dir)
  if name in images_lib.AUTO_PREPARED:
    prepare.prepare(name, data_dir)
  images_lib.check_available(name, data_dir)
  builder = tfds.builder(name, data_dir=data_dir)
  image_key, supervised = images_lib._check_images(builder, name, resolution, resize_method)  # pylint: disable=protected-access
  num_classes = builder.info.features[builder.info.supervised_keys[1]].num_classes if supervised else 0
  return StreamedImages(name, split, data_dir, resolution, channels, resize_method,
                        builder.info.splits[split].num_examples, num_classes, shuffle_buffer, image_key, supervised)


def split_bytes(name: str, split: str, data_dir: str | None, resolution: int, channels: int) -> int:
  """The split's size held as uint8 at the model's resolution and channels, from TFDS's info (nothing is read).

  `sklearn_digits` is prepared into data_dir first if needed, as reading it would.
  """
  data_dir = images_lib.resolve_data_dir(data_dir)
  if name in images_lib.AUTO_PREPARED:
    prepare.prepare(name, data_dir)
  num = tfds.builder(name, data_dir=data_dir).info.splits[split].num_examples
  return num * resolution * resolution * channels


class StreamFeed:
  """Each compiled call's real batches, read ahead by a thread: `feed(step, num_steps)` -> the step's data arrays.

  The thread reads epoch after epoch (`StreamedImages.epoch_batches`, pipelines of `MIN_PIPELINE_STEPS` steps or
  more) into a queue of `PREFETCH_STEPS` steps. Calls must follow each other (step, then
  step + num_steps, ...). Close it (or use it as a context manager) to stop the thread.
  """

  def __init__(self, dataset: StreamedImages, seed: int, start_step: int, global_batch: int, parallel):
    self._dataset, self._seed, self._global_batch, self._parallel = dataset, seed, global_batch, parallel
    self._next_step = start_step
    self._process_index, self._process_count = jax.process_index(), jax.process_count()
    self._queue: queue.Queue = queue.Queue(maxsize=PREFETCH_STEPS)
    self._closed = threading.Event()
    self._thread = threading.Thread(target=self._read, args=(start_step,), name='StreamFeed', daemon=True)
    self._thread.start()

  def _read(self, start_step: int) -> None:
    try:
      steps_per_epoch = self._dataset.steps_per_epoch(self._global_batch, self._process_count)
      first_epoch, skip = divmod(start_step, steps_per_epoch)
      num_epochs = -(-MIN_PIPELINE_STEPS // steps_per_epoch)
      for epoch in itertools.count(first_epoch, num_epochs):
        for batch in self._dataset.epoch_batches(self._seed, epoch, self._global_batch,
                                                 skip if epoch == first_epoch else 0, self._process_index,
                                                 self._process_count, num_epochs):
          if not self._offer(batch):
            return
    except BaseException as error:  # pylint: disable=broad-except  (re-raised in the training loop)
      self._offer(error)

  def _offer(self, item: Any) -> bool:
    while not self._closed.is_set():
      try:
        self._queue.put(item, timeout=_POLL_SECONDS)
        return True
      except queue.Full:
        pass
    return False

  def _take(self) -> tuple[np.ndarray, np.ndarray]:
    while True:
      try:
        item = self._queue.get(timeout=_POLL_SECONDS)
      except queue.Empty:
        if not self._thread.is_alive():
          raise RuntimeError('the streamed input stopped without an error') from None
        continue
      if isinstance(item, BaseException):
        raise RuntimeError(f'reading {self._dataset.name!r} split {self._dataset.split!r} failed') from item
      return item

  def __call__(self, step: int, num_steps: int) -> dict[str, Any]:
    """The data arrays of the call that trains steps [step, step + num_steps)."""
    if step != self._next_step:
      raise ValueError(f'the feed is at step {self._next_step}, asked for step {step}')
    batches = [self._take() for _ in range(num_steps)]
    self._next_step = step + num_steps
    return {'images': self._parallel.put_batches(np.stack([images for images, _ in batches])),
            'labels': self._parallel.put_batches(np.stack([labels for _, labels in batches])),
            'first_step': self._parallel.put(np.int32(step))}

  def close(self) -> None:
    self._closed.set()
    self._thread.join()

  def __enter__(self) -> 'StreamFeed':
    return self

  def __exit__(self, *exc) -> None:
    self.close()
