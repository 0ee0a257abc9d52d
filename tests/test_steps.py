"""The D step against a hand-computed update, and how the train step composes D and G."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import losses, steps
from gan_jax.objectives import GANObjective
from gan_jax.rng import noise_key
from tests.helpers import tiny_config, tiny_state_and_batch

MINIMAX = GANObjective(loss='minimax')


def assert_trees_equal(a, b, rtol=1e-6):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-7), a, b)


def test_d_step_is_one_sgd_step_on_the_bce_loss():
  config = tiny_config()
  config.optim.d.name = 'sgd'
  config.optim.d.learning_rate = 1.0
  state, batch = tiny_state_and_batch(config)
  g, d = state.nets['g'], state.nets['d']
  fake = g.module.apply({'params': g.params}, batch['z'])

  def bce(d_params):
    logits = lambda x: d.module.apply({'params': d_params}, x)['logits']
    return (-jnp.mean(jnp.log(jax.nn.sigmoid(logits(batch['x']))))
            - jnp.mean(jnp.log(1 - jax.nn.sigmoid(logits(fake)))))

  grads = jax.grad(bce)(d.params)
  new_state, metrics = steps.d_step(state, batch, objective=MINIMAX)
  assert_trees_equal(new_state.nets['d'].params, jax.tree.map(jnp.subtract, d.params, grads), rtol=1e-5)
  np.testing.assert_allclose(metrics['d_loss'], bce(d.params), rtol=1e-6)
  assert_trees_equal(new_state.nets['g'].params, g.params)  # G does not move in a D step...
  assert int(new_state.step) == 0 and int(new_state.nets['d'].count) == 1  # ... and the iteration is not over.


def make_step(config, update_order, n_critic=1):
  config.train.update_order = update_order
  config.train.n_critic = n_critic
  sample = lambda key: {'z': jax.random.normal(key, (config.train.batch_size, config.gen.latent_dim)),
                        'eps': jax.random.uniform(key, (config.train.batch_size,))}
  return steps.make_train_step(config, sample)


def test_simultaneous_and_alternating_orders():
  config = tiny_config(steps=1)
  state, batch = tiny_state_and_batch(config)
  real = {'x': batch['x'][None]}
  g_step = functools.partial(steps.g_step, objective=MINIMAX, unroll_steps=1)

  simultaneous, _ = make_step(config, 'simultaneous')(state, real)
  alternating, _ = make_step(config, 'alternating')(state, real)
  # Rebuild both from the single steps: the latents the train step draws are reproduced from its keys.
  z = jax.random.normal(jax.random.split(noise_key(state.rng, state.step), 2)[0], batch['z'].shape)
  g_batch = {'x': batch['x'], 'z': z}
  after_d, _ = steps.d_step(state, g_batch, objective=MINIMAX)
  assert_trees_equal(simultaneous.nets['d'].params, after_d.nets['d'].params)
  assert_trees_equal(simultaneous.nets['g'].params, g_step(state, g_batch)[0].nets['g'].params)
  assert_trees_equal(alternating.nets['g'].params, g_step(after_d, g_batch)[0].nets['g'].params)
  assert int(simultaneous.step) == int(alternating.step) == 1
  diff = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), simultaneous.nets['g'].params,
                      alternating.nets['g'].params)
  assert max(jax.tree.leaves(diff)) > 0


def test_n_critic_runs_that_many_d_steps():
  config = tiny_config(steps=0)
  state, batch = tiny_state_and_batch(config)
  real = {'x': jnp.stack([batch['x'], batch['x'][::-1], -batch['x']])}
  new_state, _ = make_step(config, 'alternating', n_critic=3)(state, real)
  assert int(new_state.nets['d'].opt_state[0].count) == int(new_state.nets['d'].count) == 3
  assert int(new_state.nets['g'].opt_state[0].count) == int(new_state.nets['g'].count) == 1


def test_states_from_equal_configs_share_one_compiled_step():
  # The networks and optimizers are static parts of the state: equal configs must give equal ones, or every new
  # state (another seed, a restored checkpoint) would recompile the step.
  config = tiny_config()
  first, batch = tiny_state_and_batch(config, seed=0)
  second, _ = tiny_state_and_batch(tiny_config(), seed=1)
  d_step = jax.jit(functools.partial(steps.d_step, objective=MINIMAX))
  d_step(first, batch)
  d_step(second, batch)
  assert d_step._cache_size() == 1


def test_ema_of_generator_weights():
  config = tiny_config(steps=0)
  config.gen.ema_decay = 0.9
  state, batch = tiny_state_and_batch(config)
  step = make_step(config, 'simultaneous')
  s1, _ = step(state, {'x': batch['x'][None]})
  s2, _ = step(s1, {'x': batch['x'][None]})
  # ema_1 = 0.9 g0 + 0.1 g1; ema_2 = 0.9 ema_1 + 0.1 g2.
  ema1 = jax.tree.map(lambda a, b: 0.9 * a + 0.1 * b, state.nets['g'].params, s1.nets['g'].params)
  ema2 = jax.tree.map(lambda a, b: 0.9 * a + 0.1 * b, ema1, s2.nets['g'].params)
  assert_trees_equal(s2.nets['g'].ema_params, ema2, rtol=1e-5)
  assert s2.nets['d'].ema_params == {}  # Only G keeps one.


def test_weight_clipping_holds_inside_the_unroll_too():
  from gan_jax.optim import make_optimizer
  config = tiny_config(steps=3)
  config.optim.d.name = 'rmsprop'
  config.optim.d.learning_rate = 0.5
  config.optim.d.clip_params = 0.01
  config.loss.name = 'wasserstein'
  state, batch = tiny_state_and_batch(config)
  new_state, _ = steps.d_step(state, batch, objective=GANObjective(loss='wasserstein'))
  assert max(float(jnp.max(jnp.abs(p))) for p in jax.tree.leaves(new_state.nets['d'].params)) <= 0.01 + 1e-7
  # The unroll uses the same (clipping) optimizer: every unrolled parameter stays in the box as well.
  assert state.nets['d'].tx is make_optimizer(config.optim.d)
  g, d = state.nets['g'], state.nets['d']
  fake = g.module.apply({'params': g.params}, batch['z'])
  critic = lambda p, x: d.module.apply({'params': p['d']}, x)['logits']
  objective = lambda p: losses.wasserstein_critic_loss(critic(p, batch['x']), critic(p, fake))
  from gan_jax.unroll import unroll
  unrolled = unroll(objective, {'d': d}, 3)['d']
  assert max(float(jnp.max(jnp.abs(p))) for p in jax.tree.leaves(unrolled)) <= 0.01 + 1e-7


def test_gradient_penalty_enters_the_d_step():
  config = tiny_config(steps=0)
  config.optim.d.name = 'sgd'
  config.optim.d.learning_rate = 1.0
  state, batch = tiny_state_and_batch(config)
  batch = {**batch, 'eps': jnp.linspace(0, 1, batch['x'].shape[0])}
  plain, _ = steps.d_step(state, batch, objective=GANObjective(loss='wasserstein'))
  penalised, metrics = steps.d_step(state, batch, objective=GANObjective(
      loss='wasserstein', d_terms=(('adversarial', 1.0), ('gradient_penalty', 10.0))))
  g, d = state.nets['g'], state.nets['d']
  fake = g.module.apply({'params': g.params}, batch['z'])
  critic = lambda x: d.module.apply({'params': d.params}, x)['logits']
  adversarial = losses.wasserstein_critic_loss(critic(batch['x']), critic(fake))
  penalty = losses.gradient_penalty(critic, batch['x'], fake, batch['eps'])
  np.testing.assert_allclose(metrics['d_loss'], adversarial + 10.0 * penalty, rtol=1e-5)
  # Each term's value is logged beside the total.
  np.testing.assert_allclose(metrics['d_term_adversarial'], adversarial, rtol=1e-5)
  np.testing.assert_allclose(metrics['d_term_gradient_penalty'], penalty, rtol=1e-5)
  assert not np.allclose(plain.nets['d'].params['Dense_0']['kernel'], penalised.nets['d'].params['Dense_0']['kernel'])
