"""What the training loop evaluates, chosen by the dataset: built once per run, called at every evaluation.

- 2-D mixtures and the 1-D Gaussian: mode metrics and a scatter plot over real samples.
- Digits, MNIST, Fashion-MNIST: the dataset's shipped classifier's IS, Fréchet distance and KID against real
  images, and its class histogram.
- Stacked digits and stacked MNIST: modes covered out of 1,000 and KL to uniform, as the unrolled GAN paper counts
  them, with the digits' classifier.
- Any images, when `config.eval.inception_weights` names the FID Inception weights: FID and KID on its pool
  features, and the Inception Score on its logits.
Samples come from fixed latents, so successive evaluations compare; image datasets also get a sample grid.
"""

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import data
from gan_jax import noise as noise_lib
from gan_jax.data.in_memory import to_unit_range
from gan_jax.evaluation import codes as codes_lib
from gan_jax.evaluation import feature_metrics, plots
from gan_jax.evaluation import mixtures as mixture_metrics
from gan_jax.state import Network, TrainState

EVAL_SEED_TAG = 0xE7A1  # Evaluation latents come from their own stream, fixed for the whole run.
INCEPTION_CHUNK = 100  # Images per Inception call: bounds memory at 299x299.


def eval_noise(state: TrainState, config: ml_collections.ConfigDict, num: int) -> dict[str, jax.Array]:
  """The run's fixed evaluation noise: the same at every evaluation, so successive samples compare."""
  key = jax.random.fold_in(jax.random.key(config.seed), EVAL_SEED_TAG)
  return noise_lib.sample_noise(key, num, state.noise)


@functools.partial(jax.jit, static_argnums=1)
def _generate(generator: Network, spec, noise):
  return generator.apply(noise_lib.generator_input(noise, spec), params=generator.sampling_params, train=False)[0]


def generate_from(state: TrainState, noise: dict[str, jax.Array], chunk: int = 1000) -> np.ndarray:
  """G's samples (EMA weights when there are some) for the given noise dict, in chunks of `chunk`."""
  num = noise['z'].shape[0]
  return np.concatenate([
      np.asarray(_generate(state.nets['g'], state.noise, jax.tree.map(lambda x: x[i:i + chunk], noise)))
      for i in range(0, num, chunk)])


def generate(state: TrainState, config: ml_collections.ConfigDict, num: int, chunk: int = 1000) -> np.ndarray:
  """`num` samples from the run's fixed evaluation noise (labels and codes drawn uniformly)."""
  return generate_from(state, eval_noise(state, config, num), chunk)


def class_rows_noise(state: TrainState, config: ml_collections.ConfigDict, labels: jax.Array,
                     columns: int) -> dict[str, jax.Array]:
  """Noise for a conditional grid: row r draws class labels[r], column c the same evaluation latent in every row."""
  noise = eval_noise(state, config, columns)
  noise = {k: jnp.tile(v, (len(labels),) + (1,) * (v.ndim - 1)) for k, v in noise.items()}
  return {**noise, 'fake_y': jnp.repeat(labels, columns)}


def grid_noise(state: TrainState, config: ml_collections.ConfigDict) -> dict[str, jax.Array]:
  """The noise of the sample grid: one row per class for a conditional generator (its first grid_rows classes)."""
  rows = config.eval.grid_rows
  if state.noise.num_classes:
    return class_rows_noise(state, config, jnp.arange(rows) % state.noise.num_classes, rows)
  return eval_noise(state, config, rows * rows)


