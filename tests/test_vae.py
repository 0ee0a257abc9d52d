"""The VAE family: every quantity against an independent computation (numpy in float64, Monte Carlo, numerical
integration over the latent, finite differences, Adam written out by hand), then the family end to end: learning,
exact resume, a mesh against one device, and its bad inputs."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data, families, parallel as parallel_lib
from gan_jax.config import ConfigError
from gan_jax.models import vae as vae_lib
from gan_jax.rng import noise_key
from gan_jax.train import train_and_evaluate
from tests.helpers import adam_by_hand, comparable, load_family_state, run_on, set_field
from tests.test_experiments import load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def smoke_config(data_dir, **train):
  config = load(os.path.join(ROOT, 'experiments', 'vae_mnist.py')).get_config('smoke')
  config.data.data_dir = data_dir
  for field, value in train.items():
    config.train[field] = value
  return config


def np_log_sigmoid(t):
  return -np.logaddexp(0.0, -t)


def np_bernoulli_log_likelihood(logits, x):
  """sum x log sigmoid(l) + (1 - x) log(1 - sigmoid(l)) in float64 over the last axis."""
  return np.sum(x * np_log_sigmoid(logits) + (1 - x) * np_log_sigmoid(-logits), axis=-1)


def test_networks_have_the_documented_shapes():
  encoder, decoder = vae_lib.GaussianEncoder(hidden=(6, 5), latent_dim=3), vae_lib.BernoulliDecoder(
      hidden=(5, 6), output_shape=(28, 28, 1))
  x = jnp.zeros((2, 28, 28, 1))
  q, _ = encoder.init_with_output(jax.random.key(0), x, train=False)
  assert q['mean'].shape == q['log_var'].shape == (2, 3)
  logits, _ = decoder.init_with_output(jax.random.key(1), q['mean'])
  assert logits.shape == (2, 28, 28, 1)


def test_gaussian_kl_matches_the_closed_form_in_numpy_and_a_monte_carlo_estimate():
  rng = np.random.default_rng(0)
  mean = rng.normal(size=(3, 4)).astype(np.float32)
  log_var = rng.normal(scale=0.7, size=(3, 4)).astype(np.float32)
  kl = np.asarray(vae_lib.gaussian_kl(jnp.asarray(mean), jnp.asarray(log_var)), np.float64)
  mu, var = mean.astype(np.float64), np.exp(log_var.astype(np.float64))
  np.testing.assert_allclose(kl, 0.5 * np.sum(var + mu**2 - 1 - np.log(var), axis=-1), rtol=1e-6)
  # KL = E_q[log q(z) - log p(z)], z ~ q, estimated with 200,000 draws per example.
  z = mu + np.sqrt(var) * rng.normal(size=(200_000, 3, 4))
  log_ratio = np.sum(-0.5 * (z - mu)**2 / var - 0.5 * np.log(var) + 0.5 * z**2, axis=-1)
  standard_error = log_ratio.std(axis=0) / np.sqrt(len(z))
  assert np.all(np.abs(log_ratio.mean(axis=0) - kl) < 4 * standard_error)


def test_bernoulli_log_likelihood_matches_numpy_in_float64_and_stays_finite_at_extreme_logits():
  logits = np.array([[-50.0, -10.0, -1.0, 0.0, 0.5, 3.0, 10.0, 50.0]] * 2).reshape(2, 2, 4, 1)
  x = np.array([[0, 1, 0, 1, 1, 0, 1, 1], [1, 0, 1, 0, 0, 1, 0, 0]], np.float64).reshape(2, 2, 4, 1)
  got = np.asarray(vae_lib.bernoulli_log_likelihood(jnp.asarray(logits, jnp.float32), jnp.asarray(x, jnp.float32)))
  sigmoid = lambda t: 1.0 / (1.0 + np.exp(-t))
  # 1 - sigmoid(l) written as sigmoid(-l): in float64 1 - sigmoid(50) rounds to 0.
  expected = np.sum((x * np.log(sigmoid(logits)) + (1 - x) * np.log(sigmoid(-logits))).reshape(2, -1), axis=-1)
  assert np.all(np.isfinite(got))
  np.testing.assert_allclose(got, expected, rtol=1e-6)
  # A pixel the model is certain of and gets wrong costs its logit, 50 nats.
  assert expected[1] < -100


def test_elbo_gradient_through_the_reparameterisation_matches_finite_differences():
  with jax.enable_x64(True):
    decoder = vae_lib.BernoulliDecoder(hidden=(5,), output_shape=(2, 3, 1))
    params = decoder.init(jax.random.key(1), jnp.zeros((1, 3)))['params']
    params = jax.tree.map(lambda p: p.astype(jnp.float64), params)
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.integers(0, 2, (4, 2, 3, 1)), jnp.float64)
    mean = jnp.asarray(rng.normal(size=(4, 3)))
    log_var = jnp.asarray(rng.normal(scale=0.5, size=(4, 3)))
    key = jax.random.key(3)  # Fixed noise: the ELBO is then a deterministic function of q's outputs.

    @jax.jit
    def total_elbo(mean, log_var):
      return jnp.sum(vae_lib.elbo_terms(decoder, params, x, mean, log_var, key)['elbo'])

    grads = jax.grad(total_elbo, argnums=(0, 1))(mean, log_var)
    h = 1e-6
    for which, (value, grad) in enumerate(zip((mean, log_var), grads)):
      numeric = np.zeros(value.shape)
      for index in np.ndindex(value.shape):
        step = jnp.zeros(value.shape).at[index].set(h)
        args = [mean, log_var]
        args[which] = value + step
        plus = float(total_elbo(*args))
        args[which] = value - step
        numeric[index] = (plus - float(total_elbo(*args))) / (2 * h)
      np.testing.assert_allclose(np.asarray(grad), numeric, rtol=1e-6, atol=1e-8)


# A model small enough to integrate over its latent: 1-D z, 4x4 binary images.
TINY_SHAPE = (4, 4, 1)


@pytest.fixture(scope='module')
def tiny_model():
  encoder = vae_lib.GaussianEncoder(hidden=(8,), latent_dim=1)
  decoder = vae_lib.BernoulliDecoder(hidden=(8,), output_shape=TINY_SHAPE)
  enc_params = encoder.init(jax.random.key(0), jnp.zeros((1, *TINY_SHAPE)))['params']
  # Sharper than at initialisation, so that the posterior is far from q and the bounds are far apart.
  dec_params = jax.tree.map(lambda p: 3.0 * p, decoder.init(jax.random.key(1), jnp.zeros((1, 1)))['params'])
  x = jnp.asarray(np.random.default_rng(0).integers(0, 2, (4, *TINY_SHAPE)), jnp.float32)
  return encoder, decoder, enc_params, dec_params, x


def np_decoder_logits(dec_params, z):
  """The decoder's MLP written in numpy: tanh(z W0 + b0) W1 + b1, flattened pixels."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), dec_params)
  h = np.tanh(z @ p['Dense_0']['kernel'] + p['Dense_0']['bias'])
  return h @ p['Dense_1']['kernel'] + p['Dense_1']['bias']


