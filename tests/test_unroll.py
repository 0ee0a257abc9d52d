"""The unrolled generator gradient against an explicit Python loop over hand-written Adam updates."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax import steps
from gan_jax.objectives import GANObjective
from tests.helpers import g_loss, tiny_config, tiny_state_and_batch

MINIMAX = GANObjective(loss='minimax')


def bce_d_loss(real_logits, fake_logits):
  """-mean log s(r) - mean log(1 - s(f)), written independently of gan_jax.losses."""
  return -jnp.mean(jax.nn.log_sigmoid(real_logits)) - jnp.mean(jax.nn.log_sigmoid(-fake_logits))


def adam_update(params, grads, mu, nu, count, c):
  """Adam (Kingma & Ba) with bias correction and eps_root inside the square root, as optax defines it."""
  count = count + 1
  mu = jax.tree.map(lambda m, g: c.b1 * m + (1 - c.b1) * g, mu, grads)
  nu = jax.tree.map(lambda v, g: c.b2 * v + (1 - c.b2) * g * g, nu, grads)
  def step(p, m, v):
    m_hat = m / (1 - c.b1**count)
    v_hat = v / (1 - c.b2**count)
    return p - c.learning_rate * m_hat / (jnp.sqrt(v_hat + c.eps_root) + c.eps)
  return jax.tree.map(step, params, mu, nu), mu, nu, count


def reference_generator_loss(g_params, state, batch, k, config, first_order=False):
  """-D loss at D after k Adam steps, unrolled by a Python for-loop."""
  g, d_net = state.nets['g'], state.nets['d']
  adam_state = d_net.opt_state[0]
  mu, nu, count = adam_state.mu, adam_state.nu, adam_state.count
  fake = g.module.apply({'params': g_params}, batch['z'])
  fake_in_loop = jax.lax.stop_gradient(fake) if first_order else fake
  d = lambda p, x: d_net.module.apply({'params': p}, x)['logits']
  d_params = d_net.params
  for _ in range(k):
    grads = jax.grad(lambda p: bce_d_loss(d(p, batch['x']), d(p, fake_in_loop)))(d_params)
    d_params, mu, nu, count = adam_update(d_params, grads, mu, nu, count, config.optim.d)
  return -bce_d_loss(d(d_params, batch['x']), d(d_params, fake))


def warmed_up_state(config):
  """A state after a few real D steps, so that Adam's moments and count are not at their initial values."""
  state, batch = tiny_state_and_batch(config)
  for i in range(3):
    z = jax.random.normal(jax.random.key(i), batch['z'].shape)
    state, _ = steps.d_step(state, {'x': batch['x'], 'z': z}, objective=MINIMAX)
  return state, batch


def library_grad(state, batch, k, second_order=True, remat=False):
  objective = functools.partial(g_loss, state=state, batch=batch, objective=MINIMAX, unroll_steps=k,
                                second_order=second_order, remat=remat)
  return jax.grad(objective)(state.nets['g'].params)


def assert_trees_close(a, b, rtol=2e-4, atol=1e-6):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=atol), a, b)


@pytest.mark.parametrize('k', [1, 3])
def test_unrolled_gradient_equals_python_loop_of_adam_updates(k):
  config = tiny_config(steps=k)
  state, batch = warmed_up_state(config)
  expected = jax.grad(reference_generator_loss)(state.nets['g'].params, state, batch, k, config)
  got = library_grad(state, batch, k)
  assert_trees_close(got, expected)
  # The unroll must matter, or the comparison above says nothing about it.
  plain = library_grad(state, batch, 0)
  assert optax.tree.norm(jax.tree.map(jnp.subtract, got, plain)) > 1e-3 * optax.tree.norm(plain)


def test_k0_is_the_plain_gan_gradient():
  config = tiny_config(steps=0)
  state, batch = warmed_up_state(config)
  expected = jax.grad(reference_generator_loss)(state.nets['g'].params, state, batch, 0, config)
  assert_trees_close(library_grad(state, batch, 0), expected)


def test_first_order_equals_stop_gradient_on_the_d_updates():
  config = tiny_config(steps=3)
  state, batch = warmed_up_state(config)
  expected = jax.grad(reference_generator_loss)(state.nets['g'].params, state, batch, 3, config, True)
  got = library_grad(state, batch, 3, second_order=False)
  assert_trees_close(got, expected)
  second = library_grad(state, batch, 3, second_order=True)
  assert optax.tree.norm(jax.tree.map(jnp.subtract, got, second)) > 1e-4 * optax.tree.norm(second)


def test_remat_does_not_change_the_gradient():
  config = tiny_config(steps=3)
  state, batch = warmed_up_state(config)
  assert_trees_close(library_grad(state, batch, 3, remat=True), library_grad(state, batch, 3), rtol=1e-6)


def test_g_step_applies_the_unrolled_gradient():
  # With SGD at learning rate 1 the G update is minus the gradient, which exposes the step's plumbing.
  config = tiny_config(steps=2)
  config.optim.g.name = 'sgd'
  config.optim.g.learning_rate = 1.0
  state, batch = warmed_up_state(config)
  expected = jax.grad(reference_generator_loss)(state.nets['g'].params, state, batch, 2, config)
  new_state, metrics = steps.g_step(state, batch, objective=MINIMAX, unroll_steps=2)
  assert_trees_close(jax.tree.map(jnp.subtract, state.nets['g'].params, new_state.nets['g'].params), expected)
  np.testing.assert_allclose(metrics['g_grad_norm'], optax.tree.norm(expected), rtol=1e-4)
  # The real discriminator is untouched by the unroll; G's update ends the iteration.
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b), new_state.nets['d'], state.nets['d'])
  assert int(new_state.step) == int(state.step) + 1
