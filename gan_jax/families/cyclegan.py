"""The CycleGAN family (`config.model='cyclegan'`): unpaired image-to-image translation (Zhu et al. 2017).

Domains A and B are the two image features of a paired dataset (`data.PAIRED_DATASETS`: emoji_styles' 'openmoji'
and 'noto', satellite_maps' 'image' and 'map'), read as two separate sets: each step draws its A images and its B
images by independent epoch permutations (`in_memory.epoch_indices` on two streams), so training never sees which B
belongs with which A. The pairing is used by the evaluation only, to measure a translation against its hidden true
counterpart.

Networks: 'g_ab' and 'g_ba', ResNet generators (`models/image_to_image.ResNetGenerator`); 'd_a' and 'd_b',
PatchGANs judging real A against G_ba(b) and real B against G_ab(a); both as the authors' code defines them
(`cyclegan.norm` 'instance_no_affine': instance norm without scale and bias; the generator's up-convolutions aligned
as PyTorch's `ConvTranspose2d(3, stride=2, padding=1, output_padding=1)`). One training step, as the reference code's
`optimize_parameters`: one `update` of both generators jointly on

  L_G = lambda_adv [LS(D_b(G_ab(a)), 1) + LS(D_a(G_ba(b)), 1)]
        + lambda (|G_ba(G_ab(a)) - a| + |G_ab(G_ba(b)) - b|)                     (cycle, L1 means)
        + lambda_id lambda (|G_ab(b) - b| + |G_ba(a) - a|)                        (identity, L1 means)

(LS(x, t) = mean (x - t)^2, the least-squares GAN loss; lambda_adv = `cyclegan.adversarial_weight` = 1, lambda =
`cyclegan.cycle_weight` = 10, lambda_id = `cyclegan.identity_weight` = 0.5, as the reference code weighs the
identity term by lambda_id lambda, so that cycle_weight 0 removes it too), then one `update` of both discriminators jointly on

  L_D = 1/2 [LS(D_a(a), 1) + LS(D_a(pool_a(G_ba(b))), 0)] + 1/2 [LS(D_b(b), 1) + LS(D_b(pool_b(G_ab(a))), 0)]

where the fakes are the ones the generator update computed (before G moved), passed through each D's image pool of
`cyclegan.pool_size` = 50 (`history.query_pool`: until full, each new image is stored and shown; after, with
probability 1/2 a stored one is shown instead and replaced). The two discriminators' parameters are disjoint, so
their joint update is two independent ones.

`cyclegan.unroll_steps` = k > 0 evaluates G's adversarial term at the discriminators' parameters after k joint
updates of d_a and d_b (their own optimizers, `unroll.unroll`) on L_D of the current batch, with the current
translations in place of the pooled ones so that the look-ahead stays differentiable in G (Metz et al. 2017); the
real update of D is unchanged. k = 0 is the step above.

Evaluation on `eval.test_split`: G_ab(a) against the true b and G_ba(b) against the true a (pix2pix's measures:
L1, PSNR, SSIM, sharpness on [0, 1] pixels, and for a map target its colour classes' agreement), the cycle
reconstructions' L1 against their inputs, FD in a shipped domain classifier's features, and baselines (the input
copied as its translation, the mean training target); see `make_cyclegan_evaluator`.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import data, history, optim
from gan_jax.config import choice, int_at_least, require
from gan_jax.data.in_memory import epoch_indices, to_unit_range
from gan_jax.evaluation import domain_classifier, feature_metrics, image_metrics, plots
from gan_jax.families import Family, _with_split, validate_training
from gan_jax.families.pix2pix import PATCHES, check_patch_fits
from gan_jax.models import image_to_image as i2i
from gan_jax.rng import noise_key
from gan_jax.state import Network, TrainState
from gan_jax.unroll import unroll
from gan_jax.update import run, update

NETS = ('g_ab', 'g_ba', 'd_a', 'd_b')
# Independent epoch permutations for the two domains (`epoch_indices`' stream).
STREAM_A, STREAM_B = 0xA, 0xB
EVAL_CHUNK = 32  # Test images translated per call.


def _number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def domains(config: ml_collections.ConfigDict) -> tuple[str, str]:
  """The features of the dataset that are domains A and B (`cyclegan.reverse` swaps them)."""
  a, b = data.PAIRED_DATASETS[config.data.name].features
  return (b, a) if config.cyclegan.reverse else (a, b)


def validate_cyclegan(config: ml_collections.ConfigDict, num_devices: int, num_processes: int = 1) -> None:
  """CycleGAN's checks: its section, a dataset of two image domains the networks can take, the optimizers and the
  loop; last the disk.

  Raises:
    ConfigError: naming the field, the value and the accepted values.
  """
  require('cyclegan' in config, 'cyclegan',
          'the cyclegan family reads config.cyclegan: start from gan_jax.config.cyclegan_config()')
  c = config.cyclegan
  name = config.data.name
  require(name in data.PAIRED_DATASETS, 'data.name',
          f'got {name!r}; CycleGAN translates between two image domains and reads them from a dataset with two '
          f'image features (their pairing used only in evaluation): use one of {", ".join(data.PAIRED_DATASETS)}')
  int_at_least(c.n_blocks, 'cyclegan.n_blocks', 0)
  int_at_least(c.gen_channels, 'cyclegan.gen_channels')
  int_at_least(c.disc_channels, 'cyclegan.disc_channels')
  int_at_least(c.pool_size, 'cyclegan.pool_size', 0)
  int_at_least(c.unroll_steps, 'cyclegan.unroll_steps', 0)
  choice(c.patch, 'cyclegan.patch', PATCHES)
  choice(c.norm, 'cyclegan.norm', i2i.NORMS)
  require(isinstance(c.reverse, bool), 'cyclegan.reverse', f'got {c.reverse!r}; must be True or False')
  for field in ('adversarial_weight', 'cycle_weight', 'identity_weight'):
    require(_number(c[field]) and c[field] >= 0, f'cyclegan.{field}', f'got {c[field]!r}; must be a number >= 0')
  require(config.loss.name == 'least_squares', 'loss.name',
          f"got {config.loss.name!r}; the cyclegan family trains with the paper's least-squares GAN loss only: "
          "set it to 'least_squares'")
  data.validate(config.data)
  resolution = config.data.resolution
  require(resolution % 4 == 0 and resolution >= 12, 'data.resolution',
          f'got {resolution}; the ResNet generator halves the image twice and doubles it back, and the SSIM of the '
          'evaluation needs more than 11 pixels: use a multiple of 4, at least 12')
  check_patch_fits(c.patch, resolution, 'cyclegan.patch')
  validate_training(config, num_devices, num_processes, NETS,
                    'CycleGAN makes one generator and one discriminator update per step')
  for net in ('d_a', 'd_b'):
    section = config.optim[net]
    require(not c.unroll_steps or section.name != 'adam' or section.eps_root > 0, f'optim.{net}.eps_root',
            f'got {section.eps_root}; cyclegan.unroll_steps={c.unroll_steps} differentiates through Adam, whose '
            'square root has no derivative at 0: use eps_root > 0 (e.g. 1e-16)')
  data.check_available(config.data)


def make_networks(config: ml_collections.ConfigDict, channels: int) -> tuple[i2i.ResNetGenerator,
                                                                              i2i.PatchDiscriminator]:
  """The generator and discriminator `config.cyclegan` describes (each used twice), for `channels` channels."""
  c = config.cyclegan
  layers, pixel = PATCHES[c.patch]
  generator = i2i.ResNetGenerator(out_channels=channels, n_blocks=c.n_blocks, base_channels=c.gen_channels,
                                  norm=c.norm)
  discriminator = i2i.PatchDiscriminator(num_layers=layers, pixel=pixel, base_channels=c.disc_channels, norm=c.norm)
  return generator, discriminator


def create_cyclegan_state(config: ml_collections.ConfigDict, key: jax.Array, dataset) -> TrainState:
  """CycleGAN at step 0: networks 'g_ab', 'g_ba', 'd_a', 'd_b', each with its optimizer, and the empty image
  pools 'pool_a' (of generated A images, for D_a) and 'pool_b' in `extras`."""
  generator, discriminator = make_networks(config, dataset.shape[-1])
  image = jnp.zeros((1, *dataset.shape))

  def create(key):
    keys = jax.random.split(key, len(NETS) + 1)
    nets = {name: Network.create(generator if name.startswith('g') else discriminator,
                                 optim.make_optimizer(config.optim[name]), k, image)
            for name, k in zip(NETS, keys)}
    pools = {f'pool_{d}': history.init_buffer(config.cyclegan.pool_size, dataset.shape) for d in 'ab'}
    return TrainState.create(nets, keys[-1], extras=pools)

  return jax.jit(create)(key)


def least_squares(x: jax.Array, target: float) -> jax.Array:
  """mean (x - target)^2 over every patch of every image: the LSGAN loss the paper's code uses (MSELoss)."""
  return jnp.mean((x - target) ** 2)


