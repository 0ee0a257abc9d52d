"""Multilayer perceptrons for low-dimensional data (the 2-D mixtures and the 1-D Gaussian)."""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.heads import DiscriminatorHeads, HeadOptions, condition_input

INITS = ('orthogonal', 'normal')  # Kernel initialisers: orthogonal with gain init_gain, or N(0, init_std^2).
MLP_NORMS = ('none', 'batch')  # The MLP generator's normalisation after each hidden layer.


def kernel_init(init: str, gain: float, std: float) -> nn.initializers.Initializer:
  """The kernels' initialiser `init` (one of `INITS`)."""
  if init == 'normal':
    return nn.initializers.normal(std)
  return nn.initializers.orthogonal(gain)


class MLPGenerator(nn.Module):
  """z -> hidden layers (Dense, optional batch norm, ReLU) -> a linear output of `output_dim`.

  With `norm='none'` and orthogonal kernels it is the unrolled GAN paper's 2-D generator; with `norm='batch'` and
  N(0, 0.02) kernels PacGAN's (whose hidden layers have no bias: batch norm's offset takes its place).
  """
  hidden: Sequence[int]
  output_dim: int
  init_gain: float = 0.8
  norm: str = 'none'  # MLP_NORMS.
  init_kind: str = 'orthogonal'  # INITS (not `init`: that is the module's own method).
  init_std: float = 0.02

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    init = kernel_init(self.init_kind, self.init_gain, self.init_std)
    batch_norm = self.norm == 'batch'
    x = z
    for width in self.hidden:
      x = nn.Dense(width, kernel_init=init, use_bias=not batch_norm)(x)
      if batch_norm:
        # PacGAN's population statistics move by 0.05 per step.
        x = nn.BatchNorm(use_running_average=not train, momentum=0.95, epsilon=1e-5)(x)
      x = nn.relu(x)
    return nn.Dense(self.output_dim, kernel_init=init)(x)


class Maxout(nn.Module):
  """A linear maxout layer (Goodfellow et al. 2013): Dense(units * pieces), then the max over each unit's pieces."""
  units: int
  pieces: int
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    y = nn.Dense(self.units * self.pieces, kernel_init=self.kernel_init)(x)
    return y.reshape(*y.shape[:-1], self.units, self.pieces).max(axis=-1)


class MLPDiscriminator(nn.Module):
  """x * input_scale -> hidden layers -> outputs (see `heads`): 'logits' [B] and the last hidden layer.

  Hidden layers are Dense + ReLU, or linear maxout layers of `maxout_pieces` pieces (PacGAN's D) when it is >= 2.
  """
  hidden: Sequence[int]
  input_scale: float = 1.0
  init_gain: float = 0.8
  heads: HeadOptions = HeadOptions()
  maxout_pieces: int = 0
  init_kind: str = 'orthogonal'
  init_std: float = 0.02

  @nn.compact
  def __call__(self, x: jax.Array, y: jax.Array | None = None, train: bool = True) -> dict[str, jax.Array]:
    del train
    init = kernel_init(self.init_kind, self.init_gain, self.init_std)
    x = condition_input(x.reshape(x.shape[0], -1) * self.input_scale, y, self.heads)
    hidden = []
    for width in self.hidden:
      if self.maxout_pieces >= 2:
        x = Maxout(width, self.maxout_pieces, kernel_init=init)(x)
      else:
        x = nn.relu(nn.Dense(width, kernel_init=init)(x))
      hidden.append(x)
    logits = jnp.squeeze(nn.Dense(1, kernel_init=init)(x), axis=-1) if self.heads.plain_logit else None
    return DiscriminatorHeads(self.heads, kernel_init=init, use_bias=True, name='heads')(x, logits, y, tuple(hidden))
