"""LAPGAN (Denton et al. 2015): a Laplacian pyramid of images and the networks of one pyramid level.

The pyramid. `downsample` is 2x2 average pooling (the paper blurs with a 5-tap Gaussian and decimates; pooling halves
28 -> 14 -> 7 and 64 -> 32 -> 16 -> 8 exactly, with no border rule) and `upsample` doubles an image by 'bilinear'
interpolation (each output pixel 3/4 of its nearest input pixel and 1/4 of the next one, the edge pixel repeated at
the border: `jax.image.resize`'s half-pixel bilinear) or 'nearest' (each pixel copied into a 2x2 block). With
I_0 the image and I_{k+1} = down(I_k), the band-pass residuals are h_k = I_k - up(I_{k+1}) for k < K, and I_K (the
coarsest image) closes the pyramid; `reconstruct` inverts it exactly: I_k = up(I_{k+1}) + h_k.

The networks. Level k < K has a conditional generator G_k(z_k, l_k) that draws a residual for the upsampled coarser
image l_k = up(I_{k+1}): l_k and a noise plane z_k (one U(-1, 1) channel, the paper's CIFAR-10 models) are
concatenated on the channels and pass through a few stride-1 convolutions (ReLU, batch norm) to a linear output of
the image's channels, the residual (not squashed: residuals lie in [-2, 2]). Its discriminator is
`conv.ConvDiscriminator` on h_k + l_k (the paper adds l_k before D's first layer) or on (h_k + l_k, l_k) stacked on
the channels. The coarsest level is an unconditional GAN on I_K (`conv.ConvGenerator`, `conv.ConvDiscriminator`).

Sampling runs coarse to fine (`sample_pyramid`): I_K = G_K(z_K), then I_k = up(I_{k+1}) + G_k(z_k, up(I_{k+1})); the
finest I_0 is the pyramid's sample.
"""

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.dcgan import _norm

UPSAMPLING = ('bilinear', 'nearest')
DISC_INPUTS = ('sum', 'concat')  # What a level's D sees: h_k + l_k, or (h_k + l_k, l_k) on the channels.
NORMS = ('batch', 'none')
MIN_SIZE = 4  # The smallest level side: the coarsest GAN's convolutions need a few pixels.


def downsample(x: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [B, H/2, W/2, C]: the mean of each 2x2 block (H and W even)."""
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def upsample(x: jax.Array, method: str = 'bilinear') -> jax.Array:
  """[B, H, W, C] -> [B, 2H, 2W, C] by `method` ('bilinear' or 'nearest', see the module docstring)."""
  if method == 'nearest':
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
  b, h, w, c = x.shape
  return jax.image.resize(x, (b, 2 * h, 2 * w, c), 'bilinear', antialias=False)


def gaussian_pyramid(x: jax.Array, levels: int) -> list[jax.Array]:
  """[I_0 = x, I_1, ..., I_{levels-1}], each the previous one downsampled."""
  images = [x]
  for _ in range(levels - 1):
    images.append(downsample(images[-1]))
  return images


def laplacian_pyramid(x: jax.Array, levels: int, method: str = 'bilinear') -> list[jax.Array]:
  """[h_0, ..., h_{levels-2}, I_{levels-1}]: the band-pass residuals h_k = I_k - up(I_{k+1}), finest first, and the
  coarsest image last."""
  images = gaussian_pyramid(x, levels)
  residuals = [fine - upsample(coarse, method) for fine, coarse in zip(images[:-1], images[1:])]
  return residuals + [images[-1]]


def reconstruct(pyramid: Sequence[jax.Array], method: str = 'bilinear') -> jax.Array:
  """The image of a Laplacian pyramid [h_0, ..., h_{K-1}, I_K]: I_k = up(I_{k+1}) + h_k from the coarsest up."""
  image = pyramid[-1]
  for residual in reversed(pyramid[:-1]):
    image = upsample(image, method) + residual
  return image


def sample_pyramid(generate_coarse: Callable[[], jax.Array],
                   generate_residuals: Sequence[Callable[[jax.Array], jax.Array]],
                   method: str = 'bilinear') -> list[jax.Array]:
  """LAPGAN's sampling, coarse to fine.

  Args:
    generate_coarse: () -> I_K, the coarsest level's samples.
    generate_residuals: one function per finer level, coarsest first (G_{K-1}, ..., G_0): l -> the residual for
      the upsampled coarser image l (each draws its own noise).
    method: the upsampling.

  Returns:
    [I_K, I_{K-1}, ..., I_0]: each level's images; the last is the sample.
  """
  images = [generate_coarse()]
  for generate_residual in generate_residuals:
    low = upsample(images[-1], method)
    images.append(low + generate_residual(low))
  return images


def level_input(residual: jax.Array, low: jax.Array, disc_input: str) -> jax.Array:
  """What level k's D judges: the image h_k + l_k ('sum', the paper's), or it with l_k on the channels ('concat')."""
  image = residual + low
  return image if disc_input == 'sum' else jnp.concatenate([image, low], axis=-1)


class ResidualGenerator(nn.Module):
  """(noise plane [B, H, W, 1], low-pass image l [B, H, W, C]) -> a residual [B, H, W, C] (linear output)."""
  channels: int = 1
  width: int = 64  # Each hidden convolution's channels.
  layers: int = 3  # Hidden stride-1 convolutions.
  kernel_size: int = 3
  norm: str = 'batch'

  @nn.compact
  def __call__(self, noise: jax.Array, low: jax.Array, train: bool = True) -> jax.Array:
    init = nn.initializers.normal(0.02)
    k = (self.kernel_size, self.kernel_size)
    x = jnp.concatenate([low, noise], axis=-1)
    for _ in range(self.layers):
      normalised = self.norm != 'none'
      x = nn.Conv(self.width, k, padding='SAME', kernel_init=init, use_bias=not normalised)(x)
      x = nn.relu(_norm(self.norm, train)(x))
    return nn.Conv(self.channels, k, padding='SAME', kernel_init=init)(x)
