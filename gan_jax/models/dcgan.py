"""DCGAN (Radford et al. 2016): strided (transposed) convolutions, batch norm, no pooling, no dense hidden layers.

Sizes follow the reference implementation at 64x64: G projects z to 4x4x512 and doubles the resolution with
4x4 stride-2 transposed convolutions (512 -> 256 -> 128 -> 64 -> 3 channels), batch norm and ReLU, tanh at the end;
D mirrors it with 4x4 stride-2 convolutions and LeakyReLU(0.2), batch norm on all but its first layer, and a last
4x4 convolution to one logit. Other resolutions add or remove blocks (16, 32, 128), or start from
another size (28 = 7 x 2^2). Weights are N(0, 0.02);
batch-norm scales N(1, 0.02); no convolution has a bias (batch norm supplies it), as in the reference. The transposed
convolutions are computed by `UpConv2x`, the same function with a faster backward pass on CPU.

`norm` replaces batch norm by layer norm (WGAN-GP's critic), instance norm, virtual batch norm (Salimans et al.
2016: every input carries the reference batch in its first `reference_size` rows) or nothing. D's features (the
last 4x4 map) feed the heads of `heads.py`: conditioning, class and code heads, minibatch discrimination.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.heads import DiscriminatorHeads, HeadOptions, condition_input
from gan_jax.models.layers import UpConv2x, conv_general_dilated
from gan_jax.models.virtual_batch_norm import VirtualBatchNorm

NORMS = ('batch', 'layer', 'instance', 'virtual_batch', 'none')


def start_and_blocks(resolution: int) -> tuple[int, int]:
  """(s, b) with resolution = s * 2^b, 4 <= s < 8 and b >= 1: G starts from an s x s map and doubles it b times.

  Powers of two start at 4x4 (the reference); MNIST's 28 starts at 7x7, as DCGANs for MNIST do.
  """
  if not isinstance(resolution, int) or resolution < 8:
    raise ValueError(f'config.data.resolution: DCGAN needs s * 2^b with s in 4..7 and b >= 1, got {resolution!r}')
  start, blocks = resolution, 0
  while start >= 8 and start % 2 == 0:
    start, blocks = start // 2, blocks + 1
  if start >= 8:
    raise ValueError(f'config.data.resolution: DCGAN needs s * 2^b with s in 4..7 and b >= 1 (8, 12, 14, 16, 28, '
                     f'32, 64, ...), got {resolution}')
  return start, blocks


def _bn_scale_init(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def _norm(kind: str, train: bool, reference_size: int = 0):
  """The normalisation layer `kind`; instance norm is the cheap per-example alternative to virtual batch norm."""
  if kind == 'batch':
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, scale_init=_bn_scale_init)
  if kind == 'layer':
    return nn.LayerNorm()
  if kind == 'instance':
    return nn.InstanceNorm(epsilon=1e-5)
  if kind == 'virtual_batch':
    return VirtualBatchNorm(reference_size=reference_size, epsilon=1e-5)
  return lambda x: x


class DCGANGenerator(nn.Module):
  """z [B, latent] -> images [B, resolution, resolution, channels] in [-1, 1]."""
  resolution: int = 64
  channels: int = 3
  base_channels: int = 64  # Width of the last hidden layer; doubles towards the 4x4 start.
  norm: str = 'batch'
  reference_size: int = 0  # Virtual batch norm: the leading rows of every input are the reference batch.

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    init = nn.initializers.normal(0.02)
    start, blocks = start_and_blocks(self.resolution)
    width = self.base_channels * 2 ** (blocks - 1)
    x = nn.Dense(start * start * width, kernel_init=init, use_bias=False)(z).reshape(z.shape[0], start, start, width)
    x = nn.relu(_norm(self.norm, train, self.reference_size)(x))
    for _ in range(blocks - 1):
      width //= 2
      x = UpConv2x(width, kernel_init=init, use_bias=False)(x)
      x = nn.relu(_norm(self.norm, train, self.reference_size)(x))
    x = UpConv2x(self.channels, kernel_init=init, use_bias=False)(x)
    return jnp.tanh(x)


class DCGANDiscriminator(nn.Module):
  """images [B, resolution, resolution, channels] -> outputs (see `heads`): 'logits' [B] and the features."""
  resolution: int = 64
  base_channels: int = 64
  norm: str = 'batch'
  heads: HeadOptions = HeadOptions()
  reference_size: int = 0  # Virtual batch norm: the leading rows of every input are the reference batch.

  @nn.compact
  def __call__(self, x: jax.Array, y: jax.Array | None = None, train: bool = True) -> dict[str, jax.Array]:
    init = nn.initializers.normal(0.02)
    start, blocks = start_and_blocks(self.resolution)
    width = self.base_channels
    x = condition_input(x, y, self.heads)
    x = nn.Conv(width, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), kernel_init=init, use_bias=False,
                conv_general_dilated=conv_general_dilated)(x)
    x = nn.leaky_relu(x, 0.2)  # No normalisation on the first layer.
    hidden = [x]
    for _ in range(blocks - 1):
      width *= 2
      x = nn.Conv(width, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), kernel_init=init, use_bias=False,
                conv_general_dilated=conv_general_dilated)(x)
      x = nn.leaky_relu(_norm(self.norm, train, self.reference_size)(x), 0.2)
      hidden.append(x)
    logits = None
    if self.heads.plain_logit:  # An s x s 'VALID' convolution of the s x s map: a dense layer on the features.
      logits = nn.Conv(1, (start, start), padding='VALID', kernel_init=init, use_bias=False)(x).reshape(x.shape[0])
    heads = DiscriminatorHeads(self.heads, kernel_init=init, use_bias=False, name='heads')
    return heads(x.reshape(x.shape[0], -1), logits, y, tuple(hidden))
