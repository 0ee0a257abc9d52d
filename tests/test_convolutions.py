"""The CPU forms of the stride-2 convolutions (`models/layers.py`): the same values and gradients as XLA's own
convolutions, no dilated convolution left in their gradients, and the networks computing the same numbers under the
CPU policy as under the native forms."""

import functools
from unittest import mock

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import platform
from gan_jax.models import conv, dcgan, image_to_image as i2i, layers


def conv_dilations(fn, *args):
  """The lhs dilations of every convolution in `fn`'s jaxpr (inner jaxprs included)."""
  found = []

  def visit(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == 'conv_general_dilated':
        found.append(tuple(eqn.params['lhs_dilation']))
      for sub in jax.extend.core.jaxprs_in_params(eqn.params):
        visit(sub)

  visit(jax.make_jaxpr(fn)(*args).jaxpr)
  return found


@pytest.mark.parametrize('shape, kernel_size, padding', [
    ((2, 8, 8, 3), 4, ((1, 1), (1, 1))),  # DCGAN's and PatchGAN's.
    ((2, 7, 6, 3), 3, ((1, 1), (1, 1))),  # The ResNet generator's down-sampling, odd sides.
    ((2, 8, 8, 3), 3, ((0, 1), (0, 1))),  # 'SAME' for a 3x3 kernel (conv.py's D).
    ((2, 9, 9, 3), 4, ((0, 0), (0, 0)))])  # 'VALID', a side the stride does not divide.
def test_strided_conv_equals_xla_convolution_values_and_gradients(shape, kernel_size, padding):
  x = jax.random.normal(jax.random.key(0), shape)
  kernel = jax.random.normal(jax.random.key(1), (kernel_size, kernel_size, 3, 5))
  native = lambda x, k: jax.lax.conv_general_dilated(x, k, (2, 2), padding, dimension_numbers=layers.NHWC)
  for form in (lambda x, k: layers.space_to_depth_conv(x, k, padding),
               lambda x, k: layers.strided_conv(x, k, padding)):
    np.testing.assert_allclose(form(x, kernel), native(x, kernel), atol=1e-5)
    loss = lambda f: lambda x, k: jnp.sum(jnp.sin(f(x, k)))
    got, expected = jax.grad(loss(form), (0, 1))(x, kernel), jax.grad(loss(native), (0, 1))(x, kernel)
    for a, b in zip(got, expected):
      np.testing.assert_allclose(a, b, atol=1e-4)
  # The native input gradient convolves a dilated input; strided_conv's does not.
  dx = lambda f: lambda x: jax.grad(lambda x: jnp.sum(f(x, kernel)))(x)
  assert (2, 2) in conv_dilations(dx(native), x)
  assert set(conv_dilations(dx(lambda x, k: layers.strided_conv(x, k, padding)), x)) == {(1, 1)}


@pytest.mark.parametrize('keep_last', [False, True], ids=['first_2h', 'last_2h'])
@pytest.mark.parametrize('method', layers.UPCONV_METHODS)
def test_3x3_upconv_keeps_the_first_or_last_2h_of_xlas_full_transposed_convolution(method, keep_last):
  # A 3x3 stride-2 transposed convolution has 2H + 1 outputs per side: Flax's 'SAME' keeps the first 2H, PyTorch's
  # ConvTranspose2d(3, stride=2, padding=1, output_padding=1) (CycleGAN's authors') the last 2H. Odd sides.
  x = jax.random.normal(jax.random.key(0), (2, 5, 6, 3))
  kernel = jax.random.normal(jax.random.key(1), (3, 3, 3, 4))
  bias = jax.random.normal(jax.random.key(2), (4,))
  crop = (lambda y: y[:, 1:, 1:]) if keep_last else (lambda y: y[:, :-1, :-1])
  reference = lambda x, k: crop(jax.lax.conv_transpose(x, k, (2, 2), 'VALID', dimension_numbers=layers.NHWC)) + bias
  module = layers.UpConv2x(4, kernel_size=3, keep_last=keep_last, method=method)
  ours = lambda x, k: module.apply({'params': {'kernel': k, 'bias': bias}}, x)
  assert reference(x, kernel).shape == (2, 10, 12, 4)
  np.testing.assert_allclose(ours(x, kernel), reference(x, kernel), atol=1e-5)
  loss = lambda f: lambda x, k: jnp.sum(jnp.sin(f(x, k)))
  got, expected = jax.grad(loss(ours), (0, 1))(x, kernel), jax.grad(loss(reference), (0, 1))(x, kernel)
  for a, b in zip(got, expected):
    np.testing.assert_allclose(a, b, atol=1e-4)
  with pytest.raises(ValueError, match='keep_last'):  # A 4x4 kernel's outputs are centred: one alignment.
    layers.UpConv2x(4, keep_last=True).init(jax.random.key(0), x)


def test_four_convs_upconv_has_no_dilated_convolution_and_16_taps():
  x = jnp.ones((1, 4, 4, 3))
  kernel = jnp.ones((4, 4, 3, 2))
  grads = lambda x: jax.grad(lambda x, k: jnp.sum(layers.four_convs_upconv(x, k)), (0, 1))(x, kernel)
  assert set(conv_dilations(grads, x)) == {(1, 1)}
  # Four 2x2 kernels: the 16 taps of the transposed convolution, against the phase form's 3x3 over 4x the outputs.
  shapes = [eqn.params['rhs_shape'] if 'rhs_shape' in eqn.params else eqn.invars[1].aval.shape for eqn in
            jax.make_jaxpr(layers.four_convs_upconv)(x, kernel).jaxpr.eqns
            if eqn.primitive.name == 'conv_general_dilated']
  assert shapes == [(2, 2, 3, 2)] * 4


def test_auto_policy_on_cpu():
  assert platform.upconvolution_method(64) == 'four_convs'
  assert platform.upconvolution_method(3) == 'phases'  # An image's channels.
  assert platform.space_to_depth_gradients()
  assert platform.pad_reflected_convolutions()
  x = jnp.ones((2, 8, 8, 3))
  module = nn.Conv(4, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), conv_general_dilated=layers.conv_general_dilated)
  params = module.init(jax.random.key(0), x)
  primitives = [e.primitive.name for e in jax.make_jaxpr(module.apply)(params, x).jaxpr.eqns]
  assert 'custom_vjp_call' in primitives
  # Anything else (a stride of 1, a dilation) is XLA's convolution.
  plain = nn.Conv(4, (3, 3), conv_general_dilated=layers.conv_general_dilated)
  primitives = [e.primitive.name for e in jax.make_jaxpr(plain.apply)(plain.init(jax.random.key(0), x), x).jaxpr.eqns]
  assert 'conv_general_dilated' in primitives and 'custom_vjp_call' not in primitives


