r"""Evaluates a trained PPGN's sampler under other multipliers, without training: one row per setting.

  python benchmarks/ppgn_sampler.py --workdir /work/runs/ppgn/mnist_s0 [--config experiments/ppgn_mnist.py] \
      [--eps1 0 0.01 0.1 0.3] [--eps2 1] [--eps3 1e-17 0.1] [--override ppgn.chain_steps=400 ...] [--json out.json]

The run's latest checkpoint is restored and the family's evaluator (`gan_jax.families.ppgn`) is run once per
(eps1, eps2, eps3): every other field is the experiment's (the sampler's fields change no training, so this is the
evaluation a run with those defaults would report). Columns: each judge's accuracy on the samples, their distance
to the nearest training image, their diversity over the real images', and the chains' late movement over the real
images' spread, for the sampler with eps1 (`full_*`); `no_prior_*` (eps1 = 0) is the same in every row.
"""

import argparse
import json
import os

from common import load_config
import jax

from gan_jax import checkpoint, data, families

COLUMNS = ('full_accuracy_conditioning', 'full_accuracy_independent', 'full_accuracy_nearest_neighbour',
           'full_nearest_neighbour_distance', 'full_diversity_ratio', 'full_mixing_ratio',
           'unconditional_class_changes_per_100_steps', 'unconditional_classes_final')


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--config', default='experiments/ppgn_mnist.py', help='file[:variant] the run was trained with')
  parser.add_argument('--eps1', type=float, nargs='+', default=[0.0, 0.01, 0.03, 0.1, 0.3])
  parser.add_argument('--eps2', type=float, nargs='+', default=[1.0])
  parser.add_argument('--eps3', type=float, nargs='+', default=[1e-17])
  parser.add_argument('--override', nargs='*', default=[], help='section.field=value of the sampler or eval sections')
  parser.add_argument('--json', default='', help='also write the rows here')
  args = parser.parse_args()
  path, _, variant = args.config.partition(':')
  config = load_config(path, variant or None)
  dataset = data.make_dataset(config.data)
  family = families.get(config.model)
  template = family.create_state(config, jax.random.key(config.seed), dataset)
  state = checkpoint.restore_latest(checkpoint.make_manager(os.path.join(args.workdir, 'checkpoints')), template)
  if state is None:
    raise SystemExit(f'no checkpoint in {args.workdir}/checkpoints')
  for override in args.override:
    field, value = override.split('=', 1)
    section, name = field.split('.')
    config[section][name] = type(config[section][name])(value)
  rows = []
  print(f'step {int(state.step)}; {" ".join(args.override)}')
  print('| eps1 | eps2 | eps3 | ' + ' | '.join(COLUMNS) + ' |')
  print('|' + '---|' * (len(COLUMNS) + 3))
  for eps3 in args.eps3:
    for eps2 in args.eps2:
      for eps1 in args.eps1:
        config.ppgn.eps1, config.ppgn.eps2, config.ppgn.eps3 = eps1, eps2, eps3
        metrics, _ = family.make_evaluator(config, dataset)(state)
        rows.append({'eps1': eps1, 'eps2': eps2, 'eps3': eps3, **metrics})
        print(f'| {eps1:g} | {eps2:g} | {eps3:g} | ' + ' | '.join(f'{metrics[c]:.3f}' for c in COLUMNS) + ' |',
              flush=True)
  for row in rows:
    no_prior = {k: v for k, v in row.items() if k.startswith('no_prior_') and 'class' not in k}
    print(f'eps2 {row["eps2"]:g}, eps3 {row["eps3"]:g}, no_prior: '
          + ', '.join(f'{k} {v:.3f}' for k, v in sorted(no_prior.items())))
  real = {k: v for k, v in rows[0].items() if k.startswith('real_') and 'class' not in k}
  print('real: ' + ', '.join(f'{k} {v:.3f}' for k, v in sorted(real.items())))
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(rows, f, indent=2)


if __name__ == '__main__':
  main()
