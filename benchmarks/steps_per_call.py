"""Training speed against `train.steps_per_call`, the number of steps scanned inside one compiled call.

The paper's ring config (`experiments/unrolled.py`, batch 512) at k = 0 and k = 10, for each steps_per_call in
`--steps_per_call`. Each measurement runs `--steps` training steps (at least one call) the way `train.py`'s loop
does: call the jitted multi-step function, then fetch its metric summary to the host (the loop's NaN check waits for
it). The first call of each function compiles and is not timed. Reported: median steps/second over `--repeats`
measurements, taken round-robin over the settings so that load from other processes is shared among them.

Run (with the defaults: about 3 minutes on 2 CPU cores shared with other jobs):
  python benchmarks/steps_per_call.py
  python benchmarks/steps_per_call.py --ks 0 --steps 300 --repeats 3   # quicker
"""

import argparse
import statistics
import time

import jax

from gan_jax import parallel as parallel_lib, train

import common


def run_calls(fn, state, calls: int):
  """`calls` calls of `fn`, waiting for each call's summary as train.py does; returns (seconds, state)."""
  tic = time.perf_counter()
  for _ in range(calls):
    state, summary = fn(state, {})
    jax.device_get(summary)
  return time.perf_counter() - tic, state


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--config', default='experiments/unrolled.py', help='experiment file, from the repo root')
  parser.add_argument('--ks', type=common.int_list, default=[0, 10], help='unroll lengths')
  parser.add_argument('--steps_per_call', type=common.int_list, default=[1, 10, 100, 1000],
                      help='values of train.steps_per_call')
  parser.add_argument('--steps', type=int, default=1000, help='training steps per measurement')
  parser.add_argument('--repeats', type=int, default=3, help='measurements per setting (median)')
  args = parser.parse_args()
  base = common.load_config(args.config)
  parallel = parallel_lib.make_data_parallel('single')
  start = time.perf_counter()

  # One jitted function per setting, compiled by a first, untimed call; the settings of one k share a state (each
  # call donates it and returns the next).
  fns, states = {}, {}
  for k in args.ks:
    config = common.with_unroll(base, k)
    state, dataset = common.fresh_state(config)
    compiled = train.make_multi_step_fn(config, dataset, parallel)
    for n in args.steps_per_call:
      fns[k, n] = compiled(n)
      state, summary = fns[k, n](state, {})
      jax.device_get(summary)
    states[k] = state
  print(f'compiled ({time.perf_counter() - start:.0f} s)', flush=True)

  rates = {key: [] for key in fns}
  for _ in range(args.repeats):
    for (k, n), fn in fns.items():
      calls = max(1, args.steps // n)
      seconds, states[k] = run_calls(fn, states[k], calls)
      rates[k, n].append(calls * n / seconds)
    print(f'repeat done ({time.perf_counter() - start:.0f} s)', flush=True)

  rows = []
  for n in args.steps_per_call:
    row = [n]
    for k in args.ks:
      rate = statistics.median(rates[k, n])
      best = max(statistics.median(rates[k, m]) for m in args.steps_per_call)
      row += [f'{rate:.0f}', f'{1e3 / rate:.2f}', f'{rate / best:.2f}']
    rows.append(row)
  headers = ['steps_per_call']
  for k in args.ks:
    headers += [f'k={k} steps/s', f'k={k} ms/step', f'k={k} vs best']
  print()
  print(f'{common.machine_line()}; config {args.config}, batch {base.train.batch_size}; median of {args.repeats} '
        f'runs of {args.steps} steps (at least one call) each')
  print()
  print(common.markdown_table(headers, rows))
  print(f'\ntotal wall time {time.perf_counter() - start:.0f} s')


if __name__ == '__main__':
  main()
