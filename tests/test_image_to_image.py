"""pix2pix's networks: the PatchGAN's receptive field measured from its gradients against the paper's patch sizes,
the U-Net's layer widths, skip connections and dropout-as-noise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import image_to_image as i2i


def measured_patch(discriminator: i2i.PatchDiscriminator, size: int, channels: int = 2) -> tuple[int, int]:
  """The height and width of the input region that moves one central logit: the rows and columns where the
  gradient of that logit with respect to the input is non-zero."""
  x = jax.random.normal(jax.random.key(0), (1, size, size, channels))
  # Each network compiled whole: op by op, every layer's operations would compile on their own.
  params = jax.jit(discriminator.init)(jax.random.key(1), x)
  out_shape = jax.eval_shape(discriminator.apply, params, x).shape
  centre = (out_shape[1] // 2, out_shape[2] // 2)
  grad = jax.jit(jax.grad(lambda x: discriminator.apply(params, x)[0, centre[0], centre[1], 0]))(x)
  support = np.abs(np.asarray(grad[0])).sum(axis=-1) > 0
  rows, cols = np.flatnonzero(support.any(axis=1)), np.flatnonzero(support.any(axis=0))
  return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


# The paper's patch sizes (Isola et al. 2017, section 4.4 and appendix 6.1.2). Without normalisation: instance norm
# makes every logit depend on the whole image through its statistics.
@pytest.mark.parametrize('num_layers, pixel, expected', [(0, True, 1), (1, False, 16), (3, False, 70)],
                         ids=['pixelgan_1', 'patchgan_16', 'patchgan_70'])
def test_patchgan_logits_see_exactly_the_papers_patch(num_layers, pixel, expected):
  assert i2i.receptive_field(num_layers, pixel) == expected
  discriminator = i2i.PatchDiscriminator(num_layers=num_layers, pixel=pixel, base_channels=4, norm='none')
  assert measured_patch(discriminator, 96) == (expected, expected)


def test_the_286_imagegan_covers_a_256_image():
  assert i2i.receptive_field(5) == 286  # Larger than 256: at 256x256 its logits see the whole image.


def test_patchgan_gives_one_logit_per_patch_and_70x70_at_256_is_30x30():
  discriminator = i2i.PatchDiscriminator(num_layers=3, base_channels=2)
  x = jax.ShapeDtypeStruct((1, 256, 256, 6), jnp.float32)  # Shapes only: nothing is computed.
  logits, _ = jax.eval_shape(lambda x: discriminator.init_with_output(jax.random.key(0), x), x)
  assert logits.shape == (1, 30, 30, 1)


def test_unet_has_the_papers_widths_and_restores_the_size():
  assert i2i.unet_widths(8) == (64, 128, 256, 512, 512, 512, 512, 512)
  generator = i2i.UNetGenerator(out_channels=3, depth=4, base_channels=4)
  x = jax.random.uniform(jax.random.key(0), (2, 32, 32, 3), minval=-1, maxval=1)
  y, variables = generator.init_with_output(jax.random.key(1), x)
  assert y.shape == (2, 32, 32, 3) and float(jnp.max(jnp.abs(y))) < 1.0
  # Encoder widths 4-8-16-32; each decoder layer but the innermost takes its mirror's output as extra channels.
  params = variables['params']
  assert [params[f'Conv_{i}']['kernel'].shape[-1] for i in range(4)] == [4, 8, 16, 32]
  assert [params[f'ConvTranspose_{i}']['kernel'].shape[-2:] for i in range(4)] == [(32, 16), (32, 8), (16, 4),
                                                                                   (8, 3)]


def test_unet_skips_carry_fine_detail_past_the_bottleneck():
  # With the innermost layer's weights zeroed, nothing passes the bottleneck, yet a one-pixel change of the input
  # still changes the output there: the skip connections carry it.
  generator = i2i.UNetGenerator(out_channels=1, depth=3, base_channels=4, norm='none')
  x = jax.random.uniform(jax.random.key(0), (1, 32, 32, 1), minval=-1, maxval=1)
  params = jax.jit(generator.init)(jax.random.key(1), x)['params']
  params['Conv_2'] = jax.tree.map(jnp.zeros_like, params['Conv_2'])
  moved = x.at[0, 3, 3, 0].add(1.0)
  apply = jax.jit(generator.apply)
  delta = np.abs(np.asarray(apply({'params': params}, moved) - apply({'params': params}, x)))
  assert delta[0, 3, 3, 0] > 0
  # Far from the pixel, beyond the reach of the skip paths (at most ~12 pixels at this depth), nothing moves.
  assert delta[0, 24:, 24:].max() == 0


def test_unet_dropout_is_noise_given_a_key_and_off_without_one():
  generator = i2i.UNetGenerator(out_channels=1, depth=4, base_channels=4)
  x = jax.random.uniform(jax.random.key(0), (1, 16, 16, 1), minval=-1, maxval=1)
  variables = jax.jit(generator.init)(jax.random.key(1), x)
  apply = jax.jit(generator.apply)
  a = apply(variables, x, dropout_key=jax.random.key(2))
  b = apply(variables, x, dropout_key=jax.random.key(3))
  again = apply(variables, x, dropout_key=jax.random.key(2))
  assert float(jnp.max(jnp.abs(a - b))) > 1e-4
  np.testing.assert_array_equal(np.asarray(a), np.asarray(again))
  plain = apply(variables, x)
  np.testing.assert_array_equal(np.asarray(plain), np.asarray(apply(variables, x)))


def test_sizes_the_unet_cannot_halve_are_refused_naming_the_field():
  i2i.check_divisible((256, 256), 8, 'data.resolution')
  with pytest.raises(ValueError, match=r'data.resolution: a U-Net of depth 8 needs image sides divisible by '
                                       r'2\^8 = 256; got \(200, 200\)'):
    i2i.check_divisible((200, 200), 8, 'data.resolution')


@pytest.mark.parametrize('kind', ['instance', 'instance_no_affine'])
def test_instance_norms_against_numpy_with_and_without_scale_and_bias(kind):
  # 'instance' (pix2pix's: batch norm at batch 1) has a scale and a bias per channel; 'instance_no_affine' (the
  # CycleGAN authors' InstanceNorm2d(affine=False)) has no parameters at all.
  norm = i2i._norm(kind, train=True)
  x = 3.0 + 2.0 * jax.random.normal(jax.random.key(0), (2, 5, 4, 3))
  variables = norm.init(jax.random.key(1), x)
  h = np.asarray(x, np.float64)
  expected = (h - h.mean(axis=(1, 2), keepdims=True)) / np.sqrt(h.var(axis=(1, 2), keepdims=True) + 1e-5)
  if kind == 'instance':
    assert jax.tree.map(jnp.shape, variables) == {'params': {'scale': (3,), 'bias': (3,)}}
    scale, bias = np.array([0.5, 2.0, -1.0]), np.array([0.1, -0.2, 0.3])
    variables = {'params': {'scale': jnp.asarray(scale, jnp.float32), 'bias': jnp.asarray(bias, jnp.float32)}}
    expected = expected * scale + bias
  else:
    assert not jax.tree.leaves(variables)
  np.testing.assert_allclose(norm.apply(variables, x), expected, atol=1e-5)
