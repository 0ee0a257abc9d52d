"""GAN objectives as pure functions of discriminator logits.

Conventions: every loss is a mean over the batch; the discriminator loss is the sum of the mean over real samples and
the mean over fake samples (the negated value function V(D, G) of Goodfellow et al. 2014). Label smoothing is
one-sided (Salimans et al. 2016): the real target becomes `1 - label_smoothing`, fake targets stay at 0.

Each loss has a `d_loss(real_logits, fake_logits)` and a `g_loss(real_logits, fake_logits)`; D's raw outputs are
called logits for every loss, though for the Wasserstein loss they are critic values. The generator loss takes
the real logits too because an unrolled discriminator depends on the generator: the minimax generator minimises the
negated discriminator loss, whose real-data term then carries a gradient (Metz et al. 2017, eq. 4).
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import optax

Array = jax.Array


def discriminator_loss(real_logits: Array, fake_logits: Array, label_smoothing: float = 0.0) -> Array:
  """Binary cross-entropy of D: -E[log D(x)] - E[log(1 - D(G(z)))], with one-sided smoothing of the real target."""
  real_target = jnp.full_like(real_logits, 1.0 - label_smoothing)
  real = optax.sigmoid_binary_cross_entropy(real_logits, real_target).mean()
  fake = optax.sigmoid_binary_cross_entropy(fake_logits, jnp.zeros_like(fake_logits)).mean()
  return real + fake


def minimax_generator_loss(real_logits: Array, fake_logits: Array, label_smoothing: float = 0.0) -> Array:
  """The saturating G loss: minus D's loss, so E[log(1 - D(G(z)))] up to a term constant in G when D is fixed.

  Its gradient with respect to a fake logit f is -sigmoid(f) / batch: it vanishes when D confidently rejects
  the sample, which is why it saturates early in training.
  """
  return -discriminator_loss(real_logits, fake_logits, label_smoothing)


def non_saturating_generator_loss(real_logits: Array, fake_logits: Array, label_smoothing: float = 0.0) -> Array:
  """The non-saturating G loss -E[log D(G(z))]; its gradient in f is -(1 - sigmoid(f)) / batch."""
  del real_logits, label_smoothing
  return optax.sigmoid_binary_cross_entropy(fake_logits, jnp.ones_like(fake_logits)).mean()


def wasserstein_critic_loss(real_logits: Array, fake_logits: Array) -> Array:
  """WGAN (Arjovsky et al. 2017): the critic minimises E[D(G(z))] - E[D(x)]."""
  return fake_logits.mean() - real_logits.mean()


def wasserstein_generator_loss(real_logits: Array, fake_logits: Array) -> Array:
  """WGAN: G minimises -E[D(G(z))]."""
  del real_logits
  return -fake_logits.mean()


def least_squares_discriminator_loss(real_logits: Array, fake_logits: Array) -> Array:
  """LSGAN (Mao et al. 2017) with targets a=0 (fake), b=1 (real): 1/2 E[(D(x)-1)^2] + 1/2 E[D(G(z))^2]."""
  return 0.5 * jnp.mean((real_logits - 1.0) ** 2) + 0.5 * jnp.mean(fake_logits**2)


def least_squares_generator_loss(real_logits: Array, fake_logits: Array) -> Array:
  """LSGAN with c=1: G minimises 1/2 E[(D(G(z))-1)^2]."""
  del real_logits
  return 0.5 * jnp.mean((fake_logits - 1.0) ** 2)


def hinge_discriminator_loss(real_logits: Array, fake_logits: Array) -> Array:
  """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]."""
  return jax.nn.relu(1.0 - real_logits).mean() + jax.nn.relu(1.0 + fake_logits).mean()


def hinge_generator_loss(real_logits: Array, fake_logits: Array) -> Array:
  """Hinge loss: G minimises -E[D(G(z))]."""
  del real_logits
  return -fake_logits.mean()


def gradient_penalty(critic: Callable[[Array], Array], real: Array, fake: Array, eps: Array) -> Array:
  """WGAN-GP (Gulrajani et al. 2017): E[(||grad_x D(x_hat)||_2 - 1)^2] at x_hat = eps x + (1 - eps) G(z).

  Args:
    critic: examples [B, ...] -> critic values [B]. Per-example gradients need each value to depend on its own
      example only (no batch normalisation in the critic).
    real: real examples [B, ...].
    fake: generated examples [B, ...].
    eps: interpolation weights in [0, 1], one per example [B].

  Returns:
    The penalty (a scalar), before its weight (lambda = 10 in the paper).
  """
  eps = eps.reshape((-1,) + (1,) * (real.ndim - 1))
  interpolates = eps * real + (1.0 - eps) * fake
  grads = jax.grad(lambda x: critic(x).sum())(interpolates)
  # The small constant keeps the square root differentiable where a gradient is exactly zero.
  norms = jnp.sqrt(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=1) + 1e-12)
  return jnp.mean((norms - 1.0) ** 2)


def classification_loss(class_logits: Array, labels: Array) -> Array:
  """Softmax cross-entropy of class logits [B, K] against integer labels [B], averaged over the batch.

  AC-GAN's auxiliary loss (both players, on real and generated samples) and the supervised loss of the
  semi-supervised discriminator.
  """
  return optax.softmax_cross_entropy_with_integer_labels(class_logits, labels).mean()


def feature_matching_loss(real_features: Array, fake_features: Array) -> Array:
  """Salimans et al. 2016, section 3.1: ||E f(x) - E f(G(z))||_2^2 over a layer f of D (batch means)."""
  real_mean = real_features.reshape(real_features.shape[0], -1).mean(axis=0)
  fake_mean = fake_features.reshape(fake_features.shape[0], -1).mean(axis=0)
  return jnp.sum((real_mean - fake_mean) ** 2)


G_OBJECTIVES = ('adversarial', 'feature_matching')


@dataclasses.dataclass(frozen=True)
class GANLoss:
  """A pair of objectives and the weights of the terms added to them, with options bound in by `make_loss`."""
  d_loss: Callable[[Array, Array], Array]
  g_loss: Callable[[Array, Array], Array]
  gradient_penalty: float = 0.0  # The weight of `gradient_penalty` in D's loss (0: none).
  aux_classifier: float = 0.0  # AC-GAN: the weight of `classification_loss` in both players' losses.
  info_categorical: float = 0.0  # InfoGAN's lambda for the categorical code (both players).
  info_continuous: float = 0.0  # And for the continuous codes.
  supervised: float = 0.0  # Semi-supervised GAN: the weight of the labelled examples' classification loss in D's.
  adversarial: bool = True  # False: D minimises only its extra terms (the supervised baseline).
  g_objective: str = 'adversarial'  # Or 'feature_matching': G matches D's mean features on `feature_layer`.
  feature_layer: int = -1  # Index into D's hidden layers; -1 is the last, the features under the logit.
  historical_averaging: float = 0.0  # Weight of ||theta - mean of past theta||^2 in each player's loss.


def _smoothed(fn: Callable, label_smoothing: float) -> Callable[[Array, Array], Array]:
  return lambda r, f: fn(r, f, label_smoothing)


# name -> (d_loss, g_loss, whether the loss takes label smoothing)
LOSSES: dict[str, tuple[Callable, Callable, bool]] = {
    'minimax': (discriminator_loss, minimax_generator_loss, True),
    'non_saturating': (discriminator_loss, non_saturating_generator_loss, True),
    'wasserstein': (wasserstein_critic_loss, wasserstein_generator_loss, False),
    'least_squares': (least_squares_discriminator_loss, least_squares_generator_loss, False),
    'hinge': (hinge_discriminator_loss, hinge_generator_loss, False),
}


def make_loss(name: str, label_smoothing: float = 0.0, gradient_penalty_weight: float = 0.0, **terms) -> GANLoss:
  """Returns the named loss pair with its options bound; `terms` are the other `GANLoss` fields."""
  d_loss, g_loss, smoothable = LOSSES[name]
  if smoothable:
    d_loss, g_loss = _smoothed(d_loss, label_smoothing), _smoothed(g_loss, label_smoothing)
  elif label_smoothing:
    raise ValueError(f'loss {name!r} has no labels to smooth; label smoothing applies to minimax, non_saturating')
  return GANLoss(d_loss=d_loss, g_loss=g_loss, gradient_penalty=gradient_penalty_weight, **terms)


def loss_from_config(config) -> GANLoss:
  """The experiment's whole objective: `config.loss` and the weights of the AC-GAN, InfoGAN and semi-supervised
  terms."""
  c = config.loss
  return make_loss(c.name, c.label_smoothing, c.gradient_penalty, aux_classifier=c.aux_classifier,
                   info_categorical=config.info.categorical_weight if config.info.categories else 0.0,
                   info_continuous=config.info.continuous_weight if config.info.continuous else 0.0,
                   supervised=config.semi.weight if config.semi.labels_per_class else 0.0,
                   g_objective=c.g_objective, feature_layer=c.feature_layer,
                   historical_averaging=c.historical_averaging, adversarial=config.semi.adversarial)
