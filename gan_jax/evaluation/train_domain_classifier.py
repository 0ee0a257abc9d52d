"""Trains a domain classifier of `domain_classifier.py` and writes its weights (.npz) and record (.json).

  python -m gan_jax.evaluation.train_domain_classifier [--data_dir DIR]        # emoji_styles
  python -m gan_jax.evaluation.train_domain_classifier --dataset satellite_maps [--data_dir DIR]

Both domains of the train split (emoji_styles: 2 x 1,217 images; satellite_maps: 2 x 296 tiles), at 32x32, read as
CycleGAN reads them (`images.load_paired`, then uint8 / 127.5 - 1), each labelled by style and the property of
`domain_classifier.LABELS` (the emoji's Unicode group, the tile's land-fraction bin), trained as the digit classifiers
are (`train_digit_classifier.train`: Adam with a cosine decay, random shifts, dropout on the features). Accuracy is
measured on the test split in both styles (160 emoji, 38 tiles), of the joint class and of the style and the
property alone. Everything random comes from `--seed`. `DEFAULTS` holds each dataset's flag values that differ
(a flag given on the command line wins).
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
# Each dataset's values of the flags that differ from train_digit_classifier's defaults.
DEFAULTS = {
    # Shifts filled with the emoji's white background; 64 features for FD over the 160 test emoji.
    'emoji_styles': {'max_shift': 2, 'feature_dim': 64},
    # A tile has no background to fill a shift with (the filled border would be a feature of neither domain); 16
    # features, because FD fits a mean and a 16 x 16 covariance to the 38 test tiles: at 64 the covariance of 38
    # images would be singular and FD mostly the estimate's noise.
    'satellite_maps': {'max_shift': 0, 'feature_dim': 16},
}
# What fills the gap a random shift opens (in [-1, 1]), by name for the record (given --max_shift > 0).
SHIFT_FILL = {'emoji_styles': ('white', 1.0), 'satellite_maps': ('black', -1.0)}

FLAGS = flags.FLAGS


def load_split(dataset: str, split: str, data_dir: str | None, resolution: int) -> tuple[np.ndarray, np.ndarray]:
  """Both domains of a split as uint8 [2N, R, R, 3] (the dataset's first image feature, then its second) and their
  labels [2N] (`domain_classifier.LABELS`)."""
  features = data.PAIRED_DATASETS[dataset].features
  labels = domain_classifier.LABELS[dataset]
  images = image_data.load_paired(dataset, split, features, data_dir, resolution, 3)
  builder = tfds.builder(dataset, data_dir=image_data.resolve_data_dir(data_dir))
  # The same ordered read as load_paired's, for the property (code points are bytes, land fractions floats).
  values = [x[labels.feature] for x in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))]
  values = [v.decode() if isinstance(v, bytes) else float(v) for v in values]
  classes = [labels.label(style, v) for style in range(2) for v in values]
  return np.concatenate([images[f] for f in features]), np.asarray(classes, np.int32)


def accuracies(classifier: domain_classifier.DomainClassifier, images: np.ndarray, labels: np.ndarray,
               property_name: str = 'group') -> dict:
  """The fraction of `images` whose predicted class is `labels`' ('joint'), and whose style and property alone
  are (the latter under `property_name`, `domain_classifier.Labels.name`)."""
  num_classes = classifier.model.num_classes
  bins = num_classes // 2
  predicted = np.argmax(classifier(images)[0], axis=1)
  return {'joint': float(np.mean(predicted == labels)),
          'style': float(np.mean(predicted // bins == labels // bins)),
          property_name: float(np.mean(predicted % bins == labels % bins))}


def define_flags() -> None:
  """The command's flags, defined only when it runs as a program (see `train_digit_classifier.define_flags`)."""
  # The training flags are train_digit_classifier's (--dataset among this command's datasets, --data_dir,
  # --resolution, --out, --seed, --train_steps, --batch_size, --learning_rate, --max_shift, --dropout_rate): one
  # definition each.
  train_digit_classifier.define_flags(tuple(domain_classifier.LABELS))
  flags.DEFINE_integer('feature_dim', 64, 'Width of the feature layer (FD fits a covariance of this size to the '
                       'test images: keep it well below their number).')


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  tf.config.experimental.set_visible_devices([], 'GPU')
  dataset = FLAGS.dataset
  for name, value in DEFAULTS[dataset].items():
    if FLAGS[name].using_default_value:
      FLAGS[name].value = value
  out = FLAGS.out or os.path.join(os.path.dirname(digits.__file__), 'weights',
                                  f'{dataset}_classifier_r{FLAGS.resolution}.npz')
  train_images, train_labels = load_split(dataset, 'train', FLAGS.data_dir, FLAGS.resolution)
  test_images, test_labels = load_split(dataset, 'test', FLAGS.data_dir, FLAGS.resolution)
  labels = domain_classifier.LABELS[dataset]
  num_classes = 2 * len(labels.bins)
  logging.info('%s: %d train and %d test images, class counts %s', dataset, len(train_images), len(test_images),
               np.bincount(train_labels, minlength=num_classes).tolist())
  model = digits.DigitClassifier(feature_dim=FLAGS.feature_dim, num_classes=num_classes,
                                 dropout_rate=FLAGS.dropout_rate)
  fill_name, fill = SHIFT_FILL[dataset]
  start = time.perf_counter()
  params = train_digit_classifier.train(train_images, train_labels, model, FLAGS.seed, FLAGS.train_steps,
                                        FLAGS.batch_size, FLAGS.learning_rate, FLAGS.max_shift, background=fill)
  train_seconds = time.perf_counter() - start

  def measure(path):
    classifier = domain_classifier.load_domain_classifier(path)
    return (accuracies(classifier, test_images, test_labels, labels.name),
            accuracies(classifier, train_images, train_labels, labels.name))

  styles = data.PAIRED_DATASETS[dataset].features
  description = {'version': FORMAT_VERSION, 'dataset': dataset, 'resolution': FLAGS.resolution, 'channels': 3,
                 'input_range': train_digit_classifier.INPUT_RANGE,
                 'classes': (f'style * {len(labels.bins)} + {labels.name}; style 0 {styles[0]}, 1 {styles[1]}; '
                             f'{labels.name}s ' + ', '.join(labels.bins))}
  info = train_digit_classifier.save_classifier(
      out, params, model, description, (len(train_images), len(test_images)), train_seconds, measure,
      'gan_jax.evaluation.train_domain_classifier', shift_fill=fill_name if FLAGS.max_shift else 'none')
  logging.info('Trained in %.1f s; test accuracy %s, train %s; wrote %s', train_seconds, info['test_accuracy'],
               info['train_accuracy'], out)


if __name__ == '__main__':
  define_flags()
  app.run(main)