NETWORKS = {
    'dcgan_g': (functools.partial(dcgan.DCGANGenerator, resolution=16, base_channels=4), (2, 8)),
    'dcgan_d': (functools.partial(dcgan.DCGANDiscriminator, resolution=16, base_channels=4), (2, 16, 16, 3)),
    'conv_g': (functools.partial(conv.ConvGenerator, resolution=12, channels=1, widths=(16, 8), kernel_size=4),
               (2, 8)),
    'conv_d': (functools.partial(conv.ConvDiscriminator, widths=(2, 4)), (2, 12, 12, 1)),
    'unet': (functools.partial(i2i.UNetGenerator, depth=3, base_channels=4, dropout_rate=0.0), (2, 16, 16, 3)),
    'resnet': (functools.partial(i2i.ResNetGenerator, n_blocks=1, base_channels=4), (2, 16, 16, 3)),
    'patch': (functools.partial(i2i.PatchDiscriminator, num_layers=2, base_channels=4), (2, 16, 16, 3)),
}


@pytest.mark.parametrize('name', list(NETWORKS))
def test_networks_compute_the_same_under_the_cpu_forms_as_under_the_native_ones(name):
  make, shape = NETWORKS[name]
  module = make()
  x = jax.random.normal(jax.random.key(0), shape)
  variables = jax.jit(module.init)(jax.random.key(1), x)

  def loss(variables, x):
    out, _ = module.apply(variables, x, mutable=['batch_stats'])
    out = out['logits'] if isinstance(out, dict) else out
    return jnp.sum(jnp.sin(3.0 * out))

  # Compiled whole: op by op, the networks' hundreds of small ops each compile on their own (twice as slow). Each form
  # is its own jit, traced inside its own platform policy.
  cpu = jax.jit(jax.value_and_grad(loss, (0, 1)))(variables, x)
  with mock.patch.object(platform, 'upconvolution_method', lambda features: 'transpose'), \
       mock.patch.object(platform, 'space_to_depth_gradients', lambda: False), \
       mock.patch.object(platform, 'pad_reflected_convolutions', lambda: False):
    native = jax.jit(jax.value_and_grad(loss, (0, 1)))(variables, x)
  np.testing.assert_allclose(cpu[0], native[0], rtol=1e-5, atol=1e-5)
  # Gradients that are zero in exact arithmetic (a bias before a norm) differ by rounding only (up to 4e-4 seen
  # in the ResNet generator, whose other gradients are O(1)): an absolute tolerance on the scale of the largest.
  scale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(native[1]))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3 * max(scale, 1.0)), cpu[1],
               native[1])
