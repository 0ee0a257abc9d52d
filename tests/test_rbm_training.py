"""The RBM family end to end: its update against CD written by hand, PCD's chains, AIS against the exact partition
function of a trained run, learning, exact resume, and its bad inputs."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data, families, parallel as parallel_lib
from gan_jax.config import ConfigError
from gan_jax.evaluation import rbm_likelihood
from gan_jax.families import rbm as rbm_family
from gan_jax.models import rbm as rbm_lib
from gan_jax.rng import noise_key
from gan_jax.train import train_and_evaluate
from gan_jax.validation import validate
from tests.helpers import comparable, load_family_state, run_on, set_field
from tests.test_experiments import load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def smoke_config(data_dir, variant='smoke', **train):
  config = load(os.path.join(ROOT, 'experiments', 'rbm_mnist.py')).get_config(variant)
  config.data.data_dir = data_dir
  for field, value in train.items():
    config.train[field] = value
  return config


def sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


@pytest.mark.parametrize('persistent', [False, True])
def test_update_is_cd_with_momentum_and_weight_decay_written_by_hand(offline_data_dir, persistent):
  config = smoke_config(offline_data_dir)
  config.rbm.persistent = persistent
  config.rbm.gibbs_steps = 3
  config.optim.rbm.learning_rate = 0.1
  config.optim.rbm.momentum = 0.5
  config.optim.rbm.weight_decay = 0.01
  dataset = data.make_dataset(config.data)
  family = families.get('rbm')
  state = family.create_state(config, jax.random.key(0), dataset)
  # Non-zero biases, so that every term of the gradient is exercised.
  params = {**state.nets['rbm'].params, 'b': jnp.linspace(-1, 1, 784), 'c': jnp.linspace(1, -1, 16)}
  state = state.replace_nets(rbm=state.nets['rbm'].replace(params=params))
  train_step, sample_real = family.make_train_step(config, dataset, parallel_lib.make_data_parallel('single'))
  arrays = jax.tree.map(jnp.asarray, dataset.host_arrays())
  real = sample_real(state, arrays)
  step = jax.jit(train_step)
  after, metrics = step(state, real)

  v = np.asarray(rbm_family.to_visible(real['x'][0]), np.float64)
  assert set(np.unique(v)) <= {0.0, 1.0}
  start = state.extras['chains'] if persistent else v
  chain = rbm_lib.gibbs_chain(params, start, noise_key(state.rng, state.step), 3)
  v_model = np.asarray(chain['v'], np.float64)
  w, b, c = (np.asarray(params[k], np.float64) for k in 'Wbc')
  h_data, h_model = sigmoid(v @ w + c), sigmoid(v_model @ w + c)
  n = len(v)
  grad = {'W': -(v.T @ h_data - v_model.T @ h_model) / n, 'b': -(v - v_model).mean(0),
          'c': -(h_data - h_model).mean(0)}
  grad['W'] = grad['W'] + 0.01 * w  # The L2 cost acts on W only.
  # optax's SGD with momentum: the trace starts at zero, so the first update is -lr * gradient.
  for name, value in (('W', w), ('b', b), ('c', c)):
    np.testing.assert_allclose(np.asarray(after.nets['rbm'].params[name]), value - 0.1 * grad[name], atol=2e-6)
  free = lambda x: -x @ b - np.logaddexp(0, x @ w + c).sum(-1)
  np.testing.assert_allclose(float(metrics['rbm_loss']), free(v).mean() - free(v_model).mean(), rtol=1e-5)
  assert int(after.step) == 1
  if persistent:
    np.testing.assert_array_equal(np.asarray(after.extras['chains']), v_model)
  else:
    assert 'chains' not in after.extras


@pytest.mark.slow  # 23 s; AIS against the exact partition function (test_rbm) and the PCD mesh run stay in CI.
def test_smoke_run_learns_and_its_ais_matches_the_exact_partition_function(tmp_path, offline_data_dir):
  config = smoke_config(offline_data_dir, num_steps=100, eval_every_steps=100, checkpoint_every_steps=100)
  config.rbm.ais_temperatures = 1000
  config.rbm.ais_chains = 64
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  assert final['step'] == 100
  # AIS agrees with enumerating the 2^16 hidden states, within its own error bar.
  assert abs(final['log_z'] - final['log_z_exact']) < 3 * final['log_z_std_error'] + 0.1
  # Learning: the untrained RBM (W ~ 0.01, zero biases) gives every image about 2^-784; training must beat the
  # base-rate model (W = 0, visible biases from the pixel means), the first thing an RBM learns.
  test_v, _ = rbm_family.test_visibles(config, config.seed)
  test_v = jnp.asarray(test_v[:config.eval.num_samples])
  assert final['test_log_likelihood_exact'] > -784 * np.log(2) + 200
  dataset = data.make_dataset(config.data)
  base = {'W': jnp.zeros((784, 16)), 'b': jnp.asarray(rbm_likelihood.base_rate_bias(
      families.base_rates(dataset, config.data.binarize)[None])), 'c': jnp.zeros(16)}
  base_ll = float(rbm_likelihood.log_likelihood(base, test_v, rbm_likelihood.exact_log_partition(base)))
  assert final['test_log_likelihood_exact'] > base_ll + 5
  np.testing.assert_allclose(final['test_log_likelihood'] - final['test_log_likelihood_exact'],
                             final['log_z_exact'] - final['log_z'], atol=1e-3)
  assert 0 < final['test_reconstruction_error'] < 0.25
  plots = sorted(os.listdir(tmp_path / 'run' / 'plots'))
  assert plots == ['filters_0000100.png', 'samples_0000100.png']


@pytest.mark.slow  # A further resume (the suite keeps one per path); python -m pytest -n 2 -m slow.
def test_resumed_pcd_run_matches_the_uninterrupted_one_bit_for_bit(tmp_path, offline_data_dir):
  whole = smoke_config(offline_data_dir, num_steps=30, checkpoint_every_steps=10, eval_every_steps=30)
  whole.rbm.persistent = True  # The chains are state too: a resume must continue them.
  whole.rbm.num_hidden, whole.rbm.ais_temperatures, whole.rbm.ais_chains = 4, 10, 4
  train_and_evaluate(whole, str(tmp_path / 'whole'))
  part = whole.copy_and_resolve_references()
  part.train.num_steps = 20
  train_and_evaluate(part, str(tmp_path / 'split'))
  train_and_evaluate(whole, str(tmp_path / 'split'))
  a, b = load_family_state(tmp_path / 'whole', whole), load_family_state(tmp_path / 'split', whole)
  assert int(a.step) == 30 and a.extras['chains'].shape == (20, 784)
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), comparable(a),
               comparable(b))


@pytest.mark.parametrize('field, value, message', [
    ('data.binarize', 'none', "config.data.binarize: got 'none': a Bernoulli RBM models binary pixels"),
    ('rbm.gibbs_steps', 0, 'config.rbm.gibbs_steps: got 0; CD-k needs k >= 1'),
    ('rbm.ais_temperatures', 1, 'config.rbm.ais_temperatures: got 1; annealing needs at least two'),
    ('rbm.num_hidden', 0, 'config.rbm.num_hidden'),
    ('model', 'flow', "config.model: got 'flow'; accepted values: gan, rbm, vae"),
    ('data.binarize', 'coin', "config.data.binarize: got 'coin'.*none, threshold, sample"),
    ('optim.rbm.weight_decay', -1.0, 'config.optim.rbm.weight_decay: got -1.0; must be >= 0'),
])
def test_bad_rbm_config_is_refused_before_anything_runs(field, value, message, tmp_path):
  config = load(os.path.join(ROOT, 'experiments', 'rbm_mnist.py')).get_config('smoke')
  set_field(config, field, value)
  config.data.data_dir = str(tmp_path)
  with pytest.raises(ConfigError, match=message):
    validate(config, num_devices=1)
  assert os.listdir(tmp_path) == []


def test_pcd_on_a_mesh_of_eight_devices_matches_one_device(offline_data_dir):
  config = smoke_config(offline_data_dir)
  config.rbm.persistent = True
  config.train.batch_size = 32
  (state, summary), (expected, expected_summary) = run_on(config, 'mesh'), run_on(config, 'single')
  assert int(state.step) == 6
  # The same bits drawn (binarisation, Gibbs samples) on 8 devices as on one: the chains are equal exactly.
  np.testing.assert_array_equal(state.extras['chains'], expected.extras['chains'])
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), state.nets['rbm'].params,
               expected.nets['rbm'].params)
  np.testing.assert_allclose(summary['rbm_loss'], expected_summary['rbm_loss'], rtol=1e-4)


def test_pcd_chains_are_split_over_the_devices_of_a_mesh(offline_data_dir):
  # Each device runs batch / 8 of the persistent chains, as it holds batch / 8 of the data, and they stay split
  # between steps (replicated chains would have every device run all 32).
  from gan_jax import families, parallel as parallel_lib
  from gan_jax.data import make_dataset
  from gan_jax.train import make_multi_step_fn, training_arrays
  config = smoke_config(offline_data_dir)
  config.rbm.persistent = True
  config.train.batch_size = 32
  parallel = parallel_lib.make_data_parallel('mesh')
  dataset = make_dataset(config.data)
  family = families.get('rbm')
  state = family.create_state(config, jax.random.key(0), dataset)
  sharding = parallel.state_sharding(state, family.batch_extras)
  placed = parallel.put(state, sharding)
  placed, _ = make_multi_step_fn(config, dataset, parallel, sharding)(2)(placed, parallel.put(
      training_arrays(config, dataset)))
  chains = placed.extras['chains']
  assert {shard.data.shape for shard in chains.addressable_shards} == {(32 // jax.device_count(), 784)}
  assert placed.nets['rbm'].params['W'].sharding.is_fully_replicated
  np.testing.assert_array_equal(np.concatenate([np.asarray(s.data) for s in sorted(
      chains.addressable_shards, key=lambda s: s.index[0].start)]), np.asarray(parallel.get(placed).extras['chains']))
