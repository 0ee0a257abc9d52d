"""The pix2pix family (`config.model='pix2pix'`): image-to-image translation with a conditional GAN (Isola et al.
2017) on a paired dataset (`data.PAIRED_DATASETS`: satellite_maps' photos and maps).

Networks 'g', the U-Net generator (source image -> target image, its dropout the only noise), and 'd', the PatchGAN
(`gan_jax.models.image_to_image`), which judges the source and a target, real or generated, concatenated on the
channels (`pix2pix.conditional=False`: the target alone, the paper's unconditional ablation). One training step is
one `update` of D, then one of G against the updated D, both on G's outputs for the step's dropout key
(`rng.noise_key(state.rng, state.step)`), as the reference code computes G's outputs once and uses them for both.

The objectives are weighted sums of the registered terms of `gan_jax/objectives.py` (`config.loss.d`,
`config.loss.g`), evaluated on a `Context` whose batch holds the sources ('source') and their targets ('x'), `fake`
G's outputs, and D's patch logits on (source, target) and (source, output): D minimises the adversarial term with
weight 1/2 (the paper halves D's objective), G the adversarial term plus lambda x the 'l1' term (lambda = 100). The
adversarial losses average over every patch of every image.

Evaluation on the held-out test pairs (`eval.test_split`): L1, PSNR and SSIM of G's outputs against the targets on
[0, 1] pixels (`evaluation/image_metrics.py`), their sharpness against the targets' (the share of spectral power in
fine detail, which the per-pixel measures cannot see), and for maps the agreement of their colour classes; each beside
two baselines that learn nothing: the input copied as the output, and the per-pixel mean of the training targets.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import data, objectives, optim
from gan_jax.config import ConfigError, choice, int_at_least, require
from gan_jax.data.in_memory import to_unit_range
from gan_jax.data.paired import random_jitter
from gan_jax.evaluation import image_metrics, plots
from gan_jax.families import EVAL_STREAM, Family, _with_split, validate_terms, validate_training
from gan_jax.models import image_to_image as i2i
from gan_jax.objectives import Context, GANObjective
from gan_jax.rng import data_key, noise_key
from gan_jax.state import Network, TrainState
from gan_jax.update import run, update

NETS = ('g', 'd')
# pix2pix.patch (the paper's patch sizes, section 4.4) -> PatchDiscriminator's (num_layers, pixel).
PATCHES = {1: (0, True), 16: (1, False), 70: (3, False), 286: (5, False)}


def check_patch_fits(patch: int, resolution: int, field: str) -> None:
  """Requires the PatchGAN of `patch` (a key of `PATCHES`) to fit a `resolution` image (pix2pix's and CycleGAN's
  discriminators): each of its layers halves the image and its last two 4x4 convolutions take 3 pixels off.

  Raises:
    ConfigError: naming `field`, the patch and the smallest resolution it takes.
  """
  layers, pixel = PATCHES[patch]
  smallest = 3 * 2**layers
  require(pixel or resolution >= smallest, field,
          f'got {patch}: its discriminator halves the image {layers} times and needs data.resolution >= '
          f'{smallest}; data.resolution={resolution}: use a smaller patch or a larger resolution')


# The objective terms pix2pix's networks can be trained on; the others read D outputs (classes, codes, features) or
# inputs (noise, labels) that these networks do not have.
TERMS = {'d': ('adversarial',), 'g': ('adversarial', 'l1')}
EVAL_CHUNK = 32  # Test pairs translated per call.


def _number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_pix2pix(config: ml_collections.ConfigDict, num_devices: int, num_processes: int = 1) -> None:
  """pix2pix's checks: its section and objective, a paired dataset the U-Net and the PatchGAN can take, the
  optimizers and the loop; last the disk.

  Raises:
    ConfigError: naming the field, the value and the accepted values.
  """
  require('pix2pix' in config, 'pix2pix',
          'the pix2pix family reads config.pix2pix: start from gan_jax.config.pix2pix_config()')
  c = config.pix2pix
  name = config.data.name
  require(name in data.PAIRED_DATASETS, 'data.name',
          f'got {name!r}; pix2pix translates one image of a pixel-aligned pair into the other and needs a paired '
          f'dataset: use one of {", ".join(data.PAIRED_DATASETS)}')
  choice(c.direction, 'pix2pix.direction', data.PAIRED_DATASETS[name].directions)
  int_at_least(c.depth, 'pix2pix.depth')
  int_at_least(c.gen_channels, 'pix2pix.gen_channels')
  int_at_least(c.disc_channels, 'pix2pix.disc_channels')
  require(_number(c.dropout_rate) and 0.0 <= c.dropout_rate < 1.0, 'pix2pix.dropout_rate',
          f'got {c.dropout_rate!r}; must lie in [0, 1) (0: a deterministic generator)')
  choice(c.patch, 'pix2pix.patch', PATCHES)
  choice(c.norm, 'pix2pix.norm', i2i.NORMS)
  for field in ('jitter', 'conditional'):
    require(isinstance(c[field], bool), f'pix2pix.{field}', f'got {c[field]!r}; must be True or False')
  validate_objective(config.loss)
  data.validate(config.data)
  resolution, depth = config.data.resolution, c.depth
  try:
    i2i.check_divisible((resolution, resolution), depth, 'data.resolution')
  except ValueError as error:
    raise ConfigError(f'config.{error} (pix2pix.depth={depth}): use a data.resolution divisible by {2**depth} or a '
                      'smaller pix2pix.depth') from error
  check_patch_fits(c.patch, resolution, 'pix2pix.patch')
  validate_training(config, num_devices, num_processes, NETS,
                    'pix2pix makes one D update and one G update per step')
  data.check_available(config.data)


def validate_objective(loss: ml_collections.ConfigDict) -> None:
  """The adversarial pair, the terms' names and weights (lambda = loss.g.l1 >= 0), only the terms pix2pix's
  networks can be trained on, and an objective for each network."""
  validate_terms(loss, TERMS, "pix2pix's {player}")
  require(loss.d.adversarial > 0, 'loss.d.adversarial', 'D has no objective: give it a weight > 0 (0.5 halves it, '
          'as the paper does)')
  require(loss.g.adversarial > 0 or loss.g.l1 > 0, 'loss.g.l1',
          'G has no objective: give loss.g.l1 (lambda) or loss.g.adversarial a weight > 0')


def make_networks(config: ml_collections.ConfigDict, channels: int) -> tuple[i2i.UNetGenerator,
                                                                              i2i.PatchDiscriminator]:
  """The generator and discriminator `config.pix2pix` describes, for images of `channels` channels."""
  c = config.pix2pix
  layers, pixel = PATCHES[c.patch]
  generator = i2i.UNetGenerator(out_channels=channels, depth=c.depth, base_channels=c.gen_channels, norm=c.norm,
                                dropout_rate=float(c.dropout_rate))
  discriminator = i2i.PatchDiscriminator(num_layers=layers, pixel=pixel, base_channels=c.disc_channels, norm=c.norm)
  return generator, discriminator


def create_pix2pix_state(config: ml_collections.ConfigDict, key: jax.Array, dataset) -> TrainState:
  """pix2pix at step 0: networks 'g' and 'd' for `dataset`'s image shape, each with its optimizer."""
  generator, discriminator = make_networks(config, dataset.shape[-1])
  image = jnp.zeros((1, *dataset.shape))
  judged = i2i.conditional_input(image, image) if config.pix2pix.conditional else image

  def create(key):
    g_key, d_key, rng = jax.random.split(key, 3)
    nets = {'g': Network.create(generator, optim.make_optimizer(config.optim.g), g_key, image),
            'd': Network.create(discriminator, optim.make_optimizer(config.optim.d), d_key, judged)}
    return TrainState.create(nets, rng)

  # One compiled initialisation instead of a compile per eager operation of the two networks' layers (the tests'
  # depth-4 U-Net: 1.7 s against 5.5 s).
  return jax.jit(create)(key)


