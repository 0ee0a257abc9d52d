"""Trains the digit classifier of `digits.py` and writes its weights (.npz) and a record of them (.json).

  python -m gan_jax.evaluation.train_digit_classifier --data_dir DIR --resolution 32 \
      --out gan_jax/evaluation/weights/digits_classifier_r32.npz

The digits are read through TFDS as the GANs read them (`load_images`, 1 channel) and scaled to [-1, 1] the same
way (uint8 / 127.5 - 1). Training shifts each image by a random whole number of pixels (up to `max_shift` each way,
background filling the gap) so that slightly off-centre generated digits are still judged. Everything random
comes from `--seed`: the same command on the same machine writes the same bytes. `--dataset mnist` trains an MNIST
classifier the same way where mnist is prepared in data_dir (nothing is downloaded).
"""

import functools
import json
import os
import time
from typing import Callable

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # TensorFlow (used by TFDS) is chatty at start-up.

from absl import app, flags, logging  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import tensorflow as tf  # noqa: E402

from gan_jax.data import images as image_data  # noqa: E402
from gan_jax.evaluation import digits  # noqa: E402

FORMAT_VERSION = 1
INPUT_RANGE = '[-1, 1] (uint8 / 127.5 - 1)'
OUTPUT_PREFIX = {'sklearn_digits': 'digits', 'mnist': 'mnist', 'fashion_mnist': 'fashion_mnist'}

FLAGS = flags.FLAGS


def random_shift(rng: jax.Array, images: jax.Array, max_shift: int, background: float = -1.0) -> jax.Array:
  """Shifts each image by its own random (dy, dx) in [-max_shift, max_shift]^2, filling with `background`."""
  if max_shift == 0:
    return images
  size = images.shape[1:3]
  padded = jnp.pad(images, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)), constant_values=background)
  offsets = jax.random.randint(rng, (images.shape[0], 2), 0, 2 * max_shift + 1)
  crop = lambda image, offset: jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (*size, image.shape[-1]))
  return jax.vmap(crop)(padded, offsets)


