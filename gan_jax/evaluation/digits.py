"""A small digit classifier and the scores it gives generators of digits and of stacked digits.

The unrolled GAN paper (Metz et al. 2017, sec. 3.3.1, Table 2) measures mode collapse on Stacked MNIST: three
digits stacked as the channels of one image, 1,000 modes (100 a + 10 b + c). A pretrained MNIST classifier labels
each channel of each generated sample (25,600 samples in all their experiments); they report the number of modes
with at least one sample and KL(model || data), the KL divergence from the generated mode histogram to the data's
uniform one. `stacked_scores` computes exactly these two numbers; `digit_scores` scores single digits with the
same classifier in place of Inception (IS, Fréchet distance, KID on its features, and the class histogram).

The shipped weights (`weights/digits_classifier_r32.npz` and its `.json`) are a small CNN trained on the offline
`sklearn_digits` at 32x32 by `train_digit_classifier.py`, which records their test accuracy in the JSON. They judge
digits as the GANs of this project see them: NHWC floats in [-1, 1], 1 channel, background -1. Inputs at another
resolution are resized to the classifier's bilinearly (antialiased when shrinking) inside the compiled function.
"""

import datetime
import functools
import hashlib
import importlib.resources
import json
import os
import sys
from typing import Any, Sequence

import flax
import flax.linen as nn
from flax import traverse_util
import jax
import jax.numpy as jnp
import numpy as np
import optax
from numpy.typing import ArrayLike

from gan_jax.evaluation import feature_metrics

NUM_CLASSES = 10
NUM_STACKED_MODES = NUM_CLASSES**3
PAPER_NUM_SAMPLES = 25_600  # Samples per evaluation in the unrolled GAN paper's Stacked MNIST experiments.
DEFAULT_WEIGHTS = 'digits_classifier_r32.npz'
# The shipped classifier of each TFDS dataset (trained on its train split; the JSON records held-out accuracy).
WEIGHTS_BY_DATASET = {
    'sklearn_digits': DEFAULT_WEIGHTS,
    'mnist': 'mnist_classifier_r28.npz',
    'fashion_mnist': 'fashion_mnist_classifier_r28.npz',
}
# A second classifier of a dataset, trained by the same command from another seed (`--seed 1`): a judge that a
# sampler climbing the first one's gradients never saw (PPGN's samples are scored by both).
INDEPENDENT_WEIGHTS_BY_DATASET = {
    'mnist': 'mnist_classifier_r28_seed1.npz',
    'fashion_mnist': 'fashion_mnist_classifier_r28_seed1.npz',
}
CHUNK_SIZE = 1024  # Images per compiled call: bounds memory for any number of samples.
SAMPLES_PER_IS_SPLIT = 1000  # IS splits hold at least this many samples (up to 10 splits), else p(y) is noisy.


class DigitClassifier(nn.Module):
  """images [N, R, R, 1] in [-1, 1] -> (logits [N, num_classes], features [N, feature_dim]).

  3x3 stride-2 convolutions with ReLU (32 -> 16 -> 8 -> 4 at R = 32), then one dense ReLU layer whose activations
  are the features (as Inception's pool features are for FID), then the logits. Strided convolutions rather than
  pooling: a max-pooling variant trained 8x slower on CPU. No batch norm: evaluation needs no state.
  """
  conv_features: Sequence[int] = (32, 64, 32)
  feature_dim: int = 128
  num_classes: int = NUM_CLASSES
  dropout_rate: float = 0.0  # On the features, in training only.

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    for width in self.conv_features:
      x = nn.relu(nn.Conv(width, (3, 3), strides=(2, 2))(x))
    features = nn.relu(nn.Dense(self.feature_dim)(x.reshape(x.shape[0], -1)))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(features)
    return nn.Dense(self.num_classes)(x), features


def info_path(weights_path: str | os.PathLike) -> str:
  """The JSON that describes a weights file: `x.npz` -> `x.json`."""
  return os.path.splitext(os.fspath(weights_path))[0] + '.json'


def sha256_of_file(path: str | os.PathLike) -> str:
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


