"""The PPGN family: the sampler's step against its formula (finite differences in float64, a Python loop, chains
one at a time), R's and G's losses against numpy, which networks each update moves, then the family end to end:
its evaluation, exact resume, its refused configs and refused resumes."""

import dataclasses
import functools
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import workdir as workdir_lib
from gan_jax.config import ConfigError
from gan_jax.evaluation import digits
from gan_jax.families import ppgn as family
from gan_jax.models import ppgn as ppgn_lib
from gan_jax.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_jax.optim import make_optimizer
from gan_jax.state import Network, TrainState
from gan_jax.train import train_and_evaluate
from gan_jax.update import update
from gan_jax.validation import validate
from tests.helpers import comparable, load_family_state
from tests.test_experiments import load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def smoke_config(data_dir=None, **train):
  config = load(os.path.join(ROOT, 'experiments', 'ppgn_mnist.py')).get_config('smoke')
  if data_dir is not None:
    config.data.data_dir = data_dir
  for field, value in train.items():
    config.train[field] = value
  return config


def np_log_softmax(logits):
  shifted = logits - logits.max(axis=-1, keepdims=True)
  return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def test_chain_step_is_the_formula_with_the_gradient_by_finite_differences():
  rng = np.random.default_rng(0)
  b, d, k = 3, 5, 4
  w, v, c = rng.normal(size=(d, 4)), rng.normal(size=(4, k)), rng.normal(size=k)
  a, bias = 0.3 * rng.normal(size=(d, d)), rng.normal(size=d)
  h = rng.uniform(1.0, 2.0, size=(b, d))  # Inside [0, h_max] after the step too.
  target = np.asarray([0, 3, 1])

  def np_log_likelihood(h_row, t):
    return np_log_softmax(np.tanh(h_row @ w) @ v + c)[t]

  with jax.enable_x64(True):
    settings = dict(generate=lambda h: jnp.tanh(h @ w).reshape(-1, 2, 2, 1),
                    classify=lambda x: x.reshape(x.shape[0], -1) @ v + c, denoise=lambda h: h @ a + bias,
                    eps1=0.1, eps2=0.05, eps3=0.01, h_max=30.0)
    key = jax.random.key(7)
    got = np.asarray(ppgn_lib.chain_step(jnp.asarray(h), key, jnp.asarray(target), **settings))
    noise = np.asarray(jax.random.normal(key, h.shape, jnp.float64))
  step = 1e-6
  grad = np.asarray([[(np_log_likelihood(h[i] + step * e, target[i]) - np_log_likelihood(h[i] - step * e, target[i]))
                      / (2 * step) for e in np.eye(d)] for i in range(b)])
  expected = h + 0.1 * (h @ a + bias - h) + 0.05 * grad + 0.01 * noise
  assert np.abs(expected - h).max() > 0.05  # The step moves h.
  np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-9)


@functools.cache
def tiny_networks(dim=6, seed=0):
  """A small G (DCGAN at 28x28, batch norm), condition network and R, with their variables."""
  generator = Network.create(DCGANGenerator(resolution=28, channels=1, base_channels=4),
                             make_optimizer(family_optim()), jax.random.key(seed), jnp.zeros((1, dim)))
  classifier = digits.DigitClassifier(conv_features=(4, 4, 4), feature_dim=8)
  c_params = classifier.init(jax.random.key(seed + 1), jnp.zeros((1, 28, 28, 1)))['params']
  dae = Network.create(ppgn_lib.DenoisingMLP(hidden=(7,)), make_optimizer(family_optim()), jax.random.key(seed + 2),
                       jnp.zeros((1, dim)))
  return generator, (classifier, c_params), dae


def family_optim():
  from gan_jax.config import ppgn_config
  return ppgn_config().optim.g


def chain_settings(generator, classifier, dae, **eps):
  module, params = classifier
  return dict(generate=lambda h: generator.apply(h, train=False)[0],
              classify=lambda x: module.apply({'params': params}, x)[0],
              denoise=lambda h: dae.apply(h, train=False)[0], h_max=30.0, **eps)


