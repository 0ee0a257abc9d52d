"""What guards a run directory: one run at a time (a lock), and a resume under the config the state was trained with.

`WORKDIR/run.lock` names the run that holds the directory (pid, host, start time); it is created atomically and
removed when the run ends, also on an exception or SIGTERM. A lock whose pid no longer exists on this host was left
by a killed run (SIGKILL, out of memory) and is taken over with a warning. On a multi-host job process 0 takes it for
the job; the others trust process 0 (see `train.train_and_evaluate`).

`WORKDIR/config.json` is the config of the run that last trained in the directory. A resume compares its config with
it field by field (`diff_configs`): fields that give the state another shape or another meaning are refused
(`REFUSED`), the training hyperparameters need `--allow_config_change` and are recorded (`FREE` are neither).
"""

import contextlib
import datetime
import json
import os
import socket
import sys
from typing import Any, Callable, Iterator

from absl import logging
from flax import traverse_util
import ml_collections

from gan_jax.config import family_defaults

LOCK_NAME = 'run.lock'
CONFIG_NAME = 'config.json'

# Fields a checkpoint cannot be resumed under when they change: they give the state another shape (networks, data
# shapes, codes, classes, replay buffers, optimizer states) or another meaning (the seed draws the data and noise
# streams; the loss, its terms and k define which game the saved players are playing).
# `*` stands for any one name (each network's optimizer section); weight decay and clipping add transformations
# to the optimizer, and so parts to its state, when switched on; so does a decaying rate (its update count).
REFUSED = ('seed', 'model', 'gen', 'disc', 'rbm', 'dbn', 'vae', 'autoencoder', 'pix2pix', 'cyclegan', 'progan', 'data',
           'loss', 'unroll', 'cond', 'info', 'semi', 'replay', 'optim.*.name', 'optim.*.weight_decay', 'optim.*.clip_params',
           'train.reference_batch_size', 'parallel.model_shards', 'ppgn.image_weight', 'ppgn.feature_weight',
           'ppgn.adversarial_weight', 'ppgn.dae_hidden', 'ppgn.dae_noise_std', 'lapgan', 'srgan',
           'optim.*.decay_steps', 'stackgan')
# Fields that never change what is computed: the run's length, how often it logs, evaluates and saves (chunks are
# cut at every boundary, so a resumed run computes the same steps), what the evaluation measures (the VAE's
# importance sampling, the DBN's samples and fine-tuned classifiers, PPGN's sampler included), where the
# processes of a job meet, and where StackGAN's text encoder is read from (a resume reads its weights from the
# checkpoint; stackgan.vocabulary, refused, binds the vocabulary). Everything else (learning rates and other
# optimizer settings, batch size, n_critic, the update order, parallel.mode) changes the training from the resumed step on: allowed with --allow_config_change.
FREE = ('train.num_steps', 'train.steps_per_call', 'train.log_every_steps', 'train.eval_every_steps',
        'train.checkpoint_every_steps', 'train.keep_checkpoints', 'eval', 'vae.iw_samples', 'vae.iw_chunk',
        'dbn.sample_gibbs_steps', 'dbn.finetune_steps', 'dbn.finetune_batch_size', 'dbn.finetune_learning_rate',
        'ppgn.eps1', 'ppgn.eps2', 'ppgn.eps3', 'ppgn.h_max', 'ppgn.chain_steps', 'ppgn.record_every',
        'ppgn.chain_start', 'ppgn.samples_per_class', 'lapgan.accept_threshold', 'stackgan.text_encoder',
        'parallel.distributed', 'parallel.coordinator_address', 'parallel.num_processes', 'parallel.process_id')


class WorkdirError(RuntimeError):
  """The run directory cannot be used as asked (held by another run, or a refused config change)."""


def _matches(field: str, prefixes: tuple[str, ...]) -> bool:
  parts = field.split('.')
  for prefix in prefixes:
    wanted = prefix.split('.')
    if len(parts) >= len(wanted) and all(w in ('*', p) for w, p in zip(wanted, parts)):
      return True
  return False


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Another user's process.
    return True
  return True


class WorkdirLock:
  """`WORKDIR/run.lock`, held from `acquire` to `release` (also a context manager)."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, LOCK_NAME)
    self._held = False

  def _holder(self) -> dict[str, Any]:
    try:
      with open(self.path, encoding='utf-8') as f:
        return json.load(f)
    except (OSError, ValueError):
      return {}  # Being written, or damaged: treated as held by an unknown run.

  def acquire(self) -> None:
    """Takes the lock, or raises `WorkdirError` naming the run that holds it."""
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    started = datetime.datetime.now().isoformat(' ', 'seconds')
    me = {'pid': os.getpid(), 'host': socket.gethostname(), 'started': started, 'command': ' '.join(sys.argv)}
    for _ in range(2):  # The second try follows the removal of a stale lock.
      try:
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
      except FileExistsError:
        holder = self._holder()
        pid, host = holder.get('pid'), holder.get('host')
        if host == me['host'] and isinstance(pid, int) and not _pid_alive(pid):
          logging.warning('%s was left by run %d on %s (started %s), which no longer exists: taking it over.',
                          self.path, pid, host, holder.get('started', '?'))
          try:
            os.remove(self.path)
          except FileNotFoundError:
            pass  # Another run took it over first; the next try reports that run.
          continue
        raise WorkdirError(
            f'{os.path.dirname(self.path)} is in use by another run: pid {pid} on host {host}, started '
            f'{holder.get("started", "?")} ({holder.get("command", "command unknown")}). Wait for it to end or '
            f'use another --workdir; if that run is gone (e.g. on another host), delete {self.path}.')
      with os.fdopen(fd, 'w', encoding='utf-8') as f:
        json.dump(me, f)
      self._held = True
      return
    raise WorkdirError(f'{self.path}: could not be taken over from a stale run; try again.')

  def release(self) -> None:
    if self._held:
      self._held = False
      try:
        os.remove(self.path)
      except FileNotFoundError:
        logging.warning('%s was removed while this run held it.', self.path)

  def __enter__(self):
    self.acquire()
    return self

  def __exit__(self, *exc):
    self.release()


def flat_config(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config as dotted names and JSON values (tuples as lists), as `config.json` holds it."""
  return json.loads(json.dumps(traverse_util.flatten_dict(config.to_dict(), sep='.'), default=str))


