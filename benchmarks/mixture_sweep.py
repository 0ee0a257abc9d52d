"""Mode collapse on the 2-D mixtures: variants x seeds through `python -m gan_jax.main`, one table of metrics.json.

Each run is `python -m gan_jax.main --config <experiment>:<variant> --config.seed=<s> --workdir <out>/<variant>_s<s>`
(plus `--config.train.num_steps=<n>` when --num_steps is given), one after another; a run whose metrics.json exists
is not run again, so an interrupted sweep resumes. The table gives each variant's mean ± std over seeds of the mode
metrics (`gan_jax/evaluation/mixtures.py`) and its training speed, beside the published numbers on the grid.

Run:
  python benchmarks/mixture_sweep.py --num_steps 2000                                    # CPU-sized: ~45 min on 2 cores
  python benchmarks/mixture_sweep.py --seeds 0,1,2,3,4 --out /tmp/pacgan_full            # PacGAN's 400 epochs (GPU)
  python benchmarks/mixture_sweep.py --experiment experiments/pacgan_ring.py --out /tmp/pacgan_ring
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Published results on the 5x5 grid (2,500 samples): (training length, modes of 25, high-quality %, reverse KL or
# None). VEEGAN's runs use VEEGAN's own networks and length, not PacGAN's.
PUBLISHED = {
    'VEEGAN Table 1, GAN': ("VEEGAN's", 3.3, 0.5, None),
    'VEEGAN Table 1, unrolled GAN (k = 5)': ("VEEGAN's", 23.6, 16.0, None),
    'PacGAN Table 1, GAN': ('400 epochs', 17.3, 94.8, 0.70),
    'PacGAN Table 1, PacGAN4': ('400 epochs', 24.8, 93.6, 0.04),
}
LABELS = {'': 'GAN (k = 0)', 'unrolled': 'unrolled GAN (k = 5)', 'pack4': 'PacGAN4 (k = 0)'}
METRICS = (('modes_covered', 'modes', 1.0), ('high_quality_fraction', 'high quality %', 100.0),
           ('kl_to_uniform_high_quality', 'reverse KL (HQ)', 1.0), ('kl_to_uniform', 'KL (all)', 1.0))


def run(experiment: str, variant: str, seed: int, num_steps: int | None, out: str) -> dict:
  """One training run (skipped when its metrics.json exists); returns its metrics."""
  workdir = os.path.join(out, f'{variant or "base"}_s{seed}')
  metrics_path = os.path.join(workdir, 'metrics.json')
  if not os.path.exists(metrics_path):
    command = [sys.executable, '-m', 'gan_jax.main', '--config', f'{experiment}{":" + variant if variant else ""}',
               f'--config.seed={seed}', '--workdir', workdir]
    if num_steps:
      command.append(f'--config.train.num_steps={num_steps}')
    print(' '.join(command), flush=True)
    tic = time.perf_counter()
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(filter(None, [ROOT, os.environ.get('PYTHONPATH')]))}
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    print(f'  {time.perf_counter() - tic:.0f} s', flush=True)
  with open(metrics_path) as f:
    return json.load(f)


def summary(values: list[float]) -> str:
  if len(values) == 1:
    return f'{values[0]:.2f}'
  return f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'


def table(results: dict[str, list[dict]], num_steps: str) -> str:
  """A markdown table: our variants (mean ± std over seeds), then the published numbers."""
  header = ['run', 'seeds', 'steps'] + [name for _, name, _ in METRICS] + ['ms/step']
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for variant, runs in results.items():
    cells = [LABELS.get(variant, variant), str(len(runs)), num_steps]
    cells += [summary([scale * r[key] for r in runs]) for key, _, scale in METRICS]
    cells.append(summary([1000.0 / r['steps_per_second'] for r in runs if r['steps_per_second']]))
    lines.append('| ' + ' | '.join(cells) + ' |')
  for name, (length, modes, hq, kl) in PUBLISHED.items():
    cells = [name, '', length, f'{modes}', f'{hq}', '' if kl is None else f'{kl}', '', '']
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--experiment', default='experiments/pacgan_grid.py')
  parser.add_argument('--variants', default=',unrolled,pack4', help="comma-separated; '' is the base experiment")
  parser.add_argument('--seeds', default='0,1,2,3,4')
  parser.add_argument('--num_steps', type=int, default=None, help="default: the experiment's own")
  parser.add_argument('--out', default='/tmp/mixture_sweep')
  args = parser.parse_args()
  variants = args.variants.split(',')
  seeds = [int(s) for s in args.seeds.split(',')]
  results = {v: [] for v in variants}
  for seed in seeds:  # Seed-major: a cut-short sweep still has every variant at the seeds it reached.
    for variant in variants:
      results[variant].append(run(args.experiment, variant, seed, args.num_steps, args.out))
  text = table(results, str(args.num_steps or "the experiment's"))
  print(text)
  with open(os.path.join(args.out, 'table.md'), 'w') as f:
    f.write(text + '\n')
  with open(os.path.join(args.out, 'results.json'), 'w') as f:
    json.dump(results, f, indent=2)


if __name__ == '__main__':
  main()
