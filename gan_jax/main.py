"""Entry point: `python -m gan_jax.main --config experiments/unrolled.py --workdir DIR [--config.key=value ...]`.

The console shows where the outputs are, a progress line per log interval, the evaluations and the final metrics,
and warnings and errors; DIR/log.process<i>.txt keeps every log record (`--alsologtostderr` shows them here too).
See `gan_jax/console.py`.
"""

import os
import signal
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # TensorFlow (used by clu and TFDS) is chatty at start-up.

from absl import app, flags, logging  # noqa: E402
import jax  # noqa: E402

from gan_jax import config as config_lib  # noqa: E402
from gan_jax import console, parallel, validation  # noqa: E402
from gan_jax.cli import USAGE_ERROR, check_workdir, parse_flags  # noqa: E402  (defines --config and --workdir)

FLAGS = flags.FLAGS
flags.DEFINE_bool('allow_config_change', False, 'Resume with training hyperparameters (learning rates, batch size, '
                  '...) that differ from the checkpoints\' config; the change is logged and shown in TensorBoard.')


def default_workdir(config_arg: str) -> str:
  """workdirs/unrolled for experiments/unrolled.py, workdirs/unrolled_smoke for experiments/unrolled.py:smoke."""
  path, _, variant = config_arg.partition(':')
  name = os.path.splitext(os.path.basename(path))[0]
  return os.path.join('workdirs', f'{name}_{variant}' if variant else name)


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    print(f'error: unexpected arguments {argv[1:]}', file=sys.stderr)
    sys.exit(USAGE_ERROR)
  console.hold_log_records()  # JAX logs at INFO as it starts.
  config = FLAGS.config
  try:
    parallel.initialize_distributed(config.parallel)  # Before anything asks JAX for its devices.
    # The config's checks before TensorFlow and the training code load (about 10 s on 2 cores): a typo is refused
    # at once. TensorFlow's start-up lines (images' checks read the disk through it) go to the log file.
    with console.native_info_to_log():
      validation.validate(config, parallel.device_count(config.parallel.mode), jax.process_count())
  except config_lib.ConfigError as error:
    print(f'error: {error}', file=sys.stderr)
    sys.exit(USAGE_ERROR)
  workdir = FLAGS.workdir or default_workdir(FLAGS['config'].config_filename)
  check_workdir(workdir)  # Before anything is compiled; creates nothing.
  console.import_tensorflow()
  from gan_jax import checkpoint, train, workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  console.log_to_workdir(workdir, jax.process_index())
  logging.info('JAX process %d of %d; local devices: %s', jax.process_index(), jax.process_count(),
               jax.local_devices())
  try:
    final = train.train_and_evaluate(config, workdir, allow_config_change=FLAGS.allow_config_change)
  except (config_lib.ConfigError, workdir_lib.WorkdirError) as error:  # Raised before anything is compiled.
    print(f'error: {error}', file=sys.stderr)
    sys.exit(USAGE_ERROR)
  except train.PreemptedError as error:
    logging.warning('%s', error)
    sys.exit(128 + error.signum)
  except KeyboardInterrupt:  # Ctrl-C before the training loop, or a second one: nothing saved since the last one.
    logging.info('Stopping: interrupted by SIGINT.')
    print('error: interrupted (SIGINT); no checkpoint saved by this interruption.', file=sys.stderr)
    sys.exit(128 + signal.SIGINT)
  except train.NonFiniteLossError as error:
    logging.info('Stopping: %s', error)  # For the log file; the console gets the one line below.
    print(f'error: {error}', file=sys.stderr)
    sys.exit(1)
  except checkpoint.CheckpointError as error:  # A failed save, or no checkpoint restores: one line, what to do.
    logging.info('Stopping: %s', error)
    print(f'error: {error}', file=sys.stderr)
    sys.exit(checkpoint.EXIT_STATUS)
  console.report(f'Final metrics ({os.path.join(workdir, "metrics.json")}): {console.metrics_line(final)}')


def run() -> None:
  app.run(main, flags_parser=parse_flags)


if __name__ == '__main__':
  run()