def exact_by_integration(tiny_model):
  """log p(x) = log integral p(x|z) N(z; 0, 1) dz and the ELBO's expectation E_q[log p(x|z)] - KL, both by
  quadrature on a fine grid of z, in float64."""
  encoder, _, enc_params, dec_params, x = tiny_model
  z = np.linspace(-12.0, 12.0, 48_001)[:, None]
  dz = z[1, 0] - z[0, 0]
  x_flat = np.asarray(x, np.float64).reshape(len(x), -1)
  log_px_z = np_bernoulli_log_likelihood(np_decoder_logits(dec_params, z)[None], x_flat[:, None])  # [N, G]
  log_prior = -0.5 * (z[:, 0]**2 + np.log(2 * np.pi))
  joint = log_px_z + log_prior
  top = joint.max(axis=1, keepdims=True)
  log_px = top[:, 0] + np.log(np.sum(np.exp(joint - top), axis=1) * dz)
  mean, log_var = (np.asarray(a, np.float64)[:, 0] for a in vae_lib.encode(encoder, enc_params, x))
  var = np.exp(log_var)
  q = np.exp(-0.5 * (z[:, 0] - mean[:, None])**2 / var[:, None]) / np.sqrt(2 * np.pi * var[:, None])
  elbo = np.sum(q * log_px_z, axis=1) * dz - 0.5 * (var + mean**2 - 1 - log_var)
  return log_px, elbo


def iw_estimates(tiny_model, replicates, num_samples, chunk, seed=7):
  """[replicates, N] independent k-sample estimates: every image repeated, each copy with its own noise."""
  encoder, decoder, enc_params, dec_params, x = tiny_model
  repeated = jnp.tile(x, (replicates, 1, 1, 1))
  estimate = jax.jit(vae_lib.importance_weighted_log_likelihood, static_argnums=(0, 1, 6, 7))
  out = estimate(encoder, decoder, enc_params, dec_params, repeated, jax.random.key(seed), num_samples, chunk)
  return np.asarray(out, np.float64).reshape(replicates, len(x))


def test_importance_weighted_estimate_with_many_samples_matches_log_p_by_numerical_integration(tiny_model):
  log_px, elbo = exact_by_integration(tiny_model)
  assert np.all(log_px - elbo > 2.5)  # q is far from the posterior: the ELBO alone would miss by nats.
  estimates = iw_estimates(tiny_model, replicates=32, num_samples=5000, chunk=500)
  standard_error = estimates.std(axis=0, ddof=1) / np.sqrt(len(estimates))
  np.testing.assert_array_less(np.abs(estimates.mean(axis=0) - log_px), 4 * standard_error + 0.01)


