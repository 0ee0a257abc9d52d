"""The VAE family (`config.model='vae'`): a variational autoencoder (Kingma & Welling 2014) with a Gaussian encoder
'encoder' and a Bernoulli decoder 'decoder' on binary images, measured by the importance-weighted test
log-likelihood of Burda et al. (2016).

One training step is one `update` of both networks jointly on the negative ELBO of the step's binary batch, its
reparameterisation noise drawn from `noise_key(state.rng, state.step)`; each network is advanced by its own
optimizer (`config.optim.encoder`, `config.optim.decoder`: Adam in `gan_jax.config.vae_config`).
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import latent_space
from gan_jax.config import int_at_least, require
from gan_jax.evaluation import plots
from gan_jax.families import (EVAL_STREAM, Family, create_encoder_decoder_state, real_sampler, test_visibles,
                              validate_image_model)
from gan_jax.models import vae as vae_lib
from gan_jax.rng import noise_key
from gan_jax.state import TrainState
from gan_jax.update import update

NETS = ('encoder', 'decoder')
# Test images per importance-weighted call: the decoder sees this many times vae.iw_chunk latents at once.
IW_IMAGES_PER_CALL = 100
# Burda et al.'s active units: a latent whose posterior mean varies over the test images by more than this.
ACTIVE_UNIT_VARIANCE = 1e-2
TRAVERSAL_RANGE = 3.0  # Traversals move one latent over [-3, 3]: three prior standard deviations.


def validate_vae(config: ml_collections.ConfigDict, num_devices: int, num_processes: int = 1) -> None:
  """The VAE family's checks: its section, the data (binary images), the two optimizers and the loop."""
  require('vae' in config, 'vae', 'the VAE family reads config.vae: start from gan_jax.config.vae_config()')
  section = config.vae
  int_at_least(section.latent_dim, 'vae.latent_dim')
  hidden = section.hidden
  require(isinstance(hidden, (tuple, list)) and len(hidden) > 0
          and all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in hidden), 'vae.hidden',
          f'got {hidden!r}; must be a non-empty tuple of positive integers (the hidden layers\' widths)')
  int_at_least(section.iw_samples, 'vae.iw_samples')
  int_at_least(section.iw_chunk, 'vae.iw_chunk')
  validate_image_model(config, num_devices, num_processes, NETS, 'the Bernoulli decoder')


def make_modules(config: ml_collections.ConfigDict,
                 shape: tuple[int, ...]) -> tuple[vae_lib.GaussianEncoder, vae_lib.BernoulliDecoder]:
  """The encoder and decoder `config.vae` describes, for images of `shape`; the decoder mirrors the encoder."""
  hidden = tuple(config.vae.hidden)
  return (vae_lib.GaussianEncoder(hidden=hidden, latent_dim=config.vae.latent_dim),
          vae_lib.BernoulliDecoder(hidden=hidden[::-1], output_shape=tuple(shape)))


def create_vae_state(config: ml_collections.ConfigDict, key: jax.Array, dataset) -> TrainState:
  """The VAE at step 0: networks 'encoder' and 'decoder', each with its optimizer."""
  return create_encoder_decoder_state(config, key, dataset, *make_modules(config, dataset.shape), config.vae.latent_dim)


def to_unit(x: jax.Array) -> jax.Array:
  """Binary images in {-1, 1} -> pixels in {0, 1}, the shape kept."""
  return (x + 1.0) / 2.0


def negative_elbo(state: TrainState, batch: dict, *, key: jax.Array):
  """The objective `update` differentiates: -ELBO of `batch['x']` (pixels in {0, 1}) averaged over the batch, its
  reparameterisation noise from `key`; with its two parts as metrics 'vae_reconstruction' and 'vae_kl'."""
  enc, dec = state.nets['encoder'], state.nets['decoder']
  loss, parts = vae_lib.negative_elbo(enc.module, dec.module, enc.params, dec.params, batch['x'], key)
  return loss, (state, {'vae_reconstruction': parts['reconstruction'], 'vae_kl': parts['kl']})


def vae_train_step(state: TrainState, real: dict):
  """One Adam (the networks' optimizers) step on -ELBO with respect to both networks jointly; advances `state.step`.

  Metrics: 'vae_loss' (-ELBO, nats per image), its parts 'vae_reconstruction' and 'vae_kl', and per network the
  gradient, update and parameter norms.
  """
  objective = functools.partial(negative_elbo, key=noise_key(state.rng, state.step))
  state, metrics = update(state, {'x': to_unit(real['x'][0])}, nets=NETS, objective=objective, name='vae')
  return state.replace(step=state.step + 1), metrics


def make_vae_train_step(config: ml_collections.ConfigDict, dataset, parallel):
  return vae_train_step, real_sampler(config, dataset, parallel)


def probability_images(p: jax.Array) -> np.ndarray:
  """Pixel probabilities [N, H, W, C] in [0, 1] as images in [-1, 1] (for `plots.image_grid`)."""
  return np.asarray(p) * 2.0 - 1.0