def test_chain_step_of_real_networks_treats_chains_apart_and_adds_the_terms():
  generator, classifier, dae = tiny_networks()
  # The untrained condition's gradients are small (about 1e-5): a large eps2 makes the term count.
  settings = chain_settings(generator, classifier, dae, eps1=0.2, eps2=3000.0, eps3=0.1)
  h = jax.random.uniform(jax.random.key(3), (4, 6), minval=1.0, maxval=2.0)
  target = jnp.asarray([0, 9, 4, 4])
  key = jax.random.key(5)
  got = jax.jit(lambda h: ppgn_lib.chain_step(h, key, target, **settings))(h)
  # Each chain's gradient computed alone, on a batch of one: G in evaluation mode couples no chains.
  one_chain = jax.jit(jax.grad(lambda row, t: jax.nn.log_softmax(
      settings['classify'](settings['generate'](row[None])))[0, t]))
  alone = jnp.stack([one_chain(h[i], t) for i, t in enumerate(np.asarray(target))])
  expected = h + 0.2 * (settings['denoise'](h) - h) + 3000.0 * alone + 0.1 * jax.random.normal(key, h.shape)
  assert float(jnp.abs(3000.0 * alone).max()) > 0.01
  np.testing.assert_allclose(np.asarray(got), np.clip(np.asarray(expected), 0.0, 30.0), rtol=1e-5, atol=1e-5)


def test_zero_multipliers_leave_h_unchanged_and_the_clip_keeps_relu_range():
  generator, classifier, dae = tiny_networks()
  h = jax.random.uniform(jax.random.key(1), (3, 6), maxval=5.0)
  still = ppgn_lib.chain_step(h, jax.random.key(2), jnp.zeros(3, jnp.int32),
                              **chain_settings(generator, classifier, dae, eps1=0.0, eps2=0.0, eps3=0.0))
  np.testing.assert_array_equal(np.asarray(still), np.asarray(h))
  outside = jnp.asarray([[-1.0, 0.5, 31.0, 2.0, 0.0, 30.0]])
  clipped = ppgn_lib.chain_step(outside, jax.random.key(2), jnp.zeros(1, jnp.int32),
                                **chain_settings(generator, classifier, dae, eps1=0.0, eps2=0.0, eps3=0.0))
  np.testing.assert_array_equal(np.asarray(clipped), [[0.0, 0.5, 30.0, 2.0, 0.0, 30.0]])


def test_sample_chain_is_a_loop_of_steps_with_one_key_per_step_and_keeps_every_frame():
  generator, classifier, dae = tiny_networks()
  settings = chain_settings(generator, classifier, dae, eps1=0.1, eps2=3000.0, eps3=0.05)
  h0 = jax.random.uniform(jax.random.key(1), (2, 6), maxval=2.0)
  target, key = jnp.asarray([1, 7]), jax.random.key(9)
  last, frames = jax.jit(lambda h0: ppgn_lib.sample_chain(h0, key, target, steps=6, record_every=2, **settings))(h0)
  assert frames.shape == (3, 2, 6)
  h, kept = h0, []
  step = jax.jit(lambda h, key: ppgn_lib.chain_step(h, key, target, **settings))
  for t in range(6):
    h = step(h, jax.random.fold_in(key, t))
    if t % 2 == 1:
      kept.append(h)
  np.testing.assert_allclose(np.asarray(frames), np.stack(kept), rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(np.asarray(last), np.asarray(frames[-1]))
  with pytest.raises(ValueError, match='record_every=4 does not divide steps=6'):
    ppgn_lib.sample_chain(h0, key, target, steps=6, record_every=4, **settings)


@functools.cache
def tiny_state(seed=0):
  """A PPGN state of small networks on 8-dimensional codes, without a dataset (shared: states are immutable)."""
  from gan_jax.config import ppgn_config
  config = ppgn_config()
  generator, _, _ = tiny_networks(dim=8, seed=seed)
  d = Network.create(DCGANDiscriminator(resolution=28, base_channels=4), make_optimizer(config.optim.d),
                     jax.random.key(seed + 10), jnp.zeros((1, 28, 28, 1)))
  dae = Network.create(ppgn_lib.DenoisingMLP(hidden=(7,)), make_optimizer(config.optim.dae),
                       jax.random.key(seed + 11), jnp.zeros((1, 8)))
  return TrainState.create({'g': generator, 'd': d, 'dae': dae}, jax.random.key(seed + 12))


@functools.cache
def tiny_encoder(seed=0):
  classifier = digits.DigitClassifier(conv_features=(4, 4, 4), feature_dim=8)
  params = classifier.init(jax.random.key(seed + 20), jnp.zeros((1, 28, 28, 1)))['params']
  return lambda x: classifier.apply({'params': params}, x)


def tiny_batch(encode, n=5):
  x = jax.random.uniform(jax.random.key(30), (n, 28, 28, 1), minval=-1.0, maxval=1.0)
  return {'x': x, 'h': encode(x)[1]}


def test_dae_objective_is_the_squared_error_of_the_noisy_codes_reconstruction_in_numpy():
  state = tiny_state()
  h = jax.random.uniform(jax.random.key(4), (9, 8), maxval=3.0)
  key = jax.random.key(6)
  loss, _ = family.dae_objective(state, {'h': h}, key=key, noise_std=0.7)
  noisy = np.asarray(h, np.float64) + 0.7 * np.asarray(jax.random.normal(key, h.shape), np.float64)
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), state.nets['dae'].params)
  hidden = np.maximum(noisy @ p['Dense_0']['kernel'] + p['Dense_0']['bias'], 0.0)
  reconstruction = hidden @ p['Dense_1']['kernel'] + p['Dense_1']['bias']
  np.testing.assert_allclose(float(loss), np.mean((reconstruction - np.asarray(h, np.float64))**2), rtol=1e-5)
  # Without noise R's loss is its reconstruction error of the clean codes.
  clean, _ = family.dae_objective(state, {'h': h}, key=key, noise_std=1e-30)
  hidden = np.maximum(np.asarray(h, np.float64) @ p['Dense_0']['kernel'] + p['Dense_0']['bias'], 0.0)
  np.testing.assert_allclose(float(clean), np.mean((hidden @ p['Dense_1']['kernel'] + p['Dense_1']['bias']
                                                    - np.asarray(h, np.float64))**2), rtol=1e-5)


