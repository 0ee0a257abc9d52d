"""The PPGN family (`config.model='ppgn'`): PPGN-h of Nguyen et al. (2017) on grey digit and garment images.

E, the encoder whose feature space h is, and the condition p(y|x) are the dataset's shipped classifier
(`gan_jax/evaluation/digits.py`), frozen and loaded here: h = its 128 ReLU features, p(y|x) its softmax, as the
paper's E and condition are the pretrained CaffeNet (h = fc6). The state trains three networks, each with its
optimizer (`config.optim.g`, `.d`, `.dae`):

- 'g', G: h -> image (a convolutional generator of `config.gen`), on image_weight * mean (G(E(x)) - x)^2 +
  feature_weight * mean (E(G(E(x))) - E(x))^2 + adversarial_weight * the `config.loss.name` G loss (Dosovitskiy &
  Brox 2016, as the paper trains G; E stands in for the paper's comparator network too);
- 'd', D: the discriminator of `config.disc`, on the GAN loss of real x against G(E(x));
- 'dae', R: an MLP on h, trained to reconstruct h = E(x) from h + N(0, dae_noise_std^2) (the prior p(h)).

One step updates D, then G against the updated D, then R, each by `update`. The evaluation runs the sampler of
`gan_jax.models.ppgn` per class, with the prior (eps1 = config.ppgn.eps1) and without it (eps1 = 0, the paper's
ablation), and judges its samples by the conditioning classifier and by an independent one the chains never saw.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import data, losses, models, optim
from gan_jax.config import choice, int_at_least, require
from gan_jax.evaluation import digits, plots
from gan_jax.families import EVAL_STREAM, Family, _with_split, real_sampler, validate_image_model
from gan_jax.models import ppgn as ppgn_lib
from gan_jax.objectives import discriminate
from gan_jax.rng import noise_key
from gan_jax.state import Network, TrainState
from gan_jax.update import run, update

NETS = ('g', 'd', 'dae')
CHAIN_STARTS = ('noise', 'real')
DECODE_CHUNK = 1000  # Codes decoded per call when measuring G on the test split.
NN_CHUNK = 512  # Images per call of the nearest-neighbour judge.
NN_REAL_QUERIES = 1000  # Test images the nearest-neighbour judge's own accuracy and distances are measured on.
PICTURED_PER_CLASS = 10  # Samples of each class in the sample grids.


def _number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_ppgn(config: ml_collections.ConfigDict, num_devices: int, num_processes: int = 1) -> None:
  """The PPGN family's checks: its section, the dataset against the shipped classifiers, the networks, the GAN loss,
  then the image model's (optimizers, data, loop, disk)."""
  require('ppgn' in config, 'ppgn', 'the PPGN family reads config.ppgn: start from gan_jax.config.ppgn_config()')
  s = config.ppgn
  for field, what in (('eps1', "the prior's"), ('eps2', "the condition's"), ('eps3', "the noise's")):
    require(_number(s[field]) and s[field] >= 0, f'ppgn.{field}',
            f'got {s[field]!r}; must be a number >= 0 ({what} multiplier in the sampler; 0 turns the term off)')
  for field in ('image_weight', 'feature_weight', 'adversarial_weight'):
    require(_number(s[field]) and s[field] >= 0, f'ppgn.{field}', f'got {s[field]!r}; must be a number >= 0')
  require(s.image_weight > 0 or s.feature_weight > 0, 'ppgn.image_weight',
          'G must learn to invert E: give ppgn.image_weight or ppgn.feature_weight a weight > 0')
  require(_number(s.dae_noise_std) and s.dae_noise_std > 0, 'ppgn.dae_noise_std',
          f'got {s.dae_noise_std!r}; must be a number > 0 (the std of the noise R learns to remove)')
  require(_number(s.h_max) and s.h_max > 0, 'ppgn.h_max',
          f'got {s.h_max!r}; must be a number > 0 (the chain keeps h in [0, h_max])')
  hidden = s.dae_hidden
  require(isinstance(hidden, (tuple, list))
          and all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in hidden), 'ppgn.dae_hidden',
          f"got {hidden!r}; must be a tuple of positive integers (R's hidden widths; () for a linear R)")
  int_at_least(s.chain_steps, 'ppgn.chain_steps')
  int_at_least(s.record_every, 'ppgn.record_every')
  require(s.chain_steps % s.record_every == 0, 'ppgn.record_every',
          f'got {s.record_every}; must divide ppgn.chain_steps ({s.chain_steps})')
  choice(s.chain_start, 'ppgn.chain_start', CHAIN_STARTS)
  int_at_least(s.samples_per_class, 'ppgn.samples_per_class', minimum=2)  # Diversity is over pairs.
  name = config.data.name
  require(name in digits.INDEPENDENT_WEIGHTS_BY_DATASET, 'data.name',
          f'got {name!r}; PPGN needs a shipped classifier of the dataset (E and the condition) and an independent '
          f'one (the judge): accepted values: {", ".join(digits.INDEPENDENT_WEIGHTS_BY_DATASET)}')
  resolution = digits.load_digit_classifier(name).resolution
  require(config.data.resolution == resolution, 'data.resolution',
          f"got {config.data.resolution!r}; G's images are what the {name} classifier reads: {resolution}")
  require(config.data.channels == 1, 'data.channels',
          f'got {config.data.channels!r}; the {name} classifiers read 1-channel images')
  require(config.data.binarize == 'none', 'data.binarize',
          f'got {config.data.binarize!r}; the classifiers were trained on grey levels: use none')
  models.validate(config)
  for player in ('gen', 'disc'):
    require(config[player].name in models.CONVOLUTIONAL, f'{player}.name',
            f'got {config[player].name!r}; PPGN generates images: use one of {", ".join(models.CONVOLUTIONAL)}')
  losses.validate(config.loss)
  validate_image_model(config, num_devices, num_processes, NETS, 'PPGN', binary=False)


