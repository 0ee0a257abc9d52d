"""The variational autoencoder (Kingma & Welling 2014) with a Gaussian encoder and a Bernoulli decoder, as pure
functions of the two networks' parameters.

The encoder q(z|x) = N(z; mean(x), diag(exp(log_var(x)))) and the decoder p(x|z) = prod_i Bernoulli(x_i;
sigmoid(logits_i(z))) with the prior p(z) = N(0, I) give the evidence lower bound per example

  ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) <= log p(x),

whose first term is estimated with one reparameterised sample z = mean + exp(log_var / 2) * eps, eps ~ N(0, I), and
whose second is in closed form. The importance-weighted estimate of Burda et al. (2016),

  log p(x) ~ log (1/k) sum_i p(x, z_i) / q(z_i|x),  z_i ~ q(z|x),

is a tighter bound in expectation, increasing in k towards log p(x); with k = 5,000 it is the standard measure of a
VAE's test log-likelihood. Every quantity is in nats per image; images are binary pixels in {0, 1}.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any
LOG_2PI = float(np.log(2.0 * np.pi))
# Glorot & Bengio's initialisation, derived for tanh units (Burda et al.'s networks).
_KERNEL_INIT = nn.initializers.xavier_uniform()


class GaussianEncoder(nn.Module):
  """x -> tanh hidden layers -> the mean and log variance of q(z|x) (Burda et al.'s one-stochastic-layer model).

  Attributes:
    hidden: the widths of the deterministic hidden layers.
    latent_dim: the dimension of z.
  """
  hidden: Sequence[int] = (200, 200)
  latent_dim: int = 50

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> dict[str, jax.Array]:
    """q(z|x) of images `x` [B, ...] (flattened here).

    Returns:
      {'mean', 'log_var'}, each [B, latent_dim].
    """
    del train  # Accepted so that `Network.create` and `Network.apply` can pass it.
    h = x.reshape(x.shape[0], -1)
    for width in self.hidden:
      h = jnp.tanh(nn.Dense(width, kernel_init=_KERNEL_INIT)(h))
    return {'mean': nn.Dense(self.latent_dim, kernel_init=_KERNEL_INIT, name='mean')(h),
            'log_var': nn.Dense(self.latent_dim, kernel_init=_KERNEL_INIT, name='log_var')(h)}


class BernoulliDecoder(nn.Module):
  """z -> tanh hidden layers -> the logits of p(x|z), one per pixel, shaped like the image.

  Attributes:
    hidden: the widths of the deterministic hidden layers.
    output_shape: the shape of one image, e.g. (28, 28, 1).
  """
  hidden: Sequence[int] = (200, 200)
  output_shape: tuple[int, ...] = (28, 28, 1)

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    """The logits of p(x|z) for latents `z` [B, latent_dim].

    Returns:
      Logits [B, *output_shape].
    """
    del train
    h = z
    for width in self.hidden:
      h = jnp.tanh(nn.Dense(width, kernel_init=_KERNEL_INIT)(h))
    logits = nn.Dense(int(np.prod(self.output_shape)), kernel_init=_KERNEL_INIT)(h)
    return logits.reshape(z.shape[0], *self.output_shape)


def reparameterize(mean: jax.Array, log_var: jax.Array, key: jax.Array) -> jax.Array:
  """z = mean + exp(log_var / 2) * eps with eps ~ N(0, I) drawn from `key`: a sample of q differentiable in its
  parameters.

  Args:
    mean: [B, L].
    log_var: [B, L].
    key: a typed PRNG key.

  Returns:
    z [B, L].
  """
  return mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, mean.shape, mean.dtype)


def gaussian_kl(mean: jax.Array, log_var: jax.Array) -> jax.Array:
  """KL(N(mean, diag(exp(log_var))) || N(0, I)) in closed form, per example.

  Args:
    mean: [B, L].
    log_var: [B, L].

  Returns:
    [B] = 1/2 sum_l (exp(log_var) + mean^2 - 1 - log_var).
  """
  return 0.5 * jnp.sum(jnp.exp(log_var) + mean**2 - 1.0 - log_var, axis=-1)


def bernoulli_log_likelihood(logits: jax.Array, x01: jax.Array) -> jax.Array:
  """log p(x|logits) = sum_i x_i log sigmoid(l_i) + (1 - x_i) log(1 - sigmoid(l_i)), per example.

  Written as -x softplus(-l) - (1 - x) softplus(l), which stays finite for any logit.

  Args:
    logits: [B, ...].
    x01: the pixels in {0, 1} (or probabilities in [0, 1]), the shape of `logits`.

  Returns:
    [B], summed over every axis but the first.
  """
  log_p = -x01 * jax.nn.softplus(-logits) - (1.0 - x01) * jax.nn.softplus(logits)
  return jnp.sum(log_p.reshape(log_p.shape[0], -1), axis=-1)


def log_normal(z: jax.Array, mean: jax.Array | float = 0.0, log_var: jax.Array | float = 0.0) -> jax.Array:
  """log N(z; mean, diag(exp(log_var))), summed over the last axis (default: the prior N(0, I))."""
  return -0.5 * jnp.sum(LOG_2PI + log_var + (z - mean)**2 * jnp.exp(-log_var), axis=-1)


def encode(encoder: nn.Module, params: PyTree, x01: jax.Array) -> tuple[jax.Array, jax.Array]:
  """q(z|x)'s (mean, log_var), each [B, L]."""
  q = encoder.apply({'params': params}, x01)
  return q['mean'], q['log_var']


def decode(decoder: nn.Module, params: PyTree, z: jax.Array) -> jax.Array:
  """p(x|z)'s logits [B, *image shape]."""
  return decoder.apply({'params': params}, z)


def elbo_terms(decoder: nn.Module, dec_params: PyTree, x01: jax.Array, mean: jax.Array, log_var: jax.Array,
               key: jax.Array) -> dict[str, jax.Array]:
  """The ELBO of `x01` under the posterior (mean, log_var): one reparameterised sample, the closed-form KL.

  Args:
    decoder: the Bernoulli decoder module.
    dec_params: its parameters.
    x01: binary images [B, ...].
    mean: q's means [B, L].
    log_var: q's log variances [B, L].
    key: the reparameterisation noise's key.

  Returns:
    Per example [B]: 'elbo', 'reconstruction' (-log p(x|z), the reconstruction's negative log-likelihood) and 'kl'
    (KL(q || p(z))), with elbo = -(reconstruction + kl).
  """
  z = reparameterize(mean, log_var, key)
  reconstruction = -bernoulli_log_likelihood(decode(decoder, dec_params, z), x01)
  kl = gaussian_kl(mean, log_var)
  return {'elbo': -(reconstruction + kl), 'reconstruction': reconstruction, 'kl': kl}


def elbo(encoder: nn.Module, decoder: nn.Module, enc_params: PyTree, dec_params: PyTree, x01: jax.Array,
         key: jax.Array) -> dict[str, jax.Array]:
  """The ELBO per example of binary images `x01` [B, ...] (see `elbo_terms`, whose dict it returns)."""
  mean, log_var = encode(encoder, enc_params, x01)
  return elbo_terms(decoder, dec_params, x01, mean, log_var, key)


def negative_elbo(encoder: nn.Module, decoder: nn.Module, enc_params: PyTree, dec_params: PyTree, x01: jax.Array,
                  key: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
  """The VAE's training loss: -ELBO averaged over the batch, in nats per image.

  Returns:
    (loss, {'reconstruction', 'kl'}: the batch means of its two parts, which sum to the loss).
  """
  terms = elbo(encoder, decoder, enc_params, dec_params, x01, key)
  return -jnp.mean(terms['elbo']), {'reconstruction': jnp.mean(terms['reconstruction']),
                                    'kl': jnp.mean(terms['kl'])}


def importance_weighted_log_likelihood(encoder: nn.Module, decoder: nn.Module, enc_params: PyTree,
                                       dec_params: PyTree, x01: jax.Array, key: jax.Array, num_samples: int,
                                       chunk: int) -> jax.Array:
  """Burda et al.'s k-sample estimate log (1/k) sum_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x), per example.

  Sample i's noise comes from `fold_in(key, i)` whatever the chunking, so the estimate does not depend on `chunk`
  (up to the order of floating-point sums). The samples are processed `chunk` at a time (`lax.map`), each chunk
  reduced to its log-sum-exp, so memory grows with `chunk` and not with `num_samples`.

  Args:
    encoder, decoder: the modules.
    enc_params, dec_params: their parameters.
    x01: binary images [B, ...].
    key: the samples' key.
    num_samples: k (static).
    chunk: samples per chunk (static); the last chunk may be partly empty.

  Returns:
    [B] estimates of log p(x) in nats; a lower bound in expectation, equal to the ELBO's expectation for k = 1.
  """
  mean, log_var = encode(encoder, enc_params, x01)
  chunk = min(chunk, num_samples)
  num_chunks = -(-num_samples // chunk)

  def chunk_log_sum(c):
    index = c * chunk + jnp.arange(chunk)
    eps = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), mean.shape, mean.dtype))(index)
    z = mean + jnp.exp(0.5 * log_var) * eps  # [chunk, B, L]
    logits = decode(decoder, dec_params, z.reshape(-1, z.shape[-1]))
    x = jnp.broadcast_to(x01, (chunk, *x01.shape)).reshape(logits.shape)
    log_w = (bernoulli_log_likelihood(logits, x).reshape(chunk, -1) + log_normal(z)
             - log_normal(z, mean, log_var))
    log_w = jnp.where((index < num_samples)[:, None], log_w, -jnp.inf)
    return jax.nn.logsumexp(log_w, axis=0)

  per_chunk = jax.lax.map(chunk_log_sum, jnp.arange(num_chunks))  # [num_chunks, B]
  return jax.nn.logsumexp(per_chunk, axis=0) - jnp.log(num_samples)
