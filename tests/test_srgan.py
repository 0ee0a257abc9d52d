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
