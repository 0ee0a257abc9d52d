"""Orbax checkpoints of the whole training state: checksummed, each save durable before the run goes on, and a
fall-back past damaged checkpoints that moves them aside.

Layout of `checkpoints/`: one directory per step (Orbax's), holding `SHA256SUMS` (this module's: the sha256 of every
other file of the step, written once the save is durable). A step that fails to restore, or whose files no longer
match their sums, is damaged: the next older one is tried, and once one restores the damaged ones are renamed
`<step>.damaged-<time>` so that the run can save those steps again. Anything else in the directory is left alone,
with a warning.
"""

import contextlib
import datetime
import gc
import hashlib
import logging as std_logging
import os
import shutil
import sys
import warnings
from typing import Any, Callable

from absl import logging
import flax.serialization
import jax
import numpy as np
import orbax.checkpoint as ocp

from gan_jax.state import TrainState

CHECKSUM_FILE = 'SHA256SUMS'
# `python -m gan_jax.main` exits with this when a checkpoint cannot be saved or none restores: distinct from a failed
# run (1) and a bad command (2), because it asks for something else (space, or the damaged directory moved away), and a
# scheduler should not simply retry.
EXIT_STATUS = 3
_METADATA = '_CHECKPOINT_METADATA'  # Orbax writes it last into a finished step.
_TMP_MARK = '.orbax-checkpoint-tmp'


class CheckpointError(RuntimeError):
  """A checkpoint cannot be saved, or checkpoints exist and none restores; the message is one line saying what to do."""


class CheckpointSaveError(CheckpointError):
  """Saving a checkpoint failed (full disk, permissions); the previous checkpoint is intact."""


class _CommittedSteps:
  """Orbax's step names, minus integer-named entries that hold no finished checkpoint (a stray `3500/` or file).

  Orbax counts any directory named by an integer as a step: a stray one becomes the `latest` and takes a place in
  the retention policy, so that real checkpoints get deleted.
  """

  def __init__(self):
    self._standard = ocp.step.standard_name_format()

  def build_name(self, step: int) -> str:
    return self._standard.build_name(step)

  def find_all(self, base_path):
    return (m for m in self._standard.find_all(base_path) if _is_step_dir(m.path))

  def find_step(self, base_path, step: int):
    metadata = self._standard.find_step(base_path, step)
    if not _is_step_dir(metadata.path):
      raise ValueError(f'{metadata.path} holds no finished checkpoint.')
    return metadata


def _is_step_dir(path) -> bool:
  return os.path.isdir(path) and os.path.exists(os.path.join(path, _METADATA))


def make_manager(directory: str, keep: int = 1) -> ocp.CheckpointManager:
  """A manager that keeps the latest `keep` checkpoints under `directory`; the loop decides when to save."""
  options = ocp.CheckpointManagerOptions(
      preservation_policy=ocp.checkpoint_managers.LatestN(keep), create=True, step_name_format=_CommittedSteps())
  return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def _step_path(manager: ocp.CheckpointManager, step: int) -> str:
  return os.path.join(str(manager.directory), str(step))


def _file_sums(step_dir: str) -> dict[str, str]:
  sums = {}
  for root, _, files in os.walk(step_dir):
    for name in files:
      path = os.path.join(root, name)
      relative = os.path.relpath(path, step_dir)
      if relative == CHECKSUM_FILE:
        continue
      digest = hashlib.sha256()
      with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
          digest.update(block)
      sums[relative] = digest.hexdigest()
  return sums


def write_checksums(step_dir: str) -> None:
  """Writes `SHA256SUMS` into a finished step directory, atomically and durably."""
  lines = ''.join(f'{digest}  {name}\n' for name, digest in sorted(_file_sums(step_dir).items()))
  tmp = os.path.join(step_dir, CHECKSUM_FILE + '.tmp')
  with open(tmp, 'w') as f:
    f.write(lines)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, os.path.join(step_dir, CHECKSUM_FILE))


def verify_checksums(step_dir: str) -> str | None:
  """What is wrong with the step's files against its `SHA256SUMS` (None: all match, or no sums were written)."""
  path = os.path.join(step_dir, CHECKSUM_FILE)
  if not os.path.exists(path):
    logging.warning('Checkpoint %s has no %s (saved before checksums, or the run died just after the save): '
                    'restoring it unverified.', step_dir, CHECKSUM_FILE)
    return None
  with open(path, 'rb') as f:
    lines = f.read().decode('utf-8', 'replace').splitlines()
  pairs = [line.split('  ', 1) for line in lines if line.strip()]
  if not pairs or any(len(pair) != 2 or len(pair[0]) != 64 for pair in pairs):
    return f'{CHECKSUM_FILE} is itself damaged'
  expected = {name: digest for digest, name in pairs}
  actual = _file_sums(step_dir)
  missing = sorted(set(expected) - set(actual))
  changed = sorted(name for name in expected if name in actual and actual[name] != expected[name])
  if missing:
    return f'missing {", ".join(missing[:3])}{" …" if len(missing) > 3 else ""}'
  if changed:
    return f'sha256 mismatch (changed since saved): {", ".join(changed[:3])}{" …" if len(changed) > 3 else ""}'
  return None


