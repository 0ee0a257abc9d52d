"""The shipped digit classifier and its scores: its recorded accuracy and hash, Stacked-MNIST mode counting against
the true labels, digit scores of real and collapsed digits, and inputs at another resolution."""

import hashlib
import importlib.resources
import json

import jax
import numpy as np
import pytest

from gan_jax.data import images
from gan_jax.data.in_memory import StackedImages
from gan_jax.evaluation import digits


def to_unit_range(x):
  return x.astype(np.float32) / 127.5 - 1.0


@pytest.fixture(scope='module')
def test_digits(data_dir):
  x, y = images.load_images('sklearn_digits', 'test', data_dir, 32, 1, 'resize')
  return to_unit_range(x), y


@pytest.fixture(scope='module')
def train_digits(data_dir):
  x, y = images.load_images('sklearn_digits', 'train', data_dir, 32, 1, 'resize')
  return to_unit_range(x), y


@pytest.fixture(scope='module')
def classify():
  return digits.load_digit_classifier()


@pytest.fixture(scope='module')
def correct(classify, test_digits):
  """The test digits the classifier gets right: (images, labels)."""
  x, y = test_digits
  right = classify.predict(x) == y
  return x[right], y[right]


def test_shipped_classifier_reaches_its_recorded_test_accuracy(classify, test_digits):
  x, y = test_digits
  info = classify.info
  assert info['resolution'] == 32 and info['num_test'] == len(y) == 297 and info['num_train'] == 1500
  assert info['test_accuracy'] >= 0.97
  logits, features = classify(x)
  assert logits.shape == (297, 10) and features.shape == (297, info['model']['feature_dim'])
  assert abs(np.mean(np.argmax(logits, axis=1) == y) - info['test_accuracy']) <= 0.005


def test_recorded_sha256_is_that_of_the_weights():
  weights_dir = importlib.resources.files('gan_jax.evaluation') / 'weights'
  npz = (weights_dir / 'digits_classifier_r32.npz').read_bytes()
  info = json.loads((weights_dir / 'digits_classifier_r32.json').read_text())
  assert hashlib.sha256(npz).hexdigest() == info['sha256']
  assert len(npz) < 1_000_000
  for key in ('version', 'resolution', 'test_accuracy', 'num_train', 'num_test', 'seed', 'command', 'date'):
    assert key in info


def test_uint8_and_chunked_inputs_give_the_same_outputs(classify, data_dir, test_digits):
  x, _ = test_digits
  logits, features = classify(x)
  uint8, _ = images.load_images('sklearn_digits', 'test', data_dir, 32, 1, 'resize')
  np.testing.assert_allclose(classify(uint8)[0], logits, atol=1e-5)
  # 297 images in chunks of 100: three full chunks' shapes, the last one padded.
  chunked = digits.Classifier(classify.model, classify.params, classify.resolution, batch_size=100)
  np.testing.assert_allclose(chunked(x)[0], logits, atol=1e-5)
  np.testing.assert_allclose(chunked(x)[1], features, atol=1e-5)


def expected_mode_scores(labels):
  """Modes covered and KL(p || uniform over 1000) of stacked labels, from the labels alone."""
  counts = np.bincount(labels, minlength=1000)
  p = counts[counts > 0] / counts.sum()
  return len(p), float(np.sum(p * np.log(p / (1 / 1000))))


@pytest.mark.parametrize('num_triples, digits_used', [(3000, 10), (500, 3)])
def test_stacked_scores_match_the_true_labels(classify, correct, num_triples, digits_used):
  x, y = correct
  pool = np.flatnonzero(y < digits_used)
  # Triples drawn non-uniformly, so that the KL is far from 0 and its value tests the formula.
  weights = np.where(y[pool] % 2 == 0, 3.0, 1.0)
  rng = np.random.default_rng(digits_used)
  triples = rng.choice(pool, size=(num_triples, 3), p=weights / weights.sum())
  stacked, labels = StackedImages(x, y).stack_numpy(triples)
  assert stacked.shape == (num_triples, 32, 32, 3)

  np.testing.assert_array_equal(digits.stacked_modes(stacked, classify), labels)  # Channel order: 100 a + 10 b + c.
  scores = digits.stacked_scores(stacked, classify)
  modes, kl = expected_mode_scores(labels)
  assert scores['modes_covered'] == modes
  assert scores['kl_to_uniform'] == pytest.approx(kl, rel=1e-12)
  assert scores['num_samples'] == num_triples
  if digits_used == 3:
    assert modes == 27


def test_stacked_scores_of_a_collapsed_generator(classify, correct):
  x, y = correct
  one = np.repeat(np.concatenate([x[y == 7][:1], x[y == 0][:1], x[y == 4][:1]], axis=-1), 50, axis=0)
  scores = digits.stacked_scores(one, classify)
  assert scores['modes_covered'] == 1
  assert scores['kl_to_uniform'] == pytest.approx(np.log(1000), rel=1e-12)
  assert digits.stacked_modes(one[:1], classify)[0] == 704


def test_digit_scores_of_real_and_of_collapsed_digits(classify, train_digits, test_digits, correct):
  real = digits.digit_scores(train_digits[0], test_digits[0], classify)
  assert real['classifier_is'] > 9.5  # The maximum is 10: confident predictions, balanced classes.
  assert real['class_kl_to_uniform'] < 0.01

  x, y = correct
  threes = x[y == 3]  # Every one of them classified as a 3.
  collapsed = digits.digit_scores(threes, test_digits[0], classify)
  assert collapsed['classifier_is'] == pytest.approx(1.0, abs=0.1)
  assert collapsed['class_kl_to_uniform'] == pytest.approx(np.log(10), rel=1e-12)
  assert collapsed['classifier_fd'] > 10 * real['classifier_fd']
  assert collapsed['classifier_kid'] > 10 * real['classifier_kid']


def test_digits_at_16x16_are_resized_to_the_classifier(classify, data_dir, test_digits):
  x16, y = images.load_images('sklearn_digits', 'test', data_dir, 16, 1, 'resize')
  x16 = to_unit_range(x16)
  logits, features = classify(x16)
  assert logits.shape == (297, 10) and features.shape[0] == 297
  # Same as resizing first: the resize happens inside, to the classifier's resolution.
  resized = np.asarray(jax.image.resize(x16, (297, 32, 32, 1), 'bilinear', antialias=True))
  np.testing.assert_allclose(logits, classify(resized)[0], atol=1e-4)
  assert np.mean(np.argmax(logits, axis=1) == y) >= classify.info['test_accuracy'] - 0.02
  # The stacked path too: its modes are the single-digit predictions, channel by channel.
  predicted = np.argmax(logits, axis=1)
  triples = np.random.default_rng(0).integers(0, 297, size=(200, 3))
  stacked = np.concatenate([x16[triples[:, c]] for c in range(3)], axis=-1)
  np.testing.assert_array_equal(digits.stacked_modes(stacked, classify),
                                predicted[triples] @ np.array([100, 10, 1]))
