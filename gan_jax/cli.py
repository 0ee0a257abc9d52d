"""What the command-line entry points share: the run's flags, how a bad flag or config ends the program, and how
the sampling commands write their picture.

`main.py` (training) and `sample.py` (drawing from a trained run) both take an experiment config and a run
directory. Both import this module and neither imports the other; the flags are defined here once, so that both
entry points can be imported into one process (a test, a notebook).
"""

import os
import sys
from typing import NoReturn

from absl import flags
import ml_collections
from ml_collections import config_flags
import numpy as np

from gan_jax.config import ConfigError
from gan_jax.evaluation import plots

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Experiment config file, e.g. experiments/unrolled.py[:smoke].',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Run directory (training: default ./workdirs/<config name>; sampling: the run '
                    'to draw from, required).')

# absl's default (fatal) would hide warnings and errors from the console once the records go to the log file.
FLAGS.set_default('stderrthreshold', 'warning')

USAGE_ERROR = 2  # What argparse and shells use for bad arguments.


def usage_error(message: str) -> NoReturn:
  """Prints `error: <message>` to stderr and exits with status 2."""
  print(f'error: {message}', file=sys.stderr)
  sys.exit(USAGE_ERROR)


def write_picture(image: np.ndarray, out: str, step: int) -> None:
  """A sampling command's last act (gan_jax.sample, gan_jax.sample_captions): writes the RGB uint8 `image` as a PNG
  at `out`, creating its folder, and prints where, with the training step of the checkpoint drawn from."""
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  plots.save_png(image, out)
  print(f'wrote {out} (step {step})')


def parse_flags(argv: list[str]) -> list[str]:
  """Parses flags; a bad flag, config file or override exits with status 2 before anything else happens."""
  config_arg = _config_argument(argv)
  if config_arg is not None:
    check_config_file(config_arg)
  try:
    remaining = FLAGS(argv)
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as error:
    _check_config_type(config_arg)  # Overrides of a dict fail obscurely: name the real fault first.
    variant_error = _config_error_in(error)
    if variant_error is not None:  # Raised by the experiment's get_config, e.g. an unknown variant.
      usage_error(f'--config {config_arg}: {variant_error}')
    cause = error.args[0] if error.args and isinstance(error.args[0], KeyError) else error
    if isinstance(cause, KeyError):  # An override of a field the config does not have.
      usage_error(f'unknown config field {cause.args[0]}')
    usage_error(str(error))
  if FLAGS.config is None:
    usage_error('--config is required, e.g. --config experiments/unrolled.py')
  _check_config_type(config_arg)
  return remaining


def check_workdir(workdir: str) -> None:
  """Exits with status 2 unless the run can write in `workdir`; creates nothing.

  `workdir` may not exist yet: then its nearest existing ancestor must be a directory this process may write in.
  Checked before training, since TensorFlow's file writer otherwise fails later with a traceback that does not name
  the path.
  """
  path = os.path.abspath(workdir)
  if os.path.exists(path) and not os.path.isdir(path):
    usage_error(f'--workdir {workdir}: is a file, not a directory')
  existing = path
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    usage_error(f'--workdir {workdir}: {existing} is a file, so the run directory cannot be created below it')
  if not os.access(existing, os.W_OK | os.X_OK):  # Also False on a read-only filesystem (EROFS).
    what = 'the run directory' if existing == path else f'{existing}, where it would be created,'
    usage_error(f'--workdir {workdir}: {what} is not writable (read-only filesystem or no permission)')


def _config_argument(argv: list[str]) -> str | None:
  """The value of `--config` in `argv` (the last one given), without parsing the other flags."""
  value = None
  for i, arg in enumerate(argv[1:], start=1):
    if arg == '--':
      break
    name, equals, rest = arg.lstrip('-').partition('=')
    if not arg.startswith('-') or name != 'config':
      continue
    value = rest if equals else (argv[i + 1] if i + 1 < len(argv) else None)
  return value


def check_config_file(config_arg: str) -> None:
  """Exits with status 2 unless the path of `--config PATH[:VARIANT]` is a readable Python file that compiles.

  ml_collections would otherwise report a missing file only when the config is first read (a long traceback
  from deep inside the training code), and a syntax error as a traceback of its own loader.
  """
  path = config_arg.split(':', 1)[0]
  example = 'e.g. --config experiments/unrolled.py'
  if not path:
    usage_error(f'--config: no file given, {example}')
  if os.path.isdir(path):
    usage_error(f'--config {path}: is a directory; give an experiment file, {example}')
  if not os.path.exists(path):
    usage_error(f'--config {path}: no such file (relative paths start from {os.getcwd()})')
  try:
    with open(path, 'rb') as file:
      source = file.read()
  except OSError as error:
    usage_error(f'--config {path}: cannot be read: {error.strerror}')
  try:
    compile(source, path, 'exec')
  except (SyntaxError, ValueError) as error:  # ValueError: a null byte in the source.
    where = f', line {error.lineno}' if getattr(error, 'lineno', None) else ''
    usage_error(f'--config {path}{where}: {getattr(error, "msg", error)}')


def _check_config_type(config_arg: str | None) -> None:
  """Exits with status 2 if the experiment's `get_config` returned something other than a ConfigDict."""
  try:
    config = FLAGS['config'].value
  except KeyError:
    return
  if config is not None and not isinstance(config, ml_collections.ConfigDict):
    usage_error(f'--config {config_arg}: get_config() returned a {type(config).__name__}; it must return an '
                'ml_collections.ConfigDict (e.g. gan_jax.config.base_config() with fields changed)')


def _config_error_in(error: BaseException) -> ConfigError | None:
  """The `ConfigError` that `error` was raised from, if any (ml_collections and absl each wrap it once)."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, ConfigError) and not str(error).startswith('Error whilst parsing config file'):
      return error
    error = error.__cause__ or error.__context__
  return None
