"""gan_jax's per-step overhead over the same unrolled GAN written directly with jax/optax (`bare_unrolled.py`).

The paper's ring experiment (`experiments/unrolled.py`: the MLPs, minimax loss, Adam, batch 512, second order) at
each k in `--ks`, on one device. Three jitted functions, each scanning `--steps_per_call` training steps per call
with the real batch and latents drawn on device every step:
  * gan_jax: the multi-step function `train.py` runs (`train.make_multi_step_fn`), which also computes, every
    step, each player's gradient, update and parameter norms and the first non-finite loss;
  * bare: `bare_unrolled.BareGAN`, the same training step by hand (no gan_jax import), returning the mean losses;
  * bare + metrics: the same with the metrics gan_jax computes, to show what they cost on their own.
All three donate their state. The framework's overhead is its time per step over the bare version's, minus one.

Before timing, two checks that the versions compute the same numbers (raising on a mismatch):
  1. one training step from gan_jax's initial parameters on one fixed batch: both losses, gradient norms and
     update norms, and the parameters after the step;
  2. the first (warm-up) call of `--steps_per_call` steps from the same parameters and key, each side drawing its
     own data: the parameters after it.

Each function is compiled explicitly (`.lower(...).compile()`, timed), and XLA's cost analysis of the three
executables (flops and bytes accessed) is printed as a comparison that the load cannot disturb. After the warm-up
call, `--repeats` rounds; in each, one call of every function (the order rotated each round), each call waited for
by fetching its metric summary, as train.py's loop does. Reported: median ms per step; the median over rounds of
the per-round ratio of gan_jax's call time to the bare one's (paired within a round, so that load from other
processes falls on both alike), with its range; and the ratio of each side's fastest call. Timings are printed,
never asserted.

Run (with the defaults: about 2 minutes on 2 idle CPU cores, longer when they are shared):
  python benchmarks/framework_overhead.py
  python benchmarks/framework_overhead.py --ks 1 --steps_per_call 2 --repeats 1 --batch_size 64   # does it run
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import parallel as parallel_lib, steps, train

import bare_unrolled
import common

VARIANTS = ('gan_jax', 'bare', 'bare + metrics')


def bare_hyper(config) -> bare_unrolled.Hyper:
  """The bare version's settings for `config`; raises ValueError where the config asks for what it does not do."""
  g, d = config.optim.g, config.optim.d
  expected = {
      'gen.name': (config.gen.name, 'mlp'), 'disc.name': (config.disc.name, 'mlp'),
      'data.name': (config.data.name, 'ring'), 'gen.latent_dist': (config.gen.latent_dist, 'normal'),
      'loss.name': (config.loss.name, 'minimax'), 'loss.label_smoothing': (config.loss.label_smoothing, 0.0),
      'loss.d': (dict(config.loss.d.items()), {**{n: 0.0 for n in config.loss.d}, 'adversarial': 1.0}),
      'loss.g': (dict(config.loss.g.items()), {**{n: 0.0 for n in config.loss.g}, 'adversarial': 1.0}),
      'optim.g.name': (g.name, 'adam'), 'optim.g.clip_params': (g.clip_params, 0.0),
      'optim.d == optim.g': (d.to_dict(), g.to_dict()),
      'train.n_critic': (config.train.n_critic, 1), 'train.update_order': (config.train.update_order, 'simultaneous'),
      'unroll.second_order': (config.unroll.second_order, True),
      'unroll.same_minibatch': (config.unroll.same_minibatch, True),
      'unroll.remat': (config.unroll.remat, False),
      'disc.init_gain': (config.disc.init_gain, config.gen.init_gain),
      'gen.ema_decay': (config.gen.ema_decay, 0.0), 'cond.enabled': (config.cond.enabled, False),
      'info': ((config.info.categories, config.info.continuous), (0, 0)),
      'semi.labels_per_class': (config.semi.labels_per_class, 0),
      'disc.minibatch_kernels': (config.disc.minibatch_kernels, 0),
      'replay': ((config.replay.fraction, config.replay.swap_every), (0.0, 0)),
  }
  wrong = [f'{field} is {got!r}, not {want!r}' for field, (got, want) in expected.items() if got != want]
  if wrong:
    raise ValueError('the bare version implements the unrolled GAN of experiments/unrolled.py only: '
                     + '; '.join(wrong))
  return bare_unrolled.Hyper(
      batch_size=config.train.batch_size, latent_dim=config.gen.latent_dim, g_hidden=tuple(config.gen.hidden),
      d_hidden=tuple(config.disc.hidden), input_scale=config.disc.input_scale, init_gain=config.gen.init_gain,
      unroll_steps=config.unroll.steps, learning_rate=g.learning_rate, b1=g.b1, b2=g.b2, eps=g.eps,
      eps_root=g.eps_root, num_modes=config.data.num_modes, radius=config.data.radius, std=config.data.std)


