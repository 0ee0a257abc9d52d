"""Test setup: 8 fake CPU devices for the parallel tests, and fast compiles for tiny models."""

import os

# Must happen before JAX is imported anywhere.
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') + ' --xla_force_host_platform_device_count=8').strip()
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update('jax_platforms', 'cpu')
# Halves compile time; the tests check numerics, not XLA's optimisations.
jax.config.update('jax_disable_most_optimizations', True)


@pytest.fixture
def smoke_config():
  """The unrolled ring experiment in its CI size."""
  from gan_jax.config import base_config, smoke
  return smoke(base_config())