def train(images: np.ndarray, labels: np.ndarray, model: digits.DigitClassifier, seed: int, train_steps: int,
          batch_size: int, learning_rate: float, max_shift: int, background: float = -1.0) -> dict:
  """Trains `model` on uint8 images [N, R, R, C] and int labels [N]; returns the parameters. Shifted images are
  filled with `background` (in [-1, 1]: digits' black -1, emoji's white 1).

  Batches are slices of a fresh permutation per epoch (drop remainder); the data live on the device, and each
  step's batch, shifts and dropout come from `fold_in(key, step)`.
  """
  x = jnp.asarray(images, jnp.float32) / 127.5 - 1.0
  y = jnp.asarray(labels, jnp.int32)
  rng = jax.random.key(seed)
  params = model.init(jax.random.fold_in(rng, 0), x[:1])['params']
  tx = optax.adam(optax.cosine_decay_schedule(learning_rate, train_steps))
  opt_state = tx.init(params)
  steps_per_epoch = len(x) // batch_size

  def loss_fn(params, batch_x, batch_y, dropout_rng):
    logits, _ = model.apply({'params': params}, batch_x, train=True, rngs={'dropout': dropout_rng})
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch_y).mean()

  @functools.partial(jax.jit, donate_argnums=(0, 1))
  def step(params, opt_state, step_index):
    epoch_rng = jax.random.fold_in(jax.random.fold_in(rng, 1), step_index // steps_per_epoch)
    indices = jax.lax.dynamic_slice_in_dim(jax.random.permutation(epoch_rng, len(x)),
                                           (step_index % steps_per_epoch) * batch_size, batch_size)
    shift_rng, dropout_rng = jax.random.split(jax.random.fold_in(jax.random.fold_in(rng, 2), step_index))
    batch_x = random_shift(shift_rng, x[indices], max_shift, background)
    loss, grads = jax.value_and_grad(loss_fn)(params, batch_x, y[indices], dropout_rng)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  losses = []
  for step_index in range(train_steps):
    params, opt_state, loss = step(params, opt_state, step_index)
    losses.append(loss)
    if (step_index + 1) % max(1, train_steps // 10) == 0 or step_index + 1 == train_steps:
      logging.info('step %d: mean loss of the last %d steps %.4f', step_index + 1, len(losses),
                   np.mean(jax.device_get(losses)))
      losses = []
  return params


def accuracy(classify: digits.Classifier, images: np.ndarray, labels: np.ndarray) -> float:
  return float(np.mean(classify.predict(images) == labels))


def save_classifier(out: str, params: dict, model: digits.DigitClassifier, description: dict,
                    counts: tuple[int, int], seconds: float, measure: Callable[[str], tuple], module: str,
                    **training) -> dict:
  """Writes a trained classifier's weights (.npz) and their record (.json, `digits.info_path`); returns the record.

  Called by this command and train_domain_classifier, whose flags (--seed and the training flags) it records.

  Args:
    out: the .npz to write.
    params: the parameters of `model`.
    model: the network trained.
    description: the record's first entries: the format version, the dataset and what the classifier reads.
    counts: the numbers of train and test images.
    seconds: the training time.
    measure: `measure(out)` -> (test accuracy, train accuracy), measured through the loader, so that they are the
      accuracies of the files as users will load them (the loader reads the record: it is written a first time
      without them).
    module: the command, for the record's command line.
    **training: entries of the record's 'training' beside the flags.
  """
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  digits.save_params(params, out)
  info = {
      **description,
      'model': {'conv_features': list(model.conv_features), 'feature_dim': model.feature_dim,
                'num_classes': model.num_classes},
      'test_accuracy': None,
      'train_accuracy': None,
      'num_train': int(counts[0]),
      'num_test': int(counts[1]),
      'seed': FLAGS.seed,
      'training': {'train_steps': FLAGS.train_steps, 'batch_size': FLAGS.batch_size,
                   'learning_rate': FLAGS.learning_rate, 'schedule': 'cosine decay to 0', 'optimizer': 'adam',
                   'max_shift': FLAGS.max_shift, **training, 'dropout_rate': FLAGS.dropout_rate,
                   'seconds': round(seconds, 1), 'device': str(jax.devices()[0].device_kind)},
      **digits.provenance(module),
      'sha256': digits.sha256_of_file(out),
  }
  with open(digits.info_path(out), 'w') as f:
    json.dump(info, f, indent=2)
  info['test_accuracy'], info['train_accuracy'] = measure(out)
  with open(digits.info_path(out), 'w') as f:
    json.dump(info, f, indent=2)
    f.write('\n')
  return info


def define_flags(datasets: tuple[str, ...] = tuple(OUTPUT_PREFIX)) -> None:
  """The command's flags, defined only when it runs as a program (train_domain_classifier's too, with its own
  `datasets`, the first the default): `train` is imported by tests and research code beside other commands
  (gan_jax.sample also has --out), whose flags would collide at import."""
  flags.DEFINE_enum('dataset', datasets[0], list(datasets), 'TFDS dataset to train on.')
  flags.DEFINE_string('data_dir', None, 'TFDS data_dir (default: $TFDS_DATA_DIR, else ~/tensorflow_datasets).')
  flags.DEFINE_integer('resolution', 32, 'Side of the images the classifier reads.')
  flags.DEFINE_enum('resize_method', 'resize', list(image_data.RESIZE_METHODS), "As config.data.resize ('pad' "
                    'centres mnist 28x28 in 32x32).')
  flags.DEFINE_string('out', None, 'The .npz to write (default: weights/<digits|mnist>_classifier_r<res>.npz).')
  flags.DEFINE_integer('seed', 0, 'Seed of initialisation, batch order, shifts and dropout.')
  flags.DEFINE_integer('train_steps', 3000, 'Optimizer steps.')
  flags.DEFINE_integer('batch_size', 64, 'Examples per step.')
  flags.DEFINE_float('learning_rate', 1e-3, 'Adam learning rate, decayed to 0 by a cosine.')
  flags.DEFINE_integer('max_shift', 3, 'Largest random shift in pixels, each way, along each axis.')
  flags.DEFINE_float('dropout_rate', 0.3, 'Dropout on the features during training.')


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  tf.config.experimental.set_visible_devices([], 'GPU')  # TensorFlow must not take the accelerators' memory.
  out = FLAGS.out or os.path.join(os.path.dirname(digits.__file__), 'weights',
                                  f'{OUTPUT_PREFIX[FLAGS.dataset]}_classifier_r{FLAGS.resolution}.npz')
  load = lambda split: image_data.load_images(FLAGS.dataset, split, FLAGS.data_dir, FLAGS.resolution, 1,
                                              FLAGS.resize_method)
  train_images, train_labels = load('train')
  test_images, test_labels = load('test')
  logging.info('%s: %d train and %d test images at %dx%d', FLAGS.dataset, len(train_images), len(test_images),
               FLAGS.resolution, FLAGS.resolution)

  model = digits.DigitClassifier(dropout_rate=FLAGS.dropout_rate)
  start = time.perf_counter()
  params = train(train_images, train_labels, model, FLAGS.seed, FLAGS.train_steps, FLAGS.batch_size,
                 FLAGS.learning_rate, FLAGS.max_shift)
  train_seconds = time.perf_counter() - start

  def measure(path):
    classify = digits.load_digit_classifier(path)
    return accuracy(classify, test_images, test_labels), accuracy(classify, train_images, train_labels)

  description = {'version': FORMAT_VERSION, 'dataset': FLAGS.dataset, 'resolution': FLAGS.resolution,
                 'channels': 1, 'resize_method': FLAGS.resize_method, 'input_range': INPUT_RANGE}
  info = save_classifier(out, params, model, description, (len(train_images), len(test_images)), train_seconds,
                         measure, 'gan_jax.evaluation.train_digit_classifier')
  logging.info('Trained in %.1f s; test accuracy %.4f (%d images), train accuracy %.4f; wrote %s and %s',
               train_seconds, info['test_accuracy'], len(test_images), info['train_accuracy'], out,
               digits.info_path(out))


if __name__ == '__main__':
  define_flags()
  app.run(main)
