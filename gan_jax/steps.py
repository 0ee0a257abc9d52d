"""A GAN's compiled pieces: one discriminator update, one generator update, and their composition.

Each is the generic `update.update` with one of the objectives of `objectives.py`. Every function takes the state
and a batch and returns the new state and a dict of scalar metrics; static choices (the objective, k) are bound with
`functools.partial` before `jit` (see `make_train_step`). A batch is a dict with the real examples under 'x' (labels
'y'), the latents under 'z' (and 'fake_y', codes) and, for the gradient penalty, the interpolation weights 'eps'.

An iteration ends with G's update: `g_step` advances `state.step`, so a loop of `d_step`s and `g_step`s written by
hand reaches the state `train_step` reaches.
"""

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp

from gan_jax import history, platform
from gan_jax import objectives as objectives_lib
from gan_jax.objectives import GANObjective
from gan_jax.rng import noise_key
from gan_jax.state import TrainState
from gan_jax.update import update

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


def replay_fakes(state: TrainState, fake: jax.Array, batch: Batch, fraction: float):
  """Experience replay: D's fake batch with a fraction drawn from the buffer, and the buffer with `fake` added.

  Returns:
    (the batch for D, with 'fake_y' replaced when the buffer keeps labels; D's fakes; the new buffer).
  """
  buffer = state.extras['replay']
  key = jax.random.fold_in(noise_key(state.rng, state.step), buffer['count'])
  labels = batch.get('fake_y') if 'labels' in buffer else None
  mixed, mixed_labels = history.mix(buffer, key, fake, fraction, labels)
  buffer = history.insert(buffer, fake, labels)
  if mixed_labels is not None:
    batch = {**batch, 'fake_y': mixed_labels}
  return batch, mixed, buffer


def d_step(state: TrainState, batch: Batch, *, objective: GANObjective = GANObjective(),
           replay_fraction: float = 0.0) -> tuple[TrainState, Metrics]:
  """One update of D on `objective`'s D terms, with G held fixed.

  With `replay_fraction` > 0 (and a buffer in `state.extras['replay']`), that fraction of D's fakes comes from
  past generations.
  """
  fake = jax.lax.stop_gradient(objectives_lib.generate(state, batch)[0])
  if replay_fraction:
    batch, fake, buffer = replay_fakes(state, fake, batch, replay_fraction)
    state = state.replace(extras={**state.extras, 'replay': buffer})
  d_objective = functools.partial(objectives_lib.discriminator_objective, fake=fake, objective=objective)
  return update(state, batch, nets=('d',), objective=d_objective)


def g_step(state: TrainState, batch: Batch, *, objective: GANObjective = GANObjective(), unroll_steps: int = 0,
           second_order: bool = True, remat: bool = False) -> tuple[TrainState, Metrics]:
  """One update of G on `objectives.generator_objective` (whose options it takes); ends the iteration."""
  g_objective = functools.partial(objectives_lib.generator_objective, objective=objective, unroll_steps=unroll_steps,
                                  second_order=second_order, remat=remat)
  new_state, metrics = update(state, batch, nets=('g',), objective=g_objective)
  return new_state.replace(step=state.step + 1), metrics


def train_step(state: TrainState, real: Batch, *, d_step_fn, g_step_fn, sample_noise, n_critic: int = 1,
               simultaneous: bool = True, same_minibatch: bool = True, swap_every: int = 0,
               swap_steps: int = 0) -> tuple[TrainState, Metrics]:
  """One training iteration: `n_critic` D steps (a `lax.scan`) and one G step; advances `state.step`.

  Args:
    state: the current state.
    real: the real data of the step: examples 'x' and labels 'y' (and the semi-supervised GAN's labelled batch
      'labelled_x', 'labelled_y'), each with a leading axis of `n_critic`, one batch per D step.
    d_step_fn: `d_step` with its options bound.
    g_step_fn: `g_step` with its options bound.
    sample_noise: key -> the noise for one batch: a dict with the latents 'z', the gradient penalty's
      interpolation weights 'eps', and the labels and codes G takes ('fake_y', 'code_cat', 'code_cont').
    n_critic: D steps per G step (Goodfellow's k).
    simultaneous: G's update is computed from the state before the D steps; otherwise after them.
    same_minibatch: G (and its unroll) uses the real batch and noise of the first D step; otherwise fresh noise with
      the first D step's real batch.
    swap_every, swap_steps: snapshot swaps (see `history.py`): in the first `swap_steps` steps of every
      `swap_every`, D trains against the older copy of G in `state.extras['snapshots']` and G against the older
      copy of D; the copies are refreshed at the end of each swap window. 0: never.

  Returns:
    The new state and the metrics of both players (D's averaged over its steps).
  """
  keys = jax.random.split(noise_key(state.rng, state.step), n_critic + 1)
  d_batches = {**real, **jax.vmap(sample_noise)(keys[:n_critic])}
  g_noise = jax.tree.map(lambda x: x[0], d_batches) if same_minibatch else sample_noise(keys[n_critic])
  g_batch = {**g_noise, **jax.tree.map(lambda x: x[0], real)}
  swap = history.swapping(state.step, swap_every, swap_steps) if swap_every else None

  def against_old(state, name):  # The state with network `name` swapped for its older copy in a swap window.
    if swap is None:
      return state
    old, net = state.extras['snapshots'][name], state.nets[name]
    return state.replace_nets(**{name: net.replace(
        params=history.select(swap, old['params'], net.params),
        batch_stats=history.select(swap, old['batch_stats'], net.batch_stats))})

  def run_g_step(state):  # G's update only: D is the state's own afterwards.
    g_state, g_metrics = g_step_fn(against_old(state, 'd'), g_batch)
    return state.replace_nets(g=g_state.nets['g']).replace(step=g_state.step), g_metrics

  if simultaneous:
    g_state, g_metrics = run_g_step(state)
  d_input = against_old(state, 'g')
  d_state, d_metrics = platform.scan(d_step_fn, d_input, d_batches)
  d_metrics = jax.tree.map(jnp.mean, d_metrics)
  d_state = d_state.replace_nets(g=state.nets['g'])
  if simultaneous:
    new_state = d_state.replace_nets(g=g_state.nets['g']).replace(step=g_state.step)
  else:
    new_state, g_metrics = run_g_step(d_state)
  if swap_every:
    new_state = refresh_snapshots(new_state, state.step, swap_every, swap_steps)
  return new_state, {**d_metrics, **g_metrics}


