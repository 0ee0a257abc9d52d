"""A small classifier of an image-to-image dataset's domains, whose features score translations by Fréchet distance.

FD needs a feature space in which the images of a domain form a distribution; Inception's is neither installable
here nor meant for 32x32 emoji. The shipped `weights/emoji_styles_classifier_r32.npz` (and its `.json`) is the CNN
of `digits.DigitClassifier` (three stride-2 3x3 convolutions, one dense ReLU layer of features) on RGB, trained by
`train_domain_classifier.py` on the train split of `emoji_styles`, both styles, to name the style *and* the
subject's group: 2 styles x `len(GROUPS)` Unicode groups = 10 classes. The style half makes the features tell
OpenMoji from Noto (what a translation must change); the group half makes them carry what is drawn (faces,
animals and plants, vehicles, ...), which a translation must keep, so that translations that all look alike are not
close to a domain whose subjects vary. Its JSON records the held-out accuracy of both halves.

Images: NHWC, 3 channels, floats in [-1, 1] (a generator's output) or uint8 in [0, 255], any size (resized to the
classifier's bilinearly, antialiased when shrinking).
"""

import functools
import importlib.resources
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from gan_jax.evaluation import feature_metrics
from gan_jax.evaluation.digits import DigitClassifier, info_path, load_params, sha256_of_file

# The shipped classifier of each dataset (trained on its train split; the JSON records held-out accuracy).
WEIGHTS_BY_DATASET = {'emoji_styles': 'emoji_styles_classifier_r32.npz'}
# emoji_styles' subject groups by code point: the Unicode blocks that hold most emoji; the rest in 'other'.
GROUPS = (('emoticons', 0x1F600, 0x1F650), ('transport_and_map', 0x1F680, 0x1F700),
          ('supplemental_symbols_and_pictographs', 0x1F900, 0x1FB00),
          ('miscellaneous_symbols_and_pictographs', 0x1F300, 0x1F600))
NUM_GROUPS = len(GROUPS) + 1  # + 'other' (dingbats, miscellaneous symbols, enclosed characters, ...).
CHUNK_SIZE = 256


def group_of(code_point: str) -> int:
  """The group index of an emoji_styles code point string ('1F600' -> 0); `len(GROUPS)` for 'other'."""
  value = int(code_point, 16)
  return next((i for i, (_, low, high) in enumerate(GROUPS) if low <= value < high), len(GROUPS))


def label(style: int, code_point: str) -> int:
  """The class of an emoji drawn in style `style` (0: the dataset's first feature, openmoji; 1: noto)."""
  return style * NUM_GROUPS + group_of(code_point)


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
  with open(info_path(path)) as f:
    info = json.load(f)
  digest = sha256_of_file(path)
  if digest != info['sha256']:
    raise ValueError(f'{path}: sha256 {digest} differs from {info["sha256"]} recorded in {info_path(path)}.')
  model = DigitClassifier(conv_features=tuple(info['model']['conv_features']),
                          feature_dim=info['model']['feature_dim'], num_classes=info['model']['num_classes'])
  return DomainClassifier(model, load_params(path), info['resolution'], info)


@functools.cache
def shipped_classifier(dataset: str) -> DomainClassifier | None:
  """The shipped classifier of `dataset`, loaded once per process; None when none is shipped."""
  return load_domain_classifier(dataset) if dataset in WEIGHTS_BY_DATASET else None


def frechet_distance(classifier: DomainClassifier, images1: ArrayLike, images2: ArrayLike) -> float:
  """FD between Gaussians fitted to the classifier's features of two image sets (`feature_metrics`' FID rules)."""
  return feature_metrics.frechet_distance_from_features(classifier.features(images1), classifier.features(images2))