def l1(x: jax.Array, y: jax.Array) -> jax.Array:
  return jnp.mean(jnp.abs(x - y))


def generator_objective(state: TrainState, batch: dict, *, cycle_weight: float, identity_weight: float,
                        adversarial_weight: float = 1.0, unroll_steps: int = 0):
  """Both generators' loss on a batch of A images batch['a'] and B images batch['b'] (see the module docstring).

  With `adversarial_weight` 0 the discriminators' verdict is still logged ('g_term_adversarial') but carries no
  gradient: G then learns from the cycle and identity terms alone. Terms of weight 0 are left out of the loss, so
  that no 0 * inf can reach it. `unroll_steps` = k > 0 judges the translations by the discriminators unrolled k
  updates ahead on this batch (see the module docstring).

  Returns:
    (loss, (state, metrics: the unweighted terms 'g_term_adversarial', 'g_term_cycle', 'g_term_identity', and the
    translations 'fake_a' = G_ba(b), 'fake_b' = G_ab(a), which the caller takes out for D's update)).
  """
  a, b = batch['a'], batch['b']
  fake_b, state = run(state, 'g_ab', a)
  fake_a, state = run(state, 'g_ba', b)
  rec_a, state = run(state, 'g_ba', fake_b)
  rec_b, state = run(state, 'g_ab', fake_a)
  judged_b, judged_a = (fake_b, fake_a) if adversarial_weight else jax.lax.stop_gradient((fake_b, fake_a))
  d_params = {'d_a': None, 'd_b': None}  # None: their own.
  if unroll_steps and adversarial_weight:
    d_batch = {'a': a, 'b': b, 'pool_a': fake_a, 'pool_b': fake_b}
    d_loss = lambda params: discriminator_objective(state.with_params(params), d_batch)[0]
    d_params = unroll(d_loss, {d: state.nets[d] for d in d_params}, unroll_steps)
  adversarial = (least_squares(run(state, 'd_b', judged_b, params=d_params['d_b'])[0], 1.0)
                 + least_squares(run(state, 'd_a', judged_a, params=d_params['d_a'])[0], 1.0))
  cycle = l1(rec_a, a) + l1(rec_b, b)
  value = (adversarial_weight * adversarial if adversarial_weight else 0.0) + (
      cycle_weight * cycle if cycle_weight else 0.0)
  metrics = {'g_term_adversarial': adversarial, 'g_term_cycle': cycle}
  if identity_weight and cycle_weight:
    same_b, state = run(state, 'g_ab', b)
    same_a, state = run(state, 'g_ba', a)
    identity = l1(same_b, b) + l1(same_a, a)
    value = value + identity_weight * cycle_weight * identity
    metrics['g_term_identity'] = identity
  return value, (state, {**metrics, 'fake_a': fake_a, 'fake_b': fake_b})


