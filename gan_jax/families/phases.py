"""Greedy layer-wise training by phases (Hinton, Osindero & Teh 2006; Bengio et al. 2007): a schedule of phases,
each training its own networks, in one compiled step.

Phase p covers steps [sum(phase_steps[:p]), sum(phase_steps[:p+1])); the last phase continues to the end of
training, however long that is (its count is only its minimum). The step picks its phase from `state.step` with
`jax.lax.switch` inside the compiled function: one program serves every phase, nothing about phases is decided in
Python, and so a run resumed in the middle of any phase computes bit for bit what an uninterrupted one does (the
loop cuts its chunks where it likes).

Each phase's branch is an update of its own networks, which are separate named entries of the one `TrainState`
('rbm_0', 'rbm_1', ... or 'encoder_0', 'decoder_0', ...): `update(state, batch, nets=...)` moves only the networks
it lists, so a layer that is not training keeps its parameters and its optimizer's state (Adam's moments, SGD's
momentum) exactly. Had the layers been parts of one network's parameters, its optimizer would have decayed the
momentum of the frozen parts and counted steps for them.

`lax.switch` needs the branches to return one structure. The families report, whatever the phase, the same metric
names: their loss as '<family>_loss', the norms of the networks the phase trains under the names the family's
unphased model uses ('rbm_grad_norm' for the active RBM, 'encoder_grad_norm' for the encoder layers being trained:
`merge_network_metrics`), and 'phase'. A dashboard then shows one curve per quantity across the phases, comparable
with the single-network families' curves; 'phase' (averaged over a logged interval) says which layer it was.
"""

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import optax

NORMS = ('grad_norm', 'update_norm', 'param_norm')  # What `update.network_metrics` reports per network.

Branch = Callable  # (state, real) -> (state, metrics), the step not advanced.


def phase_starts(phase_steps: Sequence[int]) -> tuple[int, ...]:
  """The first step of each phase: (0, n_0, n_0 + n_1, ...), one per phase."""
  starts, total = [], 0
  for count in phase_steps:
    starts.append(total)
    total += int(count)
  return tuple(starts)


def phase_index(step: jax.Array, phase_steps: Sequence[int]) -> jax.Array:
  """The phase that trains step `step` (an int32 scalar): the number of later phases' starts at or before it.

  Args:
    step: the step about to be trained (`state.step`), traced or not.
    phase_steps: the steps of each phase (static); the last phase continues past its count.

  Returns:
    An int32 in [0, len(phase_steps)).
  """
  later_starts = jnp.asarray(phase_starts(phase_steps)[1:], jnp.int32)
  return jnp.sum(jnp.asarray(step, jnp.int32) >= later_starts).astype(jnp.int32)


def merge_network_metrics(metrics: dict, nets: Sequence[str], name: str) -> dict:
  """The metrics with the norms of networks `nets` ('<net>_grad_norm', ...) replaced by their joint norms under
  `name` ('<name>_grad_norm', ...): the norm of all their parameters (gradients, updates) as one vector."""
  metrics = dict(metrics)
  if len(nets) == 1:  # Renamed as they are (a norm of one norm would round).
    return {(f'{name}{key[len(nets[0]):]}' if key in {f'{nets[0]}_{kind}' for kind in NORMS} else key): value
            for key, value in metrics.items()}
  for kind in NORMS:
    parts = [metrics.pop(f'{net}_{kind}') for net in nets]
    metrics[f'{name}_{kind}'] = optax.tree.norm(parts)
  return metrics


def _signature(tree) -> tuple:
  leaves, treedef = jax.tree.flatten(tree)
  return treedef, [(leaf.shape, leaf.dtype) for leaf in leaves]


def make_phased_step(branches: Sequence[Branch], phase_steps: Sequence[int]) -> Callable:
  """`train_step(state, real) -> (state, metrics)`: the branch of `state.step`'s phase, then the step advanced.

  Args:
    branches: one per phase, `branch(state, real) -> (state, metrics)`, pure and jittable, each returning the
      state and metrics of one structure (the same keys, shapes and dtypes); none advances `state.step`.
    phase_steps: the steps of each phase, as many as `branches` (static Python ints).

  Returns:
    The step function; its metrics are the active branch's plus 'phase' (int32).

  Raises:
    ValueError: the counts do not match, or (when the step is traced) two branches return different structures;
      the message names the differing metrics.
  """
  branches, phase_steps = tuple(branches), tuple(int(n) for n in phase_steps)
  if not branches or len(branches) != len(phase_steps):
    raise ValueError(f'make_phased_step: {len(branches)} branches for {len(phase_steps)} phases; give one each')

  def check_structures(state, real):
    shapes = [jax.eval_shape(branch, state, real) for branch in branches]
    for p, shape in enumerate(shapes[1:], 1):
      if _signature(shape) != _signature(shapes[0]):
        first, other = shapes[0][1], shape[1]
        raise ValueError(
            f'make_phased_step: phase {p} returns another structure than phase 0 (lax.switch needs one); metrics only '
            f'in phase 0: {sorted(set(first) - set(other))}, only in phase {p}: {sorted(set(other) - set(first))}, '
            f'differing shapes: {sorted(k for k in set(first) & set(other) if first[k] != other[k])}')

  def train_step(state, real):
    if len(branches) > 1:
      check_structures(state, real)
    phase = phase_index(state.step, phase_steps)
    state, metrics = jax.lax.switch(phase, branches, state, real)
    return state.replace(step=state.step + 1), {**metrics, 'phase': phase}

  return train_step
