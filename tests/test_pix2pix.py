"""pix2pix: the paired data and its jitter on pairs whose target is a known function of the source, the objectives
against numpy, the step's order (D, then G against the updated D) against Adam by hand, the image metrics against
scikit-image, the map classes on known colours, then the family end to end on a tiny TFDS dataset of synthetic
tiles (a smoke run, its baselines and an exact resume) and its bad inputs."""

import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data, objectives
from gan_jax.config import ConfigError, pix2pix_config
from gan_jax.data import paired
from gan_jax.data.in_memory import epoch_indices
from gan_jax.evaluation import image_metrics
from gan_jax.families import pix2pix
from gan_jax.rng import noise_key
from gan_jax.state import TrainState
from gan_jax.train import train_and_evaluate
from gan_jax.update import update
from tests.helpers import adam_by_hand, comparable, load_family_state, run_on
from tests.test_experiments import load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_SIZE, TINY_SPLITS = 32, {'train': 12, 'test': 4}
# The synthetic tiles' colours: water, and two land bands (a map's blue over green marks water, as on the real ones).
MAP_COLOURS = np.array([[170, 200, 225], [140, 170, 160], [200, 190, 175]], np.uint8)
PHOTO_COLOURS = np.array([[25, 45, 110], [60, 110, 45], [150, 120, 80]], np.uint8)


def np_softplus(x):
  return np.logaddexp(0.0, x)


def tiny_config(data_dir='', **train):
  """The smoke variant at 16x16 with a depth-2 U-Net (16 -> 4 -> 16: a compile of 2.6 s, against 5.3 s at depth 4)
  and the 16x16 PatchGAN (the 70x70 one needs 24 pixels)."""
  config = load(os.path.join(ROOT, 'experiments', 'pix2pix_maps.py')).get_config('smoke')
  config.data.data_dir = data_dir
  config.data.resolution = 16
  config.pix2pix.depth = 2
  config.pix2pix.patch = 16
  config.eval.num_samples = 4
  for field, value in train.items():
    config.train[field] = value
  return config


def tiny_pairs(num, size, seed):
  """Synthetic tiles: smooth random fields split each into water and two land bands, drawn in photo colours (with
  noise) and in map colours (flat): uint8 {'image', 'map'} [num, size, size, 3]."""
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[:size, :size] / size
  images, maps = [], []
  for _ in range(num):
    fields = [sum(rng.normal() * np.sin(2 * np.pi * (rng.uniform(0.5, 2) * x * np.cos(t) + rng.uniform(0.5, 2) * y
                                                      * np.sin(t)) + rng.uniform(0, 2 * np.pi))
                  for t in rng.uniform(0, np.pi, 3)) for _ in range(2)]
    kind = np.where(fields[0] < 0, 0, np.where(fields[1] < 0, 1, 2))
    noise = rng.integers(-12, 13, (size, size, 3))
    images.append(np.clip(PHOTO_COLOURS[kind].astype(int) + noise, 0, 255).astype(np.uint8))
    maps.append(MAP_COLOURS[kind])
  return {'image': np.stack(images), 'map': np.stack(maps)}


@functools.lru_cache(maxsize=None)
def tiny_builder():
  """A TFDS builder of `tiny_pairs` tiles with satellite_maps' two features: 12 training and 4 test pairs of 32x32
  (registered with TFDS once, as `tiny_satellite_maps`)."""
  from etils import epath
  import tensorflow_datasets as tfds

  class TinySatelliteMaps(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version('1.0.0')
    code_path = epath.Path(__file__)

    def _info(self):
      shape = (TINY_SIZE, TINY_SIZE, 3)
      return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(
          {'image': tfds.features.Image(shape=shape), 'map': tfds.features.Image(shape=shape)}),
          disable_shuffling=True)

    def _split_generators(self, dl_manager):
      del dl_manager
      return {split: self._generate_examples(tiny_pairs(num, TINY_SIZE, seed))
              for seed, (split, num) in enumerate(TINY_SPLITS.items())}

    def _generate_examples(self, pairs):
      for i in range(len(pairs['image'])):
        yield i, {'image': pairs['image'][i], 'map': pairs['map'][i]}

  return TinySatelliteMaps


