"""How well a categorical code separates classes, e.g. InfoGAN's 10-way code on digits (Chen et al. 2016, 5.2).

A code is unsupervised, so its values carry no label names: the score is the accuracy of the best one-to-one
assignment of code values to labels, found by the Hungarian algorithm on the code-label confusion matrix.
"""

import numpy as np
import scipy.optimize


def _confusion(codes: np.ndarray, labels: np.ndarray, num_codes: int, num_labels: int) -> np.ndarray:
  codes, labels = np.asarray(codes).ravel(), np.asarray(labels).ravel()
  if codes.shape != labels.shape or codes.size == 0:
    raise ValueError(f'codes and labels must be non-empty and of one length, got {codes.size} and {labels.size}')
  if codes.min() < 0 or codes.max() >= num_codes:
    raise ValueError(f'codes must lie in [0, {num_codes}), got values in [{codes.min()}, {codes.max()}]')
  if labels.min() < 0 or labels.max() >= num_labels:
    raise ValueError(f'labels must lie in [0, {num_labels}), got values in [{labels.min()}, {labels.max()}]')
  counts = np.bincount(codes.astype(np.int64) * num_labels + labels.astype(np.int64), minlength=num_codes * num_labels)
  return counts.reshape(num_codes, num_labels)


def best_mapping_accuracy(codes: np.ndarray, labels: np.ndarray, num_codes: int,
                          num_labels: int) -> tuple[float, dict[int, int]]:
  """The accuracy of the best one-to-one assignment of code values to labels.

  With num_codes != num_labels the assignment is the best partial matching: min(num_codes, num_labels) pairs, and
  samples whose code or label is left unmatched count as wrong.

  Args:
    codes: integer codes [N], in [0, num_codes).
    labels: integer labels [N], in [0, num_labels).
    num_codes: the number of code values.
    num_labels: the number of classes.

  Returns:
    (accuracy, mapping): the fraction of samples whose code maps to their label, and the mapping as a dict
    code -> label.
  """
  confusion = _confusion(codes, labels, num_codes, num_labels)
  rows, cols = scipy.optimize.linear_sum_assignment(confusion, maximize=True)
  accuracy = float(confusion[rows, cols].sum() / confusion.sum())
  return accuracy, {int(r): int(c) for r, c in zip(rows, cols)}


def chance_accuracy(labels: np.ndarray, num_codes: int, num_labels: int, codes: np.ndarray | None = None,
                    num_permutations: int = 20, seed: int = 0) -> float:
  """The best-mapping accuracy expected of codes independent of the labels.

  The naive figure is 1/K for K balanced classes, but the best mapping is chosen after seeing the data, so on a
  finite sample it fits the noise and scores above 1/K (and at least about the largest class fraction when the codes
  are unbalanced). This is estimated instead as the mean best-mapping accuracy over `num_permutations` random
  permutations of `codes` (which keeps the codes' histogram and breaks their link to the labels), or, without
  `codes`, over codes drawn uniformly from [0, num_codes).

  Args:
    labels: integer labels [N], in [0, num_labels).
    num_codes: the number of code values.
    num_labels: the number of classes.
    codes: integer codes [N] whose link to the labels is broken by permuting; None to draw uniform codes.
    num_permutations: the number of random draws averaged.
    seed: the seed of the draws.

  Returns:
    The mean accuracy, a float.
  """
  labels = np.asarray(labels).ravel()
  rng = np.random.default_rng(seed)
  accuracies = []
  for _ in range(num_permutations):
    if codes is None:
      null_codes = rng.integers(0, num_codes, size=labels.size)
    else:
      null_codes = rng.permutation(np.asarray(codes).ravel())
    accuracies.append(best_mapping_accuracy(null_codes, labels, num_codes, num_labels)[0])
  return float(np.mean(accuracies))
