"""Paired image datasets (pix2pix's satellite photo <-> map), held in device memory like the single-image sets.

Each feature of a pair ('image', 'map') is held whole as uint8 [N, H, W, C] on the device; a training step's batch of
pairs is one gather by the step's epoch indices (`in_memory.epoch_indices`, drawn once for both features), so row
i of every feature comes from the same example, and a resumed run reads the pairs an uninterrupted one reads.

`random_jitter` is pix2pix's augmentation (Isola et al. 2017, appendix 6.2: "random jitter was applied by resizing
the 256x256 input images to 286x286 and then randomly cropping back to size 256x256", and mirroring): on device,
inside the compiled step, from a key of the step, with the same crop and flip for both images of a pair.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.data.in_memory import epoch_indices, to_unit_range

JITTER_SCALE = 286 / 256  # The paper's resize before the random crop back.


def jitter_size(resolution: int) -> int:
  """The side the jitter resizes a `resolution` image to before cropping back: 286 at 256, 72 at 64, 36 at 32."""
  return int(round(resolution * JITTER_SCALE))


@dataclasses.dataclass(frozen=True, eq=False)
class PairedImages:
  """Pixel-aligned images under named features (uint8 [N, H, W, C] each), served as batches of pairs in [-1, 1].

  Attributes:
    features: feature name -> its images; row i of each is example i.
  """
  features: dict[str, np.ndarray]

  @property
  def shape(self) -> tuple[int, ...]:
    """One image's shape (every feature's)."""
    return tuple(next(iter(self.features.values())).shape[1:])

  @property
  def num_examples(self) -> int:
    return next(iter(self.features.values())).shape[0]

  @property
  def num_classes(self) -> int:
    return 0  # Unlabelled.

  def host_arrays(self) -> dict[str, np.ndarray]:
    return dict(self.features)

  def sample(self, arrays: dict, rng: jax.Array, step: jax.Array, num: int) -> dict[str, jax.Array]:
    """The `num` pairs of training step `step`: each feature's images at the same indices, in [-1, 1]."""
    indices = epoch_indices(rng, step, next(iter(arrays.values())).shape[0], num)
    return {name: to_unit_range(images[indices]) for name, images in arrays.items()}


def random_jitter(key: jax.Array, images: dict[str, jax.Array]) -> dict[str, jax.Array]:
  """pix2pix's random jitter of a batch of pairs: every image resized from H x W up to `jitter_size` (bicubic, as
  the reference code's PIL resize, clipped back to [-1, 1]), cropped back to H x W at a random offset and mirrored
  left-right with probability 1/2; one offset and one flip per example, shared by all its features.

  Args:
    key: the step's jitter key.
    images: feature name -> [B, H, W, C_f] in [-1, 1], all of the same B, H and W.

  Returns:
    The jittered images, same shapes.
  """
  names = list(images)
  channels = [images[n].shape[-1] for n in names]
  # One array for the whole pair: one resize, one crop, one flip, so the features cannot drift apart.
  x = jnp.concatenate([images[n] for n in names], axis=-1)
  batch, height, width, depth = x.shape
  big_h, big_w = jitter_size(height), jitter_size(width)
  x = jnp.clip(jax.image.resize(x, (batch, big_h, big_w, depth), 'cubic', antialias=False), -1.0, 1.0)
  crop_key, flip_key = jax.random.split(key)
  offsets = jax.random.randint(crop_key, (batch, 2), 0, jnp.array([big_h - height + 1, big_w - width + 1]))
  crop = jax.vmap(lambda image, o: jax.lax.dynamic_slice(image, (o[0], o[1], 0), (height, width, depth)))
  x = crop(x, offsets)
  flip = jax.random.bernoulli(flip_key, 0.5, (batch,))
  x = jnp.where(flip[:, None, None, None], x[:, :, ::-1], x)
  parts = jnp.split(x, np.cumsum(channels)[:-1], axis=-1)
  return dict(zip(names, parts))
