"""Pure step functions: one discriminator update, one generator update, and their composition.

Every function takes the state and a batch and returns the new state and a dict of scalar metrics. Static choices
(the loss, k, the device axis) are bound with `functools.partial` before `jit` or `pmap`; see `make_train_step`.
A batch is a dict with the real examples under 'x', the latents under 'z' and, for the gradient penalty, the
interpolation weights under 'eps'.
"""

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from gan_jax import history
from gan_jax import losses as losses_lib
from gan_jax import mutual_information
from gan_jax import noise as noise_lib
from gan_jax.models import apply_model
from gan_jax.state import GANState, noise_key
from gan_jax.unroll import mean_over_devices, unroll_discriminator

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


def player_metrics(prefix: str, loss, grads, updates, params) -> Metrics:
  """What big_vision logs per player: loss, gradient norm, update norm and parameter norm."""
  return {
      f'{prefix}_loss': loss,
      f'{prefix}_grad_norm': optax.tree.norm(grads),
      f'{prefix}_update_norm': optax.tree.norm(updates),
      f'{prefix}_param_norm': optax.tree.norm(params),
  }


def with_reference(apply_fn, reference: jax.Array | None, inputs: jax.Array, *more):
  """Runs `apply_fn(inputs, *more)` with virtual batch norm's reference rows prepended, and drops their outputs.

  `more` are per-example arrays (labels) given as (reference part, batch part) pairs or None.
  """
  if reference is None:
    return apply_fn(inputs, *(m if m is None else m[1] for m in more))
  size = reference.shape[0]
  joined = [None if m is None else jnp.concatenate(m) for m in more]
  outputs, batch_stats = apply_fn(jnp.concatenate([reference, inputs]), *joined)
  return jax.tree.map(lambda a: a[size:], outputs), batch_stats


def generate(state: GANState, g_params, batch: Batch, train: bool = True):
  """G's samples for the noise in `batch` (latents, and labels and codes when G takes them); (samples, stats)."""
  inputs = noise_lib.generator_input(batch, state.noise_spec)
  reference = state.reference.get('noise')
  if reference is not None:
    reference = noise_lib.generator_input(reference, state.noise_spec)
  apply_fn = lambda x: apply_model(state.generator, g_params, state.g_batch_stats, x, train=train)
  return with_reference(apply_fn, reference, inputs)


def run_discriminator(state: GANState, d_params, batch_stats, x: jax.Array, y: jax.Array | None):
  """D's outputs on `x` (labels `y` when it takes them), with virtual batch norm's reference batch when it has one.

  Returns:
    (outputs, D's batch stats after the call).
  """
  apply_fn = lambda x, y: apply_model(state.discriminator, d_params, batch_stats, x, y, train=True)
  reference = state.reference.get('x')
  labels = None if y is None else (state.reference.get('y'), y)
  return with_reference(apply_fn, reference, x, labels)


def discriminate(state: GANState, d_params, batch: Batch, fake: jax.Array):
  """D's outputs on the real batch and on `fake`, run as two separate batches (separate batch-norm statistics, as
  in DCGAN). Real examples are paired with their labels 'y', fakes with the labels G drew them for, 'fake_y'.

  Returns:
    (outputs on real, outputs on fake, D's batch stats after both calls); outputs are dicts (`models.heads`).
  """
  real_out, batch_stats = run_discriminator(state, d_params, state.d_batch_stats, batch['x'], batch.get('y'))
  fake_out, batch_stats = run_discriminator(state, d_params, batch_stats, fake, batch.get('fake_y'))
  return real_out, fake_out, batch_stats


def code_loss(fake_out: dict, batch: Batch, loss: losses_lib.GANLoss) -> jax.Array:
  """InfoGAN: minus the mutual-information lower bound, up to the codes' constant entropy; both players minimise it
  (Q with D's parameters, G through its samples)."""
  value = 0.0
  if loss.info_categorical:
    value += loss.info_categorical * mutual_information.categorical_code_nll(fake_out['code_logits'],
                                                                             batch['code_cat'])
  if loss.info_continuous:
    value += loss.info_continuous * mutual_information.gaussian_code_nll(fake_out['code_mean'], batch['code_cont'])
  return value


