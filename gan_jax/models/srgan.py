"""The networks of SRGAN (Ledig et al. 2017): the SRResNet generator and the VGG-style discriminator.

SRResNet (the paper's figure 4, top): a 9x9 convolution to 64 channels and PReLU; B residual blocks, each
conv3x3-BN-PReLU-conv3x3-BN plus its input; a conv3x3-BN whose output is added to the first layer's (the long skip);
log2(scale) sub-pixel blocks, each a conv3x3 to 4x the channels, a pixel shuffle that doubles the image's sides
(`pixel_shuffle`, PyTorch's channel order) and PReLU; a last 9x9 convolution to 3 channels. The paper feeds LR
images in [0, 1] and computes its losses on HR images in [-1, 1]; the output here ends in tanh to that range (as
the reference re-implementations do; the paper's figure shows no output activation). PReLU's slopes are per
channel (He et al. 2015's channel-wise form), initialised at 0.25. B = 16 and 64 channels are the paper's sizes:
1,550,659 parameters at x4.

Discriminator (figure 4, bottom): eight 3x3 convolutions of widths 64, 64, 128, 128, 256, 256, 512, 512 with
strides 1, 2, 1, 2, ..., LeakyReLU 0.2 after each, batch norm from the second on; then dense 1024, LeakyReLU 0.2,
dense 1 (the logit; the paper's sigmoid is in the loss). At 96x96 the convolutions end at 6x6x512.

Batch norm: PyTorch's momentum 0.1 (Flax's 0.9) and epsilon 1e-5; in evaluation the running averages.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

PAPER_WIDTHS = (64, 64, 128, 128, 256, 256, 512, 512)  # The discriminator's convolutions.


def pixel_shuffle(x: jax.Array, factor: int) -> jax.Array:
  """Sub-pixel rearrangement [B, H, W, C r^2] -> [B, H r, W r, C] with PyTorch's channel order
  (`torch.nn.PixelShuffle`): input channel c r^2 + i r + j goes to output channel c at pixel (h r + i, w r + j).
  (TensorFlow's depth_to_space orders the input channels (i, j, c) instead.)"""
  batch, height, width, channels = x.shape
  out = channels // (factor * factor)
  if out * factor * factor != channels:
    raise ValueError(f'pixel_shuffle: {channels} channels are not divisible by factor^2 = {factor * factor}')
  x = x.reshape(batch, height, width, out, factor, factor)
  x = x.transpose(0, 1, 4, 2, 5, 3)  # [B, H, i, W, j, C]
  return x.reshape(batch, height * factor, width * factor, out)


def check_scale(scale: int) -> int:
  """The number of x2 sub-pixel blocks for `scale`; a ValueError unless it is a power of 2 >= 2."""
  if not isinstance(scale, int) or isinstance(scale, bool) or scale < 2 or scale & (scale - 1):
    raise ValueError(f'got {scale!r}; the sub-pixel blocks each double the image: use a power of 2 >= 2 '
                     '(2, 4, 8; the paper: 4)')
  return int(math.log2(scale))


class PReLU(nn.Module):
  """max(0, x) + a min(0, x) with one learned slope a per channel, initialised at 0.25 (He et al. 2015)."""
  init: float = 0.25

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    slope = self.param('slope', nn.initializers.constant(self.init), (x.shape[-1],))
    return jnp.where(x >= 0, x, slope * x)


def _batch_norm(train: bool):
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)


class SRResNet(nn.Module):
  """LR image [B, h, w, 3] in [0, 1] -> SR image [B, h scale, w scale, out_channels] in (-1, 1).

  Attributes:
    scale: the upscaling factor, a power of 2 (4 in the paper).
    num_blocks: residual blocks B (16 in the paper).
    channels: the width of every hidden layer (64 in the paper).
    out_channels: the output image's channels.
  """
  scale: int = 4
  num_blocks: int = 16
  channels: int = 64
  out_channels: int = 3

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    upsamplings = check_scale(self.scale)
    x = PReLU()(nn.Conv(self.channels, (9, 9), padding='SAME')(x))
    skip = x
    for _ in range(self.num_blocks):
      y = _batch_norm(train)(nn.Conv(self.channels, (3, 3), padding='SAME')(x))
      y = PReLU()(y)
      y = _batch_norm(train)(nn.Conv(self.channels, (3, 3), padding='SAME')(y))
      x = x + y
    x = skip + _batch_norm(train)(nn.Conv(self.channels, (3, 3), padding='SAME')(x))
    for _ in range(upsamplings):
      x = nn.Conv(4 * self.channels, (3, 3), padding='SAME')(x)
      x = PReLU()(pixel_shuffle(x, 2))
    return jnp.tanh(nn.Conv(self.out_channels, (9, 9), padding='SAME')(x))


class SRDiscriminator(nn.Module):
  """HR image [B, H, W, C] in [-1, 1] -> one logit per image [B, 1].

  Attributes:
    widths: the convolutions' widths; strides alternate 1, 2, 1, 2, ... (the paper's `PAPER_WIDTHS`).
    dense: the hidden dense layer's width (1024 in the paper).
  """
  widths: tuple[int, ...] = PAPER_WIDTHS
  dense: int = 1024

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    for i, width in enumerate(self.widths):
      x = nn.Conv(width, (3, 3), strides=(1 + i % 2,) * 2, padding=((1, 1), (1, 1)))(x)
      if i:
        x = _batch_norm(train)(x)
      x = nn.leaky_relu(x, 0.2)
    x = nn.leaky_relu(nn.Dense(self.dense)(x.reshape(x.shape[0], -1)), 0.2)
    return nn.Dense(1)(x)


def discriminator_widths(base: int, layers: int = 8) -> tuple[int, ...]:
  """The paper's width pattern from `base` (64 gives `PAPER_WIDTHS`): pairs of layers, doubling after each pair."""
  return tuple(base * 2**(i // 2) for i in range(layers))
