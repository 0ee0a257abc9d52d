"""Where each step's randomness comes from: keys folded from the run's key and the step, so a resumed run draws the
same numbers as an uninterrupted one."""

import jax

REFERENCE_STREAM = 0x4EF  # Virtual batch norm's reference batches have their own key stream.


def data_key(rng: jax.Array, step: jax.Array) -> jax.Array:
  """The key of a step's real data (for datasets drawn afresh each step)."""
  return jax.random.fold_in(jax.random.fold_in(rng, step), 0)


def noise_key(rng: jax.Array, step: jax.Array) -> jax.Array:
  """The key of a step's latents and other noise."""
  return jax.random.fold_in(jax.random.fold_in(rng, step), 1)
