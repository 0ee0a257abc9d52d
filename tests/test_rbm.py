"""The Bernoulli RBM's mathematics against independent computations: enumeration in float64 numpy, the hand-written
CD statistic, and scikit-learn's BernoulliRBM."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.special import expit, logsumexp
from sklearn.datasets import load_digits
from sklearn.neural_network import BernoulliRBM
from sklearn.utils import check_random_state

from gan_jax.evaluation import rbm_likelihood
from gan_jax.families import rbm as rbm_family
from gan_jax.models import rbm
from gan_jax.state import Network, TrainState


def random_params(num_visible, num_hidden, seed, weight_std=0.5, bias_std=1.0):
  """Float64 numpy parameters (the references' precision) with weights large enough that the units interact."""
  rng = np.random.default_rng(seed)
  return {'W': rng.normal(0, weight_std, (num_visible, num_hidden)), 'b': rng.normal(0, bias_std, num_visible),
          'c': rng.normal(0, bias_std, num_hidden)}


def as_jax(params):
  return {name: jnp.asarray(value, jnp.float32) for name, value in params.items()}


def all_states(n):
  """[2^n, n] every binary vector of length n."""
  return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def energy(params, v, h):
  """E(v, h) = -v.b - h.c - v^T W h for every pair of rows: [len(v), len(h)]."""
  return -(v @ params['b'])[:, None] - (h @ params['c'])[None, :] - v @ params['W'] @ h.T


def exact_visible_marginal(params):
  """p(v) over `all_states(V)` by enumerating every (v, h)."""
  v = all_states(params['W'].shape[0])
  log_p = logsumexp(-energy(params, v, all_states(params['W'].shape[1])), axis=1)
  return np.exp(log_p - logsumexp(log_p))


def test_free_energy_is_minus_log_sum_over_hidden_states():
  params = random_params(5, 3, seed=0)
  v = all_states(5)
  expected = -logsumexp(-energy(params, v, all_states(3)), axis=1)
  # float32 arithmetic on values of size ~5: a few ulps (measured: 4e-7).
  np.testing.assert_allclose(rbm.free_energy(as_jax(params), jnp.asarray(v, jnp.float32)), expected,
                             rtol=1e-5, atol=1e-5)


def test_module_creates_parameters_and_returns_the_free_energy():
  v = np.zeros((2, 7), np.float32)
  network = Network.create(rbm.RBM(num_hidden=3, init_std=0.01), optax.sgd(0.1), jax.random.key(0), v)
  params = network.params
  assert params['W'].shape == (7, 3) and params['b'].shape == (7,) and params['c'].shape == (3,)
  np.testing.assert_array_equal(params['b'], 0)
  np.testing.assert_array_equal(params['c'], 0)
  assert 0 < float(jnp.std(params['W'])) < 0.03  # N(0, 0.01^2), 21 draws.
  v = np.eye(2, 7, dtype=np.float32)
  np.testing.assert_allclose(network.apply(v, train=False)[0], rbm.free_energy(params, v), rtol=1e-6)


def test_exact_log_partition_matches_enumerating_every_visible_and_hidden_state():
  params = random_params(6, 4, seed=1)
  expected = logsumexp(-energy(params, all_states(6), all_states(4)))
  # log Z = 8.7, where float32's ulp is 1e-6; a logsumexp of 16 terms of 6 softplus each can be off by ~10 ulps
  # (measured: 1e-7).
  np.testing.assert_allclose(rbm_likelihood.exact_log_partition(as_jax(params)), expected, rtol=0, atol=1e-5)


def test_exact_log_partition_with_20_hidden_units_matches_summing_over_visible_states():
  # 2^20 hidden states are enumerated in 256 chunks; summing the hidden units out instead leaves 2^8 visible states.
  params = random_params(8, 20, seed=2, weight_std=0.3)
  v = all_states(8)
  expected = logsumexp(v @ params['b'] + np.logaddexp(0, v @ params['W'] + params['c']).sum(axis=1))
  # log Z = 21.2, where float32's ulp is 2e-6; 10 ulps for the 20-term sums and the two-level logsumexp (measured:
  # 5e-7). A wrong chunk offset would count some hidden states twice and others never: errors of nats.
  np.testing.assert_allclose(rbm_likelihood.exact_log_partition(as_jax(params)), expected, rtol=0, atol=2e-5)


def test_exact_log_partition_refuses_more_than_20_hidden_units():
  with pytest.raises(ValueError, match='21 hidden units'):
    rbm_likelihood.exact_log_partition(as_jax(random_params(3, 21, seed=0)))


def exact_samples(params, num_samples, seed):
  """Independent samples of the RBM: h from its exact marginal (enumerated), then v ~ p(v | h)."""
  rng = np.random.default_rng(seed)
  h_states = all_states(params['W'].shape[1])
  log_p_h = h_states @ params['c'] + np.logaddexp(0, h_states @ params['W'].T + params['b']).sum(axis=1)
  p_h = np.exp(log_p_h - logsumexp(log_p_h))
  h = h_states[rng.choice(len(h_states), num_samples, p=p_h)]
  return (rng.uniform(size=(num_samples, params['W'].shape[0])) < expit(h @ params['W'].T + params['b'])) * 1.0


def test_ais_agrees_with_the_exact_partition_function_and_needs_its_annealing():
  params = random_params(20, 10, seed=3)
  p = as_jax(params)
  exact = float(rbm_likelihood.exact_log_partition(p))
  data = exact_samples(params, 2000, seed=4)
  base = rbm_likelihood.base_rate_bias(data, eps=1e-3)
  mean = np.clip(data.mean(axis=0), 1e-3, 1 - 1e-3)
  np.testing.assert_allclose(base, np.log(mean / (1 - mean)), rtol=1e-5)

  log_z, std_error = map(float, rbm_likelihood.ais_log_partition(p, jax.random.key(0), 1000, 100, base))
  # Measured over 8 keys: errors <= 0.003 nats with standard errors ~0.0014. The slack of 0.01 covers float32
  # rounding over 1000 weight increments (~1e-3); 0.05 would be dishonest here, since plain importance sampling
  # from this base-rate model (2 temperatures, below) is already within 0.05 for half the keys.
  assert std_error < 0.01
  assert abs(log_z - exact) < 3 * std_error + 0.01, (log_z, std_error, exact)

  # Annealing matters: over 4 keys, 2 temperatures (plain importance sampling from the base-rate model) has weights
  # that vary far more and errors far larger than 1000 temperatures.
  def errors_and_std_errors(num_temperatures):
    runs = [rbm_likelihood.ais_log_partition(p, jax.random.key(seed), num_temperatures, 100, base)
            for seed in range(4)]
    return np.array([abs(float(z) - exact) for z, _ in runs]), np.array([float(se) for _, se in runs])

  errors_2, std_errors_2 = errors_and_std_errors(2)
  errors_1000, std_errors_1000 = errors_and_std_errors(1000)
  assert np.mean(std_errors_2) > 10 * np.mean(std_errors_1000), (std_errors_2, std_errors_1000)
  assert np.mean(errors_2) > 5 * np.mean(errors_1000), (errors_2, errors_1000)


def test_ais_refuses_a_single_temperature():
  p = as_jax(random_params(4, 3, seed=0))
  with pytest.raises(ValueError, match='rbm.ais_temperatures'):
    rbm_likelihood.ais_log_partition(p, jax.random.key(0), 1, 10, np.zeros(4, np.float32))


def test_log_likelihood_is_minus_free_energy_minus_log_z():
  params = random_params(4, 3, seed=5)
  v = all_states(4)[[0, 5, 15]]
  p_v = exact_visible_marginal(params)[[0, 5, 15]]
  p = as_jax(params)
  log_likelihood = rbm_likelihood.log_likelihood(p, jnp.asarray(v, jnp.float32),
                                                  rbm_likelihood.exact_log_partition(p))
  np.testing.assert_allclose(log_likelihood, np.mean(np.log(p_v)), rtol=1e-5)


def test_conditionals_are_sigmoids_and_samples_follow_them():
  params = random_params(5, 3, seed=6)
  p = as_jax(params)
  v = all_states(5)[::3]
  h = all_states(3)
  np.testing.assert_allclose(rbm.hidden_probs(p, jnp.asarray(v, jnp.float32)),
                             expit(v @ params['W'] + params['c']), rtol=1e-5)
  np.testing.assert_allclose(rbm.visible_probs(p, jnp.asarray(h, jnp.float32)),
                             expit(h @ params['W'].T + params['b']), rtol=1e-5)

  # 20,000 draws of each unit: the standard error of a frequency is at most 0.0035; 0.02 is over 5 of them.
  many_v = jnp.ones((20000, 5), jnp.float32)
  sample, probs = rbm.sample_hidden(p, many_v, jax.random.key(0))
  assert set(np.unique(sample)) <= {0.0, 1.0}
  np.testing.assert_allclose(probs[0], expit(params['W'].sum(axis=0) + params['c']), rtol=1e-5)
  np.testing.assert_allclose(sample.mean(axis=0), probs[0], atol=0.02)
  many_h = jnp.ones((20000, 3), jnp.float32)
  sample, probs = rbm.sample_visible(p, many_h, jax.random.key(1))
  assert set(np.unique(sample)) <= {0.0, 1.0}
  np.testing.assert_allclose(sample.mean(axis=0), probs[0], atol=0.02)


def test_gibbs_chains_reach_the_exact_marginal_of_the_visible_units():
  params = random_params(4, 3, seed=7, weight_std=1.0)
  p = as_jax(params)
  num_chains = 4000
  chain = rbm.gibbs_chain(p, jnp.zeros((num_chains, 4)), jax.random.key(0), k=50)
  np.testing.assert_allclose(chain['v_probs'], rbm.visible_probs(p, chain['h']), rtol=1e-6)
  counts = np.bincount(np.asarray(chain['v'], np.int64) @ (2 ** np.arange(3, -1, -1)), minlength=16)
  exact = exact_visible_marginal(params)  # all_states' order: row r is r's binary digits, most significant first.
  total_variation = 0.5 * np.abs(counts / num_chains - exact).sum()
  # With n = 4000 independent exact samples, E[TV] <= 0.5 sqrt(2 / (pi n)) sum_s sqrt(p_s) <= 0.5 sqrt(2 / (pi n))
  # sqrt(16) = 0.025 (Cauchy-Schwarz), and one sample moves TV by at most 1/n, so P(TV > E[TV] + 0.03) <=
  # exp(-2 n 0.03^2) = 7e-4 (McDiarmid). The chains start at v = 0, where TV is 1 - p(0).
  assert total_variation < 0.055, total_variation
  assert 1 - exact[0] > 0.5


def test_gibbs_chain_compiles_to_the_same_program_for_any_k():
  p = as_jax(random_params(4, 3, seed=0))
  v0 = jnp.zeros((2, 4))

  def num_equations(k):
    return len(jax.make_jaxpr(lambda p, v, key: rbm.gibbs_chain(p, v, key, k))(p, v0, jax.random.key(0)).eqns)

  # k = 1 indexes its one key without a slice: one equation fewer, the same scan.
  assert num_equations(1) <= num_equations(2) == num_equations(25)
  with pytest.raises(ValueError, match='rbm.gibbs_steps'):
    rbm.gibbs_chain(p, v0, jax.random.key(0), 0)


def test_cd_step_reconstruction_metric_is_the_first_gibbs_step_through_a_hidden_sample():
  params = random_params(6, 4, seed=3, weight_std=1.0)
  p = as_jax(params)
  v = jnp.asarray(np.random.default_rng(0).integers(0, 2, (5, 6)), jnp.float32)
  key = jax.random.key(4)
  # By hand, as Hinton's rbm.m: h ~ p(h | v) with the chain's first key's hidden half, then p(v | h).
  h, _ = rbm.sample_hidden(p, v, jax.random.split(jax.random.split(key, 3)[0])[0])
  expected = rbm.visible_probs(p, h)
  chain = rbm.gibbs_chain(p, v, key, k=3)
  np.testing.assert_allclose(chain['first_v_probs'], expected, rtol=1e-6)
  one_step = rbm.gibbs_chain(p, v, key, k=1)
  np.testing.assert_array_equal(one_step['first_v_probs'], one_step['v_probs'])

  network = Network.create(rbm.RBM(num_hidden=4), optax.sgd(0.1), jax.random.key(0), jnp.zeros((1, 6)))
  network = network.replace(params=p)
  state = TrainState.create({'rbm': network}, jax.random.key(1))
  _, metrics, _ = rbm_family.cd_update(state, 'rbm', v, v, key, 3)
  np.testing.assert_allclose(metrics['rbm_reconstruction_error'], np.mean((np.asarray(v) - expected) ** 2),
                             rtol=1e-6)
  # PCD's chains start elsewhere: the metric is the same pass with its own hidden sample.
  _, metrics, _ = rbm_family.cd_update(state, 'rbm', v, jnp.zeros_like(v), key, 3)
  h, _ = rbm.sample_hidden(p, v, jax.random.fold_in(key, rbm_family.RECONSTRUCTION_STREAM))
  np.testing.assert_allclose(metrics['rbm_reconstruction_error'],
                             np.mean((np.asarray(v) - rbm.visible_probs(p, h)) ** 2), rtol=1e-6)


def test_cd_objective_gradient_is_minus_the_cd_statistic():
  params = random_params(6, 4, seed=8)
  p = as_jax(params)
  rng = np.random.default_rng(9)
  v_data = (rng.uniform(size=(10, 6)) < 0.5) * 1.0
  v_model = (rng.uniform(size=(7, 6)) < 0.5) * 1.0
  h_data = expit(v_data @ params['W'] + params['c'])
  h_model = expit(v_model @ params['W'] + params['c'])
  expected = {'W': -(v_data.T @ h_data / 10 - v_model.T @ h_model / 7),
              'b': -(v_data.mean(axis=0) - v_model.mean(axis=0)),
              'c': -(h_data.mean(axis=0) - h_model.mean(axis=0))}
  grads = jax.grad(rbm.cd_objective)(p, jnp.asarray(v_data, jnp.float32), jnp.asarray(v_model, jnp.float32))
  for name in expected:
    np.testing.assert_allclose(grads[name], expected[name], atol=1e-5)

  # A v_model computed from p (mean-field reconstructions) gives the same gradient: it is not differentiated.
  h = jnp.asarray(h_model, jnp.float32)
  v_data = jnp.asarray(v_data, jnp.float32)
  through = jax.grad(lambda p: rbm.cd_objective(p, v_data, rbm.visible_probs(p, h)))(p)
  held = jax.grad(rbm.cd_objective)(p, v_data, rbm.visible_probs(p, h))
  for name in expected:
    np.testing.assert_array_equal(through[name], held[name])
  np.testing.assert_array_equal(jax.grad(rbm.cd_objective, argnums=2)(p, v_data, rbm.visible_probs(p, h)), 0)


def test_cd_learning_with_optax_raises_the_exact_likelihood():
  # Three patterns over 6 units; CD-1 with Adam on the module's parameters, exact log-likelihood before and after.
  data = jnp.asarray(np.repeat(np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1], [1, 0, 1, 0, 1, 0]]), 10, axis=0),
                     jnp.float32)
  network = Network.create(rbm.RBM(num_hidden=4), optax.adam(0.1), jax.random.key(0), data)

  @jax.jit
  def train(network, key):
    def step(network, key):
      v_model = rbm.gibbs_chain(network.params, data, key, k=1)['v']
      grads = jax.grad(rbm.cd_objective)(network.params, data, v_model)
      return network.apply_gradients(grads)[0], None
    return jax.lax.scan(step, network, jax.random.split(key, 300))[0]

  def log_likelihood(params):
    return float(rbm_likelihood.log_likelihood(params, data, rbm_likelihood.exact_log_partition(params)))

  before = log_likelihood(network.params)
  after = log_likelihood(train(network, jax.random.key(1)).params)
  # Before: nearly uniform over 2^6 states, 6 log 2 = 4.16 nats per sample; the data's entropy is log 3 = 1.10.
  np.testing.assert_allclose(before, -6 * np.log(2), atol=0.01)
  assert after > -1.5, after  # Measured: -1.21 (-3.28 with a learning rate of 0.05).


