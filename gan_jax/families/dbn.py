"""The deep belief net family (`config.model='dbn'`): a stack of Bernoulli RBMs 'rbm_0', 'rbm_1', ... trained greedily
layer by layer (Hinton, Osindero & Teh 2006), each by CD-k.

Layer l trains in phase l (`families.phases`: steps [sum(layer_steps[:l]), sum(layer_steps[:l+1])), the top layer
on to the end of training). Its data are the up-pass of the step's binary batch through the layers below: their
hidden probabilities, not samples, as Hinton & Salakhutdinov's code feeds `batchposhidprobs` to the next RBM. The
probabilities are the mean-field input of the layer above; they keep the sampling noise of the lower layers out of
the upper layer's gradient (its own CD chain still samples), and make layer l's data a function of the batch alone.
Each layer is its own network with its own state of the one optimizer `config.optim.rbm`, so only the training
layer moves: the others keep their weights and their momentum.

Metrics, in every phase: 'dbn_loss' and 'dbn_reconstruction_error' (the training layer's CD objective and one-pass
reconstruction error of its input), 'rbm_grad_norm', 'rbm_update_norm', 'rbm_param_norm' (the training RBM's), and
'phase' (the training layer).
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import optim
from gan_jax.config import int_at_least, require
from gan_jax.evaluation import plots, probes
from gan_jax.families import (EVAL_STREAM, Family, base_rates, binarize, phases, real_sampler, test_visibles,
                              to_visible, validate_image_model)
from gan_jax.families.rbm import cd_update, filter_images, visible_images
from gan_jax.models import dbn as dbn_lib
from gan_jax.models import rbm as rbm_lib
from gan_jax.rng import noise_key
from gan_jax.state import Network, TrainState

def layer_names(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The networks, bottom first: 'rbm_0', 'rbm_1', ..."""
  return tuple(f'rbm_{layer}' for layer in range(len(config.dbn.hidden)))


def _positive_ints(value, field: str, what: str) -> None:
  require(isinstance(value, (tuple, list)) and len(value) > 0
          and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in value), field,
          f'got {value!r}; must be a non-empty tuple of positive integers ({what})')


def _positive_number(value, field: str) -> None:
  require(isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0, field,
          f'got {value!r}; must be a number > 0')


def validate_dbn(config: ml_collections.ConfigDict, num_devices: int, num_processes: int = 1) -> None:
  """The DBN family's checks: its section (the layers and their schedule), then the data (binary images), the one
  RBM optimizer and the loop."""
  require('dbn' in config, 'dbn', 'the DBN family reads config.dbn: start from gan_jax.config.dbn_config()')
  section = config.dbn
  _positive_ints(section.hidden, 'dbn.hidden', "the hidden layers' widths, bottom first, one RBM each")
  _positive_ints(section.layer_steps, 'dbn.layer_steps', 'the training steps of each layer in turn')
  layers = len(section.hidden)
  require(len(section.layer_steps) == layers, 'dbn.layer_steps',
          f'got {tuple(section.layer_steps)!r}: {len(section.layer_steps)} step counts for the {layers} layers of '
          f'dbn.hidden={tuple(section.hidden)!r}; give one per layer')
  int_at_least(config.train.num_steps, 'train.num_steps', minimum=0)
  total = sum(section.layer_steps)
  require(total <= config.train.num_steps, 'dbn.layer_steps',
          f'got {tuple(section.layer_steps)!r}, {total} steps in all, more than train.num_steps='
          f'{config.train.num_steps}: layer l trains layer_steps[l] steps in turn and the top layer continues to '
          f'train.num_steps; set train.num_steps >= {total} or shorten the layers')
  k = section.gibbs_steps
  require(isinstance(k, int) and not isinstance(k, bool) and k >= 1, 'dbn.gibbs_steps',
          f'got {k!r}; CD-k needs k >= 1 Gibbs steps')
  _positive_number(section.init_std, 'dbn.init_std')
  int_at_least(section.sample_gibbs_steps, 'dbn.sample_gibbs_steps')
  int_at_least(section.finetune_steps, 'dbn.finetune_steps', minimum=0)
  int_at_least(section.finetune_batch_size, 'dbn.finetune_batch_size')
  _positive_number(section.finetune_learning_rate, 'dbn.finetune_learning_rate')
  validate_image_model(config, num_devices, num_processes, ('rbm',), 'a deep belief net of Bernoulli RBMs')


