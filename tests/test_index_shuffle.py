"""The keyed permutation that orders an in-memory epoch, evaluated one position at a time."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.data import index_shuffle
from gan_jax.data.in_memory import epoch_indices


@pytest.mark.parametrize('n', [1, 2, 3, 4, 5, 16, 17, 1500, 4097, 60_000])
def test_every_position_maps_to_a_distinct_index(n):
  order = np.asarray(index_shuffle.shuffled_indices(jax.random.key(n), jnp.arange(n), n))
  np.testing.assert_array_equal(np.sort(order), np.arange(n))


def test_half_bits_is_the_smallest_domain_holding_n():
  assert [index_shuffle.half_bits(n) for n in (1, 4, 5, 16, 17, 60_000)] == [1, 1, 2, 2, 3, 8]


def test_orders_look_uniform():
  # Where index 0 lands among n = 10 positions over 5,000 keys: a chi-square test against uniform (9 degrees of
  # freedom; 27.9 is the 0.1 % critical value), and few orders are the identity or repeat.
  n, trials = 10, 5000
  orders = jax.vmap(lambda k: index_shuffle.shuffled_indices(k, jnp.arange(n), n))(
      jax.random.split(jax.random.key(0), trials))
  orders = np.asarray(orders)
  counts = np.bincount(np.argmax(orders == 0, axis=1), minlength=n)
  chi2 = np.sum((counts - trials / n)**2 / (trials / n))
  assert chi2 < 27.9, counts
  assert len({tuple(o) for o in orders}) > 0.95 * trials  # 10! = 3.6M orders: repeats should be rare.


def test_each_epoch_reads_every_example_once_in_a_new_order():
  n, batch = 103, 10  # 10 steps per epoch; 3 examples left out of each epoch, different ones.
  rng = jax.random.key(1)
  epochs = [np.concatenate([np.asarray(epoch_indices(rng, jnp.int32(e * 10 + s), n, batch)) for s in range(10)])
            for e in range(2)]
  for read in epochs:
    assert len(set(read.tolist())) == 100
  assert not np.array_equal(epochs[0], epochs[1])
  assert set(range(n)) - set(epochs[0].tolist()) != set(range(n)) - set(epochs[1].tolist())
