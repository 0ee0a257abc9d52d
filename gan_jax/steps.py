"""Pure step functions: one discriminator update, one generator update, and their composition.

Every function takes the state and a batch and returns the new state and a dict of scalar metrics. Static choices
(the loss, k, the device axis) are bound with `functools.partial` before `jit` or `pmap`; see `make_train_step`.
A batch is a dict with the real examples under 'x' and the latents under 'z'.
"""

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from gan_jax import losses as losses_lib
from gan_jax.models import apply_model
from gan_jax.state import GANState, step_keys
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


def d_step(state: GANState, batch: Batch, *, loss: losses_lib.GANLoss,
           axis_name: str | None = None) -> tuple[GANState, Metrics]:
  """One discriminator update on `batch`, with the generator held fixed."""
  fake, _ = apply_model(state.generator, state.g_params, state.g_batch_stats, batch['z'], train=True)
  fake = jax.lax.stop_gradient(fake)

  def objective(d_params):
    real_logits, fake_logits, batch_stats = discriminate(state, d_params, batch['x'], fake)
    return loss.d_loss(real_logits, fake_logits), batch_stats

  (value, batch_stats), grads = jax.value_and_grad(objective, has_aux=True)(state.d_params)
  value, grads = mean_over_devices((value, grads), axis_name)
  updates, opt_state = state.d_tx.update(grads, state.d_opt_state, state.d_params)
  params = optax.apply_updates(state.d_params, updates)
  new_state = state.replace(d_params=params, d_opt_state=opt_state, d_batch_stats=batch_stats)
  return new_state, player_metrics('d', value, grads, updates, params)


def generator_loss(g_params, state: GANState, batch: Batch, *, loss: losses_lib.GANLoss, unroll_steps: int = 0,
                   second_order: bool = True, remat: bool = False, axis_name: str | None = None):
  """G's loss against the discriminator unrolled `unroll_steps` updates ahead; returns (loss, G's batch stats).

  The unrolled updates use the state's own discriminator optimizer on `batch` and are thrown away afterwards.
  With `second_order=False` the generator's samples enter the unroll through `stop_gradient`, which leaves only the
  gradient at the unrolled parameters (the paper's cheap approximation). `unroll_steps=0` is the ordinary GAN.
  """
  fake, g_batch_stats = apply_model(state.generator, g_params, state.g_batch_stats, batch['z'], train=True)
  fake_in_unroll = fake if second_order else jax.lax.stop_gradient(fake)

  def d_objective(d_params):
    real_logits, fake_logits, _ = discriminate(state, d_params, batch['x'], fake_in_unroll)
    return loss.d_loss(real_logits, fake_logits)

  d_params = unroll_discriminator(d_objective, state.d_tx, state.d_params, state.d_opt_state, unroll_steps,
                                  remat=remat, axis_name=axis_name)
  real_logits, fake_logits, _ = discriminate(state, d_params, batch['x'], fake)
  return loss.g_loss(real_logits, fake_logits), g_batch_stats


def g_step(state: GANState, batch: Batch, *, loss: losses_lib.GANLoss, unroll_steps: int = 0,
           second_order: bool = True, remat: bool = False,
           axis_name: str | None = None) -> tuple[GANState, Metrics]:
  """One generator update on `generator_loss`, whose options it takes."""
  objective = functools.partial(generator_loss, state=state, batch=batch, loss=loss, unroll_steps=unroll_steps,
                                second_order=second_order, remat=remat, axis_name=axis_name)
  (value, batch_stats), grads = jax.value_and_grad(objective, has_aux=True)(state.g_params)
  value, grads = mean_over_devices((value, grads), axis_name)
  updates, opt_state = state.g_tx.update(grads, state.g_opt_state, state.g_params)
  params = optax.apply_updates(state.g_params, updates)
  new_state = state.replace(g_params=params, g_opt_state=opt_state, g_batch_stats=batch_stats)
  return new_state, player_metrics('g', value, grads, updates, params)


