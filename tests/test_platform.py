"""The backend policy: on CPU, short loops whose body convolves are unrolled and UpConv2x takes its phase form;
loops without convolutions stay loops; a one-trip loop is no loop. The results do not depend on the choice."""

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import platform
from gan_jax.models.layers import UpConv2x


def scans(fn, *args):
  """The `unroll` parameter of every scan in `fn`'s program (an empty list: no loop)."""
  found = []

  def walk(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == 'scan':
        found.append(eqn.params['unroll'])
      for sub in jax.extend.core.jaxprs_in_params(eqn.params):
        walk(sub)

  walk(jax.make_jaxpr(fn)(*args).jaxpr)
  return found


KERNEL = jax.random.normal(jax.random.key(0), (3, 3, 2, 2)) * 0.3


def conv_body(x, _):
  y = jax.lax.conv_general_dilated(x, KERNEL, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  return jnp.tanh(y), jnp.sum(y)


def dense_body(x, _):
  return jnp.tanh(x @ jnp.eye(x.shape[-1]) * 1.1), jnp.sum(x)


def test_the_tests_run_on_cpu():
  assert platform.is_cpu() and platform.phase_upconvolution()


def test_a_short_convolutional_loop_is_unrolled_on_cpu_and_computes_the_same():
  x = jax.random.normal(jax.random.key(1), (2, 5, 5, 2))
  tuned = lambda x: platform.scan(conv_body, x, None, length=4)
  assert scans(tuned, x) == [4]  # Fully unrolled.
  plain = lambda x: jax.lax.scan(conv_body, x, None, length=4)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6), jax.jit(tuned)(x),
               jax.jit(plain)(x))
  # Long loops and loops the caller keeps (the multi-step chunks) stay loops.
  assert scans(lambda x: platform.scan(conv_body, x, None, length=platform.MAX_UNROLLED_LENGTH + 1), x) == [1]
  assert scans(lambda x: platform.scan(conv_body, x, None, length=4, may_unroll=False), x) == [1]


def test_a_loop_without_convolutions_stays_a_loop_and_one_trip_is_no_loop():
  x = jnp.ones((3, 4))
  assert scans(lambda x: platform.scan(dense_body, x, None, length=10), x) == [1]
  assert scans(lambda x: platform.scan(dense_body, x, None, length=1), x) == []
  carry, ys = platform.scan(dense_body, x, None, length=1)
  expected_carry, expected_ys = jax.lax.scan(dense_body, x, None, length=1)
  np.testing.assert_allclose(carry, expected_carry, rtol=1e-6)
  assert ys.shape == expected_ys.shape == (1,)
  # With xs, the one trip sees the first slice.
  xs = jnp.arange(3.0)[:, None]
  carry, ys = platform.scan(lambda c, x: (c + x + 1.0, c + 2.0 * x), jnp.ones(1), xs[:1] + 3.0)
  np.testing.assert_allclose(carry, [5.0])
  np.testing.assert_allclose(ys, [[7.0]])


def test_upconv_auto_takes_the_phase_form_on_cpu():
  # The native transposed convolution lowers to a convolution with lhs dilation 2; the phase form has none.
  x = jnp.ones((1, 4, 4, 3))
  dilations = lambda module: [eqn.params['lhs_dilation'] for eqn in jax.make_jaxpr(
      lambda v: module.apply(v, x))(module.init(jax.random.key(0), x)).jaxpr.eqns
      if eqn.primitive.name == 'conv_general_dilated']
  assert dilations(UpConv2x(2)) == [(1, 1)]
  assert dilations(UpConv2x(2, method='transpose')) == [(2, 2)]
