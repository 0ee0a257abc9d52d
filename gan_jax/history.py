"""Techniques that show each player its opponent's or its own past: pure functions on arrays kept in the state.

- Historical averaging (Salimans et al. 2016, section 3.3): each player's loss gains
  ||theta - (1/t) sum_{i<t} theta_i||^2; the running mean of past parameters lives in the state.
- Experience replay (Goodfellow's NIPS 2016 tutorial; Shrivastava et al. 2017): a fixed-size ring buffer of past
  generated samples; a fraction of D's fake batch is drawn from it.
- CycleGAN's image pool (Zhu et al. 2017, section 4, after Shrivastava et al. 2017): the same buffer, queried as the
  paper's code does (`query_pool`): until it is full every new image enters it and goes to D; after, each goes to D
  with probability 1/2, else a random stored image does and the new one takes its place.
- Snapshot swaps (the same tutorial): copies of G and D taken every so often; for a few iterations each player
  trains against its opponent's older copy.

Everything is a device array with a pure update, so it is checkpointed with the state and resumes bit for bit.
Under jit over a mesh the buffer, like the rest of the state, is replicated and receives the whole global batch.
"""

from typing import Any

import jax
import jax.numpy as jnp

PyTree = Any


def update_average(average: PyTree, params: PyTree, count: jax.Array) -> PyTree:
  """The running mean after one more value: average + (params - average) / (count + 1).

  Args:
    average: the mean of the `count` earlier parameter values (anything when `count` is 0).
    params: the newest value.
    count: how many values `average` holds.
  """
  weight = 1.0 / (count.astype(jnp.float32) + 1.0)
  return jax.tree.map(lambda a, p: a + weight * (p - a), average, params)


def averaging_penalty(params: PyTree, average: PyTree) -> jax.Array:
  """||params - average||^2 summed over every parameter; the average is a constant (no gradient flows into it)."""
  average = jax.lax.stop_gradient(average)
  return sum(jnp.sum((p - a) ** 2) for p, a in zip(jax.tree.leaves(params), jax.tree.leaves(average)))


def init_buffer(capacity: int, example_shape: tuple[int, ...], with_labels: bool = False) -> dict[str, jax.Array]:
  """An empty replay buffer for `capacity` examples (and their labels, for conditional generators)."""
  buffer = {'samples': jnp.zeros((capacity, *example_shape), jnp.float32), 'count': jnp.zeros((), jnp.int32)}
  if with_labels:
    buffer['labels'] = jnp.zeros((capacity,), jnp.int32)
  return buffer


def insert(buffer: dict[str, jax.Array], samples: jax.Array, labels: jax.Array | None = None) -> dict:
  """Writes `samples` over the oldest entries (a ring); when more samples than capacity come, the last ones stay."""
  capacity, num = buffer['samples'].shape[0], samples.shape[0]
  if num > capacity:
    samples, labels = samples[-capacity:], None if labels is None else labels[-capacity:]
    buffer = {**buffer, 'count': buffer['count'] + num - capacity}
    num = capacity
  positions = (buffer['count'] + jnp.arange(num)) % capacity
  new = {**buffer, 'samples': buffer['samples'].at[positions].set(samples), 'count': buffer['count'] + num}
  if 'labels' in buffer:
    new['labels'] = buffer['labels'].at[positions].set(labels)
  return new


def mix(buffer: dict[str, jax.Array], key: jax.Array, fresh: jax.Array, fraction: float,
        fresh_labels: jax.Array | None = None) -> tuple[jax.Array, jax.Array | None]:
  """D's fake batch: the first round(fraction * B) fresh samples replaced by uniform draws from the buffer.

  Nothing is replaced while the buffer is empty. Returns (samples, labels), labels None without them.
  """
  num_replayed = int(round(fraction * fresh.shape[0]))
  filled = jnp.minimum(buffer['count'], buffer['samples'].shape[0])
  if num_replayed == 0:
    return fresh, fresh_labels
  indices = jax.random.randint(key, (num_replayed,), 0, jnp.maximum(filled, 1))
  use = filled > 0
  head = jnp.where(use, buffer['samples'][indices], fresh[:num_replayed])
  samples = jnp.concatenate([head, fresh[num_replayed:]])
  if fresh_labels is None:
    return samples, None
  head_labels = jnp.where(use, buffer['labels'][indices], fresh_labels[:num_replayed])
  return samples, jnp.concatenate([head_labels, fresh_labels[num_replayed:]])


def query_pool(buffer: dict[str, jax.Array], key: jax.Array, fresh: jax.Array,
               probability: float = 0.5) -> tuple[jax.Array, dict[str, jax.Array]]:
  """CycleGAN's image pool (the reference code's `ImagePool.query`), one image at a time in batch order.

  While the buffer holds fewer than its capacity, each fresh image is stored and returned. Once full, each fresh
  image is, with `probability`, swapped for a uniformly drawn stored one (that one is returned, the fresh one stored
  in its slot); otherwise it is returned and the buffer is unchanged. Unlike `mix`, which replaces a fixed
  round(fraction * B) of the batch from the first insert on (none at B = 1 and fraction 1/2), this draws per image.

  Args:
    buffer: from `init_buffer(capacity, image_shape)`; its 'count' is the images stored, at most the capacity.
    key: the step's key for the pool.
    fresh: [B, ...] the generator's new images.
    probability: the chance of a swap once the pool is full (1/2 in the paper).

  Returns:
    (images for D [B, ...], the new buffer).
  """
  capacity = buffer['samples'].shape[0]

  def one(buffer, inputs):
    key, image = inputs
    swap_key, index_key = jax.random.split(key)
    filling = buffer['count'] < capacity
    swap = ~filling & jax.random.bernoulli(swap_key, probability)
    slot = jnp.where(filling, buffer['count'], jax.random.randint(index_key, (), 0, capacity))
    stored = buffer['samples'][slot]
    out = jnp.where(swap, stored, image)
    samples = buffer['samples'].at[slot].set(jnp.where(filling | swap, image, stored))
    return {**buffer, 'samples': samples, 'count': buffer['count'] + filling.astype(jnp.int32)}, out

  buffer, out = jax.lax.scan(one, buffer, (jax.random.split(key, fresh.shape[0]), fresh))
  return out, buffer


def select(condition: jax.Array, when_true: PyTree, when_false: PyTree) -> PyTree:
  """Chooses between two pytrees of the same structure by a traced scalar (no branch: both are already computed)."""
  return jax.tree.map(lambda a, b: jnp.where(condition, a, b), when_true, when_false)


def swapping(step: jax.Array, swap_every: int, swap_steps: int) -> jax.Array:
  """Whether `step` falls in a swap window: the first `swap_steps` steps of every `swap_every`, after the first."""
  if swap_every == 0:
    return jnp.zeros((), bool)
  return (step >= swap_every) & (step % swap_every < swap_steps)


def snapshot(nets: dict) -> dict[str, dict[str, PyTree]]:
  """Copies of every network's parameters and batch statistics, to train an opponent against later."""
  return {name: jax.tree.map(jnp.copy, {'params': net.params, 'batch_stats': net.batch_stats})
          for name, net in nets.items()}
