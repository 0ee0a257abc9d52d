"""The autoencoder family (`config.model='autoencoder'`): a deterministic autoencoder of images in [0, 1] with
sigmoid codes, made sparse by Ng's KL penalty on the codes' batch means and denoising by Vincent et al. (2008)'s
corruption of its input (`gan_jax.models.autoencoder`); dense (`autoencoder.hidden`) or convolutional
(`autoencoder.architecture='conv'`).

One training step is one `update` of 'encoder' and 'decoder' jointly on the batch's loss, its corruption drawn from
`noise_key(state.rng, state.step)`; each network is advanced by its own optimizer (`config.optim.encoder`,
`config.optim.decoder`, with their `weight_decay`). The codes are judged by a linear probe: a multinomial logistic
regression fitted on the codes of training images and scored on the test codes, beside the same probe on the raw
pixels and on the codes of the run's untrained encoder.

Stacked autoencoders (Bengio et al. 2007; Vincent et al. 2010), when `autoencoder.pretrain_steps` is not empty: each
layer of the encoder (the hidden layers, then the code) is its own pair of networks 'encoder_<l>' / 'decoder_<l>',
pre-trained greedily, one phase per layer (`families.phases`), as a one-layer autoencoder (sparse and denoising as
the section says) of the clean batch's codes at layer l-1 (the pixels for l = 0); then, from step
sum(pretrain_steps) to the end, all layers are fine-tuned jointly on the image reconstruction, the whole stack
computing what the unstacked encoder and decoder of the same widths compute (`ae_lib.Stack`). Every phase reports
the same metrics: the loss and its parts of the autoencoder it trains (a layer's, of codes, while pre-training; the
whole stack's, of images, while fine-tuning), 'encoder_*' and 'decoder_*' norms of the networks it trains jointly,
and 'phase'. Without pre-training the state is the two networks 'encoder' and 'decoder', as it always was.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import optim
from gan_jax.config import choice, int_at_least, require
from gan_jax.evaluation import plots
from gan_jax.evaluation.probes import PROBE_TRAIN_IMAGES, probe_accuracy
from gan_jax.families import (EVAL_STREAM, Family, create_encoder_decoder_state, phases, real_sampler, test_visibles,
                              validate_image_model)
from gan_jax.models import autoencoder as ae_lib
from gan_jax.rng import noise_key
from gan_jax.state import Network, TrainState
from gan_jax.update import update

NETS = ('encoder', 'decoder')
NUM_FILTERS = 64


def _number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_autoencoder(config: ml_collections.ConfigDict, num_devices: int, num_processes: int = 1) -> None:
  """The autoencoder family's checks: its section, then the data (images, grey or binary), optimizers and loop."""
  require('autoencoder' in config, 'autoencoder',
          'the autoencoder family reads config.autoencoder: start from gan_jax.config.autoencoder_config()')
  section = config.autoencoder
  int_at_least(section.code_dim, 'autoencoder.code_dim')
  hidden = section.hidden
  require(isinstance(hidden, (tuple, list))
          and all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in hidden), 'autoencoder.hidden',
          f'got {hidden!r}; must be a tuple of positive integers (the hidden layers\' widths; () for none)')
  rho = section.sparsity_target
  require(_number(rho) and 0.0 < rho < 1.0, 'autoencoder.sparsity_target',
          f'got {rho!r}; must lie strictly between 0 and 1 (the target mean activation of a code unit)')
  beta = section.sparsity_weight
  require(_number(beta) and beta >= 0.0, 'autoencoder.sparsity_weight', f'got {beta!r}; must be a number >= 0')
  choice(section.corruption, 'autoencoder.corruption', ae_lib.CORRUPTIONS)
  level = section.corruption_level
  require(_number(level) and level >= 0.0, 'autoencoder.corruption_level', f'got {level!r}; must be a number >= 0')
  require(section.corruption != 'mask' or level < 1.0, 'autoencoder.corruption_level',
          f'got {level!r}; masking noise sets this fraction of the pixels to 0 and must leave some: use a level < 1')
  choice(section.reconstruction, 'autoencoder.reconstruction', ae_lib.RECONSTRUCTIONS)
  choice(section.architecture, 'autoencoder.architecture', ae_lib.ARCHITECTURES)
  if section.architecture == 'conv':
    channels = section.conv_channels
    require(isinstance(channels, (tuple, list)) and len(channels) >= 1
            and all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in channels),
            'autoencoder.conv_channels', f'got {channels!r}; must be a non-empty tuple of positive integers (the '
            'stride-2 convolutions\' output channels)')
    scale = 2**len(channels)
    require(config.data.resolution % scale == 0, 'autoencoder.conv_channels',
            f'got {len(channels)} stride-2 convolutions, which need an image size divisible by {scale}; '
            f'data.resolution={config.data.resolution}: use fewer convolutions or a resolution divisible by {scale}')
  pretrain = section.pretrain_steps
  require(isinstance(pretrain, (tuple, list))
          and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in pretrain),
          'autoencoder.pretrain_steps', f'got {pretrain!r}; must be () for no pre-training, or a tuple of positive '
          'integers (the pre-training steps of each layer in turn)')
  layers = len(hidden) + 1
  require(not pretrain or len(pretrain) == layers, 'autoencoder.pretrain_steps',
          f'got {tuple(pretrain)!r}: {len(pretrain)} step counts for the {layers} layers of autoencoder.hidden='
          f'{tuple(hidden)!r} and the code (autoencoder.code_dim={section.code_dim}); give one per layer, or () for '
          'no pre-training')
  int_at_least(config.train.num_steps, 'train.num_steps', minimum=0)
  require(sum(pretrain) <= config.train.num_steps, 'autoencoder.pretrain_steps',
          f'got {tuple(pretrain)!r}, {sum(pretrain)} steps in all, more than train.num_steps='
          f'{config.train.num_steps}: the layers pre-train in turn, then the stack fine-tunes until train.num_steps; '
          f'set train.num_steps >= {sum(pretrain)} (more, to fine-tune) or shorten the pre-training')
  require(not pretrain or section.architecture == 'mlp', 'autoencoder.pretrain_steps',
          f"got {tuple(pretrain)!r} with autoencoder.architecture={section.architecture!r}: greedy pre-training "
          "stacks dense layers; use architecture='mlp', or pretrain_steps=() for the convolutional autoencoder")
  validate_image_model(config, num_devices, num_processes, NETS, 'the autoencoder', binary=False)