def discriminator_objective(state: TrainState, batch: dict):
  """Both discriminators' loss on the real batch['a'], batch['b'] and the pooled fakes batch['pool_a'] (shown to
  D_a) and batch['pool_b']; each D's loss halved as in the paper's code.

  Returns:
    (loss, (state, metrics: 'd_a_loss', 'd_b_loss')).
  """
  losses = {}
  for d in 'ab':
    real, _ = run(state, f'd_{d}', batch[d])
    fake, _ = run(state, f'd_{d}', batch[f'pool_{d}'])
    losses[f'd_{d}_loss'] = 0.5 * (least_squares(real, 1.0) + least_squares(fake, 0.0))
  return losses['d_a_loss'] + losses['d_b_loss'], (state, losses)


def train_step(state: TrainState, real: dict, *, cycle_weight: float, identity_weight: float,
               adversarial_weight: float = 1.0, unroll_steps: int = 0):
  """One CycleGAN iteration: both generators' update, then both discriminators' on the translations the generators
  made (through the image pools); advances `state.step`.

  Args:
    state: the training state.
    real: 'a' and 'b', each [1, B, H, W, C] in [-1, 1], drawn independently.
    cycle_weight: lambda.
    identity_weight: lambda_id (the identity term's weight is lambda_id * lambda).
    adversarial_weight: lambda_adv; at 0 the discriminators still train, on translations G makes without them, so
      that their losses still say how far those are from each domain.
    unroll_steps: k, the discriminators' look-ahead in G's adversarial term (0: none).
  """
  batch = jax.tree.map(lambda x: x[0], real)
  g_objective = functools.partial(generator_objective, cycle_weight=cycle_weight, identity_weight=identity_weight,
                                  adversarial_weight=adversarial_weight, unroll_steps=unroll_steps)
  state, g_metrics = update(state, batch, nets=('g_ab', 'g_ba'), objective=g_objective, name='g')
  fakes = {d: jax.lax.stop_gradient(g_metrics.pop(f'fake_{d}')) for d in 'ab'}
  key_a, key_b = jax.random.split(noise_key(state.rng, state.step))
  extras = dict(state.extras)
  pooled = {}
  for d, key in (('a', key_a), ('b', key_b)):
    if extras[f'pool_{d}']['samples'].shape[0]:
      pooled[f'pool_{d}'], extras[f'pool_{d}'] = history.query_pool(extras[f'pool_{d}'], key, fakes[d])
    else:  # pool_size 0: D sees the newest translations only.
      pooled[f'pool_{d}'] = fakes[d]
  state = state.replace(extras=extras)
  state, d_metrics = update(state, {**batch, **pooled}, nets=('d_a', 'd_b'), objective=discriminator_objective,
                            name='d')
  return state.replace(step=state.step + 1), {**g_metrics, **d_metrics}


