"""jit over a mesh of 8 CPU devices computes what one device computes on the same global batch."""

import jax
import numpy as np
import pytest

from gan_jax import data, parallel as parallel_lib
from gan_jax.state import create_state
from gan_jax.train import make_multi_step_fn
from tests.helpers import comparable, tiny_config


def run(config, mode, num_calls=2, steps_per_call=3, model_shards=1, keep=None):
  parallel = parallel_lib.make_data_parallel(mode, model_shards)
  dataset = data.make_dataset(config.data)
  state = create_state(config, jax.random.key(0), dataset.shape)
  sharding = parallel.state_sharding(state)
  compiled = make_multi_step_fn(config, dataset, parallel, sharding)
  device_state = parallel.put(state, sharding)
  data_arrays = parallel.put(dataset.host_arrays())
  for _ in range(num_calls):
    device_state, summary = compiled(steps_per_call)(device_state, data_arrays)
  if keep is not None:
    keep.update(device_state=device_state, parallel=parallel, sharding=sharding)
  return jax.device_get(parallel.get(device_state)), jax.device_get(parallel.get(summary))


@pytest.fixture(scope='module')
def single_run():
  return run(tiny_config(steps=3), 'single')


def test_eight_devices_are_available():
  assert jax.device_count() == 8


def test_mesh_matches_one_device(single_run):
  state, summary = run(tiny_config(steps=3), 'mesh')
  expected_state, expected_summary = single_run
  assert int(state.step) == int(expected_state.step) == 6
  for name in ('g', 'd'):
    for part in ('params', 'opt_state'):
      jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6),
                   getattr(state.nets[name], part), getattr(expected_state.nets[name], part))
  for name in ('d_loss', 'g_loss', 'g_grad_norm'):
    np.testing.assert_allclose(summary[name], expected_summary[name], rtol=1e-4)


def test_state_sharded_over_a_model_axis_matches_one_device_and_checkpoints(single_run, tmp_path):
  from gan_jax import checkpoint
  kept = {}
  state, summary = run(tiny_config(steps=3), 'mesh', model_shards=2, keep=kept)
  expected_state, expected_summary = single_run
  for name in ('g', 'd'):
    for part in ('params', 'opt_state'):
      jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6),
                   getattr(state.nets[name], part), getattr(expected_state.nets[name], part))
  np.testing.assert_allclose(summary['g_loss'], expected_summary['g_loss'], rtol=1e-4)
  # The arrays really are split: D's first kernel [2, 16] over its 16 columns, one half per 'model' device.
  kernel = kept['device_state'].nets['d'].params['Dense_0']['kernel']
  assert kernel.sharding.spec == parallel_lib.P(None, parallel_lib.MODEL_AXIS)
  assert {shard.data.shape for shard in kernel.addressable_shards} == {(2, 8)}
  assert kept['device_state'].step.sharding.is_fully_replicated  # Scalars have nothing to split.
  # A checkpoint of the sharded state restores into the same shardings with the same values.
  manager = checkpoint.make_manager(str(tmp_path / 'checkpoints'), 2)
  checkpoint.save(manager, kept['device_state'])
  manager.wait_until_finished()
  restored = checkpoint.restore_latest(checkpoint.make_manager(str(tmp_path / 'checkpoints'), 2), state,
                                       kept['sharding'])
  assert restored.nets['d'].params['Dense_0']['kernel'].sharding.spec == kernel.sharding.spec
  jax.tree.map(np.testing.assert_array_equal, comparable(kept['parallel'].get(restored)), comparable(state))


def test_per_device_minibatch_discrimination_reaches_the_training_step():
  # The training loop sets the mesh, so scope 'device' compares within each device's 4 of the 32 examples: the run
  # differs from the global comparison on the mesh, while on one device both scopes are the same computation.
  def config(scope):
    c = tiny_config(steps=0)
    c.disc.minibatch_kernels, c.disc.minibatch_kernel_dim, c.disc.minibatch_scope = 2, 3, scope
    return c

  kernel = lambda result: result[0].nets['d'].params['heads']['logit']['kernel']
  on_mesh = {scope: kernel(run(config(scope), 'mesh', num_calls=1)) for scope in ('global', 'device')}
  assert np.abs(on_mesh['device'] - on_mesh['global']).max() > 1e-6
  single = {scope: kernel(run(config(scope), 'single', num_calls=1)) for scope in ('global', 'device')}
  np.testing.assert_array_equal(single['device'], single['global'])
  np.testing.assert_allclose(on_mesh['global'], single['global'], rtol=2e-4, atol=2e-6)


