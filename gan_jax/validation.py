"""A whole experiment config checked before anything is compiled or written: each section, then their combinations.

Each registry checks its own section next to its names: `models.validate` (the networks and their heads),
`noise.validate` (G's latents), `losses.validate` (the adversarial pair), `objectives.check_terms` (the terms'
weights), `data.validate`, `optim.validate` and `parallel.validate_parallel`. `validate` runs them all, then the
sections of the training loop that no registry owns (`train`, `unroll`, `replay`, `eval`), then the rules that join
sections, which no single registry can see. It is what `train.train_and_evaluate`, `sample.py` and the tests call.
"""

import functools
import math
import os

import jax
import ml_collections

from gan_jax import data, losses, models, noise, objectives, optim, parallel
from gan_jax.config import ConfigError, choice, int_at_least, require
from gan_jax.models.dcgan import start_and_blocks

UPDATE_ORDERS = ('simultaneous', 'alternating')
SEED_LIMIT = 2**32  # jax.random.key's seeds without jax_enable_x64.
# Objective terms that read something only another section provides: term -> (what it needs, the hint if absent).
_TERM_NEEDS = {
    'aux_classifier': (lambda c: c.cond.enabled,
                       'AC-GAN draws each sample for a class: set cond.enabled=True (and cond.disc=none for the '
                       'original AC-GAN)'),
    'info_categorical': (lambda c: c.info.categories, 'needs a categorical code: set info.categories > 0'),
    'info_continuous': (lambda c: c.info.continuous, 'needs continuous codes: set info.continuous > 0'),
    'supervised': (lambda c: c.semi.labels_per_class, 'needs labelled examples: set semi.labels_per_class > 0'),
    'l1': (lambda c: False, "compares G's outputs with paired targets, which a GAN's samples from noise do not have: "
           "it is pix2pix's term (config.model='pix2pix')"),
}
_GRADIENT_PENALTIES = ('gradient_penalty', 'r1', 'r2')


def validate(config: ml_collections.ConfigDict, num_devices: int, num_processes: int = 1) -> None:
  """Checks every field that could fail later, so that the error comes before any compile or write: the model
  family (`config.model`), then that family's own checks (`validate_gan` for GANs).

  Args:
    config: the experiment configuration.
    num_devices: the devices the batch is split over in the configured parallel mode.
    num_processes: the JAX processes of the run (`jax.process_count()`).

  Raises:
    ConfigError: naming the field, the value and the accepted values.
  """
  from gan_jax import families  # The families import this module for their checks.
  check_no_missing_values(config)
  choice(config.model, 'model', families.NAMES)
  families.get(config.model).validate(config, num_devices, num_processes)


def validate_gan(config: ml_collections.ConfigDict, num_devices: int, num_processes: int = 1) -> None:
  """The GAN family's checks: each section, the loop, then the rules that join sections, then the disk."""
  models.validate(config)
  noise.validate(config.gen)
  losses.validate(config.loss)
  validate_objective(config.loss)
  data.validate(config.data)
  optim.validate(config.optim)
  parallel.validate_parallel(config.parallel, num_processes)
  validate_loop(config)
  validate_combinations(config, num_devices)
  check_batch_fits(config, num_devices, num_processes)
  data.check_available(config.data)  # Last: the checks that read the disk (and load TensorFlow for images).
  validate_pipeline(config)


def check_no_missing_values(config: ml_collections.ConfigDict, prefix: str = '') -> None:
  """Every field has a value: None (e.g. `--config.gen.ema_decay=None`) would fail later in a comparison."""
  for name, value in config.items():
    field = f'{prefix}{name}'
    if value is None:
      raise ConfigError(f'config.{field}: got None; give it a value (the default is in gan_jax/config.py)')
    if isinstance(value, ml_collections.ConfigDict):
      check_no_missing_values(value, f'{field}.')


def validate_objective(loss: ml_collections.ConfigDict) -> None:
  """Checks the terms of `config.loss.d` and `config.loss.g`: registered names, weights >= 0, and a D objective."""
  try:
    objectives.check_terms(loss)
  except ValueError as error:
    raise ConfigError(str(error)) from error
  require(loss.d.adversarial or loss.d.supervised, 'loss.d.adversarial',
          'D has no objective: give loss.d.adversarial (or loss.d.supervised) a weight > 0')