def discriminator_loss(d_params, state: GANState, batch: Batch, fake: jax.Array, loss: losses_lib.GANLoss):
  """D's loss on real `batch['x']` and `fake`, with every term the loss asks for.

  Terms: the gradient penalty (WGAN-GP), AC-GAN's class loss on real and fake, InfoGAN's code loss, the
  semi-supervised classification loss on the labelled batch ('labelled_x', 'labelled_y').

  Returns:
    (loss, D's batch stats after the call).
  """
  real_out, fake_out, batch_stats = discriminate(state, d_params, batch, fake)
  value = loss.d_loss(real_out['logits'], fake_out['logits']) if loss.adversarial else 0.0
  if loss.gradient_penalty:
    critic = lambda x: run_discriminator(state, d_params, state.d_batch_stats, x, batch.get('y'))[0]['logits']
    value += loss.gradient_penalty * losses_lib.gradient_penalty(critic, batch['x'], fake, batch['eps'])
  if loss.aux_classifier:
    value += loss.aux_classifier * (losses_lib.classification_loss(real_out['class_logits'], batch['y']) +
                                    losses_lib.classification_loss(fake_out['class_logits'], batch['fake_y']))
  if loss.supervised:
    labelled_out, batch_stats = run_discriminator(state, d_params, batch_stats, batch['labelled_x'], None)
    value += loss.supervised * losses_lib.classification_loss(labelled_out['class_logits'], batch['labelled_y'])
  if loss.historical_averaging:
    value += loss.historical_averaging * history.averaging_penalty(d_params, state.d_average)
  return value + code_loss(fake_out, batch, loss), batch_stats


def replay_fakes(state: GANState, fake: jax.Array, batch: Batch, fraction: float, axis_name: str | None):
  """Experience replay: D's fake batch with a fraction drawn from the buffer, and the buffer with `fake` added.

  Returns:
    (the batch for D, with 'fake_y' replaced when the buffer keeps labels; D's fakes; the new buffer).
  """
  buffer = state.replay
  key = jax.random.fold_in(noise_key(state.rng, state.step), buffer['count'])
  labels = batch.get('fake_y')
  everyone, everyones_labels = fake, labels
  if axis_name is not None:  # Every device inserts the global batch, so the buffers stay identical.
    key = jax.random.fold_in(key, jax.lax.axis_index(axis_name))
    gather = lambda a: None if a is None else jax.lax.all_gather(a, axis_name, tiled=True)
    everyone, everyones_labels = gather(fake), gather(labels)
  mixed, mixed_labels = history.mix(buffer, key, fake, fraction, labels if 'labels' in buffer else None)
  buffer = history.insert(buffer, everyone, everyones_labels if 'labels' in buffer else None)
  if mixed_labels is not None:
    batch = {**batch, 'fake_y': mixed_labels}
  return batch, mixed, buffer


def d_step(state: GANState, batch: Batch, *, loss: losses_lib.GANLoss, axis_name: str | None = None,
           replay_fraction: float = 0.0) -> tuple[GANState, Metrics]:
  """One discriminator update on `batch`, with the generator held fixed.

  With `replay_fraction` > 0 (and a buffer in the state), that fraction of D's fakes comes from past generations.
  """
  fake = jax.lax.stop_gradient(generate(state, state.g_params, batch)[0])
  if replay_fraction:
    batch, fake, buffer = replay_fakes(state, fake, batch, replay_fraction, axis_name)
    state = state.replace(replay=buffer)
  objective = functools.partial(discriminator_loss, state=state, batch=batch, fake=fake, loss=loss)
  (value, batch_stats), grads = jax.value_and_grad(objective, has_aux=True)(state.d_params)
  value, grads = mean_over_devices((value, grads), axis_name)
  updates, opt_state = state.d_tx.update(grads, state.d_opt_state, state.d_params)
  params = optax.apply_updates(state.d_params, updates)
  new_state = state.replace(d_params=params, d_opt_state=opt_state, d_batch_stats=batch_stats)
  return new_state, player_metrics('d', value, grads, updates, params)


