"""Model families, by `config.model`: how a family's state is built, trained for one step and evaluated.

The training loop (`train.py`: checkpoints, summaries, preemption, the compiled multi-step chunks) is the same for
every family; a family supplies the parts that differ:

- `validate(config, num_devices, num_processes)`: every check of its sections, before anything compiles;
- `create_state(config, key, dataset)`: its `TrainState` at step 0 (networks by name, extras);
- `make_train_step(config, dataset, parallel)`: `(train_step(state, real) -> (state, metrics), sample_real)`, where
  `sample_real(state, data_arrays)` draws this device's real batch for the state's step (`real_sampler`);
- `make_evaluator(config, dataset)`: `evaluate(state) -> (metrics, pictures)`;
- `loss_names`: the metrics whose first non-finite value stops the run;
- `batch_extras`: the entries of `state.extras` with a batch axis first (PCD's chains), sharded like the batch;
- `stage_starts(config)` and `next_stage(config, state, dataset)`, for a state whose structure changes as it trains
  (Progressive GAN grows its networks): the steps at which it changes, and the change (see `state_at`).
- `sample(config, state, key, num)`: `num` images drawn from the state's generator, for `gan_jax.sample`'s grid
  (families that generate images; the 'gan' family's own modes use its evaluation noise instead).

Families are imported when asked for, so a GAN run does not load the RBM's code.
"""

import dataclasses
import importlib
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import checkpoint, data, losses, objectives
from gan_jax.config import ConfigError, choice, require
from gan_jax.data import in_memory

# config.model -> the module whose FAMILY it is.
_MODULES = {
    'gan': 'gan_jax.families.gan',
    'rbm': 'gan_jax.families.rbm',
    'vae': 'gan_jax.families.vae',
    'autoencoder': 'gan_jax.families.autoencoder',
    'dbn': 'gan_jax.families.dbn',
    'ppgn': 'gan_jax.families.ppgn',
    'pix2pix': 'gan_jax.families.pix2pix',
    'cyclegan': 'gan_jax.families.cyclegan',
    'lapgan': 'gan_jax.families.lapgan',
    'srgan': 'gan_jax.families.srgan',
    'progan': 'gan_jax.families.progan',
    'stackgan': 'gan_jax.families.stackgan',
}
NAMES = tuple(_MODULES)
BINARIZE_STREAM = 0xB1  # Stochastic binarisation draws from its own key stream.
# The likelihood families' evaluation draws (test binarisation, estimators, pictured samples) come from their own keys.
EVAL_STREAM = 0xE7A1
PAIRED_STREAM = 0x1A9  # The epoch permutation of a paired dataset's feature read as an image set.


@dataclasses.dataclass(frozen=True)
class Family:
  validate: Callable[[ml_collections.ConfigDict, int, int], None]
  create_state: Callable[[ml_collections.ConfigDict, jax.Array, Any], Any]
  make_train_step: Callable[..., tuple[Callable, Callable]]
  make_evaluator: Callable[[ml_collections.ConfigDict, Any], Callable]
  loss_names: tuple[str, ...]
  # Entries of `state.extras` whose leading axis is the batch: sharded over the devices like it under a mesh.
  batch_extras: tuple[str, ...] = ()
  # A state whose structure changes (new networks or parameters): the steps s > 0 before which the loop replaces the
  # state at step s by `next_stage(config, state, dataset)`, which must depend on the state and the config only (a
  # resumed run makes the same change). The loop ends a compiled chunk at each and compiles the new structure's
  # step. None: one structure throughout.
  stage_starts: Callable[[ml_collections.ConfigDict], tuple[int, ...]] | None = None
  next_stage: Callable[[ml_collections.ConfigDict, Any, Any], Any] | None = None
  # Images [num, H, W, C] in [-1, 1] drawn with `key` from the state at its stage: (config, state, key, num).
  sample: Callable[[ml_collections.ConfigDict, Any, jax.Array, int], np.ndarray] | None = None


def stage_starts(family: Family, config: ml_collections.ConfigDict) -> tuple[int, ...]:
  """The steps at which `family`'s state changes structure (none for most families)."""
  return tuple(family.stage_starts(config)) if family.stage_starts else ()