def tiny_state(config, seed=0):
  """pix2pix's state at step 0 for 16x16 RGB pairs, with no data read."""
  pairs = tiny_pairs(4, config.data.resolution, seed)
  dataset = data.PairedImages(pairs)
  return pix2pix.create_pix2pix_state(config, jax.random.key(seed), dataset), dataset


def unit(images):
  return jnp.asarray(images, jnp.float32) / 127.5 - 1.0


# The data.


def test_jitter_resizes_by_286_over_256_and_gives_both_images_of_a_pair_one_crop_and_one_flip():
  assert (paired.jitter_size(256), paired.jitter_size(64), paired.jitter_size(32)) == (286, 72, 36)
  source = jax.random.uniform(jax.random.key(0), (24, 32, 32, 3), minval=-1, maxval=1)
  # Targets that are known functions of their sources: negated with the channels reversed, and one channel.
  pairs = {'source': source, 'negated': -source[..., ::-1], 'red': source[..., :1]}
  out = jax.jit(paired.random_jitter)(jax.random.key(1), pairs)
  np.testing.assert_array_equal(np.asarray(out['negated']), -np.asarray(out['source'])[..., ::-1])
  np.testing.assert_array_equal(np.asarray(out['red']), np.asarray(out['source'])[..., :1])
  # Each jittered source is a 32x32 window of its 36x36 bicubic enlargement, mirrored or not: find which.
  big = np.asarray(jnp.clip(jax.image.resize(source, (24, 36, 36, 3), 'cubic', antialias=False), -1, 1))
  found = []
  for i in range(24):
    hits = [(r, c, f) for r in range(5) for c in range(5) for f in (False, True)
            if np.allclose(big[i, r:r + 32, c:c + 32][:, ::-1] if f else big[i, r:r + 32, c:c + 32],
                           out['source'][i], atol=1e-6)]
    assert len(hits) == 1, (i, hits)
    found.append(hits[0])
  rows, cols, flips = zip(*found)
  assert len(set(rows)) > 2 and len(set(cols)) > 2 and 0 < sum(flips) < 24  # Offsets and flips vary.
  again = jax.jit(paired.random_jitter)(jax.random.key(1), pairs)  # A key of the step: the same jitter again.
  np.testing.assert_array_equal(np.asarray(again['source']), np.asarray(out['source']))


def test_a_steps_pairs_are_gathered_by_one_set_of_epoch_indices():
  images = np.arange(10 * 4 * 4 * 3, dtype=np.uint32).reshape(10, 4, 4, 3) % 251
  dataset = data.PairedImages({'image': images.astype(np.uint8), 'map': (255 - images).astype(np.uint8)})
  arrays = jax.tree.map(jnp.asarray, dataset.host_arrays())
  rng = jax.random.key(3)
  for step in (0, 1, 7):
    batch = dataset.sample(arrays, rng, jnp.int32(step), 4)
    indices = np.asarray(epoch_indices(rng, jnp.int32(step), 10, 4))
    np.testing.assert_array_equal(np.asarray(batch['image']), np.asarray(unit(images[indices])))
    levels = {k: np.rint((np.asarray(v) + 1.0) * 127.5) for k, v in batch.items()}
    np.testing.assert_array_equal(levels['map'], 255 - levels['image'])  # Row i of both is example i.


def test_the_sampler_takes_the_configured_direction_and_jitters_both_images(tiny_maps):
  from gan_jax import parallel as parallel_lib
  config = tiny_config(tiny_maps)
  config.data.name = 'tiny_maps'
  dataset = data.make_dataset(config.data)
  assert dataset.shape == (16, 16, 3) and dataset.num_examples == TINY_SPLITS['train']
  state = TrainState.create({}, jax.random.key(0))  # The sampler reads the step and the key only.
  arrays = jax.tree.map(jnp.asarray, dataset.host_arrays())
  single = parallel_lib.make_data_parallel('single')
  for direction, (source, target) in (('image_to_map', ('image', 'map')), ('map_to_image', ('map', 'image'))):
    config.pix2pix.direction = direction
    config.pix2pix.jitter = False
    real = pix2pix.make_pair_sampler(config, dataset, single)(state, arrays)
    plain = dataset.sample(arrays, state.rng, state.step, config.train.batch_size)
    assert real['source'].shape == (1, config.train.batch_size, 16, 16, 3)
    np.testing.assert_array_equal(np.asarray(real['source'][0]), np.asarray(plain[source]))
    np.testing.assert_array_equal(np.asarray(real['x'][0]), np.asarray(plain[target]))
  config.pix2pix.jitter = True
  jittered = pix2pix.make_pair_sampler(config, dataset, single)(state, arrays)
  assert not np.array_equal(np.asarray(jittered['source'][0]), np.asarray(plain['map']))


