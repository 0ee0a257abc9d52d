"""CycleGAN: the ResNet generator's shape, the objectives against numpy, which networks each update moves, the image
pool against the paper's rule, the two domains' independent draws, the evaluator's measures against pix2pix's and
against known translations, the shipped domain classifiers, then the family end to end on test_pix2pix's tiny TFDS
tiles read as two unpaired domains (an exact resume, a refused change) and its bad inputs."""

import functools
import os

import flax.linen as nn
import jax
import ml_collections
import optax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data, history, optim
from gan_jax.config import ConfigError, cyclegan_config
from gan_jax.data import images as image_data
from gan_jax.evaluation import domain_classifier, train_domain_classifier
from gan_jax.families import cyclegan, pix2pix
from gan_jax.families.cyclegan import NETS
from gan_jax.models import image_to_image as i2i
from gan_jax.state import Network, TrainState
from gan_jax.train import train_and_evaluate
from gan_jax.update import update
from gan_jax.workdir import WorkdirError
from tests.helpers import comparable, load_family_state, run_on
from tests.test_experiments import load
from tests import test_pix2pix
from tests.test_pix2pix import TINY_SPLITS, tiny_pairs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(data_dir=''):
  """The smoke variant at 16x16 on the tiny tiles: one residual block, widths 4, the 16x16 PatchGAN."""
  config = load(os.path.join(ROOT, 'experiments', 'cyclegan_emoji.py')).get_config('smoke')
  config.data.name = 'tiny_maps'
  config.data.data_dir = data_dir
  config.data.resolution = 16
  config.eval.num_samples = 4
  return config


def tiny_state(config, seed=0):
  dataset = data.PairedImages(tiny_pairs(4, config.data.resolution, seed))
  return cyclegan.create_cyclegan_state(config, jax.random.key(seed), dataset)


def random_batch(seed, size=16, batch=2):
  ka, kb = jax.random.split(jax.random.key(seed))
  return {'a': jax.random.uniform(ka, (batch, size, size, 3), minval=-1, maxval=1),
          'b': jax.random.uniform(kb, (batch, size, size, 3), minval=-1, maxval=1)}


@jax.jit  # One program per network, not every layer's operations compiled one by one.
def _apply(net, x):
  return net.apply(x)[0]


def apply(state, name, x):
  return np.asarray(_apply(state.nets[name], x), np.float64)


def test_the_resnet_generator_keeps_the_size_and_has_the_papers_layers():
  generator = i2i.ResNetGenerator(out_channels=3, n_blocks=2, base_channels=4)
  variables = jax.jit(generator.init)(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))  # Whole, not op by op.
  out = jax.jit(generator.apply)(variables, jnp.ones((2, 16, 12, 3)))
  assert out.shape == (2, 16, 12, 3) and float(jnp.max(jnp.abs(out))) < 1.0
  kernels = [x.shape for path, x in jax.tree_util.tree_leaves_with_path(variables['params'])
             if 'kernel' in jax.tree_util.keystr(path)]
  # c7s1-4, d8, d16, 2 x (two 3x3 at 16), u8, u4, c7s1-3 (the parameters are listed by name, not in order).
  assert sorted(kernels) == sorted([(7, 7, 3, 4), (3, 3, 4, 8), (3, 3, 8, 16)] + [(3, 3, 16, 16)] * 4 + [
      (3, 3, 16, 8), (3, 3, 8, 4), (7, 7, 4, 3)])


def resnet_generator_by_hand(params, x, n_blocks, keep_last=True):
  """The authors' ResnetGenerator from lax's convolutions: instance norms without scale and bias, and 3x3 stride-2
  up-convolutions keeping the last 2H (`keep_last`) or the first 2H of lax.conv_transpose's 2H + 1 outputs."""
  nhwc = ('NHWC', 'HWIO', 'NHWC')
  conv = lambda x, p, stride=1, pad='VALID': jax.lax.conv_general_dilated(
      x, p['kernel'], (stride, stride), pad, dimension_numbers=nhwc) + p['bias']
  crop = (lambda y: y[:, 1:, 1:]) if keep_last else (lambda y: y[:, :-1, :-1])
  up = lambda x, p: crop(jax.lax.conv_transpose(x, p['kernel'], (2, 2), 'VALID', dimension_numbers=nhwc)) + p['bias']
  norm = lambda x: (x - x.mean((1, 2), keepdims=True)) / jnp.sqrt(x.var((1, 2), keepdims=True) + 1e-5)
  reflect = lambda x, pad: jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode='reflect')
  x = jax.nn.relu(norm(conv(reflect(x, 3), params['Conv_0'])))
  for i in (1, 2):
    x = jax.nn.relu(norm(conv(x, params[f'Conv_{i}'], 2, ((1, 1), (1, 1)))))
  for i in range(n_blocks):
    y = jax.nn.relu(norm(conv(reflect(x, 1), params[f'Conv_{3 + 2 * i}'])))
    x = x + norm(conv(reflect(y, 1), params[f'Conv_{4 + 2 * i}']))
  for i in (0, 1):
    x = jax.nn.relu(norm(up(x, params[f'ConvTranspose_{i}'])))
  return jnp.tanh(conv(reflect(x, 3), params[f'Conv_{3 + 2 * n_blocks}']))


