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

from gan_jax import losses as losses_lib
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


def discriminate(state: GANState, d_params, real: jax.Array, fake: jax.Array):
  """D's logits on real and fake, run as two separate batches (separate batch-norm statistics, as in DCGAN)."""
  real_logits, batch_stats = apply_model(state.discriminator, d_params, state.d_batch_stats, real, train=True)
  fake_logits, batch_stats = apply_model(state.discriminator, d_params, batch_stats, fake, train=True)
  return real_logits, fake_logits, batch_stats


def discriminator_loss(d_params, state: GANState, batch: Batch, fake: jax.Array, loss: losses_lib.GANLoss):
  """D's loss on real `batch['x']` and `fake`, with the gradient penalty when the loss has one.

  Returns:
    (loss, D's batch stats after the call).
  """
  real_logits, fake_logits, batch_stats = discriminate(state, d_params, batch['x'], fake)
  value = loss.d_loss(real_logits, fake_logits)
  if loss.gradient_penalty:
    critic = lambda x: apply_model(state.discriminator, d_params, state.d_batch_stats, x, train=True)[0]
    value += loss.gradient_penalty * losses_lib.gradient_penalty(critic, batch['x'], fake, batch['eps'])
  return value, batch_stats


def d_step(state: GANState, batch: Batch, *, loss: losses_lib.GANLoss,
           axis_name: str | None = None) -> tuple[GANState, Metrics]:
  """One discriminator update on `batch`, with the generator held fixed."""
  fake, _ = apply_model(state.generator, state.g_params, state.g_batch_stats, batch['z'], train=True)
  fake = jax.lax.stop_gradient(fake)
  objective = functools.partial(discriminator_loss, state=state, batch=batch, fake=fake, loss=loss)
  (value, batch_stats), grads = jax.value_and_grad(objective, has_aux=True)(state.d_params)
  value, grads = mean_over_devices((value, grads), axis_name)
  updates, opt_state = state.d_tx.update(grads, state.d_opt_state, state.d_params)
  params = optax.apply_updates(state.d_params, updates)
  new_state = state.replace(d_params=params, d_opt_state=opt_state, d_batch_stats=batch_stats)
  return new_state, player_metrics('d', value, grads, updates, params)


def generator_loss(g_params, state: GANState, batch: Batch, *, loss: losses_lib.GANLoss, unroll_steps: int = 0,
                   second_order: bool = True, remat: bool = False, axis_name: str | None = None,
                   unroll_loop: bool = False):
  """G's loss against the discriminator unrolled `unroll_steps` updates ahead; returns (loss, G's batch stats).

  The unrolled updates use the state's own discriminator optimizer on `batch` and are thrown away afterwards.
  With `second_order=False` the generator's samples enter the unroll through `stop_gradient`, which leaves only the
  gradient at the unrolled parameters (the paper's cheap approximation). `unroll_steps=0` is the ordinary GAN.
  """
  fake, g_batch_stats = apply_model(state.generator, g_params, state.g_batch_stats, batch['z'], train=True)
  fake_in_unroll = fake if second_order else jax.lax.stop_gradient(fake)

  def d_objective(d_params):
    return discriminator_loss(d_params, state, batch, fake_in_unroll, loss)[0]

  d_params = unroll_discriminator(d_objective, state.d_tx, state.d_params, state.d_opt_state, unroll_steps,
                                  remat=remat, axis_name=axis_name)
  real_logits, fake_logits, _ = discriminate(state, d_params, batch['x'], fake)
  return loss.g_loss(real_logits, fake_logits), g_batch_stats


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


def train_step(state: GANState, real: jax.Array, *, d_step_fn, g_step_fn, sample_noise, n_critic: int = 1,
               simultaneous: bool = True, same_minibatch: bool = True,
               ema_decay: float = 0.0) -> tuple[GANState, Metrics]:
  """One training iteration: `n_critic` D steps (a `lax.scan`) and one G step; increments `state.step`.

  Args:
    state: the current state.
    real: real examples with a leading axis of `n_critic`, one batch per D step.
    d_step_fn: `d_step` with its options bound.
    g_step_fn: `g_step` with its options bound.
    sample_noise: key -> this device's noise for one batch: a dict with the latents 'z' and the gradient penalty's
      interpolation weights 'eps'.
    n_critic: D steps per G step (Goodfellow's k).
    simultaneous: G's update is computed from the state before the D steps; otherwise after them.
    same_minibatch: G (and its unroll) uses the real batch and noise of the first D step; otherwise fresh noise with
      the first D step's real batch.
    ema_decay: the decay of the moving average of G's weights (0: none).

  Returns:
    The new state and the metrics of both players (D's averaged over its steps).
  """
  keys = jax.random.split(noise_key(state.rng, state.step), n_critic + 1)
  d_batches = {'x': real, **jax.vmap(sample_noise)(keys[:n_critic])}
  g_noise = jax.tree.map(lambda x: x[0], d_batches) if same_minibatch else sample_noise(keys[n_critic])
  g_batch = {**g_noise, 'x': real[0]}

  if simultaneous:
    g_state, g_metrics = g_step_fn(state, g_batch)
  if n_critic == 1:  # Even a one-trip loop costs: XLA's CPU backend runs convolutions in loops ~20x slower.
    d_state, d_metrics = d_step_fn(state, jax.tree.map(lambda x: x[0], d_batches))
  else:  # Unrolled by XLA for the same reason; n_critic is small.
    d_state, d_metrics = jax.lax.scan(d_step_fn, state, d_batches, unroll=True)
    d_metrics = jax.tree.map(jnp.mean, d_metrics)
  if simultaneous:
    new_state = d_state.replace(g_params=g_state.g_params, g_opt_state=g_state.g_opt_state,
                                g_batch_stats=g_state.g_batch_stats)
  else:
    new_state, g_metrics = g_step_fn(d_state, g_batch)
  if ema_decay:
    ema = optax.incremental_update(new_state.g_params, new_state.g_ema_params, step_size=1 - ema_decay)
    new_state = new_state.replace(g_ema_params=ema)
  return new_state.replace(step=state.step + 1), {**d_metrics, **g_metrics}


def make_train_step(config, sample_noise: Callable[[jax.Array], Batch],
                    axis_name: str | None = None) -> Callable[[GANState, jax.Array], tuple[GANState, Metrics]]:
  """Binds the config's static choices into `train_step(state, real)`."""
  loss = losses_lib.make_loss(config.loss.name, config.loss.label_smoothing, config.loss.gradient_penalty)
  d_fn = functools.partial(d_step, loss=loss, axis_name=axis_name)
  g_fn = functools.partial(g_step, loss=loss, unroll_steps=config.unroll.steps,
                           second_order=config.unroll.second_order, remat=config.unroll.remat,
                           axis_name=axis_name, unroll_loop=config.unroll.unroll_loop)
  return functools.partial(train_step, d_step_fn=d_fn, g_step_fn=g_fn, sample_noise=sample_noise,
                           n_critic=config.train.n_critic,
                           simultaneous=config.train.update_order == 'simultaneous',
                           same_minibatch=config.unroll.same_minibatch, ema_decay=config.gen.ema_decay)


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
    sample_real: (state, data arrays) -> this device's real batches for the state's step, with a leading
      `n_critic` axis.
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
