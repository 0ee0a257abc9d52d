"""The one generic update: the gradient of a pure objective with respect to named networks, each then advanced by
its own optimizer (with its batch statistics, EMA and historical average).

A D step, a G step, an unrolled G step, a CycleGAN generator pair or a VAE's encoder and decoder are all
`update(state, batch, nets=..., objective=...)` with a different objective.
"""

from typing import Any, Callable, Sequence

import jax
import optax

from gan_jax.state import TrainState

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
# objective(state, batch) -> loss, or (loss, (state after the networks' calls, metrics)). The state it is given
# holds the parameters being differentiated; the batch statistics of the returned state are kept.
Objective = Callable[[TrainState, Batch], Any]


def run(state: TrainState, name: str, *inputs, params=None, train: bool = True, **keywords) -> tuple[Any, TrainState]:
  """Applies network `name` to `inputs`; returns (outputs, the state with that network's batch stats advanced).

  Args:
    state: the training state (inside an objective: the one it was given).
    name: the network.
    *inputs: its positional inputs.
    params: other parameters to run it with (an unrolled copy); default its own.
    train: training mode (batch statistics from the batch, and updated) or evaluation mode (running averages).
    **keywords: keyword inputs such as labels `y`; those the module does not take are dropped.
  """
  net = state.nets[name]
  outputs, batch_stats = net.apply(*inputs, params=params, train=train, **keywords)
  return outputs, state.replace_nets(**{name: net.replace(batch_stats=batch_stats)})


def network_metrics(name: str, grads, updates, params) -> Metrics:
  """What big_vision logs per network: gradient norm, update norm and parameter norm."""
  return {
      f'{name}_grad_norm': optax.tree.norm(grads),
      f'{name}_update_norm': optax.tree.norm(updates),
      f'{name}_param_norm': optax.tree.norm(params),
  }


def update(state: TrainState, batch: Batch, *, nets: Sequence[str], objective: Objective,
           name: str | None = None) -> tuple[TrainState, Metrics]:
  """One update of the networks `nets` on the gradient of `objective`; the other networks do not move.

  Args:
    state: the training state.
    batch: whatever the objective reads.
    nets: the networks to update, by name; the gradient is taken with respect to their parameters jointly.
    objective: `objective(state, batch)`, returning the loss or `(loss, (state, metrics))`; pure.
    name: the prefix of the loss metric (default: the networks' names joined by '_').

  Returns:
    The new state (`state.step` unchanged) and metrics: '<name>_loss', the objective's own metrics, and per
    network '<net>_grad_norm', '<net>_update_norm', '<net>_param_norm'.
  """
  nets = tuple(nets)
  missing = [n for n in nets if n not in state.nets]
  if missing:
    raise KeyError(f'update: no network {missing} in the state; it has {sorted(state.nets)}')

  def loss_fn(params):
    inner = state.with_params(params)
    out = objective(inner, batch)
    if isinstance(out, tuple):
      value, (after, metrics) = out
    else:
      value, after, metrics = out, inner, {}
    return value, (after, metrics)

  params = {n: state.nets[n].params for n in nets}
  (value, (after, metrics)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  metrics = {f'{name or "_".join(nets)}_loss': value, **metrics}
  updated = {}
  for n in nets:
    updated[n], updates = state.nets[n].apply_gradients(grads[n], after.nets[n].batch_stats)
    metrics.update(network_metrics(n, grads[n], updates, updated[n].params))
  return state.replace_nets(**updated), metrics
