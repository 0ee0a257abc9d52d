"""DCGAN (Radford et al. 2016): strided (transposed) convolutions, batch norm, no pooling, no dense hidden layers.

Sizes follow the reference implementation at 64x64: G projects z to 4x4x512 and doubles the resolution with
4x4 stride-2 transposed convolutions (512 -> 256 -> 128 -> 64 -> 3 channels), batch norm and ReLU, tanh at the end;
D mirrors it with 4x4 stride-2 convolutions and LeakyReLU(0.2), batch norm on all but its first layer, and a last
4x4 convolution to one logit. Other resolutions (16, 32, 64, 128) add or remove blocks. Weights are N(0, 0.02);
batch-norm scales N(1, 0.02); no convolution has a bias (batch norm supplies it), as in the reference. The transposed
convolutions are computed by `UpConv2x`, the same function with a faster backward pass on CPU.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.layers import UpConv2x

NORMS = ('batch', 'layer', 'none')


def _num_blocks(resolution: int) -> int:
  """Stride-2 blocks between 4x4 and `resolution`."""
  blocks = int(math.log2(resolution // 4)) if resolution >= 8 else 0
  if resolution < 8 or 4 * 2**blocks != resolution:
    raise ValueError(f'config.data.resolution: DCGAN needs a power of two >= 8, got {resolution}')
  return blocks


def _bn_scale_init(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def _norm(kind: str, train: bool, axis_name: str | None):
  if kind == 'batch':
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, scale_init=_bn_scale_init,
                        axis_name=axis_name)
  if kind == 'layer':
    return nn.LayerNorm()
  return lambda x: x


class DCGANGenerator(nn.Module):
  """z [B, latent] -> images [B, resolution, resolution, channels] in [-1, 1]."""
  resolution: int = 64
  channels: int = 3
  base_channels: int = 64  # Width of the last hidden layer; doubles towards the 4x4 start.
  norm: str = 'batch'
  axis_name: str | None = None  # Set under pmap so batch statistics cover the global batch.

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    init = nn.initializers.normal(0.02)
    blocks = _num_blocks(self.resolution)
    width = self.base_channels * 2 ** (blocks - 1)
    x = nn.Dense(4 * 4 * width, kernel_init=init, use_bias=False)(z).reshape(z.shape[0], 4, 4, width)
    x = nn.relu(_norm(self.norm, train, self.axis_name)(x))
    for _ in range(blocks - 1):
      width //= 2
      x = UpConv2x(width, kernel_init=init, use_bias=False)(x)
      x = nn.relu(_norm(self.norm, train, self.axis_name)(x))
    x = UpConv2x(self.channels, kernel_init=init, use_bias=False)(x)
    return jnp.tanh(x)


class DCGANDiscriminator(nn.Module):
  """images [B, resolution, resolution, channels] -> one logit per image."""
  resolution: int = 64
  base_channels: int = 64
  norm: str = 'batch'
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    init = nn.initializers.normal(0.02)
    blocks = _num_blocks(self.resolution)
    width = self.base_channels
    x = nn.Conv(width, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), kernel_init=init, use_bias=False)(x)
    x = nn.leaky_relu(x, 0.2)  # No normalisation on the first layer.
    for _ in range(blocks - 1):
      width *= 2
      x = nn.Conv(width, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), kernel_init=init, use_bias=False)(x)
      x = nn.leaky_relu(_norm(self.norm, train, self.axis_name)(x), 0.2)
    x = nn.Conv(1, (4, 4), padding='VALID', kernel_init=init, use_bias=False)(x)
    return x.reshape(x.shape[0])