def test_cyclegans_generator_is_the_authors_no_affine_norms_and_the_last_2h_of_each_up_convolution():
  config = tiny_config()
  assert config.cyclegan.norm == 'instance_no_affine' and config.cyclegan.n_blocks == 1
  generator, discriminator = cyclegan.make_networks(config, 3)
  x = jax.random.uniform(jax.random.key(0), (2, 12, 8, 3), minval=-1, maxval=1)
  shapes = lambda net: jax.eval_shape(net.init, jax.random.key(1), x)['params']
  # No norm parameters in either network: only the convolutions' kernels and biases.
  assert {k for net in (generator, discriminator) for k in shapes(net)} <= {
      f'{kind}_{i}' for kind in ('Conv', 'ConvTranspose') for i in range(6)}
  keys = iter(jax.random.split(jax.random.key(2), 16))
  params = jax.tree.map(lambda s: 0.3 * jax.random.normal(next(keys), s.shape), shapes(generator))

  @jax.jit
  def outputs(params, x):
    return (generator.apply({'params': params}, x), resnet_generator_by_hand(params, x, 1),
            resnet_generator_by_hand(params, x, 1, keep_last=False))

  ours, by_hand, first_2h = outputs(params, x)
  np.testing.assert_allclose(ours, by_hand, atol=2e-5)
  # Flax's alignment (the first 2H) is a different network: the comparison above can tell them apart.
  assert float(jnp.max(jnp.abs(ours - first_2h))) > 1e-2


# The objectives and the step.


# (adversarial, cycle, identity) weights: the paper's, then each ablation's switch.
WEIGHTS = [(1.0, 10.0, 0.5), (0.0, 10.0, 0.5), (1.0, 0.0, 0.5), (1.0, 10.0, 0.0)]


@pytest.mark.parametrize('adversarial_weight, cycle_weight, identity_weight', WEIGHTS,
                         ids=['paper', 'no_adversarial', 'no_cycle', 'no_identity'])
def test_the_objectives_are_lsgan_plus_lambda_cycle_plus_half_lambda_identity_by_hand(adversarial_weight,
                                                                                      cycle_weight, identity_weight):
  config = tiny_config()
  state = tiny_state(config)
  batch = random_batch(1)
  a, b = (np.asarray(batch[d], np.float64) for d in 'ab')
  objective = functools.partial(cyclegan.generator_objective, cycle_weight=cycle_weight,
                                identity_weight=identity_weight, adversarial_weight=adversarial_weight)
  value, (_, metrics) = jax.jit(objective)(state, batch)
  fake_b, fake_a = apply(state, 'g_ab', batch['a']), apply(state, 'g_ba', batch['b'])
  adversarial = (np.mean((apply(state, 'd_b', fake_b) - 1) ** 2) + np.mean((apply(state, 'd_a', fake_a) - 1) ** 2))
  cycle = np.mean(np.abs(apply(state, 'g_ba', fake_b) - a)) + np.mean(np.abs(apply(state, 'g_ab', fake_a) - b))
  identity = np.mean(np.abs(apply(state, 'g_ab', batch['b']) - b)) + np.mean(np.abs(apply(state, 'g_ba',
                                                                                          batch['a']) - a))
  np.testing.assert_allclose(float(metrics['g_term_adversarial']), adversarial, rtol=1e-5)
  np.testing.assert_allclose(float(metrics['g_term_cycle']), cycle, rtol=1e-5)
  # The identity term weighs identity_weight * cycle_weight (the reference code's lambda_id * lambda).
  assert ('g_term_identity' in metrics) == bool(identity_weight * cycle_weight)
  if identity_weight * cycle_weight:
    np.testing.assert_allclose(float(metrics['g_term_identity']), identity, rtol=1e-5)
  expected = adversarial_weight * adversarial + cycle_weight * cycle + identity_weight * cycle_weight * identity
  np.testing.assert_allclose(float(value), expected, rtol=1e-5)
  if not adversarial_weight:  # G's gradient is the full objective's less exactly the adversarial term's.
    full = functools.partial(cyclegan.generator_objective, cycle_weight=cycle_weight,
                             identity_weight=identity_weight)

    def full_less_adversarial(s, b):
      value, (_, metrics) = full(s, b)
      return value - metrics['g_term_adversarial']

    @jax.jit
    def gradients(params):
      grad = lambda f: jax.grad(lambda p: f(state.with_params(p), batch))(params)
      return grad(lambda s, b: objective(s, b)[0]), grad(full_less_adversarial)

    grads, expected_grads = gradients({n: state.nets[n].params for n in NETS})
    scale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(grads['g_ab']))
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-4 * scale),
                 grads['g_ab'], expected_grads['g_ab'])
    assert all(not np.any(g) for g in jax.tree.leaves((grads['d_a'], grads['d_b'])))
  if not (adversarial_weight == 1.0 and cycle_weight == 10.0 and identity_weight == 0.5):
    return
  # D: each discriminator's LSGAN loss on its real domain and on the (pooled) translations into it, halved.
  pooled = {**batch, 'pool_a': jnp.asarray(fake_a, jnp.float32), 'pool_b': jnp.asarray(fake_b, jnp.float32)}
  d_value, (_, d_metrics) = jax.jit(cyclegan.discriminator_objective)(state, pooled)
  by_hand = {d: 0.5 * (np.mean((apply(state, f'd_{d}', pooled[d]) - 1) ** 2)
                       + np.mean(apply(state, f'd_{d}', pooled[f'pool_{d}']) ** 2)) for d in 'ab'}
  np.testing.assert_allclose(float(d_metrics['d_a_loss']), by_hand['a'], rtol=1e-5)
  np.testing.assert_allclose(float(d_value), by_hand['a'] + by_hand['b'], rtol=1e-5)


