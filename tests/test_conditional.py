"""Conditional and structured GANs: labels through the data, the discriminator heads, and their loss terms against
values computed by hand from the networks' own outputs."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax import models, noise, objectives, steps
from gan_jax.config import base_config
from gan_jax.data import make_dataset
from gan_jax.models.heads import HeadOptions
from gan_jax.state import create_state
from tests.helpers import d_loss, g_loss, tiny_config


def conditional_state_and_batch(config, num_classes=8):
  dataset = make_dataset(config.data)
  state = create_state(config, jax.random.key(0), dataset.shape, num_classes=num_classes)
  real = dataset.draw_labelled(jax.random.key(1), config.train.batch_size)
  batch = {**real, **noise.sample_noise(jax.random.key(2), config.train.batch_size, state.noise)}
  return state, batch


def test_mixture_labels_are_the_components():
  dataset = make_dataset(base_config().data)
  real = dataset.draw_labelled(jax.random.key(0), 500)
  nearest = np.argmin(np.linalg.norm(np.asarray(real['x'])[:, None] - dataset.centers[None], axis=-1), axis=1)
  np.testing.assert_array_equal(nearest, real['y'])
  assert dataset.num_classes == 8


def test_unconditional_noise_is_the_plain_latent():
  # Labels and codes come from their own streams: adding none leaves the latents (and old runs) unchanged.
  spec = noise.NoiseSpec(latent_dim=4)
  drawn = noise.sample_noise(jax.random.key(3), 6, spec)
  np.testing.assert_array_equal(drawn['z'], jax.random.normal(jax.random.key(3), (6, 4)))
  assert set(drawn) == {'z'}


def test_generator_input_concatenates_one_hot_labels_and_codes():
  spec = noise.NoiseSpec(latent_dim=2, num_classes=3, info_categories=4, info_continuous=1)
  drawn = {'z': jnp.array([[0.5, -1.0]]), 'fake_y': jnp.array([2]), 'code_cat': jnp.array([1]),
           'code_cont': jnp.array([[0.25]])}
  np.testing.assert_array_equal(noise.generator_input(drawn, spec),
                                [[0.5, -1.0, 0, 0, 1, 0, 1, 0, 0, 0.25]])
  assert spec.input_dim == 10


def test_concat_conditioning_appends_one_hot_channels_to_images():
  from gan_jax.models.heads import condition_input
  x = jnp.zeros((2, 4, 4, 1))
  out = condition_input(x, jnp.array([0, 2]), HeadOptions(num_classes=3, conditioning='concat'))
  assert out.shape == (2, 4, 4, 4)
  np.testing.assert_array_equal(out[0, 1, 3, 1:], [1, 0, 0])
  np.testing.assert_array_equal(out[1, 2, 0, 1:], [0, 0, 1])


def test_projection_discriminator_adds_the_label_embedding_times_the_features():
  config = base_config()
  config.disc.hidden = (16,)
  d = models.make_discriminator(config.disc, (2,), heads=HeadOptions(num_classes=8, conditioning='projection'))
  x = jax.random.normal(jax.random.key(0), (5, 2))
  y = jnp.array([0, 3, 7, 3, 1])
  variables = d.init(jax.random.key(1), x, y)
  out = d.apply(variables, x, y)
  p = variables['params']
  h = jax.nn.relu(0.25 * x @ p['Dense_0']['kernel'] + p['Dense_0']['bias'])
  plain = (h @ p['Dense_1']['kernel'] + p['Dense_1']['bias'])[:, 0]
  projection = jnp.sum(p['heads']['projection']['embedding'][y] * h, axis=-1)
  np.testing.assert_allclose(out['logits'], plain + projection, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out['features'], h, rtol=1e-6)


def test_conditioned_discriminator_without_labels_says_so():
  config = base_config()
  d = models.make_discriminator(config.disc, (2,), heads=HeadOptions(num_classes=8, conditioning='concat'))
  with pytest.raises(ValueError, match='call it with labels y'):
    d.init(jax.random.key(0), jnp.zeros((1, 2)))


def test_ac_gan_d_loss_is_bce_plus_class_cross_entropy_on_real_and_fake():
  config = tiny_config(steps=0)
  config.cond.enabled = True
  config.cond.disc = 'none'
  config.loss.d.aux_classifier = config.loss.g.aux_classifier = 0.5
  config.optim.d.name = 'sgd'
  config.optim.d.learning_rate = 1.0
  state, batch = conditional_state_and_batch(config)
  assert state.noise.num_classes == 8
  objective = objectives.objective_from_config(config)
  g, d = state.nets['g'], state.nets['d']
  fake = g.module.apply({'params': g.params}, noise.generator_input(batch, state.noise))

  def expected(d_params):
    real_out = d.module.apply({'params': d_params}, batch['x'])
    fake_out = d.module.apply({'params': d_params}, fake)
    ce = lambda logits, labels: -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], 1))
    bce = -jnp.mean(jax.nn.log_sigmoid(real_out['logits'])) - jnp.mean(jax.nn.log_sigmoid(-fake_out['logits']))
    return bce + 0.5 * (ce(real_out['class_logits'], batch['y']) + ce(fake_out['class_logits'], batch['fake_y']))

  new_state, metrics = steps.d_step(state, batch, objective=objective)
  np.testing.assert_allclose(metrics['d_loss'], expected(d.params), rtol=1e-5)
  grads = jax.grad(expected)(d.params)
  jax.tree.map(lambda new, old, g: np.testing.assert_allclose(new, old - g, rtol=1e-4, atol=1e-6),
               new_state.nets['d'].params, d.params, grads)
  # G's AC-GAN term: the class loss of its own samples under the class it drew them for.
  value = g_loss(g.params, state, batch, objective)
  fake_out = d.module.apply({'params': d.params}, fake)
  # tiny_config's loss is minimax: G's adversarial part is minus D's BCE.
  real_out = d.module.apply({'params': d.params}, batch['x'])
  minimax = -(-jnp.mean(jax.nn.log_sigmoid(real_out['logits'])) - jnp.mean(jax.nn.log_sigmoid(-fake_out['logits'])))
  expected_g = minimax + 0.5 * optax.softmax_cross_entropy_with_integer_labels(
      fake_out['class_logits'], batch['fake_y']).mean()
  np.testing.assert_allclose(value, expected_g, rtol=1e-5)


def test_semi_supervised_logit_is_logsumexp_of_class_logits():
  # Salimans et al.: D(x) = Z / (Z + 1), Z = sum_k exp(l_k), so the real/fake logit is logsumexp(l).
  config = base_config()
  config.disc.hidden = (16,)
  d = models.make_discriminator(config.disc, (2,),
                                heads=HeadOptions(class_head='semi_supervised', num_labels=8))
  x = jax.random.normal(jax.random.key(0), (5, 2))
  variables = d.init(jax.random.key(1), x)
  out = d.apply(variables, x)
  assert out['class_logits'].shape == (5, 8)
  z = jnp.sum(jnp.exp(out['class_logits']), axis=-1)
  np.testing.assert_allclose(jax.nn.sigmoid(out['logits']), z / (z + 1), rtol=1e-5)
  assert 'logit' not in variables['params']['heads'] and 'Dense_1' not in variables['params']


def test_infogan_code_loss_in_both_players():
  config = tiny_config(steps=0)
  config.info.categories = 3
  config.info.continuous = 2
  # The paper's weights: lambda = 1 for the categorical code, 0.1 for the continuous ones.
  config.loss.d.info_categorical = config.loss.g.info_categorical = 1.0
  config.loss.d.info_continuous = config.loss.g.info_continuous = 0.1
  state, batch = conditional_state_and_batch(config)
  assert state.noise.input_dim == config.gen.latent_dim + 5
  objective = objectives.objective_from_config(config)
  g, d = state.nets['g'], state.nets['d']
  fake = g.module.apply({'params': g.params}, noise.generator_input(batch, state.noise))
  fake_out = d.module.apply({'params': d.params}, fake)
  real_out = d.module.apply({'params': d.params}, batch['x'])
  log_q_cat = jnp.take_along_axis(jax.nn.log_softmax(fake_out['code_logits']), batch['code_cat'][:, None], 1)
  gaussian_nll = 0.5 * (batch['code_cont'] - fake_out['code_mean']) ** 2 + 0.5 * jnp.log(2 * jnp.pi)
  code_term = -1.0 * jnp.mean(log_q_cat) + 0.1 * jnp.mean(jnp.sum(gaussian_nll, axis=-1))
  bce = -jnp.mean(jax.nn.log_sigmoid(real_out['logits'])) - jnp.mean(jax.nn.log_sigmoid(-fake_out['logits']))
  d_value = d_loss(d.params, state, batch, fake, objective)
  np.testing.assert_allclose(d_value, bce + code_term, rtol=1e-5)
  g_value = g_loss(g.params, state, batch, objective)
  np.testing.assert_allclose(g_value, -bce + code_term, rtol=1e-5)


def test_label_scores_count_asked_for_classes_and_code_separation():
  from gan_jax.evaluation.evaluator import label_scores
  predicted = np.array([0, 1, 2, 3, 0, 1, 2, 3, 1, 1])
  asked = jnp.array([0, 1, 2, 3, 0, 1, 2, 0, 1, 2])  # 8 of 10 as asked.
  codes = jnp.array([2, 0, 1, 3, 2, 0, 1, 3, 0, 0])  # The predictions relabelled 0->2, 1->0, 2->1, 3->3...
  scores = label_scores(predicted, {'fake_y': asked, 'code_cat': codes}, num_codes=4, num_labels=4)
  assert scores['conditional_accuracy'] == 0.8
  assert scores['code_accuracy'] == 1.0  # ... found by the best one-to-one mapping.
  assert scores['code_accuracy_chance'] < 1.0