def create_dbn_state(config: ml_collections.ConfigDict, key: jax.Array, dataset) -> TrainState:
  """The DBN at step 0: networks 'rbm_0', 'rbm_1', ... (W ~ N(0, init_std^2), zero biases), layer l's visible
  units the widths of layer l-1's hidden ones, each with its own state of the `config.optim.rbm` optimizer."""
  widths = (int(np.prod(dataset.shape)), *config.dbn.hidden)
  *init_keys, rng = jax.random.split(key, len(config.dbn.hidden) + 1)
  tx = optim.make_optimizer(config.optim.rbm)
  nets = {name: Network.create(rbm_lib.RBM(num_hidden=widths[layer + 1], init_std=config.dbn.init_std), tx,
                               init_keys[layer], jnp.zeros((1, widths[layer])))
          for layer, name in enumerate(layer_names(config))}
  return TrainState.create(nets, rng)


def stack_params(state: TrainState) -> list[dict]:
  """The layers' parameters, bottom first."""
  return [state.nets[f'rbm_{layer}'].params for layer in range(len(state.nets))]


def train_layer(state: TrainState, real: dict, *, layer: int, gibbs_steps: int):
  """Phase `layer`'s update: CD-k of network 'rbm_<layer>' on the up-pass of the step's binary batch through the
  layers below (`cd_update`); `state.step` is not advanced (`phases.make_phased_step` does that)."""
  v = to_visible(real['x'][0])
  below = stack_params(state)[:layer]
  if below:
    v = dbn_lib.up_pass(below, v)[-1]
  name = f'rbm_{layer}'
  state, metrics, _ = cd_update(state, name, v, v, noise_key(state.rng, state.step), gibbs_steps, loss_name='dbn')
  return state, phases.merge_network_metrics(metrics, (name,), 'rbm')


def make_dbn_train_step(config: ml_collections.ConfigDict, dataset, parallel):
  branches = [functools.partial(train_layer, layer=layer, gibbs_steps=config.dbn.gibbs_steps)
              for layer in range(len(config.dbn.hidden))]
  return phases.make_phased_step(branches, config.dbn.layer_steps), real_sampler(config, dataset, parallel)


def classifier_layers(stack: list[dict], head: dict) -> list[dict]:
  """The classifier a DBN initialises: one sigmoid layer per RBM with its recognition weights (W, c), then `head`."""
  return [{'W': params['W'], 'c': params['c']} for params in stack] + [head]


