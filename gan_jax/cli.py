"""What the command-line entry points share: the run's flags, and how a bad flag or config ends the program.

`main.py` (training) and `sample.py` (drawing from a trained run) both take an experiment config and a run
directory. Both import this module and neither imports the other; the flags are defined here once, so that both
entry points can be imported into one process (a test, a notebook).
"""

import sys
from typing import NoReturn

from absl import flags
from ml_collections import config_flags

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


def parse_flags(argv: list[str]) -> list[str]:
  """Parses flags; a bad flag, config file or override exits with status 2 before anything else happens."""
  try:
    remaining = FLAGS(argv)
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as error:
    cause = error.args[0] if error.args and isinstance(error.args[0], KeyError) else error
    if isinstance(cause, KeyError):  # An override of a field the config does not have.
      usage_error(f'unknown config field {cause.args[0]}')
    usage_error(str(error))
  if FLAGS.config is None:
    usage_error('--config is required, e.g. --config experiments/unrolled.py')
  return remaining

