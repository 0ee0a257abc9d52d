"""Progressive GAN's networks (Karras et al. 2018): a generator and a discriminator built for one stage of growth.

A stage is a resolution r (4, 8, 16, ...) and whether its newest block is still fading in. `ProGenerator` at r
holds blocks 4, 8, ..., r and the toRGB of r; while fading it also holds the toRGB of r/2 and blends

  G(z) = (1 - alpha) upsample(toRGB_{r/2}(h_{r/2})) + alpha toRGB_r(block_r(h_{r/2})),

`ProDiscriminator` at r holds the fromRGB of r and blocks r, ..., 8 and the final 4x4 block; while fading it also
holds the fromRGB of r/2 and blends

  h = (1 - alpha) fromRGB_{r/2}(avgpool(x)) + alpha block_r(fromRGB_r(x)),

before the blocks of r/2 and below. Each submodule is named by its resolution ('block_8', 'to_rgb_8', 'from_rgb_8'),
so a parameter keeps its path from stage to stage and a grown network's parameters carry over by name. The blend is
written (1 - alpha) a + alpha b, so that alpha = 0 gives the old path exactly and alpha = 1 the new one exactly.

The paper's other techniques, as its released code computes them (networks.py of tkarras/progressive_growing_of_gans):
- equalised learning rate: every weight is drawn from N(0, 1) and multiplied at run time by He's constant
  gain / sqrt(fan_in) (gain sqrt(2), except 1 for toRGB and D's output, and sqrt(2)/4 for G's first dense layer);
- pixel-wise feature normalisation in G after every convolution (and of the latent): x / sqrt(mean_c x^2 + 1e-8);
- the minibatch standard deviation as one more feature map of D's 4x4 block, over groups of `mbstd_group_size`;
- leaky ReLU 0.2, nearest-neighbour upsampling, 2x2 average pooling, linear outputs (no tanh).
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

LEAKY_SLOPE = 0.2
HE_GAIN = float(np.sqrt(2.0))
PIXEL_NORM_EPS = 1e-8
MBSTD_EPS = 1e-8


def pixel_norm(x: jax.Array) -> jax.Array:
  """Each pixel's feature vector scaled to unit root mean square over the channels (the last axis)."""
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + PIXEL_NORM_EPS)