def refresh_snapshots(state: TrainState, step: jax.Array, swap_every: int, swap_steps: int) -> TrainState:
  """After step `step`'s updates: the older copies of snapshot swaps are refreshed at the end of a swap window."""
  refresh = step % swap_every == swap_steps - 1 if swap_steps else step % swap_every == swap_every - 1
  current = {name: {'params': net.params, 'batch_stats': net.batch_stats} for name, net in state.nets.items()}
  snapshots = history.select(refresh, current, state.extras['snapshots'])
  return state.replace(extras={**state.extras, 'snapshots': snapshots})


def make_train_step(config, sample_noise: Callable[[jax.Array], Batch]) -> Callable[[TrainState, Batch], Any]:
  """Binds the config's static choices into `train_step(state, real)`."""
  objective = objectives_lib.objective_from_config(config)
  d_fn = functools.partial(d_step, objective=objective, replay_fraction=config.replay.fraction)
  g_fn = functools.partial(g_step, objective=objective, unroll_steps=config.unroll.steps,
                           second_order=config.unroll.second_order, remat=config.unroll.remat)
  return functools.partial(train_step, d_step_fn=d_fn, g_step_fn=g_fn, sample_noise=sample_noise,
                           n_critic=config.train.n_critic,
                           simultaneous=config.train.update_order == 'simultaneous',
                           same_minibatch=config.unroll.same_minibatch,
                           swap_every=config.replay.swap_every, swap_steps=config.replay.swap_steps)


def summarize(metrics: Metrics, first_step: jax.Array,
              loss_names: tuple[str, ...] = ('d_loss', 'g_loss')) -> Metrics:
  """Reduces per-step metrics (leading axis: step) on device: means, and per loss in `loss_names` the first step
  where it is not finite ('<loss>_first_nonfinite_step'; int32 max when none)."""
  summary = jax.tree.map(jnp.mean, metrics)
  steps = first_step + jnp.arange(metrics[loss_names[0]].shape[0])
  never = jnp.iinfo(jnp.int32).max
  for name in loss_names:
    bad = jnp.where(jnp.isfinite(metrics[name]), never, steps)
    summary[f'{name}_first_nonfinite_step'] = jnp.min(bad)
  return summary


def make_multi_step(train_step_fn, sample_real: Callable[[TrainState, Any], Batch], num_steps: int,
                    loss_names: tuple[str, ...] = ('d_loss', 'g_loss')):
  """`num_steps` training iterations in one call (a `lax.scan`), real data drawn on device each step.

  Tiny models are dominated by dispatch; scanning over steps amortises it. Metrics come back reduced.

  Args:
    train_step_fn: `train_step` with its options bound.
    sample_real: (state, data arrays) -> this device's real data for the state's step ('x', 'y', ...), each with
      a leading `n_critic` axis.
    num_steps: iterations per call (static).
    loss_names: the losses whose first non-finite step the summary reports (the family's).

  Returns:
    `multi_step(state, data_arrays) -> (state, summary)`; `data_arrays` are what `sample_real` reads: the
    dataset's device-resident arrays, or a streamed call's stacked batches (see `gan_jax/data/streaming.py`).
  """
  def multi_step(state, data_arrays):
    def one_step(state, _):
      return train_step_fn(state, sample_real(state, data_arrays))

    first_step = state.step
    # Never unrolled: a chunk may be hundreds of steps. Convolutional models on CPU use chunks of one step instead.
    state, metrics = platform.scan(one_step, state, None, length=num_steps, may_unroll=False)
    return state, summarize(metrics, first_step, loss_names)

  return multi_step
