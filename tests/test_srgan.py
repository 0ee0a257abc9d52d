"""SRGAN: the networks (shapes, the pixel shuffle against PyTorch's, parameter counts of the paper's sizes by hand),
the VGG19 port against an independent PyTorch VGG19 with the same random weights, the Y-channel metrics against a
hand computation, the generator's objective against a second formulation, then the family end to end (a smoke run
on a tiny photo dataset) and its bad inputs."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import srgan as srgan_models
from gan_jax.models import vgg19

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _count(params) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))


# The networks.


def test_pixel_shuffle_matches_torch_pixel_shuffle():
  torch = pytest.importorskip('torch')
  for factor, channels in ((2, 24), (4, 32)):
    x = np.random.default_rng(factor).normal(size=(2, 3, 5, channels)).astype(np.float32)
    want = torch.nn.functional.pixel_shuffle(torch.from_numpy(x.transpose(0, 3, 1, 2)), factor).numpy()
    got = np.asarray(srgan_models.pixel_shuffle(jnp.asarray(x), factor))
    np.testing.assert_array_equal(got, want.transpose(0, 2, 3, 1))
  # By hand: output channel c at (h r + i, w r + j) is input channel c r^2 + i r + j at (h, w).
  y = np.asarray(srgan_models.pixel_shuffle(jnp.asarray(x), 4))
  assert y[1, 2 * 4 + 3, 1 * 4 + 2, 1] == x[1, 2, 1, 1 * 16 + 3 * 4 + 2]


def test_generator_and_discriminator_shapes_and_the_papers_parameter_counts():
  g = srgan_models.SRResNet(scale=4, num_blocks=16, channels=64)
  g_vars = jax.eval_shape(functools.partial(g.init, train=False), jax.random.key(0), jnp.zeros((1, 24, 24, 3)))
  # By hand: conv9x9 3->64 and PReLU(64); per block two conv3x3 64->64, two BN (scale, bias) and a PReLU; conv-BN;
  # per x2 block a conv3x3 64->256 and PReLU(64); conv9x9 64->3.
  first = 9 * 9 * 3 * 64 + 64 + 64
  block = 2 * (3 * 3 * 64 * 64 + 64) + 2 * 2 * 64 + 64
  after = 3 * 3 * 64 * 64 + 64 + 2 * 64
  upsample = 3 * 3 * 64 * 256 + 256 + 64
  last = 9 * 9 * 64 * 3 + 3
  assert _count(g_vars['params']) == first + 16 * block + after + 2 * upsample + last == 1_550_659
  out = jax.eval_shape(lambda v, x: g.apply(v, x, train=False), g_vars, jnp.zeros((2, 24, 20, 3)))
  assert out.shape == (2, 96, 80, 3)
  d = srgan_models.SRDiscriminator()
  d_vars = jax.eval_shape(functools.partial(d.init, train=False), jax.random.key(0), jnp.zeros((1, 96, 96, 3)))
  widths = (3,) + srgan_models.PAPER_WIDTHS
  convs = sum(3 * 3 * a * b + b for a, b in zip(widths, widths[1:]))
  norms = 2 * sum(widths[2:])  # Batch norm from the second convolution.
  dense = 6 * 6 * 512 * 1024 + 1024 + 1024 + 1  # 96 halved four times: 6x6x512.
  assert _count(d_vars['params']) == convs + norms + dense
  assert srgan_models.discriminator_widths(64) == srgan_models.PAPER_WIDTHS
  # Small sizes run: x2 and x8.
  for scale in (2, 8):
    small = srgan_models.SRResNet(scale=scale, num_blocks=1, channels=8)
    run = jax.jit(lambda x, m=small: m.apply(m.init(jax.random.key(1), x, train=False), x, train=False))
    out = run(jnp.full((1, 6, 6, 3), 0.5))
    assert out.shape == (1, 6 * scale, 6 * scale, 3) and float(jnp.max(jnp.abs(out))) < 1.0


@pytest.mark.parametrize('scale', [0, 1, 3, 6, 2.0, True])
def test_a_scale_that_is_not_a_power_of_two_is_refused(scale):
  with pytest.raises(ValueError, match='power of 2'):
    srgan_models.check_scale(scale)


# The VGG19 port.


def _torch_vgg19_features(torch):
  """torchvision's `vgg19().features` written out here (torchvision itself does not import on this machine):
  configuration E, conv3x3 (padding 1) + ReLU, max pool 2x2 after each block."""
  layers, channels = [], 3
  for value in [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512,
                'M']:
    if value == 'M':
      layers.append(torch.nn.MaxPool2d(kernel_size=2, stride=2))
    else:
      layers += [torch.nn.Conv2d(channels, value, kernel_size=3, padding=1), torch.nn.ReLU(inplace=True)]
      channels = value
  return torch.nn.Sequential(*layers)


def test_vgg19_port_matches_a_pytorch_vgg19_with_the_same_random_weights(tmp_path):
  torch = pytest.importorskip('torch')
  torch.manual_seed(0)
  features = _torch_vgg19_features(torch).eval()
  with torch.no_grad():  # He-scaled kernels and non-zero biases keep activations of order 1 down to relu5_4.
    for module in features:
      if isinstance(module, torch.nn.Conv2d):
        torch.nn.init.kaiming_normal_(module.weight, nonlinearity='relu')
        torch.nn.init.normal_(module.bias, 0.0, 0.1)
  # A full torchvision-style state dict (the classifier's keys are ignored), through the converter's command line.
  state = {f'features.{k}': v for k, v in features.state_dict().items()}
  state['classifier.0.weight'] = torch.zeros(4, 2)
  torch.save(state, tmp_path / 'vgg19.pth')
  assert vgg19.main(['--from_torch', str(tmp_path / 'vgg19.pth'), '--out', str(tmp_path / 'vgg19.npz')]) == 0
  images = np.random.default_rng(0).uniform(size=(2, 32, 48, 3)).astype(np.float32)
  normalised = (images - np.array(vgg19.IMAGENET_MEAN, np.float32)) / np.array(vgg19.IMAGENET_STD, np.float32)
  x = torch.from_numpy(normalised.transpose(0, 3, 1, 2))
  # torchvision's indices: relu2_2 ends features[:9], relu5_4 features[:36] (before the last pool).
  for layer, end in (('relu2_2', 9), ('relu5_4', 36)):
    with torch.no_grad():
      want = features[:end](x).numpy().transpose(0, 2, 3, 1)
    params = vgg19.load_params(str(tmp_path / 'vgg19.npz'), layer)
    got = np.asarray(vgg19.VGG19Features(layer).apply({'params': params}, jnp.asarray(images)))
    assert got.shape == want.shape
    assert np.abs(want).max() > 0.1 and (want > 0).mean() > 0.05  # Live activations, not a dead network.
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max(), rtol=0)
  assert vgg19.torch_indices()['conv5_4'] == 34 and vgg19.torch_indices()['conv2_2'] == 7


def test_vgg19_weights_with_a_missing_or_misshapen_array_are_refused_by_name():
  arrays = {k: np.zeros(s, np.float32) for k, s in vgg19.expected_shapes('relu2_2').items()}
  vgg19.params_from_arrays(arrays, 'relu2_2')
  with pytest.raises(ValueError, match="no array 'conv3_1/kernel'"):
    vgg19.params_from_arrays(arrays, 'relu3_1')
  arrays['conv2_1/kernel'] = np.zeros((3, 3, 128, 64), np.float32)
  with pytest.raises(ValueError, match=r"'conv2_1/kernel' has shape \(3, 3, 128, 64\), expected \(3, 3, 64, 128\)"):
    vgg19.params_from_arrays(arrays, 'relu2_2')


# The family's pieces.


def tiny_config(**fields):
  """The smoke variant at 16x16 HR (4x4 LR), one residual block, D of widths 4 ... 32."""
  from tests.test_experiments import load
  config = load(os.path.join(ROOT, 'experiments', 'srgan_photos.py')).get_config('smoke')
  config.data.resolution = 16
  for field, value in fields.items():
    section, name = field.split('__')
    config[section][name] = value
  return config


class _Images:
  """A dataset of `shape` for `create_srgan_state` (it reads only the shape)."""
  shape = (16, 16, 3)


def tiny_state(config, seed=0):
  from gan_jax.families import srgan
  return srgan.create_srgan_state(config, jax.random.key(seed), _Images())


def test_luma_psnr_and_ssim_on_y_with_the_border_cropped_against_a_hand_computation():
  from skimage.metrics import structural_similarity
  from gan_jax.families import srgan
  colours = jnp.asarray([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
  np.testing.assert_allclose(np.asarray(srgan.luma(colours)), [235.0, 16.0, 16 + 65.481, 16 + 128.553, 16 + 24.966],
                             rtol=1e-6)
  rng = np.random.default_rng(0)
  target = rng.uniform(size=(2, 20, 20, 3)).astype(np.float32)
  output = target.copy()
  output[:, :2] = rng.uniform(size=(2, 2, 20, 3))  # Only the 2-pixel border differs...
  output[:, :, -2:] = 0.0
  metrics = srgan.y_metrics(jnp.asarray(output), jnp.asarray(target), border=2)
  assert np.all(np.isinf(np.asarray(metrics['psnr_y'])))  # ... and is cropped away.
  output[0, 5, 7] += np.array([0.1, 0.0, 0.0], np.float32)  # One interior pixel's red: Y moves by 6.5481.
  output[1, 2:-2, 2:-2] = 0.5
  metrics = srgan.y_metrics(jnp.asarray(output), jnp.asarray(target), border=2)
  y_target = 16 + target @ np.array([65.481, 128.553, 24.966])
  mse0 = 6.5481**2 / 16**2
  mse1 = np.mean((16 + 0.5 * 219.0 - y_target[1, 2:-2, 2:-2])**2)
  np.testing.assert_allclose(np.asarray(metrics['psnr_y']), 10 * np.log10(255.0**2 / np.array([mse0, mse1])),
                             rtol=1e-4)
  y_output = 16 + output.astype(np.float64) @ np.array([65.481, 128.553, 24.966])
  want = [structural_similarity(y_output[i, 2:-2, 2:-2], y_target[i, 2:-2, 2:-2], data_range=255,
                                gaussian_weights=True, sigma=1.5, use_sample_covariance=False) for i in range(2)]
  np.testing.assert_allclose(np.asarray(metrics['ssim_y']), want, rtol=1e-4)


def test_downsampling_is_antialiased_bicubic_as_pil_in_the_interior_and_bicubic_upsampling_keeps_the_range():
  from PIL import Image
  from gan_jax.families import srgan
  rng = np.random.default_rng(1)
  hr = rng.integers(0, 256, (1, 48, 48, 3)).astype(np.uint8)
  lr = np.asarray(srgan.downsample(jnp.asarray(hr, jnp.float32) / 127.5 - 1.0, 4))
  assert lr.shape == (1, 12, 12, 3)
  np.testing.assert_allclose(lr * 255, np.rint(lr * 255), atol=1e-3)  # 8-bit levels.
  # PIL's BICUBIC (Keys a = -0.5, the kernel widened by the factor when shrinking) on each channel; the borders
  # differ (PIL and jax treat the outside of the image differently), the interior agrees within rounding.
  pil = np.stack([np.asarray(Image.fromarray(hr[0, ..., c]).resize((12, 12), Image.BICUBIC)) for c in range(3)],
                 axis=-1)
  np.testing.assert_allclose(lr[0, 2:-2, 2:-2] * 255, pil[2:-2, 2:-2], atol=1.01)
  up = np.asarray(srgan.bicubic_upsample(jnp.asarray(lr), 4))
  assert up.shape == (1, 48, 48, 3) and up.min() >= 0.0 and up.max() <= 1.0


def _random_vgg_file(path):
  rng = np.random.default_rng(0)
  arrays = {}
  for key, shape in vgg19.expected_shapes('relu2_2').items():
    fan_in = np.prod(shape[:3]) if len(shape) == 4 else 1
    arrays[key] = (rng.normal(size=shape) * np.sqrt(2.0 / fan_in) if len(shape) == 4
                   else rng.normal(0.0, 0.1, size=shape)).astype(np.float32)
  np.savez(path, **arrays)
  return str(path)


def test_generator_objective_and_its_gradient_against_the_loss_written_out_with_vgg22_content(tmp_path):
  from gan_jax.families import srgan
  weights = _random_vgg_file(tmp_path / 'vgg.npz')
  config = tiny_config(srgan__content='vgg22', srgan__vgg_weights=weights, srgan__adversarial_weight=0.1)
  state = tiny_state(config)
  hr = jax.random.uniform(jax.random.key(3), (4, 16, 16, 3), minval=-1, maxval=1)
  batch = {'source': srgan.downsample(hr, 4), 'x': hr}
  content_term = srgan.make_content_term(config)
  objective = srgan.make_objective(config, content_term)
  g_net, d_net = state.nets['g'], state.nets['d']
  vgg = vgg19.VGG19Features('relu2_2')
  vgg_params = vgg19.load_params(weights, 'relu2_2')

  def written_out(g_params):
    sr, _ = g_net.module.apply({'params': g_params, 'batch_stats': g_net.batch_stats}, batch['source'], train=True,
                               mutable=['batch_stats'])
    phi = lambda x: vgg.apply({'params': vgg_params}, (x + 1) / 2)
    content = jnp.mean(((phi(sr) - phi(hr)) / 12.75)**2)
    logits, _ = d_net.module.apply({'params': d_net.params, 'batch_stats': d_net.batch_stats}, sr, train=True,
                                   mutable=['batch_stats'])
    return content + 0.1 * jnp.mean(jax.nn.softplus(-logits))  # -log sigmoid(D(G(LR))).

  def family(g_params):
    return srgan.generator_objective(state.with_params({'g': g_params}), batch, objective=objective,
                                     content_term=content_term)[0]

  # Compiled: eagerly, each of the many small convolutions' gradients is a dispatch of its own.
  value, grads = jax.jit(jax.value_and_grad(family))(g_net.params)
  want_value, want_grads = jax.jit(jax.value_and_grad(written_out))(g_net.params)
  np.testing.assert_allclose(float(value), float(want_value), rtol=1e-5)
  # Tolerance relative to the largest gradient: the biases of convolutions before batch norm have none (the norm
  # removes them), only float noise.
  largest = max(float(np.abs(np.asarray(b)).max()) for b in jax.tree.leaves(want_grads))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5 * largest),
               grads, want_grads)
  assert float(optax_norm(grads)) > 0


def optax_norm(tree):
  import optax
  return optax.tree.norm(tree)


def test_srresnet_builds_no_discriminator_and_trains_g_on_its_content_alone():
  from gan_jax.families import srgan
  config = tiny_config(srgan__adversarial_weight=0.0)
  state = tiny_state(config)
  assert set(state.nets) == {'g'}
  hr = jax.random.uniform(jax.random.key(5), (1, 4, 16, 16, 3), minval=-1, maxval=1)
  real = {'source': jax.vmap(lambda x: srgan.downsample(x, 4))(hr), 'x': hr}
  after, metrics = jax.jit(srgan.make_train_step(config))(state, real)
  assert 'd_loss' not in metrics and int(after.step) == 1
  sr = state.nets['g'].module.apply({'params': state.nets['g'].params, 'batch_stats': state.nets['g'].batch_stats},
                                    real['source'][0], train=True, mutable=['batch_stats'])[0]
  np.testing.assert_allclose(float(metrics['g_loss']), float(jnp.mean((sr - hr[0])**2)), rtol=1e-5)


# The family end to end, on photos' crops at 16x16.


def test_smoke_srresnet_then_srgan_started_from_its_generator(tmp_path, image_sets_dir):
  from gan_jax import data
  from gan_jax.families import srgan
  from gan_jax.train import train_and_evaluate
  from tests.helpers import load_family_state
  data_dir = image_sets_dir('photos')
  # 32x32 HR: the evaluation's SSIM needs 11 pixels left after the 4-pixel border crop.
  resnet = tiny_config(srgan__adversarial_weight=0.0, data__data_dir=data_dir, data__resolution=32, train__num_steps=2,
                       train__eval_every_steps=2, train__checkpoint_every_steps=2)
  final = train_and_evaluate(resnet, str(tmp_path / 'resnet'))
  assert final['step'] == 2
  for name in ('test_psnr_y', 'test_ssim_y', 'test_psnr_y_bicubic', 'test_ssim_y_bicubic'):
    assert np.isfinite(final[name])
  # Bicubic from 4x4 to 16x16 is blurry but far from random: a clear PSNR, SSIM in (0, 1).
  assert 12.0 < final['test_psnr_y_bicubic'] < 40.0 and 0.0 < final['test_ssim_y_bicubic'] < 1.0
  from PIL import Image
  with Image.open(tmp_path / 'resnet' / 'plots' / 'sr_crops_0000002.png') as picture:
    assert picture.size == (3 * 33 + 1, 4 * 33 + 1)  # grid_rows 4 crops: bicubic, G, HR.
  gan = tiny_config(data__data_dir=data_dir, data__resolution=32, srgan__init_from=str(tmp_path / 'resnet'),
                    train__num_steps=2,
                    train__eval_every_steps=2, train__checkpoint_every_steps=2)
  trained_g = load_family_state(tmp_path / 'resnet', resnet).nets['g']
  start = srgan.create_srgan_state(gan, jax.random.key(0), data.make_dataset(gan.data))
  for mine, theirs in ((start.nets['g'].params, trained_g.params), (start.nets['g'].batch_stats,
                                                                     trained_g.batch_stats)):
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), mine, theirs)
  assert set(start.nets) == {'g', 'd'} and int(start.nets['g'].count) == 0  # G's optimizer starts afresh.
  # A G of another architecture is refused before anything is written.
  other = tiny_config(data__data_dir=data_dir, data__resolution=32, srgan__init_from=str(tmp_path / 'resnet'),
                      srgan__channels=4)
  from gan_jax.config import ConfigError
  with pytest.raises(ConfigError, match="config.srgan.init_from: .* has srgan.channels=8, this run 4"):
    train_and_evaluate(other, str(tmp_path / 'other'))
  assert not (tmp_path / 'other').exists()


@pytest.mark.slow
def test_srgan_trains_both_networks_and_resumes_bit_for_bit(tmp_path, image_sets_dir):
  from gan_jax.train import train_and_evaluate
  from tests.helpers import comparable, load_family_state, run_on
  config = tiny_config(data__data_dir=image_sets_dir('photos'), data__resolution=32, train__num_steps=4,
                       train__checkpoint_every_steps=2, train__eval_every_steps=4, train__log_every_steps=2)
  part = config.copy_and_resolve_references()
  part.train.num_steps = 2
  train_and_evaluate(part, str(tmp_path / 'run'))
  train_and_evaluate(config, str(tmp_path / 'run'))
  whole, _ = run_on(config, 'single', num_calls=4, steps_per_call=1)
  resumed = load_family_state(tmp_path / 'run', config)
  assert int(resumed.step) == int(whole.step) == 4
  assert int(resumed.nets['d'].count) == int(resumed.nets['g'].count) == 4
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), comparable(whole),
               comparable(resumed))


# Bad inputs: refused by name before anything is compiled or written.


BAD = [
    ('srgan.scale', 3, r'config.srgan.scale: got 3; the sub-pixel blocks each double the image: use a power of 2 >= 2'),
    ('srgan.scale', 1, r'config.srgan.scale: got 1; .* power of 2 >= 2'),
    ('data.resolution', 34, 'config.data.resolution: got 34, not divisible by srgan.scale=4'),
    ('data.resolution', 16, r"config.data.resolution: got 16: with srgan.scale=4 pixels cropped .* 8 remain, fewer "
     r"than SSIM's 11x11 window; use at least 19"),
    ('srgan.content', 'vgg33', "config.srgan.content: got 'vgg33'; accepted values: mse, vgg54, vgg22"),
    ('srgan.content', 'vgg54', r"config.srgan.vgg_weights: empty, and srgan.content='vgg54': the VGG content losses "
     r"need VGG19 weights .* python -m gan_jax.models.vgg19 --from_torch vgg19-dcbb9e9d.pth --out vgg19.npz"),
    ('srgan.vgg_weights', '/nonexistent/vgg19.npz', r"config.srgan.vgg_weights: no such file '/nonexistent/vgg19.npz': "
     r'the VGG content losses need VGG19 weights .* --from_torch'),
    ('srgan.vgg_weights', 'partial', r"config.srgan.vgg_weights: .*: VGG19 weights: no array 'conv3_1/kernel'"),
    ('srgan.adversarial_weight', -1.0, 'config.srgan.adversarial_weight: got -1.0; must be a number >= 0'),
    ('loss.g.l1', 1.0, "config.loss.g.l1: got 1.0; SRGAN's objectives are set by srgan.content"),
    ('srgan.init_from', '/nonexistent_run', "config.srgan.init_from: '/nonexistent_run' holds no config.json"),
    ('data.name', 'satellite_maps', "config.data.name: got 'satellite_maps'; SRGAN super-resolves images"),
]


BAD_IDS = ['scale_3', 'scale_1', 'not_divisible', 'too_small', 'content', 'vgg_no_weights', 'vgg_missing_file',
           'vgg_partial_file', 'negative_weight', 'other_term', 'init_from', 'data']


@pytest.mark.parametrize('field, value, message', BAD, ids=BAD_IDS)
def test_bad_srgan_config_is_refused_naming_the_field_before_anything_is_written(field, value, message, tmp_path):
  from gan_jax.config import ConfigError
  from gan_jax.train import train_and_evaluate
  from tests.helpers import set_field
  config = tiny_config(data__data_dir=str(tmp_path / 'data'), data__resolution=32)
  if field == 'srgan.vgg_weights':
    config.srgan.content = 'vgg54'
    if value == 'partial':  # Up to relu2_2 only: vgg54 needs conv3_1 ... conv5_4 too.
      value = _random_vgg_file(tmp_path / 'vgg22.npz')
  set_field(config, field, value)
  workdir = tmp_path / 'run'
  with pytest.raises(ConfigError, match=message):
    train_and_evaluate(config, str(workdir))
  assert not workdir.exists()


def test_a_bad_scale_on_the_command_line_exits_2_and_writes_nothing(tmp_path):
  from tests.test_bad_inputs import run_main
  workdir = tmp_path / 'run'
  result = run_main('--config', os.path.join(ROOT, 'experiments', 'srgan_photos.py:smoke'), '--workdir', str(workdir),
                    '--config.srgan.scale=3', cwd=tmp_path)
  assert result.returncode == 2, result.stderr[-2000:]
  assert 'config.srgan.scale: got 3; the sub-pixel blocks each double the image' in result.stderr
  assert not workdir.exists()


def test_the_default_config_is_the_papers_setting():
  from gan_jax.config import srgan_config
  config = srgan_config()
  c = config.srgan
  assert (c.scale, c.num_blocks, c.channels, c.disc_channels, c.disc_dense) == (4, 16, 64, 64, 1024)
  assert (c.content, c.adversarial_weight, config.loss.name) == ('vgg54', 1e-3, 'non_saturating')
  assert np.isclose(c.vgg_scale, 1 / 12.75)
  assert (config.optim.g.learning_rate, config.optim.g.b1, config.train.batch_size, config.data.resolution) == (
      1e-4, 0.9, 16, 96)
