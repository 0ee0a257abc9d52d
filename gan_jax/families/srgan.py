"""The SRGAN family (`config.model='srgan'`): single-image super-resolution x `srgan.scale` (Ledig et al. 2017).

Networks 'g', SRResNet (LR [0, 1] -> SR [-1, 1]), and 'd', the paper's VGG-style discriminator on HR images
(`gan_jax/models/srgan.py`). With `srgan.adversarial_weight = 0` the model is SRResNet alone: D is neither built
nor trained.

Data: HR images are an image dataset's examples (`photos`: 96 x 96 crops of natural photographs), each flipped
left-right with probability 1/2 when `srgan.flip` (from the step's data key, on device). The LR input is made on
device inside the step: `jax.image.resize(hr, hr_size / scale, 'cubic', antialias=True)` on [0, 1] pixels (Keys'
cubic, a = -0.5, its kernel widened by the scale as MATLAB's imresize and PIL do when downsampling), clipped and
rounded to 8-bit levels as a saved LR image would be. It is not MATLAB's imresize bit for bit: at the image borders
jax renormalises the kernel over the pixels inside the image where imresize mirrors the image (symmetric padding),
so the outermost few LR pixels differ slightly; the interior agrees up to float rounding.

Objectives (the registry's terms of `gan_jax/objectives.py`): D minimises the adversarial pair's D loss
(`loss.name`, the paper's non-saturating GAN: -log D(HR) - log(1 - D(G(LR)))); G minimises the content loss
`srgan.content` plus `srgan.adversarial_weight` (10^-3) x the adversarial G loss (-log D(G(LR))). Content: 'mse'
(pixel MSE on [-1, 1], the registered 'mse' term: SRResNet, and SRGAN-MSE with the adversarial term), 'vgg54' or
'vgg22' (MSE between VGG19's relu5_4 / relu2_2 features of G's output and of the HR image, both mapped to [0, 1]
and ImageNet-normalised, features scaled by `srgan.vgg_scale` = 1/12.75 as the paper: `objectives.feature_mse` on
`gan_jax/models/vgg19.py` with the weights file `srgan.vgg_weights`, closed over as constants, never trained). One
adversarial step is D's update on G's outputs, then G's against the updated D (the order of the paper's code).

Initialisation from SRResNet (the paper initialises SRGAN with a trained SRResNet): `srgan.init_from` names the
workdir of an earlier srgan run (SRResNet's, usually) whose latest checkpoint's G parameters and batch statistics
become this run's G at step 0 (its optimizer starts afresh; D starts from its initialisation). The earlier run must
have G's architecture (srgan.scale, num_blocks, channels, data.channels): validation compares its config.json.
Restoring another run's G was chosen over a pre-training phase in the same run (`families/phases.py`'s lax.switch
on the step): XLA's CPU backend runs the convolutions inside the switch's branches about 20x slower (measured here:
0.04 against 0.8 steps a second), and the SRGAN run then continues the measured SRResNet run instead of repeating
it. A resumed SRGAN run restores its own checkpoint, which replaces the initialisation, so it is still bit for bit
the uninterrupted run.

Evaluation on the held-out split (`eval.test_split`, photos' crops of 6 photos never trained on): each HR crop's LR
made as in training, G's output (evaluation-mode batch norm) and the bicubic upsampling of the same LR input
(`jax.image.resize(..., 'cubic')`), both clipped and rounded to 8 bits, scored on the luma Y of ITU-R BT.601 as the
SR papers' MATLAB rgb2ycbcr: Y = 16 + 65.481 R + 128.553 G + 24.966 B for RGB in [0, 1], Y in [16, 235], with
`scale` pixels cropped from every border; PSNR over the range 255 and SSIM (`image_metrics.ssim`, data range 255),
per image, then averaged.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import data, losses, objectives, optim
from gan_jax.config import ConfigError, choice, int_at_least, require
from gan_jax.data.in_memory import to_unit_range
from gan_jax.evaluation import image_metrics, plots
from gan_jax.families import Family, _with_split, validate_training
from gan_jax.models import srgan as models
from gan_jax.models import vgg19
from gan_jax.objectives import Context, GANObjective
from gan_jax.rng import data_key
from gan_jax.state import Network, TrainState
from gan_jax.update import run, update

# srgan.content -> the VGG19 layer of its features (None: pixels).
CONTENTS = {'mse': None, 'vgg54': 'relu5_4', 'vgg22': 'relu2_2'}
VGG_HINT = ('the VGG content losses need VGG19 weights in gan_jax\'s .npz format (see gan_jax/models/vgg19.py); '
            "from torchvision's weights: python -m gan_jax.models.vgg19 --from_torch vgg19-dcbb9e9d.pth --out "
            "vgg19.npz, then --config.srgan.vgg_weights=vgg19.npz; or use srgan.content='mse'")
Y_WEIGHTS = (65.481, 128.553, 24.966)  # BT.601 luma of RGB in [0, 1], in [16, 235] after the offset 16.
Y_OFFSET = 16.0
EVAL_CHUNK = 32  # Test crops super-resolved per call.


def _number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def adversarial(config: ml_collections.ConfigDict) -> bool:
  """Whether D is part of the model (SRGAN) rather than SRResNet alone."""
  return config.srgan.adversarial_weight > 0


def validate_srgan(config: ml_collections.ConfigDict, num_devices: int, num_processes: int = 1) -> None:
  """SRGAN's checks: its section, the scale against the HR size, the content loss and its VGG weights, the
  objective, the optimizers and the loop; last the disk.

  Raises:
    ConfigError: naming the field, the value and the accepted values.
  """
  require('srgan' in config, 'srgan', 'the srgan family reads config.srgan: start from gan_jax.config.srgan_config()')
  c = config.srgan
  try:
    models.check_scale(c.scale)
  except ValueError as error:
    raise ConfigError(f'config.srgan.scale: {error}') from error
  int_at_least(c.num_blocks, 'srgan.num_blocks', minimum=0)
  for field in ('channels', 'disc_channels', 'disc_dense'):
    int_at_least(c[field], f'srgan.{field}')
  choice(c.content, 'srgan.content', CONTENTS)
  require(_number(c.adversarial_weight) and c.adversarial_weight >= 0, 'srgan.adversarial_weight',
          f'got {c.adversarial_weight!r}; must be a number >= 0 (the paper: 1e-3; 0: SRResNet, no discriminator)')
  require(_number(c.vgg_scale) and c.vgg_scale > 0, 'srgan.vgg_scale', f'got {c.vgg_scale!r}; must be > 0')
  require(isinstance(c.flip, bool), 'srgan.flip', f'got {c.flip!r}; must be True or False')
  losses.validate(config.loss)
  for player in ('d', 'g'):
    for term, weight in config.loss[player].items():
      require(term == 'adversarial' or not weight, f'loss.{player}.{term}',
              f"got {weight!r}; SRGAN's objectives are set by srgan.content and srgan.adversarial_weight: set it to 0")
  data.validate(config.data)
  name = config.data.name
  require(name in data.IMAGE_DATASETS and not data.IMAGE_DATASETS[name][1], 'data.name',
          f'got {name!r}; SRGAN super-resolves images of an image dataset (photos: 96x96 crops of photographs): '
          f'use one of {", ".join(n for n, (_, stacked) in data.IMAGE_DATASETS.items() if not stacked)}')
  require(config.data.pipeline != 'stream', 'data.pipeline',
          "got 'stream'; SRGAN gathers its HR batches on device: use 'auto' or 'in_memory'")
  resolution = config.data.resolution
  require(resolution % c.scale == 0, 'data.resolution',
          f'got {resolution}, not divisible by srgan.scale={c.scale}: the LR image is the HR image downsampled by the '
          f'scale; use a multiple of {c.scale} (photos: 96)')
  window = 2 * image_metrics.SSIM_RADIUS + 1
  require(resolution - 2 * c.scale >= window, 'data.resolution',
          f'got {resolution}: with srgan.scale={c.scale} pixels cropped from each border for the evaluation, '
          f'{resolution - 2 * c.scale} remain, fewer than SSIM\'s {window}x{window} window; use at least '
          f'{window + 2 * c.scale}')
  require(CONTENTS[c.content] is None or config.data.channels == 3, 'data.channels',
          f'got {config.data.channels}; srgan.content={c.content!r} reads RGB images through VGG19: set 3')
  nets = ('g', 'd') if adversarial(config) else ('g',)
  validate_training(config, num_devices, num_processes, nets, 'SRGAN makes one D update and one G update per step')
  if c.init_from:  # The disk: the run G starts from, the weights file, then the dataset.
    check_init_from(config)
  if CONTENTS[c.content] is not None:
    require(bool(c.vgg_weights), 'srgan.vgg_weights', f'empty, and srgan.content={c.content!r}: {VGG_HINT}')
    import os
    require(os.path.isfile(c.vgg_weights), 'srgan.vgg_weights', f'no such file {c.vgg_weights!r}: {VGG_HINT}')
    try:
      vgg19.load_params(c.vgg_weights, CONTENTS[c.content])
    except (ValueError, OSError) as error:
      raise ConfigError(f'config.srgan.vgg_weights: {c.vgg_weights!r}: {error}') from error
  data.check_available(config.data)


ARCHITECTURE = ('srgan.scale', 'srgan.num_blocks', 'srgan.channels', 'data.channels')  # What G's shapes depend on.


def check_init_from(config: ml_collections.ConfigDict) -> None:
  """`srgan.init_from` is the workdir of an srgan run with a checkpoint and G's architecture (its config.json)."""
  import json
  import os
  from gan_jax import checkpoint, workdir
  path = config.srgan.init_from
  saved = os.path.join(path, workdir.CONFIG_NAME)
  require(os.path.isfile(saved), 'srgan.init_from',
          f'{path!r} holds no {workdir.CONFIG_NAME}: give the workdir of an earlier srgan run (SRResNet: '
          'experiments/srgan_photos.py:srresnet)')
  with open(saved) as f:
    other = json.load(f)
  require(other.get('model') == 'srgan', 'srgan.init_from',
          f"{path!r} is a run of model {other.get('model')!r}; G starts from an srgan run's generator")
  for field in ARCHITECTURE:
    section, name = field.split('.')
    require(other.get(field) == config[section][name], 'srgan.init_from',
            f'{path!r} has {field}={other.get(field)!r}, this run {config[section][name]!r}: G must have the same '
            f'architecture ({", ".join(ARCHITECTURE)})')
  steps = list(checkpoint._CommittedSteps().find_all(os.path.join(path, 'checkpoints'))) if os.path.isdir(
      os.path.join(path, 'checkpoints')) else []
  require(bool(steps), 'srgan.init_from', f'{path!r} has no finished checkpoint under checkpoints/')


