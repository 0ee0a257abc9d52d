"""Sample-quality scores computed from a feature extractor's outputs: FID-style Fréchet distance, KID and IS.

Every function takes numpy or JAX arrays of shape [num_samples, dim] (features) or [num_samples, num_classes]
(class predictions) from any extractor, and computes in float64 on the host.

Fréchet distance (Heusel et al. 2017), with the conventions of the reference implementations (TTUR, pytorch-fid):
  - Each feature set is fitted by its mean and its unbiased covariance, `np.cov(features, rowvar=False)` (N - 1).
  - FD = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr(sqrtm(sigma1 @ sigma2)), with `scipy.linalg.sqrtm`.
  - When the product is near singular, eps * I (eps = 1e-6) is added to both covariances inside the square root
    only, and it is taken again. The references test for a non-finite square root, which older scipy returned for
    singular products; scipy >= 1.16 returns a finite one with a `LinAlgWarning` instead, so either triggers it.
  - A complex square root loses its imaginary part when every diagonal entry's imaginary part is within 1e-3 of
    0; otherwise a ValueError names the largest imaginary component.

Kernel Inception Distance (Binkowski et al. 2018): the unbiased estimate of MMD^2 with the kernel
k(x, y) = (x.y / dim + 1)^3, on `num_subsets` pairs of subsets of `subset_size` samples drawn without
replacement, reported as the mean and the standard deviation (ddof = 0) over subsets, as in the reference code
and torch-fidelity. Being unbiased, it can be slightly negative when both sets come from one distribution.

Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), with p(y) the mean prediction of each of
`num_splits` consecutive splits, reported as the mean and standard deviation (ddof = 0) over splits.
"""

import warnings

import numpy as np
import scipy.linalg
import scipy.special
from absl import logging
from numpy.typing import ArrayLike

FD_EPS = 1e-6
FD_IMAGINARY_ATOL = 1e-3


def _as_features(features: ArrayLike, name: str) -> np.ndarray:
  features = np.asarray(features, np.float64)
  if features.ndim != 2:
    raise ValueError(f'{name} must have shape [num_samples, dim], got {features.shape}.')
  if not np.all(np.isfinite(features)):
    raise ValueError(f'{name} has non-finite values.')
  return features


