"""The networks of pix2pix (Isola et al. 2017): the U-Net generator and the PatchGAN discriminator; and CycleGAN's
(Zhu et al. 2017) ResNet generator, which CycleGAN pairs with the same 70x70 PatchGAN.

U-Net (the paper's appendix 6.1.1): an encoder of 4x4 stride-2 convolutions C64-C128-C256-C512-C512-... (LeakyReLU
0.2, normalisation on all but the first), a decoder of 4x4 stride-2 up-convolutions that mirrors it (ReLU), each
decoder layer fed the mirrored encoder layer's output concatenated to its input (the skip connections), dropout of
0.5 on the first three decoder layers, and a last up-convolution to the output channels with tanh. The dropout is
the generator's only noise: the paper applies it at training and test time alike, so it takes an explicit
`dropout_key` and is on whenever a key is given.

PatchGAN (appendix 6.1.2): `num_layers` 4x4 stride-2 convolutions C64-C128-... (the first without normalisation),
one 4x4 stride-1 convolution, then a 4x4 stride-1 convolution to one logit per patch. num_layers = 3 is the paper's
70x70 PatchGAN, 1 its 16x16 one, 5 the 286x286 'ImageGAN' (the whole image at 256x256); `pixel=True` is its 1x1
PixelGAN (1x1 convolutions C64-C128, then one logit). `receptive_field` gives a setting's patch size, and the tests
measure it from the gradients. A conditional D sees the input image and the (real or generated) output concatenated
on the channel axis: the caller concatenates.

ResNet generator (CycleGAN's appendix 7.2, after Johnson et al. 2016): c7s1-64, d128, d256, R256 x n_blocks, u128,
u64, c7s1-3: 7x7 convolutions with reflection padding at both ends, two 3x3 stride-2 convolutions down and two
stride-2 up-convolutions back, residual blocks of two reflection-padded 3x3 convolutions between; instance norm and
ReLU after every layer but the last, which ends in tanh. The paper uses 6 blocks at 128x128 and 9 at 256x256. As the
authors' code (pytorch-CycleGAN-and-pix2pix) has it, each up-convolution keeps the last 2H of its 3x3 stride-2
transposed convolution's 2H + 1 outputs per side (`ConvTranspose2d(padding=1, output_padding=1)`), and the instance
norm has no scale and bias ('instance_no_affine', the default here).

Normalisation: pix2pix's paper uses batch norm with a batch of 1 and the test batch's own statistics, i.e. instance
norm with a per-channel scale and bias ('instance', pix2pix's default; every example is normalised alone, in training
and evaluation); 'instance_no_affine' is instance norm without them (the CycleGAN authors' `InstanceNorm2d`, whose
`affine` is False); 'batch' is batch norm over the batch; 'none' leaves it out.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax import platform
from gan_jax.models.layers import UpConv2x, conv_general_dilated

NORMS = ('instance', 'instance_no_affine', 'batch', 'none')
DROPOUT_LAYERS = 3  # Decoder layers with dropout, counted from the bottleneck (the paper's CD512 x 3).
_INIT = nn.initializers.normal(0.02)  # The paper's N(0, 0.02) weights.


def _norm(kind: str, train: bool):
  if kind == 'instance':
    return nn.InstanceNorm(epsilon=1e-5)
  if kind == 'instance_no_affine':
    return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False)
  if kind == 'batch':
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)
  if kind == 'none':
    return lambda x: x
  raise ValueError(f'norm: got {kind!r}; accepted: {", ".join(NORMS)}')


def unet_widths(depth: int, base: int = 64, cap: int = 512) -> tuple[int, ...]:
  """The encoder's widths, base doubling up to `cap`: depth 8 at base 64 is the paper's 256x256 U-Net,
  C64-C128-C256-C512-C512-C512-C512-C512."""
  return tuple(min(base * 2**i, cap) for i in range(depth))


class UNetGenerator(nn.Module):
  """image [B, H, W, C_in] in [-1, 1] -> image [B, H, W, out_channels] in (-1, 1); H and W divisible by 2^depth.

  Attributes:
    out_channels: the output image's channels.
    depth: the stride-2 convolutions of the encoder (8 takes 256x256 down to 1x1).
    base_channels: the first layer's width; the widths double up to 8x it.
    norm: one of `NORMS`.
    dropout_rate: the dropout of the first `DROPOUT_LAYERS` decoder layers (0.5 in the paper).
  """
  out_channels: int = 3
  depth: int = 8
  base_channels: int = 64
  norm: str = 'instance'
  dropout_rate: float = 0.5

  @nn.compact
  def __call__(self, x: jax.Array, dropout_key: jax.Array | None = None, train: bool = True) -> jax.Array:
    """`dropout_key`: the dropout's randomness; None turns dropout off (a deterministic generator)."""
    widths = unet_widths(self.depth, self.base_channels, 8 * self.base_channels)
    skips = []
    for i, width in enumerate(widths):
      x = nn.Conv(width, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), kernel_init=_INIT,
                  conv_general_dilated=conv_general_dilated)(x)
      # The innermost layer is 1x1 at the paper's sizes: the paper leaves it unnormalised (instance norm of one
      # pixel would zero it).
      x = x if i in (0, len(widths) - 1) else _norm(self.norm, train)(x)
      skips.append(x)
      x = nn.leaky_relu(x, 0.2)
    keys = (jax.random.split(dropout_key, DROPOUT_LAYERS) if dropout_key is not None else [None] * DROPOUT_LAYERS)
    for i, width in enumerate(widths[-2::-1]):  # Decoder layer i mirrors encoder layer depth - 2 - i.
      x = nn.relu(x) if i == 0 else nn.relu(jnp.concatenate([x, skips[len(widths) - 1 - i]], axis=-1))
      x = UpConv2x(width, kernel_init=_INIT, name=f'ConvTranspose_{i}')(x)
      x = _norm(self.norm, train)(x)
      if i < DROPOUT_LAYERS and keys[i] is not None and self.dropout_rate > 0:
        x = nn.Dropout(self.dropout_rate)(x, deterministic=False, rng=keys[i])
    x = nn.relu(jnp.concatenate([x, skips[0]], axis=-1)) if len(widths) > 1 else nn.relu(x)
    x = UpConv2x(self.out_channels, kernel_init=_INIT, name=f'ConvTranspose_{len(widths) - 1}')(x)
    return jnp.tanh(x)


