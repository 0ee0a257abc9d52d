"""Fréchet distance, KID and Inception Score against closed forms, hand-computed cases and second methods."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from gan_jax.evaluation.feature_metrics import (fit_gaussian, frechet_distance, frechet_distance_from_features,
                                                inception_score, kernel_inception_distance)


def random_spd(rng, dim):
  a = rng.normal(size=(dim, dim))
  return a @ a.T / dim + 0.1 * np.eye(dim)


def test_fd_of_diagonal_gaussians_has_closed_form():
  rng = np.random.default_rng(0)
  mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
  a, b = rng.uniform(0.1, 3.0, size=5), rng.uniform(0.1, 3.0, size=5)
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  np.testing.assert_allclose(frechet_distance(mu1, np.diag(a), mu2, np.diag(b)), expected, rtol=1e-10)


def test_fd_of_one_dim_gaussians_is_squared_mean_and_std_gaps():
  np.testing.assert_allclose(frechet_distance(1.0, 4.0, -2.0, 9.0), 3.0 ** 2 + (2.0 - 3.0) ** 2, rtol=1e-12)


def test_fd_of_non_commuting_covariances_matches_two_other_methods():
  rng = np.random.default_rng(1)
  dim = 6
  mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
  s1, s2 = random_spd(rng, dim), random_spd(rng, dim)
  assert not np.allclose(s1 @ s2, s2 @ s1)
  fd = frechet_distance(mu1, s1, mu2, s2)

  mean_term = np.sum((mu1 - mu2) ** 2)
  direct = mean_term + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
  np.testing.assert_allclose(fd, direct, rtol=1e-10)

  # Symmetric form tr(s1 + s2 - 2 (s1^1/2 s2 s1^1/2)^1/2), by eigendecompositions only.
  w, v = np.linalg.eigh(s1)
  root1 = v @ np.diag(np.sqrt(w)) @ v.T
  inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
  symmetric = mean_term + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(inner))
  np.testing.assert_allclose(fd, symmetric, rtol=1e-9)


def test_fit_gaussian_uses_the_unbiased_covariance():
  mu, sigma = fit_gaussian(np.array([[0.0], [2.0]]))
  np.testing.assert_allclose(mu, [1.0])
  np.testing.assert_allclose(sigma, [[2.0]])  # (1 + 1) / (N - 1), not / N.
  x = np.random.default_rng(2).normal(size=(7, 3))
  centred = x - x.mean(axis=0)
  mu, sigma = fit_gaussian(jnp.asarray(x, jnp.float32))
  assert mu.dtype == sigma.dtype == np.float64
  np.testing.assert_allclose(sigma, centred.T @ centred / 6, rtol=1e-6)


def test_fd_of_features_with_themselves_is_zero_and_matches_fitted_gaussians():
  rng = np.random.default_rng(3)
  f1 = rng.normal(size=(400, 8)) @ rng.normal(size=(8, 8))
  f2 = (rng.normal(size=(300, 8)) + 0.5).astype(np.float32)  # Exact in JAX's default float32.
  assert abs(frechet_distance_from_features(f1, f1)) < 1e-8
  np.testing.assert_allclose(frechet_distance_from_features(f1, jnp.asarray(f2)),
                             frechet_distance(*fit_gaussian(f1), *fit_gaussian(f2)), rtol=1e-12)
  assert frechet_distance_from_features(f1, f2) > 1.0


def test_fd_is_finite_with_fewer_samples_than_dims():
  rng = np.random.default_rng(4)
  f1, f2 = rng.normal(size=(5, 10)), rng.normal(size=(5, 10))
  assert np.isfinite(frechet_distance_from_features(f1, f2))
  assert abs(frechet_distance_from_features(f1, f1)) < 1e-5


def test_fd_with_a_constant_feature_retries_with_eps(caplog):
  rng = np.random.default_rng(5)
  f1, f2 = rng.normal(size=(200, 3)), rng.normal(size=(200, 3)) @ random_spd(rng, 3) + 1.0
  with_constant1 = np.concatenate([f1, np.full((200, 1), 3.0)], axis=1)
  with_constant2 = np.concatenate([f2, np.full((200, 1), 1.0)], axis=1)
  # The constant dims' covariance is exactly singular: scipy flags it, and eps only perturbs the sqrt term.
  np.testing.assert_allclose(frechet_distance_from_features(with_constant1, with_constant2),
                             frechet_distance_from_features(f1, f2) + (3.0 - 1.0) ** 2, atol=1e-4)
  assert 'adding 1e-06 to their diagonals' in caplog.text


def test_fd_drops_small_imaginary_parts_and_rejects_large_ones():
  # sqrt(-1e-8) = 1e-4 j is within the 1e-3 tolerance; its real part is 0.
  np.testing.assert_allclose(frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.diag([1.0, -1e-8])),
                             1.0 - 1e-8, rtol=1e-12)
  with pytest.raises(ValueError, match=r'Imaginary component 0\.0031'):  # sqrt(1e-5) = 0.00316.
    frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.diag([1.0, -1e-5]))
  with pytest.raises(ValueError, match='Imaginary component'):
    frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.diag([1.0, -1.0]))


def test_fd_rejects_mismatched_shapes():
  with pytest.raises(ValueError, match='Shapes'):
    frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def explicit_kid(x, y):
  """Unbiased polynomial-kernel MMD^2, one pair at a time."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  m, dim = x.shape
  k = lambda a, b: (float(np.dot(a, b)) / dim + 1.0) ** 3
  xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
  return xx + yy - 2 * xy


