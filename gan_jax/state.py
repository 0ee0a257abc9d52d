"""The whole training state as one pytree, and its creation from a config."""

import dataclasses
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan_jax import history, models, optim
from gan_jax import noise as noise_lib
from gan_jax.noise import NoiseSpec

REFERENCE_STREAM = 0x4EF  # G's reference noise (virtual batch norm) has its own key stream.

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
  noise_spec: NoiseSpec = flax.struct.field(pytree_node=False, default=NoiseSpec(latent_dim=1))
  # The stabilisation techniques' own state ({} when off); see `history.py` and virtual batch norm.
  g_average: PyTree = flax.struct.field(default_factory=dict)  # Historical averaging: mean of past g_params.
  d_average: PyTree = flax.struct.field(default_factory=dict)
  replay: PyTree = flax.struct.field(default_factory=dict)  # Experience replay's buffer of past fakes.
  snapshots: PyTree = flax.struct.field(default_factory=dict)  # Older copies of G and D to swap in.
  # Virtual batch norm's reference batches: real examples 'x' (and labels 'y') for D, G's noise for G.
  reference: PyTree = flax.struct.field(default_factory=dict)


def make_noise_spec(config: ml_collections.ConfigDict, num_classes: int) -> NoiseSpec:
  """What the config's generator takes: z, a class label when conditional (cGAN, AC-GAN), InfoGAN's codes."""
  return NoiseSpec(latent_dim=config.gen.latent_dim, latent_dist=config.gen.latent_dist,
                   num_classes=num_classes if config.cond.enabled else 0,
                   info_categories=config.info.categories, info_continuous=config.info.continuous)


def create_state(config: ml_collections.ConfigDict, key: jax.Array, data_shape: tuple[int, ...],
                 axis_name: str | None = None, num_classes: int = 0,
                 reference_batch: dict[str, jax.Array] | None = None) -> GANState:
  """Initialises both players and their optimizers from `config`; pure in `key`.

  Args:
    config: the experiment config (its `gen`, `disc`, `optim`, `cond`, `info` and `loss` sections are read).
    key: a typed PRNG key (`jax.random.key`).
    data_shape: the shape of one real example, without the batch axis.
    axis_name: the pmap axis the networks' batch statistics reduce over, when run under pmap.
    num_classes: the dataset's classes (conditional models and class heads need them).
    reference_batch: virtual batch norm's fixed real examples {'x', 'y'}, drawn once by the caller; needed when a
      norm is 'virtual_batch'.

  Returns:
    The state at step 0.
  """
  noise_spec = make_noise_spec(config, num_classes)
  heads = models.head_options(config, num_classes, axis_name)
  g_reference = config.train.reference_batch_size if config.gen.norm == 'virtual_batch' else 0
  d_reference = config.train.reference_batch_size if config.disc.norm == 'virtual_batch' else 0
  generator = models.make_generator(config.gen, data_shape, axis_name, g_reference)
  discriminator = models.make_discriminator(config.disc, data_shape, axis_name, heads, d_reference)
  g_tx = optim.make_optimizer(config.optim.g)
  d_tx = optim.make_optimizer(config.optim.d)
  g_key, d_key, rng = jax.random.split(key, 3)
  reference = {}
  if g_reference:
    reference['noise'] = noise_lib.sample_noise(jax.random.fold_in(rng, REFERENCE_STREAM), g_reference, noise_spec)
  if d_reference:
    if reference_batch is None:
      raise ValueError('config.disc.norm: virtual_batch needs a reference batch of real examples')
    reference['x'], reference['y'] = reference_batch['x'], reference_batch['y']
  g_vars = generator.init(g_key, jnp.zeros((g_reference + 1, noise_spec.input_dim)), train=False)
  # Initialised outside pmap: a copy without the device axis (minibatch discrimination gathers over it) has the
  # same parameters.
  local_discriminator = models.make_discriminator(config.disc, data_shape, None,
                                                  dataclasses.replace(heads, axis_name=None), d_reference)
  d_vars = local_discriminator.init(d_key, jnp.zeros((d_reference + 1, *data_shape)),
                                    jnp.zeros((d_reference + 1,), jnp.int32), train=False)
  copy = lambda tree: jax.tree.map(jnp.copy, tree)  # Own buffers: the state is donated, each buffer only once.
  history_state = {}
  if config.loss.historical_averaging:
    history_state.update(g_average=copy(g_vars['params']), d_average=copy(d_vars['params']))
  if config.replay.fraction:
    history_state['replay'] = history.init_buffer(config.replay.capacity, data_shape,
                                                  with_labels=noise_spec.num_classes > 0)
  if config.replay.swap_every:
    history_state['snapshots'] = copy({'g_params': g_vars['params'], 'g_batch_stats': g_vars.get('batch_stats', {}),
                                       'd_params': d_vars['params'], 'd_batch_stats': d_vars.get('batch_stats', {})})
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
      noise_spec=noise_spec,
      reference=reference,
      **history_state,
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