def make_unpaired_sampler(config: ml_collections.ConfigDict, dataset, parallel):
  """`sample_real(state, data_arrays)` -> the step's {'a', 'b'} [1, B, H, W, C] in [-1, 1]: each domain's images
  gathered by its own epoch permutation (streams `STREAM_A`, `STREAM_B`), so row i of 'a' and row i of 'b' are
  unrelated examples."""
  feature_a, feature_b = domains(config)
  batch = config.train.batch_size

  def sample_real(state, data_arrays):
    real = {}
    for d, feature, stream in (('a', feature_a, STREAM_A), ('b', feature_b, STREAM_B)):
      images = data_arrays[feature]
      indices = epoch_indices(state.rng, state.step, images.shape[0], batch, stream)
      real[d] = to_unit_range(images[indices])[None]
    return jax.tree.map(lambda x: parallel.local_share(x, axis=1), real)

  return sample_real


def make_cyclegan_train_step(config: ml_collections.ConfigDict, dataset, parallel):
  """`(train_step, sample_real)`.

  Metrics: 'g_loss', 'g_term_adversarial', 'g_term_cycle', 'g_term_identity' (unweighted), 'd_loss', 'd_a_loss',
  'd_b_loss', and per network the gradient, update and parameter norms.
  """
  c = config.cyclegan
  step = functools.partial(train_step, cycle_weight=float(c.cycle_weight), identity_weight=float(c.identity_weight),
                           adversarial_weight=float(c.adversarial_weight), unroll_steps=c.unroll_steps)
  return step, make_unpaired_sampler(config, dataset, parallel)