def test_importance_weighted_bound_rises_with_k_from_the_elbo_towards_log_p(tiny_model):
  log_px, elbo = exact_by_integration(tiny_model)
  replicates = 512
  # One key for every k: the k-sample estimate uses the first k samples of the larger ones, so the gains between
  # consecutive k are measured on paired estimates.
  estimates = np.array([iw_estimates(tiny_model, replicates, k, chunk=64) for k in (1, 4, 16, 64)])
  means = estimates.mean(axis=1)
  errors = estimates.std(axis=1, ddof=1) / np.sqrt(replicates)
  # k = 1 is the single-sample ELBO: equal to the integrated ELBO in expectation.
  np.testing.assert_array_less(np.abs(means[0] - elbo), 4 * errors[0])
  # Each larger k is a tighter bound, above the ELBO and below log p(x) (up to the estimate's own error).
  gains = np.diff(estimates, axis=0)
  np.testing.assert_array_less(3 * gains.std(axis=1, ddof=1) / np.sqrt(replicates), gains.mean(axis=1))
  np.testing.assert_array_less(elbo, means[1:].min(axis=0))
  np.testing.assert_array_less(means[-1], log_px + 4 * errors[-1])


def test_chunked_importance_weighting_equals_the_unchunked_computation(tiny_model):
  whole = iw_estimates(tiny_model, replicates=2, num_samples=300, chunk=300)
  chunked = iw_estimates(tiny_model, replicates=2, num_samples=300, chunk=7)  # 43 chunks, the last one 6/7 empty.
  np.testing.assert_allclose(chunked, whole, rtol=1e-6)


def test_train_steps_are_adam_on_the_negative_elbo_of_both_networks_jointly(offline_data_dir):
  config = smoke_config(offline_data_dir)
  dataset = data.make_dataset(config.data)
  family = families.get('vae')
  state = family.create_state(config, jax.random.key(0), dataset)
  train_step, sample_real = family.make_train_step(config, dataset, parallel_lib.make_data_parallel('single'))
  arrays = jax.tree.map(jnp.asarray, dataset.host_arrays())
  step = jax.jit(train_step)
  reals, losses = [], []
  after = state
  for _ in range(2):
    real = sample_real(after, arrays)
    reals.append(real['x'][0])
    after, metrics = step(after, real)
    losses.append(metrics)
  assert int(after.step) == 2

  encoder, decoder = state.nets['encoder'].module, state.nets['decoder'].module

  def loss_by_hand(params, x01, key):
    q = encoder.apply({'params': params['encoder']}, x01)
    z = q['mean'] + jnp.exp(0.5 * q['log_var']) * jax.random.normal(key, q['mean'].shape)
    logits = decoder.apply({'params': params['decoder']}, z).reshape(len(x01), -1)
    x = x01.reshape(len(x01), -1)
    nll = -jnp.sum(x * jax.nn.log_sigmoid(logits) + (1 - x) * jax.nn.log_sigmoid(-logits), axis=1)
    kl = 0.5 * jnp.sum(jnp.exp(q['log_var']) + q['mean']**2 - 1 - q['log_var'], axis=1)
    return jnp.mean(nll + kl), (jnp.mean(nll), jnp.mean(kl))

  opt = config.optim.encoder
  assert (opt.name, config.optim.decoder.to_dict()) == ('adam', opt.to_dict())
  params = {name: jax.tree.map(lambda p: np.asarray(p, np.float64), state.nets[name].params)
            for name in ('encoder', 'decoder')}
  m = jax.tree.map(np.zeros_like, params)
  v = jax.tree.map(np.zeros_like, params)
  for t, x in enumerate(reals):
    x01 = (x + 1.0) / 2.0
    assert set(np.unique(np.asarray(x01))) <= {0.0, 1.0}
    f32 = jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), params)
    (loss, (nll, kl)), grads = jax.value_and_grad(loss_by_hand, has_aux=True)(f32, x01, noise_key(state.rng, t))
    np.testing.assert_allclose(float(losses[t]['vae_loss']), float(loss), rtol=1e-5)
    np.testing.assert_allclose([float(losses[t]['vae_reconstruction']), float(losses[t]['vae_kl'])],
                               [float(nll), float(kl)], rtol=1e-5)
    params, m, v = adam_by_hand(params, grads, m, v, t, opt)  # Each network with its own moments.
  for name in ('encoder', 'decoder'):
    moved = jax.tree.map(lambda a, b: np.abs(np.asarray(a) - b).max(), state.nets[name].params, params[name])
    assert max(jax.tree.leaves(moved)) > 1e-3  # Both networks moved (by about two learning rates).
    jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), b, atol=2e-6), after.nets[name].params,
                 params[name])