def _size(path: str) -> int:
  return sum(os.path.getsize(os.path.join(root, name)) for root, _, files in os.walk(path) for name in files)


def _mib(n: int) -> str:
  return f'{n / 2**20:.1f} MiB' if n >= 2**20 else f'{n / 2**10:.0f} KiB'


def save(manager: ocp.CheckpointManager, state: TrainState) -> None:
  """Saves `state` at its step and waits until the save is durable, then writes its checksums (process 0).

  Waiting makes a failed save (a full disk) surface here, at its step, rather than at the next save; it costs the
  time of writing the state, which the loop would otherwise overlap with the next chunk.

  `state` is one copy of the state, or (multi-host) global arrays placed by `parallel.put`: then every process must
  call this, and each writes its part.

  Raises:
    CheckpointSaveError: the save failed; the partial step is removed and the previous checkpoint stays intact.
  """
  step = state.step
  if isinstance(step, jax.Array):  # A global array has no host value; each process holds a copy of it.
    step = step.addressable_data(0)
  step = int(np.asarray(step))
  path = _step_path(manager, step)
  try:
    with _orbax_errors_to_log():
      manager.save(step, args=ocp.args.StandardSave(flax.serialization.to_state_dict(state)), force=True)
      manager.wait_until_finished()
  except Exception as error:  # Orbax wraps OS errors (ENOSPC comes as ValueError: RESOURCE_EXHAUSTED).
    raise _save_error(manager, state, step, path, error) from error
  if jax.process_index() == 0:
    try:
      write_checksums(path)
    except OSError as error:
      raise _save_error(manager, state, step, path, error) from error


class _DemoteOrbaxErrors(std_logging.Filter):
  """Orbax's threads log each failed write as an error with a traceback; the save's own error says it in one line."""

  def filter(self, record):
    if record.levelno >= std_logging.ERROR and f'{os.sep}orbax{os.sep}' in record.pathname:
      record.levelno, record.levelname = std_logging.INFO, 'INFO'  # Kept in the log file, off the console.
    return True


def _is_orbax_leftover(unraisable) -> bool:
  code = getattr(unraisable.object, 'cr_code', None)
  if code is not None and f'{os.sep}orbax{os.sep}' in code.co_filename:
    return True
  # Tensorstore's callbacks into Orbax's event loop, closed once the operation failed.
  return unraisable.object is None and str(unraisable.exc_value) == 'Event loop is closed'


def _quiet_orbax_leftovers() -> None:
  """From now on, exceptions of coroutines that a failed Orbax operation abandoned go to the log file.

  Python reports them whenever the coroutines are collected, possibly at exit, long after the failure was handled;
  any other unraisable exception still goes to the previous hook.
  """
  previous = sys.unraisablehook
  if getattr(previous, 'gan_jax_orbax', False):
    return

  def hook(unraisable):
    if _is_orbax_leftover(unraisable):
      logging.info('After a failed checkpoint operation: %s: %s', unraisable.exc_type.__name__, unraisable.exc_value)
    else:
      previous(unraisable)
  hook.gan_jax_orbax = True
  sys.unraisablehook = hook
  std_logging.getLogger('asyncio').addFilter(_DropNeverRetrieved())
  show = warnings.showwarning

  def show_or_log(message, category, filename, lineno, file=None, line=None):
    # The abandoned coroutines that were never started: Python warns when they are collected, at exit if not
    # before, after the save's own error line (seen once under load).
    if issubclass(category, RuntimeWarning) and 'was never awaited' in str(message):
      logging.info('After a failed checkpoint operation: %s', message)
    else:
      show(message, category, filename, lineno, file, line)
  warnings.showwarning = show_or_log


class _DropNeverRetrieved(std_logging.Filter):
  """asyncio's "Task exception was never retrieved" for the failed operation's tasks, logged at exit when even the
  log file is closed: the save's own error has said it."""

  def filter(self, record):
    return 'exception was never retrieved' not in str(record.msg)


@contextlib.contextmanager
def _orbax_errors_to_log():
  """Orbax's error records, and the exceptions of the coroutines it abandons, go to the log file, not the console."""
  logger, demote = std_logging.getLogger('absl'), _DemoteOrbaxErrors()
  logger.addFilter(demote)
  try:
    yield
  except Exception:
    _quiet_orbax_leftovers()
    gc.collect()
    raise
  finally:
    logger.removeFilter(demote)


