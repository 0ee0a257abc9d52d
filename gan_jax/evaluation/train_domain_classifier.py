"""Trains the domain classifier of `domain_classifier.py` on emoji_styles and writes its weights (.npz) and record.

  python -m gan_jax.evaluation.train_domain_classifier [--data_dir DIR] \
      --out gan_jax/evaluation/weights/emoji_styles_classifier_r32.npz

Both styles of the train split (2 x 1,217 images at 32x32, read as CycleGAN reads them: `images.load_paired`, then
uint8 / 127.5 - 1), each labelled by style and subject group (`domain_classifier.label`), trained as the digit
classifiers are (`train_digit_classifier.train`: Adam with a cosine decay, random shifts filled with white, dropout
on the features). Accuracy is measured on the 160 test emoji in both styles, of the joint class and of the style and
the group alone. Everything random comes from `--seed`.
"""

import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app, flags, logging  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

from gan_jax import data  # noqa: E402
from gan_jax.data import images as image_data  # noqa: E402
from gan_jax.evaluation import digits, domain_classifier, train_digit_classifier  # noqa: E402

FORMAT_VERSION = 1
DATASET = 'emoji_styles'

FLAGS = flags.FLAGS


def load_split(split: str, data_dir: str | None, resolution: int) -> tuple[np.ndarray, np.ndarray]:
  """Both styles of a split as uint8 [2N, R, R, 3] (openmoji then noto) and their labels [2N]."""
  features = data.PAIRED_DATASETS[DATASET].features
  images = image_data.load_paired(DATASET, split, features, data_dir, resolution, 3)
  builder = tfds.builder(DATASET, data_dir=image_data.resolve_data_dir(data_dir))
  # The same ordered read as load_paired's, for the code points.
  code_points = [x['code_point'].decode() for x in tfds.as_numpy(builder.as_dataset(split=split,
                                                                                     shuffle_files=False))]
  labels = [domain_classifier.label(style, c) for style in range(2) for c in code_points]
  return np.concatenate([images[f] for f in features]), np.asarray(labels, np.int32)


def accuracies(classifier: domain_classifier.DomainClassifier, images: np.ndarray, labels: np.ndarray) -> dict:
  predicted = np.argmax(classifier(images)[0], axis=1)
  groups = domain_classifier.NUM_GROUPS
  return {'joint': float(np.mean(predicted == labels)),
          'style': float(np.mean(predicted // groups == labels // groups)),
          'group': float(np.mean(predicted % groups == labels % groups))}


def define_flags() -> None:
  """The command's flags, defined only when it runs as a program (see `train_digit_classifier.define_flags`)."""
  # The training flags are train_digit_classifier's (--data_dir, --resolution, --out, --seed, --train_steps,
  # --batch_size, --learning_rate, --max_shift, --dropout_rate; its --dataset is not read): one definition each.
  train_digit_classifier.define_flags()
  FLAGS.set_default('max_shift', 2)
  flags.DEFINE_integer('feature_dim', 64, 'Width of the feature layer (FD fits a covariance of this size to 160 '
                       'test images: keep it well below that).')


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  tf.config.experimental.set_visible_devices([], 'GPU')
  out = FLAGS.out or os.path.join(os.path.dirname(digits.__file__), 'weights',
                                  f'{DATASET}_classifier_r{FLAGS.resolution}.npz')
  train_images, train_labels = load_split('train', FLAGS.data_dir, FLAGS.resolution)
  test_images, test_labels = load_split('test', FLAGS.data_dir, FLAGS.resolution)
  num_classes = 2 * domain_classifier.NUM_GROUPS
  logging.info('%s: %d train and %d test images, class counts %s', DATASET, len(train_images), len(test_images),
               np.bincount(train_labels, minlength=num_classes).tolist())
  model = digits.DigitClassifier(feature_dim=FLAGS.feature_dim, num_classes=num_classes,
                                 dropout_rate=FLAGS.dropout_rate)
  start = time.perf_counter()
  params = train_digit_classifier.train(train_images, train_labels, model, FLAGS.seed, FLAGS.train_steps,
                                        FLAGS.batch_size, FLAGS.learning_rate, FLAGS.max_shift, background=1.0)
  train_seconds = time.perf_counter() - start
  def measure(path):
    classifier = domain_classifier.load_domain_classifier(path)
    return accuracies(classifier, test_images, test_labels), accuracies(classifier, train_images, train_labels)

  description = {'version': FORMAT_VERSION, 'dataset': DATASET, 'resolution': FLAGS.resolution, 'channels': 3,
                 'input_range': train_digit_classifier.INPUT_RANGE,
                 'classes': 'style * num_groups + group; style 0 openmoji, 1 noto; groups ' + ', '.join(
                     [g[0] for g in domain_classifier.GROUPS] + ['other'])}
  info = train_digit_classifier.save_classifier(
      out, params, model, description, (len(train_images), len(test_images)), train_seconds, measure,
      'gan_jax.evaluation.train_domain_classifier', shift_fill='white')
  logging.info('Trained in %.1f s; test accuracy %s, train %s; wrote %s', train_seconds, info['test_accuracy'],
               info['train_accuracy'], out)


if __name__ == '__main__':
  define_flags()
  app.run(main)
