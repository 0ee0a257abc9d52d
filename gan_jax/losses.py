"""GAN objectives as pure functions of discriminator logits.

Conventions: every loss is a mean over the batch; the discriminator loss is the sum of the mean over real samples and
the mean over fake samples (the negated value function V(D, G) of Goodfellow et al. 2014). Label smoothing is
one-sided (Salimans et al. 2016): the real target becomes `1 - label_smoothing`, fake targets stay at 0.

Each loss has a `d_loss(real_logits, fake_logits)` and a `g_loss(real_logits, fake_logits)`. The generator loss takes
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


@dataclasses.dataclass(frozen=True)
class GANLoss:
  """A pair of objectives; `label_smoothing` is bound in by `make_loss`."""
  d_loss: Callable[[Array, Array], Array]
  g_loss: Callable[[Array, Array], Array]


LOSSES: dict[str, tuple[Callable, Callable]] = {
    'minimax': (discriminator_loss, minimax_generator_loss),
    'non_saturating': (discriminator_loss, non_saturating_generator_loss),
}


def make_loss(name: str, label_smoothing: float = 0.0) -> GANLoss:
  """Returns the named loss pair with its label smoothing bound."""
  d_loss, g_loss = LOSSES[name]
  return GANLoss(
      d_loss=lambda r, f: d_loss(r, f, label_smoothing),
      g_loss=lambda r, f: g_loss(r, f, label_smoothing),
  )