def test_generator_objective_is_the_weighted_sum_of_its_terms_computed_in_numpy():
  state, encode = tiny_state(), tiny_encoder()
  batch = tiny_batch(encode)
  from gan_jax import losses
  _, g_loss = losses.adversarial_pair('non_saturating')
  weights = {'image': 2.0, 'feature': 0.3, 'adversarial': 0.05}
  loss, (_, metrics) = family.generator_objective(state, batch, encode=encode, g_loss=g_loss, weights=weights)
  # The same networks run one by one (G and D in training mode, as the objective runs them).
  fake = np.asarray(state.nets['g'].apply(batch['h'])[0], np.float64)
  fake_features = np.asarray(encode(jnp.asarray(fake, jnp.float32))[1], np.float64)
  fake_logits = np.asarray(state.nets['d'].apply(jnp.asarray(fake, jnp.float32))[0]['logits'], np.float64)
  x, h = np.asarray(batch['x'], np.float64), np.asarray(batch['h'], np.float64)
  image, feature = np.mean((fake - x)**2), np.mean((fake_features - h)**2)
  adversarial = np.mean(np.logaddexp(0.0, -fake_logits))  # -log sigmoid(D(G(h))).
  np.testing.assert_allclose([float(metrics['g_image']), float(metrics['g_feature']),
                              float(metrics['g_adversarial'])], [image, feature, adversarial], rtol=1e-4)
  np.testing.assert_allclose(float(loss), 2.0 * image + 0.3 * feature + 0.05 * adversarial, rtol=1e-4)
  terms = ppgn_lib.generator_terms(jnp.ones((2, 2)), jnp.zeros((2, 2)), jnp.arange(3.0), jnp.zeros(3))
  assert (float(terms['image']), float(terms['feature'])) == (1.0, pytest.approx(5.0 / 3.0))


def _changed(before, after):
  """Which of the state's networks' parameters and batch statistics differ."""
  def moved(a, b):
    return any(not np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(jax.tree.leaves(a),
                                                                             jax.tree.leaves(b)))
  return ({n for n in before.nets if moved(before.nets[n].params, after.nets[n].params)},
          {n for n in before.nets if moved(before.nets[n].batch_stats, after.nets[n].batch_stats)})


def test_each_update_moves_its_own_network_only():
  from gan_jax import losses
  state, encode = tiny_state(), tiny_encoder()
  batch = tiny_batch(encode, n=6)
  d_loss, g_loss = losses.adversarial_pair('non_saturating')
  weights = {'image': 1.0, 'feature': 0.1, 'adversarial': 0.01}
  d_step = jax.jit(lambda s, b: update(s, b, nets=('d',), name='d', objective=lambda s, b: (
      family.discriminator_objective(s, b, d_loss=d_loss))))
  g_step = jax.jit(lambda s, b: update(s, b, nets=('g',), name='g', objective=lambda s, b: (
      family.generator_objective(s, b, encode=encode, g_loss=g_loss, weights=weights))))
  dae_step = jax.jit(lambda s, b: update(s, b, nets=('dae',), name='dae', objective=lambda s, b: (
      family.dae_objective(s, b, key=jax.random.key(0), noise_std=1.0))))
  after_d, metrics = d_step(state, batch)
  # D's step runs G in training mode for its fakes; G's running statistics stay those of G's own steps.
  assert _changed(state, after_d) == ({'d'}, {'d'})
  assert float(metrics['d_loss']) > 0.0
  after_g, metrics = g_step(after_d, batch)
  assert _changed(after_d, after_g) == ({'g'}, {'g'})
  assert {'g_image', 'g_feature', 'g_adversarial', 'g_grad_norm'} <= set(metrics)
  after_dae, _ = dae_step(after_g, batch)
  assert _changed(after_g, after_dae) == ({'dae'}, set())