# The objectives and the step.


def test_the_g_objective_is_the_non_saturating_cgan_loss_plus_lambda_l1():
  config = tiny_config()
  state, dataset = tiny_state(config)
  source, target = unit(dataset.features['image']), unit(dataset.features['map'])
  objective = objectives.objective_from_config(config)
  assert dict(objective.g_terms) == {'adversarial': 1.0, 'l1': 100.0} and objective.loss == 'non_saturating'
  key = jax.random.key(9)
  g_objective = jax.jit(functools.partial(pix2pix.generator_objective, objective=objective, conditional=True))
  value, (_, metrics) = g_objective(state, {'source': source, 'x': target}, key=key)
  g, d = state.nets['g'], state.nets['d']
  fake = jax.jit(g.module.apply)({'params': g.params}, source, dropout_key=key)
  logits = np.asarray(jax.jit(d.module.apply)({'params': d.params}, jnp.concatenate([source, fake], -1)), np.float64)
  assert logits.shape == (4, 6, 6, 1)  # The 16x16 PatchGAN: one logit per 16x16 patch, 6x6 of them at 16x16.
  adversarial = np.mean(np_softplus(-logits))  # -log sigmoid(l), averaged over patches and images.
  l1 = np.mean(np.abs(np.asarray(target, np.float64) - np.asarray(fake, np.float64)))
  np.testing.assert_allclose(float(value), adversarial + 100.0 * l1, rtol=1e-5)
  np.testing.assert_allclose([float(metrics['g_term_adversarial']), float(metrics['g_term_l1']),
                              float(metrics['g_l1'])], [adversarial, l1, l1], rtol=1e-5)
  # Dropout is G's noise: another key, another output and another loss.
  other, _ = g_objective(state, {'source': source, 'x': target}, key=jax.random.key(10))
  assert abs(float(other) - float(value)) > 1e-4


@pytest.mark.parametrize('conditional', [True, False], ids=['cgan', 'unconditional'])
def test_the_d_objective_is_half_the_gan_loss_on_real_and_generated_pairs(conditional):
  config = tiny_config()
  config.pix2pix.conditional = conditional
  state, dataset = tiny_state(config)
  source, target = unit(dataset.features['image']), unit(dataset.features['map'])
  fake = jnp.tanh(jax.random.normal(jax.random.key(4), target.shape))
  objective = objectives.objective_from_config(config)
  d_objective = functools.partial(pix2pix.discriminator_objective, objective=objective, conditional=conditional)
  value, (_, metrics) = jax.jit(d_objective)(state, {'source': source, 'x': target}, fake=fake)
  d = state.nets['d']
  apply = jax.jit(d.module.apply)

  def logits(image):
    judged = jnp.concatenate([source, image], -1) if conditional else image
    return np.asarray(apply({'params': d.params}, judged), np.float64)

  gan_loss = np.mean(np_softplus(-logits(target))) + np.mean(np_softplus(logits(fake)))
  np.testing.assert_allclose(float(value), 0.5 * gan_loss, rtol=1e-5)
  np.testing.assert_allclose(float(metrics['d_real_score']), np.mean(1 / (1 + np.exp(-logits(target)))), rtol=1e-5)


