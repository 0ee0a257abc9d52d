"""The Progressive GAN family (`config.model='progan'`): G and D that grow from 4x4 to `data.resolution` (Karras et al.
2018), with the networks of `gan_jax/models/progan.py`.

Training runs through stages, a pure function of the step (`stages`): stable 4x4, then for each further resolution
r a fade-in (block r blended in with alpha rising linearly from 0 to 1 over the phase's images) and a stabilisation
(alpha 1). Each phase shows D `progan.images_per_phase` real images (`train.batch_size` per step); the last
stabilisation goes on to `train.num_steps`. Real images are box-filtered down to the stage's resolution, and during
a fade-in blended between r/2 (upsampled) and r with the same alpha, as the released code's `process_reals` does.

Each stage has its own parameter structure and so its own compiled step: the networks' modules (static parts of
the state) say the stage, and the step reads its alpha from `state.step`. At a stage's first step the training loop
calls `next_stage` (the family's `stage_starts` tell it where): the new modules are initialised from a key of the
seed and that step, every parameter whose name already existed is carried over unchanged (with its moving average),
the new ones are fresh, and the fading stage's old toRGB / fromRGB are dropped once it ends. The optimizers start
afresh at every phase change when `progan.reset_optimizer` (the default, as the released code's
`reset_opt_for_new_lod`): Adam's moments of a network whose function just changed describe gradients of another
objective, and a carried step count would skip the bias correction of the new parameters' zero moments (with
beta2 = 0.99, their first updates would be ~10x the learning rate). With `reset_optimizer=False` each optimizer-state
leaf whose path exists in the old state is carried (the carried parameters' moments and the step count), the new
parameters' moments start at zero. A checkpoint holds whatever structure its step has; a resume rebuilds that
structure from the step before restoring (`families.state_at`), so a run resumed anywhere, in a fade-in included,
computes bit for bit what an uninterrupted one does.

One step: one D update on WGAN-GP + drift (`config.loss.d`: adversarial 1, gradient_penalty 10, drift 1e-3, the
registered terms of `objectives.py`), the critic run at the step's alpha, then one G update (fresh latents) against
the updated D.

Data: a single-image dataset, or one feature (`progan.feature`, e.g. emoji_styles' 'noto') of a paired dataset read
as a set of single images (`families.feature_sampler`, as LAPGAN reads it).

Evaluation: samples of the EMA generator at the stage's alpha, upsampled (nearest) to `data.resolution`, scored on
classified datasets by the shipped digit classifier (IS, FD, KID on its features, against the first real images),
and on a feature of a dataset with a shipped domain classifier (emoji_styles) by that classifier (FD and KID on its
features, against real training images of the feature spread evenly over the split:
`domain_classifier.feature_scorer`), beside 'real_fd_at_resolution': the same FD for other real images
box-filtered to the stage's resolution and upsampled back, the best a generator at that resolution can reach.
'stage_seconds' is the time since the previous evaluation, less the evaluations' own time.
"""

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import data, objectives, optim
from gan_jax.config import int_at_least, require
from gan_jax.data.in_memory import to_unit_range
from gan_jax.evaluation import plots
from gan_jax.evaluation.evaluator import EVAL_SEED_TAG
from gan_jax.families import (Family, feature_sampler, feature_scorer, real_sampler, validate_feature,
                              validate_terms, validate_training)
from gan_jax.models import progan as models
from gan_jax.noise import NoiseSpec
from gan_jax.objectives import Context, GANObjective
from gan_jax.rng import noise_key
from gan_jax.state import Network, TrainState
from gan_jax.update import run, update

NETS = ('g', 'd')
TERMS = {'d': ('adversarial', 'gradient_penalty', 'drift'), 'g': ('adversarial',)}
GROW_STREAM = 0x960  # The keys of the blocks a stage adds: fold_in(fold_in(key(seed), GROW_STREAM), stage start).
EVAL_CHUNK = 500


