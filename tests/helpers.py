"""Small shared pieces of the tests: a tiny GAN state and batch, and the objectives as functions of parameters."""

import jax

from gan_jax import objectives
from gan_jax.config import base_config
from gan_jax.data import make_dataset
from gan_jax.state import create_state


def tiny_config(**unroll):
  """The ring experiment with small networks (the losses and optimizers of the paper)."""
  config = base_config()
  config.gen.hidden = (16, 16)
  config.gen.latent_dim = 8
  config.disc.hidden = (16,)
  config.optim.d.learning_rate = 0.05  # Large enough that k updates move D visibly.
  config.train.batch_size = 32
  config.unroll.update(unroll)
  return config


def tiny_state_and_batch(config, seed=0):
  dataset = make_dataset(config.data)
  state = create_state(config, jax.random.key(seed), dataset.shape)
  kx, kz = jax.random.split(jax.random.key(seed + 100))
  batch = {'x': dataset.draw(kx, config.train.batch_size),
           'z': jax.random.normal(kz, (config.train.batch_size, config.gen.latent_dim))}
  return state, batch


def comparable(state):
  """The state with its typed key as raw uint32 data, so that numpy can compare every leaf."""
  return state.replace(rng=jax.random.key_data(state.rng))


def d_loss(d_params, state, batch, fake, objective):
  """D's objective as a function of its parameters (the value `d_step` differentiates)."""
  return objectives.discriminator_objective(state.with_params({'d': d_params}), batch, fake, objective)[0]


def g_loss(g_params, state, batch, objective, **unroll):
  """G's objective as a function of its parameters (the value `g_step` differentiates)."""
  return objectives.generator_objective(state.with_params({'g': g_params}), batch, objective, **unroll)[0]


def generate(state, batch, params=None):
  """G's samples for `batch`'s noise, in training mode (as the steps draw them)."""
  return objectives.generate(state, batch, params=params)[0]


def load_family_state(workdir, config):
  """The latest state saved in a run directory, restored into the template of `config.model`'s family."""
  import os
  import flax.serialization
  import orbax.checkpoint as ocp
  from gan_jax import families
  template = families.get(config.model).create_state(config, jax.random.key(0), make_dataset(config.data))
  manager = ocp.CheckpointManager(os.path.join(workdir, 'checkpoints'))
  restored = manager.restore(manager.latest_step(),
                             args=ocp.args.StandardRestore(flax.serialization.to_state_dict(template)))
  return flax.serialization.from_state_dict(template, restored)


def run_on(config, mode, num_calls=2, steps_per_call=3):
  """`config.model`'s family trained `num_calls` x `steps_per_call` steps by the loop's compiled function, on one
  device ('single') or all ('mesh'); returns this process's copy of the state and the last call's summary."""
  from gan_jax import families, parallel as parallel_lib
  from gan_jax.train import make_multi_step_fn, training_arrays
  parallel = parallel_lib.make_data_parallel(mode)
  dataset = make_dataset(config.data)
  family = families.get(config.model)
  state = family.create_state(config, jax.random.key(0), dataset)
  sharding = parallel.state_sharding(state, family.batch_extras)
  compiled = make_multi_step_fn(config, dataset, parallel, sharding)
  device_state = parallel.put(state, sharding)
  arrays = parallel.put(training_arrays(config, dataset))
  for _ in range(num_calls):
    device_state, summary = compiled(steps_per_call)(device_state, arrays)
  return jax.device_get(parallel.get(device_state)), jax.device_get(parallel.get(summary))


def adam_by_hand(params, grads, m, v, t, opt):
  """One bias-corrected Adam step (Kingma & Ba) in float64 numpy, written out as the paper states it: the reference
  the families' optax updates are checked against. `t` counts from 0; returns (params, m, v)."""
  import numpy as np
  g = jax.tree.map(lambda a: np.asarray(a, np.float64), grads)
  m = jax.tree.map(lambda m, g: opt.b1 * m + (1 - opt.b1) * g, m, g)
  v = jax.tree.map(lambda v, g: opt.b2 * v + (1 - opt.b2) * g**2, v, g)
  params = jax.tree.map(
      lambda p, m, v: p - opt.learning_rate * (m / (1 - opt.b1**(t + 1)))
      / (np.sqrt(v / (1 - opt.b2**(t + 1)) + opt.eps_root) + opt.eps), params, m, v)
  return params, m, v


def preempt_after(monkeypatch, chunks):
  """Makes the training loop see a SIGTERM once its `chunks`-th compiled call is done, as a preempted run does: it
  saves that step's checkpoint and raises `train.PreemptedError`. For runs whose config cannot simply be shortened
  (a phase schedule longer than the shorter run is refused)."""
  import signal
  from gan_jax import train

  class PreemptedFlag(train._SigtermFlag):
    checks = 0

    @property
    def raised(self):  # The loop reads it once after each call.
      type(self).checks += 1
      return signal.SIGTERM if type(self).checks >= chunks else 0

    @raised.setter
    def raised(self, value):
      del value

  monkeypatch.setattr(train, '_SigtermFlag', PreemptedFlag)


def set_field(config, field: str, value) -> None:
  """Sets the dotted config field `field` ('optim.g.learning_rate', or a top-level 'seed') to `value`."""
  section, _, key = field.rpartition('.')
  node = config
  for part in filter(None, section.split('.')):
    node = node[part]
  node[key] = value
