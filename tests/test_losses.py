"""Losses against values derived by hand, and the gradients the lectures state."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses


def sigmoid(x):
  return 1 / (1 + np.exp(-x))


REAL = np.array([2.0, -1.0, 0.5], np.float32)
FAKE = np.array([-3.0, 0.0], np.float32)


def test_discriminator_loss_by_hand():
  # -mean log s(r) - mean log(1 - s(f)), written out term by term.
  expected = -np.mean(np.log(sigmoid(REAL))) - np.mean(np.log(1 - sigmoid(FAKE)))
  np.testing.assert_allclose(losses.discriminator_loss(REAL, FAKE), expected, rtol=1e-6)


def test_one_sided_label_smoothing_changes_only_real_targets():
  s = 0.1
  expected_real = -np.mean((1 - s) * np.log(sigmoid(REAL)) + s * np.log(1 - sigmoid(REAL)))
  expected_fake = -np.mean(np.log(1 - sigmoid(FAKE)))  # Fakes keep the target 0.
  np.testing.assert_allclose(losses.discriminator_loss(REAL, FAKE, s), expected_real + expected_fake, rtol=1e-6)
  # The fake term alone is unaffected by smoothing: its gradient in the fake logits does not change.
  grad_plain = jax.grad(losses.discriminator_loss, argnums=1)(REAL, FAKE)
  grad_smooth = jax.grad(losses.discriminator_loss, argnums=1)(REAL, FAKE, s)
  np.testing.assert_allclose(grad_plain, grad_smooth, rtol=1e-6)


def test_d_loss_at_chance_is_2_log_2():
  zeros = jnp.zeros(4)
  np.testing.assert_allclose(losses.discriminator_loss(zeros, zeros), 2 * np.log(2), rtol=1e-6)


def test_minimax_generator_loss_is_negated_d_loss():
  np.testing.assert_allclose(losses.minimax_generator_loss(REAL, FAKE),
                             np.mean(np.log(sigmoid(REAL))) + np.mean(np.log(1 - sigmoid(FAKE))), rtol=1e-6)


def test_non_saturating_generator_loss_by_hand():
  np.testing.assert_allclose(losses.non_saturating_generator_loss(REAL, FAKE),
                             -np.mean(np.log(sigmoid(FAKE))), rtol=1e-6)


def test_generator_gradients_saturate_as_the_lectures_state():
  # d/df log(1 - s(f)) = -s(f): vanishes when D rejects the fake (f very negative);
  # d/df -log s(f) = -(1 - s(f)): stays near -1 there.
  fake = np.array([-8.0, 0.0, 3.0], np.float32)
  n = len(fake)
  mm = jax.grad(losses.minimax_generator_loss, argnums=1)(REAL, fake)
  ns = jax.grad(losses.non_saturating_generator_loss, argnums=1)(REAL, fake)
  np.testing.assert_allclose(mm, -sigmoid(fake) / n, rtol=1e-5)
  np.testing.assert_allclose(ns, -(1 - sigmoid(fake)) / n, rtol=1e-5)
  assert abs(mm[0]) < 1e-3 / n and abs(ns[0]) > 0.99 / n


@pytest.mark.parametrize('name', sorted(losses.LOSSES))
def test_every_registered_loss_is_finite_and_differentiable(name):
  pair = losses.adversarial_pair(name, label_smoothing=0.1 if losses.LOSSES[name][2] else 0.0)
  for fn in pair:
    value, grads = jax.value_and_grad(fn, argnums=(0, 1))(REAL, FAKE)
    assert np.isfinite(value) and all(np.all(np.isfinite(g)) for g in grads)


def test_wasserstein_by_hand():
  assert losses.wasserstein_critic_loss(REAL, FAKE) == pytest.approx(np.mean(FAKE) - np.mean(REAL))
  assert losses.wasserstein_generator_loss(REAL, FAKE) == pytest.approx(-np.mean(FAKE))


def test_least_squares_by_hand():
  # (2-1)^2, (-1-1)^2, (0.5-1)^2 = 1, 4, 0.25; fakes 9, 0.
  assert losses.least_squares_discriminator_loss(REAL, FAKE) == pytest.approx(0.5 * 5.25 / 3 + 0.5 * 9 / 2)
  assert losses.least_squares_generator_loss(REAL, FAKE) == pytest.approx(0.5 * (16 + 1) / 2)


def test_hinge_by_hand():
  # relu(1 - r) = 0, 2, 0.5; relu(1 + f) = 0, 1.
  assert losses.hinge_discriminator_loss(REAL, FAKE) == pytest.approx(2.5 / 3 + 1 / 2)
  assert losses.hinge_generator_loss(REAL, FAKE) == pytest.approx(1.5)


def test_gradient_penalty_against_finite_differences():
  rng = np.random.default_rng(0)
  w1 = rng.normal(size=(6, 5)).astype(np.float32)
  w2 = rng.normal(size=(5,)).astype(np.float32)
  critic = lambda x: jnp.tanh(x.reshape(x.shape[0], -1) @ w1) @ w2
  real = rng.normal(size=(4, 2, 3)).astype(np.float32)
  fake = rng.normal(size=(4, 2, 3)).astype(np.float32)
  eps = np.array([0.0, 0.3, 0.7, 1.0], np.float32)
  # Central differences of the critic at each interpolate, in float64, one coordinate at a time.
  f = lambda x: np.tanh(x.reshape(-1).astype(np.float64) @ w1) @ w2
  expected = []
  for i in range(4):
    x_hat = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).astype(np.float64)
    grad = np.zeros(x_hat.size)
    for j in range(x_hat.size):
      step = np.zeros(x_hat.size)
      step[j] = 1e-5
      grad[j] = (f(x_hat.reshape(-1) + step) - f(x_hat.reshape(-1) - step)) / 2e-5
    expected.append((np.linalg.norm(grad) - 1) ** 2)
  got = losses.gradient_penalty(critic, real, fake, eps)
  np.testing.assert_allclose(got, np.mean(expected), rtol=1e-4)


def test_relativistic_average_losses_by_hand():
  # Jolicoeur-Martineau 2018, eqs. 12-13, with the critic's means written out: mean(REAL) = 0.5, mean(FAKE) = -1.5.
  real_rel, fake_rel = REAL - (-1.5), FAKE - 0.5
  d_expected = -np.mean(np.log(sigmoid(real_rel))) - np.mean(np.log(1 - sigmoid(fake_rel)))
  g_expected = -np.mean(np.log(sigmoid(fake_rel))) - np.mean(np.log(1 - sigmoid(real_rel)))
  np.testing.assert_allclose(losses.relativistic_average_discriminator_loss(REAL, FAKE), d_expected, rtol=1e-6)
  np.testing.assert_allclose(losses.relativistic_average_generator_loss(REAL, FAKE), g_expected, rtol=1e-6)
  ls_d = np.mean((real_rel - 1) ** 2) + np.mean((fake_rel + 1) ** 2)
  ls_g = np.mean((fake_rel - 1) ** 2) + np.mean((real_rel + 1) ** 2)
  np.testing.assert_allclose(losses.relativistic_average_ls_discriminator_loss(REAL, FAKE), ls_d, rtol=1e-6)
  np.testing.assert_allclose(losses.relativistic_average_ls_generator_loss(REAL, FAKE), ls_g, rtol=1e-6)
  # Unlike the standard pair, G's loss moves the real logits: their gradient is that of -log(1 - s(r - mean f)).
  grad_real = jax.grad(losses.relativistic_average_generator_loss)(REAL, FAKE)
  np.testing.assert_allclose(grad_real, sigmoid(real_rel) / 3 + np.mean(1 - sigmoid(fake_rel)) / 3, rtol=1e-5)


def test_r1_of_a_quadratic_and_a_linear_critic_by_hand():
  # D(x) = 1/2 ||A x||^2 has grad A^T A x; D(x) = w . x has grad w, the same for every example.
  rng = np.random.default_rng(1)
  a = rng.normal(size=(3, 4)).astype(np.float32)
  x = rng.normal(size=(5, 4)).astype(np.float32)
  quadratic = lambda x: 0.5 * jnp.sum((x @ a.T) ** 2, axis=1)
  grads = x @ a.T @ a
  np.testing.assert_allclose(losses.gradient_norm_penalty(quadratic, x), 0.5 * np.mean(np.sum(grads**2, axis=1)),
                             rtol=1e-5)
  w = rng.normal(size=(4,)).astype(np.float32)
  np.testing.assert_allclose(losses.gradient_norm_penalty(lambda x: x @ w, x), 0.5 * np.sum(w**2), rtol=1e-6)
