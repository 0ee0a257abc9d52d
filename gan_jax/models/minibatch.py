"""Minibatch discrimination (Salimans et al. 2016, "Improved techniques for training GANs", section 3.2).

D sees, for every example, how close it is to the other examples of the batch, so a generator that collapses onto a
few modes makes batches D can tell apart from real ones. With features f_i in R^A and a learned tensor T in
R^{A x B x C}, M_i = f_i T in R^{B x C}, c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_1) and
o(x_i)_b = sum_{j != i} c_b(x_i, x_j); the layer returns [f_i, o(x_i)].
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P


class MinibatchDiscrimination(nn.Module):
  """features [n, ...] -> [n, A + num_kernels]: the flattened features with the closeness to the rest of the batch.

  The example itself is excluded from its own sum (the authors' Theano code adds a large distance on the diagonal;
  here the diagonal is masked out, which is exact). Under `jit` over a mesh (the training loop) the layer sees the
  global batch whatever the sharding; with `per_device`, each example is compared only with the examples on its own
  device (a `shard_map` over the batch axes of the mesh set with `jax.set_mesh`, as the training loop sets it), as
  Salimans et al.'s per-GPU minibatches were. Inside a per-device computation of your own (`shard_map` or `pmap`
  over a named axis), `axis_name` chooses: set, each device gathers M from all devices, so every example is compared
  with the whole global batch; None, only with that device's examples. The parameters depend on neither.

  Attributes:
    num_kernels: B, the number of closeness features appended.
    kernel_dim: C, the dimension of each kernel's projection.
    axis_name: the named device axis to compare across (shard_map, pmap), or None for the batch given.
    per_device: under a mesh, compare within each device's share of the batch only.
    kernel_init: the initialiser of T (the authors' N(0, 0.05)).
  """
  num_kernels: int = 100
  kernel_dim: int = 5
  axis_name: str | None = None
  per_device: bool = False
  kernel_init: nn.initializers.Initializer = nn.initializers.normal(0.05)

  @nn.compact
  def __call__(self, features: jax.Array) -> jax.Array:
    """Appends o(x_i) to the features.

    Args:
      features: [n, ...] per-example features; trailing axes are flattened.

    Returns:
      [n, A + num_kernels]: the flattened features, then o(x_i).
    """
    n = features.shape[0]
    features = features.reshape(n, -1)
    kernel = self.param('kernel', self.kernel_init, (features.shape[-1], self.num_kernels, self.kernel_dim))
    m = jnp.einsum('na,abc->nbc', features, kernel.astype(features.dtype))
    closeness = functools.partial(_closeness, axis_name=self.axis_name)
    mesh = jax.sharding.get_abstract_mesh()
    if self.per_device and not mesh.empty:  # The batch is sharded over every axis of the training mesh.
      batch = P(tuple(mesh.axis_names))
      closeness = jax.shard_map(closeness, mesh=mesh, in_specs=batch, out_specs=batch)
    return jnp.concatenate([features, closeness(m)], axis=-1)



def _closeness(m: jax.Array, axis_name: str | None) -> jax.Array:
  """o(x_i) for the projections m [n, B, C] of the examples given (and, with axis_name, all devices')."""
  n = m.shape[0]
  if axis_name is None:
    others, first = m, 0
  else:
    # The gather's transpose (a reduce-scatter) sends each device's gradient back to the examples it compared with.
    others = jax.lax.all_gather(m, axis_name, tiled=True)
    first = jax.lax.axis_index(axis_name) * n
  distance = jnp.sum(jnp.abs(m[:, None] - others[None]), axis=-1)  # [n, N, B]
  is_self = (first + jnp.arange(n))[:, None] == jnp.arange(others.shape[0])[None, :]
  closeness = jnp.where(is_self[..., None], 0.0, jnp.exp(-distance))
  return jnp.sum(closeness, axis=1)