def provenance(module: str) -> dict:
  """How a weights file was made, for the record beside it: the library versions, the command (`python -m module`
  and this process's arguments) and the UTC date."""
  return {'versions': {'jax': jax.__version__, 'flax': flax.__version__, 'optax': optax.__version__},
          'command': ' '.join([f'python -m {module}', *sys.argv[1:]]),
          'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}


def save_params(params: Any, path: str | os.PathLike) -> None:
  """Writes a parameter tree as an uncompressed .npz of its flattened paths ('Conv_0/kernel' -> array)."""
  flat = traverse_util.flatten_dict(jax.device_get(params), sep='/')
  # np.savez writes fixed zip timestamps: the same parameters give the same bytes, hence the same sha256.
  np.savez(path, **{key: np.asarray(value) for key, value in sorted(flat.items())})


def load_params(path: str | os.PathLike) -> dict:
  with np.load(path) as data:
    return traverse_util.unflatten_dict({key: data[key] for key in data.files}, sep='/')


def load_checked(path: str | os.PathLike) -> tuple[DigitClassifier, dict, dict]:
  """(the network, its parameters, the JSON record) of weights written by `save_params` with their record beside
  them, after checking the .npz against the sha256 the record holds (the digit and the domain classifiers' format).

  Raises:
    FileNotFoundError: the .npz or its .json is missing.
    ValueError: the .npz's sha256 is not the one its JSON records (the two are from different runs).
  """
  with open(info_path(path)) as f:
    info = json.load(f)
  digest = sha256_of_file(path)
  if digest != info['sha256']:
    raise ValueError(f'{path}: sha256 {digest} differs from {info["sha256"]} recorded in {info_path(path)}.')
  model = DigitClassifier(conv_features=tuple(info['model']['conv_features']),
                          feature_dim=info['model']['feature_dim'], num_classes=info['model']['num_classes'])
  return model, load_params(path), info


def _preprocess(images: jax.Array, resolution: int) -> jax.Array:
  """uint8 [0, 255] or float [-1, 1] NHWC -> float32 [-1, 1] at the classifier's resolution."""
  x = images.astype(jnp.float32) / 127.5 - 1.0 if images.dtype == jnp.uint8 else images.astype(jnp.float32)
  if x.shape[1:3] != (resolution, resolution):
    x = jax.image.resize(x, (x.shape[0], resolution, resolution, 1), method='bilinear', antialias=True)
  return x


class Classifier:
  """A loaded DigitClassifier: `classify(images) -> (logits [N, 10], features [N, F])` as float32 numpy arrays.

  Images: NHWC with 1 channel, floats in [-1, 1] (a generator's output) or uint8 in [0, 255], any height and width.
  They are classified in chunks of `batch_size`; each chunk is padded to a power of two (at most `batch_size`) so
  that few shapes are ever compiled.
  """

  def __init__(self, model: DigitClassifier, params: Any, resolution: int, info: dict | None = None,
               batch_size: int = CHUNK_SIZE):
    self.model = model
    self.params = jax.device_put(params)
    self.resolution = resolution
    self.info = info or {}
    self.batch_size = batch_size

    def forward(params, images):
      return model.apply({'params': params}, _preprocess(images, resolution))

    self._forward = jax.jit(forward)

  def __call__(self, images: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    images = images if isinstance(images, jax.Array) else np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 1:
      raise ValueError(f'Expected grayscale images of shape [N, H, W, 1], got {images.shape}.')
    n = images.shape[0]
    if n == 0:
      raise ValueError('No images to classify.')
    logits, features = [], []
    for start in range(0, n, self.batch_size):
      chunk = images[start:start + self.batch_size]
      size = min(self.batch_size, 1 << (len(chunk) - 1).bit_length())
      padded = jnp.pad(jnp.asarray(chunk), ((0, size - len(chunk)), (0, 0), (0, 0), (0, 0)))
      chunk_logits, chunk_features = jax.device_get(self._forward(self.params, padded))
      logits.append(chunk_logits[:len(chunk)])
      features.append(chunk_features[:len(chunk)])
    return np.concatenate(logits), np.concatenate(features)

  def predict(self, images: ArrayLike) -> np.ndarray:
    """The predicted digit of each image: int64 [N]."""
    return np.argmax(self(images)[0], axis=1)


def load_digit_classifier(path: str | os.PathLike | None = None, batch_size: int = CHUNK_SIZE) -> Classifier:
  """Loads classifier weights written by `train_digit_classifier` (an .npz and the .json beside it).

  Args:
    path: the .npz; a key of `WEIGHTS_BY_DATASET` for that dataset's shipped classifier; None for
      `weights/digits_classifier_r32.npz` (scikit-learn's digits).
    batch_size: images per compiled call.

  Returns:
    A `Classifier`: `classify(images) -> (logits, features)`; its `info` is the JSON.

  Raises:
    FileNotFoundError: the .npz or its .json is missing.
    ValueError: the .npz's sha256 is not the one its JSON records (the two are from different runs).
  """
  if path is None or path in WEIGHTS_BY_DATASET:
    resource = importlib.resources.files(__package__) / 'weights' / WEIGHTS_BY_DATASET.get(path, DEFAULT_WEIGHTS)
    with importlib.resources.as_file(resource) as local:
      return load_digit_classifier(local, batch_size)
  model, params, info = load_checked(path)
  return Classifier(model, params, info['resolution'], info, batch_size)


def load_independent_classifier(dataset: str, batch_size: int = CHUNK_SIZE) -> Classifier:
  """The second shipped classifier of `dataset` (`INDEPENDENT_WEIGHTS_BY_DATASET`), loaded as
  `load_digit_classifier` loads the first; a KeyError listing the datasets that have one."""
  if dataset not in INDEPENDENT_WEIGHTS_BY_DATASET:
    raise KeyError(f'no independent classifier is shipped for {dataset!r}; datasets with one: '
                   f'{", ".join(INDEPENDENT_WEIGHTS_BY_DATASET)}')
  resource = importlib.resources.files(__package__) / 'weights' / INDEPENDENT_WEIGHTS_BY_DATASET[dataset]
  with importlib.resources.as_file(resource) as local:
    return load_digit_classifier(local, batch_size)


@functools.cache
def default_classifier() -> Classifier:
  """The shipped classifier, loaded (and compiled) once per process."""
  return load_digit_classifier()


def _kl_to_uniform(labels: np.ndarray, num_classes: int) -> float:
  """KL(p || uniform) of the histogram p of labels: sum_i p_i log(num_classes p_i), with 0 log 0 = 0."""
  p = np.bincount(labels, minlength=num_classes) / len(labels)
  p = p[p > 0]
  return float(np.sum(p * np.log(num_classes * p)))


def digit_scores(generated: ArrayLike, real: ArrayLike, classify: Classifier | None = None, num_is_splits:
                 int | None = None, kid: bool = True) -> dict[str, float]:
  """Scores generated single digits with the digit classifier in place of Inception.

  Args:
    generated: [N, H, W, 1] generated digits in [-1, 1] (or uint8), N >= 2.
    real: [M, H', W', 1] real digits, the reference of the Fréchet distance and KID.
    classify: a `Classifier`; None for the shipped one.
    num_is_splits: splits of the Inception Score; None for N // 1000 clipped to [1, 10].
    kid: whether to compute the KID (100 subsets of min(N, M, 1000) samples).

  Returns:
    'classifier_is', 'classifier_is_std': the Inception Score of the classifier's predictions (at most 10: one
      confident class per sample, classes equally frequent) and its std over splits;
    'classifier_fd': the Fréchet distance between Gaussians fitted to the features of generated and real digits;
    'classifier_kid', 'classifier_kid_std' (if kid): the KID on those features;
    'class_kl_to_uniform': KL(p || uniform over 10) of the histogram p of predicted classes, 0 for balanced
      classes, log 10 when every sample gets the same class.
  """
  classify = classify or default_classifier()
  gen_logits, gen_features = classify(generated)
  _, real_features = classify(real)
  n = len(gen_logits)
  if num_is_splits is None:
    num_is_splits = int(np.clip(n // SAMPLES_PER_IS_SPLIT, 1, 10))
  is_mean, is_std = feature_metrics.inception_score(gen_logits, num_is_splits, from_logits=True)
  scores = {
      'classifier_is': is_mean,
      'classifier_is_std': is_std,
      'classifier_fd': feature_metrics.frechet_distance_from_features(real_features, gen_features),
      'class_kl_to_uniform': _kl_to_uniform(np.argmax(gen_logits, axis=1), NUM_CLASSES),
  }
  if kid:
    scores['classifier_kid'], scores['classifier_kid_std'] = feature_metrics.kernel_inception_distance(
        real_features, gen_features)
  return scores


def stacked_modes(images: ArrayLike, classify: Classifier | None = None) -> np.ndarray:
  """The mode of each stacked-digit image: 100 a + 10 b + c for the digits a, b, c predicted in channels 0, 1, 2.

  Args:
    images: [N, H, W, 3], each channel one digit in [-1, 1] (or uint8).
    classify: a `Classifier`; None for the shipped one.

  Returns:
    int64 [N] in [0, 1000), the labelling of `StackedImages`.
  """
  classify = classify or default_classifier()
  images = np.asarray(images)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f'Expected stacked digits of shape [N, H, W, 3], got {images.shape}.')
  # Channel-major: [3, N, H, W, 1], so the three digits of sample i are predictions i, N + i and 2N + i.
  channels = np.moveaxis(images, -1, 0)[..., None].reshape(-1, *images.shape[1:3], 1)
  digits = classify.predict(channels).reshape(3, -1)
  return 100 * digits[0] + 10 * digits[1] + digits[2]


def stacked_scores(generated: ArrayLike, classify: Classifier | None = None) -> dict[str, float]:
  """Mode coverage of generated stacked digits, counted as in the unrolled GAN paper (Metz et al. 2017, Table 2).

  The paper draws 25,600 samples (`PAPER_NUM_SAMPLES`); pass that many for comparable numbers, since both scores
  depend on the sample count (fewer samples see fewer modes).

  Args:
    generated: [N, H, W, 3] generated stacked digits in [-1, 1] (or uint8).
    classify: a `Classifier`; None for the shipped one.

  Returns:
    'modes_covered': how many of the 1,000 modes have at least one sample;
    'kl_to_uniform': KL(p_model || p_data) = sum_m p(m) log(1000 p(m)), with p the generated mode histogram and
      p_data uniform over the 1,000 modes, modes without samples adding 0 (the paper's direction: the other one,
      KL(p_data || p_model), is infinite whenever a mode is missed). 0 for a perfectly uniform histogram,
      log 1000 ~ 6.91 when every sample has the same mode;
    'num_samples': N.
  """
  modes = stacked_modes(generated, classify)
  return {
      'modes_covered': int(np.unique(modes).size),
      'kl_to_uniform': _kl_to_uniform(modes, NUM_STACKED_MODES),
      'num_samples': int(modes.size),
  }
