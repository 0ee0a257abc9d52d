"""The whole training state as one pytree, and its creation from a config."""

from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan_jax import models, optim

PyTree = Any


@flax.struct.dataclass
class GANState:
  """Everything that changes during training, plus the static pieces needed to apply it (as in Flax's TrainState).

  The networks and optimizers are static (not leaves): a checkpoint holds arrays only, and a step function needs
  nothing beyond the state and the batch.
  """
  step: jax.Array
  g_params: PyTree
  d_params: PyTree
  g_opt_state: PyTree
  d_opt_state: PyTree
  g_batch_stats: PyTree
  d_batch_stats: PyTree
  rng: jax.Array  # A typed key; each step's randomness is fold_in(rng, step), so a resumed run draws the same.
  g_ema_params: PyTree  # Exponential moving average of g_params when config.gen.ema_decay > 0, else {}.
  generator: nn.Module = flax.struct.field(pytree_node=False)
  discriminator: nn.Module = flax.struct.field(pytree_node=False)
  g_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)


def create_state(config: ml_collections.ConfigDict, key: jax.Array, data_shape: tuple[int, ...],
                 axis_name: str | None = None) -> GANState:
  """Initialises both players and their optimizers from `config`; pure in `key`.

  Args:
    config: the experiment config (its `gen`, `disc` and `optim` sections are read).
    key: a typed PRNG key (`jax.random.key`).
    data_shape: the shape of one real example, without the batch axis.
    axis_name: the pmap axis the networks' batch statistics reduce over, when run under pmap.

  Returns:
    The state at step 0.
  """
  generator = models.make_generator(config.gen, data_shape, axis_name)
  discriminator = models.make_discriminator(config.disc, data_shape, axis_name)
  g_tx = optim.make_optimizer(config.optim.g)
  d_tx = optim.make_optimizer(config.optim.d)
  g_key, d_key, rng = jax.random.split(key, 3)
  g_vars = generator.init(g_key, jnp.zeros((1, config.gen.latent_dim)), train=False)
  d_vars = discriminator.init(d_key, jnp.zeros((1, *data_shape)), train=False)
  return GANState(
      step=jnp.zeros((), jnp.int32),
      g_params=g_vars['params'],
      d_params=d_vars['params'],
      g_opt_state=g_tx.init(g_vars['params']),
      d_opt_state=d_tx.init(d_vars['params']),
      g_batch_stats=g_vars.get('batch_stats', {}),
      d_batch_stats=d_vars.get('batch_stats', {}),
      rng=rng,
      # A copy, not the same buffers: the state is donated, and a buffer can be donated only once.
      g_ema_params=jax.tree.map(jnp.copy, g_vars['params']) if config.gen.ema_decay > 0 else {},
      generator=generator,
      discriminator=discriminator,
      g_tx=g_tx,
      d_tx=d_tx,
  )


def data_key(rng: jax.Array, step: jax.Array) -> jax.Array:
  """The key of a step's real data (for datasets drawn afresh each step)."""
  return jax.random.fold_in(jax.random.fold_in(rng, step), 0)


def noise_key(rng: jax.Array, step: jax.Array) -> jax.Array:
  """The key of a step's latents and other noise."""
  return jax.random.fold_in(jax.random.fold_in(rng, step), 1)


def sampling_params(state: GANState) -> tuple[PyTree, PyTree]:
  """The generator weights to sample and evaluate with: the moving average when there is one."""
  return (state.g_ema_params or state.g_params), state.g_batch_stats