def upsample(x: jax.Array, factor: int = 2) -> jax.Array:
  """Nearest-neighbour upsampling of NHWC images by an integer factor."""
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def downsample(x: jax.Array, factor: int = 2) -> jax.Array:
  """Average pooling of NHWC images over factor x factor blocks (the released code's box filter)."""
  b, h, w, c = x.shape
  return x.reshape(b, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def minibatch_stddev(x: jax.Array, group_size: int = 4) -> jax.Array:
  """Appends one feature map: the standard deviation of each feature over a group of examples, averaged over the
  features and pixels, one value per group (the released code's `minibatch_stddev_layer`).

  Groups are strided as there: with M = B / g, example i belongs to group i mod M (the reshape [g, M, ...]). The
  variance is the biased one (mean over the group), its square root taken with 1e-8 added.

  Args:
    x: NHWC features; the batch must be divisible by min(group_size, B).
    group_size: examples per group (4 in the paper).
  """
  b, h, w, c = x.shape
  g = min(group_size, b)
  y = x.reshape(g, b // g, h, w, c).astype(jnp.float32)
  y = y - jnp.mean(y, axis=0, keepdims=True)
  y = jnp.sqrt(jnp.mean(jnp.square(y), axis=0) + MBSTD_EPS)  # [M, H, W, C]
  y = jnp.mean(y, axis=(1, 2, 3)).astype(x.dtype)  # [M]
  y = jnp.tile(y, g)[:, None, None, None]  # Example i gets its group's value y[i mod M].
  return jnp.concatenate([x, jnp.broadcast_to(y, (b, h, w, 1))], axis=-1)


def lerp(old: jax.Array, new: jax.Array, alpha: jax.Array) -> jax.Array:
  """(1 - alpha) old + alpha new: exactly `old` at alpha 0 and exactly `new` at alpha 1."""
  return (1.0 - alpha) * old + alpha * new


class EqualizedDense(nn.Module):
  """A dense layer whose kernel ~ N(0, 1) is scaled at run time by gain / sqrt(fan_in); zero bias."""
  features: int
  gain: float = HE_GAIN

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', nn.initializers.normal(1.0), (x.shape[-1], self.features))
    scale = self.gain / np.sqrt(x.shape[-1])
    return x @ (kernel * scale) + self.param('bias', nn.initializers.zeros, (self.features,))


class EqualizedConv(nn.Module):
  """A stride-1 'SAME' convolution whose kernel ~ N(0, 1) is scaled at run time by gain / sqrt(k * k * C_in)."""
  features: int
  kernel_size: int = 3
  gain: float = HE_GAIN

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param('kernel', nn.initializers.normal(1.0), (k, k, x.shape[-1], self.features))
    scale = self.gain / np.sqrt(k * k * x.shape[-1])
    y = jax.lax.conv_general_dilated(x, kernel * scale, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    return y + self.param('bias', nn.initializers.zeros, (self.features,))


def resolutions_up_to(resolution: int) -> tuple[int, ...]:
  """4, 8, ..., resolution."""
  return tuple(4 * 2**i for i in range(int(np.log2(resolution // 4)) + 1))


class ProGenerator(nn.Module):
  """z [B, latent] -> images [B, r, r, channels] at the stage's resolution r (see the module docstring).

  Attributes:
    widths: the feature maps of each resolution's block, from 4x4 up (at least as many as the stage's blocks).
    resolution: the stage's resolution r.
    fading: whether block r is fading in (the network then also holds the toRGB of r/2 and reads `alpha`).
    channels: the images' channels.
  """
  widths: Sequence[int]
  resolution: int
  fading: bool = False
  channels: int = 1

  def setup(self):
    res = resolutions_up_to(self.resolution)
    self.first = EqualizedDense(self.widths[0] * 16, gain=HE_GAIN / 4, name='block_4_dense')
    self.convs = {r: [EqualizedConv(self.widths[i], 3, name=f'block_{r}_conv{j}') for j in range(1 if r == 4 else 2)]
                  for i, r in enumerate(res)}
    rgb = (res[-2], res[-1]) if self.fading else (res[-1],)
    self.to_rgb = {r: EqualizedConv(self.channels, 1, gain=1.0, name=f'to_rgb_{r}') for r in rgb}

  def block(self, h: jax.Array, r: int) -> jax.Array:
    if r == 4:
      h = self.first(pixel_norm(h)).reshape(h.shape[0], 4, 4, self.widths[0])
      h = pixel_norm(nn.leaky_relu(h, LEAKY_SLOPE))
    else:
      h = upsample(h)
    for conv in self.convs[r]:
      h = pixel_norm(nn.leaky_relu(conv(h), LEAKY_SLOPE))
    return h

  def __call__(self, z: jax.Array, alpha: jax.Array | float = 1.0) -> jax.Array:
    res = resolutions_up_to(self.resolution)
    h = z
    for r in res[:-1]:
      h = self.block(h, r)
    new = self.to_rgb[res[-1]](self.block(h, res[-1]))
    if not self.fading:
      return new
    return lerp(upsample(self.to_rgb[res[-2]](h)), new, alpha)


class ProDiscriminator(nn.Module):
  """images [B, r, r, channels] at the stage's resolution -> critic values [B] (see the module docstring).

  Attributes:
    widths: the feature maps of each resolution's block, from 4x4 up (the same list as G's in the paper).
    resolution: the stage's resolution r.
    fading: whether block r is fading in (then it also holds the fromRGB of r/2 and reads `alpha`).
    mbstd_group_size: the minibatch standard deviation's group (0: no such feature).
  """
  widths: Sequence[int]
  resolution: int
  fading: bool = False
  mbstd_group_size: int = 4

  def setup(self):
    res = resolutions_up_to(self.resolution)
    width = dict(zip(res, self.widths))
    rgb = (res[-1], res[-2]) if self.fading else (res[-1],)
    self.from_rgb = {r: EqualizedConv(width[r], 1, name=f'from_rgb_{r}') for r in rgb}
    # Block r's first convolution keeps r's width, its second goes to r/2's, then 2x2 average pooling.
    self.convs = {r: [EqualizedConv(width[r], 3, name=f'block_{r}_conv0'),
                      EqualizedConv(width[r // 2], 3, name=f'block_{r}_conv1')] for r in res[1:]}
    self.final_conv = EqualizedConv(width[4], 3, name='block_4_conv')
    self.final_dense = EqualizedDense(width[4], name='block_4_dense')
    self.output = EqualizedDense(1, gain=1.0, name='block_4_output')

  def rgb(self, x: jax.Array, r: int) -> jax.Array:
    return nn.leaky_relu(self.from_rgb[r](x), LEAKY_SLOPE)

  def block(self, h: jax.Array, r: int) -> jax.Array:
    for conv in self.convs[r]:
      h = nn.leaky_relu(conv(h), LEAKY_SLOPE)
    return downsample(h)

  def __call__(self, x: jax.Array, alpha: jax.Array | float = 1.0) -> jax.Array:
    res = resolutions_up_to(self.resolution)
    top = res[-1]
    h = self.rgb(x, top)
    if top > 4:
      h = self.block(h, top)
      if self.fading:
        h = lerp(self.rgb(downsample(x), res[-2]), h, alpha)
    for r in reversed(res[1:-1]):
      h = self.block(h, r)
    if self.mbstd_group_size:
      h = minibatch_stddev(h, self.mbstd_group_size)
    h = nn.leaky_relu(self.final_conv(h), LEAKY_SLOPE)
    h = nn.leaky_relu(self.final_dense(h.reshape(h.shape[0], -1)), LEAKY_SLOPE)
    return self.output(h)[:, 0]