def _reflect(x: jax.Array, pad: int) -> jax.Array:
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode='reflect')


def _reflect_conv(x: jax.Array, pad: int, features: int, kernel: int) -> jax.Array:
  """`nn.Conv(features, (kernel, kernel), padding='VALID')` of x reflection-padded by `pad` (call it inside a
  compact module: the convolution is named as nn.Conv in line would be). With `platform.pad_reflected_convolutions`
  (CPU) the convolution pads one more zero pixel and the outputs that read it are cropped: the same values, computed
  faster by XLA's CPU backend."""
  extra = 1 if platform.pad_reflected_convolutions() else 0
  y = nn.Conv(features, (kernel, kernel), padding=((extra, extra), (extra, extra)), kernel_init=_INIT)(
      _reflect(x, pad))
  return y[:, extra:y.shape[1] - extra, extra:y.shape[2] - extra]


class ResNetGenerator(nn.Module):
  """image [B, H, W, C_in] in [-1, 1] -> image [B, H, W, out_channels] in (-1, 1); H and W divisible by 4.

  Attributes:
    out_channels: the output image's channels.
    n_blocks: the residual blocks at 1/4 of the resolution (the paper: 6 at 128x128, 9 at 256x256).
    base_channels: the first layer's width (64 in the paper); the down-sampled layers have 2x and 4x it.
    norm: one of `NORMS` (the authors': instance norm without scale and bias).
  """
  out_channels: int = 3
  n_blocks: int = 6
  base_channels: int = 64
  norm: str = 'instance_no_affine'

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    width = self.base_channels

    def norm_relu(x):
      return nn.relu(_norm(self.norm, train)(x))

    x = norm_relu(_reflect_conv(x, 3, width, 7))  # c7s1-64.
    for k in (2, 4):  # d128, d256.
      x = norm_relu(nn.Conv(k * width, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), kernel_init=_INIT,
                            conv_general_dilated=conv_general_dilated)(x))
    for _ in range(self.n_blocks):  # R256.
      y = norm_relu(_reflect_conv(x, 1, 4 * width, 3))
      x = x + _norm(self.norm, train)(_reflect_conv(y, 1, 4 * width, 3))
    # u128, u64: the authors' ConvTranspose2d(3, stride 2, padding 1, output_padding 1), the last 2H of the full
    # 2H + 1 outputs (Flax's 'SAME' keeps the first 2H: a one-pixel shift of the grid). The parameters keep
    # nn.ConvTranspose's names.
    for i, k in enumerate((2, 1)):
      x = UpConv2x(k * width, kernel_size=3, keep_last=True, kernel_init=_INIT, name=f'ConvTranspose_{i}')(x)
      x = nn.relu(_norm(self.norm, train)(x))
    x = _reflect_conv(x, 3, self.out_channels, 7)  # c7s1-3.
    return jnp.tanh(x)