@dataclasses.dataclass(frozen=True)
class Stage:
  """One phase of growth: steps [start, start + steps) train at `resolution`, block `resolution` fading in or not
  (the last stage continues past its `steps` to the end of training)."""
  start: int
  steps: int
  resolution: int
  fading: bool


def stages(config: ml_collections.ConfigDict) -> tuple[Stage, ...]:
  """The run's stages: stable at the first resolution, then a fade-in and a stabilisation per further one (one
  stable stage at the last resolution when `progan.grow` is False)."""
  steps = config.progan.images_per_phase // config.train.batch_size
  resolutions = tuple(config.progan.resolutions)
  if not config.progan.grow:
    return (Stage(0, steps, resolutions[-1], False),)
  out = [Stage(0, steps, resolutions[0], False)]
  for r in resolutions[1:]:
    out.append(Stage(out[-1].start + steps, steps, r, True))
    out.append(Stage(out[-1].start + steps, steps, r, False))
  return tuple(out)


def stage_starts(config: ml_collections.ConfigDict) -> tuple[int, ...]:
  """The steps at which the state changes structure: every stage's first step but the first's."""
  return tuple(s.start for s in stages(config)[1:])


def stage_at(config: ml_collections.ConfigDict, step: int) -> Stage:
  """The stage that trains step `step`."""
  return [s for s in stages(config) if s.start <= step][-1]


def stage_of(config: ml_collections.ConfigDict, state: TrainState) -> Stage:
  """The stage the state's networks are built for (their modules say its resolution and whether it fades)."""
  module = state.nets['g'].module
  return next(s for s in stages(config) if (s.resolution, s.fading) == (module.resolution, module.fading))


def alpha(stage: Stage, step: jax.Array) -> jax.Array:
  """The fade-in's alpha at `step` (float32, traced or not): (step - start) / steps, the fraction of the phase's
  images shown before the step, clipped to [0, 1]; 1 in a stable stage."""
  if not stage.fading:
    return jnp.ones((), jnp.float32)
  done = (jnp.asarray(step, jnp.int32) - stage.start).astype(jnp.float32)
  return jnp.clip(done / stage.steps, 0.0, 1.0)


def reals_at(x: jax.Array, stage: Stage, a: jax.Array) -> jax.Array:
  """Real images [B, R, R, C] as D sees them in `stage`: box-filtered to its resolution, and while fading blended
  as G's output is, (1 - alpha) upsample(downsample(x)) + alpha x."""
  factor = x.shape[1] // stage.resolution
  if factor > 1:
    x = models.downsample(x, factor)
  if stage.fading:
    x = models.lerp(models.upsample(models.downsample(x)), x, a)
  return x


# Validation.


