"""StackGAN's networks (Zhang et al. 2017): conditioning augmentation, the stage-I and stage-II generators and
discriminators, sized for a CPU.

The paper's stage I draws 64x64 images and stage II 256x256; here stage I draws `size` (32) and stage II twice that
(64), with narrower layers. The layer types are the paper's (its section 4 and the released code):

- Conditioning augmentation (`ConditioningAugmentation`): the text embedding -> a dense layer -> mu and log sigma of
  a diagonal Gaussian; c = mu + sigma * eps with eps ~ N(0, I) given as an input (the reparameterisation, so that
  the gradient reaches mu and sigma), and KL(N(mu, sigma^2) || N(0, I)) as a G objective term (the registered 'kl',
  `losses.kl_to_standard_normal`, averaged over the batch and the dimensions as the released code does; the
  paper's lambda = 1). With `augment=False` (the ablation) c is the embedding's linear projection, without noise
  and without a KL.
- Stage-I G: (c, z) -> dense to 4x4 -> upsampling blocks (nearest-neighbour x2, 3x3 convolution, batch norm, ReLU)
  up to `size` -> a 3x3 convolution to RGB -> tanh.
- Stage-I and stage-II D (`Discriminator`): down-sampling blocks (4x4 stride-2 convolutions, batch norm except on the
  first, LeakyReLU 0.2) down to 4x4; the text embedding compressed by a dense layer (LeakyReLU) and replicated over
  the 4x4 grid, concatenated on the channels; a 1x1 convolution (batch norm, LeakyReLU) and a 4x4 convolution to
  the logit.
- Stage-II G: the stage-I image -> a 3x3 convolution (ReLU) and a 4x4 stride-2 down-sampling block (batch norm,
  ReLU); its own conditioning augmentation on the same embedding, c replicated over that grid and concatenated; a
  3x3 convolution (batch norm, ReLU), residual blocks (3x3 conv, BN, ReLU, 3x3 conv, BN, + input, ReLU), then
  upsampling blocks to twice the stage-I side, RGB, tanh. No z: the stage-I image carries the randomness (as the
  paper).

The generators return (image, mu, log sigma): the conditioning augmentation is part of its generator, trained by its
objective (the KL term) with it.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.layers import conv_general_dilated

INIT = nn.initializers.normal(0.02)  # DCGAN's, as the released code.
LEAK = 0.2


def _batch_norm(train: bool) -> nn.BatchNorm:
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)


class ConditioningAugmentation(nn.Module):
  """Embedding [B, F] and noise eps [B, N] -> (c [B, N], mu [B, N], log sigma [B, N]).

  Attributes:
    dim: N, the conditioning vector's size (the paper's N_g = 128).
    augment: False: c = mu, the embedding's projection, with log sigma 0 (no noise; the KL is not used).
  """
  dim: int
  augment: bool = True

  @nn.compact
  def __call__(self, embedding: jax.Array, eps: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    if not self.augment:
      mu = nn.Dense(self.dim, kernel_init=INIT)(embedding)
      return mu, mu, jnp.zeros_like(mu)
    stats = nn.Dense(2 * self.dim, kernel_init=INIT)(embedding)
    mu, log_sigma = stats[:, :self.dim], stats[:, self.dim:]
    return mu + jnp.exp(log_sigma) * eps, mu, log_sigma


def upsample_block(x: jax.Array, width: int, train: bool) -> jax.Array:
  """Nearest-neighbour x2, 3x3 convolution, batch norm, ReLU."""
  b, h, w, c = x.shape
  x = jax.image.resize(x, (b, 2 * h, 2 * w, c), 'nearest')
  x = nn.Conv(width, (3, 3), padding='SAME', kernel_init=INIT, use_bias=False)(x)
  return nn.relu(_batch_norm(train)(x))


def down_block(x: jax.Array, width: int, train: bool, norm: bool = True, activation=None) -> jax.Array:
  """4x4 stride-2 convolution (halving the side), batch norm when `norm`, LeakyReLU 0.2 (or `activation`)."""
  x = nn.Conv(width, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), kernel_init=INIT, use_bias=not norm,
              conv_general_dilated=conv_general_dilated)(x)
  if norm:
    x = _batch_norm(train)(x)
  return activation(x) if activation else nn.leaky_relu(x, LEAK)


class StageOneGenerator(nn.Module):
  """(embedding [B, F], z [B, Z], eps [B, N]) -> (images [B, size, size, channels] in [-1, 1], mu, log sigma).

  Attributes:
    size: the image side, a power of 2 >= 8 (4x4, doubled by each width after the first).
    widths: the 4x4 map's channels, then each upsampling block's.
    condition_dim: the conditioning augmentation's N.
    augment: the conditioning augmentation's noise (False: the ablation).
    channels: the image's.
  """
  size: int = 32
  widths: Sequence[int] = (128, 64, 32, 16)
  condition_dim: int = 16
  augment: bool = True
  channels: int = 3

  @nn.compact
  def __call__(self, embedding: jax.Array, z: jax.Array, eps: jax.Array,
               train: bool = True) -> tuple[jax.Array, jax.Array, jax.Array]:
    c, mu, log_sigma = ConditioningAugmentation(self.condition_dim, self.augment)(embedding, eps)
    x = nn.Dense(4 * 4 * self.widths[0], kernel_init=INIT, use_bias=False)(jnp.concatenate([c, z], axis=-1))
    x = nn.relu(_batch_norm(train)(x.reshape(-1, 4, 4, self.widths[0])))
    for width in self.widths[1:]:
      x = upsample_block(x, width, train)
    if x.shape[1] != self.size:
      raise ValueError(f'StageOneGenerator: {len(self.widths) - 1} upsampling blocks from 4x4 give {x.shape[1]}, '
                       f'not size {self.size}; give log2(size / 4) + 1 widths')
    image = jnp.tanh(nn.Conv(self.channels, (3, 3), padding='SAME', kernel_init=INIT)(x))
    return image, mu, log_sigma


class ResidualBlock(nn.Module):
  """x + (3x3 conv, BN, ReLU, 3x3 conv, BN)(x), then ReLU (the paper's stage-II residual blocks)."""

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    width = x.shape[-1]
    y = nn.Conv(width, (3, 3), padding='SAME', kernel_init=INIT, use_bias=False)(x)
    y = nn.relu(_batch_norm(train)(y))
    y = nn.Conv(width, (3, 3), padding='SAME', kernel_init=INIT, use_bias=False)(y)
    return nn.relu(x + _batch_norm(train)(y))


class StageTwoGenerator(nn.Module):
  """(embedding [B, F], stage-I images [B, S, S, C], eps [B, N]) -> (images [B, 2S, 2S, C], mu, log sigma).

  Attributes:
    down_widths: the encoder's 3x3 convolution's channels, then each down-sampling block's (the last is the joint
      map's width; the paper: 128, 256, 512 from 64 to 16).
    residual_blocks: on the joint map (the paper: 4).
    up_widths: the upsampling blocks' channels, from the joint map's side to 2S (one more than the down-sampling
      blocks).
    condition_dim: its conditioning augmentation's N.
    augment: False: the ablation.
    channels: the image's.
  """
  down_widths: Sequence[int] = (16, 32)
  residual_blocks: int = 2
  up_widths: Sequence[int] = (32, 16)
  condition_dim: int = 16
  augment: bool = True
  channels: int = 3

  @nn.compact
  def __call__(self, embedding: jax.Array, low: jax.Array, eps: jax.Array,
               train: bool = True) -> tuple[jax.Array, jax.Array, jax.Array]:
    c, mu, log_sigma = ConditioningAugmentation(self.condition_dim, self.augment)(embedding, eps)
    x = nn.relu(nn.Conv(self.down_widths[0], (3, 3), padding='SAME', kernel_init=INIT)(low))
    for width in self.down_widths[1:]:
      x = down_block(x, width, train, activation=nn.relu)
    grid = jnp.broadcast_to(c[:, None, None, :], (*x.shape[:3], c.shape[-1]))
    x = nn.Conv(self.down_widths[-1], (3, 3), padding='SAME', kernel_init=INIT, use_bias=False)(
        jnp.concatenate([x, grid], axis=-1))
    x = nn.relu(_batch_norm(train)(x))
    for _ in range(self.residual_blocks):
      x = ResidualBlock()(x, train)
    for width in self.up_widths:
      x = upsample_block(x, width, train)
    if x.shape[1] != 2 * low.shape[1]:
      raise ValueError(f'StageTwoGenerator: its blocks take {low.shape[1]} to {x.shape[1]}, not '
                       f'{2 * low.shape[1]}; give one more up_width than down-sampling blocks')
    image = jnp.tanh(nn.Conv(self.channels, (3, 3), padding='SAME', kernel_init=INIT)(x))
    return image, mu, log_sigma


class Discriminator(nn.Module):
  """(images [B, S, S, C], embedding [B, F]) -> {'logits': [B]} (stage I's or stage II's D: S / 2^len(widths) = 4).

  With `mismatched` embeddings [B, F] as well, the images are encoded once and judged with both texts:
  {'logits', 'mismatched_logits'} (the matching-aware D's real and wrong pairs, as the released code computes them).

  Attributes:
    widths: the down-sampling blocks' channels (no batch norm on the first).
    text_dim: the compressed embedding's size (the paper's N_d = 128).
  """
  widths: Sequence[int] = (16, 32, 64)
  text_dim: int = 32

  @nn.compact
  def __call__(self, x: jax.Array, embedding: jax.Array, mismatched: jax.Array | None = None,
               train: bool = True) -> dict[str, jax.Array]:
    for i, width in enumerate(self.widths):
      x = down_block(x, width, train, norm=i > 0)
    if x.shape[1] != 4:
      raise ValueError(f'Discriminator: {len(self.widths)} down-sampling blocks leave a {x.shape[1]}x{x.shape[2]} '
                       'map; give log2(side / 4) widths')
    compress = nn.Dense(self.text_dim, kernel_init=INIT)
    joint = nn.Conv(self.widths[-1], (1, 1), kernel_init=INIT, use_bias=False)
    norm = _batch_norm(train)
    logit = nn.Conv(1, (4, 4), padding='VALID', kernel_init=INIT)

    def judge(text_embedding):
      text = nn.leaky_relu(compress(text_embedding), LEAK)
      y = jnp.concatenate([x, jnp.broadcast_to(text[:, None, None, :], (*x.shape[:3], self.text_dim))], axis=-1)
      return logit(nn.leaky_relu(norm(joint(y)), LEAK)).reshape(-1)

    outputs = {'logits': judge(embedding)}
    if mismatched is not None:
      outputs['mismatched_logits'] = judge(mismatched)
    return outputs
