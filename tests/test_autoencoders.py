"""The autoencoder family: its penalty, corruption and reconstruction errors against independent computations (numpy
in float64, finite differences, binomial and chi-square tolerances), a step against Adam written out by hand on the
hand-written objective, then the family end to end: learning, its probes, exact resume and its bad inputs."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data, families
from gan_jax import parallel as parallel_lib
from gan_jax.config import ConfigError
from gan_jax.models import autoencoder as ae_lib
from gan_jax.rng import noise_key
from gan_jax.train import PreemptedError, train_and_evaluate
from tests.helpers import adam_by_hand, comparable, load_family_state, preempt_after, run_on
from tests.test_experiments import load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def smoke_config(data_dir, variant='smoke', **train):
  config = load(os.path.join(ROOT, 'experiments', 'autoencoder_mnist.py')).get_config(variant)
  config.data.data_dir = data_dir
  for field, value in train.items():
    config.train[field] = value
  return config


def np_kl(rho, rho_hat):
  """sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j)) in float64."""
  return np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))


def test_networks_have_the_documented_shapes_and_codes_in_the_unit_interval():
  encoder = ae_lib.MLPEncoder(hidden=(7,), code_dim=5)
  decoder = ae_lib.MLPDecoder(hidden=(7,), output_shape=(28, 28, 1))
  x = jax.random.uniform(jax.random.key(0), (3, 28, 28, 1))
  codes, _ = encoder.init_with_output(jax.random.key(1), x)
  assert codes.shape == (3, 5) and bool(jnp.all((codes > 0) & (codes < 1)))
  logits, _ = decoder.init_with_output(jax.random.key(2), codes)
  assert logits.shape == (3, 28, 28, 1)


def np_conv_stride2(x, kernel, bias):
  """A 4x4 stride-2 cross-correlation with 'SAME' padding (1 on each side: H -> H / 2) in float64 numpy."""
  size = x.shape[1]
  padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  patches = np.stack([padded[:, a:a + size:2, b:b + size:2, :] for a in range(4) for b in range(4)], axis=3)
  return np.einsum('nijtc,tco->nijo', patches, kernel.reshape(16, *kernel.shape[2:])) + bias


def test_conv_networks_mirror_each_other_and_the_encoder_is_written_out_in_numpy():
  encoder = ae_lib.ConvEncoder(channels=(3, 4), code_dim=5)
  decoder = ae_lib.ConvDecoder(channels=(4, 3), output_shape=(32, 32, 2))
  x = jax.random.uniform(jax.random.key(0), (2, 32, 32, 2))
  codes, variables = encoder.init_with_output(jax.random.key(1), x)
  assert codes.shape == (2, 5) and bool(jnp.all((codes > 0) & (codes < 1)))
  logits, dec_variables = decoder.init_with_output(jax.random.key(2), codes)
  assert logits.shape == (2, 32, 32, 2)
  assert dec_variables['params']['Dense_0']['kernel'].shape == (5, 8 * 8 * 4)  # The encoder's last map, 8x8x4.
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), variables['params'])
  h = np.maximum(np_conv_stride2(np.asarray(x, np.float64), p['Conv_0']['kernel'], p['Conv_0']['bias']), 0.0)
  h = np.maximum(np_conv_stride2(h, p['Conv_1']['kernel'], p['Conv_1']['bias']), 0.0)
  assert h.shape == (2, 8, 8, 4)
  h = h.reshape(2, -1)
  ln = p['LayerNorm_0']  # Flax's LayerNorm: epsilon 1e-6, a scale and a bias per feature.
  h = (h - h.mean(axis=1, keepdims=True)) / np.sqrt(h.var(axis=1, keepdims=True) + 1e-6) * ln['scale'] + ln['bias']
  expected = 1 / (1 + np.exp(-(h @ p['Dense_0']['kernel'] + p['Dense_0']['bias'])))
  np.testing.assert_allclose(np.asarray(codes), expected, rtol=1e-5, atol=1e-6)


def test_kl_sparsity_matches_numpy_in_float64_and_vanishes_at_the_target():
  rng = np.random.default_rng(0)
  rho_hat = rng.uniform(0.01, 0.99, size=17)
  for rho in (0.05, 0.3, 0.9):
    got = float(ae_lib.kl_sparsity(rho, jnp.asarray(rho_hat, jnp.float32)))
    np.testing.assert_allclose(got, np_kl(rho, rho_hat), rtol=1e-5)
  assert float(ae_lib.kl_sparsity(0.05, jnp.full(8, 0.05))) == pytest.approx(0.0, abs=1e-6)
  # Saturated units (float32 sigmoids of large inputs round to 0 or 1) cost a large but finite penalty.
  assert np.isfinite(float(ae_lib.kl_sparsity(0.05, jnp.asarray([0.0, 1.0]))))


def test_kl_sparsity_gradient_matches_finite_differences():
  with jax.enable_x64(True):
    rho, rho_hat = 0.05, jnp.asarray(np.random.default_rng(1).uniform(0.02, 0.9, size=6))
    grad = np.asarray(jax.grad(lambda r: ae_lib.kl_sparsity(rho, r))(rho_hat))
    h = 1e-6
    numeric = [(np_kl(rho, np.asarray(rho_hat) + h * e) - np_kl(rho, np.asarray(rho_hat) - h * e)) / (2 * h)
               for e in np.eye(6)]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6)
    # And the closed form d/d rho_hat = -rho / rho_hat + (1 - rho) / (1 - rho_hat).
    r = np.asarray(rho_hat)
    np.testing.assert_allclose(grad, -rho / r + (1 - rho) / (1 - r), rtol=1e-9)


def test_masking_noise_zeroes_the_requested_fraction_and_leaves_the_rest_unchanged():
  x = jax.random.uniform(jax.random.key(0), (50, 28, 28, 1), minval=0.01, maxval=1.0)  # No pixel is 0 already.
  for level in (0.1, 0.25, 0.6):
    y = np.asarray(ae_lib.corrupt(x, jax.random.key(3), 'mask', level))
    zeroed = y == 0.0
    n = zeroed.size
    # Binomial(n, level): within 4 standard deviations.
    assert abs(zeroed.sum() - n * level) < 4 * np.sqrt(n * level * (1 - level))
    np.testing.assert_array_equal(y[~zeroed], np.asarray(x)[~zeroed])
  np.testing.assert_array_equal(np.asarray(ae_lib.corrupt(x, jax.random.key(3), 'none', 0.5)), np.asarray(x))


def test_gaussian_noise_has_the_requested_standard_deviation_and_no_mean():
  x = jax.random.uniform(jax.random.key(0), (40, 28, 28, 1))
  for std in (0.1, 0.5):
    noise = np.asarray(ae_lib.corrupt(x, jax.random.key(4), 'gaussian', std), np.float64) - np.asarray(x)
    n = noise.size
    # The sample std of n normals has standard error std / sqrt(2n); the mean has std / sqrt(n).
    assert abs(noise.std() - std) < 4 * std / np.sqrt(2 * n)
    assert abs(noise.mean()) < 4 * std / np.sqrt(n)


def test_reconstruction_errors_match_numpy_in_float64():
  rng = np.random.default_rng(2)
  logits = rng.normal(scale=3.0, size=(3, 4, 4, 1))
  x = rng.uniform(size=(3, 4, 4, 1))  # Grey targets in [0, 1].
  p = 1 / (1 + np.exp(-logits))
  ce = -np.sum((x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(3, -1), axis=1)
  se = np.sum(((p - x)**2).reshape(3, -1), axis=1)
  for kind, expected in (('cross_entropy', ce), ('squared', se)):
    got = ae_lib.reconstruction_error(jnp.asarray(logits, jnp.float32), jnp.asarray(x, jnp.float32), kind)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5)


def test_family_steps_are_adam_on_the_hand_written_sparse_denoising_objective(offline_data_dir):
  config = smoke_config(offline_data_dir)
  config.autoencoder.sparsity_weight = 3.0
  config.autoencoder.corruption = 'mask'
  config.autoencoder.corruption_level = 0.25
  rho, beta, level = 0.05, 3.0, 0.25
  dataset = data.make_dataset(config.data)
  family = families.get('autoencoder')
  state = family.create_state(config, jax.random.key(0), dataset)
  train_step, sample_real = family.make_train_step(config, dataset, parallel_lib.make_data_parallel('single'))
  arrays = jax.tree.map(jnp.asarray, dataset.host_arrays())
  step = jax.jit(train_step)
  reals, logged = [], []
  after = state
  for _ in range(2):
    real = sample_real(after, arrays)
    reals.append(real['x'][0])
    after, metrics = step(after, real)
    logged.append(metrics)

  def loss_by_hand(params, x01, key):
    x = x01.reshape(len(x01), -1)
    noisy = jnp.where(jax.random.uniform(key, x01.shape) < level, 0.0, x01).reshape(len(x01), -1)
    enc, dec = params['encoder']['Dense_0'], params['decoder']['Dense_0']
    h = jax.nn.sigmoid(noisy @ enc['kernel'] + enc['bias'])
    logits = h @ dec['kernel'] + dec['bias']
    ce = -jnp.sum(x * jax.nn.log_sigmoid(logits) + (1 - x) * jax.nn.log_sigmoid(-logits), axis=1)
    r = jnp.mean(h, axis=0)
    kl = jnp.sum(rho * jnp.log(rho / r) + (1 - rho) * jnp.log((1 - rho) / (1 - r)))
    return jnp.mean(ce) + beta * kl, (jnp.mean(ce), kl)

  opt = config.optim.encoder
  assert (opt.name, config.optim.decoder.to_dict()) == ('adam', opt.to_dict())
  params = {name: jax.tree.map(lambda p: np.asarray(p, np.float64), state.nets[name].params)
            for name in ('encoder', 'decoder')}
  m = jax.tree.map(np.zeros_like, params)
  v = jax.tree.map(np.zeros_like, params)
  for t, x in enumerate(reals):
    x01 = (x + 1.0) / 2.0
    f32 = jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), params)
    (loss, (ce, kl)), grads = jax.value_and_grad(loss_by_hand, has_aux=True)(f32, x01, noise_key(state.rng, t))
    np.testing.assert_allclose(float(logged[t]['autoencoder_loss']), float(loss), rtol=1e-5)
    np.testing.assert_allclose([float(logged[t]['autoencoder_reconstruction']),
                                float(logged[t]['autoencoder_sparsity'])], [float(ce), float(kl)], rtol=1e-5)
    assert float(kl) > 0.1  # The penalty is active: the untrained codes' means are far from 0.05.
    params, m, v = adam_by_hand(params, grads, m, v, t, opt)  # Each network with its own moments.
  for name in ('encoder', 'decoder'):
    moved = jax.tree.map(lambda a, b: np.abs(np.asarray(a) - b).max(), state.nets[name].params, params[name])
    assert max(jax.tree.leaves(moved)) > 1e-3  # Both networks moved (by about two learning rates).
    jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), b, atol=2e-6), after.nets[name].params,
                 params[name])


def test_smoke_run_learns_to_reconstruct_and_reports_its_probes_beside_their_baselines(tmp_path, offline_data_dir):
  config = smoke_config(offline_data_dir, num_steps=100, eval_every_steps=100, checkpoint_every_steps=100)
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  assert final['step'] == 100
  # The untrained model's test cross-entropy, computed directly on the same test images.
  dataset = data.make_dataset(config.data)
  fresh = families.get('autoencoder').create_state(config, jax.random.key(config.seed), dataset)
  test = data.make_dataset(families._with_split(config.data, config.eval.test_split)).host_arrays()
  num = config.eval.num_samples
  x = np.asarray(test['images'][:num], np.float64).reshape(num, -1) / 255.0
  enc, dec = fresh.nets['encoder'].params['Dense_0'], fresh.nets['decoder'].params['Dense_0']
  h = 1 / (1 + np.exp(-(x @ np.asarray(enc['kernel'], np.float64) + np.asarray(enc['bias'], np.float64))))
  logits = h @ np.asarray(dec['kernel'], np.float64) + np.asarray(dec['bias'], np.float64)
  untrained = np.mean(np.sum(np.logaddexp(0, -logits) * x + np.logaddexp(0, logits) * (1 - x), axis=1))
  assert untrained > 500  # Logits of the untrained decoder are far from the digits' mostly dark pixels.
  assert final['test_cross_entropy'] < untrained - 200
  # The baselines, fitted here with scikit-learn on the same 200 training and 200 test images: the raw pixels, and
  # the codes of the run's step-0 encoder computed in numpy.
  from sklearn.linear_model import LogisticRegression
  train = dataset.host_arrays()
  train_x = np.asarray(train['images'][:num], np.float64).reshape(num, -1) / 255.0

  def probe(train_features, test_features):
    fitted = LogisticRegression(max_iter=500).fit(train_features, train['labels'][:num])
    return fitted.score(test_features, test['labels'][:num])

  def codes(images):
    return 1 / (1 + np.exp(-(images @ np.asarray(enc['kernel'], np.float64) + np.asarray(enc['bias'], np.float64))))

  # One test digit in 200 is 0.005: the float32 codes may flip a borderline prediction or two.
  assert final['probe_accuracy_pixels'] == pytest.approx(probe(train_x, x), abs=0.011)
  assert final['probe_accuracy_random_encoder'] == pytest.approx(probe(codes(train_x), codes(x)), abs=0.011)
  assert final['probe_accuracy_pixels'] > 0.5  # Far above chance (0.1) even from 200 training digits.
  # After 100 steps every code unit is near 1 (the codes first serve the decoder as a bias), so the trained probe
  # may be near chance: only its range is checked here; the real runs compare it with the baselines.
  assert 0.0 <= final['probe_accuracy'] <= 1.0 and final['test_mean_code'] > 0.0
  plots = sorted(os.listdir(tmp_path / 'run' / 'plots'))
  assert plots == [f'{name}_0000100.png' for name in ('filters', 'reconstructions')]
  with open(tmp_path / 'run' / 'metrics.json') as f:
    assert {'test_cross_entropy', 'test_squared_error', 'probe_accuracy', 'probe_accuracy_pixels',
            'probe_accuracy_random_encoder'} <= set(json.load(f))


@pytest.mark.slow  # 20 s; the plain smoke run and the stacked resume keep the family's loop in CI.
def test_conv_smoke_run_learns_to_reconstruct_and_pictures_its_first_layers_kernels(tmp_path, offline_data_dir):
  config = smoke_config(offline_data_dir, num_steps=60, eval_every_steps=60, checkpoint_every_steps=60)
  config.autoencoder.architecture = 'conv'
  config.autoencoder.conv_channels = (4, 8)
  config.eval.num_samples = 100
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  # The step-0 model's test cross-entropy on the same 100 test digits (the module is checked against numpy above).
  dataset = data.make_dataset(config.data)
  fresh = families.get('autoencoder').create_state(config, jax.random.key(config.seed), dataset)
  test = data.make_dataset(families._with_split(config.data, config.eval.test_split)).host_arrays()
  x = jnp.asarray(test['images'][:100], jnp.float32) / 255.0
  logits = fresh.nets['decoder'].apply(fresh.nets['encoder'].apply(x)[0])[0]
  untrained = float(jnp.mean(ae_lib.reconstruction_error(logits, x, 'cross_entropy')))
  assert final['test_cross_entropy'] < untrained - 200, (final['test_cross_entropy'], untrained)
  from PIL import Image
  with Image.open(tmp_path / 'run' / 'plots' / 'filters_0000060.png') as filters:
    size = filters.size
  # 4 kernels of 4x4 in a 2x2 grid: far smaller than a grid of 28x28 digit-sized filters.
  assert max(size) < 28 * 2


# CI resumes this family in test_stacked_resume_in_the_middle_of_a_layers_phase_matches_the_uninterrupted_run, the
# masking noise's draws included.
@pytest.mark.slow
def test_resumed_run_matches_the_uninterrupted_one_bit_for_bit(tmp_path, offline_data_dir):
  whole = smoke_config(offline_data_dir, 'smoke', num_steps=30, checkpoint_every_steps=10, eval_every_steps=30)
  whole.autoencoder.corruption = 'mask'  # The corruption's draws must follow the step too.
  whole.autoencoder.corruption_level = 0.25
  whole.autoencoder.sparsity_weight = 3.0
  whole.eval.num_samples = 50  # Each of the three runs fits its probes at set-up and at its end.
  part = whole.copy_and_resolve_references()
  part.train.num_steps = 20
  train_and_evaluate(whole, str(tmp_path / 'whole'))
  train_and_evaluate(part, str(tmp_path / 'split'))
  train_and_evaluate(whole, str(tmp_path / 'split'))
  a, b = load_family_state(tmp_path / 'whole', whole), load_family_state(tmp_path / 'split', whole)
  assert int(a.step) == 30
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), comparable(a),
               comparable(b))


@pytest.mark.parametrize('field, value, message', [
    ('sparsity_target', 0.0, 'config.autoencoder.sparsity_target: got 0.0; must lie strictly between 0 and 1'),
    ('sparsity_target', 1.0, 'config.autoencoder.sparsity_target: got 1.0; must lie strictly between 0 and 1'),
    ('corruption', 'salt', "config.autoencoder.corruption: got 'salt'; accepted values: none, mask, gaussian"),
    ('corruption_level', 1.0, 'config.autoencoder.corruption_level: got 1.0; masking noise .* level < 1'),
    ('reconstruction', 'l1', "config.autoencoder.reconstruction: got 'l1'; accepted values: cross_entropy, squared"),
    ('sparsity_weight', -1.0, 'config.autoencoder.sparsity_weight: got -1.0; must be a number >= 0'),
    ('architecture', 'rnn', "config.autoencoder.architecture: got 'rnn'; accepted values: mlp, conv"),
    ('conv_channels', (8, 8, 8), 'config.autoencoder.conv_channels: got 3 stride-2 convolutions, which need an image '
     'size divisible by 8; data.resolution=28'),
    ('conv_channels', (), r'config.autoencoder.conv_channels: got \(\); must be a non-empty tuple'),
], ids=['rho_0', 'rho_1', 'salt', 'mask_1', 'l1', 'negative_beta', 'rnn', 'conv_28_by_8', 'conv_none'])
def test_bad_autoencoder_config_is_refused_before_anything_is_written(field, value, message, tmp_path,
                                                                     offline_data_dir):
  config = smoke_config(offline_data_dir)
  if field == 'corruption_level':
    config.autoencoder.corruption = 'mask'
  if field == 'conv_channels':
    config.autoencoder.architecture = 'conv'
  config.autoencoder[field] = value
  with pytest.raises(ConfigError, match=message):
    train_and_evaluate(config, str(tmp_path / 'run'))
  assert not os.path.exists(tmp_path / 'run')


def test_grey_images_are_accepted_and_non_images_refused(offline_data_dir):
  from gan_jax.validation import validate
  config = smoke_config(offline_data_dir)
  assert config.data.binarize == 'none'
  validate(config, num_devices=1)  # Grey levels: no binarisation asked for.
  config.data.name = 'ring'
  with pytest.raises(ConfigError, match="config.data.name: got 'ring'; the autoencoder models images"):
    validate(config, num_devices=1)


def test_filter_pictures_keep_a_filters_pattern_beside_one_huge_weight():
  from gan_jax.families.autoencoder import filter_images
  rng = np.random.default_rng(5)
  kernel = rng.normal(size=(16, 3))
  kernel[:3, 0] = 1e3  # Rarely-on border pixels' weights.
  images = filter_images(kernel, (4, 4, 1), 2)
  assert images.shape == (2, 4, 4, 1) and np.all(np.abs(images) <= 1.0)
  np.testing.assert_array_equal(images[0].reshape(-1)[:3], 1.0)  # Clipped.
  # The other 13 weights still spread over a visible range (scaled by the largest weight or by the standard
  # deviation they would span 1e-2 at most).
  assert np.ptp(images[0].reshape(-1)[3:]) > 0.5
  # A filter without outliers keeps the order of its weights.
  np.testing.assert_array_equal(np.argsort(images[1].reshape(-1)), np.argsort(kernel[:, 1]))


# Stacked autoencoders: greedy layer-wise pre-training, then fine-tuning of the stack.


def stacked_config(data_dir, pretrain_steps, **train):
  config = smoke_config(data_dir, 'stacked_smoke', **train)
  config.autoencoder.pretrain_steps = pretrain_steps
  return config


def assert_trees_equal(a, b):
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), a, b)


def test_the_stack_computes_the_unstacked_autoencoder_of_its_widths(offline_data_dir):
  from gan_jax.families import autoencoder as ae_family
  stacked = stacked_config(offline_data_dir, (10, 10))
  deep = stacked.copy_and_resolve_references()
  deep.autoencoder.pretrain_steps = ()
  dataset = data.make_dataset(deep.data)
  family = families.get('autoencoder')
  whole = family.create_state(deep, jax.random.key(0), dataset)
  assert sorted(whole.nets) == ['decoder', 'encoder']  # Without pre-training, the state of every earlier run.
  layers = family.create_state(stacked, jax.random.key(0), dataset)
  assert sorted(layers.nets) == ['decoder_0', 'decoder_1', 'encoder_0', 'encoder_1']
  enc, dec = whole.nets['encoder'].params, whole.nets['decoder'].params
  copied = {'encoder_0': {'Dense_0': enc['Dense_0']}, 'encoder_1': {'Dense_0': enc['Dense_1']},
            'decoder_1': {'Dense_0': dec['Dense_0']}, 'decoder_0': {'Dense_0': dec['Dense_1']}}
  layers = layers.with_params(copied)
  x = jax.random.uniform(jax.random.key(1), (8, 28, 28, 1))
  settings = {**ae_family.loss_settings(deep), 'corruption': 'mask', 'corruption_level': 0.25,
              'sparsity_weight': 3.0}
  key = jax.random.key(2)
  expected = ae_family.objective(whole, {'x': x}, key=key, settings=settings)
  got = ae_family.stack_objective(layers, {'x': x}, key=key, settings=settings,
                                  modules=ae_family.make_modules(stacked, dataset.shape))
  np.testing.assert_allclose(float(got[0]), float(expected[0]), rtol=1e-6)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(float(a), float(b), rtol=1e-6), got[1][1], expected[1][1])


def test_stacked_phases_train_only_their_layers_and_layer_1_is_an_autoencoder_of_layer_0s_codes(offline_data_dir):
  config = stacked_config(offline_data_dir, (2, 2))
  level, rho, beta = 0.25, 0.05, 3.0
  config.autoencoder.update(corruption='mask', corruption_level=level, sparsity_weight=beta)
  dataset = data.make_dataset(config.data)
  family = families.get('autoencoder')
  state = family.create_state(config, jax.random.key(0), dataset)
  train_step, sample_real = family.make_train_step(config, dataset, parallel_lib.make_data_parallel('single'))
  step = jax.jit(train_step)
  arrays = jax.tree.map(jnp.asarray, dataset.host_arrays())
  trained = {0: {'encoder_0', 'decoder_0'}, 1: {'encoder_1', 'decoder_1'}, 2: set(state.nets)}
  keys = None
  for t in range(6):
    real = sample_real(state, arrays)
    before = state
    state, metrics = step(state, real)
    phase = int(metrics['phase'])
    assert phase == min(t // 2, 2)
    keys = keys or set(metrics)
    assert set(metrics) == keys  # One structure in every phase.
    for name in state.nets:
      if name in trained[phase]:
        assert int(state.nets[name].count) == int(before.nets[name].count) + 1
      else:  # Untouched: parameters, Adam's moments and step count.
        assert_trees_equal(state.nets[name], before.nets[name])
    if t == 2:  # Layer 1's first step: a one-layer sparse denoising autoencoder of layer 0's clean codes.
      p0 = before.nets['encoder_0'].params['Dense_0']
      x = np.asarray((real['x'][0] + 1.0) / 2.0, np.float64).reshape(len(real['x'][0]), -1)
      codes = 1 / (1 + np.exp(-(x @ np.asarray(p0['kernel'], np.float64) + np.asarray(p0['bias'], np.float64))))
      enc, dec = before.nets['encoder_1'].params['Dense_0'], before.nets['decoder_1'].params['Dense_0']
      enc, dec = jax.tree.map(lambda a: np.asarray(a, np.float64), (enc, dec))
      keep = ~np.asarray(jax.random.uniform(noise_key(before.rng, before.step), codes.shape) < level)
      h = 1 / (1 + np.exp(-((codes * keep) @ enc['kernel'] + enc['bias'])))
      logits = h @ dec['kernel'] + dec['bias']
      ce = np.mean(np.sum(np.logaddexp(0, -logits) * codes + np.logaddexp(0, logits) * (1 - codes), axis=1))
      r = h.mean(0)
      kl = np.sum(rho * np.log(rho / r) + (1 - rho) * np.log((1 - rho) / (1 - r)))
      np.testing.assert_allclose(float(metrics['autoencoder_reconstruction']), ce, rtol=1e-5)
      np.testing.assert_allclose(float(metrics['autoencoder_loss']), ce + beta * kl, rtol=1e-5)
  # While fine-tuning, 'encoder_param_norm' is the norm of every encoder layer's parameters together.
  leaves = jax.tree.leaves([state.nets['encoder_0'].params, state.nets['encoder_1'].params])
  np.testing.assert_allclose(float(metrics['encoder_param_norm']),
                             np.sqrt(sum(np.sum(np.asarray(a, np.float64)**2) for a in leaves)), rtol=1e-5)
  assert {'encoder_grad_norm', 'decoder_update_norm', 'autoencoder_loss', 'phase'} <= keys


@pytest.mark.slow  # CI resumes in the middle of a phase with the DBN (tests/test_dbn.py): the same phased step.
def test_stacked_resume_in_the_middle_of_a_layers_phase_matches_the_uninterrupted_run(tmp_path, monkeypatch,
                                                                                     offline_data_dir):
  config = stacked_config(offline_data_dir, (10, 10), num_steps=30, steps_per_call=5, checkpoint_every_steps=5,
                          eval_every_steps=30, log_every_steps=5)
  config.autoencoder.update(corruption='mask', corruption_level=0.25)  # Its draws must follow the step too.
  config.eval.num_samples = 50
  with monkeypatch.context() as patch:
    preempt_after(patch, chunks=3)  # Step 15: five steps into layer 1's pre-training.
    with pytest.raises(PreemptedError, match='at step 15'):
      train_and_evaluate(config, str(tmp_path / 'split'))
  train_and_evaluate(config, str(tmp_path / 'split'))
  resumed = load_family_state(tmp_path / 'split', config)
  uninterrupted, _ = run_on(config, 'single', num_calls=6, steps_per_call=5)
  assert int(resumed.step) == 30 and int(resumed.nets['encoder_0'].count) == 20
  assert_trees_equal(comparable(resumed), comparable(uninterrupted))


@pytest.mark.parametrize('pretrain_steps, message', [
    ((10,), r'config.autoencoder.pretrain_steps: got \(10,\): 1 step counts for the 2 layers of '
            r'autoencoder.hidden=\(24,\) and the code \(autoencoder.code_dim=16\); give one per layer'),
    ((30, 20), r'config.autoencoder.pretrain_steps: got \(30, 20\), 50 steps in all, more than train.num_steps=40'),
    ((10, 0), r'config.autoencoder.pretrain_steps: got \(10, 0\); must be \(\) for no pre-training, or a tuple'),
    ('conv', r"config.autoencoder.pretrain_steps: got \(10, 10\) with autoencoder.architecture='conv': greedy "
             r'pre-training stacks dense layers'),
])
def test_bad_pretraining_schedule_is_refused(pretrain_steps, message, tmp_path):
  from gan_jax.validation import validate
  config = load(os.path.join(ROOT, 'experiments', 'autoencoder_mnist.py')).get_config('stacked_smoke')
  if pretrain_steps == 'conv':
    config.autoencoder.architecture = 'conv'
  else:
    config.autoencoder.pretrain_steps = pretrain_steps
  config.data.data_dir = str(tmp_path)
  with pytest.raises(ConfigError, match=message):
    validate(config, num_devices=1)


def test_a_run_from_before_pretraining_existed_resumes_and_turning_it_on_is_refused(tmp_path):
  from gan_jax import workdir as workdir_lib
  config = smoke_config(str(tmp_path))
  saved = {k: v for k, v in workdir_lib.flat_config(config).items() if k != 'autoencoder.pretrain_steps'}
  (tmp_path / 'checkpoints' / '20').mkdir(parents=True)
  (tmp_path / 'config.json').write_text(json.dumps(saved))
  assert workdir_lib.check_config(str(tmp_path), config, allow_change=False) == []
  (tmp_path / 'config.json').write_text(json.dumps(saved))
  config.autoencoder.pretrain_steps = (10, 10)
  with pytest.raises(workdir_lib.WorkdirError, match=r'autoencoder.pretrain_steps: .<absent>. -> \[10, 10\]'):
    workdir_lib.check_config(str(tmp_path), config, allow_change=False)