def diff_configs(saved: dict[str, Any], current: dict[str, Any],
                 defaults: dict[str, Any] | None = None) -> tuple[list[str], list[str]]:
  """The fields that differ, as lines `field: saved -> current`, split into (refused, needing the flag).

  A field that `saved` lacks and `current` holds at its value in `defaults` (the schema's defaults) was added to the
  schema after the run started: the run had that behaviour, so it is not a change.
  """
  refused, allowed = [], []
  defaults = defaults or {}
  for field in sorted(set(saved) | set(current)):
    old, new = saved.get(field, '<absent>'), current.get(field, '<absent>')
    if old == new or _matches(field, FREE):
      continue
    if field not in saved and field in defaults and new == defaults[field]:
      continue
    line = f'{field}: {old!r} -> {new!r}'
    (refused if _matches(field, REFUSED) else allowed).append(line)
  return refused, allowed


def has_checkpoint(workdir: str) -> bool:
  directory = os.path.join(workdir, 'checkpoints')
  return os.path.isdir(directory) and any(name.isdigit() for name in os.listdir(directory))


def check_config(workdir: str, config: ml_collections.ConfigDict, allow_change: bool) -> list[str]:
  """Compares `config` with the one the workdir's checkpoints were trained with, then saves it as `config.json`.

  Args:
    workdir: the run's directory.
    config: this run's config.
    allow_change: whether the fields outside `REFUSED` and `FREE` may change.

  Returns:
    The changed fields (lines `field: old -> new`) this run accepted; empty on a fresh run or an unchanged one.

  Raises:
    WorkdirError: a field in `REFUSED` changed, or another one did without `allow_change`; nothing is written.
  """
  path = os.path.join(workdir, CONFIG_NAME)
  current = flat_config(config)
  changes = []
  if has_checkpoint(workdir):
    saved = _read_json(path)
    if saved is not None:
      refused, changes = diff_configs(saved, current, flat_config(family_defaults(config.model)))
      if refused:
        raise WorkdirError(
            f'the config differs from the one the checkpoints in {workdir} were trained with ({path}) in fields '
            'that change the state\'s shape or meaning; resume with the same values or use another --workdir:\n  ' +
            '\n  '.join(refused + changes))
      if changes and not allow_change:
        raise WorkdirError(
            f'the config differs from the one the checkpoints in {workdir} were trained with ({path}):\n  ' +
            '\n  '.join(changes) + '\nPass --allow_config_change to resume with these values from the last '
            'checkpoint on.')
    else:
      logging.warning('%s has checkpoints but no readable %s (a run from before configs were saved): the config '
                      'cannot be checked against theirs.', workdir, CONFIG_NAME)
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(current, f, indent=2, sort_keys=True)
  return changes


def _read_json(path: str) -> dict[str, Any] | None:
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except FileNotFoundError:
    return None
  except (OSError, ValueError) as error:
    logging.warning('%s cannot be read (%s).', path, error)
    return None


@contextlib.contextmanager
def claim(workdir: str, config: ml_collections.ConfigDict, allow_change: bool = False, process_index: int = 0,
          any_process: Callable[[bool], bool] = bool) -> Iterator[list[str]]:
  """Holds `workdir` for a run: its lock, and its config checked and saved (`check_config`); released at the end.

  On a multi-host job process 0 does both for the job, and every process learns whether it could
  (`any_process`, a collective: all processes call `claim` at the same point).

  Yields:
    The config changes this resume accepted (on process 0; empty on the others).

  Raises:
    WorkdirError: on every process, when process 0 could not take the lock or refused the config.
  """
  lock = WorkdirLock(workdir)
  changes, error = [], None
  if process_index == 0:
    try:
      lock.acquire()
      changes = check_config(workdir, config, allow_change)
    except (WorkdirError, OSError) as e:
      lock.release()
      error = e if isinstance(e, WorkdirError) else WorkdirError(f'{workdir}: {e}')
  if any_process(error is not None):
    raise error or WorkdirError(f'process 0 cannot use {workdir}; its output says why.')
  try:
    yield changes
  finally:
    lock.release()
