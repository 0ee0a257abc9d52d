"""Minibatch discrimination and virtual batch norm against explicit numpy versions: alone, per device under pmap,
and under `jit` over the device mesh (the library's parallel path)."""

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P
import numpy as np
import pytest

from gan_jax import parallel as parallel_lib
from gan_jax.models.minibatch import MinibatchDiscrimination
from gan_jax.models.virtual_batch_norm import VirtualBatchNorm

AXIS = 'batch'
EPS = 1e-5


def _on_mesh(apply_fn, variables, x, reference=None):
  """`apply_fn(variables, [reference; x])` under jit over the 8-device mesh, `x` sharded along its batch axis (as
  the training step shards the batch and prepends virtual batch norm's reference rows)."""
  parallel = parallel_lib.make_data_parallel('mesh')
  assert parallel.num_devices == jax.device_count() == 8

  def fn(variables, x):
    x = parallel.local_share(x)
    return apply_fn(variables, x if reference is None else jnp.concatenate([reference, x]))

  x = jax.device_put(x, NamedSharding(parallel.mesh, P(parallel_lib.AXIS)))
  return parallel.compile(fn, donate=False)(variables, x)


def _minibatch_numpy(features, kernel):
  """o(x_i)_b = sum_{j != i} exp(-||M_{i,b} - M_{j,b}||_1), as a double loop over pairs."""
  f = np.asarray(features, np.float64).reshape(len(features), -1)
  t = np.asarray(kernel, np.float64)
  m = np.einsum('na,abc->nbc', f, t)
  o = np.zeros((len(f), t.shape[1]))
  for i in range(len(f)):
    for j in range(len(f)):
      if i != j:
        o[i] += np.exp(-np.abs(m[i] - m[j]).sum(axis=-1))
  return np.concatenate([f, o], axis=-1)


def _init_minibatch(features):
  module = MinibatchDiscrimination(num_kernels=4, kernel_dim=3)
  return module, module.init(jax.random.key(0), features)


def test_minibatch_matches_double_loop():
  features = jax.random.normal(jax.random.key(1), (5, 2, 3))  # Trailing axes flatten to A = 6.
  module, variables = _init_minibatch(features)
  out = module.apply(variables, features)
  assert variables['params']['kernel'].shape == (6, 4, 3)
  assert out.shape == (5, 6 + 4)
  expected = _minibatch_numpy(features, variables['params']['kernel'])
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
  # Closeness terms well inside (0, n - 1), so the comparison exercises the exponentials.
  assert 0.5 < expected[:, 6:].mean() < 3.5


def test_minibatch_excludes_the_example_itself():
  one = jax.random.normal(jax.random.key(2), (1, 6))
  module, variables = _init_minibatch(one)
  np.testing.assert_array_equal(module.apply(variables, one)[:, 6:], np.zeros((1, 4)))
  two = jnp.concatenate([one, one])
  np.testing.assert_array_equal(module.apply(variables, two)[:, 6:], np.ones((2, 4)))


def test_minibatch_under_pmap_compares_with_the_global_batch():
  devices = jax.device_count()
  features = jax.random.normal(jax.random.key(3), (devices * 2, 6))
  local, variables = _init_minibatch(features)
  expected = local.apply(variables, features)
  shards = features.reshape(devices, 2, 6)

  gathered = MinibatchDiscrimination(num_kernels=4, kernel_dim=3, axis_name=AXIS)
  out = jax.pmap(gathered.apply, axis_name=AXIS, in_axes=(None, 0))(variables, shards)
  np.testing.assert_allclose(np.reshape(out, expected.shape), expected, rtol=1e-5, atol=1e-5)

  # Without axis_name each device compares only within its own two examples.
  per_device = jax.pmap(local.apply, axis_name=AXIS, in_axes=(None, 0))(variables, shards)
  per_shard = np.stack([local.apply(variables, shard) for shard in shards])
  np.testing.assert_allclose(per_device, per_shard, rtol=1e-5, atol=1e-6)
  assert np.abs(np.reshape(per_device, expected.shape)[:, 6:] - expected[:, 6:]).min() > 0.5

  # Under jit over the mesh, the layer without axis_name compares with the global batch.
  np.testing.assert_allclose(_on_mesh(local.apply, variables, features), expected, rtol=1e-5, atol=1e-5)
  # With per_device, the training loop's mesh (set by `parallel.compile`) makes each device compare within its own
  # two examples: the double loop over each shard, and different from the global comparison.
  per_device_layer = MinibatchDiscrimination(num_kernels=4, kernel_dim=3, per_device=True)
  on_mesh = _on_mesh(per_device_layer.apply, variables, features)
  by_shard = np.concatenate([_minibatch_numpy(shard, variables['params']['kernel']) for shard in shards])
  np.testing.assert_allclose(on_mesh, by_shard, rtol=1e-5, atol=1e-5)
  # Without a mesh (one device), per_device compares within the whole batch.
  np.testing.assert_allclose(per_device_layer.apply(variables, features), expected, rtol=1e-5, atol=1e-5)