def test_a_step_updates_both_generators_then_both_discriminators_on_the_pre_update_translations():
  config = tiny_config()
  state = tiny_state(config)
  batch = random_batch(2)
  real = jax.tree.map(lambda x: x[None], batch)
  stepped, metrics = jax.jit(lambda s, r: cyclegan.train_step(s, r, cycle_weight=10.0, identity_weight=0.5))(
      state, real)
  assert int(stepped.step) == 1
  for name in cyclegan.NETS:
    assert not np.allclose(np.asarray(jax.tree.leaves(stepped.nets[name].params)[0]),
                           np.asarray(jax.tree.leaves(state.nets[name].params)[0])), name
  # The pools took the step's translations (empty pools show them unchanged).
  assert int(stepped.extras['pool_a']['count']) == int(stepped.extras['pool_b']['count']) == 2

  def by_parts(state):
    objective = lambda s, b: cyclegan.generator_objective(s, b, cycle_weight=10.0, identity_weight=0.5)
    after_g, g_metrics = update(state, batch, nets=('g_ab', 'g_ba'), objective=objective)
    for name in ('d_a', 'd_b'):  # The generators' update leaves the discriminators where they were.
      assert after_g.nets[name] is state.nets[name]
    pooled = {f'pool_{d}': jax.lax.stop_gradient(g_metrics[f'fake_{d}']) for d in 'ab'}
    after_d, _ = update(after_g, {**batch, **pooled}, nets=('d_a', 'd_b'), objective=cyclegan.discriminator_objective)
    return after_d

  expected = jax.jit(by_parts)(state)
  for name in cyclegan.NETS:
    jax.tree.map(lambda x, y: np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6),
                 stepped.nets[name].params, expected.nets[name].params)
  assert {'g_loss', 'g_term_cycle', 'd_loss', 'd_a_loss', 'g_ab_grad_norm', 'd_b_param_norm'} <= set(metrics)
  assert 'fake_a' not in metrics


def test_zero_unroll_steps_from_the_config_is_the_plain_step_operation_for_operation(tiny_maps):
  from gan_jax import parallel as parallel_lib
  config = tiny_config()
  config.cyclegan.unroll_steps = 0
  state = tiny_state(config)
  step, _ = cyclegan.make_cyclegan_train_step(config, None, parallel_lib.make_data_parallel('single'))
  real = jax.tree.map(lambda x: x[None], random_batch(3))
  plain_step = lambda s, r: cyclegan.train_step(s, r, cycle_weight=10.0, identity_weight=0.5)
  assert str(jax.make_jaxpr(step)(state, real)) == str(jax.make_jaxpr(plain_step)(state, real))


