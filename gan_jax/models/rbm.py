"""The Bernoulli-Bernoulli restricted Boltzmann machine (Smolensky 1986; Hinton 2002), as pure functions.

Binary visible units v [V] and hidden units h [H] have the energy E(v, h) = -v.b - h.c - v^T W h. Summing the hidden
units out gives the free energy F(v) = -v.b - sum_j softplus(c_j + (vW)_j), with p(v) = exp(-F(v)) / Z. Every
function here takes the parameter dict p = {'W': [V, H], 'b': [V], 'c': [H]}, so callers never need
`module.apply`; `RBM` exists to create those parameters through `state.Network.create`.

Learning: minimising `cd_objective(p, v_data, v_model)` with any optax optimizer is contrastive divergence (v_model
from `gibbs_chain` started at the data) or persistent CD (started at the previous chains' state).
"""

from typing import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Params = Mapping[str, jax.Array]


class RBM(nn.Module):
  """A Bernoulli-Bernoulli RBM whose output is the free energy F(v) [B]; V is the input's last axis.

  Attributes:
    num_hidden: the number of hidden units H.
    init_std: the weights' initial standard deviation (Hinton's practical guide: 0.01); biases start at zero.
  """
  num_hidden: int
  init_std: float = 0.01

  @nn.compact
  def __call__(self, v: jax.Array, train: bool = True) -> jax.Array:
    del train  # Accepted so that `Network.create` and `Network.apply` can pass it.
    num_visible = v.shape[-1]
    params = {
        'W': self.param('W', nn.initializers.normal(self.init_std), (num_visible, self.num_hidden)),
        'b': self.param('b', nn.initializers.zeros, (num_visible,)),
        'c': self.param('c', nn.initializers.zeros, (self.num_hidden,)),
    }
    return free_energy(params, v)


def free_energy(p: Params, v: jax.Array) -> jax.Array:
  """F(v) = -v.b - sum_j softplus(c_j + (vW)_j), i.e. -log sum_h exp(-E(v, h)).

  Args:
    p: the RBM's parameters {'W', 'b', 'c'}.
    v: [B, V] visible states (in {0, 1} for a probability; any reals evaluate the same formula).

  Returns:
    [B] free energies.
  """
  return -v @ p['b'] - jnp.sum(jax.nn.softplus(v @ p['W'] + p['c']), axis=-1)


def hidden_probs(p: Params, v: jax.Array) -> jax.Array:
  """p(h_j = 1 | v) = sigmoid(c_j + (vW)_j).

  Args:
    p: the RBM's parameters.
    v: [B, V] visible states.

  Returns:
    [B, H] probabilities.
  """
  return jax.nn.sigmoid(v @ p['W'] + p['c'])


def visible_probs(p: Params, h: jax.Array) -> jax.Array:
  """p(v_i = 1 | h) = sigmoid(b_i + (W h)_i).

  Args:
    p: the RBM's parameters.
    h: [B, H] hidden states.

  Returns:
    [B, V] probabilities.
  """
  return jax.nn.sigmoid(h @ p['W'].T + p['b'])