def stacked(config: ml_collections.ConfigDict) -> bool:
  """Whether the autoencoder is pre-trained layer by layer (`autoencoder.pretrain_steps` not empty)."""
  return bool(config.autoencoder.pretrain_steps)


def layer_widths(config: ml_collections.ConfigDict) -> tuple[int, ...]:
  """The encoder's layers' widths, bottom first: the hidden layers', then the code's."""
  return (*config.autoencoder.hidden, config.autoencoder.code_dim)


def layer_modules(config: ml_collections.ConfigDict, shape: tuple[int, ...]) -> list[tuple[ae_lib.MLPEncoder,
                                                                                         ae_lib.MLPDecoder]]:
  """The one-layer autoencoders of a stacked autoencoder, bottom first: layer l encodes layer l-1's codes (the
  images for l = 0) into its width and decodes them back to logits of what it encoded."""
  widths = layer_widths(config)
  return [(ae_lib.MLPEncoder(code_dim=width),
           ae_lib.MLPDecoder(output_shape=tuple(shape) if layer == 0 else (widths[layer - 1],)))
          for layer, width in enumerate(widths)]


def layer_nets(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """A stacked autoencoder's networks: 'encoder_0', 'decoder_0', 'encoder_1', ..."""
  return tuple(f'{kind}_{layer}' for layer in range(len(layer_widths(config))) for kind in NETS)


def make_modules(config: ml_collections.ConfigDict, shape: tuple[int, ...]) -> tuple:
  """The encoder and decoder `config.autoencoder` describes, for images of `shape`; the decoder mirrors the
  encoder. Stacked, they are the layers' modules composed (`ae_lib.Stack`), over the parameters `model_params`
  gathers."""
  if stacked(config):
    layers = layer_modules(config, shape)
    return (ae_lib.Stack(tuple(enc for enc, _ in layers)),
            ae_lib.Stack(tuple(dec for _, dec in layers[::-1]), sigmoid_between=True))
  if config.autoencoder.architecture == 'conv':
    channels = tuple(config.autoencoder.conv_channels)
    return (ae_lib.ConvEncoder(channels=channels, code_dim=config.autoencoder.code_dim),
            ae_lib.ConvDecoder(channels=channels[::-1], output_shape=tuple(shape)))
  hidden = tuple(config.autoencoder.hidden)
  return (ae_lib.MLPEncoder(hidden=hidden, code_dim=config.autoencoder.code_dim),
          ae_lib.MLPDecoder(hidden=hidden[::-1], output_shape=tuple(shape)))


def model_params(state: TrainState) -> tuple:
  """The parameters of `make_modules`' encoder and decoder in `state`: the networks' own, or, stacked, the layers'
  gathered as `ae_lib.Stack` takes them (the decoders top first)."""
  if 'encoder' in state.nets:
    return state.nets['encoder'].params, state.nets['decoder'].params
  layers = sum(name.startswith('encoder_') for name in state.nets)
  return ({f'layers_{i}': state.nets[f'encoder_{i}'].params for i in range(layers)},
          {f'layers_{i}': state.nets[f'decoder_{layers - 1 - i}'].params for i in range(layers)})


def create_autoencoder_state(config: ml_collections.ConfigDict, key: jax.Array, dataset) -> TrainState:
  """The autoencoder at step 0: networks 'encoder' and 'decoder', each with its optimizer; stacked, networks
  'encoder_<l>' and 'decoder_<l>' per layer, each with its own state of `config.optim.encoder` or `.decoder`."""
  if not stacked(config):
    return create_encoder_decoder_state(config, key, dataset, *make_modules(config, dataset.shape),
                                        config.autoencoder.code_dim)
  widths = layer_widths(config)
  *init_keys, rng = jax.random.split(key, 2 * len(widths) + 1)
  nets = {}
  for layer, (encoder, decoder) in enumerate(layer_modules(config, dataset.shape)):
    example = jnp.zeros((1, *dataset.shape)) if layer == 0 else jnp.zeros((1, widths[layer - 1]))
    nets[f'encoder_{layer}'] = Network.create(encoder, optim.make_optimizer(config.optim.encoder),
                                              init_keys[2 * layer], example)
    nets[f'decoder_{layer}'] = Network.create(decoder, optim.make_optimizer(config.optim.decoder),
                                              init_keys[2 * layer + 1], jnp.zeros((1, widths[layer])))
  return TrainState.create(nets, rng)


def loss_settings(config: ml_collections.ConfigDict) -> dict:
  """`ae_lib.autoencoder_loss`'s keyword settings from `config.autoencoder`."""
  s = config.autoencoder
  return dict(corruption=s.corruption, corruption_level=float(s.corruption_level), reconstruction=s.reconstruction,
              sparsity_target=float(s.sparsity_target), sparsity_weight=float(s.sparsity_weight))


def objective(state: TrainState, batch: dict, *, key: jax.Array, settings: dict, nets: tuple[str, str] = NETS):
  """The objective `update` differentiates: `ae_lib.autoencoder_loss` of `batch['x']` (pixels in [0, 1], or a
  stacked layer's input codes) by the encoder and decoder `nets`, with its parts as metrics
  'autoencoder_reconstruction', 'autoencoder_sparsity' (the unweighted KL) and 'autoencoder_mean_code'."""
  enc, dec = state.nets[nets[0]], state.nets[nets[1]]
  loss, parts = ae_lib.autoencoder_loss(enc.module, dec.module, enc.params, dec.params, batch['x'], key, **settings)
  return loss, (state, {f'autoencoder_{k}': v for k, v in parts.items()})


def stack_objective(state: TrainState, batch: dict, *, key: jax.Array, settings: dict, modules: tuple):
  """`objective` of the whole stack of layers (`make_modules`' encoder and decoder over `model_params`)."""
  enc_params, dec_params = model_params(state)
  loss, parts = ae_lib.autoencoder_loss(*modules, enc_params, dec_params, batch['x'], key, **settings)
  return loss, (state, {f'autoencoder_{k}': v for k, v in parts.items()})


def make_autoencoder_train_step(config: ml_collections.ConfigDict, dataset, parallel):
  """`(train_step, sample_real)`: one optimizer step of both networks on the loss; `state.step` advances. Stacked,
  the step of `state.step`'s phase: a layer's pre-training or the stack's fine-tuning (see the module's docstring).

  Metrics: 'autoencoder_loss', its parts (see `objective`), and per network the gradient, update and parameter
  norms ('encoder_*' and 'decoder_*'; stacked, of the layers the phase trains, and 'phase').
  """
  settings = loss_settings(config)

  def train_step(state: TrainState, real: dict):
    step_objective = functools.partial(objective, key=noise_key(state.rng, state.step), settings=settings)
    state, metrics = update(state, {'x': (real['x'][0] + 1.0) / 2.0}, nets=NETS, objective=step_objective,
                            name='autoencoder')
    return state.replace(step=state.step + 1), metrics

  if not stacked(config):
    return train_step, real_sampler(config, dataset, parallel)
  nets = layer_nets(config)
  encoders, decoders = nets[0::2], nets[1::2]
  modules = make_modules(config, dataset.shape)

  def pretrain_layer(state: TrainState, real: dict, *, layer: int):
    x = (real['x'][0] + 1.0) / 2.0
    for below in encoders[:layer]:  # The clean batch's codes at layer - 1: the layer's data.
      x = ae_lib.encode(state.nets[below].module, state.nets[below].params, x)
    pair = (encoders[layer], decoders[layer])
    step_objective = functools.partial(objective, key=noise_key(state.rng, state.step), settings=settings, nets=pair)
    state, metrics = update(state, {'x': x}, nets=pair, objective=step_objective, name='autoencoder')
    metrics = phases.merge_network_metrics(metrics, pair[:1], 'encoder')
    return state, phases.merge_network_metrics(metrics, pair[1:], 'decoder')

  def fine_tune(state: TrainState, real: dict):
    step_objective = functools.partial(stack_objective, key=noise_key(state.rng, state.step), settings=settings,
                                       modules=modules)
    state, metrics = update(state, {'x': (real['x'][0] + 1.0) / 2.0}, nets=nets, objective=step_objective,
                            name='autoencoder')
    metrics = phases.merge_network_metrics(metrics, encoders, 'encoder')
    return state, phases.merge_network_metrics(metrics, decoders, 'decoder')

  branches = [functools.partial(pretrain_layer, layer=layer) for layer in range(len(encoders))] + [fine_tune]
  # The fine-tuning phase has no count of its own: it is the last, and runs to train.num_steps.
  phased = phases.make_phased_step(branches, (*config.autoencoder.pretrain_steps, 0))
  return phased, real_sampler(config, dataset, parallel)


def first_layer(enc_params, shape: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...]]:
  """The encoder's first layer as (weights [inputs, units], the shape of one unit's weights as an image): a dense
  layer's units see the whole image, a convolution's a kernel-sized patch of it."""
  if 'Conv_0' in enc_params:
    kernel = np.asarray(enc_params['Conv_0']['kernel'])  # [kh, kw, channels in, channels out]
    return kernel.reshape(-1, kernel.shape[-1]), kernel.shape[:3]
  return np.asarray(enc_params['Dense_0']['kernel']), shape