def receptive_field(num_layers: int, pixel: bool = False) -> int:
  """The side of the input patch that one output logit of `PatchDiscriminator(num_layers, pixel)` sees:
  1 (PixelGAN), 16 (num_layers 1), 70 (3), 286 (5)."""
  if pixel:
    return 1
  layers = [(4, 2)] * num_layers + [(4, 1), (4, 1)]  # (kernel, stride), input to output.
  size = 1
  for kernel, stride in reversed(layers):
    size = (size - 1) * stride + kernel
  return size


class PatchDiscriminator(nn.Module):
  """images [B, H, W, C] -> one logit per patch [B, H', W', 1] (the loss averages them).

  Attributes:
    num_layers: the stride-2 convolutions (3: the 70x70 PatchGAN; 1: 16x16; 5: 286x286).
    pixel: the 1x1 PixelGAN instead (num_layers ignored).
    base_channels: the first layer's width; it doubles per layer up to 8x.
    norm: one of `NORMS`.
  """
  num_layers: int = 3
  pixel: bool = False
  base_channels: int = 64
  norm: str = 'instance'

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    if self.pixel:
      x = nn.leaky_relu(nn.Conv(self.base_channels, (1, 1), kernel_init=_INIT)(x), 0.2)
      x = nn.Conv(2 * self.base_channels, (1, 1), kernel_init=_INIT)(x)
      x = nn.leaky_relu(_norm(self.norm, train)(x), 0.2)
      return nn.Conv(1, (1, 1), kernel_init=_INIT)(x)
    widths = [min(self.base_channels * 2**i, 8 * self.base_channels) for i in range(self.num_layers + 1)]
    for i, width in enumerate(widths):
      stride = 2 if i < self.num_layers else 1  # The last of these keeps the size (the paper's stride-1 C512).
      x = nn.Conv(width, (4, 4), strides=(stride, stride), padding=((1, 1), (1, 1)), kernel_init=_INIT,
                  conv_general_dilated=conv_general_dilated)(x)
      x = nn.leaky_relu(x if i == 0 else _norm(self.norm, train)(x), 0.2)
    return nn.Conv(1, (4, 4), padding=((1, 1), (1, 1)), kernel_init=_INIT)(x)


def conditional_input(source: jax.Array, target: jax.Array) -> jax.Array:
  """What a conditional PatchGAN judges: the input image and an output image, concatenated on the channels."""
  return jnp.concatenate([source, target], axis=-1)


def check_divisible(size: Sequence[int], depth: int, field: str) -> None:
  """Raises a ValueError naming `field` unless every side of `size` is divisible by 2^depth (the U-Net halves it
  `depth` times and mirrors it back)."""
  bad = [s for s in size if s % 2**depth]
  if bad:
    raise ValueError(f'{field}: a U-Net of depth {depth} needs image sides divisible by 2^{depth} = {2**depth}; got '
                     f'{tuple(size)}')
