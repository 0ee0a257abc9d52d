"""GAN objectives as pure functions of discriminator logits.

Conventions: every loss is a mean over the batch; the discriminator loss is the sum of the mean over real samples and
the mean over fake samples (the negated value function V(D, G) of Goodfellow et al. 2014). Label smoothing is
one-sided (Salimans et al. 2016): the real target becomes `1 - label_smoothing`, fake targets stay at 0.

Each loss has a `d_loss(real_logits, fake_logits)` and a `g_loss(real_logits, fake_logits)`; D's raw outputs are
called logits for every loss, though for the Wasserstein loss they are critic values. The generator loss takes
the real logits too because an unrolled discriminator depends on the generator: the minimax generator minimises the
negated discriminator loss, whose real-data term then carries a gradient (Metz et al. 2017, eq. 4).
"""

from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan_jax.config import choice, require

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
    critic: examples [B, ...] -> critic values [B], or [B/m] for a packed critic (PacGAN), whose value depends on
      m consecutive examples: the norm is then over the gradient of each value, its m examples' together. Each
      value must depend on its own examples only (no batch normalisation in the critic).
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
  norms = jnp.sqrt(jnp.sum(_per_value(grads, critic) ** 2, axis=1) + 1e-12)
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


def relativistic_average_discriminator_loss(real_logits: Array, fake_logits: Array) -> Array:
  """RaSGAN (Jolicoeur-Martineau 2018, eq. 12): D judges whether real data is more realistic than the average fake.

  -E_r[log sigmoid(C(x_r) - E_f C(x_f))] - E_f[log(1 - sigmoid(C(x_f) - E_r C(x_r)))], C the raw critic.
  """
  real_rel = real_logits - fake_logits.mean()
  fake_rel = fake_logits - real_logits.mean()
  return (optax.sigmoid_binary_cross_entropy(real_rel, jnp.ones_like(real_rel)).mean()
          + optax.sigmoid_binary_cross_entropy(fake_rel, jnp.zeros_like(fake_rel)).mean())


def relativistic_average_generator_loss(real_logits: Array, fake_logits: Array) -> Array:
  """RaSGAN's G loss: D's with real and fake swapped, so G also pulls real data's relative realism down."""
  return relativistic_average_discriminator_loss(fake_logits, real_logits)


def relativistic_average_ls_discriminator_loss(real_logits: Array, fake_logits: Array) -> Array:
  """RaLSGAN (Jolicoeur-Martineau 2018, eq. 13): E_r[(C(x_r) - E_f C(x_f) - 1)^2] + E_f[(C(x_f) - E_r C(x_r) + 1)^2]."""
  return (jnp.mean((real_logits - fake_logits.mean() - 1.0) ** 2)
          + jnp.mean((fake_logits - real_logits.mean() + 1.0) ** 2))


def relativistic_average_ls_generator_loss(real_logits: Array, fake_logits: Array) -> Array:
  """RaLSGAN's G loss: D's with real and fake swapped."""
  return relativistic_average_ls_discriminator_loss(fake_logits, real_logits)


def gradient_norm_penalty(critic: Callable[[Array], Array], x: Array) -> Array:
  """R1 (on real x) or R2 (on generated x) of Mescheder et al. 2018: 1/2 E[||grad_x D(x)||_2^2].

  The 1/2 is the paper's, so that the term's weight is its gamma. As for the gradient penalty, each critic value must
  depend on its own examples only; a packed critic's norms are per value (over its m examples).
  """
  grads = jax.grad(lambda x: critic(x).sum())(x)
  return 0.5 * jnp.mean(jnp.sum(_per_value(grads, critic) ** 2, axis=1))


def _per_value(grads: Array, critic: Callable[[Array], Array]) -> Array:
  """The gradient [B, ...] as rows [V, B/V * ...], one per critic value: consecutive examples for a packed critic."""
  num_values = jax.eval_shape(critic, grads).shape[0]
  return grads.reshape(num_values, -1)


# name -> (d_loss, g_loss, whether the loss takes label smoothing)
LOSSES: dict[str, tuple[Callable, Callable, bool]] = {
    'minimax': (discriminator_loss, minimax_generator_loss, True),
    'non_saturating': (discriminator_loss, non_saturating_generator_loss, True),
    'wasserstein': (wasserstein_critic_loss, wasserstein_generator_loss, False),
    'least_squares': (least_squares_discriminator_loss, least_squares_generator_loss, False),
    'hinge': (hinge_discriminator_loss, hinge_generator_loss, False),
    'relativistic_average': (relativistic_average_discriminator_loss, relativistic_average_generator_loss, False),
    'relativistic_average_ls': (relativistic_average_ls_discriminator_loss, relativistic_average_ls_generator_loss,
                                False),
}


def matching_aware_discriminator_loss(real_logits: Array, fake_logits: Array, mismatched_logits: Array) -> Array:
  """The matching-aware D of text -> image GANs (Reed et al. 2016's GAN-CLS; StackGAN's released code): real images
  with their own text are real, generated images with that text and real images with another text are fake, the two
  fake kinds weighted 1/2 each: -E log D(x, t) - (E log(1 - D(G, t)) + E log(1 - D(x, t'))) / 2."""
  real = optax.sigmoid_binary_cross_entropy(real_logits, jnp.ones_like(real_logits)).mean()
  fake = optax.sigmoid_binary_cross_entropy(fake_logits, jnp.zeros_like(fake_logits)).mean()
  wrong = optax.sigmoid_binary_cross_entropy(mismatched_logits, jnp.zeros_like(mismatched_logits)).mean()
  return real + 0.5 * (fake + wrong)


def kl_to_standard_normal(mu: Array, log_sigma: Array) -> Array:
  """KL(N(mu, diag sigma^2) || N(0, I)) of each row of [B, N], averaged over the batch and the N dimensions (the
  reduction of StackGAN's released code; the sum over dimensions is N times this):
  mean(-log sigma + (sigma^2 + mu^2 - 1) / 2)."""
  return jnp.mean(-log_sigma + 0.5 * (jnp.exp(2.0 * log_sigma) + jnp.square(mu) - 1.0))


def adversarial_pair(name: str, label_smoothing: float = 0.0) -> tuple[Callable[[Array, Array], Array],
                                                                       Callable[[Array, Array], Array]]:
  """The named (d_loss, g_loss), each `(real_logits, fake_logits) -> scalar`, with label smoothing bound in."""
  d_loss, g_loss, smoothable = LOSSES[name]
  if smoothable:
    return (lambda r, f: d_loss(r, f, label_smoothing)), (lambda r, f: g_loss(r, f, label_smoothing))
  if label_smoothing:
    raise ValueError(f'loss {name!r} has no labels to smooth; label smoothing applies to minimax, non_saturating')
  return d_loss, g_loss


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks the adversarial pair of the `config.loss` section: its name and label smoothing.

  The terms' weights (`config.loss.d`, `config.loss.g`) are the objectives' (`objectives.check_terms`).

  Raises:
    ConfigError: naming the field, the value and the accepted values.
  """
  choice(config.name, 'loss.name', sorted(LOSSES))
  require(0.0 <= config.label_smoothing < 1.0, 'loss.label_smoothing',
          f'got {config.label_smoothing}; must lie in [0, 1)')
  smoothable = [name for name, (_, _, s) in LOSSES.items() if s]
  require(config.label_smoothing == 0 or config.name in smoothable, 'loss.label_smoothing',
          f'applies to the losses with labels ({", ".join(smoothable)}), not {config.name!r}')
