"""The likelihood of a Bernoulli-Bernoulli RBM: its log partition function, exactly or by AIS, and pseudo-likelihood.

log p(v) = -F(v) - log Z needs log Z = log sum_v exp(-F(v)). `exact_log_partition` enumerates the hidden
configurations (H <= 20); `ais_log_partition` estimates it by annealed importance sampling (Salakhutdinov & Murray,
"On the quantitative analysis of deep belief networks", ICML 2008) for RBMs of any size. `pseudo_log_likelihood` is
scikit-learn's `BernoulliRBM.score_samples`, a cheap stand-in that needs no Z; `load_sklearn_rbm` lets a fitted
sklearn RBM be measured with the same functions.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.models.rbm import Params, free_energy

MAX_EXACT_HIDDEN = 20  # 2^20 hidden configurations: seconds on a CPU for MNIST-sized V.
_CHUNK_BITS = 12  # Hidden configurations per chunk, as a power of 2: 4096 x V floats at a time.


def exact_log_partition(p: Params) -> jax.Array:
  """log Z by enumerating all 2^H hidden configurations (H <= 20), in chunks of 4096.

  Summing the visible units out instead of the hidden ones, log Z = logsumexp_h [c.h + sum_i softplus(b_i + (Wh)_i)].

  Args:
    p: the RBM's parameters {'W': [V, H], 'b', 'c'}.

  Returns:
    The scalar log Z, in the parameters' dtype.

  Raises:
    ValueError: more than 20 hidden units.
  """
  num_hidden = p['W'].shape[1]
  if num_hidden > MAX_EXACT_HIDDEN:
    raise ValueError(f'exact_log_partition enumerates 2^H hidden configurations and allows H <= {MAX_EXACT_HIDDEN}; '
                     f'this RBM has {num_hidden} hidden units: use ais_log_partition')
  return _exact_log_partition(p)


@jax.jit
def _exact_log_partition(p: Params) -> jax.Array:
  num_hidden = p['W'].shape[1]
  chunk_bits = min(num_hidden, _CHUNK_BITS)
  bits = jnp.arange(num_hidden, dtype=jnp.uint32)

  def chunk_log_sum(chunk):
    index = (chunk << chunk_bits) + jnp.arange(2 ** chunk_bits, dtype=jnp.uint32)
    h = ((index[:, None] >> bits) & 1).astype(p['W'].dtype)  # [2^chunk_bits, H]: bit j of the index is h_j.
    log_weights = h @ p['c'] + jnp.sum(jax.nn.softplus(h @ p['W'].T + p['b']), axis=-1)
    return jax.nn.logsumexp(log_weights)

  chunks = jnp.arange(2 ** (num_hidden - chunk_bits), dtype=jnp.uint32)
  return jax.nn.logsumexp(jax.lax.map(chunk_log_sum, chunks))


def base_rate_bias(train_data, eps: float = 1e-3) -> np.ndarray:
  """The visible biases of the base-rate model: the maximum-likelihood W = 0 RBM of the data, for AIS's base.

  Args:
    train_data: [N, V] binary training data (host array).
    eps: the pixel means are clipped to [eps, 1 - eps], so that units never (or always) on in the data get a finite
      bias.

  Returns:
    [V] float32 biases logit(clipped mean of each unit).
  """
  mean = np.clip(np.mean(np.asarray(train_data, np.float64), axis=0), eps, 1 - eps)
  return (np.log(mean) - np.log1p(-mean)).astype(np.float32)


def ais_log_partition(p: Params, key: jax.Array, num_temperatures: int, num_chains: int,
                      base_visible_bias) -> tuple[jax.Array, jax.Array]:
  """Estimates log Z by annealed importance sampling from a base-rate model (Salakhutdinov & Murray 2008).

  The base model A has W = 0, visible biases `base_visible_bias` and hidden biases 0 with as many hidden units as
  the RBM B, so log Z_A = sum_i softplus(b_A,i) + H log 2. The intermediate distributions
  p_k(v) ∝ exp(-(1 - beta_k) E_A - beta_k E_B), with both models' hidden units summed out (the paper's eq. 13), are
  log p*_k(v) = (1 - beta_k) v.b_A + H log 2 + beta_k v.b_B + sum_j softplus(beta_k (c_j + (vW)_j)), for beta
  linear from 0 to 1. Chains start at exact samples of A; the transition at beta_k is one Gibbs sweep: h_A, h_B,
  then v. Since W_A = 0 and c_A = 0, h_A is a fair coin that v's conditional does not depend on, so its draw is left
  out. The temperature loop is one `lax.scan`.

  Args:
    p: the RBM's parameters.
    key: a PRNG key.
    num_temperatures: the number of betas including 0 and 1 (>= 2; 2 is plain importance sampling from A).
      Salakhutdinov & Murray use ~14,500 for MNIST RBMs.
    num_chains: the number of independent AIS runs.
    base_visible_bias: [V] the base model's visible biases, normally `base_rate_bias(train_data)`.

  Returns:
    (log_z, std_error): the estimate log mean_r exp(w_r) + log Z_A from the runs' log weights w_r, and its
    standard error by the delta method, std(exp(w)) / (sqrt(num_chains) mean(exp(w))). Like any AIS estimate it
    is unbiased for Z, not for log Z, and tends to underestimate log Z when the weights' variance is large; a
    small standard error from few chains can also miss rare heavy weights.

  Raises:
    ValueError: num_temperatures < 2 or num_chains < 2.
  """
  if num_temperatures < 2:
    raise ValueError(f'rbm.ais_temperatures: AIS needs at least 2 temperatures (beta = 0 and 1); '
                     f'got {num_temperatures}')
  if num_chains < 2:
    raise ValueError(f'rbm.ais_chains: a standard error needs at least 2 AIS chains; got {num_chains}')
  base_bias = jnp.asarray(base_visible_bias, p['W'].dtype)
  if base_bias.shape != p['b'].shape:
    raise ValueError(f'base_visible_bias has shape {base_bias.shape}; the RBM has {p["b"].shape[0]} visible units')
  return _ais_log_partition(p, key, base_bias, int(num_temperatures), int(num_chains))


@functools.partial(jax.jit, static_argnums=(3, 4))
def _ais_log_partition(p: Params, key: jax.Array, base_bias: jax.Array, num_temperatures: int,
                       num_chains: int) -> tuple[jax.Array, jax.Array]:
  num_hidden = p['W'].shape[1]
  dtype = p['W'].dtype
  betas = jnp.linspace(0.0, 1.0, num_temperatures, dtype=dtype)

  # hidden_input = c + vW, shared by both temperatures of a weight update. H log 2 is the base's hidden units summed
  # out: a constant that cancels in every weight, kept so that the formula is the paper's.
  def log_p_star(v, hidden_input, beta):
    return ((1 - beta) * (v @ base_bias) + num_hidden * math.log(2) + beta * (v @ p['b'])
            + jnp.sum(jax.nn.softplus(beta * hidden_input), axis=-1))

  def transition(v, hidden_input, beta, key):
    key_h, key_v = jax.random.split(key)
    h = jax.random.bernoulli(key_h, jax.nn.sigmoid(beta * hidden_input)).astype(dtype)
    v = jax.random.bernoulli(key_v, jax.nn.sigmoid((1 - beta) * base_bias + beta * (h @ p['W'].T + p['b'])))
    return v.astype(dtype)

  def step(carry, inputs):
    v, hidden_input, log_w = carry
    beta_prev, beta, step_key = inputs
    log_w += log_p_star(v, hidden_input, beta) - log_p_star(v, hidden_input, beta_prev)
    v = transition(v, hidden_input, beta, step_key)
    return (v, v @ p['W'] + p['c'], log_w), None

  key_0, key_steps = jax.random.split(key)
  v = jax.random.bernoulli(key_0, jax.nn.sigmoid(base_bias), (num_chains, base_bias.shape[0])).astype(dtype)
  carry = (v, v @ p['W'] + p['c'], jnp.zeros((num_chains,), dtype))
  # Steps k = 1 .. K-1 move the chains at beta_k; the last weight factor, at beta_K = 1, needs no move.
  steps = (betas[:-2], betas[1:-1], jax.random.split(key_steps, num_temperatures - 2))
  (v, hidden_input, log_w), _ = jax.lax.scan(step, carry, steps)
  log_w += log_p_star(v, hidden_input, betas[-1]) - log_p_star(v, hidden_input, betas[-2])

  log_z_base = jnp.sum(jax.nn.softplus(base_bias)) + num_hidden * math.log(2)
  log_z = jax.nn.logsumexp(log_w) - math.log(num_chains) + log_z_base
  weights = jnp.exp(log_w - jnp.max(log_w))  # Scaled by a constant, which the ratio below cancels.
  std_error = jnp.std(weights, ddof=1) / (math.sqrt(num_chains) * jnp.mean(weights))
  return log_z, std_error


def log_likelihood(p: Params, v: jax.Array, log_z: jax.Array) -> jax.Array:
  """The mean log-likelihood of `v`, mean(-F(v)) - log Z.

  Args:
    p: the RBM's parameters.
    v: [B, V] binary data.
    log_z: log Z, from `exact_log_partition` or `ais_log_partition`.

  Returns:
    The scalar mean log p(v) in nats.
  """
  return jnp.mean(-free_energy(p, v)) - log_z


def pseudo_log_likelihood(p: Params, v: jax.Array, key: jax.Array | None,
                          flip_index: jax.Array | None = None) -> jax.Array:
  """scikit-learn's `BernoulliRBM.score_samples`: V log sigmoid(F(v_flipped) - F(v)), one random unit flipped.

  A stochastic estimate of the pseudo-log-likelihood sum_i log p(v_i | v_-i) = sum_i log sigmoid(F(v with v_i
  flipped) - F(v)), from a single uniformly chosen unit i per sample, times V. It needs no log Z.

  Args:
    p: the RBM's parameters.
    v: [B, V] binary data.
    key: draws the flipped unit of each sample (ignored when `flip_index` is given).
    flip_index: optional [B] ints in [0, V), the unit to flip in each sample; sklearn's own draw is
      `np.random.RandomState(random_state).randint(0, V, B)` for an int `random_state`.

  Returns:
    [B] per-sample estimates.

  Raises:
    ValueError: neither `key` nor `flip_index` is given.
  """
  num_visible = v.shape[-1]
  if flip_index is None:
    if key is None:
      raise ValueError('pseudo_log_likelihood needs a key or an explicit flip_index')
    flip_index = jax.random.randint(key, v.shape[:-1], 0, num_visible)
  v = jnp.asarray(v, p['W'].dtype)
  flip = jax.nn.one_hot(flip_index, num_visible, dtype=v.dtype)
  v_flipped = v + (1 - 2 * v) * flip
  return num_visible * jax.nn.log_sigmoid(free_energy(p, v_flipped) - free_energy(p, v))


def load_sklearn_rbm(rbm) -> dict[str, jax.Array]:
  """The parameters of a fitted `sklearn.neural_network.BernoulliRBM`, in float32.

  Args:
    rbm: a fitted BernoulliRBM (its `components_` is [H, V]).

  Returns:
    {'W': components_.T [V, H], 'b': intercept_visible_ [V], 'c': intercept_hidden_ [H]}.

  Raises:
    ValueError: the RBM has not been fitted.
  """
  if not hasattr(rbm, 'components_'):
    raise ValueError('load_sklearn_rbm: the BernoulliRBM has not been fitted (it has no components_)')
  return {
      'W': jnp.asarray(np.asarray(rbm.components_).T, jnp.float32),
      'b': jnp.asarray(rbm.intercept_visible_, jnp.float32),
      'c': jnp.asarray(rbm.intercept_hidden_, jnp.float32),
  }