def test_a_step_updates_d_then_g_against_the_updated_d():
  config = tiny_config()
  # Without normalisation: a bias that instance norm cancels has a gradient of rounding noise, which Adam's first
  # step (about learning_rate x its sign) would turn into different updates in any two computations.
  config.pix2pix.norm = 'none'
  config.optim.d.learning_rate = 0.05  # A D step large enough to change G's loss visibly.
  state, dataset = tiny_state(config)
  source, target = unit(dataset.features['image']), unit(dataset.features['map'])
  batch = {'source': source, 'x': target}
  objective = objectives.objective_from_config(config)
  step = jax.jit(functools.partial(pix2pix.train_step, objective=objective, conditional=True))
  after, metrics = step(state, jax.tree.map(lambda x: x[None], batch))
  assert int(after.step) == 1
  key = noise_key(state.rng, state.step)
  g, d = state.nets['g'], state.nets['d']
  fake = jax.jit(g.module.apply)({'params': g.params}, source, dropout_key=key)

  # D's update alone leaves G as it was; the step's D is that update's.
  d_objective = functools.partial(pix2pix.discriminator_objective, fake=fake, objective=objective, conditional=True)
  d_state, _ = jax.jit(lambda state: update(state, batch, nets=('d',), objective=d_objective, name='d'))(state)
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), d_state.nets['g'].params,
               g.params)
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), after.nets['d'].params,
               d_state.nets['d'].params)

  def d_loss(d_params):
    real = d.module.apply({'params': d_params}, jnp.concatenate([source, target], -1))
    fake_logits = d.module.apply({'params': d_params}, jnp.concatenate([source, fake], -1))
    return 0.5 * (jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake_logits)))

  def g_loss(g_params, d_params):
    out = g.module.apply({'params': g_params}, source, dropout_key=key)
    logits = d.module.apply({'params': d_params}, jnp.concatenate([source, out], -1))
    return jnp.mean(jax.nn.softplus(-logits)) + 100.0 * jnp.mean(jnp.abs(target - out))

  f64 = lambda tree: jax.tree.map(lambda p: np.asarray(p, np.float64), tree)
  zeros = lambda tree: jax.tree.map(np.zeros_like, f64(tree))
  d_new, _, _ = adam_by_hand(f64(d.params), jax.jit(jax.grad(d_loss))(d.params), zeros(d.params), zeros(d.params),
                             0, config.optim.d)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), b, atol=2e-6), after.nets['d'].params, d_new)
  # G's loss is measured against the updated D, not the old one.
  d_new32 = jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), d_new)
  g_value_and_grad = jax.jit(jax.value_and_grad(g_loss))
  (against_new, g_grads), (against_old, _) = g_value_and_grad(g.params, d_new32), g_value_and_grad(g.params, d.params)
  np.testing.assert_allclose(float(metrics['g_loss']), float(against_new), rtol=1e-5)
  assert abs(float(against_new) - float(against_old)) > 1e-3
  g_new, _, _ = adam_by_hand(f64(g.params), g_grads, zeros(g.params), zeros(g.params), 0, config.optim.g)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), b, atol=2e-6), after.nets['g'].params, g_new)


# The metrics.


@pytest.mark.parametrize('channels', [3, 1])
def test_psnr_and_ssim_match_scikit_image(channels):
  metrics = pytest.importorskip('skimage.metrics')
  rng = np.random.default_rng(0)
  a = rng.uniform(size=(3, 24, 20, channels))
  b = np.clip(a + rng.normal(scale=[[[[0.02]]], [[[0.1]]], [[[0.3]]]], size=a.shape), 0, 1)  # Three noise levels.
  b[2, :8] = 0.5  # A flat region: the variance terms at zero.
  psnr = np.asarray(image_metrics.psnr(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)))
  ssim = np.asarray(image_metrics.ssim(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)))
  for i in range(3):
    np.testing.assert_allclose(psnr[i], metrics.peak_signal_noise_ratio(a[i], b[i], data_range=1.0), rtol=1e-5)
    expected = metrics.structural_similarity(a[i], b[i], channel_axis=-1, data_range=1.0, gaussian_weights=True,
                                             sigma=1.5, use_sample_covariance=False)
    np.testing.assert_allclose(ssim[i], expected, atol=2e-5)
  assert ssim[0] > ssim[1] > ssim[2]
  np.testing.assert_allclose(np.asarray(image_metrics.ssim(jnp.asarray(a), jnp.asarray(a))), 1.0, atol=1e-6)