def state_at(family: Family, config: ml_collections.ConfigDict, state: Any, step: int, dataset) -> Any:
  """The step-0 `state` advanced through every stage that starts before `step`: the structure of a checkpoint
  saved at `step` (a checkpoint at a stage's first step holds the previous stage's state, which the loop changes
  before training that step). `state` itself for a family of one structure."""
  for start in stage_starts(family, config):
    if start < step:
      state = family.next_stage(config, state, dataset)
  return state


def checkpoint_directory(workdir: str) -> str:
  """`workdir`'s checkpoint directory, which the sampling commands check before they load TensorFlow and the model.

  Raises:
    FileNotFoundError: naming --workdir when there is none (checked, not created: the checkpoint manager would).
  """
  directory = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(directory):
    raise FileNotFoundError(f'--workdir: no checkpoint in {directory}')
  return directory


def restore_run(config: ml_collections.ConfigDict, workdir: str, dataset) -> Any:
  """The latest checkpoint of the run of `config` in `workdir`, restored into the structure of the stage it was
  saved in (as a resumed run restores it): what the sampling commands draw from.

  Raises:
    FileNotFoundError: naming --workdir when it holds no checkpoint (nothing is created).
  """
  directory = checkpoint_directory(workdir)
  family = get(config.model)
  initial = family.create_state(config, jax.random.key(config.seed), dataset)
  manager = checkpoint.make_manager(directory, config.train.keep_checkpoints)
  state = checkpoint.restore_latest(manager, lambda step: state_at(family, config, initial, step, dataset))
  if state is None:
    raise FileNotFoundError(f'--workdir: no checkpoint in {directory}')
  return state


def get(name: str) -> Family:
  """The family `config.model` names (a KeyError listing the names otherwise; validation reports it first)."""
  if name not in _MODULES:
    raise KeyError(f'config.model: got {name!r}; accepted: {", ".join(NAMES)}')
  return importlib.import_module(_MODULES[name]).FAMILY


def binarize(x: jax.Array, how: str, key: jax.Array) -> jax.Array:
  """Images in [-1, 1] made binary, still in {-1, 1}: 'threshold' at the middle grey, 'sample' each pixel on with
  its intensity as probability (a fresh draw per key: dynamic binarisation), 'none' unchanged."""
  if how == 'threshold':
    return jnp.where(x > 0, 1.0, -1.0)
  if how == 'sample':
    return jnp.where(jax.random.uniform(key, x.shape) < (x + 1) / 2, 1.0, -1.0)
  return x


def real_sampler(config: ml_collections.ConfigDict, dataset, parallel) -> Callable:
  """`sample_real(state, data_arrays)` -> this device's real data for the state's step ('x', 'y', ...), each with a
  leading `train.n_critic` axis, sharded over the devices under a mesh, binarised as `data.binarize` says."""
  batch, n_critic = config.train.batch_size, config.train.n_critic
  how = config.data.binarize

  def sample_real(state, data_arrays):
    real = dataset.sample(data_arrays, state.rng, state.step, n_critic * batch)
    if 'labelled_indices' in data_arrays:
      real.update(in_memory.sample_labelled(data_arrays, state.rng, state.step, n_critic * batch))
    if how != 'none':
      key = jax.random.fold_in(jax.random.fold_in(state.rng, BINARIZE_STREAM), state.step)
      real['x'] = binarize(real['x'], how, key)
    real = jax.tree.map(lambda x: x.reshape(n_critic, batch, *x.shape[1:]), real)
    return jax.tree.map(lambda x: parallel.local_share(x, axis=1), real)

  return sample_real


def feature_sampler(feature: str, config: ml_collections.ConfigDict, parallel) -> Callable:
  """`sample_real(state, data_arrays)` -> {'x': [1, B, H, W, C]} for one `feature` of a paired dataset read as a
  set of single images, in its own epoch order (`PAIRED_STREAM`); sharded over the devices under a mesh. LAPGAN and
  Progressive GAN read one style of emoji_styles with it."""
  batch = config.train.batch_size

  def sample_real(state, data_arrays):
    images = data_arrays[feature]
    indices = in_memory.epoch_indices(state.rng, state.step, images.shape[0], batch, PAIRED_STREAM)
    return {'x': parallel.local_share(in_memory.to_unit_range(images[indices])[None], axis=1)}

  return sample_real