def validate_progan(config: ml_collections.ConfigDict, num_devices: int, num_processes: int = 1) -> None:
  """Progressive GAN's checks: its section (the resolution schedule against data.resolution), the objective, an
  image dataset, the optimizers and the loop; last the disk.

  Raises:
    ConfigError: naming the field, the value and the accepted values.
  """
  from gan_jax import validation  # validation imports the families.
  require('progan' in config, 'progan', 'the progan family reads config.progan: start from '
          'gan_jax.config.progan_config()')
  c = config.progan
  name = config.data.name
  require(name in data.IMAGE_DATASETS or name in data.PAIRED_DATASETS, 'data.name',
          f'got {name!r}; Progressive GAN generates images: use one of {", ".join(data.IMAGE_DATASETS)}, or a '
          f'feature (progan.feature) of {", ".join(data.PAIRED_DATASETS)}')
  validate_feature(c.feature, 'progan.feature', name)
  data.validate(config.data)
  validate_resolutions(c.resolutions, config.data.resolution)
  widths = c.widths
  require(isinstance(widths, tuple) and len(widths) == len(c.resolutions)
          and all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths), 'progan.widths',
          f'got {widths!r}; give one integer >= 1 per resolution of progan.resolutions={tuple(c.resolutions)}')
  int_at_least(c.latent_dim, 'progan.latent_dim')
  int_at_least(c.mbstd_group_size, 'progan.mbstd_group_size', minimum=0)
  for field in ('grow', 'reset_optimizer'):
    require(isinstance(c[field], bool), f'progan.{field}', f'got {c[field]!r}; must be True or False')
  batch = config.train.batch_size
  int_at_least(batch, 'train.batch_size')
  int_at_least(c.images_per_phase, 'progan.images_per_phase', minimum=batch)
  require(c.images_per_phase % batch == 0, 'progan.images_per_phase',
          f'got {c.images_per_phase}; must be a multiple of train.batch_size={batch}, so that each phase is a whole '
          'number of steps')
  group = min(c.mbstd_group_size, batch)
  require(not group or batch % group == 0, 'progan.mbstd_group_size',
          f'got {c.mbstd_group_size}; train.batch_size={batch} must be divisible by its group of {group} examples')
  validate_objective(config.loss)
  require(config.gen.ema_decay >= 0 and config.gen.ema_decay < 1, 'gen.ema_decay',
          f'got {config.gen.ema_decay}; must lie in [0, 1) (0: sample with the trained weights)')
  validate_training(config, num_devices, num_processes, NETS,
                    'Progressive GAN makes one D update and one G update per step')
  data.check_available(config.data)
  validation.validate_pipeline(config)


def validate_resolutions(resolutions, data_resolution) -> None:
  """The schedule starts at 4, doubles at each step, and ends at data.resolution."""
  field = 'progan.resolutions'
  require(isinstance(resolutions, tuple) and resolutions
          and all(isinstance(r, int) and not isinstance(r, bool) for r in resolutions), field,
          f'got {resolutions!r}; give a tuple of integers, e.g. (4, 8, 16, 32)')
  require(resolutions[0] == 4, field, f'got {resolutions!r}; must start at 4 (G\'s first block is 4x4)')
  for low, high in zip(resolutions, resolutions[1:]):
    require(high == 2 * low, field, f'got {resolutions!r}; each resolution must double the previous one ({low} is '
            f'followed by {high}, not {2 * low})')
  require(resolutions[-1] == data_resolution, field,
          f'got {resolutions!r}; its last resolution {resolutions[-1]} differs from data.resolution='
          f'{data_resolution}: end at {data_resolution}, or set data.resolution={resolutions[-1]}')


def validate_objective(loss: ml_collections.ConfigDict) -> None:
  """The adversarial pair, the terms' names and weights, only the terms Progressive GAN's step computes."""
  validate_terms(loss, TERMS, "Progressive GAN's {player}")
  require(loss.d.adversarial > 0, 'loss.d.adversarial', 'D has no adversarial objective: give it a weight > 0')
  require(loss.g.adversarial > 0, 'loss.g.adversarial', 'G has no objective: give it a weight > 0')


# The state and its growth.


def make_networks(config: ml_collections.ConfigDict, stage: Stage,
                  channels: int) -> tuple[models.ProGenerator, models.ProDiscriminator]:
  """G and D of `stage`."""
  c = config.progan
  widths = tuple(c.widths)
  return (models.ProGenerator(widths=widths, resolution=stage.resolution, fading=stage.fading, channels=channels),
          models.ProDiscriminator(widths=widths, resolution=stage.resolution, fading=stage.fading,
                                  mbstd_group_size=c.mbstd_group_size))


def _fresh_networks(config: ml_collections.ConfigDict, stage: Stage, key: jax.Array, channels: int):
  """G and D of `stage`, newly initialised from `key`, with their optimizers (and G's moving average)."""
  generator, discriminator = make_networks(config, stage, channels)
  return _create_networks(generator, discriminator, optim.make_optimizer(config.optim.g),
                          optim.make_optimizer(config.optim.d), config.progan.latent_dim, float(config.gen.ema_decay),
                          key)


