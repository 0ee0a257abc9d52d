"""Layers the networks share."""

import flax.linen as nn
import jax
import jax.numpy as jnp


def _phase_taps(kernel: jax.Array, phase: int, axis: int) -> jax.Array:
  """The 3 taps along `axis` of output phase `phase`, from the 4 taps of the transposed convolution."""
  k0, k1, k2, k3 = (jnp.take(kernel, i, axis) for i in range(4))
  zero = jnp.zeros_like(k0)
  return jnp.stack((k0, k2, zero) if phase == 0 else (zero, k1, k3), axis)


def _phase_kernels(kernel: jax.Array) -> jax.Array:
  """[4, 4, I, O] transposed-conv kernel -> [3, 3, I, 4 * O] kernel of the equivalent stride-1 convolution.

  Along one axis, a stride-2 'SAME' transposed convolution with taps K0..K3 gives
  y[2m] = K0 x[m-1] + K2 x[m] and y[2m+1] = K1 x[m] + K3 x[m+1] (see `lax.conv_transpose`'s padding rule), i.e. a
  3-tap correlation per output phase: [K0, K2, 0] for even outputs and [0, K1, K3] for odd ones.
  """
  phases = [_phase_taps(_phase_taps(kernel, a, 0), b, 1) for a in (0, 1) for b in (0, 1)]
  return jnp.concatenate(phases, axis=-1)


class UpConv2x(nn.Module):
  """`nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding='SAME')`, computed as one stride-1 convolution.

  Same parameters and outputs as the transposed convolution (tested against it), but its gradients are ordinary
  convolutions: XLA's CPU backend runs the dilated convolutions of a transposed convolution's backward pass about
  ten times slower.
  """
  features: int
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', self.kernel_init, (4, 4, x.shape[-1], self.features))
    y = jax.lax.conv_general_dilated(x, _phase_kernels(kernel).astype(x.dtype), (1, 1), ((1, 1), (1, 1)),
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    b, h, w, _ = y.shape
    # Channels are ordered (row phase, column phase, feature): interleave the phases into a twice-larger grid.
    y = y.reshape(b, h, w, 2, 2, self.features).transpose(0, 1, 3, 2, 4, 5).reshape(b, 2 * h, 2 * w, self.features)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,))
    return y