def feature_scorer(config: ml_collections.ConfigDict, dataset, feature: str):
  """`domain_classifier.feature_scorer` for `feature` of the paired dataset config.data.name on
  eval.num_samples, or None when no domain classifier ships for it (or no feature is read). LAPGAN and Progressive
  GAN score their emoji with it."""
  from gan_jax.evaluation import domain_classifier
  if not feature or config.data.name not in domain_classifier.WEIGHTS_BY_DATASET:
    return None
  return domain_classifier.feature_scorer(config.data.name, dataset.host_arrays()[feature], config.eval.num_samples)


def validate_feature(feature: str, field: str, data_name: str) -> None:
  """The feature a family of single images reads (`field`, e.g. 'lapgan.feature'): one of a paired dataset's
  features, '' for a single-image dataset.

  Raises:
    ConfigError: naming `field`, the value and the accepted values.
  """
  if data_name in data.PAIRED_DATASETS:
    choice(feature, field, data.PAIRED_DATASETS[data_name].features)
  else:
    require(feature == '', field,
            f"got {feature!r}; it picks one image of a paired dataset, and data.name={data_name!r} has one: use '' "
            f"(a feature is read from {', '.join(data.PAIRED_DATASETS)})")


def validate_image_model(config: ml_collections.ConfigDict, num_devices: int, num_processes: int,
                                nets: tuple[str, ...], model: str, binary: bool = True) -> None:
  """The checks every family of image models shares (the RBM, the VAE, the autoencoders), after its own
  section's: an optimizer section per network, the optimizers, data, parallel and loop sections, an image dataset
  (made binary when `binary`), the batch against the devices, and last the disk.

  Args:
    config: the experiment configuration.
    num_devices: the devices the batch is split over.
    num_processes: the JAX processes of the run.
    nets: the family's networks, each needing a `config.optim.<net>` section.
    model: what the family models, for the messages ('a Bernoulli RBM', ...).
    binary: whether the model needs binary pixels (`data.binarize` other than 'none'); the autoencoders model grey
      levels in [0, 1] and take either.
  """
  from gan_jax import validation  # validation imports this package.
  validate_training(config, num_devices, num_processes, nets,
                    f"{model} makes one update per step (n_critic is a GAN's D steps per G step)")
  data.validate(config.data)
  require(config.data.name in data.IMAGE_DATASETS, 'data.name',
          f'got {config.data.name!r}; {model} models {"binary " if binary else ""}images: use one of '
          f'{", ".join(data.IMAGE_DATASETS)}{" with data.binarize" if binary else ""}')
  require(not binary or config.data.binarize != 'none', 'data.binarize',
          f"got 'none': {model} models binary pixels and data.name={config.data.name!r} has grey levels; set "
          "data.binarize='sample' (each pixel on with its intensity as probability, drawn afresh every step) or "
          "'threshold'")
  data.check_available(config.data)
  validation.validate_pipeline(config)


def validate_training(config: ml_collections.ConfigDict, num_devices: int, num_processes: int,
                      nets: tuple[str, ...], one_step: str) -> None:
  """The checks of the training every family shares: an optimizer section per network and the optimizers, the
  parallel and loop sections, one update per network and step (`train.n_critic` 1), the batch against the devices.

  Args:
    config: the experiment configuration.
    num_devices: the devices the batch is split over.
    num_processes: the JAX processes of the run.
    nets: the networks the family trains, each needing a `config.optim.<net>` section.
    one_step: what one step of the family updates, for the n_critic message ('pix2pix makes one D update and one G
      update per step').

  Raises:
    ConfigError: naming the field, the value and the accepted values.
  """
  from gan_jax import optim, parallel, validation  # validation imports this package.
  for name in nets:
    require(name in config.optim, f'optim.{name}', f'config.model={config.model!r} trains networks '
            f'{", ".join(nets)}: give config.optim a {name} section (as gan_jax/config.py\'s {config.model}_config does)')
  optim.validate(config.optim)
  parallel.validate_parallel(config.parallel, num_processes)
  validation.validate_loop(config)
  require(config.train.n_critic == 1, 'train.n_critic', f'got {config.train.n_critic}; {one_step}')
  require(config.train.batch_size % num_devices == 0, 'train.batch_size',
          f'got {config.train.batch_size}; must be divisible by the {num_devices} devices of '
          f'parallel.mode={config.parallel.mode!r}')