# One compiled initialisation per stage, rather than one compile per eager layer; the same stage (a resume's
# template, a test's second state) reuses it.
@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5))
def _create_networks(generator, discriminator, g_tx, d_tx, latent_dim: int, ema_decay: float, key: jax.Array):
  g_key, d_key = jax.random.split(key)
  image = jnp.zeros((1, generator.resolution, generator.resolution, generator.channels))
  return {'g': Network.create(generator, g_tx, g_key, jnp.zeros((1, latent_dim)), ema_decay=ema_decay),
          'd': Network.create(discriminator, d_tx, d_key, image)}


def create_progan_state(config: ml_collections.ConfigDict, key: jax.Array, dataset) -> TrainState:
  """The state at step 0: G and D of the first stage (4x4), each with its optimizer; G's moving average."""
  net_key, rng = jax.random.split(key)
  nets = _fresh_networks(config, stages(config)[0], net_key, dataset.shape[-1])
  return TrainState.create(nets, rng, noise=NoiseSpec(latent_dim=config.progan.latent_dim))


def carry(new, old, what: str):
  """`new` with every leaf whose path also exists in `old` replaced by old's leaf (which must have its shape)."""
  old_leaves = {jax.tree_util.keystr(path): leaf for path, leaf in jax.tree_util.tree_leaves_with_path(old)}

  def pick(path, leaf):
    name = jax.tree_util.keystr(path)
    if name not in old_leaves:
      return leaf
    kept = old_leaves[name]
    if np.shape(kept) != np.shape(leaf):
      raise ValueError(f'{what}: {name} has shape {np.shape(kept)} before the stage change and {np.shape(leaf)} '
                       'after; a carried parameter must keep its shape')
    return kept

  return jax.tree_util.tree_map_with_path(pick, new)


def grow_network(old: Network, fresh: Network, reset_optimizer: bool) -> Network:
  """The network `fresh` (the new stage's module, newly initialised) with `old`'s parameters, moving averages and
  update count carried over by name; the optimizer state fresh, or carried leaf by leaf (see the module
  docstring)."""
  params = carry(fresh.params, old.params, 'params')
  opt_state = fresh.tx.init(params)
  if not reset_optimizer:
    opt_state = carry(opt_state, old.opt_state, 'opt_state')
  ema = carry(fresh.ema_params, old.ema_params, 'ema_params') if fresh.ema_params else {}
  return fresh.replace(params=params, opt_state=opt_state, ema_params=ema, count=old.count)


def next_stage(config: ml_collections.ConfigDict, state: TrainState, dataset) -> TrainState:
  """The state of the stage after `state`'s: its new blocks initialised from a key of the seed and the stage's
  first step, everything else carried (see `grow_network`)."""
  all_stages = stages(config)
  new = all_stages[all_stages.index(stage_of(config, state)) + 1]
  key = jax.random.fold_in(jax.random.fold_in(jax.random.key(config.seed), GROW_STREAM), new.start)
  fresh = _fresh_networks(config, new, key, dataset.shape[-1])
  reset = config.progan.reset_optimizer
  return state.replace_nets(**{name: grow_network(state.nets[name], fresh[name], reset) for name in NETS})


# The step.


@dataclasses.dataclass(frozen=True)
class ProganContext(Context):
  """An objective's context whose critic runs D at the step's fade-in alpha (for the gradient penalty)."""
  alpha: jax.Array | float = 1.0

  def critic(self, y=None):
    del y
    return lambda x: run(self.state, 'd', x, params=self.d_params, alpha=self.alpha)[0]