def validate_loop(config: ml_collections.ConfigDict) -> None:
  """Checks the training loop's sections, which no registry owns: `seed`, `train`, `unroll`, `replay`, `eval`."""
  seed = config.seed
  require(isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < SEED_LIMIT, 'seed',
          f'got {seed!r}; must be an integer in [0, 2**32): jax.random.key keeps 32 bits (a larger seed repeats a '
          'smaller one) and overflows past 2**63')
  choice(config.train.update_order, 'train.update_order', UPDATE_ORDERS)
  replay = config.replay
  require(0.0 <= replay.fraction <= 1.0, 'replay.fraction', f'got {replay.fraction}; must lie in [0, 1]')
  int_at_least(replay.capacity, 'replay.capacity')
  int_at_least(replay.swap_every, 'replay.swap_every', minimum=0)
  int_at_least(replay.swap_steps, 'replay.swap_steps', minimum=0)
  require(replay.swap_steps < replay.swap_every or not replay.swap_every, 'replay.swap_steps',
          f'got {replay.swap_steps}; must be < replay.swap_every ({replay.swap_every})')
  int_at_least(config.train.reference_batch_size, 'train.reference_batch_size')
  int_at_least(config.unroll.steps, 'unroll.steps', minimum=0)
  int_at_least(config.train.batch_size, 'train.batch_size')
  int_at_least(config.train.num_steps, 'train.num_steps', minimum=0)
  int_at_least(config.train.n_critic, 'train.n_critic')
  for field in ('steps_per_call', 'log_every_steps', 'eval_every_steps', 'checkpoint_every_steps',
                'keep_checkpoints'):
    int_at_least(config.train[field], f'train.{field}')
  int_at_least(config.eval.num_samples, 'eval.num_samples')
  int_at_least(config.eval.min_samples_per_mode, 'eval.min_samples_per_mode', minimum=0)
  weights = config.eval.inception_weights
  require(not weights or os.path.isfile(weights), 'eval.inception_weights', f'no file {weights!r}: download '
          'weights-inception-2015-12-05-6726825d.pth (released with torch-fidelity and pytorch-fid) and pass its path')


