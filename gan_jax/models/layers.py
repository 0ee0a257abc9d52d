"""Layers the networks share."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax import platform

UPCONV_METHODS = ('auto', 'phases', 'transpose')


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
  """`nn.ConvTranspose(features, (k, k), strides=(2, 2), padding='SAME')` for k = 4 or 3, the same parameters and
  outputs. A 3x3 kernel gives the same outputs as the 4x4 one it becomes with a zero last row and column, so both
  sizes share one computation.

  On CPU (`method='auto'`, see `platform.py`) it is computed as one stride-1 convolution over the four output
  phases, whose gradients are ordinary convolutions: XLA's CPU backend runs the dilated convolutions of a transposed
  convolution's backward pass about ten times slower, which outweighs the phase form's 2.25x multiply-adds.
  Elsewhere it is the native transposed convolution. Both are tested against Flax's `ConvTranspose`.
  """
  features: int
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
  method: str = 'auto'  # UPCONV_METHODS: the backend's choice, or one form by name.
  kernel_size: int = 4  # Or 3.

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if self.method not in UPCONV_METHODS:
      raise ValueError(f'UpConv2x.method: got {self.method!r}; accepted values: {", ".join(UPCONV_METHODS)}')
    if self.kernel_size not in (3, 4):
      raise ValueError(f'UpConv2x.kernel_size: got {self.kernel_size!r}; accepted values: 3, 4')
    k = self.kernel_size
    kernel = self.param('kernel', self.kernel_init, (k, k, x.shape[-1], self.features)).astype(x.dtype)
    kernel = jnp.pad(kernel, ((0, 4 - k), (0, 4 - k), (0, 0), (0, 0)))
    phases = self.method == 'phases' or (self.method == 'auto' and platform.phase_upconvolution())
    if phases:
      y = jax.lax.conv_general_dilated(x, _phase_kernels(kernel), (1, 1), ((1, 1), (1, 1)),
                                       dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
      b, h, w, _ = y.shape
      # Channels are ordered (row phase, column phase, feature): interleave the phases into a twice-larger grid.
      y = y.reshape(b, h, w, 2, 2, self.features).transpose(0, 1, 3, 2, 4, 5).reshape(b, 2 * h, 2 * w,
                                                                                       self.features)
    else:
      y = jax.lax.conv_transpose(x, kernel, (2, 2), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,))
    return y