def _save_error(manager, state, step: int, path: str, error: Exception) -> CheckpointSaveError:
  directory = str(manager.directory)
  if jax.process_index() == 0:  # Free what the failed save wrote; the older steps are untouched.
    for name in os.listdir(directory):
      if name.startswith(f'{step}{_TMP_MARK}'):
        shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
  text = f'{type(error).__name__}: {error}'.splitlines()[0]
  previous = [s for s in sorted(manager.all_steps()) if s != step]
  resume = f'it resumes from step {previous[-1]}' if previous else 'it starts afresh'
  if 'RESOURCE_EXHAUSTED' in text or 'No space left' in text or getattr(error, 'errno', None) == 28:
    needed = _size(_step_path(manager, previous[-1])) if previous else _state_bytes(state)
    free = shutil.disk_usage(directory).free
    what = f'no space left on the device ({_mib(free)} free; a checkpoint needs about {_mib(needed)})'
  else:
    what = text
  return CheckpointSaveError(f'Saving checkpoint {path} failed: {what}. Free space or fix {directory} and run the same '
                             f'command again: {resume}.')


def _state_bytes(state) -> int:
  """The bytes of the state's arrays, as a checkpoint's size when none was saved yet."""
  def nbytes(x):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      x = jax.random.key_data(x)
    return int(np.prod(np.shape(x))) * np.dtype(x.dtype).itemsize
  return sum(nbytes(x) for x in jax.tree.leaves(flax.serialization.to_state_dict(state)) if hasattr(x, 'dtype'))


def _warn_about_strays(directory: str) -> None:
  strays = []
  for name in sorted(os.listdir(directory)):
    path = os.path.join(directory, name)
    if (name.isdigit() and _is_step_dir(path)) or '.damaged-' in name or _TMP_MARK in name:
      continue
    strays.append(name + ('/' if os.path.isdir(path) else ''))
  if strays:
    logging.warning('Ignoring entries of %s that are not checkpoints: %s', directory, ', '.join(strays))


def restore_latest(manager: ocp.CheckpointManager, template: TrainState | Callable[[int], TrainState],
                   sharding: Any = None) -> TrainState | None:
  """Restores the newest checkpoint that restores cleanly, reporting each one that does not.

  Each attempt uses a fresh manager (one failed restore leaves an Orbax manager failing on every other step). The
  steps newer than the restored one are damaged: process 0 renames them `<step>.damaged-<time>`, and `manager` is
  reloaded, so that the run saves those steps again.

  Args:
    manager: the run's checkpoint manager.
    template: a state of the right structure (its values are ignored), or `template(step)` -> the structure of the
      state saved at `step`, for a state whose structure changes as it trains (a growing network).
    sharding: where the restored arrays go: one sharding for all (e.g. `DataParallel.replicated`: global arrays,
      one copy per device of every process) or a pytree of them matching `template` (`DataParallel.state_sharding`),
      or a function of the step's template giving either; None restores onto the template's devices, on one
      process.

  Returns:
    The restored state, or None when the directory holds no checkpoint.

  Raises:
    CheckpointError: checkpoints exist but none restores.
  """
  directory = str(manager.directory)
  _warn_about_strays(directory)
  steps = sorted(manager.all_steps(), reverse=True)
  failures = []
  for step in steps:
    path = _step_path(manager, step)
    problem = verify_checksums(path)
    if problem is None:
      step_template = template(step) if callable(template) else template
      target = _restore_target(step_template, sharding(step_template) if callable(sharding) else sharding)
      attempt = ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(
          step_name_format=_CommittedSteps()))
      try:
        with _orbax_errors_to_log():
          restored = attempt.restore(step, args=ocp.args.StandardRestore(target))
      except Exception as error:  # Orbax raises many types for a damaged checkpoint; all mean "try an older one".
        problem = f'{type(error).__name__}: {error}'.splitlines()[0]
      finally:
        attempt.close()
    if problem is not None:
      logging.error('Checkpoint %s is damaged (%s); falling back to the previous one.', path, problem)
      failures.append((path, problem))
      continue
    if failures:
      _move_aside([p for p, _ in failures])
      manager.reload()
    return flax.serialization.from_state_dict(step_template, restored)
  if failures:
    raise CheckpointError(f'No checkpoint in {directory} restores (damaged: '
                          f'{"; ".join(f"{os.path.basename(p)}: {why}" for p, why in failures)}). Move {directory} '
                          'aside to start afresh, or put back a good copy.')
  return None


def _restore_target(template: TrainState, sharding: Any) -> Any:
  """What Orbax restores into: the template's arrays, or their shapes placed as `sharding` says."""
  target = flax.serialization.to_state_dict(template)
  if sharding is None:
    return target
  if isinstance(sharding, jax.sharding.Sharding):  # Typed keys included: Orbax stores their raw data and wraps it back.
    sharding = jax.tree.map(lambda _: sharding, target)
  else:
    sharding = flax.serialization.to_state_dict(sharding)
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=s), target, sharding)


def _move_aside(paths: list[str]) -> None:
  """Process 0 renames damaged steps `<step>.damaged-<time>`; every process waits for it."""
  if jax.process_index() == 0:
    stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
    for path in paths:
      os.rename(path, f'{path}.damaged-{stamp}')
      logging.warning('Moved damaged checkpoint %s to %s.damaged-%s; the run recomputes that step.', path, path,
                      stamp)
  ocp.multihost.sync_global_processes('gan_jax_move_damaged_checkpoints')