def generator_objective(real_out: dict, fake_out: dict, batch: Batch, loss: losses_lib.GANLoss) -> jax.Array:
  """G's loss from D's outputs: adversarial or feature matching, plus the AC-GAN and InfoGAN terms."""
  if loss.g_objective == 'feature_matching':
    value = losses_lib.feature_matching_loss(real_out['hidden'][loss.feature_layer],
                                             fake_out['hidden'][loss.feature_layer])
  else:
    value = loss.g_loss(real_out['logits'], fake_out['logits'])
  if loss.aux_classifier:
    value += loss.aux_classifier * losses_lib.classification_loss(fake_out['class_logits'], batch['fake_y'])
  return value + code_loss(fake_out, batch, loss)


def generator_loss(g_params, state: GANState, batch: Batch, *, loss: losses_lib.GANLoss, unroll_steps: int = 0,
                   second_order: bool = True, remat: bool = False, axis_name: str | None = None,
                   unroll_loop: bool = False):
  """G's loss against the discriminator unrolled `unroll_steps` updates ahead; returns (loss, G's batch stats).

  The unrolled updates use the state's own discriminator optimizer on `batch` and are thrown away afterwards.
  With `second_order=False` the generator's samples enter the unroll through `stop_gradient`, which leaves only the
  gradient at the unrolled parameters (the paper's cheap approximation). `unroll_steps=0` is the ordinary GAN.
  """
  fake, g_batch_stats = generate(state, g_params, batch)
  fake_in_unroll = fake if second_order else jax.lax.stop_gradient(fake)

  def d_objective(d_params):
    return discriminator_loss(d_params, state, batch, fake_in_unroll, loss)[0]

  d_params = unroll_discriminator(d_objective, state.d_tx, state.d_params, state.d_opt_state, unroll_steps,
                                  remat=remat, axis_name=axis_name, unroll_loop=unroll_loop)
  real_out, fake_out, _ = discriminate(state, d_params, batch, fake)
  value = generator_objective(real_out, fake_out, batch, loss)
  if loss.historical_averaging:
    value += loss.historical_averaging * history.averaging_penalty(g_params, state.g_average)
  return value, g_batch_stats


def g_step(state: GANState, batch: Batch, *, loss: losses_lib.GANLoss, unroll_steps: int = 0,
           second_order: bool = True, remat: bool = False, axis_name: str | None = None,
           unroll_loop: bool = False) -> tuple[GANState, Metrics]:
  """One generator update on `generator_loss`, whose options it takes."""
  objective = functools.partial(generator_loss, state=state, batch=batch, loss=loss, unroll_steps=unroll_steps,
                                second_order=second_order, remat=remat, axis_name=axis_name,
                                unroll_loop=unroll_loop)
  (value, batch_stats), grads = jax.value_and_grad(objective, has_aux=True)(state.g_params)
  value, grads = mean_over_devices((value, grads), axis_name)
  updates, opt_state = state.g_tx.update(grads, state.g_opt_state, state.g_params)
  params = optax.apply_updates(state.g_params, updates)
  new_state = state.replace(g_params=params, g_opt_state=opt_state, g_batch_stats=batch_stats)
  return new_state, player_metrics('g', value, grads, updates, params)