def train_step(state: GANState, real: jax.Array, *, d_step_fn, g_step_fn, sample_latents, n_critic: int = 1,
               simultaneous: bool = True, same_minibatch: bool = True) -> tuple[GANState, Metrics]:
  """One training iteration: `n_critic` D steps (a `lax.scan`) and one G step; increments `state.step`.

  Args:
    state: the current state.
    real: real examples with a leading axis of `n_critic`, one batch per D step.
    d_step_fn: `d_step` with its options bound.
    g_step_fn: `g_step` with its options bound.
    sample_latents: key -> this device's latents for one batch.
    n_critic: D steps per G step (Goodfellow's k).
    simultaneous: G's update is computed from the state before the D steps; otherwise after them.
    same_minibatch: G (and its unroll) uses the real batch and latents of the first D step; otherwise fresh
      latents with the first D step's real batch.

  Returns:
    The new state and the metrics of both players (D's averaged over its steps).
  """
  _, noise_key = step_keys(state)
  keys = jax.random.split(noise_key, n_critic + 1)
  d_latents = jax.vmap(sample_latents)(keys[:n_critic])
  g_latents = d_latents[0] if same_minibatch else sample_latents(keys[n_critic])
  g_batch = {'x': real[0], 'z': g_latents}

  if simultaneous:
    g_state, g_metrics = g_step_fn(state, g_batch)
  d_state, d_metrics = jax.lax.scan(d_step_fn, state, {'x': real, 'z': d_latents})
  d_metrics = jax.tree.map(jnp.mean, d_metrics)
  if simultaneous:
    new_state = d_state.replace(g_params=g_state.g_params, g_opt_state=g_state.g_opt_state,
                                g_batch_stats=g_state.g_batch_stats)
  else:
    new_state, g_metrics = g_step_fn(d_state, g_batch)
  return new_state.replace(step=state.step + 1), {**d_metrics, **g_metrics}


def make_train_step(config, sample_latents: Callable[[jax.Array], jax.Array],
                    axis_name: str | None = None) -> Callable[[GANState, jax.Array], tuple[GANState, Metrics]]:
  """Binds the config's static choices into `train_step(state, real)`."""
  loss = losses_lib.make_loss(config.loss.name, config.loss.label_smoothing)
  d_fn = functools.partial(d_step, loss=loss, axis_name=axis_name)
  g_fn = functools.partial(g_step, loss=loss, unroll_steps=config.unroll.steps,
                           second_order=config.unroll.second_order, remat=config.unroll.remat,
                           axis_name=axis_name)
  return functools.partial(train_step, d_step_fn=d_fn, g_step_fn=g_fn, sample_latents=sample_latents,
                           n_critic=config.train.n_critic,
                           simultaneous=config.train.update_order == 'simultaneous',
                           same_minibatch=config.unroll.same_minibatch)


def summarize(metrics: Metrics, first_step: jax.Array) -> Metrics:
  """Reduces per-step metrics (leading axis: step) on device: means, and the first step with a non-finite loss."""
  summary = jax.tree.map(jnp.mean, metrics)
  steps = first_step + jnp.arange(metrics['d_loss'].shape[0])
  never = jnp.iinfo(jnp.int32).max
  for name in ('d_loss', 'g_loss'):
    bad = jnp.where(jnp.isfinite(metrics[name]), never, steps)
    summary[f'{name}_first_nonfinite_step'] = jnp.min(bad)
  return summary


def make_multi_step(train_step_fn, sample_real: Callable[[jax.Array], jax.Array], num_steps: int):
  """`num_steps` training iterations in one call (a `lax.scan`), real data drawn on device each step.

  Tiny models are dominated by dispatch; scanning over steps amortises it. Metrics come back reduced.

  Args:
    train_step_fn: `train_step` with its options bound.
    sample_real: data key -> this device's real batches, with a leading `n_critic` axis.
    num_steps: iterations per call (static).

  Returns:
    `multi_step(state) -> (state, summary)`.
  """
  def one_step(state, _):
    data_key, _ = step_keys(state)
    return train_step_fn(state, sample_real(data_key))

  def multi_step(state):
    first_step = state.step
    state, metrics = jax.lax.scan(one_step, state, None, length=num_steps)
    return state, summarize(metrics, first_step)

  return multi_step