def test_kid_with_one_subset_of_all_samples_matches_the_explicit_formula():
  rng = np.random.default_rng(6)
  x, y = rng.normal(size=(8, 3)), (rng.normal(size=(8, 3)) + 0.3).astype(np.float32)
  mean, std = kernel_inception_distance(x, jnp.asarray(y), num_subsets=1, seed=0)  # subset_size clips to 8.
  np.testing.assert_allclose(mean, explicit_kid(x, y), rtol=1e-10)
  assert std == 0.0
  # More subsets of all the samples are the same estimate, not a spread.
  assert kernel_inception_distance(x, y, num_subsets=100, seed=3) == (mean, 0.0)
  # Subsets smaller than the sets do spread.
  assert kernel_inception_distance(x, y, num_subsets=10, subset_size=6, seed=3)[1] > 0


def test_kid_is_near_zero_for_one_distribution_and_larger_when_shifted():
  rng = np.random.default_rng(7)
  x, y, shifted = rng.normal(size=(3, 600, 16))
  same_mean, same_std = kernel_inception_distance(x, y, num_subsets=20, subset_size=200, seed=0)
  shifted_mean, shifted_std = kernel_inception_distance(x, shifted + 0.5, num_subsets=20, subset_size=200, seed=0)
  assert abs(same_mean) < 3 * same_std + 1e-3
  assert shifted_mean > 0.05 and shifted_mean > 10 * shifted_std
  assert shifted_mean > 20 * abs(same_mean)
  # Unbiased: some single-subset estimates for one distribution fall below 0.
  singles = [kernel_inception_distance(x, y, num_subsets=1, subset_size=50, seed=s)[0] for s in range(10)]
  assert min(singles) < 0 < max(singles)


def test_kid_subsets_follow_the_seed():
  rng = np.random.default_rng(8)
  x, y = rng.normal(size=(2, 100, 4))
  first = kernel_inception_distance(x, y, num_subsets=5, subset_size=30, seed=np.random.default_rng(1))
  assert first == kernel_inception_distance(x, y, num_subsets=5, subset_size=30, seed=1)
  assert first != kernel_inception_distance(x, y, num_subsets=5, subset_size=30, seed=2)


def test_is_of_balanced_confident_predictions_is_the_number_of_classes():
  labels = np.arange(100) % 5  # Every split of 10 holds each class twice.
  mean, std = inception_score(np.eye(5)[labels])
  np.testing.assert_allclose(mean, 5.0, rtol=1e-12)
  assert std < 1e-12
  # Confident logits: softmax in float64 without overflow.
  mean, _ = inception_score(1000.0 * np.eye(5)[labels], from_logits=True)
  np.testing.assert_allclose(mean, 5.0, rtol=1e-12)


def test_is_of_identical_predictions_is_one():
  mean, std = inception_score(np.tile([0.2, 0.3, 0.5], (40, 1)), num_splits=4)
  np.testing.assert_allclose([mean, std], [1.0, 0.0], atol=1e-12)


def test_is_of_a_hand_computed_case():
  # p(y) = (3/4, 1/4); KL = log(4/3) and (1/2) log(4/3), so IS = exp((3/4) log(4/3)).
  probs = np.array([[1.0, 0.0], [0.5, 0.5]])
  np.testing.assert_allclose(inception_score(probs, num_splits=1)[0], (4 / 3) ** 0.75, rtol=1e-12)
  logits = np.log(probs + 1e-300) + np.array([[7.0], [-3.0]])  # A per-row shift leaves the softmax unchanged.
  np.testing.assert_allclose(inception_score(jnp.asarray(logits), num_splits=1, from_logits=True)[0],
                             (4 / 3) ** 0.75, rtol=1e-12)


def test_is_scores_splits_separately():
  # Split 1: one class throughout (IS 1); split 2: two classes half and half (IS 2).
  probs = np.eye(2)[[0, 0, 0, 0, 0, 1, 0, 1]]
  mean, std = inception_score(probs, num_splits=2)
  np.testing.assert_allclose([mean, std], [1.5, 0.5], rtol=1e-12)


def test_is_rejects_logits_passed_as_probabilities():
  with pytest.raises(ValueError, match='from_logits'):
    inception_score(np.array([[2.0, -1.0], [0.5, 0.3]]), num_splits=1)