def test_model_shards_must_divide_the_devices():
  from gan_jax.config import ConfigError
  with pytest.raises(ConfigError, match='config.parallel.model_shards: got 3; must divide the 8 devices'):
    parallel_lib.make_data_parallel('mesh', 3)
  with pytest.raises(ConfigError, match='config.parallel.model_shards: got 2; sharding the state needs'):
    parallel_lib.make_data_parallel('single', 2)


def test_mesh_devices_hold_different_shares_of_the_batch():
  # If every device held the whole batch the test above would still pass; the batch must be split over them.
  parallel = parallel_lib.make_data_parallel('mesh')
  x = np.arange(64, dtype=np.float32).reshape(64, 1)
  sharded = jax.jit(parallel.local_share)(x)
  shards = sorted(sharded.addressable_shards, key=lambda shard: shard.index[0].start)
  assert len(shards) == 8 and all(shard.data.shape == (8, 1) for shard in shards)
  np.testing.assert_array_equal(np.concatenate([np.asarray(shard.data) for shard in shards]), x)


def _dcgan_on_digits(data_dir):
  from gan_jax.config import dcgan_config, smoke
  config = smoke(dcgan_config())
  config.data.data_dir = str(data_dir)
  config.data.resolution = 8
  config.gen.base_channels = config.disc.base_channels = 4
  config.gen.latent_dim = 8
  config.train.batch_size = 16
  return config


def _structured(config, variant):
  # 'batch_norm' is the plain DCGAN: its batch statistics must cover the global batch, or 8 devices would normalise
  # 8 small batches and diverge from one device.
  if variant == 'conditional_ac_info':  # Labels through G, D's projection, the AC-GAN head and InfoGAN's codes.
    config.cond.enabled = True
    config.cond.disc = 'projection'
    config.loss.d.aux_classifier = config.loss.g.aux_classifier = 1.0
    config.loss.d.info_categorical = config.loss.g.info_categorical = 1.0
    config.loss.d.info_continuous = config.loss.g.info_continuous = 0.1
    config.info.categories = 3
    config.info.continuous = 2
  elif variant == 'virtual_batch_norm':  # Per-example statistics: exact per device with no communication.
    config.gen.norm = config.disc.norm = 'virtual_batch'
    config.train.reference_batch_size = 4
  return config


# CI runs the conditional variant, the same batch-normed DCGAN with more on it; virtual batch norm's independence of
# the other examples (so no communication) is checked in test_stabilizing_layers.
@pytest.mark.parametrize('variant', [pytest.param('batch_norm', marks=pytest.mark.slow), 'conditional_ac_info',
                                     pytest.param('virtual_batch_norm', marks=pytest.mark.slow)])
def test_dcgan_variants_under_a_mesh_match_one_device(tmp_path, variant):
  from gan_jax.families.gan import create_gan_state
  config = _structured(_dcgan_on_digits(tmp_path), variant)
  results = {}
  for mode in ('single', 'mesh'):
    parallel = parallel_lib.make_data_parallel(mode)
    dataset = data.make_dataset(config.data)
    state = create_gan_state(config, jax.random.key(0), dataset)
    compiled = make_multi_step_fn(config, dataset, parallel)
    device_state, arrays = parallel.put(state), parallel.put(dataset.host_arrays())
    for _ in range(2):
      device_state, _ = compiled(1)(device_state, arrays)
    results[mode] = jax.device_get(parallel.get(device_state))
  for name in ('g', 'd'):
    for part in ('params', 'batch_stats'):
      jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5),
                   getattr(results['mesh'].nets[name], part), getattr(results['single'].nets[name], part))
