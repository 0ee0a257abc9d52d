"""Entry point: `python -m gan_jax.main --config experiments/unrolled.py --workdir DIR [--config.key=value ...]`."""

import os
import signal
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # TensorFlow (used by clu and TFDS) is chatty at start-up.

from absl import app, flags, logging  # noqa: E402
import jax  # noqa: E402
import tensorflow as tf  # noqa: E402

from gan_jax import config as config_lib  # noqa: E402
from gan_jax import parallel, train  # noqa: E402
from gan_jax.cli import USAGE_ERROR, parse_flags  # noqa: E402  (defines --config and --workdir)

FLAGS = flags.FLAGS


def default_workdir(config_arg: str) -> str:
  """workdirs/unrolled for experiments/unrolled.py, workdirs/unrolled_smoke for experiments/unrolled.py:smoke."""
  path, _, variant = config_arg.partition(':')
  name = os.path.splitext(os.path.basename(path))[0]
  return os.path.join('workdirs', f'{name}_{variant}' if variant else name)


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    print(f'error: unexpected arguments {argv[1:]}', file=sys.stderr)
    sys.exit(USAGE_ERROR)
  config = FLAGS.config
  tf.config.experimental.set_visible_devices([], 'GPU')  # TensorFlow must not take the accelerators' memory.
  try:
    parallel.initialize_distributed(config.parallel)  # Before anything asks JAX for its devices.
  except config_lib.ConfigError as error:
    print(f'error: {error}', file=sys.stderr)
    sys.exit(USAGE_ERROR)
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