def optimized(make_evaluator):
  """The family's evaluator, run with XLA's optimisations that conftest.py turns off: unoptimised, the chains'
  gradients through G and the classifier in a loop run about 60x slower than they take to compile."""
  def make(config, dataset):
    evaluate = make_evaluator(config, dataset)

    def evaluate_optimized(state):
      jax.config.update('jax_disable_most_optimizations', False)
      try:
        return evaluate(state)
      finally:
        jax.config.update('jax_disable_most_optimizations', True)

    return evaluate_optimized
  return make


@pytest.mark.slow  # 50 s; the chain step, both objectives and each network's update are checked above, in CI.
def test_smoke_run_evaluates_both_samplers_and_resumes_bit_for_bit(tmp_path, offline_data_dir, monkeypatch):
  config = smoke_config(offline_data_dir, num_steps=6, checkpoint_every_steps=2, eval_every_steps=6,
                        log_every_steps=2)
  monkeypatch.setattr(family, 'FAMILY', dataclasses.replace(
      family.FAMILY, make_evaluator=optimized(family.make_ppgn_evaluator)))
  final = train_and_evaluate(config, str(tmp_path / 'whole'))
  assert final['step'] == 6
  for sampler in ('full', 'no_prior'):
    for name in ('accuracy_conditioning', 'accuracy_independent', 'accuracy_nearest_neighbour',
                 'nearest_neighbour_distance', 'diversity', 'diversity_ratio', 'mixing_distance', 'mixing_ratio'):
      assert np.isfinite(final[f'{sampler}_{name}'])
    assert 0.0 <= final[f'{sampler}_accuracy_independent'] <= 1.0
  # The judges on the real test digits: the independent classifier, and 1-NN over the 9,003 training digits.
  assert final['real_accuracy_independent'] > 0.95 and final['real_accuracy_nearest_neighbour'] > 0.9
  assert {f'full_accuracy_independent_class{c}' for c in range(10)} <= set(final)
  assert 1 <= final['unconditional_classes_final'] <= 10
  assert sorted(os.listdir(tmp_path / 'whole' / 'plots')) == [
      f'{name}_0000006.png' for name in ('chain', 'reconstructions', 'samples', 'samples_no_prior')]
  # Resume from the step-4 checkpoint the run left, as a preempted run would; its evaluation is not what is tested.
  shutil.copytree(tmp_path / 'whole', tmp_path / 'split')
  shutil.rmtree(tmp_path / 'split' / 'checkpoints' / '6')
  monkeypatch.setattr(family, 'FAMILY', dataclasses.replace(
      family.FAMILY, make_evaluator=lambda config, dataset: lambda state: ({}, {})))
  assert train_and_evaluate(config, str(tmp_path / 'split'))['step'] == 6
  a, b = load_family_state(tmp_path / 'whole', config), load_family_state(tmp_path / 'split', config)
  assert int(a.step) == 6
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), comparable(a),
               comparable(b))


@pytest.mark.parametrize('field, value, message', [
    ('ppgn.eps1', -0.1, r"config.ppgn.eps1: got -0.1; must be a number >= 0 \(the prior's multiplier"),
    ('ppgn.eps3', -1e-17, 'config.ppgn.eps3: got -1e-17; must be a number >= 0'),
    ('ppgn.chain_steps', 0, 'config.ppgn.chain_steps: got 0; must be an integer >= 1'),
    ('ppgn.record_every', 3, r'config.ppgn.record_every: got 3; must divide ppgn.chain_steps \(4\)'),
    ('ppgn.samples_per_class', 1, 'config.ppgn.samples_per_class: got 1; must be an integer >= 2'),
    ('ppgn.chain_start', 'middle', "config.ppgn.chain_start: got 'middle'; accepted values: noise, real"),
    ('ppgn.dae_noise_std', 0.0, 'config.ppgn.dae_noise_std: got 0.0; must be a number > 0'),
    ('data.name', 'sklearn_digits', "config.data.name: got 'sklearn_digits'; PPGN needs .* accepted values: mnist, "
                                    'fashion_mnist'),
    ('data.resolution', 32, "config.data.resolution: got 32; G's images are what the mnist classifier reads: 28"),
    ('data.binarize', 'threshold', "config.data.binarize: got 'threshold'; the classifiers were trained on grey"),
    ('gen.name', 'mlp', "config.gen.name: got 'mlp'; PPGN generates images: use one of dcgan, conv"),
], ids=lambda v: str(v)[:20])
def test_bad_ppgn_config_is_refused_before_anything_is_compiled(field, value, message):
  config = smoke_config()
  section, name = field.split('.')
  config[section][name] = value
  with pytest.raises(ConfigError, match=message):
    validate(config, num_devices=1)