def make_vae_evaluator(config: ml_collections.ConfigDict, dataset):
  """`evaluate(state) -> (metrics, pictures)` on the first `eval.num_samples` images of the test split, binarised
  once (`families.test_visibles`, the set the RBM family measures for the same seed).

  Metrics, in nats per image: 'test_elbo' (one reparameterised sample per image, the KL in closed form) with its
  parts 'test_reconstruction' and 'test_kl'; 'test_log_likelihood_iw', Burda et al.'s estimate with
  `vae.iw_samples` samples per image; 'test_active_units', the latents whose posterior mean varies over the test
  images by more than `ACTIVE_UNIT_VARIANCE` (Burda et al.'s count).

  Pictures (decoder Bernoulli means): 'samples' from z ~ N(0, I); 'reconstructions', test digits each beside the
  decoding of its posterior mean; 'interpolations', one row per pair of test digits, from one to the other between
  the digits themselves, along the great circle between their posterior means (`latent_space.interpolate`, slerp);
  'traversals', one row per latent, in order of their mean KL over the test images (the most used first), the
  latent moved over [-3, 3] while the others stay at the first test digit's posterior mean.
  """
  section = config.vae
  shape = tuple(dataset.shape)
  test_v, _ = test_visibles(config, config.seed)
  num = min(config.eval.num_samples, test_v.shape[0])
  test_x = jnp.asarray(test_v[:num].reshape(num, *shape))
  per_call = min(IW_IMAGES_PER_CALL, num)
  num_calls = -(-num // per_call)
  padded = jnp.concatenate([test_x, jnp.zeros((num_calls * per_call - num, *shape))]).reshape(
      num_calls, per_call, *shape)
  encoder, decoder = make_modules(config, shape)
  rows = config.eval.grid_rows
  pairs = max(1, rows // 2)  # Digit-reconstruction pairs per row.
  key = jax.random.fold_in(jax.random.key(config.seed), EVAL_STREAM)
  elbo_key, iw_key, sample_key = jax.random.split(key, 3)
  z_samples = jax.random.normal(sample_key, (rows * rows, section.latent_dim))
  pictured = test_x[np.arange(max(rows * pairs, 2 * rows)) % num]
  num_traversed = min(rows, section.latent_dim)
  values = jnp.linspace(-TRAVERSAL_RANGE, TRAVERSAL_RANGE, rows)

  def decoded(dec_params, z):
    return jax.nn.sigmoid(vae_lib.decode(decoder, dec_params, z))

  @jax.jit
  def measure(enc_params, dec_params, test_x, padded, pictured):
    terms = vae_lib.elbo(encoder, decoder, enc_params, dec_params, test_x, elbo_key)
    iw = jax.lax.map(lambda a: vae_lib.importance_weighted_log_likelihood(
        encoder, decoder, enc_params, dec_params, a[0], jax.random.fold_in(iw_key, a[1]), section.iw_samples,
        section.iw_chunk), (padded, jnp.arange(num_calls)))
    mean, log_var = vae_lib.encode(encoder, enc_params, test_x)
    metrics = {
        'test_elbo': jnp.mean(terms['elbo']),
        'test_reconstruction': jnp.mean(terms['reconstruction']),
        'test_kl': jnp.mean(terms['kl']),
        'test_log_likelihood_iw': jnp.mean(iw.reshape(-1)[:num]),
        'test_active_units': jnp.sum(jnp.var(mean, axis=0) > ACTIVE_UNIT_VARIANCE),
    }
    pictured_mean, _ = vae_lib.encode(encoder, enc_params, pictured)
    # Interpolations: row i walks from test digit i to digit rows + i.
    path = latent_space.interpolate(pictured_mean[:rows], pictured_mean[rows:2 * rows], rows, 'slerp')
    path = jnp.swapaxes(path, 0, 1).reshape(rows * rows, -1)
    # Traversals: row i sets latent dims[i] to each value in turn.
    kl_per_latent = jnp.mean(vae_lib.gaussian_kl(mean[..., None], log_var[..., None]), axis=0)
    dims = jnp.argsort(-kl_per_latent)[:num_traversed]
    one_hot = jax.nn.one_hot(dims, section.latent_dim)[:, None, :]
    start = pictured_mean[0]
    traversal = start + one_hot * (values[None, :, None] - start[dims][:, None, None])
    pictures = {
        'samples': decoded(dec_params, z_samples),
        'reconstructions': decoded(dec_params, pictured_mean[:rows * pairs]),
        'interpolations': decoded(dec_params, path).reshape(rows, rows, *shape),
        'traversals': decoded(dec_params, traversal.reshape(num_traversed * rows, -1)),
    }
    return metrics, pictures

  def evaluate(state: TrainState):
    metrics, arrays = measure(state.nets['encoder'].params, state.nets['decoder'].params, test_x, padded, pictured)
    metrics = {k: float(v) for k, v in metrics.items()}
    metrics['test_active_units'] = int(metrics['test_active_units'])
    digits = np.asarray(pictured)
    # Each digit beside its reconstruction; each walk between its two digits.
    side_by_side = np.stack([digits[:rows * pairs], np.asarray(arrays['reconstructions'])], axis=1)
    walks = np.concatenate([digits[:rows, None], np.asarray(arrays['interpolations']),
                            digits[rows:2 * rows, None]], axis=1)
    pictures = {
        'samples': plots.image_grid(probability_images(arrays['samples']), rows),
        'reconstructions': plots.image_grid(probability_images(side_by_side.reshape(-1, *shape)), rows,
                                            2 * pairs),
        'interpolations': plots.image_grid(probability_images(walks.reshape(-1, *shape)), rows, rows + 2),
        'traversals': plots.image_grid(probability_images(arrays['traversals']), num_traversed, rows),
    }
    return metrics, pictures

  return evaluate


FAMILY = Family(validate=validate_vae, create_state=create_vae_state, make_train_step=make_vae_train_step,
                make_evaluator=make_vae_evaluator, loss_names=('vae_loss',))
