"""How well learned features serve a classifier of the labels: a linear probe fitted on frozen features, and a
sigmoid network fine-tuned from learned weights.

The autoencoders' codes and a deep belief net's top-layer features are judged by the same probe, beside the same
probe on the raw pixels, so that one number says whether the unsupervised model made the classes easier to separate.
Fine-tuning asks the other question of pre-training (Hinton, Osindero & Teh 2006; Bengio et al. 2007; Erhan et al.
2010): whether the learned weights are a better starting point for a supervised network than random ones, trained
for the same steps on the same batches (`fine_tune` from both, then `accuracy`).
"""

import functools
from typing import Sequence
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax

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


def glorot_layers(key: jax.Array, widths: Sequence[int]) -> list[dict[str, jax.Array]]:
  """Dense layers {'W': [widths[i], widths[i+1]], 'c': zeros} with Glorot & Bengio's uniform weights, the usual
  initialisation of a sigmoid network trained from scratch."""
  keys = jax.random.split(key, len(widths) - 1)
  init = jax.nn.initializers.glorot_uniform()
  return [{'W': init(k, (n_in, n_out), jnp.float32), 'c': jnp.zeros((n_out,), jnp.float32)}
          for k, n_in, n_out in zip(keys, widths[:-1], widths[1:])]


def mlp_logits(layers: Sequence[dict[str, jax.Array]], x: jax.Array) -> jax.Array:
  """The classifier: sigmoid(x W + c) for each layer but the last, whose x W + c are the class logits."""
  for layer in layers[:-1]:
    x = jax.nn.sigmoid(x @ layer['W'] + layer['c'])
  return x @ layers[-1]['W'] + layers[-1]['c']


@functools.partial(jax.jit, static_argnames=('steps', 'batch_size', 'learning_rate'))
def fine_tune(layers: Sequence[dict[str, jax.Array]], train_x: jax.Array, train_labels: jax.Array, key: jax.Array, *,
              steps: int, batch_size: int, learning_rate: float) -> list[dict[str, jax.Array]]:
  """`layers` (all of them, the softmax layer included) trained jointly by Adam on the softmax cross-entropy of
  batches drawn uniformly, with replacement, from the training set (batch t from `fold_in(key, t)`).

  Args:
    layers: the classifier's initial layers (`mlp_logits`).
    train_x: [N, D] the training inputs.
    train_labels: [N] their integer labels.
    key: the batches' key.
    steps: Adam steps (one `lax.scan`).
    batch_size: examples per step.
    learning_rate: Adam's rate (its other settings optax's defaults).

  Returns:
    The trained layers.
  """
  tx = optax.adam(learning_rate)

  def loss(layers, x, y):
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(mlp_logits(layers, x), y))

  def step(carry, t):
    layers, opt_state = carry
    rows = jax.random.randint(jax.random.fold_in(key, t), (batch_size,), 0, train_x.shape[0])
    grads = jax.grad(loss)(layers, train_x[rows], train_labels[rows])
    updates, opt_state = tx.update(grads, opt_state, layers)
    return (optax.apply_updates(layers, updates), opt_state), None

  layers = list(layers)
  (layers, _), _ = jax.lax.scan(step, (layers, tx.init(layers)), jnp.arange(steps))
  return layers


def accuracy(layers: Sequence[dict[str, jax.Array]], x: jax.Array, labels: np.ndarray) -> float:
  """The fraction of `x` the classifier `layers` labels correctly."""
  return float(np.mean(np.asarray(jnp.argmax(mlp_logits(layers, x), axis=-1)) == np.asarray(labels)))