@pytest.mark.slow  # About 15 s of CPU: the second-order gradient through two Adam updates of two PatchGANs.
def test_unrolling_both_discriminators_matches_a_hand_unrolled_loop():
  config = tiny_config()
  for net in ('d_a', 'd_b'):
    config.optim[net].eps_root = 1e-16
  state = tiny_state(config)
  batch = random_batch(3)
  a, b = batch['a'], batch['b']
  k = 2

  def by_hand(g_params):  # A plain Python loop of k joint Adam updates of d_a and d_b on L_D, then L_G.
    s = state.with_params(g_params)
    g = lambda name, x: s.nets[name].apply(x)[0]
    d = lambda name, params, x: s.nets[name].apply(x, params=params)[0]
    fake_b, fake_a = g('g_ab', a), g('g_ba', b)
    params = {n: state.nets[n].params for n in ('d_a', 'd_b')}
    opt_states = {n: state.nets[n].opt_state for n in params}
    for _ in range(k):
      d_loss = lambda p: sum(0.5 * (jnp.mean((d(f'd_{x}', p[f'd_{x}'], real) - 1) ** 2)
                                    + jnp.mean(d(f'd_{x}', p[f'd_{x}'], fake) ** 2))
                             for x, real, fake in (('a', a, fake_a), ('b', b, fake_b)))
      grads = jax.grad(d_loss)(params)
      for n in params:
        updates, opt_states[n] = state.nets[n].tx.update(grads[n], opt_states[n], params[n])
        params[n] = optax.apply_updates(params[n], updates)
    adversarial = (jnp.mean((d('d_b', params['d_b'], fake_b) - 1) ** 2)
                   + jnp.mean((d('d_a', params['d_a'], fake_a) - 1) ** 2))
    cycle = jnp.mean(jnp.abs(g('g_ba', fake_b) - a)) + jnp.mean(jnp.abs(g('g_ab', fake_a) - b))
    identity = jnp.mean(jnp.abs(g('g_ab', b) - b)) + jnp.mean(jnp.abs(g('g_ba', a) - a))
    return adversarial + 10 * cycle + 5 * identity

  @jax.jit
  def gradients(g_params):
    objective = lambda p, steps: cyclegan.generator_objective(state.with_params(p), batch, cycle_weight=10.0,
                                                              identity_weight=0.5, unroll_steps=steps)[0]
    return (jax.value_and_grad(objective)(g_params, k), jax.value_and_grad(by_hand)(g_params),
            objective(g_params, 0))

  (value, grads), (hand_value, hand_grads), plain = gradients({n: state.nets[n].params for n in ('g_ab', 'g_ba')})
  np.testing.assert_allclose(float(value), float(hand_value), rtol=1e-5)
  assert abs(float(value) - float(plain)) > 1e-4  # The look-ahead changed the discriminators' verdict.
  scale = max(float(jnp.max(jnp.abs(x))) for x in jax.tree.leaves(hand_grads))
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-3, atol=1e-4 * scale), grads, hand_grads)


def test_the_rate_is_constant_then_decays_linearly_to_zero_with_its_count_in_the_optimizer_state():
  section = cyclegan_config().optim.g_ab
  section.update({'name': 'sgd', 'learning_rate': 0.1, 'momentum': 0.0, 'decay_start_step': 3, 'decay_steps': 4})
  optim.validate(ml_collections.ConfigDict({'g_ab': section}))
  rate = lambda t: 0.1 * min(1.0, max(0.0, 1 - (t - 3) / 4))  # The paper's rule, per update t = 0, 1, ...
  tx = optim.make_optimizer(section)
  params = jnp.zeros(())
  opt_state = tx.init(params)
  for t in range(9):  # SGD's step on a gradient of 1 is minus the rate of that update.
    updates, opt_state = tx.update(jnp.ones(()), opt_state, params)
    assert float(updates) == pytest.approx(-rate(t), rel=1e-6, abs=1e-9), t
  assert int(optax.tree.get(opt_state, 'count')) == 9
  # The experiment's Adam: constant for the first half of its steps, then linear to 0 at the last.
  config = load(os.path.join(ROOT, 'experiments', 'cyclegan_emoji.py')).get_config()
  schedule = optim.learning_rate(config.optim.d_a)
  for t, expected in ((0, 2e-4), (2500, 2e-4), (3750, 1e-4), (4999, 2e-4 / 2500), (5000, 0.0)):
    assert float(schedule(t)) == pytest.approx(expected, rel=1e-6, abs=1e-10), t
  assert optim.learning_rate(cyclegan_config().optim.g_ab)(150 * 1217) == pytest.approx(1e-4)


def test_the_pool_shows_new_images_until_full_then_swaps_half_of_them_for_stored_ones():
  capacity, steps = 4, 400
  buffer = history.init_buffer(capacity, (1,))
  query = jax.jit(history.query_pool)
  swaps = 0
  for t in range(steps):
    before = np.asarray(buffer['samples'])[:, 0].copy()
    out, buffer = query(buffer, jax.random.key(t), jnp.full((1, 1), float(t + 1)))
    shown, now = float(out[0, 0]), np.asarray(buffer['samples'])[:, 0]
    if t < capacity:  # Filling: shown and stored.
      assert shown == t + 1 and now[t] == t + 1
    elif shown == t + 1:  # Kept: the pool is unchanged.
      np.testing.assert_array_equal(now, before)
    else:  # Swapped: a stored image is shown and the new one takes its slot.
      slot = int(np.flatnonzero(before == shown)[0])
      expected = before.copy()
      expected[slot] = t + 1
      np.testing.assert_array_equal(now, expected)
      swaps += 1
  assert int(buffer['count']) == capacity
  assert 0.4 < swaps / (steps - capacity) < 0.6
  # history.mix, the replay of the GAN family, replaces round(fraction * B) images: none at CycleGAN's batch of 1.
  mixed, _ = history.mix(buffer, jax.random.key(0), jnp.zeros((1, 1)), 0.5)
  assert float(mixed[0, 0]) == 0.0