def _vbn_numpy(x, reference_size, scale, bias):
  """Each example normalised with the plain statistics of [ref; x_i]; reference rows with the reference's own."""
  x = np.asarray(x, np.float64)
  ref = x[:reference_size]
  axes = tuple(range(x.ndim - 1))
  out = np.empty_like(x)
  out[:reference_size] = (ref - ref.mean(axes)) / np.sqrt(ref.var(axes) + EPS)
  for i in range(reference_size, len(x)):
    both = np.concatenate([ref, x[i:i + 1]])
    out[i] = (x[i] - both.mean(axes)) / np.sqrt(both.var(axes) + EPS)
  return out * np.asarray(scale) + np.asarray(bias)


def _vbn_variables(x, reference_size, key=4):
  """Variables with a scale and bias away from their initial 1 and 0."""
  variables = VirtualBatchNorm(reference_size).init(jax.random.key(0), x)
  features = x.shape[-1]
  scale_key, bias_key = jax.random.split(jax.random.key(key))
  return {'params': {'scale': 1.0 + 0.5 * jax.random.normal(scale_key, (features,), x.dtype),
                     'bias': jax.random.normal(bias_key, (features,), x.dtype)}}, variables


@pytest.mark.parametrize('shape', [(7, 3), (7, 2, 3, 3)], ids=['dense', 'conv'])
def test_virtual_batch_norm_matches_explicit_normalisation(shape):
  reference_size = 3
  x = 0.5 + 1.5 * jax.random.normal(jax.random.key(5), shape)
  variables, initial = _vbn_variables(x, reference_size)
  assert 'batch_stats' not in initial
  np.testing.assert_array_equal(initial['params']['scale'], np.ones(shape[-1]))
  np.testing.assert_array_equal(initial['params']['bias'], np.zeros(shape[-1]))
  out = VirtualBatchNorm(reference_size, epsilon=EPS).apply(variables, x)
  assert out.shape == x.shape
  expected = _vbn_numpy(x, reference_size, variables['params']['scale'], variables['params']['bias'])
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_virtual_batch_norm_ignores_the_other_examples_and_needs_no_communication():
  reference_size, per_device, devices = 2, 2, jax.device_count()
  ref_key, x_key, other_key = jax.random.split(jax.random.key(6), 3)
  ref = jax.random.normal(ref_key, (reference_size, 2, 2, 3))
  x = jax.random.normal(x_key, (devices * per_device, 2, 2, 3))
  module = VirtualBatchNorm(reference_size)
  variables, _ = _vbn_variables(ref, reference_size)
  out = module.apply(variables, jnp.concatenate([ref, x]))

  others = jax.random.normal(other_key, (5, 2, 2, 3))
  changed = module.apply(variables, jnp.concatenate([ref, x[:1], 10.0 * others]))
  np.testing.assert_allclose(changed[:reference_size + 1], out[:reference_size + 1], rtol=1e-6, atol=1e-6)
  assert np.abs(changed[reference_size + 1:] - out[reference_size + 2:reference_size + 7]).max() > 0.1

  # Each device prepends the same reference batch to its share.
  shards = x.reshape(devices, per_device, *x.shape[1:])
  inputs = jnp.concatenate([jnp.broadcast_to(ref, (devices, *ref.shape)), shards], axis=1)
  parallel = jax.pmap(module.apply, axis_name=AXIS, in_axes=(None, 0))(variables, inputs)
  np.testing.assert_allclose(parallel[:, reference_size:].reshape(x.shape), out[reference_size:], rtol=1e-6,
                             atol=1e-6)
  for device_out in parallel:
    np.testing.assert_allclose(device_out[:reference_size], out[:reference_size], rtol=1e-6, atol=1e-6)

  # Under jit over the mesh the reference rows are prepended once to the sharded global batch.
  np.testing.assert_allclose(_on_mesh(module.apply, variables, x, reference=ref), out, rtol=1e-6, atol=1e-6)


def test_virtual_batch_norm_gradients_match_finite_differences():
  reference_size = 2
  # float64 only inside this block, so that the rest of the suite keeps JAX's float32 default.
  with jax.enable_x64(True):
    x_key, w_key = jax.random.split(jax.random.key(7))
    x = jax.random.normal(x_key, (reference_size + 2, 2, 1, 2), jnp.float64)
    weights = jax.random.normal(w_key, x.shape, jnp.float64)
    variables, _ = _vbn_variables(x, reference_size)
    variables = jax.tree.map(lambda p: p.astype(jnp.float64), variables)
    module = VirtualBatchNorm(reference_size)

    def loss(x, rows):
      return jnp.sum((weights * module.apply(variables, x))[rows])

    for rows in (slice(None), slice(reference_size, None)):  # All outputs; only the non-reference ones.
      f = jax.jit(lambda x: loss(x, rows))
      grad = np.asarray(jax.grad(f)(x))
      h = 1e-6
      numeric = np.zeros(x.size)
      for k in range(x.size):
        step = np.zeros(x.size)
        step[k] = h
        step = step.reshape(x.shape)
        numeric[k] = (f(x + step) - f(x - step)) / (2 * h)
      np.testing.assert_allclose(grad.ravel(), numeric, rtol=1e-6, atol=1e-7)
    # The non-reference outputs depend on the reference rows through their statistics.
    assert np.abs(grad[:reference_size]).max() > 1e-2
