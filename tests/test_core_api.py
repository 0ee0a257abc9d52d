"""The core as research code uses it: states from objects, any Flax module, own loops and own objective terms."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax import losses, objectives, steps
from gan_jax.noise import sample_noise
from gan_jax.objectives import GANObjective
from gan_jax.rng import noise_key
from gan_jax.state import Network, TrainState, create_gan
from gan_jax.unroll import unroll
from gan_jax.update import run, update
from tests.helpers import comparable, tiny_config, tiny_state_and_batch


class PlainGenerator(nn.Module):
  """A generator with no `train` argument: batch norm nowhere, as in most research code."""

  @nn.compact
  def __call__(self, z):
    return nn.Dense(2)(nn.tanh(nn.Dense(16)(z)))


class PlainDiscriminator(nn.Module):
  """Returns logits [B, 1], the most common shape."""

  @nn.compact
  def __call__(self, x):
    hidden = nn.tanh(nn.Dense(16)(x))
    return nn.Dense(1)(hidden)


def plain_state(seed=0):
  return create_gan(PlainGenerator(), PlainDiscriminator(), optax.sgd(0.1), optax.sgd(0.1), jax.random.key(seed),
                    jnp.zeros((1, 2)), noise=4)


def plain_batch(seed=0):
  kx, kz = jax.random.split(jax.random.key(seed))
  return {'x': jax.random.normal(kx, (8, 2)), 'z': jax.random.normal(kz, (8, 4))}


class Flagged(nn.Module):
  """Takes a Python flag that decides its structure and an array input beside it: compiling the initialisation must
  keep the flag a Python value."""

  @nn.compact
  def __call__(self, x, y, *, deep: bool = False, train: bool = True):
    h = nn.Dense(3)(x) + y[:, None]
    if deep:
      h = nn.BatchNorm(use_running_average=not train)(nn.Dense(5)(h))
    return h


def test_network_create_initialises_as_the_modules_own_init_with_python_keywords_kept_static():
  x, y = jnp.ones((2, 4)), jnp.arange(2.0)
  network = Network.create(Flagged(), optax.adam(0.1), jax.random.key(3), x, y, deep=True, ema_decay=0.5)
  variables = Flagged().init(jax.random.key(3), x, y, deep=True, train=False)
  jax.tree.map(np.testing.assert_array_equal, network.params, variables['params'])
  jax.tree.map(np.testing.assert_array_equal, network.batch_stats, variables['batch_stats'])
  assert network.params['Dense_1']['kernel'].shape == (3, 5)
  jax.tree.map(np.testing.assert_array_equal, network.opt_state, optax.adam(0.1).init(variables['params']))
  jax.tree.map(np.testing.assert_array_equal, network.ema_params, network.params)
  # The moving average has its own buffers: the state is donated, and a buffer can be donated only once.
  assert {leaf.unsafe_buffer_pointer() for leaf in jax.tree.leaves(network.params)}.isdisjoint(
      leaf.unsafe_buffer_pointer() for leaf in jax.tree.leaves(network.ema_params))
  shallow = Network.create(Flagged(), optax.adam(0.1), jax.random.key(3), x, y)
  assert sorted(shallow.params) == ['Dense_0'] and shallow.batch_stats == {}


def test_plain_flax_modules_train_and_their_loss_is_the_bce_by_hand():
  state, batch = plain_state(), plain_batch()
  g, d = state.nets['g'], state.nets['d']
  fake = g.module.apply({'params': g.params}, batch['z'])
  logits = lambda p, x: d.module.apply({'params': p}, x)[:, 0]
  bce = lambda p: (-jnp.mean(jax.nn.log_sigmoid(logits(p, batch['x'])))
                   - jnp.mean(jax.nn.log_sigmoid(-logits(p, fake))))
  new_state, metrics = steps.d_step(state, batch, objective=GANObjective(loss='minimax'))
  np.testing.assert_allclose(metrics['d_loss'], bce(d.params), rtol=1e-6)
  expected = jax.tree.map(lambda p, gr: p - 0.1 * gr, d.params, jax.grad(bce)(d.params))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), new_state.nets['d'].params,
               expected)


def test_a_discriminator_that_breaks_the_contract_is_named_before_training():
  class TupleD(nn.Module):
    @nn.compact
    def __call__(self, x):
      return nn.Dense(1)(x), x

  class NoLogits(nn.Module):
    @nn.compact
    def __call__(self, x):
      return {'score': nn.Dense(1)(x)[:, 0]}

  class WideLogits(nn.Module):
    @nn.compact
    def __call__(self, x):
      return nn.Dense(3)(x)

  make = lambda d: create_gan(PlainGenerator(), d, optax.sgd(0.1), optax.sgd(0.1), jax.random.key(0),
                              jnp.zeros((1, 2)), noise=4)
  with pytest.raises(ValueError, match="discriminator: returned tuple; a discriminator returns its logits"):
    make(TupleD())
  with pytest.raises(ValueError, match=r"returned a dict with keys \['score'\], no \"logits\""):
    make(NoLogits())
  with pytest.raises(ValueError, match=r'logits have shape \(1, 3\) for a batch of 1'):
    make(WideLogits())


def test_a_term_needing_an_output_the_discriminator_lacks_is_named():
  state, batch = plain_state(), plain_batch()
  objective = GANObjective(g_terms=(('adversarial', 1.0), ('feature_matching', 1.0)))
  with pytest.raises(ValueError, match="term 'feature_matching' needs the discriminator output 'hidden'"):
    steps.g_step(state, batch, objective=objective)


def test_own_objective_term_r1_written_by_the_user_equals_the_registered_one_and_finite_differences():
  state, batch = plain_state(), plain_batch()

  def my_r1(ctx):  # As a researcher writes it: a function of the context.
    return losses.gradient_norm_penalty(ctx.critic(), ctx.batch['x'])

  own = GANObjective(d_terms=(('adversarial', 1.0), (my_r1, 10.0)))
  registered = GANObjective(d_terms=(('adversarial', 1.0), ('r1', 10.0)))
  own_state, own_metrics = steps.d_step(state, batch, objective=own)
  reg_state, reg_metrics = steps.d_step(state, batch, objective=registered)
  np.testing.assert_allclose(own_metrics['d_loss'], reg_metrics['d_loss'], rtol=1e-6)
  jax.tree.map(np.testing.assert_array_equal, own_state.nets['d'].params, reg_state.nets['d'].params)
  # R1's value against central differences of D in float64, one input coordinate at a time.
  d = state.nets['d']
  params64 = jax.tree.map(lambda p: np.asarray(p, np.float64), d.params)
  f = lambda x: float(np.tanh(x @ params64['Dense_0']['kernel'] + params64['Dense_0']['bias'])
                      @ params64['Dense_1']['kernel'][:, 0] + params64['Dense_1']['bias'][0])
  x = np.asarray(batch['x'], np.float64)
  squared = []
  for row in x:
    grad = [(f(row + h) - f(row - h)) / 2e-6 for h in np.eye(2) * 1e-6]
    squared.append(np.sum(np.square(grad)))
  np.testing.assert_allclose(reg_metrics['d_term_r1'], 0.5 * np.mean(squared), rtol=1e-4)


def test_relativistic_average_loss_enters_both_players_from_the_registry():
  state, batch = plain_state(), plain_batch()
  objective = GANObjective(loss='relativistic_average')
  g, d = state.nets['g'], state.nets['d']
  fake = g.module.apply({'params': g.params}, batch['z'])
  real_logits = d.module.apply({'params': d.params}, batch['x'])[:, 0]
  fake_logits = d.module.apply({'params': d.params}, fake)[:, 0]
  _, d_metrics = steps.d_step(state, batch, objective=objective)
  _, g_metrics = steps.g_step(state, batch, objective=objective)
  np.testing.assert_allclose(d_metrics['d_loss'],
                             losses.relativistic_average_discriminator_loss(real_logits, fake_logits), rtol=1e-6)
  np.testing.assert_allclose(g_metrics['g_loss'],
                             losses.relativistic_average_generator_loss(real_logits, fake_logits), rtol=1e-6)


def test_a_hand_written_loop_reaches_the_state_train_step_reaches():
  # EMA and historical averages must advance with each network's update, and the step with G's, whoever loops.
  config = tiny_config(steps=2)
  config.train.update_order = 'alternating'
  config.gen.ema_decay = 0.9
  config.loss.d.historical_averaging = config.loss.g.historical_averaging = 0.01
  state, batch = tiny_state_and_batch(config)
  objective = objectives.objective_from_config(config)
  draw = lambda key: sample_noise(key, config.train.batch_size, state.noise)
  train_step = jax.jit(steps.make_train_step(config, lambda key: {**draw(key), 'eps': jnp.zeros(32)}))

  @jax.jit
  def by_hand(state, x):
    noise = draw(jax.random.split(noise_key(state.rng, state.step), 2)[0])
    state, _ = steps.d_step(state, {'x': x, **noise}, objective=objective)
    state, _ = steps.g_step(state, {'x': x, **noise}, objective=objective, unroll_steps=2)
    return state

  framework, hand = state, jax.tree.map(jnp.copy, state)
  for i in range(3):
    x = batch['x'] * (1 + 0.1 * i)
    framework, _ = train_step(framework, {'x': x[None]})
    hand = by_hand(hand, x)
  assert int(hand.step) == int(framework.step) == 3
  assert int(hand.nets['g'].count) == int(hand.nets['d'].count) == 3
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8), comparable(hand),
               comparable(framework))
  # The EMA is not the initial weights: it moved with G.
  assert optax.tree.norm(jax.tree.map(jnp.subtract, hand.nets['g'].ema_params, state.nets['g'].params)) > 0


class Encoder(nn.Module):
  @nn.compact
  def __call__(self, x):
    return nn.Dense(2)(x)


class Decoder(nn.Module):
  @nn.compact
  def __call__(self, code):
    return nn.Dense(4)(code)


def test_update_of_two_networks_on_one_objective():
  # An autoencoder: the generic update trains encoder and decoder jointly, each with its own optimizer.
  key_e, key_d = jax.random.split(jax.random.key(0))
  x = jax.random.normal(jax.random.key(1), (6, 4))
  state = TrainState.create({'encoder': Network.create(Encoder(), optax.sgd(0.5), key_e, x),
                             'decoder': Network.create(Decoder(), optax.sgd(0.25), key_d, x[:, :2])},
                            jax.random.key(2))

  def reconstruction(state, batch):
    code, state = run(state, 'encoder', batch['x'])
    recon, state = run(state, 'decoder', code)
    return jnp.mean((recon - batch['x']) ** 2), (state, {})

  new_state, metrics = update(state, {'x': x}, nets=('encoder', 'decoder'), objective=reconstruction)
  enc, dec = state.nets['encoder'].params, state.nets['decoder'].params
  loss = lambda e, d: jnp.mean((Decoder().apply({'params': d}, Encoder().apply({'params': e}, x)) - x) ** 2)
  ge, gd = jax.grad(loss, argnums=(0, 1))(enc, dec)
  jax.tree.map(lambda a, b, g: np.testing.assert_allclose(a, b - 0.5 * g, rtol=1e-5, atol=1e-7),
               new_state.nets['encoder'].params, enc, ge)
  jax.tree.map(lambda a, b, g: np.testing.assert_allclose(a, b - 0.25 * g, rtol=1e-5, atol=1e-7),
               new_state.nets['decoder'].params, dec, gd)
  np.testing.assert_allclose(metrics['encoder_decoder_loss'], loss(enc, dec), rtol=1e-6)
  assert int(new_state.step) == 0  # Only a GAN's G step ends an iteration.
  with pytest.raises(KeyError, match=r"no network \['generator'\] in the state; it has \['decoder', 'encoder'\]"):
    update(state, {'x': x}, nets=('generator',), objective=reconstruction)


def test_unrolling_a_pair_jointly_is_unrolling_each_when_their_losses_are_separate():
  # CycleGAN's two discriminators unroll in one scan; with separable objectives each follows its own trajectory.
  state, _ = tiny_state_and_batch(tiny_config())
  d = state.nets['d']
  a, b = d, d.replace(params=jax.tree.map(lambda p: p * 1.5, d.params))
  target = jnp.linspace(-1.0, 1.0, 16)
  loss_of = lambda p: jnp.sum((p['Dense_0']['kernel'][0] - target) ** 2)
  joint = unroll(lambda p: loss_of(p['a']) + 2.0 * loss_of(p['b']), {'a': a, 'b': b}, 4)
  alone_a = unroll(lambda p: loss_of(p['a']), {'a': a}, 4)['a']
  alone_b = unroll(lambda p: 2.0 * loss_of(p['b']), {'b': b}, 4)['b']
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6), joint['a'], alone_a)
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6), joint['b'], alone_b)
  assert not np.allclose(joint['a']['Dense_0']['kernel'], a.params['Dense_0']['kernel'])


def test_jit_of_the_bound_steps_with_donation():
  # The steps are jit-able with the state donated, as the training loop compiles them.
  state, batch = plain_state(), plain_batch()
  d_step = jax.jit(functools.partial(steps.d_step, objective=GANObjective()), donate_argnums=0)
  g_step = jax.jit(functools.partial(steps.g_step, objective=GANObjective(), unroll_steps=3), donate_argnums=0)
  for _ in range(2):
    state, _ = d_step(state, batch)
    state, metrics = g_step(state, batch)
  assert int(state.step) == 2 and np.isfinite(metrics['g_loss'])