@pytest.mark.slow  # 17 s; the steps, the importance-weighted bound and the mesh run stay in CI.
def test_smoke_run_learns_and_its_importance_weighted_bound_lies_above_the_elbo(tmp_path, offline_data_dir):
  config = smoke_config(offline_data_dir, num_steps=100, eval_every_steps=100, checkpoint_every_steps=100)
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  assert final['step'] == 100
  assert final['test_elbo'] == pytest.approx(-(final['test_reconstruction'] + final['test_kl']), rel=1e-5)
  # The k = 50 bound is above the one-sample ELBO but for the ELBO's sampling error over 200 test images.
  assert final['test_log_likelihood_iw'] >= final['test_elbo'] - 1.0
  # Learning: the untrained model, measured directly on the same test images, scores far worse.
  dataset = data.make_dataset(config.data)
  fresh = families.get('vae').create_state(config, jax.random.key(config.seed), dataset)
  test_v, _ = families.test_visibles(config, config.seed)
  test_x = jnp.asarray(test_v[:config.eval.num_samples].reshape(-1, *dataset.shape))
  enc, dec = fresh.nets['encoder'], fresh.nets['decoder']
  untrained = float(jnp.mean(vae_lib.elbo(enc.module, dec.module, enc.params, dec.params, test_x,
                                          jax.random.key(1))['elbo']))
  assert untrained < -500  # About 784 log 2 = 543 nats: every pixel a coin flip.
  assert final['test_elbo'] > untrained + 200
  plots = sorted(os.listdir(tmp_path / 'run' / 'plots'))
  assert plots == [f'{name}_0000100.png' for name in ('interpolations', 'reconstructions', 'samples', 'traversals')]
  with open(tmp_path / 'run' / 'metrics.json') as f:
    assert {'test_elbo', 'test_log_likelihood_iw'} <= set(json.load(f))


@pytest.mark.slow  # A further resume (the suite keeps one per path); python -m pytest -n 2 -m slow.
def test_resumed_run_matches_the_uninterrupted_one_bit_for_bit(tmp_path, offline_data_dir):
  whole = smoke_config(offline_data_dir, num_steps=30, checkpoint_every_steps=10, eval_every_steps=30)
  whole.vae.iw_samples = 4
  part = whole.copy_and_resolve_references()
  part.train.num_steps = 20
  train_and_evaluate(whole, str(tmp_path / 'whole'))
  train_and_evaluate(part, str(tmp_path / 'split'))
  train_and_evaluate(whole, str(tmp_path / 'split'))
  a, b = load_family_state(tmp_path / 'whole', whole), load_family_state(tmp_path / 'split', whole)
  assert int(a.step) == 30
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), comparable(a),
               comparable(b))


def test_a_mesh_of_eight_devices_matches_one_device(offline_data_dir):
  config = smoke_config(offline_data_dir)
  (state, summary), (expected, expected_summary) = run_on(config, 'mesh'), run_on(config, 'single')
  assert int(state.step) == 6
  for name in ('encoder', 'decoder'):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), state.nets[name].params,
                 expected.nets[name].params)
  np.testing.assert_allclose(summary['vae_loss'], expected_summary['vae_loss'], rtol=1e-5)


def _without_decoder_optimizer(config):
  del config.optim['decoder']


@pytest.mark.parametrize('change, message', [
    ({'data.binarize': 'none'}, "config.data.binarize: got 'none': the Bernoulli decoder models binary pixels.*"
     "'sample'.*'threshold'"),
    ({'vae.latent_dim': 0}, 'config.vae.latent_dim: got 0; must be an integer >= 1'),
    ({'vae.iw_samples': 0}, 'config.vae.iw_samples: got 0; must be an integer >= 1'),
    ({'vae.iw_chunk': 0}, 'config.vae.iw_chunk: got 0'),
    ({'vae.hidden': ()}, 'config.vae.hidden: got \\(\\); must be a non-empty tuple'),
    (_without_decoder_optimizer, "config.optim.decoder: config.model='vae' trains networks encoder, decoder"),
    ({'data.name': 'ring', 'data.binarize': 'none'}, "config.data.name: got 'ring'; the Bernoulli decoder models binary images"),
], ids=['binarize_none', 'latent_dim', 'iw_samples', 'iw_chunk', 'hidden', 'no_decoder_optimizer', 'not_images'])
def test_bad_vae_config_is_refused_before_anything_is_written(change, message, tmp_path, offline_data_dir):
  config = smoke_config(offline_data_dir)
  if callable(change):
    change(config)
  else:
    for field, value in change.items():
      set_field(config, field, value)
  with pytest.raises(ConfigError, match=message):
    train_and_evaluate(config, str(tmp_path / 'run'))
  assert not os.path.exists(tmp_path / 'run')