def discriminator_objective(state: TrainState, batch: dict, *, fake: jax.Array, alpha: jax.Array,
                            objective: GANObjective):
  """D's loss on the real batch['x'] and `fake` at `alpha`: `objective.d_terms` (WGAN-GP + drift).

  Returns:
    (loss, (state, metrics: the terms, the critic's mean on real and fake images)).
  """
  real = {'logits': run(state, 'd', batch['x'], alpha=alpha)[0]}
  fake_out = {'logits': run(state, 'd', fake, alpha=alpha)[0]}
  ctx = ProganContext(state, batch, fake, real, fake_out, state.nets['d'].params, objective, alpha=alpha)
  value, metrics = objectives.combine(objective.d_terms, objectives.D_TERMS, ctx, 'd')
  return value, (state, {**metrics, 'd_real_mean': jnp.mean(real['logits']),
                         'd_fake_mean': jnp.mean(fake_out['logits'])})


def generator_objective(state: TrainState, batch: dict, *, alpha: jax.Array, objective: GANObjective):
  """G's loss for its samples of batch['z'] at `alpha`: `objective.g_terms` (-E D(G(z)))."""
  fake, state = run(state, 'g', batch['z'], alpha=alpha)
  real = {'logits': run(state, 'd', batch['x'], alpha=alpha)[0]}  # Unused by the Wasserstein G loss: compiled away.
  fake_out = {'logits': run(state, 'd', fake, alpha=alpha)[0]}
  ctx = ProganContext(state, batch, fake, real, fake_out, state.nets['d'].params, objective, alpha=alpha)
  value, metrics = objectives.combine(objective.g_terms, objectives.G_TERMS, ctx, 'g')
  return value, (state, metrics)


def train_step(state: TrainState, real: dict, *, config_stages: tuple[Stage, ...], objective: GANObjective,
               share=lambda x: x):
  """One iteration of the state's stage: D's update on the step's reals and latents, then G's on fresh latents
  against the updated D; advances `state.step`.

  Args:
    state: the training state (its modules say the stage).
    real: 'x' [1, B, R, R, C] at the data's resolution (the sampler's leading n_critic axis).
    config_stages: the run's `stages`.
    objective: the weighted terms (`objectives.objective_from_config`).
    share: shards a batch over the devices under a mesh (`parallel.local_share`).
  """
  module = state.nets['g'].module
  stage = next(s for s in config_stages if (s.resolution, s.fading) == (module.resolution, module.fading))
  a = alpha(stage, state.step)
  x = reals_at(real['x'][0], stage, a)
  batch_size = x.shape[0]
  d_key, eps_key, g_key = jax.random.split(noise_key(state.rng, state.step), 3)
  latent = state.noise.latent_dim
  d_batch = {'x': x, 'z': share(jax.random.normal(d_key, (batch_size, latent))),
             'eps': share(jax.random.uniform(eps_key, (batch_size,)))}
  fake = jax.lax.stop_gradient(run(state, 'g', d_batch['z'], alpha=a)[0])
  d_objective = functools.partial(discriminator_objective, fake=fake, alpha=a, objective=objective)
  state, d_metrics = update(state, d_batch, nets=('d',), objective=d_objective, name='d')
  g_batch = {'x': x, 'z': share(jax.random.normal(g_key, (batch_size, latent)))}
  g_objective = functools.partial(generator_objective, alpha=a, objective=objective)
  state, g_metrics = update(state, g_batch, nets=('g',), objective=g_objective, name='g')
  return state.replace(step=state.step + 1), {**d_metrics, **g_metrics, 'alpha': a,
                                              'resolution': jnp.float32(stage.resolution)}


def make_progan_train_step(config: ml_collections.ConfigDict, dataset, parallel):
  """`(train_step, sample_real)`; the step compiles for the stage of the state it is given."""
  step = functools.partial(train_step, config_stages=stages(config),
                           objective=objectives.objective_from_config(config), share=parallel.local_share)
  if config.data.name in data.PAIRED_DATASETS:
    return step, feature_sampler(config.progan.feature, config, parallel)
  return step, real_sampler(config, dataset, parallel)


# Evaluation.


@functools.partial(jax.jit, static_argnums=3)
def _generate(generator: Network, z: jax.Array, a: jax.Array, factor: int) -> jax.Array:
  images = generator.apply(z, params=generator.sampling_params, train=False, alpha=a)[0]
  return models.upsample(images, factor) if factor > 1 else images