def test_map_classes_recover_known_colours_and_tell_water_from_land():
  rng = np.random.default_rng(1)
  kinds = rng.integers(0, 3, (20, 8, 8))
  maps = np.clip(MAP_COLOURS[kinds].astype(int) + rng.integers(-3, 4, (20, 8, 8, 3)), 0, 255).astype(np.uint8)
  palette = image_metrics.fit_palette(maps, seed=0, size=3)
  # Ordered by blue minus green: the tan land (-15), the green-grey land (-10), the water (+25).
  np.testing.assert_allclose(palette * 255, MAP_COLOURS[[2, 1, 0]], atol=1.0)
  assert image_metrics.water_classes(palette).tolist() == [False, False, True]
  classes = np.asarray(image_metrics.classify(jnp.asarray(maps / 255.0, jnp.float32), jnp.asarray(palette)))
  np.testing.assert_array_equal(classes, np.array([2, 1, 0])[kinds])
  # A generated map that paints the tan land green-grey in image 0 and everything water in image 1.
  generated = maps.copy()
  generated[0][kinds[0] == 2] = MAP_COLOURS[1]
  generated[1] = MAP_COLOURS[0]
  agreement = image_metrics.class_agreement(jnp.asarray(generated / 255.0, jnp.float32),
                                            jnp.asarray(maps / 255.0, jnp.float32), jnp.asarray(palette),
                                            jnp.asarray(image_metrics.water_classes(palette)))
  np.testing.assert_allclose(np.asarray(agreement['classes'])[:2], [np.mean(kinds[0] != 2), np.mean(kinds[1] == 0)])
  np.testing.assert_allclose(np.asarray(agreement['water'])[:2], [1.0, np.mean(kinds[1] == 0)])
  np.testing.assert_array_equal(np.asarray(agreement['classes'])[2:], 1.0)


def dft_power_by_hand(image):
  """`image_metrics.power_spectrum` of one [H, W, C] image, written out: means removed, a periodic Hann window, the
  DFT as a sum over the pixels, averaged over the channels."""
  h, w, _ = image.shape
  window = np.outer(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(h) / h), 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(w) / w))
  y, x = np.arange(h)[:, None], np.arange(w)[None, :]
  power = np.zeros((h, w))
  for channel in np.moveaxis(image, -1, 0):
    windowed = (channel - channel.mean()) * window
    for ky in range(h):
      for kx in range(w):
        power[ky, kx] += abs(np.sum(windowed * np.exp(-2j * np.pi * (ky * y / h + kx * x / w))))**2
  return power / image.shape[-1] / (h * w * np.sum(window**2))


def radius_by_hand(h, w):
  """Each frequency's distance from zero over the Nyquist frequency: min(k, n - k) / n cycles per pixel per axis."""
  fy = np.minimum(np.arange(h), h - np.arange(h)) / h
  fx = np.minimum(np.arange(w), w - np.arange(w)) / w
  return np.sqrt(fy[:, None]**2 + fx[None, :]**2) / 0.5


def test_spectral_sharpness_measures_match_a_dft_written_out():
  rng = np.random.default_rng(2)
  a, b = rng.uniform(size=(2, 3, 8, 6, 3))  # Non-square, so that the axes cannot be swapped unseen.
  radius = radius_by_hand(8, 6)
  band = np.clip(np.ceil(radius * 4) - 1, 0, 3).astype(int)
  powers = {name: np.stack([dft_power_by_hand(image) for image in images]) for name, images in (('a', a), ('b', b))}
  np.testing.assert_allclose(np.asarray(image_metrics.power_spectrum(jnp.asarray(a, jnp.float32))), powers['a'],
                             rtol=1e-4, atol=1e-7)
  share = {k: p[:, radius > 0.5].sum(axis=1) / p.sum(axis=(1, 2)) for k, p in powers.items()}
  np.testing.assert_allclose(np.asarray(image_metrics.high_frequency_share(jnp.asarray(a, jnp.float32))),
                             share['a'], rtol=1e-5)
  bands = np.stack([[p[band == i].sum() for i in range(4)] for p in powers['a']])
  np.testing.assert_allclose(np.asarray(image_metrics.band_power(jnp.asarray(a, jnp.float32))), bands, rtol=1e-5)
  # The bands hold all the power: the variance of the windowed, mean-removed pixels.
  np.testing.assert_allclose(bands.sum(axis=1), powers['a'].sum(axis=(1, 2)), rtol=1e-10)
  np.testing.assert_allclose(float(image_metrics.sharpness_ratio(jnp.asarray(a, jnp.float32),
                                                                 jnp.asarray(b, jnp.float32))),
                             share['a'].mean() / share['b'].mean(), rtol=1e-5)
  top = {k: np.mean([q[band == 3].sum() for q in p]) for k, p in powers.items()}
  np.testing.assert_allclose(float(image_metrics.top_band_db(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32))),
                             10 * np.log10(top['a'] / top['b']), atol=1e-4)


