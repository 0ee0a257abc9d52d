"""InfoGAN's variational lower bound on the mutual information between codes and samples (Chen et al. 2016).

L_I(G, Q) = E_{c ~ P(c), x ~ G(z, c)}[log Q(c | x)] + H(c) <= I(c; G(z, c)), tight when Q(c | x) is the true
posterior P(c | x). H(c) is a constant of the prior, so G and Q both minimise the code NLL -E[log Q(c | x)] (times
InfoGAN's lambda); the entropies here only turn that NLL into a bound in nats for logging.
"""

import math

import jax
import jax.numpy as jnp
import optax

Array = jax.Array

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def categorical_code_nll(code_logits: Array, codes: Array) -> Array:
  """The mean over the batch of -log Q(c | x) for a categorical code, Q = softmax(code_logits).

  Args:
    code_logits: Q's logits [B, K].
    codes: the integer codes fed to G [B], in [0, K).

  Returns:
    A scalar; its gradient in the logits is (softmax - one_hot(codes)) / B.
  """
  return optax.softmax_cross_entropy_with_integer_labels(code_logits, codes).mean()


def gaussian_code_nll(mean: Array, codes: Array, log_std: Array | None = None) -> Array:
  """The mean over the batch of -log N(c; mean, std^2), summed over code dimensions.

  With log_std None the standard deviation is 1, InfoGAN's fixed-variance choice for continuous codes; the NLL is
  then 0.5 ||c - mean||^2 plus a constant. The 0.5 log(2 pi) constant is kept so that the value is a true NLL.

  Args:
    mean: Q's predicted means [B, C].
    codes: the continuous codes fed to G [B, C].
    log_std: Q's predicted log standard deviations, broadcastable to [B, C], or None for std = 1.

  Returns:
    A scalar.
  """
  mean, codes = jnp.asarray(mean), jnp.asarray(codes)
  log_std = jnp.zeros_like(mean) if log_std is None else jnp.broadcast_to(jnp.asarray(log_std), mean.shape)
  per_dim = 0.5 * jnp.square((codes - mean) * jnp.exp(-log_std)) + log_std + _HALF_LOG_2PI
  return jnp.sum(per_dim.reshape(per_dim.shape[0], -1), axis=1).mean()


def categorical_entropy(num_categories: int) -> float:
  """H(c) = log K in nats for a code uniform over K categories (InfoGAN's categorical prior)."""
  if num_categories < 1:
    raise ValueError(f'num_categories must be at least 1, got {num_categories}')
  return math.log(num_categories)


def uniform_entropy(low: float, high: float, dims: int) -> float:
  """H(c) = dims * log(high - low) in nats for `dims` independent codes, each U(low, high)."""
  if high <= low:
    raise ValueError(f'high must exceed low, got low={low}, high={high}')
  return dims * math.log(high - low)


def gaussian_entropy(std: float, dims: int) -> float:
  """H(c) = dims * 0.5 log(2 pi e std^2) in nats for `dims` independent codes, each N(0, std^2)."""
  if std <= 0:
    raise ValueError(f'std must be positive, got {std}')
  return dims * (_HALF_LOG_2PI + 0.5 + math.log(std))


def mi_lower_bound(nll: Array, entropy: float) -> Array:
  """L_I = H(c) - E[-log Q(c | x)], a lower bound on I(c; G(z, c)) in nats."""
  return entropy - nll
