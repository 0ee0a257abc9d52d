"""Small convolutional GANs at any resolution, one width per layer: the Stacked MNIST networks of the unrolled GAN
paper as PacGAN re-implemented them (Metz et al. 2017, sec. 3.3; Lin et al. 2018, App. D).

G: z -> dense to s x s x widths[0], batch norm, ReLU -> one stride-2 transposed convolution per further width, each
with batch norm and ReLU -> a stride-1 convolution to the image's channels -> tanh. The sizes are TensorFlow's
'SAME' sizes read backwards from the resolution (28 -> 14 -> 7 -> 4), so s = ceil(R / 2^(len(widths) - 1)): each
transposed convolution doubles the map and keeps the leading rows and columns it needs (8 -> 7).

D: one stride-2 'SAME' convolution per width (28 -> 14 -> 7 -> 4), each with LeakyReLU and, after the first, batch
norm, then the heads (a linear logit on the flattened map; see `heads.py`). Batch norm on D's first layer, which
sees real and generated batches apart, would normalise away what tells them apart first (a grey background: G
trained against such a D kept one); DCGAN leaves it out for this reason. At D = 1/4 of G (widths 2, 4, 8 against G's
64 -> 32 -> 16 -> 8) collapse is likely, which is what the paper's hardest setting is for.
"""

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.dcgan import _norm
from gan_jax.models.heads import DiscriminatorHeads, HeadOptions, condition_input
from gan_jax.models.layers import UpConv2x, conv_general_dilated


def map_sizes(resolution: int, upsamplings: int) -> list[int]:
  """The sides of G's maps, from the first to the image: 'SAME' stride-2 sizes read backwards (28, 3 -> 4, 7, 14,
  28)."""
  sizes = [resolution]
  for _ in range(upsamplings):
    sizes.insert(0, math.ceil(sizes[0] / 2))
  return sizes


class ConvGenerator(nn.Module):
  """z [B, latent] -> images [B, resolution, resolution, channels] in [-1, 1]."""
  resolution: int = 28
  channels: int = 3
  widths: Sequence[int] = (64, 32, 16, 8)  # The dense layer's map, then each transposed convolution's output.
  kernel_size: int = 3  # 3 or 4 (`UpConv2x`).
  norm: str = 'batch'
  reference_size: int = 0

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    init = nn.initializers.normal(0.02)  # DCGAN's; no bias where batch norm follows.
    bias = self.norm == 'none'
    sizes = map_sizes(self.resolution, len(self.widths) - 1)
    k = (self.kernel_size, self.kernel_size)
    x = nn.Dense(sizes[0] * sizes[0] * self.widths[0], kernel_init=init, use_bias=bias)(z)
    x = x.reshape(z.shape[0], sizes[0], sizes[0], self.widths[0])
    x = nn.relu(_norm(self.norm, train, self.reference_size)(x))
    for width, size in zip(self.widths[1:], sizes[1:]):
      x = UpConv2x(width, kernel_size=self.kernel_size, kernel_init=init, use_bias=bias)(x)
      x = x[:, :size, :size]  # 'SAME' doubles (4 -> 8); TensorFlow's output_shape would ask for 7.
      x = nn.relu(_norm(self.norm, train, self.reference_size)(x))
    return jnp.tanh(nn.Conv(self.channels, k, padding='SAME', kernel_init=init)(x))


class ConvDiscriminator(nn.Module):
  """images [B, R, R, C] -> outputs (see `heads`): 'logits' [B] and the features (the last map, flattened)."""
  widths: Sequence[int] = (2, 4, 8)
  kernel_size: int = 3
  leaky_slope: float = 0.3
  norm: str = 'batch'
  heads: HeadOptions = HeadOptions()
  reference_size: int = 0

  @nn.compact
  def __call__(self, x: jax.Array, y: jax.Array | None = None, train: bool = True) -> dict[str, jax.Array]:
    init = nn.initializers.normal(0.02)
    x = condition_input(x, y, self.heads)
    hidden = []
    for i, width in enumerate(self.widths):
      normalised = i > 0 and self.norm != 'none'
      x = nn.Conv(width, (self.kernel_size, self.kernel_size), strides=(2, 2), padding='SAME', kernel_init=init,
                  use_bias=not normalised, conv_general_dilated=conv_general_dilated)(x)
      if normalised:  # Not the first layer (DCGAN's rule): a batch's mean brightness would be normalised away.
        x = _norm(self.norm, train, self.reference_size)(x)
      x = nn.leaky_relu(x, self.leaky_slope)
      hidden.append(x)
    heads = DiscriminatorHeads(self.heads, kernel_init=init, use_bias=True, name='heads')
    return heads(x.reshape(x.shape[0], -1), None, y, tuple(hidden))  # The heads add the linear logit.