def filter_images(kernel: np.ndarray, shape: tuple[int, ...], num: int) -> np.ndarray:
  """The first `num` first-layer units' weight vectors [V, units] as images in [-1, 1], each centred on its median
  and scaled so that 4.5 median absolute deviations (3 standard deviations for normal weights) reach +-1, clipped
  beyond.

  Scaling by each filter's largest magnitude (the RBM's pictures), or by its standard deviation, shows nothing here:
  the weights of the border pixels, on in a few training digits only, grow largest under Adam (each rare gradient
  is a full step) and would leave the digit's area one flat grey. The median and its deviation ignore them.
  """
  w = np.asarray(kernel, np.float64)[:, :num].T
  w = w - np.median(w, axis=1, keepdims=True)
  spread = 4.5 * np.median(np.abs(w), axis=1, keepdims=True)
  return np.clip(w / np.maximum(spread, 1e-12), -1.0, 1.0).reshape(-1, *shape)


def make_autoencoder_evaluator(config: ml_collections.ConfigDict, dataset):
  """`evaluate(state) -> (metrics, pictures)` on the first `eval.num_samples` images of the test split (in [0, 1],
  binarised once as the training data are when `data.binarize` says so: `families.test_visibles`).

  Metrics: 'test_cross_entropy' (nats per image) and 'test_squared_error' (per pixel) of the reconstructions of
  the clean test images; 'test_corrupted_cross_entropy', the same from their corruption (the denoising task);
  'test_mean_code', the codes' mean activation; 'probe_accuracy', the test accuracy of a linear probe on the codes
  fitted on the first min(5,000, eval.num_samples) training images, beside 'probe_accuracy_pixels' (the probe on
  the raw pixels) and 'probe_accuracy_random_encoder' (on the codes of the run's step-0 encoder), both computed
  once here.

  Pictures: 'filters', the first layer's weights of its first 64 units (the code units when there is no hidden
  layer), each scaled by its own median deviation (`filter_images`); 'reconstructions', rows of test digits, each
  followed by its reconstruction, its corruption and the corruption's reconstruction.
  """
  shape = tuple(dataset.shape)
  settings = loss_settings(config)
  test_v, test = test_visibles(config, config.seed)
  num = min(config.eval.num_samples, test_v.shape[0])
  test_x = jnp.asarray(test_v[:num].reshape(num, *shape))
  test_labels = np.asarray(test.host_arrays()['labels'][:num])
  train_arrays = dataset.host_arrays()
  num_train = min(PROBE_TRAIN_IMAGES, config.eval.num_samples, len(train_arrays['labels']))
  # The training images as the steps see them, (x + 1) / 2 of x = image / 127.5 - 1 (not binarised: the probe
  # reads the images themselves).
  train_x = jnp.asarray(train_arrays['images'][:num_train], jnp.float32) / 255.0
  train_labels = np.asarray(train_arrays['labels'][:num_train])
  encoder, decoder = make_modules(config, shape)
  key = jax.random.fold_in(jax.random.key(config.seed), EVAL_STREAM)
  corrupted_x = ae_lib.corrupt(test_x, key, settings['corruption'], settings['corruption_level'])
  rows = config.eval.grid_rows
  groups = max(1, rows // 4)  # (digit, reconstruction, corruption, its reconstruction) groups per row.
  pictured = np.arange(rows * groups) % num

  @jax.jit
  def codes_of(enc_params, x):
    return ae_lib.encode(encoder, enc_params, x)

  @jax.jit
  def measure(enc_params, dec_params, test_x, corrupted_x):
    codes = ae_lib.encode(encoder, enc_params, test_x)
    logits = ae_lib.decode(decoder, dec_params, codes)
    corrupted_logits = ae_lib.decode(decoder, dec_params, ae_lib.encode(encoder, enc_params, corrupted_x))
    metrics = {
        'test_cross_entropy': jnp.mean(ae_lib.reconstruction_error(logits, test_x, 'cross_entropy')),
        'test_squared_error': jnp.mean((jax.nn.sigmoid(logits) - test_x)**2),
        'test_corrupted_cross_entropy': jnp.mean(
            ae_lib.reconstruction_error(corrupted_logits, test_x, 'cross_entropy')),
        'test_mean_code': jnp.mean(codes),
    }
    return metrics, codes, jax.nn.sigmoid(logits), jax.nn.sigmoid(corrupted_logits)

  def probe(enc_params):
    return probe_accuracy(codes_of(enc_params, train_x), train_labels, codes_of(enc_params, test_x), test_labels)

  # The baselines do not change during the run: the pixels, and the step-0 encoder of this run's seed.
  pixel_accuracy = probe_accuracy(np.asarray(train_x).reshape(num_train, -1), train_labels,
                                  np.asarray(test_x).reshape(num, -1), test_labels)
  initial = create_autoencoder_state(config, jax.random.key(config.seed), dataset)
  random_accuracy = probe(model_params(initial)[0])

  def evaluate(state: TrainState):
    enc_params, dec_params = model_params(state)
    metrics, _, clean, noisy = measure(enc_params, dec_params, test_x, corrupted_x)
    metrics = {k: float(v) for k, v in metrics.items()}
    metrics['probe_accuracy'] = probe(enc_params)
    metrics['probe_accuracy_pixels'] = pixel_accuracy
    metrics['probe_accuracy_random_encoder'] = random_accuracy
    groups_of_four = np.stack([np.asarray(test_x)[pictured], np.asarray(clean)[pictured],
                               np.asarray(corrupted_x)[pictured], np.asarray(noisy)[pictured]], axis=1)
    first = enc_params['layers_0'] if stacked(config) else enc_params
    kernel, filter_shape = first_layer(first, shape)
    num_filters = min(NUM_FILTERS, kernel.shape[1])
    filter_rows = int(np.ceil(np.sqrt(num_filters)))
    pictures = {
        'filters': plots.image_grid(filter_images(kernel, filter_shape, num_filters), filter_rows),
        'reconstructions': plots.image_grid(np.clip(groups_of_four.reshape(-1, *shape), 0.0, 1.0) * 2.0 - 1.0,
                                            rows, 4 * groups),
    }
    return metrics, pictures

  return evaluate


FAMILY = Family(validate=validate_autoencoder, create_state=create_autoencoder_state,
                make_train_step=make_autoencoder_train_step, make_evaluator=make_autoencoder_evaluator,
                loss_names=('autoencoder_loss',))
