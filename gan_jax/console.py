"""What the main command shows on the console, and the log file in the workdir that keeps everything else.

The console (process 0, stdout) gets the lines logged through `report`: where the outputs are, one progress line per
log interval, the evaluation results and the final metrics. Warnings and errors of every process reach stderr
(absl's `--stderrthreshold`, whose default the main command lowers from fatal to warning).

`WORKDIR/log.process<i>.txt`, one per process and appended to by every run in the workdir, keeps every record at
absl's `--verbosity` (INFO by default): the lines above, the hyperparameters, each logged scalar, Orbax's and JAX's
records. absl's `--alsologtostderr` shows them all on the console as well; `--logtostderr` shows them there instead
of writing the file.
"""

import contextlib
import datetime
import io
import logging
import os
import re
import sys
import tempfile
import time
from typing import Any, Callable, Mapping

from absl import flags
from absl import logging as absl_logging

FLAGS = flags.FLAGS
LOGGER = logging.getLogger('gan_jax.console')
LOGGER.setLevel(logging.INFO)  # The console's lines do not depend on what --verbosity keeps in the log file.
# What C++ libraries print at INFO on stderr (glog's prefix), and absl's note that it goes there before its set-up.
_NATIVE_INFO = re.compile(r'I\d{4} |WARNING: All log messages before absl::InitializeLog\(\) is called')


class _LogFile:
  """The stream of absl's log handler: records are held in memory until `path` is set and its directory exists.

  The run creates the workdir once its config has been checked, so a run stopped by a config error writes nothing.
  """

  def __init__(self):
    self.path = None
    self._held = io.StringIO()
    self._file = None

  def write(self, text: str) -> None:
    (self._file or self._held).write(text)

  def flush(self) -> None:
    if self._file is None and self.path and os.path.isdir(os.path.dirname(self.path) or '.'):
      self._file = open(self.path, 'a', encoding='utf-8')
      self._file.write(self._held.getvalue())
    if self._file is not None:
      self._file.flush()

  def close(self) -> None:
    if self._file is not None:
      self._file.close()


_LOG_FILE = _LogFile()


@contextlib.contextmanager
def native_info_to_log():
  """Moves the INFO lines that C++ libraries print on stderr meanwhile into the log file; other lines stay on stderr.

  TensorFlow's import prints "oneDNN custom operations are on" through absl's C++ logging, which
  TF_CPP_MIN_LOG_LEVEL does not silence (TF 2.21): import it inside this block.
  """
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      for line in captured.read().decode(errors='replace').splitlines(keepends=True):
        (_LOG_FILE if _NATIVE_INFO.match(line) else sys.stderr).write(line)


def import_tensorflow() -> None:
  """A command's import of TensorFlow, which TFDS, tf.data and clu use: its start-up lines go to the log file, and
  it sees no GPU (JAX holds their memory; TensorFlow's first op would claim it as well). Call it in the command's
  `main`, before anything reads data: the GPUs can be hidden only before TensorFlow's first op."""
  with native_info_to_log():
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.experimental.set_visible_devices([], 'GPU')


def hold_log_records() -> None:
  """Sends absl's log records to the log file, held in memory until `log_to_workdir` names it.

  Warnings and errors still reach stderr. Call it first in `main`: JAX logs at INFO as it starts.
  """
  if FLAGS.logtostderr or FLAGS.alsologtostderr:  # Then stderr gets every line, the C++ libraries' held ones too.
    sys.stderr.write(_LOG_FILE._held.getvalue())  # pylint: disable=protected-access
  if not FLAGS.logtostderr:
    absl_logging.get_absl_handler().python_handler.setStream(_LOG_FILE)


def log_to_workdir(workdir: str, process_index: int) -> None:
  """Names this process's log file in `workdir`; on process 0, also shows `report`'s lines on stdout.

  Args:
    workdir: the run's directory; the file is opened once the run has created it.
    process_index: `jax.process_index()`, once the processes are joined.
  """
  if not FLAGS.logtostderr:
    _LOG_FILE.path = os.path.join(workdir, f'log.process{process_index}.txt')
  absl_logging.info('Command: %s', ' '.join(sys.argv))  # Each run in the workdir appends: this starts its part.
  info_on_stderr = (FLAGS.logtostderr or FLAGS.alsologtostderr or
                    absl_logging.converter.string_to_standard(FLAGS.stderrthreshold) <= logging.INFO)
  if process_index == 0 and not info_on_stderr:  # Otherwise absl's handler shows them already.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter('%(message)s'))
    LOGGER.addHandler(handler)


def log_path() -> str | None:
  """This process's log file, once `log_to_workdir` has named it."""
  return _LOG_FILE.path


def report(message: str) -> None:
  """Logs an INFO line that process 0 of the main command also shows on the console."""
  LOGGER.info('%s', message, stacklevel=2)


def _number(value: Any) -> str:
  try:
    value = float(value)
  except (TypeError, ValueError):
    return str(value)
  return str(int(value)) if value.is_integer() else f'{value:.4g}'


def metrics_line(metrics: Mapping[str, Any]) -> str:
  """`name value | name value ...`, integers without decimals, other numbers to 4 significant digits."""
  return ' | '.join(f'{name} {_number(value)}' for name, value in metrics.items())


class ProgressLine:
  """`step 20/40 | 38.1 steps/s | ETA 0:00:01 | d_loss 1.3837 | g_loss -1.3811`, one per log interval.

  steps/s is the training speed over the interval: steps over the time in compiled calls, as metrics.json's
  steps_per_second. The ETA goes at the average pace since the first call, evaluations and checkpoints included.
  The first call, which compiles, is left out of both; until a second call is timed the line shows its time instead.
  """

  def __init__(self, num_steps: int, clock: Callable[[], float] = time.perf_counter):
    self.num_steps = num_steps
    self._clock = clock
    self._first = None  # (step, time) at the end of the first call.
    self._first_seconds = 0.0
    self._interval = (0, 0.0)  # Steps and seconds in compiled calls since the previous line.

  def add_call(self, step: int, steps: int, seconds: float) -> None:
    """Counts one compiled call that ran `steps` steps up to `step` in `seconds`; call it when the call is done."""
    if self._first is None:
      self._first, self._first_seconds = (step, self._clock()), seconds
    else:
      self._interval = (self._interval[0] + steps, self._interval[1] + seconds)

  def line(self, step: int, losses: Mapping[str, Any], names: tuple[str, ...] = ('d_loss', 'g_loss')) -> str:
    """The line at `step`; `losses` is the last call's summary (means over its steps), of which the line shows
    `names` (the family's losses)."""
    if self._interval[0]:
      paced_step, paced_time = self._first
      eta = (self.num_steps - step) * (self._clock() - paced_time) / (step - paced_step)
      speed = f'{self._interval[0] / self._interval[1]:.1f} steps/s | ETA {datetime.timedelta(seconds=round(eta))}'
    else:
      speed = f'first call, compilation included: {self._first_seconds:.1f} s'
    self._interval = (0, 0.0)
    return (f'step {step:>{len(str(self.num_steps))}}/{self.num_steps} | {speed} | '
            + ' | '.join(f'{name} {float(losses[name]):.4f}' for name in names))
