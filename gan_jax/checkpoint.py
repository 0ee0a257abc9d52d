"""Orbax checkpoints of the whole training state, with a fall-back past checkpoints that fail to restore."""

import os
from typing import Any

from absl import logging
import flax.serialization
import jax
import numpy as np
import orbax.checkpoint as ocp

from gan_jax.state import TrainState


class CheckpointError(RuntimeError):
  """No checkpoint in the directory could be restored."""


def make_manager(directory: str, keep: int) -> ocp.CheckpointManager:
  """A manager that keeps the latest `keep` checkpoints under `directory`; the loop decides when to save."""
  options = ocp.CheckpointManagerOptions(
      preservation_policy=ocp.checkpoint_managers.LatestN(keep), create=True)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def save(manager: ocp.CheckpointManager, state: TrainState) -> None:
  """Saves `state` at its step, in the background; `wait_until_finished` makes it durable.

  `state` is one copy of the state, or (multi-host) global arrays placed by `parallel.put`: then every process must
  call this, and each writes its part.
  """
  step = state.step
  if isinstance(step, jax.Array):  # A global array has no host value; each process holds a copy of it.
    step = step.addressable_data(0)
  manager.save(int(np.asarray(step)), args=ocp.args.StandardSave(flax.serialization.to_state_dict(state)), force=True)


def restore_latest(manager: ocp.CheckpointManager, template: TrainState,
                   sharding: Any = None) -> TrainState | None:
  """Restores the newest checkpoint that restores cleanly, reporting each one that does not.

  Args:
    manager: the run's checkpoint manager.
    template: a state of the right structure (its values are ignored).
    sharding: where the restored arrays go: one sharding for all (e.g. `DataParallel.replicated`: global arrays,
      one copy per device of every process) or a pytree of them matching `template` (`DataParallel.state_sharding`);
      None restores onto the template's devices, on one process.

  Returns:
    The restored state, or None when the directory holds no checkpoint.

  Raises:
    CheckpointError: checkpoints exist but none restores.
  """
  steps = sorted(manager.all_steps(), reverse=True)
  target = flax.serialization.to_state_dict(template)
  if sharding is not None:  # Typed keys included: Orbax stores their raw data and wraps it back.
    if isinstance(sharding, jax.sharding.Sharding):
      sharding = jax.tree.map(lambda _: sharding, target)
    else:
      sharding = flax.serialization.to_state_dict(sharding)
    target = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=s), target, sharding)
  failures = []
  for step in steps:
    try:
      restored = manager.restore(step, args=ocp.args.StandardRestore(target))
    except Exception as error:  # Orbax raises many types for a damaged checkpoint; all mean "try an older one".
      path = os.path.join(manager.directory, str(step))
      logging.error('Checkpoint %s failed to restore (%s: %s); falling back to the previous one.',
                    path, type(error).__name__, error)
      failures.append(path)
      continue
    return flax.serialization.from_state_dict(template, restored)
  if failures:
    raise CheckpointError(f'No checkpoint restores; damaged: {", ".join(failures)}. Move them away to start afresh.')
  return None