def sample_hidden(p: Params, v: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Draws h ~ p(h | v).

  Args:
    p: the RBM's parameters.
    v: [B, V] visible states.
    key: a PRNG key.

  Returns:
    (h, probs): the [B, H] binary sample (in the probabilities' float dtype) and p(h = 1 | v).
  """
  probs = hidden_probs(p, v)
  return jax.random.bernoulli(key, probs).astype(probs.dtype), probs


def sample_visible(p: Params, h: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Draws v ~ p(v | h).

  Args:
    p: the RBM's parameters.
    h: [B, H] hidden states.
    key: a PRNG key.

  Returns:
    (v, probs): the [B, V] binary sample (in the probabilities' float dtype) and p(v = 1 | h).
  """
  probs = visible_probs(p, h)
  return jax.random.bernoulli(key, probs).astype(probs.dtype), probs


def gibbs_chain(p: Params, v0: jax.Array, key: jax.Array, k: int) -> dict[str, jax.Array]:
  """Runs k full block-Gibbs steps v -> h -> v from v0, as one `lax.scan` (the program's size does not grow with k).

  Args:
    p: the RBM's parameters.
    v0: [B, V] the chains' starting visible states (the data for CD-k, the persistent chains for PCD).
    key: a PRNG key.
    k: the number of steps, a Python int >= 1 (static).

  Returns:
    A dict: 'v' [B, V] the visible sample after k steps, 'v_probs' [B, V] the visible probabilities it was drawn
    from, 'h' [B, H] the hidden sample of the last step, and 'first_v_probs' [B, V] the visible probabilities of
    the first step (from v0 through a hidden sample: Hinton's rbm.m reconstruction when v0 is the data).

  Raises:
    ValueError: k < 1.
  """
  if not isinstance(k, (int, np.integer)) or k < 1:
    raise ValueError(f'rbm.gibbs_steps: a Gibbs chain needs k >= 1 full steps (a Python int); got {k!r}')

  def step(carry, step_key):
    v, _, _ = carry
    key_h, key_v = jax.random.split(step_key)
    h, _ = sample_hidden(p, v, key_h)
    v, v_probs = sample_visible(p, h, key_v)
    return (v, v_probs, h), None

  v0 = jnp.asarray(v0, p['W'].dtype)
  keys = jax.random.split(key, int(k))
  # The first step outside the scan, so that its reconstruction is kept without carrying it through the others.
  first = step((v0, None, None), keys[0])[0]
  (v, v_probs, h), _ = jax.lax.scan(step, first, keys[1:])
  return {'v': v, 'v_probs': v_probs, 'h': h, 'first_v_probs': first[1]}


def cd_objective(p: Params, v_data: jax.Array, v_model: jax.Array) -> jax.Array:
  """mean F(v_data) - mean F(v_model), with v_model held constant: the loss whose minimisation is CD / PCD.

  Its gradient with respect to p is the negative of the contrastive divergence estimate of the log-likelihood
  gradient, the positive (data) minus the negative (model sample) phase statistics: for W it is
  -(mean v_data^T sigmoid(c + v_data W) - mean v_model^T sigmoid(c + v_model W)), and likewise for b and c. So
  minimising it with any optax optimizer performs CD-k (v_model from `gibbs_chain` started at v_data) or PCD
  (v_model from persistent chains). Its value is not the log-likelihood (which needs log Z; see
  `evaluation.rbm_likelihood`).

  Args:
    p: the RBM's parameters.
    v_data: [B, V] a batch of training data.
    v_model: [B', V] samples of the model (not differentiated: `stop_gradient`).

  Returns:
    The scalar objective.
  """
  return jnp.mean(free_energy(p, v_data)) - jnp.mean(free_energy(p, jax.lax.stop_gradient(v_model)))


def reconstruction_error(p: Params, v: jax.Array, key: jax.Array | None = None) -> jax.Array:
  """The mean squared error of one v -> h -> v pass, the figure most RBM code prints while training (CD's training
  step reads it off its chain's first step instead: `gibbs_chain`'s 'first_v_probs').

  Hinton's rbm.m prints its sum, this is the mean (sklearn's BernoulliRBM prints the pseudo-likelihood instead).
  It is not a measure of the likelihood (an RBM with W = 0 and the data's base rates reconstructs badly yet models
  the pixels' marginals exactly), only a cheap sign that learning moves.

  Args:
    p: the RBM's parameters.
    v: [B, V] data.
    key: None passes hidden probabilities to the visible layer (deterministic); a key passes a hidden sample, as
      Hinton's rbm.m does. The reconstruction is the visible probabilities either way.

  Returns:
    The scalar mean over samples and units of (v - reconstruction)^2.
  """
  h = hidden_probs(p, v) if key is None else sample_hidden(p, v, key)[0]
  return jnp.mean((v - visible_probs(p, h)) ** 2)


def check_binary(x, field: str) -> None:
  """Raises a ValueError naming `field` unless every value of the host array `x` is 0 or 1.

  Call it on the host (numpy) before anything compiles: the Bernoulli RBM's likelihood is defined on {0, 1}^V only.

  Args:
    x: an array (numpy or anything `np.asarray` takes).
    field: the config field or argument the values come from, for the message.

  Raises:
    ValueError: some value is neither 0 nor 1.
  """
  x = np.asarray(x)
  bad = ~((x == 0) | (x == 1))
  if np.any(bad):
    example = x[bad].flat[0].item()
    raise ValueError(f"{field}: the Bernoulli RBM needs values in {{0, 1}}; {int(bad.sum())} of {x.size} values are "
                     f"not (e.g. {example!r}, range [{x.min()}, {x.max()}]); binarise the data first, e.g. set "
                     "data.binarize='threshold' or 'sample'")
