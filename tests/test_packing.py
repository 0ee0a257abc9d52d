"""PacGAN's packing: the packed input against explicit concatenation, D and G objectives and the gradient penalty
against D applied by hand to packed samples, and the configurations packing refuses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses, objectives, steps
from gan_jax.config import ConfigError, base_config, smoke
from gan_jax.objectives import GANObjective
from gan_jax.state import create_state, pack_inputs
from gan_jax.validation import validate
from tests.helpers import tiny_config, tiny_state_and_batch

MINIMAX = GANObjective(loss='minimax')


def test_packed_vectors_and_images_are_the_samples_concatenated():
  x = np.arange(6 * 3, dtype=np.float32).reshape(6, 3)
  expected = np.stack([np.concatenate([x[0], x[1]]), np.concatenate([x[2], x[3]]), np.concatenate([x[4], x[5]])])
  np.testing.assert_array_equal(pack_inputs(jnp.asarray(x), 2), expected)
  images = np.random.default_rng(0).normal(size=(8, 4, 5, 3)).astype(np.float32)
  packed = np.asarray(pack_inputs(jnp.asarray(images), 4))
  assert packed.shape == (2, 4, 5, 12)
  for i in range(2):  # PacGAN's channel concatenation, torch.cat(..., dim=channels) of 4 consecutive images.
    np.testing.assert_array_equal(packed[i], np.concatenate(list(images[4 * i:4 * i + 4]), axis=-1))
  np.testing.assert_array_equal(pack_inputs(jnp.asarray(x), 1), x)


def packed_config(pack, **unroll):
  config = tiny_config(**unroll)
  config.disc.pack = pack
  return config


def hand_logits(state, x, m):
  """D applied by hand to explicitly concatenated runs of m samples."""
  d = state.nets['d']
  x = np.asarray(x)
  joined = np.stack([np.concatenate(x[i:i + m]) for i in range(0, len(x), m)])
  return d.module.apply({'params': d.params}, jnp.asarray(joined))['logits']


def bce_d_loss(real_logits, fake_logits):
  sig = lambda v: 1 / (1 + np.exp(-np.asarray(v, np.float64)))
  return -np.mean(np.log(sig(real_logits))) - np.mean(np.log(1 - sig(fake_logits)))


@pytest.mark.parametrize('pack', [1, 2])
def test_d_step_loss_is_d_on_hand_packed_samples(pack):
  state, batch = tiny_state_and_batch(packed_config(pack))
  assert state.nets['d'].params['Dense_0']['kernel'].shape == (2 * pack, 16)  # D built for the packed input.
  g = state.nets['g']
  fake = g.module.apply({'params': g.params}, batch['z'])
  expected = bce_d_loss(hand_logits(state, batch['x'], pack), hand_logits(state, fake, pack))
  _, metrics = steps.d_step(state, batch, objective=MINIMAX)
  np.testing.assert_allclose(metrics['d_loss'], expected, rtol=1e-5)


def test_pack_1_is_no_packing():
  # The same networks and batch: pack=1 gives exactly the objective of D on the unpacked samples.
  state, batch = tiny_state_and_batch(packed_config(1))
  d = state.nets['d']
  fake = objectives.generate(state, batch)[0]
  real_out, fake_out, _ = objectives.discriminate_both(state, batch, fake)
  np.testing.assert_array_equal(real_out['logits'], d.module.apply({'params': d.params}, batch['x'])['logits'])
  np.testing.assert_array_equal(fake_out['logits'], d.module.apply({'params': d.params}, fake)['logits'])


def test_g_objective_sees_packed_fakes():
  state, batch = tiny_state_and_batch(packed_config(4))
  g = state.nets['g']
  fake = g.module.apply({'params': g.params}, batch['z'])
  expected = -bce_d_loss(hand_logits(state, batch['x'], 4), hand_logits(state, fake, 4))  # Minimax: G = -D loss.
  loss, _ = objectives.generator_objective(state, batch, MINIMAX, unroll_steps=0)
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  # Unrolled: D's k updates and G's loss see packed inputs too (a shape error otherwise), and differ from k = 0.
  unrolled, _ = objectives.generator_objective(state, batch, MINIMAX, unroll_steps=2)
  assert np.isfinite(unrolled) and abs(float(unrolled) - float(loss)) > 1e-6


def test_gradient_penalty_takes_one_norm_per_packed_input():
  state, batch = tiny_state_and_batch(packed_config(2))
  d = state.nets['d']
  fake = objectives.generate(state, batch)[0]
  eps = jax.random.uniform(jax.random.key(3), (batch['x'].shape[0],))
  objective = GANObjective(loss='wasserstein', d_terms=(('gradient_penalty', 1.0),))
  ctx = objectives.Context(state, {**batch, 'eps': eps}, fake, {}, {}, d.params, objective)
  got = objectives.D_TERMS['gradient_penalty'](ctx)
  # By hand: interpolate the packed inputs with one weight per packed input, the norm of D's gradient there.
  real_p, fake_p = np.asarray(pack_inputs(batch['x'], 2)), np.asarray(pack_inputs(fake, 2))
  e = np.asarray(eps)[::2, None]
  hat = e * real_p + (1 - e) * fake_p
  grads = jax.vmap(jax.grad(lambda v: d.module.apply({'params': d.params}, v[None])['logits'][0]))(jnp.asarray(hat))
  expected = np.mean((np.linalg.norm(np.asarray(grads), axis=1) - 1) ** 2)
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  # R1 likewise: 1/2 E||grad||^2 over packed inputs.
  r1 = losses.gradient_norm_penalty(ctx.critic(), batch['x'])
  grads = jax.vmap(jax.grad(lambda v: d.module.apply({'params': d.params}, v[None])['logits'][0]))(
      jnp.asarray(real_p))
  np.testing.assert_allclose(r1, 0.5 * np.mean(np.sum(np.asarray(grads) ** 2, axis=1)), rtol=1e-5)


def test_image_d_is_built_for_packed_channels():
  config = base_config()
  config.gen.name = config.disc.name = 'dcgan'
  config.gen.latent_dim = 8
  config.gen.base_channels = config.disc.base_channels = 8
  config.disc.pack = 3
  state = create_state(config, jax.random.key(0), (16, 16, 1))
  kernel = jax.tree.leaves(state.nets['d'].params['Conv_0'])[0]
  assert kernel.shape[2] == 3  # 3 grayscale images as 3 channels.
  images = jax.random.normal(jax.random.key(1), (6, 16, 16, 1))
  out, _ = objectives.discriminate(state, images, None, train=False)
  assert out['logits'].shape == (2,)


def grid_config(**changes):
  config = smoke(base_config())
  config.data.name = 'grid'
  config.disc.pack = 4
  for field, value in changes.items():
    section, key = field.split('.', 1)
    if '.' in key:
      sub, key = key.split('.')
      config[section][sub][key] = value
    else:
      config[section][key] = value
  return config


@pytest.mark.parametrize('changes, message', [
    ({'train.batch_size': 66}, 'config.train.batch_size: got 66; must be divisible by disc.pack=4'),
    ({'cond.enabled': True}, 'config.disc.pack: got 4 with cond.enabled=True'),
    ({'cond.enabled': True, 'loss.d.aux_classifier': 1.0}, 'config.disc.pack: got 4 with cond.enabled=True'),
    ({'info.categories': 5, 'loss.d.info_categorical': 1.0, 'loss.g.info_categorical': 1.0},
     'config.disc.pack: got 4 with info.categories=5'),
    ({'info.continuous': 2}, 'config.disc.pack: got 4 with info.continuous=2'),
    ({'disc.pack': 0}, 'config.disc.pack: got 0; must be an integer >= 1'),
])
def test_packing_refuses_what_it_cannot_combine_with(changes, message):
  with pytest.raises(ConfigError, match=message.replace('(', r'\(').replace(')', r'\)')):
    validate(grid_config(**changes), num_devices=1)


def test_packing_refuses_per_device_shares_it_cannot_split_and_accepts_penalties():
  with pytest.raises(ConfigError, match='config.train.batch_size: got 64: each of the 8 devices holds 8 samples, '
                     'which must be divisible by disc.pack=16'):
    validate(grid_config(**{'disc.pack': 16}), num_devices=8)
  image = base_config()
  image.gen.name = image.disc.name = 'dcgan'
  image.data.name = 'digits'
  image.disc.norm = 'virtual_batch'
  image.disc.pack = 2
  with pytest.raises(ConfigError, match='config.disc.pack: got 2 with disc.norm=.virtual_batch.'):
    validate(image, num_devices=1)
  semi = grid_config(**{'semi.labels_per_class': 5, 'loss.d.supervised': 1.0})
  with pytest.raises(ConfigError, match='config.disc.pack: got 4 with semi.labels_per_class=5'):
    from gan_jax import validation
    validation.validate_packing(semi, 1)
  validate(grid_config(**{'loss.name': 'wasserstein', 'loss.d.gradient_penalty': 10.0, 'loss.d.r1': 1.0}), 1)