def train_step(state: GANState, real: Batch, *, d_step_fn, g_step_fn, sample_noise, n_critic: int = 1,
               simultaneous: bool = True, same_minibatch: bool = True, ema_decay: float = 0.0,
               swap_every: int = 0, swap_steps: int = 0) -> tuple[GANState, Metrics]:
  """One training iteration: `n_critic` D steps (a `lax.scan`) and one G step; increments `state.step`.

  Args:
    state: the current state.
    real: the real data of the step: examples 'x' and labels 'y' (and the semi-supervised GAN's labelled batch
      'labelled_x', 'labelled_y'), each with a leading axis of `n_critic`, one batch per D step.
    d_step_fn: `d_step` with its options bound.
    g_step_fn: `g_step` with its options bound.
    sample_noise: key -> this device's noise for one batch: a dict with the latents 'z', the gradient penalty's
      interpolation weights 'eps', and the labels and codes G takes ('fake_y', 'code_cat', 'code_cont').
    n_critic: D steps per G step (Goodfellow's k).
    simultaneous: G's update is computed from the state before the D steps; otherwise after them.
    same_minibatch: G (and its unroll) uses the real batch and noise of the first D step; otherwise fresh noise with
      the first D step's real batch.
    ema_decay: the decay of the moving average of G's weights (0: none).
    swap_every, swap_steps: snapshot swaps (see `history.py`): in the first `swap_steps` steps of every
      `swap_every`, D trains against the state's older copy of G and G against the older copy of D; the copies are
      refreshed at the end of each swap window. 0: never.

  Returns:
    The new state and the metrics of both players (D's averaged over its steps).
  """
  keys = jax.random.split(noise_key(state.rng, state.step), n_critic + 1)
  d_batches = {**real, **jax.vmap(sample_noise)(keys[:n_critic])}
  g_noise = jax.tree.map(lambda x: x[0], d_batches) if same_minibatch else sample_noise(keys[n_critic])
  g_batch = {**g_noise, **jax.tree.map(lambda x: x[0], real)}

  swap = history.swapping(state.step, swap_every, swap_steps) if swap_every else None

  def against_old_g(state):  # The state D trains on: G's older copy during a swap window.
    if swap is None:
      return state
    return state.replace(g_params=history.select(swap, state.snapshots['g_params'], state.g_params),
                         g_batch_stats=history.select(swap, state.snapshots['g_batch_stats'], state.g_batch_stats))

  def against_old_d(state):
    if swap is None:
      return state
    return state.replace(d_params=history.select(swap, state.snapshots['d_params'], state.d_params),
                         d_batch_stats=history.select(swap, state.snapshots['d_batch_stats'], state.d_batch_stats))

  def run_g_step(state):  # G's update only: D's parameters and statistics are the state's own afterwards.
    g_state, g_metrics = g_step_fn(against_old_d(state), g_batch)
    return state.replace(g_params=g_state.g_params, g_opt_state=g_state.g_opt_state,
                         g_batch_stats=g_state.g_batch_stats), g_metrics

  if simultaneous:
    g_state, g_metrics = run_g_step(state)
  d_input = against_old_g(state)
  if n_critic == 1:  # Even a one-trip loop costs: XLA's CPU backend runs convolutions in loops ~20x slower.
    d_state, d_metrics = d_step_fn(d_input, jax.tree.map(lambda x: x[0], d_batches))
  else:  # Unrolled by XLA for the same reason; n_critic is small.
    d_state, d_metrics = jax.lax.scan(d_step_fn, d_input, d_batches, unroll=True)
    d_metrics = jax.tree.map(jnp.mean, d_metrics)
  d_state = d_state.replace(g_params=state.g_params, g_batch_stats=state.g_batch_stats)
  if simultaneous:
    new_state = d_state.replace(g_params=g_state.g_params, g_opt_state=g_state.g_opt_state,
                                g_batch_stats=g_state.g_batch_stats)
  else:
    new_state, g_metrics = run_g_step(d_state)
  if ema_decay:
    ema = optax.incremental_update(new_state.g_params, new_state.g_ema_params, step_size=1 - ema_decay)
    new_state = new_state.replace(g_ema_params=ema)
  new_state = update_history(new_state, state.step, swap_every, swap_steps)
  return new_state.replace(step=state.step + 1), {**d_metrics, **g_metrics}