def validate_combinations(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Checks the rules that join sections: what a term needs elsewhere, the class head's users, the networks against
  the data, the unroll against D's optimizer, and the batch against the devices.

  Args:
    config: the experiment configuration, each section already valid on its own.
    num_devices: the devices the batch is split over in the configured parallel mode.
  """
  require(config.data.name not in data.PAIRED_DATASETS, 'data.name',
          f"got {config.data.name!r}, a dataset of image pairs: translate one image of a pair into the other with "
          f"config.model='pix2pix' (gan_jax.config.pix2pix_config); a GAN models {', '.join(data.IMAGE_DATASETS)}"
          ' or the mixtures')
  for term, (needs, message) in _TERM_NEEDS.items():
    for player in ('d', 'g'):
      require(not config.loss[player].get(term) or needs(config), f'loss.{player}.{term}', message)
  for term in _GRADIENT_PENALTIES:  # A batch-normalised D's value for one example depends on the others.
    require(not (config.loss.d[term] and config.disc.name != 'mlp' and config.disc.norm == 'batch'),
            f'loss.d.{term}', 'needs per-example critic values: set disc.norm to layer or none, not batch')
  semi = config.semi.labels_per_class
  require(not (semi and (config.loss.d.aux_classifier or config.loss.g.aux_classifier)), 'semi.labels_per_class',
          'the semi-supervised discriminator and AC-GAN both use the class head: choose one')
  require(not (semi and config.cond.enabled), 'semi.labels_per_class',
          'the semi-supervised GAN infers labels: set cond.enabled=False')
  require(not semi or config.data.name in data.IMAGE_DATASETS, 'semi.labels_per_class',
          f'needs a labelled image dataset ({", ".join(data.IMAGE_DATASETS)}), not {config.data.name!r}')
  hidden = config.disc.hidden
  if config.disc.name == 'mlp' and hidden:
    require(-len(hidden) <= config.loss.feature_layer < len(hidden), 'loss.feature_layer',
            f'got {config.loss.feature_layer}; D has {len(hidden)} hidden layers (index from 0 or -1)')
  if config.unroll.steps > 0 and config.unroll.second_order and config.optim.d.name == 'adam':
    require(config.optim.d.eps_root > 0, 'optim.d.eps_root',
            'must be > 0 when unroll.second_order differentiates through Adam (sqrt has no derivative at 0)')
  require(config.train.batch_size % num_devices == 0, 'train.batch_size',
          f'got {config.train.batch_size}; must be divisible by the {num_devices} devices of '
          f'parallel.mode={config.parallel.mode!r}')
  validate_packing(config, num_devices)
  points = config.data.num_train_points
  if points:
    require(config.data.name not in data.IMAGE_DATASETS, 'data.num_train_points',
            f'applies to the mixtures (ring, grid, gaussian_1d); {config.data.name!r} is a finite dataset already')
    needed = config.train.batch_size * config.train.n_critic
    require(points >= needed, 'data.num_train_points',
            f'got {points}; an epoch must hold at least one step\'s batch (train.batch_size x train.n_critic = '
            f'{needed}), or 0 for fresh points every step')
  if config.data.name in data.IMAGE_DATASETS:
    require(config.gen.name != 'mlp' and config.disc.name != 'mlp', 'gen.name',
            f'data.name={config.data.name!r} is images: use an image network (dcgan, conv), not mlp')
    if 'dcgan' in (config.gen.name, config.disc.name):
      try:
        start_and_blocks(config.data.resolution)
      except ValueError as error:
        raise ConfigError(str(error)) from error
  else:
    require(config.gen.name == 'mlp', 'gen.name', f'data.name={config.data.name!r} is vectors: use mlp')


def validate_pipeline(config: ml_collections.ConfigDict) -> None:
  """Checks that a streamed dataset (`data.pipeline='stream'`, or 'auto' on a split too large for device memory)
  is used only by features that read one batch per step: stacked datasets, the semi-supervised GAN's labelled
  subset and virtual batch norm's reference batch sample the whole split on device. Reads the dataset's info."""
  if config.data.name not in data.IMAGE_DATASETS or data.resolve_pipeline(config.data) != 'stream':
    return
  if config.data.pipeline == 'auto':
    why = (f"data.pipeline='auto' streams data.name={config.data.name!r}: its split takes "
           f'{_size(data.split_bytes(config.data))} at data.resolution, more than the in-memory bound of '
           f"{_size(data.in_memory_bound())}; set data.pipeline='in_memory' to hold it on device anyway, or ")
  else:
    why = "data.pipeline='stream': "
  stacked = data.IMAGE_DATASETS[config.data.name][1]
  require(not stacked, 'data.pipeline', f'{why}a stacked dataset draws three examples of the whole split per '
          'image and cannot be streamed')
  require(not config.semi.labels_per_class, 'data.pipeline', f'{why}the semi-supervised GAN samples its labelled '
          'subset from the whole split on device: set semi.labels_per_class=0 to stream')
  require(config.disc.norm != 'virtual_batch', 'data.pipeline', f"{why}D's virtual batch norm draws its real "
          'reference batch from the whole split on device: set disc.norm to batch, layer or none to stream')


# What packing cannot combine with: D would need one label, class or code per example, or reference rows that
# would be packed with the batch. field -> (whether it is in use, why).
_PACKING_EXCLUDES = {
    'cond.enabled': (lambda c: c.cond.enabled, 'a conditional D sees one label per example'),
    'loss.d.aux_classifier': (lambda c: c.loss.d.aux_classifier or c.loss.g.aux_classifier,
                              "AC-GAN's class head classifies single examples"),
    'semi.labels_per_class': (lambda c: c.semi.labels_per_class, "the semi-supervised D classifies single examples"),
    'info.categories': (lambda c: c.info.categories, "InfoGAN's Q head infers the codes of single samples"),
    'info.continuous': (lambda c: c.info.continuous, "InfoGAN's Q head infers the codes of single samples"),
    'disc.norm': (lambda c: c.disc.norm == 'virtual_batch', "virtual batch norm's reference rows are single "
                  'examples'),
}


def validate_packing(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Checks `disc.pack` against the batch and the per-example parts of D (labels, class and code heads).

  Gradient penalties (WGAN-GP, R1, R2) combine with packing: they take one norm per packed input.
  """
  m = config.disc.pack
  if m == 1:
    return
  batch = config.train.batch_size
  require(batch % m == 0, 'train.batch_size', f'got {batch}; must be divisible by disc.pack={m}: D packs {m} '
          'samples into one input')
  per_device = batch // num_devices
  require(per_device % m == 0, 'train.batch_size',
          f'got {batch}: each of the {num_devices} devices holds {per_device} samples, which must be divisible by '
          f'disc.pack={m}')
  for field, (used, why) in _PACKING_EXCLUDES.items():
    value = functools.reduce(lambda section, key: section[key], field.split('.'), config)
    require(not used(config), 'disc.pack', f'got {m} with {field}={value!r}: {why}, and a packed D sees m at once; '
            f'set disc.pack=1 or turn {field} off')


def example_shape(config: ml_collections.ConfigDict) -> tuple[int, ...]:
  """One example's shape for the `config.data` section, without building the dataset."""
  if config.name in data.IMAGE_DATASETS:
    stacked = data.IMAGE_DATASETS[config.name][1]
    return (config.resolution, config.resolution, 3 if stacked else config.channels)
  return (1,) if config.name == 'gaussian_1d' else (2,)


def batch_bytes(config: ml_collections.ConfigDict) -> int:
  """A lower bound on the memory one training step's batch takes, in bytes (float32), over all devices.

  It counts the real examples of the n_critic D steps (drawn together), and for one step G's inputs (latent and
  codes), its samples, and one layer of activations per network, which backpropagation keeps: for MLPs every
  hidden layer of G and D's hidden layers on the real and the fake batch; for DCGAN, G's last hidden map and D's
  first one (on real and fake), both (resolution / 2)^2 x base_channels. Parameters, optimizer states, the other
  activations and XLA's temporaries come on top.
  """
  batch, shape = config.train.batch_size, example_shape(config.data)
  example = math.prod(shape)
  latent = config.gen.latent_dim + config.info.categories + config.info.continuous
  if config.gen.name == 'mlp':
    activations = sum(config.gen.hidden) + 2 * sum(config.disc.hidden)
  else:
    pixels = (shape[0] // 2) ** 2
    activations = pixels * (config.gen.base_channels + 2 * config.disc.base_channels)
  return 4 * batch * (config.train.n_critic * example + latent + example + activations)


def available_memory() -> tuple[int | None, bool]:
  """The memory of one local device in bytes, and whether it is the host's (CPU, where JAX reports none).

  Returns (None, True) where neither the device nor the host says.
  """
  stats = jax.local_devices()[0].memory_stats()
  if stats and stats.get('bytes_limit'):
    return stats['bytes_limit'] - stats.get('bytes_in_use', 0), False
  try:
    with open('/proc/meminfo') as meminfo:
      for line in meminfo:
        if line.startswith('MemAvailable:'):
          return int(line.split()[1]) * 1024, True
  except OSError:
    pass
  try:
    return os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE'), True
  except (ValueError, OSError, AttributeError):
    return None, True


def check_batch_fits(config: ml_collections.ConfigDict, num_devices: int, num_processes: int = 1,
                     available: tuple[int | None, bool] | None = None) -> None:
  """Refuses a batch whose lower bound `batch_bytes` exceeds the memory it would live in, before the compile.

  Args:
    config: the experiment configuration, each section already valid.
    num_devices: the devices the batch is split over.
    num_processes: the JAX processes (on CPU the devices of a process share its host's memory).
    available: (bytes, whether they are the host's), for tests; default `available_memory()`.
  """
  free, on_host = available or available_memory()
  if free is None:
    return
  total = batch_bytes(config)
  needed = total // num_processes if on_host else total // num_devices
  where = 'the host has available' if on_host else 'one device has free'
  require(needed <= free, 'train.batch_size',
          f'got {config.train.batch_size}; its batch needs at least {_gib(needed)} ({needed:,} bytes: the real '
          f'examples of train.n_critic={config.train.n_critic} D steps, G\'s inputs and samples, one layer of '
          f'activations per network{"" if on_host else ", per device"}), but {where} {_gib(free)} ({free:,} bytes)')


def _gib(num_bytes: int) -> str:
  return f'{num_bytes / 2**30:.1f} GiB'


def _size(num_bytes: int) -> str:
  """A size in the largest binary unit that keeps it >= 1: '1000 bytes', '375.0 KiB', '2.5 GiB'."""
  for unit, scale in (('GiB', 2**30), ('MiB', 2**20), ('KiB', 2**10)):
    if num_bytes >= scale:
      return f'{num_bytes / scale:.1f} {unit}'
  return f'{num_bytes} bytes'
