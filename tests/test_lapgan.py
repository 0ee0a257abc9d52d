"""LAPGAN: the Laplacian pyramid against numpy (exact reconstruction), the levels' independence inside one compiled
step, coarse-to-fine sampling with hand-made generators, the person-free acceptance against a hand computation, the
bad inputs, and the family end to end on the tiny paired dataset (one feature read as an image set) and, slow, on
Fashion-MNIST with the classifier's scores."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import objectives, validation
from gan_jax.config import ConfigError
from gan_jax.families import lapgan
from gan_jax.models import lapgan as lap
from gan_jax.rng import noise_key
from gan_jax.train import train_and_evaluate
from tests.helpers import set_field
from tests.test_experiments import load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def np_downsample(x):
  """2x2 block means, by loops over the blocks."""
  b, h, w, c = x.shape
  out = np.zeros((b, h // 2, w // 2, c))
  for i in range(h // 2):
    for j in range(w // 2):
      out[:, i, j] = x[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean(axis=(1, 2))
  return out


def np_upsample(x, method):
  """Nearest: pixel copies. Bilinear at 2x: output 2i is 3/4 x[i] + 1/4 x[i - 1], output 2i + 1 is
  3/4 x[i] + 1/4 x[i + 1], the index clamped at the border; rows, then columns."""
  if method == 'nearest':
    return np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)

  def along(x, axis):
    n = x.shape[axis]
    take = lambda idx: np.take(x, np.clip(idx, 0, n - 1), axis=axis)
    i = np.arange(n)
    even, odd = 0.75 * take(i) + 0.25 * take(i - 1), 0.75 * take(i) + 0.25 * take(i + 1)
    return np.stack([even, odd], axis=axis + 1).reshape(*x.shape[:axis], 2 * n, *x.shape[axis + 1:])

  return along(along(x, 1), 2)


def tiny_config(data_dir='', **lapgan_fields):
  """Fashion-MNIST's smoke variant reading the tiny paired dataset's 'map' feature at 8 -> 4 (two levels: one
  residual GAN and the coarsest; 3 levels double the compile)."""
  config = load(os.path.join(ROOT, 'experiments', 'lapgan_fashion_mnist.py')).get_config('smoke')
  config.data.update(name='tiny_maps', data_dir=data_dir, resolution=8, channels=3)
  config.lapgan.update(sizes=(8, 4), feature='map', coarse_gen_widths=(4, 4), disc_widths=(4,),
                       coarse_disc_widths=(4,), **lapgan_fields)
  config.train.batch_size = 4
  config.eval.num_samples = 8
  return config


class Shape:
  """A dataset that is only a shape (create_state reads nothing else)."""

  def __init__(self, shape):
    self.shape = shape


def tiny_state(config, seed=0):
  return lapgan.create_lapgan_state(config, jax.random.key(seed), Shape((8, 8, 3)))


# The pyramid.


@pytest.mark.parametrize('method', lap.UPSAMPLING)
def test_the_pyramid_matches_numpy_and_reconstructs_the_image_exactly(method):
  x = np.asarray(jax.random.uniform(jax.random.key(0), (2, 28, 28, 3), minval=-1, maxval=1), np.float64)
  np.testing.assert_allclose(lap.downsample(jnp.asarray(x)), np_downsample(x), atol=1e-6)
  np.testing.assert_allclose(lap.upsample(jnp.asarray(x), method), np_upsample(x, method), atol=1e-6)
  pyramid = [np.asarray(level) for level in lap.laplacian_pyramid(jnp.asarray(x, jnp.float32), 3, method)]
  i1 = np_downsample(x)
  i2 = np_downsample(i1)
  expected = [x - np_upsample(i1, method), i1 - np_upsample(i2, method), i2]
  assert [p.shape for p in pyramid] == [(2, 28, 28, 3), (2, 14, 14, 3), (2, 7, 7, 3)]
  for got, want in zip(pyramid, expected):
    np.testing.assert_allclose(got, want, atol=1e-5)
  np.testing.assert_allclose(lap.reconstruct([jnp.asarray(p) for p in pyramid], method), x, atol=1e-5)
  # Reconstruction by numpy from the numpy pyramid, coarse to fine.
  image = expected[2]
  for residual in (expected[1], expected[0]):
    image = np_upsample(image, method) + residual
  np.testing.assert_allclose(image, x, atol=1e-12)


def test_sampling_runs_coarse_to_fine_and_with_zero_residuals_is_plain_upsampling():
  coarse = jax.random.normal(jax.random.key(1), (3, 4, 4, 1))
  images = lap.sample_pyramid(lambda: coarse, [lambda low: jnp.zeros_like(low)] * 2, 'bilinear')
  assert [i.shape[1] for i in images] == [4, 8, 16]
  want = np_upsample(np_upsample(np.asarray(coarse, np.float64), 'bilinear'), 'bilinear')
  np.testing.assert_allclose(images[-1], want, atol=1e-5)
  # Each level adds its residual to the upsampled level above: constants c_1, c_0 add up (up keeps constants).
  seen = []
  residuals = [lambda low: (seen.append(low.shape[1]), jnp.full_like(low, 0.25))[1],
               lambda low: (seen.append(low.shape[1]), jnp.full_like(low, -0.5))[1]]
  images = lap.sample_pyramid(lambda: coarse, residuals, 'nearest')
  assert seen == [8, 16]  # G_1 sees the 8x8 upsampled coarsest image, then G_0 the 16x16 one.
  np.testing.assert_allclose(images[-1], np_upsample(np_upsample(np.asarray(coarse), 'nearest'), 'nearest') - 0.25,
                             atol=1e-6)


def test_the_familys_sampler_with_a_silenced_residual_generator_upsamples_the_coarsest_gs_images():
  config = tiny_config()
  state = tiny_state(config)
  net = state.nets['g_0']  # Its last convolution set to zero: G_0 draws residuals of 0.
  last = sorted(name for name in net.params if name.startswith('Conv'))[-1]
  state = state.replace_nets(g_0=net.replace(params={**net.params,
                                                     last: jax.tree.map(jnp.zeros_like, net.params[last])}))
  images = lapgan.make_pyramid_sampler(config)(state, jax.random.key(5), 6)
  assert [i.shape for i in images] == [(6, 4, 4, 3), (6, 8, 8, 3)]
  coarse = np.asarray(images[0], np.float64)
  assert np.std(coarse) > 0  # The coarsest G draws something.
  np.testing.assert_allclose(images[-1], np_upsample(coarse, 'bilinear'), atol=1e-5)
  # `gan_jax.sample`'s grid draws the finest level, clipped to the image range.
  np.testing.assert_array_equal(lapgan.sample_images(config, state, jax.random.key(5), 6),
                                np.clip(images[-1], -1.0, 1.0))


# Training.


def test_a_levels_update_does_not_depend_on_another_levels_parameters():
  config = tiny_config()
  state = tiny_state(config)
  real = {'x': jax.random.uniform(jax.random.key(2), (1, 4, 8, 8, 3), minval=-1, maxval=1)}
  step = jax.jit(lambda s, r: lapgan.train_step(s, r, config=config,
                                                objective=objectives.objective_from_config(config)))
  after, metrics = step(state, real)
  # Level 1 perturbed (every parameter of its G and D): level 0 ends where it did, bit for bit.
  perturbed = state.replace_nets(**{name: state.nets[name].replace(params=jax.tree.map(
      lambda p: p + 0.1, state.nets[name].params)) for name in ('g_1', 'd_1')})
  again, metrics_again = step(perturbed, real)
  for name in ('g_0', 'd_0'):
    for a, b in zip(jax.tree.leaves(after.nets[name]), jax.tree.leaves(again.nets[name])):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  for name in ('d_0_loss', 'g_0_loss', 'd_0_real_score'):
    assert float(metrics[name]) == float(metrics_again[name])
  # The perturbed level did change, and every network moved once.
  assert not np.allclose(np.asarray(after.nets['d_1'].params['Conv_0']['kernel']),
                         np.asarray(again.nets['d_1'].params['Conv_0']['kernel']))
  for name in lapgan.net_names(2):
    assert int(after.nets[name].count) == 1
  assert int(after.step) == 1
  # The summed loss is the levels' losses; level 1 (the coarsest) is D's cross-entropy on I_1, by hand.
  assert np.isclose(float(metrics['d_loss']), float(metrics['d_0_loss']) + float(metrics['d_1_loss']), rtol=1e-6)
  batches = lapgan.level_batches(real['x'][0], noise_key(state.rng, state.step), config)
  apply = jax.jit(lambda net, x: net.apply(x)[0])  # Each network whole, not op by op.
  fake = apply(state.nets['g_1'], batches[1]['noise'])
  real_logits = apply(state.nets['d_1'], batches[1]['x'])['logits']
  fake_logits = apply(state.nets['d_1'], fake)['logits']
  softplus = lambda v: np.logaddexp(0.0, np.asarray(v, np.float64))
  want = softplus(-real_logits).mean() + softplus(fake_logits).mean()
  assert np.isclose(float(metrics['d_1_loss']), want, rtol=1e-5)
  # Level 0's batch: the residual of the image against its upsampled half, and that half as the condition.
  x = np.asarray(real['x'][0], np.float64)
  np.testing.assert_allclose(batches[0]['low'], np_upsample(np_downsample(x), 'bilinear'), atol=1e-5)
  np.testing.assert_allclose(batches[0]['x'] + batches[0]['low'], x, atol=1e-5)
  np.testing.assert_allclose(batches[1]['x'], np_downsample(x), atol=1e-6)


def test_acceptance_is_the_fraction_of_confident_predictions():
  probabilities = np.array([[0.95, 0.05, 0.0], [0.5, 0.3, 0.2], [0.01, 0.04, 0.95], [0.9, 0.1, 0.0]])
  logits = np.log(probabilities + 1e-12) + 3.0  # A shift per row changes no softmax.
  assert lapgan.acceptance(logits, 0.9) == pytest.approx(0.5)  # 0.95 and 0.95; 0.9 is not above 0.9.
  assert lapgan.acceptance(logits, 0.4) == pytest.approx(1.0)


# Bad inputs.


@pytest.mark.parametrize('resolution, sizes, message', [
    (28, (28, 14, 7, 4), r'7 / 2 = 3.5 is not an integer, so the pyramid is deeper than data.resolution=28 allows '
                         r'\(at most 3 levels\)'),
    (32, (32, 16, 8, 4, 2), r'the coarsest level, 2 pixels, is below 4, so the pyramid is deeper than '
                            r'data.resolution=32 allows \(at most 4 levels\)'),
    (32, (28, 14, 7), r'lapgan.sizes\[0\] must equal data.resolution=32'),
    (28, (28, 14, 8), r'each level halves the one before, 14 -> 7, not 8'),
    (28, (), r'must be a non-empty tuple of integer sides'),
    (28, (14,), r'lapgan.sizes\[0\] must equal data.resolution=28'),
])
def test_a_pyramid_the_image_does_not_allow_is_refused_naming_the_field(resolution, sizes, message):
  config = load(os.path.join(ROOT, 'experiments', 'lapgan_fashion_mnist.py')).get_config('smoke')
  config.data.resolution = resolution
  config.lapgan.sizes = sizes
  with pytest.raises(ConfigError, match=r'^config.lapgan.sizes: .*' + message):
    validation.validate(config, num_devices=1)


@pytest.mark.parametrize('field, value, message', [
    ('lapgan.upsample', 'cubic', 'accepted values: bilinear, nearest'),
    ('lapgan.disc_input', 'both', 'accepted values: sum, concat'),
    ('lapgan.feature', 'map', "picks one image of a paired dataset"),
    ('loss.g.feature_matching', 1.0, "LAPGAN's G is trained on the terms adversarial: set it to 0"),
    ('data.name', 'stacked_mnist', 'LAPGAN models images'),
])
def test_bad_lapgan_fields_are_named(field, value, message, tmp_path):
  config = load(os.path.join(ROOT, 'experiments', 'lapgan_fashion_mnist.py')).get_config('smoke')
  set_field(config, field, value)
  with pytest.raises(ConfigError, match=f'config.{field}: .*{message}'):
    train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()  # Refused before anything is written.


def test_emoji_reads_one_feature_of_the_paired_set():
  config = load(os.path.join(ROOT, 'experiments', 'lapgan_emoji.py')).get_config()
  assert (config.data.name, config.lapgan.feature, tuple(config.lapgan.sizes)) == ('emoji_styles', 'noto',
                                                                                    (64, 32, 16, 8))
  config.lapgan.feature = 'photo'
  with pytest.raises(ConfigError, match='config.lapgan.feature: .*accepted values: openmoji, noto'):
    validation.validate(config, num_devices=1)


# End to end.


@pytest.mark.slow  # 17 s; the one-level pyramid below keeps the family's run in CI.
def test_smoke_run_on_one_feature_of_a_paired_set_writes_its_metrics_and_pictures(tmp_path, tiny_maps):
  config = tiny_config(tiny_maps)
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  with open(tmp_path / 'run' / 'metrics.json') as f:
    written = json.load(f)
  assert written['step'] == final['step'] == 4
  assert sorted(k for k in written if k.startswith('residual_rms_ratio')) == ['residual_rms_ratio_0']
  assert all(np.isfinite(written[k]) and written[k] > 0 for k in written if k.startswith('residual_rms_ratio'))
  assert 'classifier_fd' not in written  # No classifier for this data.
  plots = sorted(os.listdir(tmp_path / 'run' / 'plots'))
  assert plots == ['levels_0000004.png', 'samples_0000004.png']
  from PIL import Image
  levels = np.asarray(Image.open(tmp_path / 'run' / 'plots' / 'levels_0000004.png'))
  assert levels.shape[:2] == (4 * 9 + 1, 2 * 9 + 1)  # 4 samples, one column per level at 8x8.


def test_a_one_level_pyramid_is_a_dcgan_on_the_whole_image(tmp_path, tiny_maps):
  """lapgan.sizes=(8,): one G (conv.ConvGenerator from z to the image) and one D, trained and scored as the pyramid
  is; its samples are that G's image of the level's z, with no pyramid between."""
  from gan_jax.models.conv import ConvGenerator
  config = tiny_config(tiny_maps)
  config.lapgan.sizes = (8,)
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  assert final['step'] == 4 and not any(k.startswith('residual_rms_ratio') for k in final)
  from gan_jax.sample import restore_run
  state, _ = restore_run(config, str(tmp_path / 'run'))
  assert sorted(state.nets) == ['d_0', 'g_0']
  g = state.nets['g_0']
  assert isinstance(g.module, ConvGenerator) and g.module.resolution == 8
  key = jax.random.key(3)
  z = lapgan.level_noise(key, 0, 0, 5, 8, config.lapgan.latent_dim)
  assert z.shape == (5, config.lapgan.latent_dim)
  direct = g.module.apply({'params': g.sampling_params, 'batch_stats': g.batch_stats}, z, train=False)
  (sample,) = lapgan.make_pyramid_sampler(config)(state, key, 5)
  np.testing.assert_array_equal(np.asarray(sample), np.asarray(direct))


@pytest.mark.slow
def test_fashion_mnist_smoke_run_scores_samples_and_real_images_with_the_classifier(tmp_path, offline_data_dir):
  config = load(os.path.join(ROOT, 'experiments', 'lapgan_fashion_mnist.py')).get_config('smoke')
  config.data.data_dir = offline_data_dir
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  for key in ('classifier_is', 'classifier_fd', 'classifier_kid', 'accepted_fraction', 'accepted_fraction_real'):
    assert np.isfinite(final[key]), key
  assert 0.0 <= final['accepted_fraction'] <= 1.0
  # Real test garments: most are taken for a class with probability > 0.9 by the classifier that scores them.
  assert final['accepted_fraction_real'] > 0.6


def test_emoji_samples_are_scored_by_the_emoji_classifier_on_spread_real_images(image_sets_dir):
  """LAPGAN's emoji evaluation (an untrained pyramid: the scoring is under test) against FD computed here with
  numpy/scipy from the classifier's features: the samples against the training emoji spread evenly over the split,
  and the floor, other spread emoji against the same."""
  from gan_jax import data
  from gan_jax.evaluation import domain_classifier
  from tests.test_progan import frechet_distance
  config = load(os.path.join(ROOT, 'experiments', 'lapgan_emoji.py')).get_config('smoke')
  config.data.data_dir = image_sets_dir('emoji_styles')
  dataset = data.make_dataset(config.data)
  state = lapgan.create_lapgan_state(config, jax.random.key(0), dataset)
  metrics, _ = lapgan.make_lapgan_evaluator(config, dataset)(state)
  num = config.eval.num_samples
  classifier = domain_classifier.shipped_classifier('emoji_styles')
  key = jax.random.fold_in(jax.random.fold_in(jax.random.key(config.seed), lapgan.EVAL_STREAM), 0)  # One chunk.
  fake = classifier.features(np.clip(np.asarray(lapgan.make_pyramid_sampler(config)(state, key, num)[-1]), -1, 1))
  noto = dataset.host_arrays()['noto'].astype(np.float64) / 127.5 - 1.0
  spread = np.linspace(0, len(noto) - 1, 2 * num).round().astype(int)
  real, other = (classifier.features(noto[spread[i::2]].astype(np.float32)) for i in (0, 1))
  np.testing.assert_allclose(metrics['classifier_fd'], frechet_distance(real, fake), rtol=1e-4)
  np.testing.assert_allclose(metrics['classifier_fd_real'], frechet_distance(real, other), rtol=1e-4)
  assert metrics['classifier_fd_real'] < metrics['classifier_fd'] and metrics['classifier_kid'] > 0
  assert 'accepted_fraction' not in metrics  # Style x subject classes: no real-class acceptance.


def test_the_emoji_classifier_takes_blank_and_noise_images_for_noto_so_lapgan_reports_no_acceptance_on_emoji():
  """Why emoji has no acceptance fraction: the classifier's subject half is weak (0.55 held out), and its style half
  gives blank, grey and uniform-noise images P(Noto) > 0.9 (its Noto class is "not OpenMoji"), so "accepted as a Noto
  emoji" would accept an untrained generator. P(style) is the sum of that style's softmax classes, here in numpy."""
  from gan_jax.evaluation import domain_classifier
  classifier = domain_classifier.shipped_classifier('emoji_styles')
  bins = len(domain_classifier.LABELS['emoji_styles'].bins)
  images = np.concatenate([np.full((4, 64, 64, 3), level, np.uint8) for level in (0, 128, 255)]
                          + [np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)])
  logits = classifier(images)[0].astype(np.float64)
  probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
  probabilities /= probabilities.sum(axis=1, keepdims=True)
  noto = probabilities[:, bins:].sum(axis=1)  # Classes style * bins + bin; Noto is style 1.
  assert np.all(noto > 0.9), noto


def test_the_sweeps_emoji_table_gives_each_model_its_mean_and_spread_over_seeds_then_the_floor():
  sweeps = load(os.path.join(ROOT, 'benchmarks', 'sweeps.py'))
  run = {'step': 1000, 'classifier_fd_real': 2.667, 'steps_per_second': 2.0}
  rows = sweeps.lapgan_emoji_table({
      '': [{**run, 'classifier_fd': 40.0, 'classifier_kid': 3.0},
           {**run, 'classifier_fd': 42.0, 'classifier_kid': 5.0}],
      'dcgan': [{**run, 'classifier_fd': 60.0, 'classifier_kid': 7.0, 'steps_per_second': 4.0}]})
  # 40 and 42: mean 41, sample standard deviation sqrt(2) = 1.41; 1000 / 2 steps per second = 500 ms.
  assert rows[2] == '| LAPGAN 64-32-16-8 | 2 | 1000 | 41.0 ± 1.4 | 4.00 ± 1.41 | 500.0 |'
  assert rows[3] == '| DCGAN (one level, `:dcgan`) | 1 | 1000 | 60.0 | 7.00 | 250.0 |'
  assert rows[4:] == ['| other real training emoji (the floor) | – | – | 2.7 | – | – |']
