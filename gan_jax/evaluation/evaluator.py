"""What the training loop evaluates, chosen by the dataset: built once per run, called at every evaluation.

- 2-D mixtures and the 1-D Gaussian: mode metrics and a scatter plot over real samples.
- Digits: the shipped digit classifier's IS, Fréchet distance and KID against real digits, and its class histogram.
- Stacked digits: modes covered out of 1,000 and KL to uniform, as the unrolled GAN paper counts them.
- Any images, when `config.eval.inception_weights` names the FID Inception weights: FID and KID on its pool
  features, and the Inception Score on its logits.
Samples come from fixed latents, so successive evaluations compare; image datasets also get a sample grid.
"""

import functools
from typing import Callable

import jax
import ml_collections
import numpy as np

from gan_jax import data
from gan_jax.data.in_memory import to_unit_range
from gan_jax.evaluation import feature_metrics, plots
from gan_jax.evaluation import mixtures as mixture_metrics
from gan_jax.models import apply_model
from gan_jax.state import GANState, sampling_params

EVAL_SEED_TAG = 0xE7A1  # Evaluation latents come from their own stream, fixed for the whole run.
INCEPTION_CHUNK = 100  # Images per Inception call: bounds memory at 299x299.


def sample_latents(key: jax.Array, num: int, dim: int, distribution: str) -> jax.Array:
  """Draws `num` generator inputs: N(0, I), or U(-1, 1) per coordinate."""
  if distribution == 'uniform':
    return jax.random.uniform(key, (num, dim), minval=-1.0, maxval=1.0)
  return jax.random.normal(key, (num, dim))


@functools.partial(jax.jit, static_argnums=0)
def _generate(generator, params, batch_stats, z):
  return apply_model(generator, params, batch_stats, z, train=False)[0]


def generate(state: GANState, config: ml_collections.ConfigDict, num: int, chunk: int = 1000) -> np.ndarray:
  """`num` samples (EMA weights when there are some) from the run's fixed evaluation latents."""
  key = jax.random.fold_in(jax.random.key(config.seed), EVAL_SEED_TAG)
  z = sample_latents(key, num, config.gen.latent_dim, config.gen.latent_dist)
  params, batch_stats = sampling_params(state)
  return np.concatenate([np.asarray(_generate(state.generator, params, batch_stats, z[i:i + chunk]))
                         for i in range(0, num, chunk)])


def _inception_features(weights_path: str) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
  from gan_jax.evaluation import inception
  variables = inception.load_params(weights_path)
  apply = jax.jit(lambda x: inception.FIDInceptionV3().apply(variables, x))

  def features(images):
    if images.shape[-1] == 1:
      images = np.repeat(images, 3, axis=-1)
    outputs = [jax.device_get(apply(images[i:i + INCEPTION_CHUNK])) for i in range(0, len(images), INCEPTION_CHUNK)]
    return {k: np.concatenate([o[k] for o in outputs]) for k in ('pool_3', 'logits_unbiased')}

  return features


def make_evaluator(config: ml_collections.ConfigDict, dataset) -> Callable[[GANState], tuple[dict, np.ndarray]]:
  """Returns `evaluate(state) -> (metrics, picture)` for the run's dataset; expensive set-up happens here once."""
  num = config.eval.num_samples
  if isinstance(dataset, data.GaussianMixture):
    real = np.asarray(dataset.draw(jax.random.key(config.seed), num))

    def evaluate_mixture(state):
      samples = generate(state, config, num)
      metrics = mixture_metrics.mode_metrics(samples, dataset.centers, dataset.std, config.eval.min_samples_per_mode)
      title = (f'step {int(state.step)}: {metrics["modes_covered"]:.0f}/{metrics["num_modes"]:.0f} modes, '
               f'{100 * metrics["high_quality_fraction"]:.0f}% high quality')
      return metrics, plots.mixture_plot(samples, real, title)

    return evaluate_mixture

  scorers = []
  if config.data.name in ('digits', 'mnist'):
    from gan_jax.evaluation import digits
    classifier = digits.load_digit_classifier()
    real_digits = np.asarray(to_unit_range(dataset.images[:num]))
    scorers.append(lambda samples: digits.digit_scores(samples, real_digits, classifier))
  if config.data.name in ('stacked_digits', 'stacked_mnist'):
    from gan_jax.evaluation import digits
    classifier = digits.load_digit_classifier()
    scorers.append(lambda samples: digits.stacked_scores(samples, classifier))
  if config.eval.inception_weights:
    inception_features = _inception_features(config.eval.inception_weights)
    real = dataset.images[np.random.default_rng(config.seed).permutation(dataset.num_examples)[:num]]
    real_features = inception_features(np.asarray(to_unit_range(real)))['pool_3']

    def inception_scores(samples):
      fake = inception_features(samples)
      kid, _ = feature_metrics.kernel_inception_distance(fake['pool_3'], real_features, seed=config.seed)
      score, _ = feature_metrics.inception_score(fake['logits_unbiased'], from_logits=True)
      return {'fid': feature_metrics.frechet_distance_from_features(fake['pool_3'], real_features),
              'kid': kid, 'inception_score': score}

    scorers.append(inception_scores)

  def evaluate_images(state):
    samples = generate(state, config, max(num, config.eval.grid_rows**2))
    metrics = {}
    for scorer in scorers:
      metrics.update(scorer(samples[:num]))
    return metrics, plots.image_grid(samples, config.eval.grid_rows)

  return evaluate_images