def load_encoder(config: ml_collections.ConfigDict) -> digits.Classifier:
  """E and the condition: the shipped classifier of `config.data.name`."""
  return digits.load_digit_classifier(config.data.name)


def classifier_fn(classifier: digits.Classifier):
  """The classifier as a traceable function: images [B, R, R, 1] in [-1, 1] -> (logits, features)."""
  return lambda x: classifier.model.apply({'params': classifier.params}, x)


def make_modules(config: ml_collections.ConfigDict, shape: tuple[int, ...]):
  """G, D and R of the config, for images of `shape`."""
  return (models.make_generator(config.gen, shape), models.make_discriminator(config.disc, shape),
          ppgn_lib.DenoisingMLP(hidden=tuple(config.ppgn.dae_hidden)))


def create_ppgn_state(config: ml_collections.ConfigDict, key: jax.Array, dataset) -> TrainState:
  """The PPGN at step 0: networks 'g' (on codes h), 'd' (on images) and 'dae' (on codes), each with its optimizer."""
  generator, discriminator, denoiser = make_modules(config, dataset.shape)
  dim = load_encoder(config).model.feature_dim
  g_key, d_key, dae_key, rng = jax.random.split(key, 4)
  nets = {
      'g': Network.create(generator, optim.make_optimizer(config.optim.g), g_key, jnp.zeros((1, dim))),
      'd': Network.create(discriminator, optim.make_optimizer(config.optim.d), d_key,
                          jnp.zeros((1, *dataset.shape))),
      'dae': Network.create(denoiser, optim.make_optimizer(config.optim.dae), dae_key, jnp.zeros((1, dim))),
  }
  return TrainState.create(nets, rng)


def discriminator_objective(state: TrainState, batch: dict, *, d_loss):
  """D's GAN loss on real `batch['x']` against G(`batch['h']`) (G in training mode; its statistics are not kept)."""
  fake, _ = run(state, 'g', batch['h'])
  fake = jax.lax.stop_gradient(fake)
  real_out, state = discriminate(state, batch['x'], None)
  fake_out, state = discriminate(state, fake, None)
  return d_loss(real_out['logits'], fake_out['logits']), (state, {})