def test_reconstruction_error_by_hand():
  params = random_params(5, 3, seed=10)
  v = all_states(5)[::4]
  reconstruction = expit(expit(v @ params['W'] + params['c']) @ params['W'].T + params['b'])
  np.testing.assert_allclose(rbm.reconstruction_error(as_jax(params), jnp.asarray(v, jnp.float32)),
                             np.mean((v - reconstruction) ** 2), rtol=1e-5)


def test_pseudo_log_likelihood_flips_one_unit_per_sample():
  params = random_params(5, 3, seed=11)
  v = all_states(5)[::3]

  def free_energy(v):
    return -v @ params['b'] - np.logaddexp(0, v @ params['W'] + params['c']).sum(axis=1)

  # Every unit flipped: [5, B] candidates of the one-flip estimate.
  candidates = np.stack([5 * -np.logaddexp(0, -(free_energy(np.where(np.arange(5) == i, 1 - v, v)) - free_energy(v)))
                         for i in range(5)])
  estimate = np.asarray(rbm_likelihood.pseudo_log_likelihood(as_jax(params), jnp.asarray(v, jnp.float32),
                                                             jax.random.key(0)))
  assert np.all(np.min(np.abs(candidates - estimate), axis=0) < 1e-4)


@pytest.fixture(scope='module')
def sklearn_rbm():
  x = (load_digits().data[:200] > 8).astype(np.float64)
  return BernoulliRBM(n_components=8, n_iter=2, random_state=0).fit(x), x


def test_sklearn_parity(sklearn_rbm):
  fitted, x = sklearn_rbm
  p = rbm_likelihood.load_sklearn_rbm(fitted)
  v = jnp.asarray(x, jnp.float32)
  np.testing.assert_allclose(rbm.free_energy(p, v), fitted._free_energy(x), rtol=1e-5)  # float32 (measured: 1e-6).
  np.testing.assert_allclose(rbm.hidden_probs(p, v), fitted.transform(x), rtol=1e-5, atol=1e-6)
  # score_samples draws its flipped units from check_random_state(random_state), afresh on each call.
  flip_index = check_random_state(fitted.random_state).randint(0, x.shape[1], x.shape[0])
  np.testing.assert_allclose(rbm_likelihood.pseudo_log_likelihood(p, v, None, flip_index=flip_index),
                             fitted.score_samples(x), rtol=2e-5)  # V = 64 times a float32 F difference: 4e-6.


def test_check_binary():
  rbm.check_binary(np.array([[0.0, 1.0], [1.0, 1.0]]), 'data.train')
  with pytest.raises(ValueError, match=r"data.train: .*\{0, 1\}.*binarize"):
    rbm.check_binary(np.array([[0.0, 0.5]]), 'data.train')