def test_a_g_that_learns_nothing_is_refused_and_a_bad_config_writes_nothing(tmp_path):
  config = smoke_config()
  config.ppgn.image_weight = config.ppgn.feature_weight = 0.0
  with pytest.raises(ConfigError, match='config.ppgn.image_weight: G must learn to invert E'):
    train_and_evaluate(config, str(tmp_path / 'run'))
  assert not os.path.exists(tmp_path / 'run')


def test_resume_refuses_what_shapes_the_state_and_ignores_the_samplers_settings():
  saved = workdir_lib.flat_config(smoke_config())
  for field, value in (('dae_noise_std', 0.5), ('dae_hidden', (16,)), ('feature_weight', 1.0)):
    changed = smoke_config()
    changed.ppgn[field] = value
    refused, allowed = workdir_lib.diff_configs(saved, workdir_lib.flat_config(changed))
    assert [line.split(':')[0] for line in refused] == [f'ppgn.{field}'] and not allowed
  changed = smoke_config()
  changed.ppgn.eps1, changed.ppgn.chain_steps, changed.ppgn.samples_per_class = 0.5, 8, 3
  assert workdir_lib.diff_configs(saved, workdir_lib.flat_config(changed)) == ([], [])
  changed.optim.dae.learning_rate = 1e-2
  assert workdir_lib.diff_configs(saved, workdir_lib.flat_config(changed)) == (
      [], ['optim.dae.learning_rate: 0.001 -> 0.01'])


def test_the_shipped_independent_classifiers_are_other_weights_with_their_records():
  for dataset in digits.INDEPENDENT_WEIGHTS_BY_DATASET:
    judge, first = digits.load_independent_classifier(dataset), digits.load_digit_classifier(dataset)
    assert judge.info['dataset'] == dataset and judge.info['seed'] != first.info['seed']
    assert judge.info['test_accuracy'] > 0.9 and judge.info['sha256'] != first.info['sha256']
    assert judge.resolution == first.resolution
  with pytest.raises(KeyError, match='datasets with one: mnist, fashion_mnist'):
    digits.load_independent_classifier('sklearn_digits')


def test_nearest_neighbour_judge_against_a_brute_force_search_in_numpy():
  rng = np.random.default_rng(3)
  reference = rng.integers(0, 256, size=(40, 4, 4, 1)).astype(np.uint8)
  labels = rng.integers(0, 10, size=40)
  queries = rng.uniform(-1.0, 1.0, size=(37, 4, 4, 1))  # Two chunks of 32 and 5 (padded to 8).
  got_labels, got_distances = family.nearest_neighbour_classifier(reference, labels, chunk=32)(queries)
  flat = reference.reshape(40, -1).astype(np.float64) / 127.5 - 1.0
  d = np.linalg.norm(queries.reshape(37, 1, -1) - flat[None], axis=-1)
  np.testing.assert_array_equal(got_labels, labels[np.argmin(d, axis=1)])
  np.testing.assert_allclose(got_distances, d.min(axis=1), rtol=1e-4)
  # A reference image itself is its own nearest neighbour, at distance 0.
  own, distance = family.nearest_neighbour_classifier(reference, labels)(flat[:3].reshape(3, 4, 4, 1))
  np.testing.assert_array_equal(own, labels[:3])
  np.testing.assert_allclose(distance, 0.0, atol=1e-3)


def test_mean_pairwise_distance_and_class_changes_by_hand():
  f = np.asarray([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
  assert family.mean_pairwise_distance(f) == pytest.approx((5.0 + 10.0 + 5.0) / 3)
  labels = np.asarray([[1, 2], [1, 3], [4, 3]])  # 3 frames of 2 chains, 10 steps apart: 2 changes in 40 chain-steps.
  assert family.class_changes_per_100_steps(labels, 10) == pytest.approx(100 * 2 / 40)
