"""Small classifiers of image-to-image datasets' domains, whose features score translations by Fréchet distance.

FD needs a feature space in which the images of a domain form a distribution; Inception's is neither installable
here nor meant for 32x32 tiles. Each shipped classifier (`WEIGHTS_BY_DATASET`, an .npz and its .json record) is the
CNN of `digits.DigitClassifier` (three stride-2 3x3 convolutions, one dense ReLU layer of features) on RGB, trained
by `train_domain_classifier.py` on the train split of its dataset, both domains, to name the domain (the style)
*and* a property of what the image shows (`LABELS`): the style half makes the features tell the domains apart (what
a translation must change); the property half makes them carry content, which a translation must keep, so that
translations that all look alike are not close to a domain whose images vary.

- emoji_styles (`weights/emoji_styles_classifier_r32.npz`): 2 styles (OpenMoji, Noto) x `len(GROUPS)` + 1 Unicode
  groups of the code point (faces, animals and plants, vehicles, ...) = 10 classes.
- satellite_maps (`weights/satellite_maps_classifier_r32.npz`): 2 styles (satellite photo, shaded-relief map) x 3
  bins of the tile's land fraction (`LAND_BINS`) = 6 classes: how much of the tile is land is what the map's and the
  photo's water/land boundary must agree on.

Their JSON records the held-out accuracy of the joint class and of each half.

Images: NHWC, 3 channels, floats in [-1, 1] (a generator's output) or uint8 in [0, 255], any size (resized to the
classifier's bilinearly, antialiased when shrinking).
"""

import dataclasses
import functools
import importlib.resources
import os
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from gan_jax.data.in_memory import to_unit_range
from gan_jax.evaluation import feature_metrics
from gan_jax.evaluation.digits import DigitClassifier, load_checked

# The shipped classifier of each dataset (trained on its train split; the JSON records held-out accuracy).
WEIGHTS_BY_DATASET = {'emoji_styles': 'emoji_styles_classifier_r32.npz',
                      'satellite_maps': 'satellite_maps_classifier_r32.npz'}
# emoji_styles' subject groups by code point: the Unicode blocks that hold most emoji; the rest in 'other'.
GROUPS = (('emoticons', 0x1F600, 0x1F650), ('transport_and_map', 0x1F680, 0x1F700),
          ('supplemental_symbols_and_pictographs', 0x1F900, 0x1FB00),
          ('miscellaneous_symbols_and_pictographs', 0x1F300, 0x1F600))
NUM_GROUPS = len(GROUPS) + 1  # + 'other' (dingbats, miscellaneous symbols, enclosed characters, ...).
# satellite_maps' land-fraction bins: [0.1, 0.4), [0.4, 0.8), [0.8, 1] (tiles have at least 10 % land). Near the
# train split's terciles (0.38, 0.76), rounded: 104, 104 and 88 of its 296 tiles, 15, 9 and 14 of the 38 test tiles,
# so that every class has about a hundred training tiles in each style and the held-out accuracy of each bin rests
# on 9 or more tiles.
LAND_BINS = (0.4, 0.8)
CHUNK_SIZE = 256


def group_of(code_point: str) -> int:
  """The group index of an emoji_styles code point string ('1F600' -> 0); `len(GROUPS)` for 'other'."""
  value = int(code_point, 16)
  return next((i for i, (_, low, high) in enumerate(GROUPS) if low <= value < high), len(GROUPS))


def land_bin(land_fraction: float) -> int:
  """The `LAND_BINS` bin of a satellite_maps tile's land fraction (0.3 -> 0, 0.5 -> 1, 0.9 -> 2)."""
  return int(np.searchsorted(LAND_BINS, land_fraction, side='right'))


@dataclasses.dataclass(frozen=True)
class Labels:
  """How a dataset's examples are classed: style (0: the dataset's first image feature, 1: its second) times the
  bin that `bin_of` gives the TFDS feature `feature` of the example (one of `bins`' names; `name` names the
  property in the accuracy records)."""
  feature: str
  name: str
  bins: tuple[str, ...]
  bin_of: Callable[[object], int]

  def label(self, style: int, value) -> int:
    return style * len(self.bins) + self.bin_of(value)


LABELS = {
    'emoji_styles': Labels('code_point', 'group', tuple(g[0] for g in GROUPS) + ('other',), group_of),
    'satellite_maps': Labels('land_fraction', 'land_bin', ('land_under_40_percent', 'land_40_to_80_percent',
                                                           'land_over_80_percent'), land_bin),
}


def label(style: int, code_point: str) -> int:
  """The class of an emoji drawn in style `style` (0: the dataset's first feature, openmoji; 1: noto)."""
  return LABELS['emoji_styles'].label(style, code_point)