def validate_terms(loss: ml_collections.ConfigDict, allowed: dict[str, tuple[str, ...]], trained: str) -> None:
  """The objective checks every image-to-image and multi-scale family shares: the adversarial pair, the terms'
  registered names and weights, and no weight on a term the family's step does not compute.

  Args:
    loss: `config.loss`.
    allowed: player ('d', 'g') -> the terms its step computes.
    trained: who is trained, for the message ("pix2pix's G", "LAPGAN's levels").

  Raises:
    ConfigError: naming the first term with a weight it cannot have, or the registry's complaint.
  """
  losses.validate(loss)
  try:
    objectives.check_terms(loss)
  except ValueError as error:
    raise ConfigError(str(error)) from error
  for player, terms in allowed.items():
    for term, weight in loss[player].items():
      require(not weight or term in terms, f'loss.{player}.{term}',
              f"got {weight!r}; {trained.format(player=player.upper())} is trained on the terms {', '.join(terms)}: "
              'set it to 0')


def create_encoder_decoder_state(config: ml_collections.ConfigDict, key: jax.Array, dataset, encoder, decoder,
                                 code_dim: int):
  """A state of networks 'encoder' (on images of `dataset.shape`) and 'decoder' (on codes of `code_dim`), each
  with its optimizer from `config.optim`, at step 0 (the VAE's and the autoencoders')."""
  from gan_jax import optim
  from gan_jax.state import Network, TrainState
  enc_key, dec_key, rng = jax.random.split(key, 3)
  nets = {
      'encoder': Network.create(encoder, optim.make_optimizer(config.optim.encoder), enc_key,
                                jnp.zeros((1, *dataset.shape))),
      'decoder': Network.create(decoder, optim.make_optimizer(config.optim.decoder), dec_key,
                                jnp.zeros((1, code_dim))),
  }
  return TrainState.create(nets, rng)


def base_rates(dataset, how: str) -> np.ndarray:
  """Each pixel's probability of being on in the training data binarised as `data.binarize` says: its mean
  intensity under 'sample' (the expected bit), the fraction of images above middle grey under 'threshold'."""
  images = dataset.host_arrays()['images']
  images = images.reshape(images.shape[0], -1)
  if how == 'threshold':
    return (images > 127.5).mean(axis=0).astype(np.float32)  # binarize's x > 0 for x = image / 127.5 - 1.
  return (images.mean(axis=0) / 255.0).astype(np.float32)


def to_visible(x: jax.Array) -> jax.Array:
  """Binary images in {-1, 1} [B, H, W, C] -> visible vectors in {0, 1} [B, H*W*C]."""
  return ((x.reshape(x.shape[0], -1) + 1.0) / 2.0).astype(jnp.float32)


def test_visibles(config: ml_collections.ConfigDict, seed: int) -> tuple[np.ndarray, object]:
  """The test split (`eval.test_split`) binarised once, as the training data is: 'sample' draws it from a key of
  `seed` (the same set for every run of that seed, whichever family measures it), 'threshold' is fixed.

  Returns:
    ([N, V] in {0, 1}, the test dataset).
  """
  test = data.make_dataset(_with_split(config.data, config.eval.test_split))
  x = jnp.asarray(test.host_arrays()['images'], jnp.float32) / 127.5 - 1.0
  key = jax.random.fold_in(jax.random.key(seed), EVAL_STREAM)
  return np.asarray(to_visible(binarize(x, config.data.binarize, key))), test


def _with_split(section: ml_collections.ConfigDict, split: str) -> ml_collections.ConfigDict:
  section = ml_collections.ConfigDict(section.to_dict())
  section.split = split
  return section