def restore_generator(state: TrainState, path: str) -> TrainState:
  """`state` with G's parameters and batch statistics those of the latest checkpoint of the run in `path`."""
  import os
  import flax.serialization
  import orbax.checkpoint as ocp
  from gan_jax import checkpoint
  manager = ocp.CheckpointManager(os.path.abspath(os.path.join(path, 'checkpoints')),
                                  options=ocp.CheckpointManagerOptions(step_name_format=checkpoint._CommittedSteps()))
  try:
    saved = manager.restore(manager.latest_step(), args=ocp.args.StandardRestore())['nets']['g']
  finally:
    manager.close()
  g = state.nets['g']
  params = flax.serialization.from_state_dict(g.params, saved['params'])
  batch_stats = flax.serialization.from_state_dict(g.batch_stats, saved['batch_stats'])
  for what, mine, theirs in (('params', g.params, params), ('batch_stats', g.batch_stats, batch_stats)):
    shapes = jax.tree.map(jnp.shape, (mine, theirs))
    if shapes[0] != shapes[1]:
      raise ValueError(f'srgan.init_from: {path}: G {what} of other shapes than this run\'s')
  params, batch_stats = jax.tree.map(jnp.asarray, (params, batch_stats))
  return state.replace_nets(g=g.replace(params=params, batch_stats=batch_stats))


