"""Backend tuning, in one place: the choices that only XLA's CPU backend needs.

XLA's CPU backend runs convolutions inside a loop (a `while` from `lax.scan`) about 20x slower than outside one, and
its transposed-convolution gradients (dilated convolutions) about 10x slower than ordinary ones. So on CPU, and only
there, short loops whose body convolves are unrolled, and `models.layers.UpConv2x` computes its stride-2 transposed
convolution as one stride-1 convolution over four output phases. Everything else (GPU, TPU, and loops without
convolutions on CPU, whose compile time must stay flat in their length) keeps `lax.scan` and the native transposed
convolution. The steps, the unroll and the models call these functions; none of them takes a flag for it.
"""

from typing import Any, Callable

import jax
import jax.extend as jex

# Loops longer than this stay loops even on CPU: unrolling them would make compile time grow without bound.
MAX_UNROLLED_LENGTH = 32
# UpConv2x's four small convolutions from this many output channels on (fewer: the phase form).
MIN_FOUR_CONVS_FEATURES = 16


def is_cpu() -> bool:
  """Whether computations are placed on XLA's CPU backend."""
  return jax.default_backend() == 'cpu'


def _convolves(jaxpr) -> bool:
  for eqn in jaxpr.eqns:
    if eqn.primitive.name in ('conv_general_dilated', 'conv_transpose'):
      return True
    for sub in jex.core.jaxprs_in_params(eqn.params):
      if _convolves(sub):
        return True
  return False


def unroll_loop(body: Callable, *args) -> bool:
  """Whether a loop of `body(*args)` should be unrolled on this backend: on CPU when its body convolves."""
  if not is_cpu():
    return False
  return _convolves(jax.make_jaxpr(body)(*args).jaxpr)


def scan(f: Callable, init: Any, xs: Any = None, length: int | None = None, *, may_unroll: bool = True):
  """`jax.lax.scan`, tuned for the backend: no loop at all for one trip (XLA keeps a one-trip loop even when asked
  to unroll it), and, with `may_unroll`, unrolled on CPU when the body convolves and the loop is short."""
  if length is None:
    length = jax.tree.leaves(xs)[0].shape[0]
  first = None if xs is None else jax.tree.map(lambda x: x[0], xs)
  if length == 1:
    carry, y = f(init, first)
    return carry, jax.tree.map(lambda a: a[None], y)
  unroll = may_unroll and length <= MAX_UNROLLED_LENGTH and unroll_loop(f, init, first)
  return jax.lax.scan(f, init, xs, length=length, unroll=unroll)


def phase_upconvolution() -> bool:
  """Whether `UpConv2x` uses a stride-1 form (CPU) rather than the native transposed convolution."""
  return is_cpu()


def upconvolution_method(features: int) -> str:
  """The form `UpConv2x(method='auto')` computes for `features` output channels (`layers.UPCONV_METHODS`): on CPU
  the four small convolutions (16 taps, as the transposed convolution), except for a few output channels (an
  image's), where one convolution to 4x the channels (the phase form) keeps the CPU's vectors fuller; elsewhere the
  native transposed convolution. Measured in benchmarks/cpu_convolutions.py."""
  if not phase_upconvolution():
    return 'transpose'
  return 'four_convs' if features >= MIN_FOUR_CONVS_FEATURES else 'phases'


def space_to_depth_gradients() -> bool:
  """Whether `layers.conv` takes a stride-2 convolution's input gradient through its space-to-depth form (CPU)."""
  return is_cpu()


def pad_reflected_convolutions() -> bool:
  """Whether a stride-1 convolution of a reflection-padded input (`image_to_image.ResNetGenerator`'s) pads one more
  zero pixel inside the convolution and crops the outputs that read it (CPU): the same values, and XLA's CPU
  backend runs that convolution 1.3-4x faster than the one over the padded input alone (measured in
  benchmarks/cpu_convolutions.py --sections cyclegan_layers)."""
  return is_cpu()