def make_dbn_evaluator(config: ml_collections.ConfigDict, dataset):
  """`evaluate(state) -> (metrics, pictures)`.

  Metrics: 'test_reconstruction_error', the mean squared error per pixel of the test images' up-pass to the top
  and down-pass back; 'probe_accuracy', a linear probe of the top layer's features (the up-pass's hidden
  probabilities) fitted on the first min(5,000, eval.num_samples) training images and scored on the first
  eval.num_samples test images, beside 'probe_accuracy_pixels' (the same probe on the binary pixels, computed once);
  'fine_tuned_accuracy', the test accuracy of a sigmoid classifier with the DBN's layers (W, c) and a new softmax
  layer after `dbn.finetune_steps` Adam steps on the whole training split, beside
  'fine_tuned_accuracy_random_init', the same network from Glorot's uniform initialisation, trained on the same
  batches (its softmax layer starts equal). Images are binarised once, as the training data are (the test split by
  `families.test_visibles`, the training split from a key of the seed).

  Pictures: 'samples', the pixel probabilities of `dbn.sample_gibbs_steps` Gibbs steps in the top RBM from the
  up-pass of base-rate noise, then the down-pass; 'filters', the first layer's weights.
  """
  section = config.dbn
  shape = tuple(dataset.shape)
  test_v, test = test_visibles(config, config.seed)
  num = min(config.eval.num_samples, test_v.shape[0])
  test_v = jnp.asarray(test_v[:num])
  test_labels = np.asarray(test.host_arrays()['labels'][:num])
  train_arrays = dataset.host_arrays()
  key = jax.random.fold_in(jax.random.key(config.seed), EVAL_STREAM)
  train_key, start_key, sample_key, head_key, random_key, batch_key = jax.random.split(key, 6)
  train_x = jnp.asarray(train_arrays['images'], jnp.float32) / 127.5 - 1.0
  train_v = to_visible(binarize(train_x, config.data.binarize, train_key))
  train_labels = np.asarray(train_arrays['labels'])
  num_probe = min(probes.PROBE_TRAIN_IMAGES, config.eval.num_samples, len(train_labels))
  rows = config.eval.grid_rows
  rates = jnp.asarray(base_rates(dataset, config.data.binarize))
  start = jax.random.bernoulli(start_key, rates, (rows * rows, rates.shape[0])).astype(jnp.float32)
  widths = (train_v.shape[1], *section.hidden)
  num_classes = int(max(train_labels.max(), test_labels.max())) + 1
  tune = functools.partial(probes.fine_tune, train_x=train_v, train_labels=jnp.asarray(train_labels), key=batch_key,
                           steps=section.finetune_steps, batch_size=section.finetune_batch_size,
                           learning_rate=float(section.finetune_learning_rate))

  @jax.jit
  def measure(stack):
    top = dbn_lib.up_pass(stack, test_v)[-1]
    reconstruction = dbn_lib.down_pass(stack, top)
    metrics = {'test_reconstruction_error': jnp.mean((test_v - reconstruction)**2)}
    samples = dbn_lib.sample(stack, start, sample_key, section.sample_gibbs_steps)
    return metrics, top, dbn_lib.up_pass(stack, train_v[:num_probe])[-1], samples

  pixel_accuracy = probes.probe_accuracy(train_v[:num_probe], train_labels[:num_probe], test_v, test_labels)
  head, random_accuracy = None, None
  if section.finetune_steps:  # Once: the random initialisation does not change during the run.
    head = probes.glorot_layers(head_key, (widths[-1], num_classes))[0]  # Both classifiers' softmax layer.
    random_accuracy = probes.accuracy(tune(probes.glorot_layers(random_key, widths) + [head]), test_v, test_labels)

  def evaluate(state: TrainState):
    stack = stack_params(state)
    metrics, test_top, train_top, samples = measure(stack)
    metrics = {k: float(v) for k, v in metrics.items()}
    metrics['probe_accuracy'] = probes.probe_accuracy(train_top, train_labels[:num_probe], test_top, test_labels)
    metrics['probe_accuracy_pixels'] = pixel_accuracy
    if section.finetune_steps:
      metrics['fine_tuned_accuracy'] = probes.accuracy(tune(classifier_layers(stack, head)), test_v, test_labels)
      metrics['fine_tuned_accuracy_random_init'] = random_accuracy
    pictures = {
        'samples': plots.image_grid(visible_images(samples, shape), rows),
        'filters': plots.image_grid(filter_images(stack[0]['W'], shape, rows * rows), rows),
    }
    return metrics, pictures

  return evaluate


FAMILY = Family(validate=validate_dbn, create_state=create_dbn_state, make_train_step=make_dbn_train_step,
                make_evaluator=make_dbn_evaluator, loss_names=('dbn_loss',))