def generator_objective(state: TrainState, batch: dict, *, encode, g_loss, weights: dict):
  """G's weighted loss (see the module docstring), with its unweighted terms as metrics 'g_image', 'g_feature' and
  'g_adversarial'. D runs in training mode, as in a GAN's G step; its statistics are not kept."""
  fake, state = run(state, 'g', batch['h'])
  terms = ppgn_lib.generator_terms(batch['x'], fake, batch['h'], encode(fake)[1])
  real_out, _ = discriminate(state, batch['x'], None)
  fake_out, _ = discriminate(state, fake, None)
  terms['adversarial'] = g_loss(real_out['logits'], fake_out['logits'])
  loss = sum(weights[name] * value for name, value in terms.items())
  return loss, (state, {f'g_{name}': value for name, value in terms.items()})


def dae_objective(state: TrainState, batch: dict, *, key: jax.Array, noise_std: float):
  """R's loss: the mean of (R(h + noise) - h)^2 over batch and units, noise ~ N(0, noise_std^2) from `key`."""
  h = batch['h']
  reconstruction, state = run(state, 'dae', h + noise_std * jax.random.normal(key, h.shape, h.dtype))
  return ppgn_lib.dae_loss(reconstruction, h), (state, {})


def make_ppgn_train_step(config: ml_collections.ConfigDict, dataset, parallel):
  """`(train_step, sample_real)`: D, then G, then R, each one optimizer step on the batch's h = E(x); advances
  `state.step`. R's noise comes from `noise_key(state.rng, state.step)`.

  Metrics: 'd_loss', 'g_loss' (weighted) with 'g_image', 'g_feature', 'g_adversarial', 'dae_loss', and per network
  the gradient, update and parameter norms.
  """
  encode = classifier_fn(load_encoder(config))
  d_loss, g_loss = losses.adversarial_pair(config.loss.name, config.loss.label_smoothing)
  s = config.ppgn
  weights = {'image': float(s.image_weight), 'feature': float(s.feature_weight),
             'adversarial': float(s.adversarial_weight)}
  d_objective = functools.partial(discriminator_objective, d_loss=d_loss)
  g_objective = functools.partial(generator_objective, encode=encode, g_loss=g_loss, weights=weights)

  def train_step(state: TrainState, real: dict):
    x = real['x'][0]
    batch = {'x': x, 'h': jax.lax.stop_gradient(encode(x)[1])}
    state, d_metrics = update(state, batch, nets=('d',), objective=d_objective, name='d')
    state, g_metrics = update(state, batch, nets=('g',), objective=g_objective, name='g')
    dae = functools.partial(dae_objective, key=noise_key(state.rng, state.step), noise_std=float(s.dae_noise_std))
    state, dae_metrics = update(state, batch, nets=('dae',), objective=dae, name='dae')
    return state.replace(step=state.step + 1), {**d_metrics, **g_metrics, **dae_metrics}

  return train_step, real_sampler(config, dataset, parallel)


def mean_pairwise_distance(features: np.ndarray) -> float:
  """The mean Euclidean distance over the distinct pairs of rows of `features` [N, F] (N >= 2), in float64."""
  f = np.asarray(features, np.float64)
  squared = np.sum(f**2, axis=1)
  d2 = np.maximum(squared[:, None] + squared[None, :] - 2.0 * f @ f.T, 0.0)
  upper = np.triu_indices(len(f), k=1)
  return float(np.mean(np.sqrt(d2[upper])))


