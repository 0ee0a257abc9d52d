"""Virtual batch norm (Salimans et al. 2016, "Improved techniques for training GANs", section 3.4).

Batch norm makes an example's output depend on the other examples of its batch. Virtual batch norm instead
normalises each example with the statistics of a reference batch, chosen once at the start of training, together with
the example itself. The reference batch goes through the network with every call: its rows lead the input, and its
statistics are recomputed at each layer from the current parameters.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


class VirtualBatchNorm(nn.Module):
  """x [R + n, ..., F] -> the same shape, the first R rows being the reference batch.

  Statistics are per feature (the last axis), over the batch rows and every other axis (the spatial positions of a
  convolutional map). The reference rows are normalised with the reference batch's statistics. Example i is
  normalised with those of the reference batch and itself, weighted as in the authors' code:
  mean_i = m_i / (R + 1) + mean_ref * R / (R + 1), likewise for the mean of squares, and
  var_i = meansq_i - mean_i^2, where m_i is the example's mean over its non-feature axes. Every example has the same
  number of positions, so these are the plain statistics of the concatenation [ref; x_i]. Gradients flow through the
  reference statistics, as in the authors' code.

  There are no running averages (no `batch_stats` collection): training and evaluation compute the same thing. An
  example's output does not depend on the other examples in the batch, so with the batch sharded over devices the
  layer needs no communication beyond the reference batch every shard sees.

  Attributes:
    reference_size: R, the number of leading rows of every input that form the reference batch (at least 1).
    epsilon: added to the variance before the square root.
    scale_init: the initialiser of the per-feature scale.
    bias_init: the initialiser of the per-feature bias.
  """
  reference_size: int
  epsilon: float = 1e-5
  scale_init: nn.initializers.Initializer = nn.initializers.ones
  bias_init: nn.initializers.Initializer = nn.initializers.zeros

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Normalises the reference rows and every other example.

    Args:
      x: [R + n, ..., F]: the reference batch's R rows, then the n examples.

    Returns:
      The normalised, scaled and shifted x, of x's shape and dtype (reference rows included).
    """
    r = self.reference_size
    if r < 1 or x.shape[0] < r:
      raise ValueError(f'VirtualBatchNorm: reference_size must be >= 1 and at most the batch ({x.shape[0]} rows), '
                       f'got {r}')
    features = x.shape[-1]
    scale = self.param('scale', self.scale_init, (features,))
    bias = self.param('bias', self.bias_init, (features,))
    # Statistics in at least float32: meansq - mean^2 cancels badly in half precision.
    h = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    spatial = tuple(range(1, x.ndim - 1))
    mean = jnp.mean(h, axis=spatial)  # [R + n, F]
    meansq = jnp.mean(jnp.square(h), axis=spatial)
    # Equal positions per example: the reference's statistics are the mean of its rows' statistics.
    ref_mean, ref_meansq = jnp.mean(mean[:r], axis=0), jnp.mean(meansq[:r], axis=0)
    new, old = 1.0 / (r + 1), r / (r + 1)
    mean = jnp.concatenate([jnp.broadcast_to(ref_mean, mean[:r].shape), new * mean[r:] + old * ref_mean])
    meansq = jnp.concatenate([jnp.broadcast_to(ref_meansq, meansq[:r].shape), new * meansq[r:] + old * ref_meansq])
    # Rounding can make meansq - mean^2 slightly negative for a constant feature.
    var = jnp.maximum(meansq - jnp.square(mean), 0.0)
    stats_shape = (x.shape[0],) + (1,) * len(spatial) + (features,)
    y = (h - mean.reshape(stats_shape)) * jax.lax.rsqrt(var.reshape(stats_shape) + self.epsilon)
    return (y * scale + bias).astype(x.dtype)