def judge(state: TrainState, source: jax.Array, image: jax.Array, conditional: bool, *,
          params=None) -> tuple[dict[str, jax.Array], TrainState]:
  """D's outputs {'logits': [B, H', W', 1], one per patch} on `image` for input `source` (concatenated on the
  channels when `conditional`); returns them and the state with D's batch statistics advanced."""
  x = i2i.conditional_input(source, image) if conditional else image
  logits, state = run(state, 'd', x, params=params)
  return {'logits': logits}, state


def _scores(real_out, fake_out) -> dict[str, jax.Array]:
  """D's mean probability of 'real' on real and on generated pairs, over patches and images."""
  return {'d_real_score': jnp.mean(jax.nn.sigmoid(real_out['logits'])),
          'd_fake_score': jnp.mean(jax.nn.sigmoid(fake_out['logits']))}


def discriminator_objective(state: TrainState, batch: dict, *, fake: jax.Array, objective: GANObjective,
                            conditional: bool):
  """D's loss on the real pairs (batch['source'], batch['x']) and the generated ones (batch['source'], `fake`):
  `objective.d_terms` (the adversarial term halved, in the paper's setting).

  Returns:
    (loss, (state with D's batch statistics advanced, metrics: the terms, D's scores)).
  """
  given = state
  real_out, state = judge(state, batch['source'], batch['x'], conditional)
  fake_out, state = judge(state, batch['source'], fake, conditional)
  ctx = Context(given, batch, fake, real_out, fake_out, given.nets['d'].params, objective)
  value, metrics = objectives.combine(objective.d_terms, objectives.D_TERMS, ctx, 'd')
  return value, (state, {**metrics, **_scores(real_out, fake_out)})


