"""What the unroll length k costs on the paper's ring config: compile time, training speed and memory.

For each k (the paper's config from `experiments/unrolled.py`, batch 512, with only `unroll.steps` changed) it
measures, on one device:
  * compile time: wall time of `.lower(state).compile()` of the multi-step function that `train.py` runs
    (`train.make_multi_step_fn`, `--steps_per_call` steps per call), median over `--compile_repeats` fresh builds;
  * the same for a variant whose unroll is a Python for-loop instead of `lax.scan` (`--loop_ks`, median over
    `--loop_repeats` builds: these compiles are the slowest part of the run and differ from the scan's by far more
    than the noise), to show what the scan buys;
  * training speed: steps/second, median over `--calls` calls after one warm-up call;
  * memory from the compiled executable's `memory_analysis()`, with `unroll.remat` False and True: XLA's temporary
    buffers, and temp + argument + output sizes (the output aliases the donated state, so the real footprint is
    that total minus the state once).

Run (with the defaults: about 5 minutes on 2 CPU cores shared with other jobs, less on idle ones):
  python benchmarks/unroll_k.py
  python benchmarks/unroll_k.py --ks 0,10 --loop_ks 10 --compile_repeats 1 --calls 3   # quicker
"""

import argparse
import statistics
import time

import common


def memory_mib(compiled) -> tuple[float, float]:
  """(temp, temp + argument + output) of a compiled executable, in MiB."""
  stats = compiled.memory_analysis()
  temp = stats.temp_size_in_bytes
  return temp / common.MIB, (temp + stats.argument_size_in_bytes + stats.output_size_in_bytes) / common.MIB


def compile_seconds(config, num_steps: int, python_loop: bool = False):
  """One fresh lower + compile; returns (seconds, compiled executable, a state it accepts).

  The state's optimizers are static pytree metadata, so the executable only accepts the state it was lowered with
  (or one with the same optimizer objects), not a second `create_state`.
  """
  state, dataset = common.fresh_state(config)
  if python_loop:
    with common.python_loop_unroll():
      compiled, lower_s, compile_s = common.compile_multi_step(config, num_steps, state, dataset)
  else:
    compiled, lower_s, compile_s = common.compile_multi_step(config, num_steps, state, dataset)
  return lower_s + compile_s, compiled, state


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--config', default='experiments/unrolled.py', help='experiment file, from the repo root')
  parser.add_argument('--ks', type=common.int_list, default=[0, 1, 5, 10, 20, 50], help='unroll lengths')
  parser.add_argument('--loop_ks', type=common.int_list, default=[1, 5, 10, 20],
                      help='unroll lengths for the Python-loop variant (compile time only)')
  parser.add_argument('--steps_per_call', type=int, default=100, help='training steps per compiled call')
  parser.add_argument('--calls', type=int, default=5, help='timed calls per k for steps/second')
  parser.add_argument('--compile_repeats', type=int, default=3, help='fresh compiles per k (median)')
  parser.add_argument('--loop_repeats', type=int, default=1, help='fresh compiles per k, Python loop (median)')
  args = parser.parse_args()
  base = common.load_config(args.config)
  start = time.perf_counter()

  # Repeats outermost, so a burst of load from other processes hits every k instead of one.
  scan_times = {k: [] for k in args.ks}
  loop_times = {k: [] for k in args.loop_ks}
  compiled_by_k = {}
  for repeat in range(max(args.compile_repeats, args.loop_repeats)):
    for k in args.ks if repeat < args.compile_repeats else ():
      seconds, *compiled_by_k[k] = compile_seconds(common.with_unroll(base, k), args.steps_per_call)
      scan_times[k].append(seconds)
    for k in args.loop_ks if repeat < args.loop_repeats else ():
      seconds, *_ = compile_seconds(common.with_unroll(base, k), args.steps_per_call, python_loop=True)
      loop_times[k].append(seconds)

  rows = []
  for k in args.ks:
    compiled, state = compiled_by_k[k]
    rate, _ = common.steps_per_second(compiled, state, args.steps_per_call, args.calls)
    _, remat_compiled, _ = compile_seconds(common.with_unroll(base, k, remat=True), args.steps_per_call)
    temp, total = memory_mib(compiled)
    remat_temp, remat_total = memory_mib(remat_compiled)
    loop = f'{statistics.median(loop_times[k]):.2f}' if k in loop_times else '-'
    rows.append([k, f'{statistics.median(scan_times[k]):.2f}', loop, f'{rate:.0f}', f'{1e3 / rate:.2f}',
                 f'{temp:.1f}', f'{remat_temp:.1f}', f'{total:.1f}', f'{remat_total:.1f}'])
    print(f'k={k} done ({time.perf_counter() - start:.0f} s)', flush=True)

  print()
  print(f'{common.machine_line()}; config {args.config}, batch {base.train.batch_size}, '
        f'{args.steps_per_call} steps per call; medians of {args.compile_repeats} compiles (scan), '
        f'{args.loop_repeats} (Python loop) and {args.calls} calls')
  print()
  print(common.markdown_table(
      ['k', 'compile s (scan)', 'compile s (Python loop)', 'steps/s', 'ms/step', 'temp MiB', 'temp MiB (remat)',
       'temp+arg+out MiB', 'temp+arg+out MiB (remat)'], rows))
  print()
  print('compile s: wall time of .lower(state).compile(). Memory: memory_analysis() of the compiled executable; '
        'temp = temp_size_in_bytes, temp+arg+out adds argument_size_in_bytes and output_size_in_bytes. '
        'steps/s and compile times use unroll.remat=False (the config default).')
  print(f'total wall time {time.perf_counter() - start:.0f} s')


if __name__ == '__main__':
  main()