def test_the_two_domains_are_drawn_by_independent_permutations(tiny_maps):
  from gan_jax import parallel as parallel_lib
  config = tiny_config()
  num = 12
  codes = np.arange(num, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8)
  dataset = data.PairedImages({'image': codes, 'map': codes})  # Example i is the image of value i in both domains.
  arrays = jax.tree.map(jnp.asarray, dataset.host_arrays())
  sampler = cyclegan.make_unpaired_sampler(config, dataset, parallel_lib.make_data_parallel('single'))
  rng = jax.random.key(5)
  drawn = {'a': [], 'b': []}
  for step in range(3 * num):
    real = sampler(TrainState.create({}, rng).replace(step=jnp.int32(step)), arrays)
    for d in 'ab':
      drawn[d].append(int(np.rint((float(real[d][0, 0, 0, 0, 0]) + 1) * 127.5)))
  a, b = np.array(drawn['a']), np.array(drawn['b'])
  for epoch in range(3):  # Each domain sees every example once an epoch...
    assert sorted(a[epoch * num:(epoch + 1) * num]) == sorted(b[epoch * num:(epoch + 1) * num]) == list(range(num))
  assert np.mean(a == b) < 0.25  # ...in its own order: a pair meets by chance (1/12 expected), not by design.


def test_the_shipped_emoji_classifier_loads_and_its_fd_separates_the_two_styles(image_sets_dir):
  classifier = domain_classifier.load_domain_classifier('emoji_styles')
  assert os.path.getsize(os.path.join(ROOT, 'gan_jax', 'evaluation', 'weights',
                                      domain_classifier.WEIGHTS_BY_DATASET['emoji_styles'])) < 1_000_000
  assert classifier.info['test_accuracy']['style'] > 0.95
  test = image_data.load_paired('emoji_styles', 'test', ('openmoji', 'noto'), image_sets_dir('emoji_styles'), 32, 3)
  fd = functools.partial(domain_classifier.frechet_distance, classifier)
  same = fd(test['noto'], test['noto'])
  half = fd(test['noto'][::2], test['noto'][1::2])  # Other emoji of the same style.
  across = fd(test['openmoji'], test['noto'])
  assert abs(same) < 1e-6 * across
  assert across > 3 * half > 0
  # The features: float [-1, 1] and uint8 inputs of the same images agree.
  np.testing.assert_allclose(classifier.features(test['noto'][:4] / np.float32(127.5) - 1),
                             classifier.features(test['noto'][:4]), rtol=1e-5, atol=1e-5)


def test_the_shipped_maps_classifier_loads_by_its_sha_and_classes_the_tiles_by_style_and_land_fraction(
    image_sets_dir, tmp_path):
  classifier = domain_classifier.load_domain_classifier('satellite_maps')
  weights = os.path.join(ROOT, 'gan_jax', 'evaluation', 'weights',
                         domain_classifier.WEIGHTS_BY_DATASET['satellite_maps'])
  assert os.path.getsize(weights) < 1_000_000
  assert (classifier.resolution, classifier.model.feature_dim, classifier.model.num_classes) == (32, 16, 6)
  # The labels of known tiles: the bins' edges, then each test tile's land fraction read here from TFDS.
  assert [domain_classifier.land_bin(f) for f in (0.1, 0.399, 0.4, 0.79, 0.8, 1.0)] == [0, 0, 1, 1, 2, 2]
  data_dir = image_sets_dir('satellite_maps')
  import tensorflow_datasets as tfds
  fractions = tfds.as_numpy(tfds.builder('satellite_maps', data_dir=data_dir).as_dataset(
      split='test', batch_size=-1, shuffle_files=False))['land_fraction']
  images, labels = train_domain_classifier.load_split('satellite_maps', 'test', data_dir, 32)
  bins = np.where(fractions < 0.4, 0, np.where(fractions < 0.8, 1, 2))
  np.testing.assert_array_equal(labels, np.concatenate([bins, 3 + bins]))  # Photos (style 0), then maps.
  assert np.bincount(bins).tolist() == [15, 9, 14]
  # The recorded held-out accuracies are those of the shipped file on these tiles.
  measured = train_domain_classifier.accuracies(classifier, images, labels, 'land_bin')
  assert measured == classifier.info['test_accuracy']
  assert measured['style'] == 1.0 and measured['joint'] > 0.9
  # FD in its features tells maps from photos far more than one half of the maps from the other.
  fd = functools.partial(domain_classifier.frechet_distance, classifier)
  photos, maps = images[:38], images[38:]
  assert fd(photos, maps) > 10 * fd(maps[::2], maps[1::2]) > 0
  # A file that is not the recorded one is refused.
  import shutil
  shutil.copy(weights, tmp_path / 'c.npz')
  shutil.copy(weights.replace('.npz', '.json'), tmp_path / 'c.json')
  with open(tmp_path / 'c.npz', 'ab') as f:
    f.write(b'x')
  with pytest.raises(ValueError, match='sha256'):
    domain_classifier.load_domain_classifier(tmp_path / 'c.npz')