def update_history(state: GANState, step: jax.Array, swap_every: int, swap_steps: int) -> GANState:
  """After step `step`'s updates: the running means of historical averaging, and the snapshots at the end of a
  swap window."""
  if state.g_average:
    state = state.replace(g_average=history.update_average(state.g_average, state.g_params, step + 1),
                          d_average=history.update_average(state.d_average, state.d_params, step + 1))
  if swap_every:
    refresh = step % swap_every == swap_steps - 1 if swap_steps else step % swap_every == swap_every - 1
    current = {'g_params': state.g_params, 'g_batch_stats': state.g_batch_stats,
               'd_params': state.d_params, 'd_batch_stats': state.d_batch_stats}
    state = state.replace(snapshots=history.select(refresh, current, state.snapshots))
  return state


def make_train_step(config, sample_noise: Callable[[jax.Array], Batch],
                    axis_name: str | None = None) -> Callable[[GANState, Batch], tuple[GANState, Metrics]]:
  """Binds the config's static choices into `train_step(state, real)`."""
  loss = losses_lib.loss_from_config(config)
  d_fn = functools.partial(d_step, loss=loss, axis_name=axis_name, replay_fraction=config.replay.fraction)
  g_fn = functools.partial(g_step, loss=loss, unroll_steps=config.unroll.steps,
                           second_order=config.unroll.second_order, remat=config.unroll.remat,
                           axis_name=axis_name, unroll_loop=config.unroll.unroll_loop)
  return functools.partial(train_step, d_step_fn=d_fn, g_step_fn=g_fn, sample_noise=sample_noise,
                           n_critic=config.train.n_critic,
                           simultaneous=config.train.update_order == 'simultaneous',
                           same_minibatch=config.unroll.same_minibatch, ema_decay=config.gen.ema_decay,
                           swap_every=config.replay.swap_every, swap_steps=config.replay.swap_steps)


def summarize(metrics: Metrics, first_step: jax.Array) -> Metrics:
  """Reduces per-step metrics (leading axis: step) on device: means, and the first step with a non-finite loss."""
  summary = jax.tree.map(jnp.mean, metrics)
  steps = first_step + jnp.arange(metrics['d_loss'].shape[0])
  never = jnp.iinfo(jnp.int32).max
  for name in ('d_loss', 'g_loss'):
    bad = jnp.where(jnp.isfinite(metrics[name]), never, steps)
    summary[f'{name}_first_nonfinite_step'] = jnp.min(bad)
  return summary


def make_multi_step(train_step_fn, sample_real: Callable[[GANState, Any], jax.Array], num_steps: int):
  """`num_steps` training iterations in one call (a `lax.scan`), real data drawn on device each step.

  Tiny models are dominated by dispatch; scanning over steps amortises it. Metrics come back reduced.

  Args:
    train_step_fn: `train_step` with its options bound.
    sample_real: (state, data arrays) -> this device's real data for the state's step ('x', 'y', ...), each with
      a leading `n_critic` axis.
    num_steps: iterations per call (static).

  Returns:
    `multi_step(state, data_arrays) -> (state, summary)`; `data_arrays` are the dataset's device-resident arrays.
  """
  def multi_step(state, data_arrays):
    def one_step(state, _):
      return train_step_fn(state, sample_real(state, data_arrays))

    first_step = state.step
    if num_steps == 1:  # No loop at all: convolutional models on CPU run much faster outside one.
      state, metrics = one_step(state, None)
      metrics = jax.tree.map(lambda x: x[None], metrics)
    else:
      state, metrics = jax.lax.scan(one_step, state, None, length=num_steps)
    return state, summarize(metrics, first_step)

  return multi_step
