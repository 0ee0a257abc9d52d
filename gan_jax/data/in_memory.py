"""Image datasets held whole in device memory and read in epoch-shuffled batches inside the compiled step.

Small image sets (the offline digits, mnist, cifar10: at most a few hundred MB as uint8) fit on any accelerator.
Holding them there removes the host from the training loop: a step's batch is a gather by indices computed from the
run's key and the step number, so it is the same whether the run was interrupted or not, and a resumed run reads
exactly the batches an uninterrupted one would.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

EPOCH_STREAM = 0x5EED  # Epoch permutations use their own key stream, apart from the per-step keys.


def to_unit_range(images: jax.Array) -> jax.Array:
  """uint8 [0, 255] -> float32 [-1, 1], the range of the generators' tanh."""
  return images.astype(jnp.float32) / 127.5 - 1.0


def epoch_indices(rng: jax.Array, step: jax.Array, num_examples: int, batch: int, stream: int = 0) -> jax.Array:
  """The example indices of step `step`: slice `step % steps_per_epoch` of the epoch's random permutation.

  Each epoch is a fresh permutation (drop-remainder: the last `num_examples % batch` examples of an epoch's order
  are skipped, different ones each epoch).
  """
  steps_per_epoch = num_examples // batch
  epoch = step // steps_per_epoch
  key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(rng, EPOCH_STREAM), stream), epoch)
  permutation = jax.random.permutation(key, num_examples)
  return jax.lax.dynamic_slice_in_dim(permutation, (step % steps_per_epoch) * batch, batch)


@dataclasses.dataclass(frozen=True, eq=False)
class InMemoryImages:
  """Labelled images [N, H, W, C] (uint8) served in epoch-shuffled batches scaled to [-1, 1]."""
  images: np.ndarray
  labels: np.ndarray

  @property
  def shape(self) -> tuple[int, ...]:
    return tuple(self.images.shape[1:])

  @property
  def num_examples(self) -> int:
    return self.images.shape[0]

  def host_arrays(self) -> dict[str, np.ndarray]:
    return {'images': self.images, 'labels': self.labels}

  def sample(self, arrays: dict, rng: jax.Array, step: jax.Array, num: int) -> jax.Array:
    """The `num` real images of training step `step`."""
    indices = epoch_indices(rng, step, arrays['images'].shape[0], num)
    return to_unit_range(arrays['images'][indices])


@dataclasses.dataclass(frozen=True, eq=False)
class StackedImages(InMemoryImages):
  """Three grayscale images stacked as the channels of one colour image (Stacked MNIST, Metz et al. 2017).

  `images` are the grayscale ones [N, H, W, 1]. With 10 digit classes there are 1,000 classes of stacked images,
  label 100 * a + 10 * b + c. Each channel reads its own epoch permutation, so the triples differ from epoch to epoch.
  """

  @property
  def shape(self) -> tuple[int, ...]:
    return (*self.images.shape[1:3], 3)

  def sample(self, arrays: dict, rng: jax.Array, step: jax.Array, num: int) -> jax.Array:
    n = arrays['images'].shape[0]
    channels = [arrays['images'][epoch_indices(rng, step, n, num, stream=c)][..., 0] for c in range(3)]
    return to_unit_range(jnp.stack(channels, axis=-1))

  def stack_numpy(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Host-side stacking of given index triples [M, 3]: (images [M, H, W, 3] uint8, labels [M])."""
    images = np.concatenate([self.images[indices[:, c]] for c in range(3)], axis=-1)
    labels = 100 * self.labels[indices[:, 0]] + 10 * self.labels[indices[:, 1]] + self.labels[indices[:, 2]]
    return images, labels