def nearest_neighbour_classifier(images: np.ndarray, labels: np.ndarray, chunk: int = NN_CHUNK):
  """A 1-nearest-neighbour classifier in pixel space over reference `images` (uint8 [N, H, W, C]) and their
  `labels`: a judge that shares nothing with the convolutional classifiers, so perturbations that climb one of
  them and transfer to the other (both CNNs of one architecture and data) do not carry over to it.

  Returns:
    `classify(x) -> (labels [Q], distances [Q])` for images `x` [Q, H, W, C] in [-1, 1]: the label of each one's
    nearest reference image and the Euclidean distance to it (pixels in [-1, 1]); queries go `chunk` at a time, each
    padded to a power of two (at most `chunk`).
  """
  reference = jnp.asarray(images.reshape(len(images), -1), jnp.float32) / 127.5 - 1.0
  squared = jnp.sum(reference**2, axis=1)
  labels = np.asarray(labels)

  @jax.jit
  def nearest(reference, squared, q):
    d2 = jnp.sum(q**2, axis=1)[:, None] + squared[None, :] - 2.0 * q @ reference.T
    return jnp.argmin(d2, axis=1), jnp.sqrt(jnp.maximum(jnp.min(d2, axis=1), 0.0))

  def classify(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, np.float32).reshape(len(x), -1)
    indices, distances = [], []
    for start in range(0, len(x), chunk):
      q = x[start:start + chunk]
      size = min(chunk, 1 << (len(q) - 1).bit_length())
      i, d = jax.device_get(nearest(reference, squared, jnp.pad(jnp.asarray(q), ((0, size - len(q)), (0, 0)))))
      indices.append(i[:len(q)])
      distances.append(d[:len(q)])
    return labels[np.concatenate(indices)], np.concatenate(distances)

  return classify


def class_changes_per_100_steps(labels: np.ndarray, steps_between: int) -> float:
  """How often the class of a chain changes, per chain and 100 steps, from its labels at frames [F, B] taken
  `steps_between` steps apart (changes within one interval count once)."""
  changes = np.sum(labels[1:] != labels[:-1])
  return float(100.0 * changes / (labels.shape[1] * steps_between * (labels.shape[0] - 1)))