def make_networks(config: ml_collections.ConfigDict, channels: int) -> tuple[models.SRResNet,
                                                                              models.SRDiscriminator]:
  """The generator and discriminator `config.srgan` describes, for images of `channels` channels."""
  c = config.srgan
  generator = models.SRResNet(scale=c.scale, num_blocks=c.num_blocks, channels=c.channels, out_channels=channels)
  discriminator = models.SRDiscriminator(widths=models.discriminator_widths(c.disc_channels), dense=c.disc_dense)
  return generator, discriminator


def create_srgan_state(config: ml_collections.ConfigDict, key: jax.Array, dataset) -> TrainState:
  """SRGAN at step 0: network 'g' for LR images of `dataset`'s HR shape / scale, and 'd' for HR images when the
  model is adversarial, each with its optimizer."""
  generator, discriminator = make_networks(config, dataset.shape[-1])
  height, width, channels = dataset.shape
  scale = config.srgan.scale
  hr = jnp.zeros((1, height, width, channels))
  lr = jnp.zeros((1, height // scale, width // scale, channels))

  def create(key):
    g_key, d_key, rng = jax.random.split(key, 3)
    nets = {'g': Network.create(generator, optim.make_optimizer(config.optim.g), g_key, lr)}
    if adversarial(config):
      nets['d'] = Network.create(discriminator, optim.make_optimizer(config.optim.d), d_key, hr)
    return TrainState.create(nets, rng)

  state = jax.jit(create)(key)
  return restore_generator(state, config.srgan.init_from) if config.srgan.init_from else state


def downsample(hr: jax.Array, scale: int) -> jax.Array:
  """HR images [B, H, W, C] in [-1, 1] -> LR [B, H / scale, W / scale, C] in [0, 1]: antialiased bicubic (see the
  module docstring), clipped and rounded to 8-bit levels."""
  batch, height, width, channels = hr.shape
  lr = jax.image.resize(image_metrics.to_unit(hr), (batch, height // scale, width // scale, channels), 'cubic',
                        antialias=True)
  return jnp.round(jnp.clip(lr, 0.0, 1.0) * 255.0) / 255.0


def bicubic_upsample(lr: jax.Array, scale: int) -> jax.Array:
  """LR [B, h, w, C] in [0, 1] -> bicubic upsampling [B, h scale, w scale, C] in [0, 1] (clipped): the baseline."""
  batch, height, width, channels = lr.shape
  up = jax.image.resize(lr, (batch, height * scale, width * scale, channels), 'cubic')
  return jnp.clip(up, 0.0, 1.0)


def make_objective(config: ml_collections.ConfigDict, content_term) -> GANObjective:
  """D: the adversarial pair's D loss; G: the content term + adversarial_weight x the adversarial G loss."""
  weight = float(config.srgan.adversarial_weight)
  g_terms = ((content_term, 1.0),) + ((('adversarial', weight),) if weight else ())
  return GANObjective(d_terms=(('adversarial', 1.0),), g_terms=g_terms, loss=config.loss.name,
                      label_smoothing=config.loss.label_smoothing)


def make_content_term(config: ml_collections.ConfigDict):
  """`srgan.content` as an objective term: the registered 'mse', or `objectives.feature_mse` on VGG19 features of
  the weights file (images mapped from [-1, 1] to [0, 1] first)."""
  layer = CONTENTS[config.srgan.content]
  if layer is None:
    return 'mse'
  params = vgg19.load_params(config.srgan.vgg_weights, layer)
  network = vgg19.VGG19Features(layer)
  features = lambda x: network.apply({'params': params}, image_metrics.to_unit(x))
  return objectives.feature_mse(features, float(config.srgan.vgg_scale))


def _scores(real_logits, fake_logits) -> dict[str, jax.Array]:
  return {'d_real_score': jnp.mean(jax.nn.sigmoid(real_logits)),
          'd_fake_score': jnp.mean(jax.nn.sigmoid(fake_logits))}


def discriminator_objective(state: TrainState, batch: dict, *, fake: jax.Array, objective: GANObjective):
  """D's loss on the HR batch['x'] and G's outputs `fake`: `objective.d_terms`.

  Returns:
    (loss, (state with D's batch statistics advanced, D's mean scores)).
  """
  given = state
  real, state = run(state, 'd', batch['x'])
  fake_logits, state = run(state, 'd', fake)
  ctx = Context(given, batch, fake, {'logits': real}, {'logits': fake_logits}, given.nets['d'].params, objective)
  value, metrics = objectives.combine(objective.d_terms, objectives.D_TERMS, ctx, 'd')
  return value, (state, {**metrics, **_scores(real, fake_logits)})


def generator_objective(state: TrainState, batch: dict, *, objective: GANObjective, content_term):
  """G's loss for its outputs on the LR batch['source'] against the HR batch['x'] (and D, when the objective has
  an adversarial term, D's batch statistics not advanced): `objective.g_terms`.

  Returns:
    (loss, (state with G's batch statistics advanced, metrics: the terms and the unweighted content 'g_content')).
  """
  fake, state = run(state, 'g', batch['source'])
  real_out = fake_out = {}
  if any(term == 'adversarial' for term, _ in objective.g_terms):
    real_out = {'logits': run(state, 'd', batch['x'])[0]}
    fake_out = {'logits': run(state, 'd', fake)[0]}
  ctx = Context(state, batch, fake, real_out, fake_out, state.nets['d'].params if 'd' in state.nets else None,
                objective)
  value, metrics = objectives.combine(objective.g_terms, objectives.G_TERMS, ctx, 'g')
  content = objectives.G_TERMS[content_term] if isinstance(content_term, str) else content_term
  return value, (state, {**metrics, 'g_content': content(ctx)})


def content_step(state: TrainState, batch: dict, *, objective: GANObjective, content_term):
  """G's update on its content loss alone (SRResNet); `state.step` not advanced."""
  content_only = GANObjective(d_terms=objective.d_terms, g_terms=((content_term, 1.0),), loss=objective.loss,
                              label_smoothing=objective.label_smoothing)
  g_objective = functools.partial(generator_objective, objective=content_only, content_term=content_term)
  return update(state, batch, nets=('g',), objective=g_objective, name='g')


def adversarial_step(state: TrainState, batch: dict, *, objective: GANObjective, content_term):
  """D's update on G's outputs, then G's (content + adversarial) against the updated D; `state.step` not
  advanced."""
  fake = jax.lax.stop_gradient(run(state, 'g', batch['source'])[0])
  d_objective = functools.partial(discriminator_objective, fake=fake, objective=objective)
  state, d_metrics = update(state, batch, nets=('d',), objective=d_objective, name='d')
  g_objective = functools.partial(generator_objective, objective=objective, content_term=content_term)
  state, g_metrics = update(state, batch, nets=('g',), objective=g_objective, name='g')
  return state, {**d_metrics, **g_metrics}


def make_train_step(config: ml_collections.ConfigDict, content_term=None):
  """`train_step(state, real) -> (state, metrics)` for the config's model, `real` being {'source', 'x'} each
  [1, B, ...] (the leading axis the loop's other families use for n_critic); advances `state.step`.

  SRResNet: the content step. SRGAN: the adversarial step.
  """
  content_term = make_content_term(config) if content_term is None else content_term
  objective = make_objective(config, content_term)
  kind = adversarial_step if adversarial(config) else content_step
  one_step = functools.partial(kind, objective=objective, content_term=content_term)

  def train_step(state, real):
    state, metrics = one_step(state, jax.tree.map(lambda x: x[0], real))
    return state.replace(step=state.step + 1), metrics

  return train_step


def make_sampler(config: ml_collections.ConfigDict, dataset, parallel):
  """`sample_real(state, data_arrays)` -> the step's {'source': LR in [0, 1], 'x': HR in [-1, 1]}, each
  [1, B, ...]: the HR batch by the step's epoch indices, flipped left-right per image with probability 1/2 when
  `srgan.flip` (from `rng.data_key`), downsampled on device (`downsample`); sharded over the devices under a mesh."""
  batch, scale, flip = config.train.batch_size, config.srgan.scale, config.srgan.flip

  def sample_real(state, data_arrays):
    hr = dataset.sample(data_arrays, state.rng, state.step, batch)['x']
    if flip:
      flips = jax.random.bernoulli(data_key(state.rng, state.step), 0.5, (hr.shape[0],))
      hr = jnp.where(flips[:, None, None, None], hr[:, :, ::-1], hr)
    real = {'source': downsample(hr, scale)[None], 'x': hr[None]}
    return jax.tree.map(lambda x: parallel.local_share(x, axis=1), real)

  return sample_real


def make_srgan_train_step(config: ml_collections.ConfigDict, dataset, parallel):
  """`(train_step, sample_real)`.

  Metrics: 'g_loss', 'g_content' (the unweighted content loss), 'g_term_content'/'g_term_mse' and
  'g_term_adversarial' when G's objective has both terms; with D, 'd_loss', D's mean probabilities 'd_real_score'
  and 'd_fake_score'; per network the gradient, update and parameter norms.
  """
  return make_train_step(config), make_sampler(config, dataset, parallel)


def luma(images: jax.Array) -> jax.Array:
  """RGB [..., 3] in [0, 1] -> BT.601 Y [...] in [16, 235] (MATLAB's rgb2ycbcr, as the SR papers measure)."""
  return Y_OFFSET + images @ jnp.asarray(Y_WEIGHTS, images.dtype)


def y_metrics(outputs: jax.Array, targets: jax.Array, border: int) -> dict[str, jax.Array]:
  """Per-image PSNR (range 255) and SSIM (data range 255) of the Y channels of `outputs` and `targets` (RGB
  [B, H, W, 3] in [0, 1]), `border` pixels cropped from every side; {'psnr_y', 'ssim_y'}, each [B]."""
  y_out, y_target = luma(outputs), luma(targets)
  if border:
    y_out, y_target = y_out[:, border:-border, border:-border], y_target[:, border:-border, border:-border]
  y_out, y_target = y_out[..., None], y_target[..., None]
  return {'psnr_y': image_metrics.psnr(y_out, y_target, 255.0),
          'ssim_y': image_metrics.ssim(y_out, y_target, 255.0)}


def quantise(images: jax.Array) -> jax.Array:
  """[0, 1] images clipped and rounded to 8-bit levels, as a saved image is."""
  return jnp.round(jnp.clip(images, 0.0, 1.0) * 255.0) / 255.0


def make_srgan_evaluator(config: ml_collections.ConfigDict, dataset):
  """`evaluate(state) -> (metrics, pictures)` on the first `eval.num_samples` crops of `eval.test_split`.

  Metrics: 'test_psnr_y', 'test_ssim_y' (G's outputs) and 'test_psnr_y_bicubic', 'test_ssim_y_bicubic' (the
  bicubic upsampling of the same LR inputs, computed once), means over the crops (see the module docstring).

  Pictures: 'sr_crops', one row per test crop of `eval.grid_rows` crops spread evenly over the split: bicubic, G's
  output, HR.
  """
  scale = config.srgan.scale
  test = data.make_dataset(_with_split(config.data, config.eval.test_split)).host_arrays()['images']
  num = min(config.eval.num_samples, test.shape[0])
  hr = np.asarray(to_unit_range(test[:num]))
  hr01 = test[:num].astype(np.float32) / 255.0
  lr = np.concatenate([np.asarray(jax.jit(downsample, static_argnums=1)(hr[i:i + EVAL_CHUNK], scale))
                       for i in range(0, num, EVAL_CHUNK)])
  bicubic = np.asarray(quantise(bicubic_upsample(jnp.asarray(lr), scale)))
  baseline = {f'test_{k}_bicubic': float(jnp.mean(v))
              for k, v in y_metrics(jnp.asarray(bicubic), jnp.asarray(hr01), scale).items()}
  generator, _ = make_networks(config, dataset.shape[-1])
  pictured = np.unique(np.linspace(0, num - 1, min(config.eval.grid_rows, num)).round().astype(int))

  @jax.jit
  def super_resolve(params, batch_stats, x):
    variables = {'params': params, **({'batch_stats': batch_stats} if batch_stats else {})}
    return quantise(image_metrics.to_unit(generator.apply(variables, x, train=False)))

  def evaluate(state: TrainState):
    g = state.nets['g']
    outputs = np.concatenate([np.asarray(super_resolve(g.sampling_params, g.batch_stats, lr[i:i + EVAL_CHUNK]))
                              for i in range(0, num, EVAL_CHUNK)])
    metrics = {f'test_{k}': float(jnp.mean(v))
               for k, v in y_metrics(jnp.asarray(outputs), jnp.asarray(hr01), scale).items()}
    metrics.update(baseline)
    rows = np.stack([bicubic[pictured], outputs[pictured], hr01[pictured]], axis=1) * 2.0 - 1.0
    pictures = {'sr_crops': plots.image_grid(rows.reshape(-1, *rows.shape[2:]), len(pictured), 3)}
    return metrics, pictures

  return evaluate


FAMILY = Family(validate=validate_srgan, create_state=create_srgan_state, make_train_step=make_srgan_train_step,
                make_evaluator=make_srgan_evaluator, loss_names=('g_loss',))
