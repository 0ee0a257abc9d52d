"""Multilayer perceptrons for low-dimensional data (the 2-D mixtures and the 1-D Gaussian)."""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.heads import DiscriminatorHeads, HeadOptions, condition_input


class MLPGenerator(nn.Module):
  """z -> ReLU hidden layers -> a linear output of `output_dim` (the unrolled GAN paper's 2-D generator)."""
  hidden: Sequence[int]
  output_dim: int
  init_gain: float = 0.8

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    del train  # No batch statistics; the argument keeps every generator callable the same way.
    init = nn.initializers.orthogonal(self.init_gain)
    x = z
    for width in self.hidden:
      x = nn.relu(nn.Dense(width, kernel_init=init)(x))
    return nn.Dense(self.output_dim, kernel_init=init)(x)


class MLPDiscriminator(nn.Module):
  """x * input_scale -> ReLU hidden layers -> outputs (see `heads`): 'logits' [B] and the last hidden layer."""
  hidden: Sequence[int]
  input_scale: float = 1.0
  init_gain: float = 0.8
  heads: HeadOptions = HeadOptions()

  @nn.compact
  def __call__(self, x: jax.Array, y: jax.Array | None = None, train: bool = True) -> dict[str, jax.Array]:
    del train
    init = nn.initializers.orthogonal(self.init_gain)
    x = condition_input(x.reshape(x.shape[0], -1) * self.input_scale, y, self.heads)
    hidden = []
    for width in self.hidden:
      x = nn.relu(nn.Dense(width, kernel_init=init)(x))
      hidden.append(x)
    logits = jnp.squeeze(nn.Dense(1, kernel_init=init)(x), axis=-1) if self.heads.plain_logit else None
    return DiscriminatorHeads(self.heads, kernel_init=init, use_bias=True, name='heads')(x, logits, y, tuple(hidden))
