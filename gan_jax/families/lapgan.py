"""The LAPGAN family (`config.model='lapgan'`): a Laplacian pyramid of GANs (Denton et al. 2015).

`lapgan.sizes` = (S_0, ..., S_K) are the pyramid's sides (28, 14, 7), finest first. Networks 'g_k' and 'd_k' for each
level k (`gan_jax/models/lapgan.py`): for k < K, G_k draws the band-pass residual h_k given the upsampled coarser
image l_k = up(I_{k+1}) and a noise plane, and D_k judges h_k + l_k (with l_k on the channels when
`lapgan.disc_input='concat'`); at k = K, an unconditional GAN on the coarsest image I_K.

Training (the paper's: "each level trained independently"): each step builds the Laplacian pyramid of one real batch;
level k's D is updated on (real h_k, l_k) against (G_k(z_k, l_k), l_k), then its G against the updated D, on the
objective `config.loss` names (the registered 'adversarial' terms of `gan_jax/objectives.py`, as pix2pix uses them).
A level reads only its own networks and the real pyramid, never another level's output, so the levels share no
parameters and no gradients: all of them are updated in one compiled step, and each level's update is what it
would be alone. Every level's noise comes from the step's noise key folded with the level.

Sampling runs coarse to fine (`models.lapgan.sample_pyramid`). Evaluation scores the finest samples, clipped to
[-1, 1], as the GAN family scores images: with the dataset's shipped classifier (`evaluation/digits.py`: IS, Frechet
distance and KID on its features, against real training images), and adds the paper's person-free check, the
fraction of samples the classifier accepts as an object of some class (largest class probability above
`lapgan.accept_threshold`), beside the same fraction for real test images. Every dataset gets the ratio of each
level's generated residual RMS to the real residuals' and pictures of each level's output.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import data, objectives, optim
from gan_jax.config import choice, int_at_least, require
from gan_jax.data.in_memory import to_unit_range
from gan_jax.evaluation import plots
from gan_jax.families import (EVAL_STREAM, Family, _with_split, feature_sampler, feature_scorer, real_sampler,
                              validate_feature, validate_terms, validate_training)
from gan_jax.models import lapgan as lap
from gan_jax.models.conv import ConvDiscriminator, ConvGenerator
from gan_jax.objectives import Context, GANObjective
from gan_jax.rng import noise_key
from gan_jax.state import Network, TrainState
from gan_jax.update import run, update

EVAL_CHUNK = 500  # Samples drawn per call in evaluation.


def _number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _widths(value, field: str) -> None:
  require(isinstance(value, (tuple, list)) and value and all(
      isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in value), field,
          f'got {value!r}; must be a non-empty tuple of channel counts, each an integer >= 1')


def net_names(levels: int) -> tuple[str, ...]:
  """'g_0', 'd_0', ..., 'g_{K}', 'd_{K}': level 0 the finest, K = levels - 1 the coarsest."""
  return tuple(f'{p}_{k}' for k in range(levels) for p in 'gd')


def max_levels(resolution: int) -> int:
  """The most pyramid levels an image of side `resolution` allows: halving while the side stays an even integer
  and the half at least `MIN_SIZE`."""
  levels, side = 1, resolution
  while side % 2 == 0 and side // 2 >= lap.MIN_SIZE:
    levels, side = levels + 1, side // 2
  return levels


def validate_sizes(sizes, resolution: int) -> None:
  """The pyramid's sides against the image: sizes[0] = data.resolution, each the one before halved to an integer,
  the coarsest at least `MIN_SIZE`; an error naming lapgan.sizes otherwise. One side is the coarsest GAN alone on
  the whole image: a DCGAN, the baseline read and scored as the pyramid is."""
  require(isinstance(sizes, (tuple, list)) and len(sizes) >= 1
          and all(isinstance(s, int) and not isinstance(s, bool) for s in sizes), 'lapgan.sizes',
          f'got {sizes!r}; must be a non-empty tuple of integer sides, finest first (28, 14, 7; one side: the '
          'coarsest GAN alone, a DCGAN)')
  require(sizes[0] == resolution, 'lapgan.sizes',
          f'got {tuple(sizes)}: the finest level is the image, so lapgan.sizes[0] must equal '
          f'data.resolution={resolution}')
  for fine, coarse in zip(sizes[:-1], sizes[1:]):
    require(fine % 2 == 0, 'lapgan.sizes',
            f'got {tuple(sizes)}: {fine} / 2 = {fine / 2} is not an integer, so the pyramid is deeper than '
            f'data.resolution={resolution} allows (at most {max_levels(resolution)} levels)')
    require(coarse == fine // 2, 'lapgan.sizes',
            f'got {tuple(sizes)}: each level halves the one before, {fine} -> {fine // 2}, not {coarse}')
  require(sizes[-1] >= lap.MIN_SIZE, 'lapgan.sizes',
          f'got {tuple(sizes)}: the coarsest level, {sizes[-1]} pixels, is below {lap.MIN_SIZE}, so the pyramid is '
          f'deeper than data.resolution={resolution} allows (at most {max_levels(resolution)} levels)')


def validate_lapgan(config: ml_collections.ConfigDict, num_devices: int, num_processes: int = 1) -> None:
  """LAPGAN's checks: its section, the pyramid against the image, the objective, an image dataset, the optimizers
  and the loop; last the disk.

  Raises:
    ConfigError: naming the field, the value and the accepted values.
  """
  from gan_jax import validation  # validation imports the families.
  require('lapgan' in config, 'lapgan',
          'the lapgan family reads config.lapgan: start from gan_jax.config.lapgan_config()')
  c = config.lapgan
  name = config.data.name
  stacked = data.IMAGE_DATASETS.get(name, ('', False))[1]
  require((name in data.IMAGE_DATASETS and not stacked) or name in data.PAIRED_DATASETS, 'data.name',
          f'got {name!r}; LAPGAN models images: use one of '
          f'{", ".join(n for n, (_, s) in data.IMAGE_DATASETS.items() if not s)}, or a feature (lapgan.feature) of '
          f'{", ".join(data.PAIRED_DATASETS)}')
  validate_feature(c.feature, 'lapgan.feature', name)
  data.validate(config.data)
  validate_sizes(c.sizes, config.data.resolution)
  choice(c.upsample, 'lapgan.upsample', lap.UPSAMPLING)
  choice(c.disc_input, 'lapgan.disc_input', lap.DISC_INPUTS)
  choice(c.norm, 'lapgan.norm', lap.NORMS)
  int_at_least(c.latent_dim, 'lapgan.latent_dim')
  int_at_least(c.gen_width, 'lapgan.gen_width')
  int_at_least(c.gen_layers, 'lapgan.gen_layers', 0)
  for field in ('coarse_gen_widths', 'coarse_disc_widths', 'disc_widths'):
    _widths(c[field], f'lapgan.{field}')
  choice(c.kernel_size, 'lapgan.kernel_size', (3, 4))  # What the coarsest G's up-convolutions compute.
  require(_number(c.accept_threshold) and 0.0 < c.accept_threshold < 1.0, 'lapgan.accept_threshold',
          f'got {c.accept_threshold!r}; a class probability in (0, 1)')
  validate_objective(config.loss)
  # optim.g trains every level's G, optim.d every level's D.
  validate_training(config, num_devices, num_processes, ('g', 'd'),
                    'LAPGAN makes one D update and one G update per level and step')
  data.check_available(config.data)
  validation.validate_pipeline(config)


def validate_objective(loss: ml_collections.ConfigDict) -> None:
  """The adversarial pair and only the 'adversarial' terms (the others read outputs or inputs a level's networks
  do not have), each with a weight > 0."""
  validate_terms(loss, {'d': ('adversarial',), 'g': ('adversarial',)}, "LAPGAN's {player}")
  for player in ('d', 'g'):
    require(loss[player].adversarial > 0, f'loss.{player}.adversarial',
            f'{player.upper()} has no objective: give it a weight > 0')


def make_networks(config: ml_collections.ConfigDict, channels: int) -> dict[str, object]:
  """The modules of every level by network name ('g_0', 'd_0', ...)."""
  c = config.lapgan
  levels = len(c.sizes)
  modules = {}
  for k in range(levels - 1):
    modules[f'g_{k}'] = lap.ResidualGenerator(channels=channels, width=c.gen_width, layers=c.gen_layers,
                                              kernel_size=c.kernel_size, norm=c.norm)
    modules[f'd_{k}'] = ConvDiscriminator(widths=tuple(c.disc_widths), kernel_size=c.kernel_size, norm=c.norm)
  top = levels - 1
  modules[f'g_{top}'] = ConvGenerator(resolution=c.sizes[-1], channels=channels, widths=tuple(c.coarse_gen_widths),
                                      kernel_size=c.kernel_size, norm=c.norm)
  modules[f'd_{top}'] = ConvDiscriminator(widths=tuple(c.coarse_disc_widths), kernel_size=c.kernel_size,
                                          norm=c.norm)
  return modules


def create_lapgan_state(config: ml_collections.ConfigDict, key: jax.Array, dataset) -> TrainState:
  """LAPGAN at step 0: 'g_k' and 'd_k' for every level, each with its optimizer (optim.g or optim.d)."""
  c = config.lapgan
  channels = dataset.shape[-1]
  modules = make_networks(config, channels)
  top = len(c.sizes) - 1
  disc_channels = channels * (2 if c.disc_input == 'concat' else 1)

  def inputs(name):
    kind, k = name.split('_')
    side = c.sizes[int(k)]
    if int(k) == top:
      return (jnp.zeros((1, c.latent_dim)),) if kind == 'g' else (jnp.zeros((1, side, side, channels)),)
    if kind == 'g':
      return jnp.zeros((1, side, side, 1)), jnp.zeros((1, side, side, channels))
    return (jnp.zeros((1, side, side, disc_channels)),)

  def create(key):
    keys = jax.random.split(key, len(modules) + 1)
    nets = {name: Network.create(module, optim.make_optimizer(config.optim[name[0]]), k, *inputs(name))
            for (name, module), k in zip(modules.items(), keys)}
    return TrainState.create(nets, keys[-1])

  return jax.jit(create)(key)


def level_noise(key: jax.Array, k: int, top: int, batch: int, side: int, latent_dim: int) -> jax.Array:
  """Level k's noise from a step's (or evaluation's) key: z ~ U(-1, 1)^latent_dim at the coarsest level, a noise
  plane U(-1, 1)^(side x side x 1) below."""
  key = jax.random.fold_in(key, k)
  shape = (batch, latent_dim) if k == top else (batch, side, side, 1)
  return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)


def generate(state: TrainState, k: int, noise: jax.Array, low: jax.Array | None, *, params=None,
             train: bool = True) -> tuple[jax.Array, TrainState]:
  """Level k's G: the coarsest image for `noise` z (low None), or a residual for the noise plane and `low`."""
  inputs = (noise,) if low is None else (noise, low)
  return run(state, f'g_{k}', *inputs, params=params, train=train)


def judge(state: TrainState, k: int, x: jax.Array, low: jax.Array | None, disc_input: str, *,
          params=None) -> tuple[dict, TrainState]:
  """Level k's D on `x` (a residual given `low`, or a coarsest image when `low` is None): its outputs."""
  judged = x if low is None else lap.level_input(x, low, disc_input)
  outputs, state = run(state, f'd_{k}', judged, params=params)
  return outputs, state


def discriminator_objective(state: TrainState, batch: dict, *, k: int, fake: jax.Array, objective: GANObjective,
                            disc_input: str):
  """Level k's D loss on the real batch['x'] (h_k, or I_K) against `fake`, given batch['low'] (None at K).

  Returns:
    (loss, (state with D's batch statistics advanced, metrics: D's mean probabilities of 'real')).
  """
  given = state
  low = batch.get('low')
  real_out, state = judge(state, k, batch['x'], low, disc_input)
  fake_out, state = judge(state, k, fake, low, disc_input)
  ctx = Context(given, batch, fake, real_out, fake_out, given.nets[f'd_{k}'].params, objective)
  value, _ = objectives.combine(objective.d_terms, objectives.D_TERMS, ctx, 'd')
  return value, (state, {f'd_{k}_real_score': jnp.mean(jax.nn.sigmoid(real_out['logits'])),
                         f'd_{k}_fake_score': jnp.mean(jax.nn.sigmoid(fake_out['logits']))})


def generator_objective(state: TrainState, batch: dict, *, k: int, objective: GANObjective, disc_input: str):
  """Level k's G loss for its outputs on batch['noise'] (given batch['low']) against the level's D.

  Returns:
    (loss, (state with G's batch statistics advanced, {})).
  """
  low = batch.get('low')
  fake, state = generate(state, k, batch['noise'], low)
  real_out, _ = judge(state, k, batch['x'], low, disc_input)  # D's statistics stay put.
  fake_out, _ = judge(state, k, fake, low, disc_input)
  ctx = Context(state, batch, fake, real_out, fake_out, state.nets[f'd_{k}'].params, objective)
  value, _ = objectives.combine(objective.g_terms, objectives.G_TERMS, ctx, 'g')
  return value, (state, {})


def level_batches(x: jax.Array, key: jax.Array, config: ml_collections.ConfigDict) -> list[dict]:
  """Each level's training batch from real images `x` [B, S_0, S_0, C] and the step's noise key: {'x': h_k,
  'low': l_k, 'noise': a noise plane} for k < K, {'x': I_K, 'noise': z} at K."""
  c = config.lapgan
  levels, top = len(c.sizes), len(c.sizes) - 1
  pyramid = lap.laplacian_pyramid(x, levels, c.upsample)
  images = lap.gaussian_pyramid(x, levels)
  batches = []
  for k in range(levels):
    noise = level_noise(key, k, top, x.shape[0], c.sizes[k], c.latent_dim)
    batch = {'x': pyramid[k], 'noise': noise}
    if k < top:
      batch['low'] = lap.upsample(images[k + 1], c.upsample)
    batches.append(batch)
  return batches


def train_step(state: TrainState, real: dict, *, config: ml_collections.ConfigDict, objective: GANObjective):
  """One LAPGAN iteration: at every level, D's update on G's outputs for the level's noise, then G's update against
  the updated D with the same noise; advances `state.step`.

  Args:
    state: the training state.
    real: 'x', real images [1, B, S_0, S_0, C] in [-1, 1] (the sampler's leading n_critic axis).
    config: the experiment (its lapgan section; static).
    objective: the weighted adversarial terms (`objectives.objective_from_config`).

  Returns:
    The state and metrics: per level 'd_k_loss', 'g_k_loss', D's scores 'd_k_real_score' and 'd_k_fake_score' and
    each network's gradient, update and parameter norms; 'd_loss' and 'g_loss', the sums over levels.
  """
  disc_input = config.lapgan.disc_input
  batches = level_batches(real['x'][0], noise_key(state.rng, state.step), config)
  metrics = {}
  for k, batch in enumerate(batches):
    fake = jax.lax.stop_gradient(generate(state, k, batch['noise'], batch.get('low'))[0])
    d_objective = functools.partial(discriminator_objective, k=k, fake=fake, objective=objective,
                                    disc_input=disc_input)
    state, d_metrics = update(state, batch, nets=(f'd_{k}',), objective=d_objective)
    g_objective = functools.partial(generator_objective, k=k, objective=objective, disc_input=disc_input)
    state, g_metrics = update(state, batch, nets=(f'g_{k}',), objective=g_objective)
    metrics.update(d_metrics)
    metrics.update(g_metrics)
  levels = range(len(batches))
  metrics['d_loss'] = sum(metrics[f'd_{k}_loss'] for k in levels)
  metrics['g_loss'] = sum(metrics[f'g_{k}_loss'] for k in levels)
  return state.replace(step=state.step + 1), metrics


def make_lapgan_train_step(config: ml_collections.ConfigDict, dataset, parallel):
  """`(train_step, sample_real)`; see `train_step` for the metrics."""
  step = functools.partial(train_step, config=config, objective=objectives.objective_from_config(config))
  if config.data.name in data.PAIRED_DATASETS:
    return step, feature_sampler(config.lapgan.feature, config, parallel)
  return step, real_sampler(config, dataset, parallel)


def real_images(config: ml_collections.ConfigDict, dataset, num: int, split: str | None = None) -> np.ndarray:
  """The first `num` real images of the training split (`dataset`) or of `split`, in [-1, 1]."""
  if split is not None:
    dataset = data.make_dataset(_with_split(config.data, split))
  feature = config.lapgan.feature
  images = dataset.host_arrays()[feature][:num] if feature else dataset.first_images(num)  # Streamed too.
  return np.asarray(to_unit_range(images))


def make_pyramid_sampler(config: ml_collections.ConfigDict):
  """`sample(state, key, num) -> [I_K, ..., I_0]`: every level's samples (eval mode, EMA weights when kept),
  coarse to fine, compiled once per `num`."""
  c = config.lapgan
  top = len(c.sizes) - 1

  @functools.partial(jax.jit, static_argnums=2)
  def sample(state, key, num):
    def apply(k, *inputs):
      net = state.nets[f'g_{k}']
      return net.apply(*inputs, params=net.sampling_params, train=False)[0]

    def residual(k):
      return lambda low: apply(k, level_noise(key, k, top, num, c.sizes[k], c.latent_dim), low)

    coarse = lambda: apply(top, level_noise(key, top, top, num, c.sizes[top], c.latent_dim))
    return lap.sample_pyramid(coarse, [residual(k) for k in reversed(range(top))], c.upsample)

  return sample


def acceptance(logits: np.ndarray, threshold: float) -> float:
  """The fraction of images whose largest class probability (softmax of `logits` [N, classes]) exceeds
  `threshold`: the paper's person-free check of how many samples a judge takes for a real-class object."""
  logits = np.asarray(logits, np.float64)
  probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
  probabilities /= probabilities.sum(axis=1, keepdims=True)
  return float(np.mean(probabilities.max(axis=1) > threshold))


def level_pictures(images: list[np.ndarray], rows: int) -> np.ndarray:
  """One row per sample: its image at each level, coarse to fine, each enlarged (pixel copies) to the finest side."""
  side = images[-1].shape[1]
  columns = [np.repeat(np.repeat(level[:rows], side // level.shape[1], axis=1), side // level.shape[2], axis=2)
             for level in images]
  tiles = np.stack(columns, axis=1).reshape(-1, *images[-1].shape[1:])
  return plots.image_grid(tiles, rows, len(images))


def _scorer(config: ml_collections.ConfigDict, dataset, real: np.ndarray):
  """score(finest samples) -> metrics with the dataset's shipped classifier (see `make_lapgan_evaluator`), or None
  for a dataset with none."""
  c = config.lapgan
  num = config.eval.num_samples
  tfds_name = data.IMAGE_DATASETS.get(config.data.name, ('', False))[0]
  if tfds_name in data.CLASSIFIED_DATASETS:
    from gan_jax.evaluation import digits
    classifier = digits.load_digit_classifier(tfds_name)
    accepted_real = acceptance(classifier(real_images(config, dataset, num, config.eval.test_split))[0],
                               c.accept_threshold)
    return lambda samples: {**digits.digit_scores(samples, real, classifier),
                            'accepted_fraction': acceptance(classifier(samples)[0], c.accept_threshold),
                            'accepted_fraction_real': accepted_real}
  scored = feature_scorer(config, dataset, c.feature)
  if scored is None:
    return None
  score, fd, other = scored
  floor = fd(other)
  return lambda samples: {**score(samples), 'classifier_fd_real': floor}


def make_lapgan_evaluator(config: ml_collections.ConfigDict, dataset):
  """`evaluate(state) -> (metrics, pictures)` on `eval.num_samples` samples from the run's fixed evaluation key.

  Metrics: for a dataset with a shipped classifier, `digits.digit_scores` of the finest samples against the first
  real training images ('classifier_is', 'classifier_fd', 'classifier_kid', ...), 'accepted_fraction' (see
  `acceptance`) and 'accepted_fraction_real' on the first test images (computed once); for a feature of a dataset
  with a shipped domain classifier (emoji_styles), `families.feature_scorer`'s 'classifier_fd' and
  'classifier_kid' against training images of the feature spread over the split, and 'classifier_fd_real', other
  such images' FD (computed once: the floor); for every dataset 'residual_rms_ratio_k' (k < K): the RMS of level
  k's generated residuals over the real ones'.

  Pictures: 'samples' (a grid_rows x grid_rows grid of finest samples) and 'levels' (grid_rows samples, one row
  each, with their images at every level, coarse to fine).
  """
  c = config.lapgan
  num, rows = config.eval.num_samples, config.eval.grid_rows
  levels = len(c.sizes)
  sample = make_pyramid_sampler(config)
  key = jax.random.fold_in(jax.random.key(config.seed), EVAL_STREAM)
  real = real_images(config, dataset, num)
  real_rms = [float(np.sqrt(np.mean(np.asarray(h) ** 2)))
              for h in lap.laplacian_pyramid(jnp.asarray(real), levels, c.upsample)[:-1]]
  scorer = _scorer(config, dataset, real)

  def evaluate(state: TrainState):
    chunks = [sample(state, jax.random.fold_in(key, i), min(EVAL_CHUNK, num - i)) for i in range(0, num, EVAL_CHUNK)]
    images = [np.concatenate([np.asarray(chunk[j]) for chunk in chunks]) for j in range(levels)]
    samples = np.clip(images[-1], -1.0, 1.0)
    metrics = scorer(samples) if scorer else {}
    for j in range(1, levels):  # images[j] is level K - j; its residual is what its G added.
      k = levels - 1 - j
      residual = images[j] - np.asarray(lap.upsample(jnp.asarray(images[j - 1]), c.upsample))
      metrics[f'residual_rms_ratio_{k}'] = float(np.sqrt(np.mean(residual ** 2)) / max(real_rms[k], 1e-12))
    pictures = {'samples': plots.image_grid(samples, rows),
                'levels': level_pictures([np.clip(x, -1.0, 1.0) for x in images], rows)}
    return metrics, pictures

  return evaluate


def sample_images(config: ml_collections.ConfigDict, state: TrainState, key: jax.Array, num: int) -> np.ndarray:
  """The finest level of `num` pyramids sampled coarse to fine with `key`, clipped to [-1, 1] as the evaluation's
  pictures are (a level's residual can overshoot) (`Family.sample`)."""
  return np.clip(np.asarray(make_pyramid_sampler(config)(state, key, num)[-1]), -1.0, 1.0)


FAMILY = Family(validate=validate_lapgan, create_state=create_lapgan_state,
                make_train_step=make_lapgan_train_step, make_evaluator=make_lapgan_evaluator,
                loss_names=('d_loss', 'g_loss'), sample=sample_images)
