"""Layers the networks share."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax import platform

UPCONV_METHODS = ('auto', 'phases', 'four_convs', 'transpose')
NHWC = ('NHWC', 'HWIO', 'NHWC')


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


def _taps(kernel: jax.Array, taps: tuple[int, int], axis: int) -> jax.Array:
  return jnp.stack([jnp.take(kernel, i, axis) for i in taps], axis)


def four_convs_upconv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The same transposed convolution as four 2x2 stride-1 convolutions, one per output phase (16 taps, no
  cropping): y[2m] = K0 x[m - 1] + K2 x[m] (padding one zero before) and y[2m + 1] = K1 x[m] + K3 x[m + 1] (after).
  """
  taps, pads = ((0, 2), (1, 3)), ((1, 0), (0, 1))
  rows = []
  for a in (0, 1):
    cols = [jax.lax.conv_general_dilated(x, _taps(_taps(kernel, taps[a], 0), taps[b], 1), (1, 1),
                                         (pads[a], pads[b]), dimension_numbers=NHWC) for b in (0, 1)]
    rows.append(jnp.stack(cols, axis=3))  # [B, H, W, 2 (column phase), O].
  y = jnp.stack(rows, axis=2)  # [B, H, 2 (row phase), W, 2, O].
  b, h, _, w, _, o = y.shape
  return y.reshape(b, 2 * h, 2 * w, o)


class UpConv2x(nn.Module):
  """`nn.ConvTranspose(features, (k, k), strides=(2, 2), padding='SAME')` for k = 4 or 3, the same parameters and
  outputs. A 3x3 kernel gives the same outputs as the 4x4 one it becomes with a zero last row and column, so both
  sizes share one computation.

  A 3x3 kernel's full transposed convolution has 2H + 1 outputs per side, and 'SAME' keeps the first 2H; with
  `keep_last` it keeps the last 2H instead, as PyTorch's `ConvTranspose2d(3, stride=2, padding=1, output_padding=1)`
  does (the CycleGAN authors' up-sampling): the 4x4 kernel then has the zero row and column first.

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
  keep_last: bool = False  # kernel_size 3 only: the last 2H of the 2H + 1 outputs (PyTorch's), not the first.

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if self.method not in UPCONV_METHODS:
      raise ValueError(f'UpConv2x.method: got {self.method!r}; accepted values: {", ".join(UPCONV_METHODS)}')
    if self.kernel_size not in (3, 4):
      raise ValueError(f'UpConv2x.kernel_size: got {self.kernel_size!r}; accepted values: 3, 4')
    if self.keep_last and self.kernel_size != 3:
      raise ValueError(f'UpConv2x.keep_last: a {self.kernel_size}x{self.kernel_size} kernel has one alignment; '
                       'keep_last takes kernel_size 3 only')
    k = self.kernel_size
    kernel = self.param('kernel', self.kernel_init, (k, k, x.shape[-1], self.features)).astype(x.dtype)
    # Along one axis, 'SAME' gives y[2m] = K0 x[m - 1] + K2 x[m], y[2m + 1] = K1 x[m] + K3 x[m + 1] (see
    # `_phase_kernels`). Taps [K0, K1, K2, 0] give the full output's first 2H, [0, K0, K1, K2] its last 2H:
    # y[2m] = K1 x[m], y[2m + 1] = K0 x[m] + K2 x[m + 1].
    pad = (4 - k, 0) if self.keep_last else (0, 4 - k)
    kernel = jnp.pad(kernel, (pad, pad, (0, 0), (0, 0)))
    method = self.method
    if method == 'auto':
      method = platform.upconvolution_method(self.features)
    if method == 'four_convs':
      y = four_convs_upconv(x, kernel)
    elif method == 'phases':
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


def space_to_depth_conv(x: jax.Array, kernel: jax.Array, padding: tuple[tuple[int, int], tuple[int, int]]):
  """The stride-2 convolution of x [B, H, W, I] with a [k, k, I, O] kernel (k <= 4) and explicit `padding`, as a
  2x2 stride-1 convolution of the space-to-depth input [B, H'/2, W'/2, 4 I]: the same products, and a gradient with
  respect to x that is an ordinary convolution (the strided one's is a convolution over a dilated input)."""
  k = kernel.shape[0]
  kernel = jnp.pad(kernel, ((0, 4 - k), (0, 4 - k), (0, 0), (0, 0)))  # Zero taps past the kernel read nothing.
  # Each side padded to 2 * outputs + 2, what the outputs' 4-tap windows read (a padding past that is never read).
  sides = [2 * ((size + lo + hi - k) // 2 + 1) + 2 for (lo, hi), size in zip(padding, x.shape[1:3])]
  x = jnp.pad(x, ((0, 0), *[(lo, max(side - size - lo, 0)) for (lo, _), size, side in
                            zip(padding, x.shape[1:3], sides)], (0, 0)))[:, :sides[0], :sides[1]]
  b, h, w, c = x.shape
  x = x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, h // 2, w // 2, 4 * c)
  kernel = kernel.reshape(2, 2, 2, 2, c, -1).transpose(0, 2, 1, 3, 4, 5).reshape(2, 2, 4 * c, -1)
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), 'VALID', dimension_numbers=NHWC)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def strided_conv(x: jax.Array, kernel: jax.Array, padding: tuple[tuple[int, int], tuple[int, int]]) -> jax.Array:
  """`lax.conv_general_dilated(x, kernel, (2, 2), padding)` (NHWC, HWIO, kernel side <= 4) whose gradient with
  respect to x is taken through `space_to_depth_conv`: an ordinary convolution instead of XLA's convolution over a
  dilated input, which its CPU backend runs outside its fast convolution library."""
  return jax.lax.conv_general_dilated(x, kernel, (2, 2), padding, dimension_numbers=NHWC)


def _strided_conv_forward(x, kernel, padding):
  return strided_conv(x, kernel, padding), (x, kernel)


def _strided_conv_backward(padding, residuals, dy):
  x, kernel = residuals
  _, x_vjp = jax.vjp(lambda x: space_to_depth_conv(x, kernel, padding), x)
  _, kernel_vjp = jax.vjp(lambda k: jax.lax.conv_general_dilated(x, k, (2, 2), padding, dimension_numbers=NHWC),
                          kernel)
  return x_vjp(dy)[0], kernel_vjp(dy)[0]


strided_conv.defvjp(_strided_conv_forward, _strided_conv_backward)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1, batch_group_count=1, precision=None,
                         preferred_element_type=None):
  """`lax.conv_general_dilated` for `nn.Conv(conv_general_dilated=...)`: on CPU (`platform.py`) a stride-2 NHWC
  convolution with a kernel side <= 4 is `strided_conv` (the same values; a faster input gradient there)."""
  plain = (tuple(window_strides) == (2, 2) and lhs.ndim == 4 and rhs.shape[0] == rhs.shape[1] <= 4
           and all(d in (None, 1) for d in (*(lhs_dilation or ()), *(rhs_dilation or ())))
           and feature_group_count == 1 and batch_group_count == 1 and precision is None
           and preferred_element_type is None
           and dimension_numbers == jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, NHWC))
  if plain and platform.space_to_depth_gradients():
    if isinstance(padding, str):
      padding = jax.lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding)
    return strided_conv(lhs, rhs, tuple((int(lo), int(hi)) for lo, hi in padding))
  return jax.lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                      dimension_numbers, feature_group_count, batch_group_count, precision,
                                      preferred_element_type)
