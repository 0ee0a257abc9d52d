"""Entry point: `python -m gan_jax.main --config experiments/unrolled.py --workdir DIR [--config.key=value ...]`."""

import os
import signal
import sys

from absl import app, flags, logging
import jax
from ml_collections import config_flags

from gan_jax import config as config_lib
from gan_jax import train

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Experiment config file, e.g. experiments/unrolled.py[:smoke].',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Run directory (default: ./workdirs/<config name>).')

USAGE_ERROR = 2  # What argparse and shells use for bad arguments.


def default_workdir(config_arg: str) -> str:
  """workdirs/unrolled for experiments/unrolled.py, workdirs/unrolled_smoke for experiments/unrolled.py:smoke."""
  path, _, variant = config_arg.partition(':')
  name = os.path.splitext(os.path.basename(path))[0]
  return os.path.join('workdirs', f'{name}_{variant}' if variant else name)


def parse_flags(argv: list[str]) -> list[str]:
  """Parses flags; a bad flag, config file or override exits with status 2 before anything else happens."""
  try:
    remaining = FLAGS(argv)
  except (flags.Error, KeyError, AttributeError, TypeError, ValueError) as error:
    print(f'error: {error}', file=sys.stderr)
    sys.exit(USAGE_ERROR)
  if FLAGS.config is None:
    print('error: --config is required, e.g. --config experiments/unrolled.py', file=sys.stderr)
    sys.exit(USAGE_ERROR)
  return remaining


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    print(f'error: unexpected arguments {argv[1:]}', file=sys.stderr)
    sys.exit(USAGE_ERROR)
  config = FLAGS.config
  if config.parallel.distributed:  # Before anything asks JAX for its devices.
    jax.distributed.initialize()
  workdir = FLAGS.workdir or default_workdir(FLAGS['config'].config_filename)
  logging.info('JAX process %d of %d; local devices: %s', jax.process_index(), jax.process_count(),
               jax.local_devices())
  logging.info('Workdir: %s', workdir)
  try:
    final = train.train_and_evaluate(config, workdir)
  except config_lib.ConfigError as error:  # Raised before anything is compiled or written.
    print(f'error: {error}', file=sys.stderr)
    sys.exit(USAGE_ERROR)
  except train.PreemptedError as error:
    logging.warning('%s', error)
    sys.exit(128 + signal.SIGTERM)
  except train.NonFiniteLossError as error:
    print(f'error: {error}', file=sys.stderr)
    sys.exit(1)
  logging.info('Final metrics: %s', final)


def run() -> None:
  app.run(main, flags_parser=parse_flags)


if __name__ == '__main__':
  run()
