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

from gan_jax.data import index_shuffle

EPOCH_STREAM = 0x5EED  # Epoch permutations use their own key stream, apart from the per-step keys.
LABELLED_STREAM = 7  # The semi-supervised GAN's labelled batches read their own permutations.


def to_unit_range(images: jax.Array) -> jax.Array:
  """uint8 [0, 255] -> float32 [-1, 1], the range of the generators' tanh."""
  return images.astype(jnp.float32) / 127.5 - 1.0


def epoch_indices(rng: jax.Array, step: jax.Array, num_examples: int, batch: int, stream: int = 0) -> jax.Array:
  """The example indices of step `step`: slice `step % steps_per_epoch` of the epoch's random permutation.

  Each epoch is a fresh permutation (drop-remainder: the last `num_examples % batch` examples of an epoch's order
  are skipped, different ones each epoch), evaluated at the step's positions only (`index_shuffle.py`): O(batch)
  per step rather than sorting the whole epoch.
  """
  steps_per_epoch = num_examples // batch
  epoch = step // steps_per_epoch
  key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(rng, EPOCH_STREAM), stream), epoch)
  positions = (step % steps_per_epoch) * batch + jnp.arange(batch)
  return index_shuffle.shuffled_indices(key, positions, num_examples)


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

  @property
  def num_classes(self) -> int:
    return int(self.labels.max()) + 1

  def first_images(self, num: int) -> np.ndarray:
    """The split's first `num` images (the evaluator's real images), uint8."""
    return self.images[:num]

  def random_images(self, num: int, seed: int) -> np.ndarray:
    """`num` images of the split in a seeded random order (the Inception statistics' real images), uint8."""
    return self.images[np.random.default_rng(seed).permutation(self.num_examples)[:num]]

  def sample(self, arrays: dict, rng: jax.Array, step: jax.Array, num: int) -> dict[str, jax.Array]:
    """The `num` real images of training step `step` ('x') and their labels ('y')."""
    indices = epoch_indices(rng, step, arrays['images'].shape[0], num)
    return {'x': to_unit_range(arrays['images'][indices]), 'y': arrays['labels'][indices].astype(jnp.int32)}


def labelled_subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
  """Indices of the semi-supervised GAN's labelled examples: the first `per_class` of each class in a seeded
  permutation of the training examples (sorted)."""
  order = np.random.default_rng(seed).permutation(len(labels))
  chosen = [order[labels[order] == c][:per_class] for c in np.unique(labels)]
  short = [int(c) for c, idx in zip(np.unique(labels), chosen) if len(idx) < per_class]
  if short:
    raise ValueError(f'config.semi.labels_per_class: {per_class} is more than classes {short} have')
  return np.sort(np.concatenate(chosen))


def sample_labelled(arrays: dict, rng: jax.Array, step: jax.Array, num: int) -> dict[str, jax.Array]:
  """The step's labelled batch from `arrays['labelled_indices']`, epoch-shuffled like the main batches."""
  subset = arrays['labelled_indices']
  indices = subset[epoch_indices(rng, step, subset.shape[0], num, stream=LABELLED_STREAM)]
  return {'labelled_x': to_unit_range(arrays['images'][indices]),
          'labelled_y': arrays['labels'][indices].astype(jnp.int32)}


@dataclasses.dataclass(frozen=True, eq=False)
class StackedImages(InMemoryImages):
  """Three grayscale images stacked as the channels of one colour image (Stacked MNIST, Metz et al. 2017).

  `images` are the grayscale ones [N, H, W, 1]. With 10 digit classes there are 1,000 classes of stacked images,
  label 100 * a + 10 * b + c. Each channel reads its own epoch permutation, so the triples differ from epoch to epoch.
  """

  @property
  def shape(self) -> tuple[int, ...]:
    return (*self.images.shape[1:3], 3)

  @property
  def num_classes(self) -> int:
    return (int(self.labels.max()) + 1)**3

  def sample(self, arrays: dict, rng: jax.Array, step: jax.Array, num: int) -> dict[str, jax.Array]:
    n = arrays['images'].shape[0]
    indices = [epoch_indices(rng, step, n, num, stream=c) for c in range(3)]
    images = jnp.stack([arrays['images'][i][..., 0] for i in indices], axis=-1)
    digits = [arrays['labels'][i].astype(jnp.int32) for i in indices]
    return {'x': to_unit_range(images), 'y': 100 * digits[0] + 10 * digits[1] + digits[2]}

  def stack_numpy(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Host-side stacking of given index triples [M, 3]: (images [M, H, W, 3] uint8, labels [M])."""
    images = np.concatenate([self.images[indices[:, c]] for c in range(3)], axis=-1)
    labels = 100 * self.labels[indices[:, 0]] + 10 * self.labels[indices[:, 1]] + self.labels[indices[:, 2]]
    return images, labels