def fit_gaussian(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
  """Fits a Gaussian to features as the FID references do.

  Args:
    features: [num_samples, dim] features, num_samples >= 2.

  Returns:
    (mu, sigma): the [dim] mean and the [dim, dim] unbiased (N - 1) covariance, float64.
  """
  features = _as_features(features, 'features')
  if len(features) < 2:
    raise ValueError(f'A covariance needs at least 2 samples, got {len(features)}.')
  # atleast_2d: np.cov returns a 0-d array for one feature.
  return features.mean(axis=0), np.atleast_2d(np.cov(features, rowvar=False))


def _sqrtm(matrix: np.ndarray) -> tuple[np.ndarray, bool]:
  """scipy's square root, and whether scipy flagged the matrix as singular or ill-conditioned."""
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always', scipy.linalg.LinAlgWarning)
    root = scipy.linalg.sqrtm(matrix)
  flagged = False
  for warning in caught:
    if issubclass(warning.category, scipy.linalg.LinAlgWarning):
      flagged = True
    else:
      warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
  return root, flagged


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
  """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), as in pytorch-fid / TTUR.

  Args:
    mu1: [dim] mean of the first Gaussian.
    sigma1: [dim, dim] covariance of the first Gaussian.
    mu2: [dim] mean of the second Gaussian.
    sigma2: [dim, dim] covariance of the second Gaussian.

  Returns:
    |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr(sqrtm(sigma1 @ sigma2)).

  Raises:
    ValueError: on mismatched shapes or non-finite inputs, or when the square root has a significant imaginary
      part (the covariances are not positive semi-definite).
  """
  mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
  sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
  dim = mu1.shape[0]
  if mu1.shape != (dim,) or mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
    raise ValueError(f'Shapes do not match: mu {mu1.shape}, {mu2.shape}; sigma {sigma1.shape}, {sigma2.shape}.')
  if not all(np.all(np.isfinite(x)) for x in (mu1, mu2, sigma1, sigma2)):
    raise ValueError('The means and covariances must be finite.')

  diff = mu1 - mu2
  covmean, flagged = _sqrtm(sigma1 @ sigma2)
  if flagged or not np.all(np.isfinite(covmean)):
    logging.warning('Fréchet distance: singular product of covariances; adding %g to their diagonals.', FD_EPS)
    offset = np.eye(dim) * FD_EPS
    covmean, _ = _sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if not np.all(np.isfinite(covmean)):
      raise ValueError('The square root of the covariances\' product is not finite, even with eps added.')

  # Rounding gives PSD products small imaginary parts; a large one means an input is not a covariance.
  if np.iscomplexobj(covmean):
    if not np.allclose(np.diagonal(covmean).imag, 0, atol=FD_IMAGINARY_ATOL):
      raise ValueError(f'Imaginary component {np.max(np.abs(covmean.imag))} in sqrtm(sigma1 @ sigma2).')
    covmean = covmean.real
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def frechet_distance_from_features(features1: ArrayLike, features2: ArrayLike) -> float:
  """Fréchet distance between Gaussians fitted to two feature sets (FID when the features are Inception's).

  Args:
    features1: [num_samples1, dim] features, e.g. of real data.
    features2: [num_samples2, dim] features, e.g. of generated samples.

  Returns:
    frechet_distance(*fit_gaussian(features1), *fit_gaussian(features2)).
  """
  return frechet_distance(*fit_gaussian(features1), *fit_gaussian(features2))


def _polynomial_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 with k(a, b) = (a.b / dim + 1)^3 between equally many samples x and y."""
  m, dim = x.shape
  k_xx = (x @ x.T / dim + 1) ** 3
  k_yy = (y @ y.T / dim + 1) ** 3
  k_xy = (x @ y.T / dim + 1) ** 3
  # Unbiased: the within-set sums leave out each sample's kernel with itself.
  within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
  return float(within - 2 * k_xy.mean())


def kernel_inception_distance(
    features1: ArrayLike,
    features2: ArrayLike,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int | np.random.Generator = 0,
) -> tuple[float, float]:
  """Kernel Inception Distance: unbiased polynomial-kernel MMD^2 averaged over random subsets.

  Args:
    features1: [num_samples1, dim] features, e.g. of real data.
    features2: [num_samples2, dim] features, e.g. of generated samples.
    num_subsets: how many pairs of subsets to average over.
    subset_size: samples per subset, clipped to min(num_samples1, num_samples2).
    seed: seed or numpy Generator that draws the subsets (without replacement).

  Returns:
    (mean, std) of MMD^2 over the subsets; std with ddof = 0. When both sets have the subsets' size, every subset is
    the whole set: the one estimate and std 0 (not a measure of its spread; use smaller subsets for that).
  """
  features1 = _as_features(features1, 'features1')
  features2 = _as_features(features2, 'features2')
  if features1.shape[1] != features2.shape[1]:
    raise ValueError(f'Feature dims differ: {features1.shape[1]} and {features2.shape[1]}.')
  m = min(len(features1), len(features2), subset_size)
  if m < 2:
    raise ValueError(f'The unbiased MMD needs subsets of at least 2 samples, got {m}.')
  if num_subsets < 1:
    raise ValueError(f'num_subsets must be positive, got {num_subsets}.')
  if m == len(features1) == len(features2):
    # Every subset would be a whole set, in another order: one estimate, and a spread of 0 that says nothing.
    return float(_polynomial_mmd2_unbiased(features1, features2)), 0.0
  rng = np.random.default_rng(seed)
  mmds = np.array([
      _polynomial_mmd2_unbiased(features1[rng.choice(len(features1), m, replace=False)],
                                features2[rng.choice(len(features2), m, replace=False)])
      for _ in range(num_subsets)
  ])
  return float(mmds.mean()), float(mmds.std())


def inception_score(predictions: ArrayLike, num_splits: int = 10, *, from_logits: bool = False) -> tuple[float, float]:
  """Inception Score exp(E_x KL(p(y|x) || p(y))) over consecutive splits, as in Salimans et al. 2016.

  Args:
    predictions: [num_samples, num_classes] class probabilities p(y|x), or logits if from_logits.
    num_splits: how many splits to score; split i holds samples [i N // num_splits, (i + 1) N // num_splits).
    from_logits: whether predictions are logits (a float64 log-softmax is applied).

  Returns:
    (mean, std) of the score over the splits; std with ddof = 0.
  """
  predictions = _as_features(predictions, 'predictions')
  n = len(predictions)
  if not 1 <= num_splits <= n:
    raise ValueError(f'num_splits must be in [1, {n}], got {num_splits}.')
  if from_logits:
    log_p = predictions - scipy.special.logsumexp(predictions, axis=1, keepdims=True)
  else:
    if np.any(predictions < 0) or not np.allclose(predictions.sum(axis=1), 1, atol=1e-2):
      raise ValueError('Probabilities must be non-negative and sum to 1 per row; pass from_logits=True for logits.')
    with np.errstate(divide='ignore'):
      log_p = np.log(predictions)
  p = np.exp(log_p)

  scores = []
  for i in range(num_splits):
    split = slice(i * n // num_splits, (i + 1) * n // num_splits)
    part_p, part_log_p = p[split], log_p[split]
    log_py = scipy.special.logsumexp(part_log_p, axis=0) - np.log(len(part_p))
    # 0 log 0 = 0: zero probabilities (and classes no sample of the split predicts) add nothing.
    safe_log_p = np.where(part_p > 0, part_log_p, 0.0)
    safe_log_py = np.where(np.isfinite(log_py), log_py, 0.0)
    kl = np.sum(part_p * (safe_log_p - safe_log_py), axis=1)
    scores.append(np.exp(kl.mean()))
  scores = np.array(scores)
  return float(scores.mean()), float(scores.std())
