"""The RBM family (`config.model='rbm'`): a Bernoulli–Bernoulli restricted Boltzmann machine 'rbm' trained by
contrastive divergence (CD-k, Hinton 2002) or persistent CD (Tieleman 2008), measured by annealed importance
sampling (Salakhutdinov & Murray 2008).

One training step runs k Gibbs steps (one `lax.scan`, `models.rbm.gibbs_chain`) from the data (CD) or from the
persistent chains kept in `state.extras['chains']` (PCD), then updates the RBM on `models.rbm.cd_objective`, whose
gradient is the CD estimate of the negative log-likelihood gradient. Momentum and weight decay are the optimizer's
(`config.optim.rbm`: optax's SGD momentum, `optax.add_decayed_weights` on W).
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import optim
from gan_jax.config import int_at_least, require
from gan_jax.evaluation import plots
from gan_jax.evaluation import rbm_likelihood
from gan_jax.families import (EVAL_STREAM, Family, base_rates, real_sampler, test_visibles, to_visible,
                              validate_image_model)
from gan_jax.models import rbm as rbm_lib
from gan_jax.rng import noise_key
from gan_jax.state import Network, TrainState
from gan_jax.update import update

# PCD's reconstruction metric draws its hidden sample from its own key (CD reads it off the chain's first step).
RECONSTRUCTION_STREAM = 0x4EC


def validate_rbm(config: ml_collections.ConfigDict, num_devices: int, num_processes: int = 1) -> None:
  """The RBM family's checks: its section, the data (binary images), the optimizer and the loop."""
  section = config.rbm
  int_at_least(section.num_hidden, 'rbm.num_hidden')
  require(isinstance(section.gibbs_steps, int) and section.gibbs_steps >= 1, 'rbm.gibbs_steps',
          f'got {section.gibbs_steps!r}; CD-k needs k >= 1 Gibbs steps')
  require(section.init_std > 0, 'rbm.init_std', f'got {section.init_std}; must be > 0')
  require(section.ais_temperatures >= 2, 'rbm.ais_temperatures',
          f'got {section.ais_temperatures}; annealing needs at least two temperatures (the base model and the RBM)')
  int_at_least(section.ais_chains, 'rbm.ais_chains', minimum=2)  # A standard error needs two.
  int_at_least(section.sample_gibbs_steps, 'rbm.sample_gibbs_steps')
  validate_image_model(config, num_devices, num_processes, ('rbm',), 'a Bernoulli RBM')


def create_rbm_state(config: ml_collections.ConfigDict, key: jax.Array, dataset) -> TrainState:
  """The RBM at step 0: network 'rbm' (W ~ N(0, init_std^2), zero biases) and, for PCD, the persistent chains
  (started from the binarised training data's base rates)."""
  num_visible = int(np.prod(dataset.shape))
  init_key, chain_key, rng = jax.random.split(key, 3)
  module = rbm_lib.RBM(num_hidden=config.rbm.num_hidden, init_std=config.rbm.init_std)
  net = Network.create(module, optim.make_optimizer(config.optim.rbm), init_key, jnp.zeros((1, num_visible)))
  extras = {}
  if config.rbm.persistent:
    mean = jnp.asarray(base_rates(dataset, config.data.binarize))
    extras['chains'] = jax.random.bernoulli(chain_key, mean, (config.train.batch_size, num_visible)).astype(
        jnp.float32)
  return TrainState.create({'rbm': net}, rng, extras=extras)


def cd_update(state: TrainState, name: str, v_data: jax.Array, start: jax.Array, key: jax.Array, gibbs_steps: int,
              loss_name: str | None = None):
  """One CD-k update of the RBM network `name` on `v_data`: k Gibbs steps from `start` (the data for CD, the
  persistent chains for PCD), then an `update` of that network alone on `models.rbm.cd_objective`.

  Args:
    state: the training state (`state.step` is not advanced).
    name: the RBM's network.
    v_data: [B, V] the batch it models (binary pixels, or a lower layer's probabilities in a DBN).
    start: [B', V] where the negative chains start.
    key: the chains' key.
    gibbs_steps: k (static).
    loss_name: the prefix of the loss and reconstruction metrics (default `name`).

  Returns:
    (state, metrics, chain): metrics '<loss_name>_loss' (mean free energy of the data minus that of the chains'
    end), '<loss_name>_reconstruction_error' (the squared error per unit of the batch's one-pass reconstruction
    through a hidden sample, as Hinton's rbm.m prints it, before the update) and the network's norms; the chain as
    `models.rbm.gibbs_chain` returns it.
  """
  params = jax.lax.stop_gradient(state.nets[name].params)
  chain = rbm_lib.gibbs_chain(params, start, key, gibbs_steps)
  if start is v_data:  # CD: the chain's first step is that reconstruction; a fifth of CD-1's step time saved.
    reconstruction_error = jnp.mean((v_data - chain['first_v_probs']) ** 2)
  else:
    reconstruction_key = jax.random.fold_in(key, RECONSTRUCTION_STREAM)
    reconstruction_error = rbm_lib.reconstruction_error(params, v_data, reconstruction_key)

  def objective(state, batch):
    return rbm_lib.cd_objective(state.nets[name].params, batch['v'], chain['v'])

  state, metrics = update(state, {'v': v_data}, nets=(name,), objective=objective, name=loss_name)
  metrics[f'{loss_name or name}_reconstruction_error'] = reconstruction_error
  return state, metrics, chain


