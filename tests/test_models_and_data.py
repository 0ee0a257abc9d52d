"""Networks of every registry entry, the mixtures' geometry, and the mode metrics on known samples."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data, models
from gan_jax.config import base_config
from gan_jax.data.mixtures import grid, ring
from gan_jax.evaluation.mixtures import mode_metrics


DATA_SHAPES = {'mlp': (2,), 'dcgan': (16, 16, 3), 'conv': (28, 28, 3)}  # A shape each registered network is made for.


def test_every_registered_network_has_a_test_shape():
  assert set(DATA_SHAPES) == set(models.GENERATORS) == set(models.DISCRIMINATORS)


@pytest.mark.parametrize('name', sorted(models.GENERATORS))
def test_every_generator_maps_latents_to_data_shape(name):
  config = base_config()
  config.gen.name = name
  g = models.make_generator(config.gen, DATA_SHAPES[name])
  z = jnp.zeros((5, config.gen.latent_dim))
  variables = jax.jit(functools.partial(g.init, train=False))(jax.random.key(0), z)
  assert jax.jit(functools.partial(g.apply, train=False))(variables, z).shape == (5, *DATA_SHAPES[name])


@pytest.mark.parametrize('name', sorted(models.DISCRIMINATORS))
def test_every_discriminator_gives_one_logit_per_example(name):
  config = base_config()
  config.disc.name = name
  d = models.make_discriminator(config.disc, DATA_SHAPES[name])
  x = jnp.zeros((5, *DATA_SHAPES[name]))
  variables = jax.jit(functools.partial(d.init, train=False))(jax.random.key(0), x)
  outputs = jax.jit(functools.partial(d.apply, train=False))(variables, x)
  assert outputs['logits'].shape == (5,)
  assert outputs['features'].shape[0] == 5 and outputs['hidden'][-1].shape[0] == 5


# Parameter counts of the reference DCGAN (PyTorch example, nz=100, ngf=ndf=64, nc=3, no conv biases) at 64x64,
# counted by hand layer by layer; batch-norm scale and offset included.
G64 = (100 * 4 * 4 * 512) + 2 * 512 + (512 * 256 * 16) + 2 * 256 + (256 * 128 * 16) + 2 * 128 + (128 * 64 * 16) \
    + 2 * 64 + (64 * 3 * 16)
D64 = (3 * 64 * 16) + (64 * 128 * 16) + 2 * 128 + (128 * 256 * 16) + 2 * 256 + (256 * 512 * 16) + 2 * 512 \
    + (512 * 1 * 16)


@pytest.mark.parametrize('resolution', [16, 28, 32, 64])
def test_dcgan_shapes_and_parameter_counts(resolution):
  config = base_config()
  config.gen.name = config.disc.name = 'dcgan'
  shape = (resolution, resolution, 3)
  g = models.make_generator(config.gen, shape)
  d = models.make_discriminator(config.disc, shape)
  z = jax.random.normal(jax.random.key(0), (4, 100))
  # Compiled whole: op by op, each distinct operation of the initialisers and layers would compile on its own.
  g_vars = jax.jit(functools.partial(g.init, train=False))(jax.random.key(1), z)
  images, updates = jax.jit(functools.partial(g.apply, train=True, mutable=['batch_stats']))(g_vars, z)
  assert images.shape == (4, *shape) and float(jnp.max(jnp.abs(images))) <= 1.0
  d_vars = jax.jit(functools.partial(d.init, train=False))(jax.random.key(2), images)
  outputs, _ = jax.jit(functools.partial(d.apply, train=True, mutable=['batch_stats']))(d_vars, images)
  assert outputs['logits'].shape == (4,)
  count = lambda p: sum(x.size for x in jax.tree.leaves(p))
  if resolution == 64:
    assert (count(g_vars['params']), count(d_vars['params'])) == (G64, D64) == (3_576_704, 2_765_568)
  # Batch statistics moved in training mode (the generator's first batch norm sees 4 * 4 * 4 positions).
  assert not np.allclose(updates['batch_stats']['BatchNorm_0']['mean'], 0)


@pytest.mark.parametrize('resolution', [18, 4])
def test_dcgan_rejects_resolutions_it_cannot_produce(resolution):
  config = base_config()
  config.gen.name = 'dcgan'
  g = models.make_generator(config.gen, (resolution, resolution, 1))
  with pytest.raises(ValueError, match=r'config.data.resolution: DCGAN needs s \* 2\^b with s in 4..7'):
    g.init(jax.random.key(0), jnp.zeros((1, 100)), train=False)


def test_dcgan_at_28_starts_from_7x7():
  from gan_jax.models.dcgan import start_and_blocks
  assert [start_and_blocks(r) for r in (8, 12, 16, 28, 32, 56, 64)] == [(4, 1), (6, 1), (4, 2), (7, 2), (4, 3),
                                                                        (7, 3), (4, 4)]


# The Stacked MNIST networks (experiments/unrolled_stacked.py), counted by hand: G's dense layer and transposed
# convolutions have no bias (batch norm follows), its last convolution has one; D's first convolution has a bias
# (no batch norm there), the others none; its logit is a dense layer with a bias on the flattened 4x4 map.
G_STACKED = 256 * 4 * 4 * 64 + 2 * 64 + 9 * 64 * 32 + 2 * 32 + 9 * 32 * 16 + 2 * 16 + 9 * 16 * 8 + 2 * 8 + 9 * 8 * 3 + 3
D_QUARTER = 9 * 3 * 2 + 2 + 9 * 2 * 4 + 2 * 4 + 9 * 4 * 8 + 2 * 8 + 4 * 4 * 8 + 1
D_HALF = 9 * 3 * 4 + 4 + 9 * 4 * 8 + 2 * 8 + 9 * 8 * 16 + 2 * 16 + 4 * 4 * 16 + 1


@pytest.mark.parametrize('d_widths, d_count', [((2, 4, 8), D_QUARTER), ((4, 8, 16), D_HALF)])
def test_stacked_mnist_networks_map_sizes_and_parameter_counts(d_widths, d_count):
  from gan_jax.models.conv import map_sizes
  assert map_sizes(28, 3) == [4, 7, 14, 28]
  config = base_config()
  config.gen.name = config.disc.name = 'conv'
  config.disc.widths = d_widths
  g = models.make_generator(config.gen, (28, 28, 3))
  d = models.make_discriminator(config.disc, (28, 28, 3))
  # Shapes and counts only: traced, not compiled.
  z = jax.ShapeDtypeStruct((4, 256), jnp.float32)
  g_vars = jax.eval_shape(functools.partial(g.init, train=False), jax.random.key(1), z)
  images, _ = jax.eval_shape(functools.partial(g.apply, train=True, mutable=['batch_stats']), g_vars, z)
  d_vars = jax.eval_shape(functools.partial(d.init, train=False), jax.random.key(2), images)
  outputs, _ = jax.eval_shape(functools.partial(d.apply, train=True, mutable=['batch_stats']), d_vars, images)
  count = lambda p: sum(x.size for x in jax.tree.leaves(p))
  assert (count(g_vars['params']), count(d_vars['params'])) == (G_STACKED, d_count) == (286_795, d_count)
  assert images.shape == (4, 28, 28, 3) and outputs['features'].shape == (4, 4 * 4 * d_widths[-1])
  assert [h.shape[1] for h in outputs['hidden']] == [14, 7, 4]


def test_paper_sizes_and_parameter_counts():
  config = base_config()
  g = models.make_generator(config.gen, (2,))
  d = models.make_discriminator(config.disc, (2,))
  g_params = g.init(jax.random.key(0), jnp.zeros((1, 256)))['params']
  d_params = d.init(jax.random.key(0), jnp.zeros((1, 2)))['params']
  count = lambda p: sum(x.size for x in jax.tree.leaves(p))
  assert count(g_params) == (256 * 128 + 128) + (128 * 128 + 128) + (128 * 2 + 2)
  assert count(d_params) == (2 * 128 + 128) + (128 + 1)
  # Orthogonal initialisation with gain 0.8: K^T K = 0.64 I for a tall kernel.
  kernel = np.asarray(g_params['Dense_0']['kernel'])
  np.testing.assert_allclose(kernel.T @ kernel, 0.64 * np.eye(128), atol=1e-5)


def test_discriminator_scales_its_input():
  config = base_config()
  d = models.make_discriminator(config.disc, (2,))
  x = jnp.array([[1.0, -2.0]])
  variables = d.init(jax.random.key(0), x)
  unscaled = models.MLPDiscriminator(hidden=(128,), input_scale=1.0)
  np.testing.assert_allclose(d.apply(variables, x)['logits'], unscaled.apply(variables, x / 4)['logits'], rtol=1e-6)


def test_ring_has_eight_distinct_modes_on_the_circle():
  centers = ring(8, 2.0, 0.02).centers
  assert len({tuple(np.round(c, 6)) for c in centers}) == 8  # The official notebook's linspace gives 7.
  np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 2.0)
  np.testing.assert_allclose(centers[2], [0.0, 2.0], atol=1e-12)  # Angle 2*pi*2/8.


def test_grid_is_5x5_with_spacing_2():
  centers = grid(5, 2.0, 0.05).centers
  assert sorted(set(centers[:, 0])) == [-4.0, -2.0, 0.0, 2.0, 4.0]
  assert len({tuple(c) for c in centers}) == 25


@pytest.mark.parametrize('name', sorted(set(data.DATASETS) - set(data.IMAGE_DATASETS) - set(data.PAIRED_DATASETS)
                                         - set(data.CAPTIONED_DATASETS)))
def test_samples_match_the_mixture(name):
  config = base_config()
  config.data.name = name
  if name == 'gaussian_1d':
    config.data.std = 0.5
  dataset = data.make_dataset(config.data)
  x = np.asarray(jax.jit(dataset.draw, static_argnums=1)(jax.random.key(0), 20000))
  nearest = np.argmin(np.linalg.norm(x[:, None] - dataset.centers[None], axis=-1), axis=1)
  residual = x - dataset.centers[nearest]
  np.testing.assert_allclose(residual.std(axis=0), dataset.std, rtol=0.03)
  counts = np.bincount(nearest, minlength=len(dataset.centers))
  np.testing.assert_allclose(counts / len(x), 1 / len(dataset.centers), atol=0.01)


def test_mode_metrics_on_hand_built_samples():
  centers = ring(8, 2.0, 0.02).centers
  # 30 exact hits on each of modes 0-3, 5 hits on mode 4 (under the threshold of 20), 35 points far away (origin).
  samples = np.concatenate([np.repeat(centers[:4], 30, axis=0), np.repeat(centers[4:5], 5, axis=0),
                            np.zeros((35, 2))])
  m = mode_metrics(samples, centers, 0.02, min_samples_per_mode=20)
  assert m['modes_covered'] == 4
  assert m['high_quality_fraction'] == pytest.approx(125 / 160)
  # Origin points are equidistant: argmin assigns them to mode 0. Histogram: mode0 65, modes1-3 30, mode4 5.
  p = np.array([65, 30, 30, 30, 5]) / 160
  assert m['kl_to_uniform'] == pytest.approx(np.sum(p * np.log(p * 8)))
  # PacGAN's reverse KL: the high-quality samples only (mode0 30, modes1-3 30, mode4 5), modes 5-7 empty.
  q = np.array([30, 30, 30, 30, 5]) / 125
  assert m['kl_to_uniform_high_quality'] == pytest.approx(np.sum(q * np.log(q * 8)))
  # PacGAN's coverage counts a mode from one high-quality sample on: mode 4's 5 samples count.
  assert mode_metrics(samples, centers, 0.02, min_samples_per_mode=1)['modes_covered'] == 5


def test_mode_metrics_perfect_and_collapsed():
  mixture = ring(8, 2.0, 0.02)
  uniform = np.repeat(mixture.centers, 100, axis=0)
  m = mode_metrics(uniform, mixture.centers, 0.02, 20)
  assert (m['modes_covered'], m['high_quality_fraction'], m['kl_to_uniform']) == (8, 1.0, pytest.approx(0.0))
  collapsed = np.repeat(mixture.centers[:1], 800, axis=0)
  assert mode_metrics(collapsed, mixture.centers, 0.02, 20)['kl_to_uniform'] == pytest.approx(np.log(8))


@pytest.mark.parametrize('kernel_size', [4, 3])
@pytest.mark.parametrize('method', ['phases', 'four_convs', 'transpose', 'auto'])
def test_upconv_equals_flax_transposed_convolution_and_its_gradients(method, kernel_size):
  from flax import linen as nn
  from gan_jax.models.layers import UpConv2x
  x = jax.random.normal(jax.random.key(0), (2, 5, 6, 3))
  reference = nn.ConvTranspose(4, (kernel_size,) * 2, strides=(2, 2), padding='SAME',
                               bias_init=nn.initializers.normal(1.0))
  variables = reference.init(jax.random.key(1), x)
  ours = UpConv2x(4, method=method, kernel_size=kernel_size)
  np.testing.assert_allclose(ours.apply(variables, x), reference.apply(variables, x), atol=1e-5)
  loss = lambda module: lambda v, x: jnp.sum(jnp.sin(module.apply(v, x)))
  got = jax.grad(loss(ours), argnums=(0, 1))(variables, x)
  expected = jax.grad(loss(reference), argnums=(0, 1))(variables, x)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-4), got, expected)


def test_pacgan_mlp_options_sizes_and_initialisation():
  # PacGAN's grid networks: G 2 -> 4 x (FC 400 without bias, BN, ReLU) -> 2; D 3 x maxout(200 units, 5 pieces) -> 1.
  config = base_config()
  config.gen.hidden, config.gen.latent_dim, config.gen.mlp_norm = (400,) * 4, 2, 'batch'
  config.disc.hidden, config.disc.maxout_pieces = (200,) * 3, 5
  config.gen.init = config.disc.init = 'normal'
  g = models.make_generator(config.gen, (2,))
  d = models.make_discriminator(config.disc, (2,))
  z = jax.random.normal(jax.random.key(1), (64, 2))
  g_vars = g.init(jax.random.key(0), z, train=False)
  d_vars = d.init(jax.random.key(0), jnp.zeros((1, 2)))
  count = lambda p: sum(x.size for x in jax.tree.leaves(p))
  assert count(g_vars['params']) == (2 * 400 + 2 * 400) + 3 * (400 * 400 + 2 * 400) + (400 * 2 + 2)
  assert count(d_vars['params']) == (2 * 1000 + 1000) + 2 * (200 * 1000 + 1000) + (200 + 1)
  kernel = np.asarray(g_vars['params']['Dense_1']['kernel'])
  assert abs(kernel.std() - 0.02) < 0.001 and abs(kernel.mean()) < 0.001
  x, updates = g.apply(g_vars, z, train=True, mutable=['batch_stats'])
  assert x.shape == (64, 2)
  assert not np.allclose(updates['batch_stats']['BatchNorm_0']['mean'], 0)  # Training mode moves the statistics.
  # A maxout unit is the max of its 5 affine pieces (Dense(units * pieces), pieces adjacent).
  layer = models.mlp.Maxout(3, 5)
  v = jax.random.normal(jax.random.key(2), (4, 7))
  params = layer.init(jax.random.key(3), v)
  affine = np.asarray(v @ params['params']['Dense_0']['kernel'] + params['params']['Dense_0']['bias'])
  np.testing.assert_allclose(layer.apply(params, v), affine.reshape(4, 3, 5).max(-1), rtol=1e-6)


def test_mlp_options_are_refused_for_convolutional_networks():
  from gan_jax.config import ConfigError
  for field, value in (('gen.mlp_norm', 'batch'), ('gen.init', 'normal'), ('disc.maxout_pieces', 5)):
    config = base_config()
    config.gen.name = config.disc.name = 'dcgan'
    section, key = field.split('.')
    config[section][key] = value
    with pytest.raises(ConfigError, match=f"config.{field}: applies to the mlp networks, not 'dcgan'"):
      models.validate(config)
  config = base_config()
  config.disc.maxout_pieces = 1
  with pytest.raises(ConfigError, match='config.disc.maxout_pieces: got 1; a maxout layer needs >= 2 pieces'):
    models.validate(config)


def test_finite_training_set_is_reused_and_each_epoch_is_a_permutation():
  config = base_config()
  config.data.name = 'grid'
  config.data.num_train_points = 12
  dataset = data.make_dataset(config.data)
  arrays = jax.tree.map(jnp.asarray, dataset.host_arrays())
  points = np.asarray(arrays['points'])
  assert points.shape == (12, 2)
  np.testing.assert_array_equal(points, data.make_dataset(config.data).host_arrays()['points'])  # Drawn once.
  rng = jax.random.key(7)
  sample = jax.jit(dataset.sample, static_argnums=3)
  epochs = [np.concatenate([np.asarray(sample(arrays, rng, jnp.int32(s), 4)['x']) for s in range(e * 3, e * 3 + 3)])
            for e in range(2)]
  key = lambda p: np.lexsort(p.T[::-1])
  for epoch in epochs:  # Each epoch's 3 batches of 4 are the 12 points, each once.
    np.testing.assert_array_equal(epoch[key(epoch)], points[key(points)])
  assert not np.array_equal(epochs[0], epochs[1])  # ... in another order.
  labels = np.asarray(sample(arrays, rng, jnp.int32(0), 4)['y'])
  nearest = np.argmin(np.linalg.norm(np.asarray(sample(arrays, rng, jnp.int32(0), 4)['x'])[:, None]
                                     - dataset.centers[None], axis=-1), axis=1)
  np.testing.assert_array_equal(labels, nearest)
