"""The GAN family (`config.model='gan'`, the default): a generator 'g' and a discriminator 'd' (see `steps.py`)."""

import jax
import jax.numpy as jnp
import ml_collections

from gan_jax import noise as noise_lib
from gan_jax import steps, validation
from gan_jax.evaluation.evaluator import make_evaluator
from gan_jax.families import Family, real_sampler
from gan_jax.rng import REFERENCE_STREAM
from gan_jax.state import TrainState, create_state, make_noise_spec


def reference_batch(config: ml_collections.ConfigDict, dataset) -> dict[str, jax.Array] | None:
  """Virtual batch norm's real reference batch, drawn once from the run's seed (None when no norm needs it)."""
  if config.disc.norm != 'virtual_batch':
    return None
  key = jax.random.fold_in(jax.random.key(config.seed), REFERENCE_STREAM)
  arrays = jax.tree.map(jnp.asarray, dataset.host_arrays())
  return dataset.sample(arrays, key, jnp.zeros((), jnp.int32), config.train.reference_batch_size)


def create_gan_state(config: ml_collections.ConfigDict, key: jax.Array, dataset) -> TrainState:
  """The GAN `config` describes at step 0, for `dataset`'s shape and classes (`state.create_state`)."""
  return create_state(config, key, dataset.shape, num_classes=dataset.num_classes,
                      reference_batch=reference_batch(config, dataset))


def make_noise_sampler(config: ml_collections.ConfigDict, dataset, parallel):
  """`sample_noise(key) -> {'z', 'eps', ...}` (see `noise.sample_noise`), sharded over the devices under a mesh."""
  spec = make_noise_spec(config, dataset.num_classes)
  batch = config.train.batch_size

  def sample_noise(key):
    noise = noise_lib.sample_noise(key, batch, spec)
    noise['eps'] = jax.random.uniform(jax.random.fold_in(key, 1), (batch,))  # Gradient-penalty interpolation.
    return jax.tree.map(parallel.local_share, noise)

  return sample_noise


def make_gan_train_step(config: ml_collections.ConfigDict, dataset, parallel):
  """The config's D and G updates bound into `train_step(state, real)`, and the real-data sampler."""
  sample_noise = make_noise_sampler(config, dataset, parallel)
  return steps.make_train_step(config, sample_noise), real_sampler(config, dataset, parallel)


FAMILY = Family(validate=validation.validate_gan, create_state=create_gan_state,
                make_train_step=make_gan_train_step, make_evaluator=make_evaluator, loss_names=('d_loss', 'g_loss'))