def copy_key(key: jax.Array) -> jax.Array:
  """A typed key in buffers of its own (gan_jax's state, which holds the original, is donated)."""
  return jax.random.wrap_key_data(jnp.copy(jax.random.key_data(key)), impl=jax.random.key_impl(key))


def relative_error(got, want) -> float:
  """||got - want|| / ||want|| over two pytrees of the same structure (one global norm, float64)."""
  pairs = zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True)
  diff = norm = 0.0
  for g, w in pairs:
    g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
    diff, norm = diff + float(np.sum((g - w)**2)), norm + float(np.sum(w**2))
  return (diff / norm)**0.5


def check_one_step(config, state, dataset, bare: bare_unrolled.BareGAN, tolerance: float) -> list[list[str]]:
  """Check 1: one step on one fixed batch from gan_jax's initial parameters; returns table rows."""
  batch = config.train.batch_size
  x_key, z_key = jax.random.split(jax.random.key(123))
  x = dataset.draw(x_key, batch)
  z = jax.random.normal(z_key, (batch, config.gen.latent_dim))

  @jax.jit
  def framework_step(state, x, z):  # `train.py`'s step with the noise fixed to `z`.
    step = steps.make_train_step(config, lambda key: {'z': z, 'eps': jnp.zeros(batch)})
    return step(state, {'x': x[None]})

  after, metrics = framework_step(state, x, z)  # Not donated: `state` stays usable.
  bare_state = bare.init(copy_key(state.rng), state.nets['g'].params, state.nets['d'].params)
  bare_after, bare_metrics = bare.jitted_train_step(bare_state, x, z)
  rows = []
  for name in ('d_loss', 'g_loss', 'd_grad_norm', 'g_grad_norm', 'd_update_norm', 'g_update_norm'):
    got, want = float(bare_metrics[name]), float(metrics[name])
    rows.append([f'step 1: {name}', f'{want:.7g}', f'{got:.7g}', abs(got - want) / abs(want)])
  for net in ('g', 'd'):
    rows.append([f'step 1: {net.upper()} parameters after', '', '',
                 relative_error(getattr(bare_after, f'{net}_params'), after.nets[net].params)])
  return _checked(rows, tolerance)


def _checked(rows, tolerance: float) -> list[list[str]]:
  for name, _, _, error in rows:
    if not error < tolerance:
      raise AssertionError(f'gan_jax and the bare version disagree: {name}, relative error {error:.2e} >= '
                           f'{tolerance}')
  return [[name, a, b, f'{error:.1e}'] for name, a, b, error in rows]


