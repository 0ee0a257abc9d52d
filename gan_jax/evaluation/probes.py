"""How well learned features serve a classifier of the labels: a linear probe fitted on frozen features.

The autoencoders' codes and a deep belief net's top-layer features are judged the same way, beside the same probe on
the raw pixels, so that one number says whether the unsupervised model made the classes easier to separate.
"""

import warnings

import numpy as np

PROBE_TRAIN_IMAGES = 5000  # Training images the probes fit on (at most; eval.num_samples bounds it too).
# L-BFGS iterations of each probe: the same budget for every feature set (codes, pixels, untrained features).
PROBE_MAX_ITER = 500


def probe_accuracy(train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray,
                   test_labels: np.ndarray) -> float:
  """The test accuracy of a multinomial logistic regression (scikit-learn, L2 with C = 1, L-BFGS for
  `PROBE_MAX_ITER` iterations) fitted on the training features.

  Args:
    train_features: [N, D] features of the training images.
    train_labels: [N] their integer labels.
    test_features: [M, D] features of the test images.
    test_labels: [M] their labels.

  Returns:
    The fraction of test images classified correctly.
  """
  from sklearn.exceptions import ConvergenceWarning
  from sklearn.linear_model import LogisticRegression
  with warnings.catch_warnings():
    # A fixed budget, the same for every feature set; an unconverged fit is still a valid (weaker) probe.
    warnings.simplefilter('ignore', ConvergenceWarning)
    probe = LogisticRegression(max_iter=PROBE_MAX_ITER).fit(np.asarray(train_features, np.float64), train_labels)
  return float(probe.score(np.asarray(test_features, np.float64), test_labels))