@pytest.mark.slow  # 16 s: a subprocess that imports TensorFlow and trains a few steps.
def test_the_classifier_command_takes_each_datasets_defaults_and_a_given_flag_over_them(image_sets_dir, tmp_path):
  import json
  import subprocess
  import sys
  out = tmp_path / 'maps.npz'
  subprocess.run([sys.executable, '-m', 'gan_jax.evaluation.train_domain_classifier', '--dataset', 'satellite_maps',
                  '--data_dir', image_sets_dir('satellite_maps'), '--train_steps', '5', '--feature_dim', '8',
                  '--out', str(out)], check=True, capture_output=True, env={**os.environ, 'PYTHONPATH': ROOT})
  with open(tmp_path / 'maps.json') as f:
    info = json.load(f)
  assert (info['model']['feature_dim'], info['model']['num_classes']) == (8, 6)  # --feature_dim over the default 16.
  assert (info['training']['max_shift'], info['training']['shift_fill'], info['num_test']) == (0, 'none', 76)
  assert set(info['test_accuracy']) == {'joint', 'style', 'land_bin'}
  assert domain_classifier.load_domain_classifier(out).info['sha256'] == info['sha256']


class Lookup(nn.Module):
  """A stand-in generator that maps each of `num` known images (param 'keys') to its partner (param 'values'): the
  translation that knows the hidden pairs."""
  num: int

  @nn.compact
  def __call__(self, x):
    keys = self.param('keys', nn.initializers.zeros, (self.num, *x.shape[1:]))
    values = self.param('values', nn.initializers.zeros, (self.num, *x.shape[1:]))
    return values[jnp.argmin(jnp.sum((x[:, None] - keys[None]) ** 2, axis=(2, 3, 4)), axis=1)]


def oracle_state(a, b):
  """A state whose G_ab maps each image of `a` ([-1, 1]) to its true pair in `b`, and G_ba back."""
  def net(keys, values):
    network = Network.create(Lookup(len(keys)), optax.sgd(0.0), jax.random.key(0), jnp.zeros((1, *keys.shape[1:])))
    return network.replace(params={'keys': jnp.asarray(keys), 'values': jnp.asarray(values)})

  return TrainState.create({'g_ab': net(a, b), 'g_ba': net(b, a)}, jax.random.key(0))


def test_the_evaluator_measures_a_map_target_as_pix2pix_does_and_the_true_translation_perfectly(tiny_maps):
  config = tiny_config(tiny_maps)
  test = image_data.load_paired('tiny_satellite_maps', 'test', ('image', 'map'), tiny_maps, 16, 3)
  a01, b01 = test['image'] / np.float32(255), test['map'] / np.float32(255)
  dataset = data.make_dataset(config.data)
  metrics, _ = cyclegan.make_cyclegan_evaluator(config, dataset)(oracle_state(a01 * 2 - 1, b01 * 2 - 1))
  # The true map as G_ab's translation: every class and water pixel right, the cycle closed.
  assert metrics['test_class_accuracy_ab'] == metrics['test_water_accuracy_ab'] == 1.0
  assert metrics['test_l1_ab'] < 1e-6 and metrics['test_psnr_ab'] > 100 and metrics['test_ssim_ab'] > 0.999999
  assert abs(metrics['test_sharpness_ab'] - 1) < 1e-5 and abs(metrics['test_top_band_db_ab']) < 1e-4
  assert metrics['test_cycle_l1_a'] < 1e-6 and metrics['test_cycle_l1_b'] < 1e-6
  # The photo is no map: no colour classes for G_ba.
  assert 'test_class_accuracy_ba' not in metrics and 'test_psnr_ba' in metrics
  np.testing.assert_allclose(metrics['test_l1_ab_input_copy'], np.mean(np.abs(a01 - b01)), rtol=1e-6)
  # The baselines are pix2pix's (image_to_map on the same tiles, its palette fitted with the same seed).
  p2p_config = test_pix2pix.tiny_config(tiny_maps)
  p2p_config.data.name = 'tiny_maps'
  p2p_state, _ = test_pix2pix.tiny_state(p2p_config)
  p2p, _ = pix2pix.make_pix2pix_evaluator(p2p_config, data.make_dataset(p2p_config.data))(p2p_state)
  names = ('l1', 'psnr', 'ssim', 'sharpness', 'top_band_db', 'class_accuracy', 'water_accuracy')
  for name in names:
    for baseline in ('input_copy', 'mean_target'):
      np.testing.assert_allclose(metrics[f'test_{name}_ab_{baseline}'], p2p[f'test_{name}_{baseline}'], rtol=1e-5,
                                 err_msg=f'{name}_{baseline}')
  # Swapped domains (cyclegan.reverse): the map is A, so its measures are G_ba's.
  config.cyclegan.reverse = True
  swapped, _ = cyclegan.make_cyclegan_evaluator(config, dataset)(oracle_state(b01 * 2 - 1, a01 * 2 - 1))
  assert 'test_class_accuracy_ab' not in swapped and swapped['test_class_accuracy_ba'] == 1.0
  for name in names:
    np.testing.assert_allclose(swapped[f'test_{name}_ba_input_copy'], metrics[f'test_{name}_ab_input_copy'],
                               rtol=1e-6)