def generate(config: ml_collections.ConfigDict, state: TrainState, z: jax.Array) -> np.ndarray:
  """G's samples (its moving average when kept) for latents `z` at the state's stage and alpha, upsampled
  (nearest) to data.resolution."""
  stage = stage_of(config, state)
  a = alpha(stage, state.step)
  factor = config.data.resolution // stage.resolution
  return np.concatenate([np.asarray(_generate(state.nets['g'], z[i:i + EVAL_CHUNK], a, factor))
                         for i in range(0, len(z), EVAL_CHUNK)])


def digit_scorer(config: ml_collections.ConfigDict, dataset, tfds_name: str):
  """(score(samples) -> metrics, fd(images) -> float, other real images) for a dataset of the shipped digit
  classifier: its IS, FD and KID against the split's first `eval.num_samples` images; the next as many are the
  other real images of 'real_fd_at_resolution'."""
  from gan_jax.evaluation import digits
  num = config.eval.num_samples
  classifier = digits.load_digit_classifier(tfds_name)
  pool = np.asarray(to_unit_range(dataset.first_images(2 * num)))
  real, other = pool[:num], pool[num:]
  return (lambda samples: digits.digit_scores(samples, real, classifier),
          lambda images: digits.digit_scores(images, real, classifier, kid=False)['classifier_fd'], other)


def make_progan_evaluator(config: ml_collections.ConfigDict, dataset):
  """`evaluate(state) -> (metrics, pictures)`: the stage, alpha, the time since the last evaluation, and on
  datasets with a shipped classifier (`digit_scorer`, `families.feature_scorer`) its scores of the samples beside
  those of real images at the stage's resolution (see the module docstring)."""
  num = config.eval.num_samples
  key = jax.random.fold_in(jax.random.key(config.seed), EVAL_SEED_TAG)
  z = jax.random.normal(key, (num, config.progan.latent_dim))
  rows = config.eval.grid_rows
  tfds_name, stacked = data.IMAGE_DATASETS.get(config.data.name, ('', False))
  score, fd, other = (digit_scorer(config, dataset, tfds_name) if tfds_name in data.CLASSIFIED_DATASETS and not stacked
                      else feature_scorer(config, dataset, config.progan.feature)) or (None, None, None)
  floors = {}
  clock = {'last': time.perf_counter()}

  def evaluate(state):
    tic = time.perf_counter()
    stage = stage_of(config, state)
    metrics = {'resolution': float(stage.resolution), 'alpha': float(alpha(stage, state.step)),
               'stage_seconds': tic - clock['last']}
    samples = generate(config, state, z)
    if score is not None:
      metrics.update(score(samples))
      r = stage.resolution
      if r not in floors and len(other) >= 2:
        factor = config.data.resolution // r
        reduced = np.asarray(models.upsample(models.downsample(jnp.asarray(other), factor), factor)) if factor > 1 \
            else other
        floors[r] = fd(reduced)
      if r in floors:
        metrics['real_fd_at_resolution'] = floors[r]
    pictures = {'samples': plots.image_grid(samples[:rows * rows], rows)}
    clock['last'] = time.perf_counter()
    return metrics, pictures

  return evaluate


def sample_images(config: ml_collections.ConfigDict, state: TrainState, key: jax.Array, num: int) -> np.ndarray:
  """G's samples for `num` normal latents drawn with `key`, at the state's stage and alpha, upsampled to
  data.resolution (`Family.sample`)."""
  return generate(config, state, jax.random.normal(key, (num, config.progan.latent_dim)))


FAMILY = Family(validate=validate_progan, create_state=create_progan_state, make_train_step=make_progan_train_step,
                make_evaluator=make_progan_evaluator, loss_names=('d_loss', 'g_loss'), stage_starts=stage_starts,
                next_stage=next_stage, sample=sample_images)
