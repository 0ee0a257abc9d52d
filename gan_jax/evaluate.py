"""Measures a trained run again without training: `python -m gan_jax.evaluate --config experiments/X.py --workdir DIR`.

Restores the run's latest checkpoint (`families.restore_run`) and measures it with its family's evaluator as this
tree defines it (`Family.make_evaluator`, which the training loop calls at its end), so that a measure added after a
run was trained can be read off its checkpoint. The config must be the run's (the same file and overrides, as for
`gan_jax.sample`): it is compared with the run's config.json first and any difference outside the fields that never
change what is computed (`workdir.FREE`: the run's length, the evaluation's settings, ...) is refused, exit 2 naming
the fields. The metrics and the checkpoint's step go to `--out` (default DIR/reevaluated.json; the run's own
metrics.json stays as training wrote it) and to the console.
"""

import json
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app, flags  # noqa: E402
import ml_collections  # noqa: E402

from gan_jax import console, data, families, validation, workdir as workdir_lib  # noqa: E402
from gan_jax.cli import parse_flags, usage_error  # noqa: E402  (defines --config and --workdir)
from gan_jax.config import family_defaults  # noqa: E402

FLAGS = flags.FLAGS
OUT_NAME = 'reevaluated.json'


def define_flags() -> None:
  """The command's own flag, defined only when it runs as a program, so that its functions import beside
  gan_jax.sample's (which has --out too)."""
  flags.DEFINE_string('out', None, f'Output JSON (default: WORKDIR/{OUT_NAME}).')


def check_same_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Raises ValueError listing the fields in which `config` differs from the run's config.json (those in
  `workdir.FREE` aside; fields added to the schema since, at their defaults, are no difference); nothing when the
  run saved none (a run from before configs were saved)."""
  path = os.path.join(workdir, workdir_lib.CONFIG_NAME)
  if not os.path.exists(path):
    return
  with open(path, encoding='utf-8') as f:
    saved = json.load(f)
  refused, changed = workdir_lib.diff_configs(saved, workdir_lib.flat_config(config),
                                              workdir_lib.flat_config(family_defaults(config.model)))
  if refused or changed:
    raise ValueError(f'--config: differs from the one the run in {workdir} was trained with ({path}); give the same '
                     'file and overrides:\n  ' + '\n  '.join(refused + changed))


def reevaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """The metrics of the latest checkpoint in `workdir` by this tree's evaluator of `config.model`, and its 'step'.

  Raises:
    ValueError: `config` is not the run's (`check_same_config`).
    FileNotFoundError: `workdir` holds no checkpoint.
  """
  if not os.path.isdir(os.path.join(workdir, 'checkpoints')):  # Before the dataset, whose first use may prepare it.
    raise FileNotFoundError(f'--workdir: no checkpoint in {os.path.join(workdir, "checkpoints")}')
  check_same_config(config, workdir)
  dataset = data.make_dataset(config.data)
  state = families.restore_run(config, workdir, dataset)
  metrics, _ = families.get(config.model).make_evaluator(config, dataset)(state)
  return {'step': int(state.step), **metrics}


def main(argv: list[str]) -> None:
  console.hold_log_records()
  if len(argv) > 1:
    usage_error(f'unexpected arguments {argv[1:]}')
  config, workdir = FLAGS.config, FLAGS.workdir
  if not workdir:
    usage_error('--workdir is required: the run to evaluate')
  console.import_tensorflow()
  try:
    validation.validate(config, num_devices=1)
    metrics = reevaluate(config, workdir)
  except (ValueError, FileNotFoundError) as error:
    usage_error(str(error))
  out = FLAGS.out or os.path.join(workdir, OUT_NAME)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  with open(out, 'w', encoding='utf-8') as f:
    json.dump(metrics, f, indent=2, sort_keys=True)
  print(console.metrics_line(metrics))
  print(f'wrote {out}')


if __name__ == '__main__':
  define_flags()
  app.run(main, flags_parser=parse_flags)
