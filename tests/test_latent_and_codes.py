"""Latent walks, InfoGAN's mutual-information bound against closed forms, and the code-to-label accuracy."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats

from gan_jax import latent_space
from gan_jax import mutual_information as mi
from gan_jax.evaluation import codes as codes_lib

# ---- latent_space ----


def unit(v):
  return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_lerp_shapes_and_values():
  z0, z1 = np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)
  assert latent_space.lerp(z0, z1, 0.25).shape == (2, 3)
  out = latent_space.lerp(z0, z1, jnp.array([0.0, 0.5, 1.0]))
  assert out.shape == (3, 2, 3)
  np.testing.assert_allclose(out[:, 0, 0], [0.0, 0.5, 1.0])


def test_slerp_of_orthogonal_unit_vectors_stays_on_the_circle():
  z0, z1 = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
  t = jnp.linspace(0, 1, 9)
  path = np.asarray(latent_space.slerp(z0, z1, t))
  np.testing.assert_allclose(path[0], z0, atol=1e-6)
  np.testing.assert_allclose(path[-1], z1, atol=1e-6)
  np.testing.assert_allclose(path[4], (z0 + z1) / np.sqrt(2), atol=1e-6)
  np.testing.assert_allclose(np.linalg.norm(path, axis=-1), 1.0, atol=1e-6)
  # Equal steps in t are equal angles: t * pi/2 from z0.
  np.testing.assert_allclose(np.arccos(np.clip(path @ z0, -1, 1)), np.asarray(t) * np.pi / 2, atol=1e-3)


def test_slerp_batched_matches_the_formula_per_vector():
  rng = np.random.default_rng(0)
  z0, z1 = rng.normal(size=(4, 16)).astype(np.float32), rng.normal(size=(4, 16)).astype(np.float32)
  t = np.array([0.0, 0.3, 1.0], np.float32)
  out = np.asarray(latent_space.slerp(z0, z1, t))
  assert out.shape == (3, 4, 16)
  for i in range(4):
    omega = np.arccos(np.dot(unit(z0[i]), unit(z1[i])))
    for j, tj in enumerate(t):
      expected = (np.sin((1 - tj) * omega) * z0[i] + np.sin(tj * omega) * z1[i]) / np.sin(omega)
      np.testing.assert_allclose(out[j, i], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('scale', [1.0, 3.0, -2.0, 0.0])
def test_slerp_of_parallel_or_zero_vectors_falls_back_to_lerp(scale):
  z0 = np.array([0.6, -0.8, 2.0], np.float32)
  z1 = scale * z0
  t = jnp.linspace(0, 1, 5)
  out = latent_space.slerp(z0, z1, t)
  assert np.all(np.isfinite(out))
  np.testing.assert_allclose(out, latent_space.lerp(z0, z1, t), rtol=1e-6, atol=1e-6)
  grads = jax.grad(lambda a, b: latent_space.slerp(a, b, 0.3).sum(), argnums=(0, 1))(z0, z1)
  assert all(np.all(np.isfinite(g)) for g in grads)


def test_interpolate_includes_endpoints_and_checks_method():
  rng = np.random.default_rng(1)
  z0, z1 = rng.normal(size=8).astype(np.float32), rng.normal(size=8).astype(np.float32)
  for method in ('slerp', 'linear'):
    path = latent_space.interpolate(z0, z1, 7, method)
    assert path.shape == (7, 8)
    np.testing.assert_allclose(path[0], z0, atol=1e-5)
    np.testing.assert_allclose(path[-1], z1, atol=1e-5)
  np.testing.assert_allclose(latent_space.interpolate(z0, z1, 3, 'linear')[1], (z0 + z1) / 2, atol=1e-6)
  with pytest.raises(ValueError, match=r"method.*'slerp'.*'linear'.*'cubic'"):
    latent_space.interpolate(z0, z1, 3, 'cubic')


def test_vector_arithmetic_by_hand():
  a = np.array([[1.0, 2.0], [3.0, 4.0]])  # mean [2, 3]
  b = np.array([[1.0, 1.0]])
  c = np.array([[0.0, 3.0], [2.0, 3.0], [4.0, 3.0]])  # mean [2, 3]
  out = latent_space.vector_arithmetic(a, b, c)
  assert out.shape == (2,)
  np.testing.assert_allclose(out, [3.0, 5.0])


# ---- mutual_information ----


def test_gaussian_channel_bound_equals_the_mutual_information():
  # c ~ N(0, 1), x = c + n, n ~ N(0, s^2): I(c; x) = 0.5 log(1 + 1/s^2); the true posterior makes the bound tight.
  s, n = 0.5, 200_000
  kc, kn = jax.random.split(jax.random.key(0))
  c = jax.random.normal(kc, (n, 1))
  x = c + s * jax.random.normal(kn, (n, 1))
  log_std = 0.5 * np.log(s**2 / (1 + s**2))
  entropy = mi.gaussian_entropy(1.0, 1)
  assert entropy == pytest.approx(0.5 * np.log(2 * np.pi * np.e))
  bound = mi.mi_lower_bound(mi.gaussian_code_nll(x / (1 + s**2), c, log_std), entropy)
  assert float(bound) == pytest.approx(0.5 * np.log(1 + 1 / s**2), abs=1e-2)
  worse = mi.mi_lower_bound(mi.gaussian_code_nll(0.5 * x, c, log_std), entropy)
  assert float(worse) < float(bound) - 0.05


def test_categorical_symmetric_channel_bound_equals_the_mutual_information():
  k, p, n = 4, 0.7, 200_000
  rng = np.random.default_rng(0)
  c = rng.integers(0, k, size=n)
  # A wrong symbol is uniform over the other k - 1: shift c by 1..k-1.
  x = np.where(rng.random(n) < p, c, (c + rng.integers(1, k, size=n)) % k)
  posterior = np.full((k, k), (1 - p) / (k - 1))
  np.fill_diagonal(posterior, p)  # Q(c | x) with a uniform prior and a symmetric channel.
  logits = np.log(posterior[x]).astype(np.float32)
  bound = mi.mi_lower_bound(mi.categorical_code_nll(logits, c), mi.categorical_entropy(k))
  expected = np.log(k) + p * np.log(p) + (1 - p) * np.log((1 - p) / (k - 1))
  assert float(bound) == pytest.approx(expected, abs=1e-2)


def test_nlls_against_scipy():
  rng = np.random.default_rng(2)
  mean, codes = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
  log_std = rng.normal(size=(5, 3)) * 0.3
  expected = -np.mean(np.sum(scipy.stats.norm.logpdf(codes, mean, np.exp(log_std)), axis=1))
  np.testing.assert_allclose(mi.gaussian_code_nll(mean, codes, log_std), expected, rtol=1e-5)
  expected_unit = -np.mean(np.sum(scipy.stats.norm.logpdf(codes, mean, 1.0), axis=1))
  np.testing.assert_allclose(mi.gaussian_code_nll(mean, codes), expected_unit, rtol=1e-5)

  logits, labels = rng.normal(size=(6, 4)).astype(np.float32), rng.integers(0, 4, size=6)
  expected_cat = -np.mean(scipy.special.log_softmax(logits, axis=1)[np.arange(6), labels])
  np.testing.assert_allclose(mi.categorical_code_nll(logits, labels), expected_cat, rtol=1e-5)


def test_categorical_nll_gradient_is_softmax_minus_one_hot_over_batch():
  rng = np.random.default_rng(3)
  logits, labels = rng.normal(size=(6, 4)).astype(np.float32), rng.integers(0, 4, size=6)
  grad = jax.grad(mi.categorical_code_nll)(logits, labels)
  np.testing.assert_allclose(grad, (scipy.special.softmax(logits, axis=1) - np.eye(4)[labels]) / 6, atol=1e-6)


def test_entropies_against_scipy():
  assert mi.categorical_entropy(10) == pytest.approx(scipy.stats.entropy(np.full(10, 0.1)))
  assert mi.uniform_entropy(-1.0, 1.0, 2) == pytest.approx(2 * scipy.stats.uniform(-1.0, 2.0).entropy())
  assert mi.gaussian_entropy(2.0, 3) == pytest.approx(3 * scipy.stats.norm(0, 2.0).entropy())
  assert float(mi.mi_lower_bound(0.5, 2.0)) == 1.5
  with pytest.raises(ValueError, match='high'):
    mi.uniform_entropy(1.0, 1.0, 1)


# ---- evaluation.codes ----


def brute_force_accuracy(codes, labels, num_codes, num_labels):
  best = 0
  if num_codes <= num_labels:  # Every injective map from codes to labels.
    for image in itertools.permutations(range(num_labels), num_codes):
      best = max(best, np.sum(np.asarray(image)[codes] == labels))
  else:  # Every injective map from labels to codes.
    for image in itertools.permutations(range(num_codes), num_labels):
      best = max(best, np.sum(np.asarray(image)[labels] == codes))
  return best / len(codes)


@pytest.mark.parametrize('num_codes,num_labels', [(4, 4), (3, 5), (5, 3)])
def test_best_mapping_matches_brute_force(num_codes, num_labels):
  rng = np.random.default_rng(num_codes * 10 + num_labels)
  for _ in range(5):
    codes = rng.integers(0, num_codes, size=60)
    labels = rng.integers(0, num_labels, size=60)
    accuracy, mapping = codes_lib.best_mapping_accuracy(codes, labels, num_codes, num_labels)
    assert accuracy == pytest.approx(brute_force_accuracy(codes, labels, num_codes, num_labels))
    assert len(mapping) == min(num_codes, num_labels) and len(set(mapping.values())) == len(mapping)
    # The mapping achieves the accuracy it reports.
    hits = sum(np.sum((codes == k) & (labels == v)) for k, v in mapping.items())
    assert hits / len(codes) == pytest.approx(accuracy)


def test_perfectly_separated_codes_recover_the_permutation():
  rng = np.random.default_rng(4)
  labels = rng.integers(0, 10, size=300)
  perm = rng.permutation(10)
  accuracy, mapping = codes_lib.best_mapping_accuracy(perm[labels], labels, 10, 10)
  assert accuracy == 1.0 and isinstance(accuracy, float)
  assert mapping == {int(perm[label]): label for label in range(10)}


def test_chance_accuracy_is_above_one_over_k_and_below_separated_codes():
  rng = np.random.default_rng(5)
  k = 10
  labels = rng.integers(0, k, size=200)
  separated = rng.permutation(k)[labels]
  perfect, _ = codes_lib.best_mapping_accuracy(separated, labels, k, k)
  for codes in (None, separated):
    chance = codes_lib.chance_accuracy(labels, k, k, codes=codes)
    # On 200 samples the best mapping fits noise: clearly above 1/K, far below a real separation.
    assert 1 / k < chance < 0.5 < perfect
    assert chance == codes_lib.chance_accuracy(labels, k, k, codes=codes)  # Seeded.


def test_out_of_range_codes_are_rejected():
  with pytest.raises(ValueError, match='codes'):
    codes_lib.best_mapping_accuracy(np.array([0, 4]), np.array([0, 1]), 4, 4)