def make_ppgn_evaluator(config: ml_collections.ConfigDict, dataset):
  """`evaluate(state) -> (metrics, pictures)`: the sampler run per class and judged, and G on the test split.

  Chains: `ppgn.samples_per_class` per class, all from the same starts (`ppgn.chain_start`: N(0, I), or E(x) of
  random test images) and the same noise for every sampler, `ppgn.chain_steps` steps. Two conditioned samplers,
  'full' (eps1 = ppgn.eps1) and 'no_prior' (eps1 = 0: the paper's ablation), and one unconditional chain (eps2 = 0).
  The conditioning classifier is E's; the 'independent' one is the dataset's second shipped classifier
  (`digits.INDEPENDENT_WEIGHTS_BY_DATASET`), whose features also measure distances.

  Metrics, for <s> in full, no_prior (means over classes; per class '<s>_..._class<c>' for the full sampler):
    '<s>_accuracy_conditioning', '<s>_accuracy_independent', '<s>_accuracy_nearest_neighbour': the fraction of the
      chains of class c whose last sample each judge assigns to c: the conditioning classifier, the independent
      one, and a 1-nearest-neighbour classifier in pixel space over the training images (`nearest_neighbour_classifier`:
      the two classifiers share an architecture and data, and perturbations that climb one fool the other too);
    '<s>_nearest_neighbour_distance': the mean pixel distance (pixels in [-1, 1]) from a sample to its nearest
      training image, beside 'real_nearest_neighbour_distance' of the first 1,000 test images (and
      'real_accuracy_nearest_neighbour', the judge's own accuracy on them);
    '<s>_diversity': the mean pairwise distance, in the independent classifier's features, among the last samples
      of a class; 'real_diversity' the same among the test images of that class; '<s>_diversity_ratio' their ratio;
    '<s>_mixing_distance': how far a conditioned chain moves late in its run: the mean feature distance between its
      samples at step (n // 2) * record_every and at the end (n = chain_steps // record_every), and
      '<s>_mixing_ratio', that over 'real_diversity' (1: the chain moves as far as two real images of the class lie
      apart; 0: it has stopped);
    'unconditional_class_changes_per_100_steps': the independent classifier's class of an unconditional chain,
      read every record_every steps, changes this often per 100 steps; 'unconditional_classes_final': the classes
      of its last samples;
    'test_reconstruction_mse' (per pixel) and 'test_reconstruction_accuracy_independent' of G(E(x)) on the first
      eval.num_samples test images; 'real_accuracy_independent' of the test images themselves.

  Pictures: 'samples' and 'samples_no_prior' (one row per class), 'chain' (the first chain of each class over time,
  from h_0 every record_every steps), 'reconstructions' (test images beside G(E(x))).
  """
  s = config.ppgn
  encoder = load_encoder(config)
  judge = digits.load_independent_classifier(config.data.name)
  encode = classifier_fn(encoder)
  test = data.make_dataset(_with_split(config.data, config.eval.test_split)).host_arrays()
  test_x = np.asarray(test['images'], np.float32) / 127.5 - 1.0
  test_y = np.asarray(test['labels'])
  num_classes = dataset.num_classes
  real_logits, real_features = judge(test_x)
  real_diversity = np.asarray([mean_pairwise_distance(real_features[test_y == c]) for c in range(num_classes)])
  real_accuracy = float(np.mean(np.argmax(real_logits, axis=1) == test_y))
  train = dataset.host_arrays()
  nearest = nearest_neighbour_classifier(train['images'], train['labels'])
  real_nn_labels, real_nn_distances = nearest(test_x[:NN_REAL_QUERIES])
  real_nn = {'real_accuracy_nearest_neighbour': float(np.mean(real_nn_labels == test_y[:NN_REAL_QUERIES])),
             'real_nearest_neighbour_distance': float(np.mean(real_nn_distances))}
  num = min(config.eval.num_samples, len(test_x))
  k = s.samples_per_class
  target = jnp.repeat(jnp.arange(num_classes), k)
  batch = num_classes * k
  start_key, chain_key = jax.random.split(jax.random.fold_in(jax.random.key(config.seed), EVAL_STREAM))
  if s.chain_start == 'noise':
    h0 = jax.random.normal(start_key, (batch, encoder.model.feature_dim))
  else:
    h0 = encode(jnp.asarray(test_x[np.asarray(jax.random.randint(start_key, (batch,), 0, len(test_x)))]))[1]
  frames_per_chain = s.chain_steps // s.record_every
  middle = frames_per_chain // 2
  rows = config.eval.grid_rows
  pairs = max(1, rows // 2)

  @functools.partial(jax.jit, static_argnames=('eps1', 'eps2'))
  def run_chains(g, dae, eps1, eps2):
    settings = dict(generate=lambda h: g.apply(h, train=False)[0], classify=lambda x: encode(x)[0],
                    denoise=lambda h: dae.apply(h, train=False)[0], eps1=eps1, eps2=eps2, eps3=float(s.eps3),
                    h_max=float(s.h_max))
    _, frames = ppgn_lib.sample_chain(h0, chain_key, target, steps=s.chain_steps, record_every=s.record_every,
                                      **settings)
    return jnp.concatenate([h0[None], frames])  # [frames + 1, B, D]: h every record_every steps from h_0.

  @jax.jit
  def decode(g, h):
    return jax.lax.map(lambda h: g.apply(h, train=False)[0], h)  # [F, B, D] -> [F, B, H, W, C].

  def reconstruct(g):
    chunks = [test_x[i:i + DECODE_CHUNK] for i in range(0, num, DECODE_CHUNK)]
    return np.concatenate([np.asarray(decode(g, encode(jnp.asarray(c))[1][None])[0]) for c in chunks])[:num]

  def judged(g, dae, eps1):
    codes = run_chains(g, dae, eps1=eps1, eps2=float(s.eps2))
    images = np.asarray(decode(g, codes[jnp.asarray([middle, frames_per_chain])]))
    end_logits, end_features = judge(images[1])
    _, middle_features = judge(images[0])
    conditioning = np.argmax(encoder(images[1])[0], axis=1)
    nn_labels, nn_distances = nearest(images[1])
    labels = np.asarray(target)
    per_class = {'accuracy_conditioning': [], 'accuracy_independent': [], 'accuracy_nearest_neighbour': [],
                 'nearest_neighbour_distance': [], 'diversity': [], 'mixing_distance': []}
    for c in range(num_classes):
      mine = labels == c
      per_class['accuracy_conditioning'].append(np.mean(conditioning[mine] == c))
      per_class['accuracy_independent'].append(np.mean(np.argmax(end_logits[mine], axis=1) == c))
      per_class['accuracy_nearest_neighbour'].append(np.mean(nn_labels[mine] == c))
      per_class['nearest_neighbour_distance'].append(np.mean(nn_distances[mine]))
      per_class['diversity'].append(mean_pairwise_distance(end_features[mine]))
      per_class['mixing_distance'].append(np.mean(np.linalg.norm(end_features[mine] - middle_features[mine],
                                                                 axis=1)))
    per_class = {name: np.asarray(values, np.float64) for name, values in per_class.items()}
    per_class['diversity_ratio'] = per_class['diversity'] / real_diversity
    per_class['mixing_ratio'] = per_class['mixing_distance'] / real_diversity
    return per_class, codes, images[1]

  def class_rows(images):
    """The first PICTURED_PER_CLASS samples of each class, one row per class."""
    per_class = min(k, PICTURED_PER_CLASS)
    grid = images.reshape(num_classes, k, *images.shape[1:])[:, :per_class]
    return plots.image_grid(grid.reshape(-1, *images.shape[1:]), num_classes, per_class)

  def evaluate(state: TrainState):
    g, dae = state.nets['g'], state.nets['dae']
    metrics = {'real_accuracy_independent': real_accuracy, **real_nn, 'real_diversity': float(np.mean(real_diversity))}
    reconstructed = reconstruct(g)
    metrics['test_reconstruction_mse'] = float(np.mean((reconstructed - test_x[:num])**2))
    metrics['test_reconstruction_accuracy_independent'] = float(np.mean(judge.predict(reconstructed) == test_y[:num]))
    pictures = {}
    for sampler, eps1 in (('full', float(s.eps1)), ('no_prior', 0.0)):
      per_class, codes, images = judged(g, dae, eps1)
      metrics.update({f'{sampler}_{name}': float(np.mean(values)) for name, values in per_class.items()})
      if sampler == 'full':
        for name in ('accuracy_conditioning', 'accuracy_independent', 'accuracy_nearest_neighbour', 'diversity'):
          metrics.update({f'full_{name}_class{c}': float(v) for c, v in enumerate(per_class[name])})
        first_chains = np.asarray(decode(g, codes[:, ::k]))  # [frames + 1, classes, ...]
        pictures['chain'] = plots.image_grid(np.swapaxes(first_chains, 0, 1).reshape(-1, *first_chains.shape[2:]),
                                             num_classes, frames_per_chain + 1)
        pictures['samples'] = class_rows(images)
      else:
        pictures['samples_no_prior'] = class_rows(images)
    metrics.update({f'real_diversity_class{c}': float(v) for c, v in enumerate(real_diversity)})
    # The unconditional chain: where the prior alone (and the noise) takes h.
    frames = np.asarray(decode(g, run_chains(g, dae, eps1=float(s.eps1), eps2=0.0)))
    labels = judge.predict(frames.reshape(-1, *frames.shape[2:])).reshape(frames.shape[:2])
    metrics['unconditional_class_changes_per_100_steps'] = class_changes_per_100_steps(labels, s.record_every)
    metrics['unconditional_classes_final'] = int(np.unique(labels[-1]).size)
    side_by_side = np.stack([test_x[:rows * pairs], reconstructed[:rows * pairs]], axis=1)
    pictures['reconstructions'] = plots.image_grid(side_by_side.reshape(-1, *side_by_side.shape[2:]), rows,
                                                   2 * pairs)
    return metrics, pictures

  return evaluate


FAMILY = Family(validate=validate_ppgn, create_state=create_ppgn_state, make_train_step=make_ppgn_train_step,
                make_evaluator=make_ppgn_evaluator, loss_names=('d_loss', 'g_loss', 'dae_loss'))
