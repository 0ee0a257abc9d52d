"""Input throughput and training speed, in-memory against streamed data (`config.data.pipeline`), side by side.

For each dataset (scikit-learn's digits at 32x32 and, when prepared in the data_dir, Fashion-MNIST at 28x28) and
each pipeline, on one device:
- input: examples per second reaching the device through the pipeline alone, consumed as fast as possible. In
  memory, a jitted function draws `--chunk` steps' batches with the dataset's `sample` (the gather the training
  step makes) and returns them; streamed, `train.open_feed` returns `--chunk` steps' batches read, decoded,
  converted and copied to the device by tf.data and its thread. Each is blocked on with `block_until_ready`.
- training: steps and examples per second of the DCGAN step of `experiments/dcgan_digits.py` (its networks, batch
  and `train.steps_per_call`) at the dataset's resolution, called the way `train.py`'s loop calls it: one call per
  chunk, its data from the feed, the metric summary fetched to the host.
Reported: medians over `--repeats` rounds, the pipelines alternating within a round so that other load on the
machine is shared between them; the first call of everything (compilation, tf.data start-up) is not timed. The
ratios: streamed / in-memory training speed, and input / training examples per second (how far the input runs
ahead of the step).

Run (about 3 minutes on 2 CPU cores):
  python benchmarks/input_pipeline.py
  python benchmarks/input_pipeline.py --data_dir DIR --train_steps 50 --repeats 3
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import ml_collections

from gan_jax import data, parallel as parallel_lib, train
from gan_jax.data import images
from gan_jax.state import create_state

import common

DATASETS = (('digits', 32), ('fashion_mnist', 28))  # (config.data.name, resolution)
PIPELINES = ('in_memory', 'stream')


def make_config(name: str, resolution: int, pipeline: str, data_dir: str) -> ml_collections.ConfigDict:
  config = common.load_config('experiments/dcgan_digits.py')
  config.data.name, config.data.resolution, config.data.pipeline = name, resolution, pipeline
  config.data.data_dir = data_dir
  return config


class Setting:
  """One dataset under one pipeline: its input function and its training loop, compiled and started."""

  def __init__(self, config: ml_collections.ConfigDict, chunk: int):
    self.config, self.chunk = config, chunk
    self.global_batch = config.train.n_critic * config.train.batch_size
    self.dataset = data.make_dataset(config.data)
    parallel = parallel_lib.make_data_parallel('single')
    arrays = train.training_arrays(config, self.dataset)
    self.state = create_state(config, jax.random.key(config.seed), self.dataset.shape,
                              num_classes=self.dataset.num_classes)
    self.compiled = train.make_multi_step_fn(config, self.dataset, parallel)
    # Two feeds: one for the input measurement alone, one for training; each advances through its own steps.
    self.input_feed = train.open_feed(config, self.dataset, arrays, parallel, 0).__enter__()
    self.train_feed = train.open_feed(config, self.dataset, arrays, parallel, 0).__enter__()
    self.input_step = self.train_step = 0
    if isinstance(self.dataset, data.InMemoryImages):
      key, dataset, num = jax.random.key(config.seed), self.dataset, self.global_batch
      self._draw = jax.jit(lambda arrays, first: jax.lax.map(
          lambda step: dataset.sample(arrays, key, step, num)['x'], first + jnp.arange(chunk)))
    self.read_input()  # First calls: compilation, tf.data start-up.
    self.train(self.config.train.steps_per_call)

  def read_input(self) -> float:
    """Seconds to bring one chunk of steps' batches to the device."""
    tic = time.perf_counter()
    arrays = self.input_feed(self.input_step, self.chunk)
    if isinstance(self.dataset, data.InMemoryImages):
      arrays = self._draw(arrays, jnp.int32(self.input_step))
    jax.block_until_ready(arrays)
    self.input_step += self.chunk
    return time.perf_counter() - tic

  def train(self, steps: int) -> float:
    """Seconds to train `steps` steps as train.py's loop does."""
    per_call = self.config.train.steps_per_call
    tic = time.perf_counter()
    for _ in range(steps // per_call):
      self.state, summary = self.compiled(per_call)(self.state, self.train_feed(self.train_step, per_call))
      jax.device_get(summary)
      self.train_step += per_call
    return time.perf_counter() - tic

  def close(self):
    self.input_feed.__exit__(None, None, None)
    self.train_feed.__exit__(None, None, None)


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--data_dir', default='', help="TFDS data_dir ('': $TFDS_DATA_DIR or ~/tensorflow_datasets)")
  parser.add_argument('--chunk', type=int, default=20, help='steps of batches per input measurement call')
  parser.add_argument('--input_calls', type=int, default=10, help='input calls per round')
  parser.add_argument('--train_steps', type=int, default=40, help='training steps per round')
  parser.add_argument('--repeats', type=int, default=3, help='rounds (medians are reported)')
  args = parser.parse_args()
  print(common.machine_line(), flush=True)

  rows = []
  for name, resolution in DATASETS:
    tfds_name = data.IMAGE_DATASETS[name][0]
    try:
      images.check_available(tfds_name, args.data_dir or None)
    except images.DatasetUnavailableError:
      print(f'{name}: not prepared in the data_dir, skipped (python -m gan_jax.data.prepare {tfds_name})')
      continue
    start = time.perf_counter()
    settings = {p: Setting(make_config(name, resolution, p, args.data_dir), args.chunk) for p in PIPELINES}
    print(f'{name} {resolution}x{resolution}: compiled and started ({time.perf_counter() - start:.0f} s)', flush=True)
    input_rates = {p: [] for p in PIPELINES}
    train_rates = {p: [] for p in PIPELINES}
    for _ in range(args.repeats):
      for pipeline, setting in settings.items():
        seconds = sum(setting.read_input() for _ in range(args.input_calls))
        input_rates[pipeline].append(args.input_calls * args.chunk * setting.global_batch / seconds)
        train_rates[pipeline].append(args.train_steps / setting.train(args.train_steps))
    batch = settings['stream'].global_batch
    num_examples = settings['stream'].dataset.num_examples
    medians = {p: (statistics.median(input_rates[p]), statistics.median(train_rates[p])) for p in PIPELINES}
    for pipeline in PIPELINES:
      inputs, steps = medians[pipeline]
      rows.append([f'{name} {resolution}x{resolution} ({num_examples:,})', pipeline, f'{inputs:,.0f}', f'{steps:.1f}',
                   f'{steps * batch:,.0f}', f'{inputs / (steps * batch):.0f}x',
                   f'{steps / medians["in_memory"][1]:.2f}'])
    for setting in settings.values():
      setting.close()

  print()
  print(common.markdown_table(
      ['dataset (train examples)', 'pipeline', 'input examples/s', 'train steps/s', 'train examples/s',
       'input / train examples', 'train speed / in-memory'], rows))


if __name__ == '__main__':
  main()