@pytest.mark.slow  # 8 s (the 296 training maps' palette and the metrics at 32x32); the tiny tiles keep the path in CI.
def test_the_maps_evaluator_gives_fd_in_the_shipped_classifiers_features_with_its_reference_levels(image_sets_dir):
  config = load(os.path.join(ROOT, 'experiments', 'cyclegan_maps.py')).get_config('smoke')
  config.data.data_dir = image_sets_dir('satellite_maps')
  config.eval.num_samples = 38
  dataset = data.make_dataset(config.data)
  test = image_data.load_paired('satellite_maps', 'test', ('image', 'map'), config.data.data_dir, 32, 3)
  a, b = (test[k] / np.float32(127.5) - 1 for k in ('image', 'map'))
  metrics, _ = cyclegan.make_cyclegan_evaluator(config, dataset)(oracle_state(a, b))
  classifier = domain_classifier.load_domain_classifier('satellite_maps')
  fd = functools.partial(domain_classifier.frechet_distance, classifier)
  assert abs(metrics['test_fd_ab']) < 1e-3 and abs(metrics['test_fd_ba']) < 1e-3  # The true pairs.
  np.testing.assert_allclose(metrics['test_fd_input_copy'], fd(test['image'], test['map']), rtol=1e-4)
  # The real-data levels: the first 38 training tiles of the target domain against the 38 test ones.
  train = dataset.host_arrays()
  np.testing.assert_allclose(metrics['test_fd_ab_real'], fd(train['map'][:38], test['map']), rtol=1e-4)
  np.testing.assert_allclose(metrics['test_fd_ba_real'], fd(train['image'][:38], test['image']), rtol=1e-4)
  spread = [round(i * 295 / 37) for i in range(38)]  # 38 of the 296, evenly from the first to the last.
  np.testing.assert_allclose(metrics['test_fd_ab_real_spread'], fd(train['map'][spread], test['map']), rtol=1e-4)
  np.testing.assert_allclose(metrics['test_fd_ba_real_spread'], fd(train['image'][spread], test['image']),
                             rtol=1e-4)
  # Those first 38 tiles are the Arctic's (snow and sea ice on the photos): far from the test band's photos.
  assert metrics['test_fd_ba_real'] > 5 * metrics['test_fd_ba_real_spread']
  assert metrics['test_fd_input_copy'] > 3 * max(metrics['test_fd_ab_real'], metrics['test_fd_ba_real'])
  assert metrics['test_class_accuracy_ab'] == 1.0 and 0 < metrics['test_class_accuracy_ab_mean_target'] < 1


def test_the_sweeps_second_table_has_each_measure_a_run_has_by_variant_then_the_baselines():
  sweeps = load(os.path.join(ROOT, 'benchmarks', 'sweeps.py'))
  map_run = {'test_psnr_ab': 20.0, 'test_class_accuracy_ab': 0.5, 'test_psnr_ab_input_copy': 6.0,
             'test_class_accuracy_ab_mean_target': 0.17, 'test_psnr_ab_mean_target': 20.5}
  rows = sweeps.cyclegan_measures_table({'': [map_run, {**map_run, 'test_psnr_ab': 22.0,
                                                         'test_class_accuracy_ab': 0.7}], 'no_cycle': []})
  assert rows[0] == '| model | seeds | PSNR ab | class acc. ab |'
  assert rows[2:] == ['| CycleGAN | 2 | 21.00 ± 1.41 | 0.600 ± 0.141 |', '| cycle loss off | 0 | – | – |',
                      '| input copied | – | 6.00 | – |', '| mean training target | – | 20.50 | 0.170 |']
  assert sweeps.cyclegan_measures_table({'': [{'test_l1_ab': 0.1}]}) == []  # A run measured before them.


# The family end to end.