def test_sharpness_is_lower_for_a_blurred_image_zero_for_a_flat_one_and_one_against_itself():
  ndimage = pytest.importorskip('scipy.ndimage')
  rng = np.random.default_rng(3)
  images = rng.uniform(size=(4, 16, 16, 3)).astype(np.float32)
  blurred = ndimage.gaussian_filter(images, sigma=(0, 1, 1, 0), mode='reflect')
  share = np.asarray(image_metrics.high_frequency_share(jnp.asarray(images)))
  assert np.all(np.asarray(image_metrics.high_frequency_share(jnp.asarray(blurred))) < share / 4)
  assert float(image_metrics.sharpness_ratio(jnp.asarray(blurred), jnp.asarray(images))) < 0.25
  assert float(image_metrics.top_band_db(jnp.asarray(blurred), jnp.asarray(images))) < -10.0
  assert float(image_metrics.sharpness_ratio(jnp.asarray(images), jnp.asarray(images))) == 1.0
  assert float(image_metrics.top_band_db(jnp.asarray(images), jnp.asarray(images))) == 0.0
  flat = jnp.full((2, 16, 16, 3), 0.7)
  np.testing.assert_array_equal(np.asarray(image_metrics.high_frequency_share(flat)), 0.0)
  np.testing.assert_array_equal(np.asarray(image_metrics.band_power(flat)), 0.0)
  assert float(image_metrics.sharpness_ratio(flat, jnp.asarray(images))) == 0.0
  # Contrast does not change the share; a checkerboard is all fine detail, one cosine period across the tile none.
  np.testing.assert_allclose(np.asarray(image_metrics.high_frequency_share(jnp.asarray(0.5 + 0.2 * images))), share,
                             rtol=1e-4)
  y, x = np.mgrid[:16, :16]
  checker = np.broadcast_to(((x + y) % 2)[None, ..., None], (1, 16, 16, 3)).astype(np.float32)
  wave = np.broadcast_to((0.5 + 0.5 * np.cos(2 * np.pi * x / 16))[None, ..., None], (1, 16, 16, 3))
  np.testing.assert_allclose(np.asarray(image_metrics.high_frequency_share(jnp.asarray(checker))), 1.0, atol=1e-6)
  np.testing.assert_allclose(np.asarray(image_metrics.high_frequency_share(jnp.asarray(wave, jnp.float32))), 0.0,
                             atol=1e-6)


# The family end to end.