def code_sweeps(state: TrainState, config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """InfoGAN's latent sweeps: vary one code along a grid's columns, everything else fixed along each row.

  'sweep_categorical': row r keeps z_r (and the continuous codes at 0), column c sets the category to c.
  'sweep_continuous_j': row r keeps z_r and category r, column c sets code j to a value in [-2, 2] (beyond the
  U(-1, 1) training range, as InfoGAN's figures do) with the other continuous codes at 0.
  """
  spec, rows = state.noise, config.eval.grid_rows
  base = eval_noise(state, config, rows)
  grids = {}

  def grid(columns: int, set_column) -> np.ndarray:
    noise = {k: jnp.repeat(v, columns, axis=0) for k, v in base.items()}
    if spec.info_continuous:
      noise['code_cont'] = jnp.zeros_like(noise['code_cont'])
    noise = set_column(noise, jnp.tile(jnp.arange(columns), rows))
    return plots.image_grid(generate_from(state, noise), rows, columns)

  if spec.info_categories:
    grids['sweep_categorical'] = grid(spec.info_categories, lambda n, col: {**n, 'code_cat': col})
  for j in range(spec.info_continuous):
    values = jnp.linspace(-2.0, 2.0, rows)

    def set_code(n, col, j=j, values=values):
      code = n['code_cont'].at[:, j].set(values[col])
      cat = (jnp.repeat(jnp.arange(rows), rows) % spec.info_categories) if spec.info_categories else None
      return {**n, 'code_cont': code, **({'code_cat': cat} if cat is not None else {})}

    grids[f'sweep_continuous_{j}'] = grid(rows, set_code)
  return grids


@jax.jit
def _class_logits(discriminator: Network, reference, x):
  if reference is not None:
    x = jnp.concatenate([reference, x])
  logits = discriminator.apply(x, train=False)[0]['class_logits']
  return logits if reference is None else logits[reference.shape[0]:]


def class_head_accuracy(state: TrainState, x: np.ndarray, y: np.ndarray, chunk: int = 500) -> float:
  """The accuracy of D's class head (semi-supervised GAN, AC-GAN) on labelled examples, in eval mode."""
  reference = state.extras.get('reference', {}).get('x')
  logits = np.concatenate([np.asarray(_class_logits(state.nets['d'], reference, x[i:i + chunk]))
                           for i in range(0, len(x), chunk)])
  return float(np.mean(logits.argmax(-1) == y))


def label_scores(predicted: np.ndarray, noise: dict[str, jax.Array], num_codes: int = 0,
                 num_labels: int = 10) -> dict[str, float]:
  """How the classes a classifier sees in the samples follow G's inputs.

  'conditional_accuracy': the fraction of a conditional generator's samples classified as the class asked for.
  'code_accuracy': for InfoGAN's categorical code, the accuracy of the best one-to-one mapping from code values to
  predicted classes, beside 'code_accuracy_chance', the same for codes shuffled independently of the samples.
  """
  scores = {}
  if 'fake_y' in noise:
    scores['conditional_accuracy'] = float(np.mean(predicted == np.asarray(noise['fake_y'])))
  if 'code_cat' in noise:
    codes = np.asarray(noise['code_cat'])
    scores['code_accuracy'], _ = codes_lib.best_mapping_accuracy(codes, predicted, num_codes, num_labels)
    scores['code_accuracy_chance'] = codes_lib.chance_accuracy(predicted, num_codes, num_labels, codes=codes)
  return scores


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


def make_evaluator(config: ml_collections.ConfigDict, dataset) -> Callable[[TrainState], tuple[dict, np.ndarray]]:
  """Returns `evaluate(state) -> (metrics, pictures)` for the run's dataset; expensive set-up happens here once.

  `pictures` maps a name to an image: 'samples' always, InfoGAN's code sweeps when the generator has codes.
  """
  num = config.eval.num_samples
  if isinstance(dataset, data.GaussianMixture):
    real = np.asarray(dataset.draw(jax.random.key(config.seed), num))

    def evaluate_mixture(state):
      samples = generate(state, config, num)
      metrics = mixture_metrics.mode_metrics(samples, dataset.centers, dataset.std, config.eval.min_samples_per_mode)
      title = (f'step {int(state.step)}: {metrics["modes_covered"]:.0f}/{metrics["num_modes"]:.0f} modes, '
               f'{100 * metrics["high_quality_fraction"]:.0f}% high quality')
      return metrics, {'samples': plots.mixture_plot(samples, real, title)}

    return evaluate_mixture

  scorers = []
  tfds_name, stacked = data.IMAGE_DATASETS[config.data.name]
  if tfds_name in data.CLASSIFIED_DATASETS and not stacked:
    from gan_jax.evaluation import digits
    classifier = digits.load_digit_classifier(tfds_name)
    real_digits = np.asarray(to_unit_range(dataset.first_images(num)))
    scorers.append(lambda samples, noise: {**digits.digit_scores(samples, real_digits, classifier),
                                           **label_scores(classifier.predict(samples), noise, config.info.categories)})
  if tfds_name in data.CLASSIFIED_DATASETS and stacked:
    from gan_jax.evaluation import digits
    classifier = digits.load_digit_classifier(tfds_name)
    scorers.append(lambda samples, noise: digits.stacked_scores(samples, classifier))
  if config.eval.inception_weights:
    inception_features = _inception_features(config.eval.inception_weights)
    real = dataset.random_images(num, config.seed)
    real_features = inception_features(np.asarray(to_unit_range(real)))['pool_3']

    def inception_scores(samples, noise):
      del noise
      fake = inception_features(samples)
      kid, _ = feature_metrics.kernel_inception_distance(fake['pool_3'], real_features, seed=config.seed)
      score, _ = feature_metrics.inception_score(fake['logits_unbiased'], from_logits=True)
      return {'fid': feature_metrics.frechet_distance_from_features(fake['pool_3'], real_features),
              'kid': kid, 'inception_score': score}

    scorers.append(inception_scores)

  if config.semi.labels_per_class:
    from gan_jax.data import images as images_lib
    tfds_name = data.IMAGE_DATASETS[config.data.name][0]
    test_x, test_y = images_lib.load_images(tfds_name, config.semi.test_split, config.data.data_dir or None,
                                            config.data.resolution, config.data.channels, config.data.resize)
    test_x = np.asarray(to_unit_range(test_x))
    scorers_with_state = [lambda state: {'test_accuracy': class_head_accuracy(state, test_x, test_y)}]
  else:
    scorers_with_state = []

  def evaluate_images(state):
    noise = eval_noise(state, config, num)
    samples = generate_from(state, noise)
    metrics = {}
    for scorer in scorers:
      metrics.update(scorer(samples, noise))
    for scorer in scorers_with_state:
      metrics.update(scorer(state))
    grid = generate_from(state, grid_noise(state, config))
    pictures = {'samples': plots.image_grid(grid, config.eval.grid_rows)}
    if stacked:  # Colour composites of three digits are hard to read: each digit also on its own, in grey.
      pictures['samples_channels'] = plots.channel_grid(grid, config.eval.grid_rows)
    return metrics, {**pictures, **code_sweeps(state, config)}

  return evaluate_images