def rbm_train_step(state: TrainState, real: dict, *, gibbs_steps: int, persistent: bool):
  """One CD-k (or PCD-k) update of network 'rbm' on the step's binary batch (`cd_update`); advances `state.step`.

  Metrics: 'rbm_loss' (the objective: mean free energy of the data minus that of the chains' end), and the batch's
  one-pass reconstruction error per pixel 'rbm_reconstruction_error' (see `cd_update`).
  """
  v_data = to_visible(real['x'][0])
  start = state.extras['chains'] if persistent else v_data
  state, metrics, chain = cd_update(state, 'rbm', v_data, start, noise_key(state.rng, state.step), gibbs_steps)
  if persistent:
    state = state.replace(extras={**state.extras, 'chains': chain['v']})
  return state.replace(step=state.step + 1), metrics


def make_rbm_train_step(config: ml_collections.ConfigDict, dataset, parallel):
  step = functools.partial(rbm_train_step, gibbs_steps=config.rbm.gibbs_steps, persistent=config.rbm.persistent)
  return step, real_sampler(config, dataset, parallel)


def visible_images(v: jax.Array, shape: tuple[int, ...]) -> np.ndarray:
  """Visible probabilities [N, V] in [0, 1] as images [N, *shape] in [-1, 1] (for `plots.image_grid`)."""
  return np.asarray(v).reshape(-1, *shape) * 2.0 - 1.0


def filter_images(w: jax.Array, shape: tuple[int, ...], num: int) -> np.ndarray:
  """The first `num` hidden units' weight vectors as images, each scaled to its own [-1, 1] range."""
  w = np.asarray(w)[:, :num].T
  w = w / np.maximum(np.abs(w).max(axis=1, keepdims=True), 1e-12)
  return w.reshape(-1, *shape)


def make_rbm_evaluator(config: ml_collections.ConfigDict, dataset):
  """`evaluate(state) -> (metrics, pictures)`: the test split's log-likelihood by AIS (and exactly when the RBM
  has at most 20 hidden units), pseudo-log-likelihood and reconstruction error, in nats per image; pictures of
  samples (visible probabilities after `rbm.sample_gibbs_steps` Gibbs steps from base-rate noise) and filters.
  The reconstruction error is per pixel."""
  section = config.rbm
  test_v, _ = test_visibles(config, config.seed)
  num = min(config.eval.num_samples, test_v.shape[0])
  test_v = jnp.asarray(test_v[:num])
  rates = base_rates(dataset, config.data.binarize)
  base_bias = rbm_likelihood.base_rate_bias(rates[None])  # AIS starts from the data's base-rate model.
  rates = jnp.asarray(rates)
  rows = config.eval.grid_rows
  key = jax.random.fold_in(jax.random.key(config.seed), EVAL_STREAM)
  ais_key, pll_key, sample_key, start_key = jax.random.split(key, 4)
  start = jax.random.bernoulli(start_key, rates, (rows * rows, rates.shape[0])).astype(jnp.float32)

  @jax.jit
  def measure(params):
    log_z, log_z_std = rbm_likelihood.ais_log_partition(params, ais_key, section.ais_temperatures,
                                                        section.ais_chains, base_bias)
    metrics = {
        'log_z': log_z,
        'log_z_std_error': log_z_std,
        'test_log_likelihood': rbm_likelihood.log_likelihood(params, test_v, log_z),
        'test_pseudo_log_likelihood': jnp.mean(rbm_likelihood.pseudo_log_likelihood(params, test_v, pll_key)),
        'test_reconstruction_error': rbm_lib.reconstruction_error(params, test_v),
    }
    samples = rbm_lib.gibbs_chain(params, start, sample_key, section.sample_gibbs_steps)['v_probs']
    return metrics, samples

  def evaluate(state: TrainState):
    params = state.nets['rbm'].params
    metrics, samples = measure(params)
    metrics = {k: float(v) for k, v in metrics.items()}
    if section.num_hidden <= rbm_likelihood.MAX_EXACT_HIDDEN:
      log_z = rbm_likelihood.exact_log_partition(params)
      metrics['log_z_exact'] = float(log_z)
      metrics['test_log_likelihood_exact'] = float(rbm_likelihood.log_likelihood(params, test_v, log_z))
    pictures = {
        'samples': plots.image_grid(visible_images(samples, dataset.shape), rows),
        'filters': plots.image_grid(filter_images(params['W'], dataset.shape, rows * rows), rows),
    }
    return metrics, pictures

  return evaluate


FAMILY = Family(validate=validate_rbm, create_state=create_rbm_state, make_train_step=make_rbm_train_step,
                make_evaluator=make_rbm_evaluator, loss_names=('rbm_loss',), batch_extras=('chains',))