def test_smoke_run_reports_its_metrics_beside_the_baselines_and_resumes_bit_for_bit(tmp_path, tiny_maps):
  config = tiny_config(tiny_maps, num_steps=4, checkpoint_every_steps=2, eval_every_steps=4, log_every_steps=2)
  config.data.name = 'tiny_maps'
  part = config.copy_and_resolve_references()
  part.train.num_steps = 2
  train_and_evaluate(part, str(tmp_path / 'run'))
  final = train_and_evaluate(config, str(tmp_path / 'run'))  # Resumed at step 2.
  # The uninterrupted run: the loop's compiled step called 4 times from step 0.
  whole, _ = run_on(config, 'single', num_calls=4, steps_per_call=1)
  resumed = load_family_state(tmp_path / 'run', config)
  assert int(resumed.step) == int(whole.step) == 4
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), comparable(whole),
               comparable(resumed))
  # The baselines, from the test pairs themselves: the photo copied as the map, and the mean training map.
  test = tiny_pairs(TINY_SPLITS['test'], TINY_SIZE, 1)
  train = tiny_pairs(TINY_SPLITS['train'], TINY_SIZE, 0)
  import tensorflow as tf

  def small(images):  # The loader's resize: bilinear with antialiasing, rounded to uint8.
    x = tf.image.resize(images.astype(np.float32), (16, 16), antialias=True).numpy()
    return np.clip(np.rint(x), 0, 255) / 255.0

  np.testing.assert_allclose(final['test_l1_input_copy'], np.mean(np.abs(small(test['image']) - small(test['map']))),
                             rtol=1e-5)
  mean_map = small(train['map']).mean(axis=0)
  np.testing.assert_allclose(final['test_l1_mean_target'], np.mean(np.abs(mean_map - small(test['map']))), rtol=1e-5)
  for name in ('l1', 'psnr', 'ssim', 'class_accuracy', 'water_accuracy', 'sharpness', 'top_band_db'):
    for suffix in ('', '_input_copy', '_mean_target'):
      assert np.isfinite(final[f'test_{name}{suffix}'])
  # The mean of the training maps is blurrier than the test maps it is measured against.
  assert final['test_sharpness_mean_target'] < 1.0
  assert 0.0 <= final['test_class_accuracy'] <= final['test_water_accuracy'] <= 1.0
  # The part run evaluated at its end too.
  assert sorted(os.listdir(tmp_path / 'run' / 'plots')) == ['translations_0000002.png', 'translations_0000004.png']
  from PIL import Image
  with Image.open(tmp_path / 'run' / 'plots' / 'translations_0000004.png') as picture:
    assert picture.size == (3 * 17 + 1, 4 * 17 + 1)  # Four test pairs: input, output, target.
  with open(tmp_path / 'run' / 'metrics.json') as f:
    assert {'test_l1', 'test_psnr', 'test_ssim', 'test_class_accuracy_mean_target'} <= set(json.load(f))
  # Measured again from the checkpoint (gan_jax.evaluate): the same numbers; another config is refused by field.
  from gan_jax import evaluate
  again = evaluate.reevaluate(config, str(tmp_path / 'run'))
  assert again['step'] == 4
  assert {k: v for k, v in again.items() if k != 'step'} == {k: v for k, v in final.items() if k.startswith('test_')}
  other = config.copy_and_resolve_references()
  other.seed, other.eval.grid_rows = 1, 2  # The evaluation's settings are free; the seed is not.
  with pytest.raises(ValueError, match=r'seed: 0 -> 1') as refused:
    evaluate.reevaluate(other, str(tmp_path / 'run'))
  assert 'grid_rows' not in str(refused.value)


# Bad inputs: refused by name before anything is compiled or written.


BAD = [
    ('data.name', 'mnist', "config.data.name: got 'mnist'; pix2pix translates one image of a pixel-aligned pair "
     'into the other and needs a paired dataset: use one of satellite_maps'),
    ('data.resolution', 18, r'config.data.resolution: a U-Net of depth 2 needs image sides divisible by 2\^2 = 4; '
     r'got \(18, 18\) \(pix2pix.depth=2\)'),
    ('pix2pix.direction', 'photo_to_map', "config.pix2pix.direction: got 'photo_to_map'; accepted values: "
     'image_to_map, map_to_image'),
    ('loss.g.l1', -1.0, r'config.loss.g.l1: got -1.0; a weight must be a number >= 0'),
    ('pix2pix.patch', 70, 'config.pix2pix.patch: got 70: its discriminator halves the image 3 times and needs '
     'data.resolution >= 24; data.resolution=16'),
    ('pix2pix.patch', 32, 'config.pix2pix.patch: got 32; accepted values: 1, 16, 70, 286'),
    ('loss.d.gradient_penalty', 10.0, "config.loss.d.gradient_penalty: got 10.0; pix2pix's D is trained on the "
     'terms adversarial: set it to 0'),
    ('loss.g.adversarial', 0.0, None),  # With l1 also 0 below.
    ('data.pipeline', 'stream', "config.data.pipeline: got 'stream'; the paired dataset"),
    ('data.resize', 'pad', "config.data.resize: got 'pad'; the paired dataset data.name='satellite_maps' is resized"),
]