class DomainClassifier:
  """A loaded classifier: `classifier(images) -> (logits [N, C], features [N, F])` as float32 numpy arrays."""

  def __init__(self, model: DigitClassifier, params, resolution: int, info: dict | None = None):
    self.model, self.params, self.resolution, self.info = model, jax.device_put(params), resolution, info or {}

    @jax.jit
    def forward(params, images):
      x = images.astype(jnp.float32) / 127.5 - 1.0 if images.dtype == jnp.uint8 else images.astype(jnp.float32)
      if x.shape[1:3] != (resolution, resolution):
        x = jax.image.resize(x, (x.shape[0], resolution, resolution, x.shape[-1]), 'bilinear', antialias=True)
      return model.apply({'params': params}, x)

    self._forward = forward

  def __call__(self, images: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or not len(images):
      raise ValueError(f'Expected RGB images of shape [N, H, W, 3], N >= 1; got {images.shape}.')
    outputs = [jax.device_get(self._forward(self.params, images[i:i + CHUNK_SIZE]))
               for i in range(0, len(images), CHUNK_SIZE)]
    return tuple(np.concatenate([o[k] for o in outputs]) for k in range(2))

  def features(self, images: ArrayLike) -> np.ndarray:
    return self(images)[1]


def load_domain_classifier(path: str | os.PathLike) -> DomainClassifier:
  """Loads weights written by `train_domain_classifier` (an .npz, or a key of `WEIGHTS_BY_DATASET` for the shipped
  one) after checking the .npz against the sha256 its JSON records.

  Raises:
    FileNotFoundError: the .npz or its .json is missing.
    ValueError: the .npz's sha256 is not the one its JSON records.
  """
  if path in WEIGHTS_BY_DATASET:
    resource = importlib.resources.files(__package__) / 'weights' / WEIGHTS_BY_DATASET[path]
    with importlib.resources.as_file(resource) as local:
      return load_domain_classifier(local)
  model, params, info = load_checked(path)
  return DomainClassifier(model, params, info['resolution'], info)


@functools.cache
def shipped_classifier(dataset: str) -> DomainClassifier | None:
  """The shipped classifier of `dataset`, loaded once per process; None when none is shipped."""
  return load_domain_classifier(dataset) if dataset in WEIGHTS_BY_DATASET else None


def frechet_distance(classifier: DomainClassifier, images1: ArrayLike, images2: ArrayLike) -> float:
  """FD between Gaussians fitted to the classifier's features of two image sets (`feature_metrics`' FID rules)."""
  return feature_metrics.frechet_distance_from_features(classifier.features(images1), classifier.features(images2))


def spread_indices(total: int, num: int) -> tuple[np.ndarray, np.ndarray]:
  """Two disjoint sets of `num` example indices, each spread evenly over a split of `total` (2 num <= total): the
  even and the odd entries of 2 num evenly spaced indices. emoji_styles' splits are in code-point order (faces
  first, then animals, vehicles, ...), so the split's first images would be a content-biased reference."""
  if not 1 <= num <= total // 2:
    raise ValueError(f'Two disjoint sets of {num} among {total} examples: need 1 <= num <= {total // 2}.')
  indices = np.linspace(0, total - 1, 2 * num).round().astype(int)  # Steps of >= 2: distinct after rounding.
  return indices[0::2], indices[1::2]


def feature_scorer(dataset: str, images: np.ndarray, num: int) -> tuple[Callable, Callable, np.ndarray]:
  """How a generator of one feature of `dataset` (e.g. emoji_styles' Noto emoji: `images`, uint8 NHWC, the training
  split's) is scored with the dataset's shipped classifier: (score(samples) -> {'classifier_fd', 'classifier_kid',
  'classifier_kid_std'}, fd(images) -> float, other) against min(num, N // 2) of the N images spread evenly over the
  split; `other`, as many others disjoint from them and spread likewise (`spread_indices`) in [-1, 1], are the real
  images whose FD is a generator's floor. LAPGAN and Progressive GAN score their emoji with it."""
  classifier = shipped_classifier(dataset)
  real_at, other_at = spread_indices(len(images), min(num, len(images) // 2))
  real_features = classifier.features(images[real_at])
  other = np.asarray(to_unit_range(images[other_at]))  # As the families read their images.

  def score(samples):
    features = classifier.features(samples)
    kid, kid_std = feature_metrics.kernel_inception_distance(real_features, features)
    return {'classifier_fd': feature_metrics.frechet_distance_from_features(real_features, features),
            'classifier_kid': kid, 'classifier_kid_std': kid_std}

  def fd(x):
    return feature_metrics.frechet_distance_from_features(real_features, classifier.features(x))

  return score, fd, other