def time_call(fn, state, *args) -> tuple[float, object]:
  """Seconds of one call, waited for by fetching its summary as train.py does; returns (seconds, new state)."""
  tic = time.perf_counter()
  state, summary = fn(state, *args)
  jax.device_get(summary)
  return time.perf_counter() - tic, state


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--config', default='experiments/unrolled.py', help='experiment file, from the repo root')
  parser.add_argument('--ks', type=common.int_list, default=[5, 10], help='unroll lengths')
  parser.add_argument('--steps_per_call', type=int, default=0,
                      help="training steps per compiled call (0: the config's train.steps_per_call)")
  parser.add_argument('--batch_size', type=int, default=0, help="0: the config's train.batch_size")
  parser.add_argument('--repeats', type=int, default=7, help='timed rounds (median)')
  parser.add_argument('--tolerance', type=float, default=1e-4, help='relative error the checks accept')
  args = parser.parse_args()
  base = common.load_config(args.config)
  if args.batch_size:
    base.train.batch_size = args.batch_size
  num_steps = args.steps_per_call or base.train.steps_per_call
  parallel = parallel_lib.make_data_parallel('single')
  start = time.perf_counter()

  check_rows, rows = [], []
  for k in args.ks:
    config = common.with_unroll(base, k)
    bare = bare_unrolled.BareGAN(bare_hyper(config))
    state, dataset = common.fresh_state(config)
    check_rows += [[f'k={k}, {name}', *rest] for name, *rest in
                   check_one_step(config, state, dataset, bare, args.tolerance)]

    # Every variant starts from gan_jax's initial parameters and key (in buffers of its own: states are donated).
    states = {'bare': bare.init(copy_key(state.rng), state.nets['g'].params, state.nets['d'].params),
              'bare + metrics': bare.init(copy_key(state.rng), state.nets['g'].params, state.nets['d'].params),
              'gan_jax': parallel.put(state)}
    jitted = {'gan_jax': train.make_multi_step_fn(config, dataset, parallel)(num_steps),
              'bare': bare.make_multi_step(num_steps),
              'bare + metrics': bare.make_multi_step(num_steps, with_metrics=True)}
    extra_args = {'gan_jax': ({},), 'bare': (), 'bare + metrics': ()}  # The mixture keeps no arrays on device.
    fns, compile_s, cost = {}, {}, {}
    for name in VARIANTS:
      tic = time.perf_counter()
      fns[name] = jitted[name].lower(states[name], *extra_args[name]).compile()
      compile_s[name] = time.perf_counter() - tic
      cost[name] = common.xla_cost(fns[name])
    for name in VARIANTS:  # Warm-up: the first call, untimed.
      _, states[name] = time_call(fns[name], states[name], *extra_args[name])
    trajectory = [[f'k={k}, first call ({num_steps} steps): {net.upper()} parameters after', '', '',
                   relative_error(getattr(states['bare'], f'{net}_params'), states['gan_jax'].nets[net].params)]
                  for net in ('g', 'd')]
    check_rows += _checked(trajectory, args.tolerance)

    seconds = {name: [] for name in VARIANTS}
    for round_ in range(args.repeats):
      for i in range(len(VARIANTS)):
        name = VARIANTS[(i + round_) % len(VARIANTS)]
        elapsed, states[name] = time_call(fns[name], states[name], *extra_args[name])
        seconds[name].append(elapsed)
    ms = {name: 1e3 * statistics.median(s) / num_steps for name, s in seconds.items()}
    paired = lambda other: statistics.median(f / o for f, o in zip(seconds['gan_jax'], seconds[other]))
    ratio, ratio_metrics = paired('bare'), paired('bare + metrics')
    spread = [f / b for f, b in zip(seconds['gan_jax'], seconds['bare'])]
    fastest = min(seconds['gan_jax']) / min(seconds['bare'])
    cost_ratio = lambda field: f'{cost["gan_jax"][field] / cost["bare"][field]:.3f}'
    rows.append([k, f'{ms["bare"]:.3f}', f'{ms["bare + metrics"]:.3f}', f'{ms["gan_jax"]:.3f}',
                 f'{ratio:.3f} ({min(spread):.2f}-{max(spread):.2f})', f'{100 * (ratio - 1):+.1f} %',
                 f'{100 * (fastest - 1):+.1f} %', f'{100 * (ratio_metrics - 1):+.1f} %',
                 f'{cost_ratio("flops")} / {cost_ratio("bytes accessed")}',
                 ' / '.join(f'{compile_s[name]:.1f}' for name in VARIANTS)])
    print(f'k={k} done ({time.perf_counter() - start:.0f} s)', flush=True)

  print('\nChecks: gan_jax against the bare version from the same parameters (relative error)\n')
  print(common.markdown_table(['quantity', 'gan_jax', 'bare', 'relative error'], check_rows))
  print()
  print(f'{common.machine_line()}; config {args.config}, batch {base.train.batch_size}, {num_steps} steps per call; '
        f'medians of {args.repeats} rounds')
  print()
  print(common.markdown_table(
      ['k', 'bare ms/step', 'bare + metrics ms/step', 'gan_jax ms/step', 'gan_jax / bare (min-max over rounds)',
       'overhead over bare', 'overhead over bare, fastest calls', 'overhead over bare + metrics',
       'XLA flops / bytes accessed, gan_jax / bare', 'compile s (gan_jax / bare / bare + metrics)'],
      rows))
  print('\nOverhead = ratio - 1 of time per step: the median over rounds of the paired per-round ratio of call '
        "times, and the ratio of each side's fastest call (load from other processes only ever adds time). XLA: "
        'cost_analysis() of the compiled executables (loop bodies counted once), independent of the load.')
  print(f'total wall time {time.perf_counter() - start:.0f} s')


if __name__ == '__main__':
  main()