@pytest.mark.slow  # 35 s; pix2pix's resume keeps the image-to-image loop's path in CI.
def test_a_resumed_run_is_bit_for_bit_the_uninterrupted_one_and_refuses_a_changed_model(tmp_path, tiny_maps):
  config = tiny_config(tiny_maps)
  for field, value in (('num_steps', 4), ('checkpoint_every_steps', 2), ('eval_every_steps', 4),
                       ('log_every_steps', 2)):
    config.train[field] = value
  for section in config.optim.values():  # The rate decays across the resume: its count is checkpointed.
    section.decay_start_step, section.decay_steps = 1, 4
  part = config.copy_and_resolve_references()
  part.train.num_steps = 2
  train_and_evaluate(part, str(tmp_path / 'run'))
  final = train_and_evaluate(config, str(tmp_path / 'run'))  # Resumed at step 2, pools included.
  whole, _ = run_on(config, 'single', num_calls=4, steps_per_call=1)
  resumed = load_family_state(tmp_path / 'run', config)
  assert int(resumed.step) == int(whole.step) == 4
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), comparable(whole),
               comparable(resumed))
  for name in ('l1_ab', 'ssim_ab', 'l1_ba', 'ssim_ba', 'cycle_l1_a', 'cycle_l1_b'):
    assert np.isfinite(final[f'test_{name}'])
  test = tiny_pairs(TINY_SPLITS['test'], 32, 1)
  assert final['test_l1_ab_input_copy'] == pytest.approx(final['test_l1_ba_input_copy'])
  assert 0.0 < final['test_l1_ab_input_copy'] < np.mean(np.abs(test['image'] / 255.0 - test['map'] / 255.0)) + 0.05
  changed = config.copy_and_resolve_references()
  changed.train.num_steps = 6
  changed.cyclegan.cycle_weight = 5.0
  with pytest.raises(WorkdirError, match='cyclegan.cycle_weight'):
    train_and_evaluate(changed, str(tmp_path / 'run'))


@pytest.mark.slow  # Two compiles of the four networks' step, one over 8 devices.
def test_the_four_networks_one_step_on_a_mesh_of_eight_devices_matches_one_device(tiny_maps):
  config = tiny_config(tiny_maps)
  config.train.batch_size = 8  # One A and one B image per device.
  # SGD: the biases before instance norm have a gradient of 0 up to rounding, which Adam would scale up to +-lr with
  # a sign that depends on the reduction order; plain gradient steps keep rounding differences at rounding size.
  # A small rate: the generators' gradient norms are about 30, and at 0.1 one step moves them by about their own
  # norm, to where the two reduction orders' next gradients part far beyond rounding (seen: a bias before a norm
  # stepped by 2.0 on one device, by 5e-9 on eight).
  for section in config.optim.values():
    section.update({'name': 'sgd', 'learning_rate': 0.001, 'momentum': 0.0})
  config.cyclegan.pool_size = 4  # Full after the first step: the second swaps pooled images in.
  (state, summary), (expected, expected_summary) = (run_on(config, mode, num_calls=2, steps_per_call=1)
                                                    for mode in ('mesh', 'single'))
  assert int(state.step) == 2
  for name in cyclegan.NETS:  # Equal up to the order of the batch reductions.
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), state.nets[name].params,
                 expected.nets[name].params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), state.extras, expected.extras)
  for key in ('g_loss', 'd_a_loss', 'd_b_loss', 'g_term_cycle'):
    np.testing.assert_allclose(summary[key], expected_summary[key], rtol=1e-5)


BAD = [
    ('data.name', 'mnist', "config.data.name: got 'mnist'; CycleGAN translates between two image domains"),
    ('cyclegan.cycle_weight', -1.0, r'config.cyclegan.cycle_weight: got -1.0; must be a number >= 0'),
    ('cyclegan.identity_weight', -0.5, r'config.cyclegan.identity_weight: got -0.5; must be a number >= 0'),
    ('data.resolution', 18, r'config.data.resolution: got 18; the ResNet generator halves the image twice'),
    ('cyclegan.patch', 70, 'config.cyclegan.patch: got 70: its discriminator halves the image 3 times and needs '
     'data.resolution >= 24; data.resolution=16'),
    ('loss.name', 'hinge', "config.loss.name: got 'hinge'; the cyclegan family trains with the paper's "
     'least-squares GAN loss only'),
    ('cyclegan.pool_size', -1, 'config.cyclegan.pool_size: got -1; must be an integer >= 0'),
    ('cyclegan.adversarial_weight', -1.0, r'config.cyclegan.adversarial_weight: got -1.0; must be a number >= 0'),
    ('cyclegan.unroll_steps', -1, 'config.cyclegan.unroll_steps: got -1; must be an integer >= 0'),
    ('cyclegan.unroll_steps', 2, r'config.optim.d_a.eps_root: got 0.0; cyclegan.unroll_steps=2 differentiates '
     'through Adam'),
    ('optim.d_b.decay_steps', -2, r'config.optim.d_b.decay_steps: got -2; must be an integer >= 0'),
]


@pytest.mark.parametrize('field, value, message', BAD, ids=[b[0] + '=' + str(b[1]) for b in BAD])
def test_bad_cyclegan_config_is_refused_naming_the_field_before_anything_is_written(field, value, message, tmp_path):
  config = tiny_config(str(tmp_path / 'data'))
  config.data.name = 'emoji_styles'
  *sections, name = field.split('.')
  functools.reduce(lambda c, s: c[s], sections, config)[name] = value
  workdir = tmp_path / 'run'
  with pytest.raises(ConfigError, match=message):
    train_and_evaluate(config, str(workdir))
  assert not workdir.exists()
