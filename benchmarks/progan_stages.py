"""Progressive GAN's training step on this backend, stage by stage: what a step costs as G and D grow.

For each stage of an experiment's schedule (`--config`, default the emoji one, 4 -> 64), the family's compiled step
(D's update with the gradient penalty and the drift term, then G's) on random images at the data's resolution, in
the middle of the stage (a fade-in's alpha then between 0 and 1): XLA's count of its floating-point operations
(`cost_analysis()`, independent of the load), its median time over interleaved rounds (every round times every
stage once, so a shared CPU's load falls on all alike), and the rate they give. A stage whose rate is far below the
others' would be a slow lowering to look at; equal rates say that its time is its work.

Run (about 3 minutes here):
  python benchmarks/progan_stages.py
  python benchmarks/progan_stages.py --config experiments/progan_fashion_mnist.py --channels 1
  python benchmarks/progan_stages.py --config experiments/progan_fashion_mnist.py:smoke --channels 1 --repeats 1
"""

import argparse
import functools
import statistics
import time

import jax
import jax.numpy as jnp

from gan_jax import objectives
from gan_jax.families import progan

import common


class ImageShape:
  """What the family reads of a dataset to build its networks: the images' shape."""

  def __init__(self, resolution: int, channels: int):
    self.shape = (resolution, resolution, channels)


def stage_steps(config, channels: int) -> tuple[list[tuple[str, object, object, float]], dict]:
  """([(label, compiled step, state in the middle of the stage, GFLOP per step) for each stage of `config`], the
  random real batch the steps take)."""
  dataset = ImageShape(config.data.resolution, channels)
  state = progan.create_progan_state(config, jax.random.key(config.seed), dataset)
  step = jax.jit(functools.partial(progan.train_step, config_stages=progan.stages(config),
                                   objective=objectives.objective_from_config(config)))
  shape = (1, config.train.batch_size, *dataset.shape)  # The sampler's leading n_critic axis.
  real = {'x': jax.random.uniform(jax.random.key(1), shape, minval=-1.0, maxval=1.0)}
  steps = []
  for i, stage in enumerate(progan.stages(config)):
    if i:
      state = progan.next_stage(config, state, dataset)
    middle = state.replace(step=jnp.asarray(stage.start + stage.steps // 2, state.step.dtype))
    compiled = step.lower(middle, real).compile()
    label = f'{stage.resolution}×{stage.resolution} {"fade-in" if stage.fading else "stable"}'
    steps.append((label, compiled, middle, common.xla_cost(compiled)['flops'] / 1e9))
  return steps, real


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--config', default='experiments/progan_emoji.py', help='an experiment file[:variant]')
  parser.add_argument('--channels', type=int, default=3, help="the images' channels (emoji 3, Fashion-MNIST 1)")
  parser.add_argument('--repeats', type=int, default=5, help='timed rounds (median)')
  args = parser.parse_args()
  path, _, variant = args.config.partition(':')
  config = common.load_config(path, variant or None)
  steps, real = stage_steps(config, args.channels)
  times = {label: [] for label, *_ in steps}
  for _, compiled, state, _ in steps:  # Once each before timing.
    jax.block_until_ready(compiled(state, real))
  for _ in range(args.repeats):
    for label, compiled, state, _ in steps:
      tic = time.perf_counter()
      jax.block_until_ready(compiled(state, real))
      times[label].append(time.perf_counter() - tic)
  seconds = {label: statistics.median(times[label]) for label in times}
  rates = {label: gflop / seconds[label] for label, _, _, gflop in steps}
  fastest = max(rates.values())
  rows = [(label, f'{gflop:.2f}', f'{1000 * seconds[label]:.0f}', f'{rates[label]:.1f}',
           f'{rates[label] / fastest:.2f}') for label, _, _, gflop in steps]
  print(f'{args.config}, batch {config.train.batch_size}; {common.machine_line()}')
  print(common.markdown_table(('stage', 'GFLOP / step', 'ms / step', 'GFLOP/s', 'rate / the fastest stage\'s'),
                              rows))


if __name__ == '__main__':
  main()