def generator_objective(state: TrainState, batch: dict, *, key: jax.Array, objective: GANObjective,
                        conditional: bool):
  """G's loss for its outputs on batch['source'] (dropout from `key`) against the targets batch['x'] and D:
  `objective.g_terms` (the non-saturating cGAN term + lambda L1, in the paper's setting).

  Returns:
    (loss, (state with G's batch statistics advanced, metrics: the terms and the unweighted L1 'g_l1')).
  """
  fake, state = run(state, 'g', batch['source'], dropout_key=key)
  real_out, _ = judge(state, batch['source'], batch['x'], conditional)  # D's statistics stay put.
  fake_out, _ = judge(state, batch['source'], fake, conditional)
  ctx = Context(state, batch, fake, real_out, fake_out, state.nets['d'].params, objective)
  value, metrics = objectives.combine(objective.g_terms, objectives.G_TERMS, ctx, 'g')
  return value, (state, {**metrics, 'g_l1': objectives.G_TERMS['l1'](ctx)})


def train_step(state: TrainState, real: dict, *, objective: GANObjective, conditional: bool):
  """One pix2pix iteration: D's update on G's outputs for the step's dropout key, then G's update against the
  updated D with the same key; advances `state.step`.

  Args:
    state: the training state.
    real: 'source' and 'x' (the targets), each [1, B, H, W, C] (the family's sampler adds the leading axis, which
      the loop's other families use for n_critic).
    objective: the weighted terms (`objectives.objective_from_config`).
    conditional: whether D sees the source with each target.
  """
  batch = jax.tree.map(lambda x: x[0], real)
  key = noise_key(state.rng, state.step)
  fake = jax.lax.stop_gradient(run(state, 'g', batch['source'], dropout_key=key)[0])
  d_objective = functools.partial(discriminator_objective, fake=fake, objective=objective, conditional=conditional)
  state, d_metrics = update(state, batch, nets=('d',), objective=d_objective, name='d')
  g_objective = functools.partial(generator_objective, key=key, objective=objective, conditional=conditional)
  state, g_metrics = update(state, batch, nets=('g',), objective=g_objective, name='g')
  return state.replace(step=state.step + 1), {**d_metrics, **g_metrics}


def directions(config: ml_collections.ConfigDict) -> tuple[str, str]:
  """(source feature, target feature) of `pix2pix.direction`."""
  return data.PAIRED_DATASETS[config.data.name].directions[config.pix2pix.direction]


def make_pair_sampler(config: ml_collections.ConfigDict, dataset, parallel):
  """`sample_real(state, data_arrays)` -> the step's {'source', 'x'} [1, B, H, W, C] in [-1, 1]: one gather of
  the pairs by the step's epoch indices, jittered (`data.paired.random_jitter`, one crop and flip per pair, from
  `rng.data_key(state.rng, state.step)`) when `pix2pix.jitter`; sharded over the devices under a mesh."""
  source, target = directions(config)
  batch, jitter = config.train.batch_size, config.pix2pix.jitter

  def sample_real(state, data_arrays):
    pairs = dataset.sample(data_arrays, state.rng, state.step, batch)
    if jitter:
      pairs = random_jitter(data_key(state.rng, state.step), pairs)
    real = {'source': pairs[source][None], 'x': pairs[target][None]}
    return jax.tree.map(lambda x: parallel.local_share(x, axis=1), real)

  return sample_real


