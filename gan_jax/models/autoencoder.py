"""Deterministic autoencoders with sigmoid codes, as pure functions of the two networks' parameters: the sparse
autoencoder (Ng's CS294A lecture notes, 'Sparse autoencoder', 2011) and the denoising autoencoder (Vincent et al.
2008).

Images are modelled in [0, 1]. The encoder maps a (possibly corrupted) image x~ to a code h in (0, 1)^K, the decoder
maps h to one logit per pixel, and the loss per batch is

  mean_b reconstruction(decoder(encoder(x~_b)), x_b) + beta * sum_j KL(rho || rho_hat_j),

where the reconstruction is compared with the clean image x, and rho_hat_j is the batch mean of code unit j.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.models.vae import bernoulli_log_likelihood

PyTree = Any
CORRUPTIONS = ('none', 'mask', 'gaussian')
RECONSTRUCTIONS = ('cross_entropy', 'squared')
ARCHITECTURES = ('mlp', 'conv')
# Glorot & Bengio's uniform initialisation: Ng's notes draw W uniformly in +-sqrt(6 / (fan_in + fan_out + 1)).
_KERNEL_INIT = nn.initializers.xavier_uniform()
# rho_hat is kept this far inside (0, 1), where float32 sigmoids can round to 0 or 1 and the KL would be infinite.
_RHO_HAT_EPS = 1e-6


class MLPEncoder(nn.Module):
  """x -> sigmoid hidden layers -> a code of `code_dim` sigmoid units.

  Attributes:
    hidden: the widths of the hidden layers between the image and the code (() for the one-layer autoencoder).
    code_dim: the code units.
  """
  hidden: Sequence[int] = ()
  code_dim: int = 64

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    """Codes of images `x` [B, ...] (flattened here), each unit in (0, 1): [B, code_dim]."""
    del train  # Accepted so that `Network.create` and `Network.apply` can pass it.
    h = x.reshape(x.shape[0], -1)
    for width in self.hidden:
      h = jax.nn.sigmoid(nn.Dense(width, kernel_init=_KERNEL_INIT)(h))
    return jax.nn.sigmoid(nn.Dense(self.code_dim, kernel_init=_KERNEL_INIT)(h))


class MLPDecoder(nn.Module):
  """code -> sigmoid hidden layers -> one logit per pixel, shaped like the image.

  Attributes:
    hidden: the widths of the hidden layers between the code and the image.
    output_shape: the shape of one image, e.g. (28, 28, 1).
  """
  hidden: Sequence[int] = ()
  output_shape: tuple[int, ...] = (28, 28, 1)

  @nn.compact
  def __call__(self, h: jax.Array, train: bool = True) -> jax.Array:
    """Pixel logits [B, *output_shape] for codes `h` [B, code_dim]; sigmoid(logits) is the reconstruction."""
    del train
    for width in self.hidden:
      h = jax.nn.sigmoid(nn.Dense(width, kernel_init=_KERNEL_INIT)(h))
    logits = nn.Dense(int(np.prod(self.output_shape)), kernel_init=_KERNEL_INIT)(h)
    return logits.reshape(h.shape[0], *self.output_shape)


class ConvEncoder(nn.Module):
  """x -> ReLU convolutions (4x4, stride 2, each halving height and width) -> layer norm -> a code of `code_dim`
  sigmoid units.

  Attributes:
    channels: the convolutions' output channels, first to last (28x28 -> 14x14 -> 7x7 for two).
    code_dim: the code units.
  """
  channels: Sequence[int] = (32, 64)
  code_dim: int = 64

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    """Codes of images `x` [B, H, W, C], each unit in (0, 1): [B, code_dim]."""
    del train
    for width in self.channels:
      x = nn.relu(nn.Conv(width, (4, 4), strides=(2, 2), padding='SAME')(x))
    # Normalised before the code layer: without it the growing convolutions drove the code's pre-activations past
    # float32's sigmoid, every code became exactly 1, and the model never left the mean image.
    x = nn.LayerNorm()(x.reshape(x.shape[0], -1))
    return jax.nn.sigmoid(nn.Dense(self.code_dim, kernel_init=_KERNEL_INIT)(x))


class ConvDecoder(nn.Module):
  """code -> a dense ReLU layer shaped as the encoder's last feature map -> ReLU up-convolutions (4x4, stride 2)
  mirroring `ConvEncoder`, the last to the image's channels as logits.

  Attributes:
    channels: the feature maps' channels from the code side, i.e. the encoder's reversed ((64, 32) mirrors
      (32, 64)); there are len(channels) up-convolutions, the last one to the image's channels.
    output_shape: the shape of one image (H, W, C); H and W must be divisible by 2 ** len(channels).
  """
  channels: Sequence[int] = (64, 32)
  output_shape: tuple[int, ...] = (28, 28, 1)

  @nn.compact
  def __call__(self, h: jax.Array, train: bool = True) -> jax.Array:
    """Pixel logits [B, *output_shape] for codes `h` [B, code_dim]."""
    del train
    height, width, out_channels = self.output_shape
    scale = 2**len(self.channels)
    x = nn.relu(nn.Dense(height // scale * width // scale * self.channels[0], kernel_init=_KERNEL_INIT)(h))
    x = x.reshape(h.shape[0], height // scale, width // scale, self.channels[0])
    for channels in self.channels[1:]:
      x = nn.relu(nn.ConvTranspose(channels, (4, 4), strides=(2, 2), padding='SAME')(x))
    return nn.ConvTranspose(out_channels, (4, 4), strides=(2, 2), padding='SAME')(x)


class Stack(nn.Module):
  """Modules applied in turn, a sigmoid between consecutive ones when `sigmoid_between`: a stacked autoencoder's
  encoder (its layers' one-layer encoders, bottom first) or decoder (their decoders, top first, each one's logits
  made the next one's input by the sigmoid) as one module.

  Its parameters are {'layers_0': the first module's, 'layers_1': ...}: the layers are trained as separate networks
  and composed for the whole stack's loss. With layers of widths (256, 64) it computes what `MLPEncoder(hidden=(256,),
  code_dim=64)` and its mirrored `MLPDecoder` compute.

  Attributes:
    layers: the modules, in the order they are applied.
    sigmoid_between: pass each module's output through a sigmoid before the next (the decoders' logits).
  """
  layers: Sequence[nn.Module]
  sigmoid_between: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    del train
    for index, layer in enumerate(self.layers):
      if index and self.sigmoid_between:
        x = jax.nn.sigmoid(x)
      x = layer(x)
    return x


def kl_sparsity(rho: float, rho_hat: jax.Array) -> jax.Array:
  """The sparse autoencoder's penalty sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j)) (Ng's notes, eq. in sec. 3).

  Args:
    rho: the target mean activation, in (0, 1).
    rho_hat: [K] each code unit's mean activation over the batch; kept within 1e-6 of (0, 1).

  Returns:
    A scalar: sum_j rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) / (1 - rho_hat_j)) >= 0, zero iff every
    rho_hat_j = rho.
  """
  rho_hat = jnp.clip(rho_hat, _RHO_HAT_EPS, 1.0 - _RHO_HAT_EPS)
  return jnp.sum(rho * jnp.log(rho / rho_hat) + (1.0 - rho) * jnp.log((1.0 - rho) / (1.0 - rho_hat)))


def corrupt(x01: jax.Array, key: jax.Array, kind: str, level: float) -> jax.Array:
  """The denoising autoencoder's corruption q(x~|x) of images in [0, 1].

  Args:
    x01: images [B, ...] in [0, 1].
    key: the noise's key.
    kind: 'mask' (each pixel independently set to 0 with probability `level`: Vincent et al.'s masking noise),
      'gaussian' (N(0, level^2) added to each pixel, not clipped: Vincent et al. 2010's isotropic Gaussian noise) or
      'none' (x unchanged).
    level: the masked fraction, or the noise's standard deviation (static).

  Returns:
    The corrupted images, the shape of `x01`.
  """
  if kind == 'mask':
    return jnp.where(jax.random.uniform(key, x01.shape) < level, 0.0, x01)
  if kind == 'gaussian':
    return x01 + level * jax.random.normal(key, x01.shape, x01.dtype)
  if kind == 'none':
    return x01
  raise ValueError(f'corrupt: kind {kind!r}; accepted: {", ".join(CORRUPTIONS)}')


def reconstruction_error(logits: jax.Array, x01: jax.Array, kind: str) -> jax.Array:
  """Per image, summed over pixels: 'cross_entropy' -sum_i x_i log p_i + (1 - x_i) log(1 - p_i), or 'squared'
  sum_i (p_i - x_i)^2, with p = sigmoid(logits) and targets x in [0, 1].

  Args:
    logits: [B, ...] the decoder's output.
    x01: the clean images, the shape of `logits`.
    kind: one of `RECONSTRUCTIONS` (static).

  Returns:
    [B]; the cross-entropy is in nats, and its minimum, at p = x, is the targets' entropy (0 for binary images).
  """
  if kind == 'cross_entropy':
    return -bernoulli_log_likelihood(logits, x01)
  if kind == 'squared':
    d = jax.nn.sigmoid(logits) - x01
    return jnp.sum(d.reshape(d.shape[0], -1)**2, axis=-1)
  raise ValueError(f'reconstruction_error: kind {kind!r}; accepted: {", ".join(RECONSTRUCTIONS)}')


def encode(encoder: nn.Module, params: PyTree, x01: jax.Array) -> jax.Array:
  """The codes [B, K] of images `x01`."""
  return encoder.apply({'params': params}, x01)


def decode(decoder: nn.Module, params: PyTree, h: jax.Array) -> jax.Array:
  """The pixel logits [B, *image shape] of codes `h`."""
  return decoder.apply({'params': params}, h)


def autoencoder_loss(encoder: nn.Module, decoder: nn.Module, enc_params: PyTree, dec_params: PyTree,
                     x01: jax.Array, key: jax.Array, *, corruption: str, corruption_level: float,
                     reconstruction: str, sparsity_target: float,
                     sparsity_weight: float) -> tuple[jax.Array, dict[str, jax.Array]]:
  """The training loss of a batch: the reconstruction of the clean images from their corruption, averaged over the
  batch, plus `sparsity_weight` times the KL sparsity penalty of the batch's codes.

  Args:
    encoder, decoder: the modules.
    enc_params, dec_params: their parameters.
    x01: images [B, ...] in [0, 1].
    key: the corruption's key.
    corruption, corruption_level: see `corrupt`.
    reconstruction: see `reconstruction_error`.
    sparsity_target: rho.
    sparsity_weight: beta (0: no penalty; the KL is still reported).

  Returns:
    (loss, {'reconstruction': its batch mean, 'sparsity': the unweighted KL, 'mean_code': the codes' mean}).
  """
  codes = encode(encoder, enc_params, corrupt(x01, key, corruption, corruption_level))
  error = jnp.mean(reconstruction_error(decode(decoder, dec_params, codes), x01, reconstruction))
  sparsity = kl_sparsity(sparsity_target, jnp.mean(codes, axis=0))
  return error + sparsity_weight * sparsity, {'reconstruction': error, 'sparsity': sparsity,
                                              'mean_code': jnp.mean(codes)}