@pytest.mark.parametrize('field, value, message', BAD, ids=['unpaired', 'not_divisible', 'direction',
                                                            'negative_lambda', 'patch_too_big', 'patch_size',
                                                            'gan_term', 'no_g_objective', 'stream', 'pad'])
def test_bad_pix2pix_config_is_refused_naming_the_field_before_anything_is_written(field, value, message, tmp_path):
  config = tiny_config(str(tmp_path / 'data'))
  section, name = field.rsplit('.', 1)
  target = config
  for part in section.split('.'):
    target = target[part]
  target[name] = value
  if field == 'loss.g.adversarial':
    config.loss.g.l1 = 0.0
    message = 'config.loss.g.l1: G has no objective'
  workdir = tmp_path / 'run'
  with pytest.raises(ConfigError, match=message):
    train_and_evaluate(config, str(workdir))
  assert not workdir.exists()


def test_a_gan_refuses_paired_data_and_the_l1_term():
  from gan_jax.config import dcgan_config
  from gan_jax.validation import validate
  config = dcgan_config()
  config.data.name = 'satellite_maps'
  with pytest.raises(ConfigError, match="config.data.name: got 'satellite_maps', a dataset of image pairs: .* "
                                        "config.model='pix2pix'"):
    validate(config, num_devices=1)
  config = dcgan_config()
  config.loss.g.l1 = 1.0
  with pytest.raises(ConfigError, match="config.loss.g.l1: compares G's outputs with paired targets"):
    validate(config, num_devices=1)


def test_bad_direction_on_the_command_line_exits_2_and_writes_nothing(tmp_path):
  from tests.test_bad_inputs import run_main
  workdir = tmp_path / 'run'
  result = run_main('--config', os.path.join(ROOT, 'experiments', 'pix2pix_maps.py:smoke'), '--workdir',
                    str(workdir), '--config.pix2pix.direction=sideways', cwd=tmp_path)
  assert result.returncode == 2, result.stderr[-2000:]
  assert ("config.pix2pix.direction: got 'sideways'; accepted values: image_to_map, map_to_image"
          in result.stderr)
  assert not workdir.exists()


def test_the_default_config_is_the_papers_setting():
  config = pix2pix_config()
  assert (config.data.resolution, config.pix2pix.depth, config.pix2pix.gen_channels, config.pix2pix.patch) == (
      256, 8, 64, 70)
  assert (config.loss.d.adversarial, config.loss.g.adversarial, config.loss.g.l1) == (0.5, 1.0, 100.0)
  assert (config.optim.g.learning_rate, config.optim.g.b1, config.optim.d.b1, config.train.batch_size) == (
      2e-4, 0.5, 0.5, 1)
  assert config.pix2pix.dropout_rate == 0.5 and config.pix2pix.jitter and config.pix2pix.norm == 'instance'


@pytest.mark.slow
def test_the_smoke_variant_trains_on_satellite_maps_and_its_input_copy_baseline_matches_the_tiles(tmp_path, image_sets_dir):
  import tensorflow as tf
  import tensorflow_datasets as tfds
  config = load(os.path.join(ROOT, 'experiments', 'pix2pix_maps.py')).get_config('smoke')
  config.data.data_dir = image_sets_dir('satellite_maps')
  dataset = data.make_dataset(config.data)
  assert dataset.num_examples == 296 and dataset.shape == (32, 32, 3)
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  assert final['step'] == config.train.num_steps
  # The input-copy baseline from the first 8 test tiles read here, each feature resized as the loader does.
  builder = tfds.builder('satellite_maps', data_dir=config.data.data_dir)
  test = tfds.as_numpy(builder.as_dataset(split='test[:8]', batch_size=-1, shuffle_files=False))
  small = {k: np.clip(np.rint(tf.image.resize(test[k].astype(np.float32), (32, 32), antialias=True).numpy()), 0,
                      255) / 255.0 for k in ('image', 'map')}
  np.testing.assert_allclose(final['test_l1_input_copy'], np.mean(np.abs(small['image'] - small['map'])), rtol=1e-5)
  assert final['test_class_accuracy_mean_target'] < final['test_water_accuracy_mean_target'] <= 1.0