def make_pix2pix_train_step(config: ml_collections.ConfigDict, dataset, parallel):
  """`(train_step, sample_real)`: D's update then G's on the step's pairs; `state.step` advances.

  Metrics: 'd_loss', 'g_loss', each term's value when a network has two ('g_term_adversarial', 'g_term_l1'),
  'g_l1' (unweighted, on [-1, 1] pixels), D's mean probabilities 'd_real_score' and 'd_fake_score', and per
  network the gradient, update and parameter norms.
  """
  step = functools.partial(train_step, objective=objectives.objective_from_config(config),
                           conditional=config.pix2pix.conditional)
  return step, make_pair_sampler(config, dataset, parallel)


def make_pix2pix_evaluator(config: ml_collections.ConfigDict, dataset):
  """`evaluate(state) -> (metrics, pictures)` on the first `eval.num_samples` pairs of `eval.test_split`.

  G translates each test source with its dropout on (the paper keeps it at test time), drawn from a key of the seed
  that is the same at every evaluation. Metrics ('test_' + `image_metrics.translation_metrics`' names): G's outputs,
  and the same measures of the input copied as the output ('..._input_copy') and of the per-pixel mean of the training
  targets ('..._mean_target'), computed once. The palette of a map target: `image_metrics.fit_palette` on the
  training maps.

  Pictures: 'translations', one row per test pair of `eval.grid_rows` pairs spread evenly over the test split:
  input, G's output, target.
  """
  source_name, target_name = directions(config)
  test = data.make_dataset(_with_split(config.data, config.eval.test_split)).host_arrays()
  num = min(config.eval.num_samples, test[source_name].shape[0])
  sources = np.asarray(to_unit_range(test[source_name][:num]))
  targets01 = test[target_name][:num].astype(np.float32) / 255.0
  train_targets = dataset.host_arrays()[target_name]
  palette = water = None
  if target_name == 'map':
    palette = image_metrics.fit_palette(train_targets, config.seed)
    water = image_metrics.water_classes(palette)
  generator, _ = make_networks(config, dataset.shape[-1])
  key = jax.random.fold_in(jax.random.key(config.seed), EVAL_STREAM)
  pictured = np.unique(np.linspace(0, num - 1, min(config.eval.grid_rows, num)).round().astype(int))

  def apply(params, batch_stats, x):
    variables = {'params': params, **({'batch_stats': batch_stats} if batch_stats else {})}
    return generator.apply(variables, x, dropout_key=key, train=False)

  translate = jax.jit(apply)
  mean_target = np.broadcast_to(train_targets.astype(np.float64).mean(axis=0) / 255.0, targets01.shape)
  baselines = {}
  for name, outputs in (('input_copy', image_metrics.to_unit(sources)), ('mean_target', mean_target)):
    measured = image_metrics.translation_metrics(np.asarray(outputs, np.float32), targets01, palette, water)
    for metric, value in measured.items():
      baselines[f'test_{metric}_{name}'] = value

  def evaluate(state: TrainState):
    g = state.nets['g']
    outputs = np.concatenate([np.asarray(translate(g.sampling_params, g.batch_stats, sources[i:i + EVAL_CHUNK]))
                              for i in range(0, num, EVAL_CHUNK)])
    outputs01 = np.clip(np.asarray(image_metrics.to_unit(outputs)), 0.0, 1.0)
    measured = image_metrics.translation_metrics(outputs01, targets01, palette, water)
    metrics = {f'test_{k}': v for k, v in measured.items()}
    metrics.update(baselines)
    rows = np.stack([sources[pictured], outputs[pictured], targets01[pictured] * 2.0 - 1.0], axis=1)
    pictures = {'translations': plots.image_grid(rows.reshape(-1, *rows.shape[2:]), len(pictured), 3)}
    return metrics, pictures

  return evaluate


FAMILY = Family(validate=validate_pix2pix, create_state=create_pix2pix_state,
                make_train_step=make_pix2pix_train_step, make_evaluator=make_pix2pix_evaluator,
                loss_names=('d_loss', 'g_loss'))