def make_cyclegan_evaluator(config: ml_collections.ConfigDict, dataset):
  """`evaluate(state) -> (metrics, pictures)` on the first `eval.num_samples` examples of `eval.test_split`.

  Metrics, G_ab(a) against the true b and G_ba(b) against the true a on [0, 1] pixels ('test_' +
  `image_metrics.translation_metrics`' name + '_ab' or '_ba'): 'test_l1_ab', 'test_psnr_ab', 'test_ssim_ab',
  'test_sharpness_ab', 'test_top_band_db_ab', and the same for ba; where the target domain is a map (satellite_maps'
  'map'), also its colour classes' and water's agreement with the true map ('test_class_accuracy_ab',
  'test_water_accuracy_ab'), by pix2pix's palette (`image_metrics.fit_palette` on the training maps, with the seed).
  The cycle reconstructions' L1 against their inputs ('test_cycle_l1_a', 'test_cycle_l1_b'). Baselines, computed
  once, the same measures with '_input_copy' (the input copied as its translation) and '_mean_target' (the
  per-pixel mean of the target domain's training images) appended: 'test_l1_ab_input_copy', ...

  Where the dataset has a shipped domain classifier (`domain_classifier.WEIGHTS_BY_DATASET`: emoji_styles,
  satellite_maps), the Fréchet distance in its features: 'test_fd_ab' (G_ab(test a) against the test b images),
  'test_fd_ba', and beside them 'test_fd_input_copy' (test a against test b: the translation that changes nothing)
  and 'test_fd_ab_real' / 'test_fd_ba_real' (the first as many training images of the domain as there are test
  images, against its test images: the level real data reach at this sample size) and '..._real_spread' (as many
  training images spread evenly over the split: the first ones can be an unrepresentative corner of it, as
  satellite_maps' Arctic tiles are).

  Pictures: 'translations', one row per test example of `eval.grid_rows` spread over the split: a, G_ab(a),
  G_ba(G_ab(a)), true b.
  """
  feature_a, feature_b = domains(config)
  test = data.make_dataset(_with_split(config.data, config.eval.test_split)).host_arrays()
  num = min(config.eval.num_samples, test[feature_a].shape[0])
  a = np.asarray(to_unit_range(test[feature_a][:num]))
  b = np.asarray(to_unit_range(test[feature_b][:num]))
  a01, b01 = test[feature_a][:num] / np.float32(255), test[feature_b][:num] / np.float32(255)
  pictured = np.unique(np.linspace(0, num - 1, min(config.eval.grid_rows, num)).round().astype(int))
  train = dataset.host_arrays()
  # Per direction: (its source, its target) on [0, 1], the target's training images and, for a map, its palette.
  directions = {'ab': (a01, b01, train[feature_b], feature_b), 'ba': (b01, a01, train[feature_a], feature_a)}
  palettes = {}
  for direction, (_, _, train_targets, feature) in directions.items():
    if feature == 'map':  # pix2pix's rule (make_pix2pix_evaluator).
      palette = image_metrics.fit_palette(train_targets, config.seed)
      palettes[direction] = palette, image_metrics.water_classes(palette)

  def compare(direction, outputs01, suffix=''):
    measured = image_metrics.translation_metrics(outputs01, directions[direction][1],
                                                 *palettes.get(direction, (None, None)))
    return {f'test_{k}_{direction}{suffix}': v for k, v in measured.items()}

  baselines = {}
  for direction, (sources01, targets01, train_targets, _) in directions.items():
    mean_target = np.broadcast_to(train_targets.astype(np.float64).mean(axis=0) / 255.0, targets01.shape)
    baselines.update(compare(direction, sources01, '_input_copy'))
    baselines.update(compare(direction, np.asarray(mean_target, np.float32), '_mean_target'))
  classifier = domain_classifier.shipped_classifier(config.data.name) if a.shape[-1] == 3 else None
  if classifier:
    real_features = {'a': classifier.features(a), 'b': classifier.features(b)}
    fd = feature_metrics.frechet_distance_from_features
    baselines['test_fd_input_copy'] = fd(real_features['a'], real_features['b'])
    # Both as many training images as test ones: the first (the older measure), and spread evenly over the split,
    # since a dataset's order can follow its content (satellite_maps' first 38 training tiles all lie north of 72 N).
    spread = np.linspace(0, len(train[feature_a]) - 1, num).round().astype(int)
    for d, feature in (('a', feature_a), ('b', feature_b)):
      direction = 'ba' if d == 'a' else 'ab'
      baselines[f'test_fd_{direction}_real'] = fd(classifier.features(train[feature][:num]), real_features[d])
      baselines[f'test_fd_{direction}_real_spread'] = fd(classifier.features(train[feature][spread]),
                                                         real_features[d])

  @jax.jit
  def translate(state, a, b):
    fake_b = state.nets['g_ab'].apply(a, train=False)[0]
    fake_a = state.nets['g_ba'].apply(b, train=False)[0]
    return {'fake_b': fake_b, 'fake_a': fake_a, 'rec_a': state.nets['g_ba'].apply(fake_b, train=False)[0],
            'rec_b': state.nets['g_ab'].apply(fake_a, train=False)[0]}

  def unit(x):
    return np.clip(np.asarray(image_metrics.to_unit(x)), 0.0, 1.0)

  def evaluate(state: TrainState):
    chunks = [translate(state, a[i:i + EVAL_CHUNK], b[i:i + EVAL_CHUNK]) for i in range(0, num, EVAL_CHUNK)]
    out = {k: np.concatenate([np.asarray(c[k]) for c in chunks]) for k in chunks[0]}
    metrics = {**compare('ab', unit(out['fake_b'])), **compare('ba', unit(out['fake_a']))}
    metrics['test_cycle_l1_a'] = float(np.mean(np.abs(unit(out['rec_a']) - a01)))
    metrics['test_cycle_l1_b'] = float(np.mean(np.abs(unit(out['rec_b']) - b01)))
    if classifier:
      for direction, fake, d in (('ab', 'fake_b', 'b'), ('ba', 'fake_a', 'a')):
        translated = classifier.features(np.clip(out[fake], -1.0, 1.0))
        metrics[f'test_fd_{direction}'] = feature_metrics.frechet_distance_from_features(translated,
                                                                                         real_features[d])
    metrics.update(baselines)
    rows = np.stack([a[pictured], out['fake_b'][pictured], out['rec_a'][pictured], b[pictured]], axis=1)
    pictures = {'translations': plots.image_grid(rows.reshape(-1, *rows.shape[2:]), len(pictured), 4)}
    return metrics, pictures

  return evaluate


FAMILY = Family(validate=validate_cyclegan, create_state=create_cyclegan_state,
                make_train_step=make_cyclegan_train_step, make_evaluator=make_cyclegan_evaluator,
                loss_names=('d_loss', 'g_loss'))
