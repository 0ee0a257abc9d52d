"""Draws from a trained StackGAN run: images for captions you write, or the interpolation between two captions.

  python -m gan_jax.sample_captions --config experiments/stackgan_mnist.py --workdir DIR \
      --captions='a large red seven at the centre on a blue background' \
      --captions='a small white two at the top on a black background'
  python -m gan_jax.sample_captions --config experiments/stackgan_mnist.py --workdir DIR --mode interpolate \
      --captions='a large red seven at the centre on a blue background' \
      --captions='a large green seven at the centre on a blue background'
  python -m gan_jax.sample_captions --config experiments/stackgan_emoji.py --workdir DIR \
      --captions='red apple' --captions='shaking face'    # emoji_names: names as captions

`grid` (the default): one row per caption, `--rows` samples each (stage I above stage II, each row's caption on its
left). `interpolate`: the paper's figure, `--rows` rows (one z each) of `--steps` images from the first caption's
embedding to the second's, conditioned on the augmentation's mean. Words outside the captions' vocabulary are read
as the unknown word, not refused. Writes one PNG (`--out`, default DIR/plots/captions_<mode>.png). The config must be
the one the run was trained with.
"""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app, flags  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax import console, families, validation  # noqa: E402
from gan_jax.cli import parse_flags, usage_error, write_picture  # noqa: E402  (defines --config and --workdir)
from gan_jax.families import stackgan  # noqa: E402

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command's own flags, defined only when it runs as a program, so that its functions import beside
  gan_jax.sample's (which has --mode, --rows and --out too)."""
  flags.DEFINE_enum('mode', 'grid', ('grid', 'interpolate'), 'What to draw.')
  flags.DEFINE_multi_string('captions', [], 'Captions (grid: any number; interpolate: two).')
  flags.DEFINE_integer('rows', 4, 'grid: samples per caption; interpolate: rows (one z each).')
  flags.DEFINE_integer('steps', 8, 'interpolate: images from the first caption to the second.')
  flags.DEFINE_integer('seed', 0, 'The noise.')
  flags.DEFINE_string('out', None, 'Output PNG (default: WORKDIR/plots/captions_<mode>.png).')


def restore_run(config, workdir: str):
  """The latest checkpoint of the StackGAN run in `workdir`, in the stage it was saved in (its captions are encoded
  by the checkpoint's own text encoder, so no dataset is read)."""
  return families.restore_run(config, workdir, None)


def draw_grid(config, state, texts: list[str], rows: int, key: jax.Array) -> np.ndarray:
  """Per caption, `rows` samples of stage I (upsampled to stage II's side) and below them stage II's."""
  low, high = stackgan.images_from_captions(config, state, [t for t in texts for _ in range(rows)], key)
  low = np.repeat(np.repeat(low, 2, axis=1), 2, axis=2) if high is not None else low
  lines = [low.reshape(len(texts), rows, *low.shape[1:])]
  if high is not None:
    lines.append(high.reshape(len(texts), rows, *high.shape[1:]))
  images = np.stack(lines, axis=1).reshape(-1, rows, *lines[0].shape[2:])
  labels = [f'{t} ({stage})' for t in texts for stage in ('stage I', 'stage II')[:len(lines)]]
  return stackgan.captioned_grid(images, labels)


def main(argv: list[str]) -> None:
  console.hold_log_records()
  if len(argv) > 1:
    usage_error(f'unexpected arguments {argv[1:]}')
  config, workdir, texts = FLAGS.config, FLAGS.workdir, FLAGS.captions
  if config.model != 'stackgan':
    usage_error(f'config.model: sampling from captions needs a stackgan run, not {config.model!r}')
  if not workdir:
    usage_error('--workdir is required: the run to sample from')
  if not texts or (FLAGS.mode == 'interpolate' and len(texts) != 2):
    usage_error('--captions: give ' + ('two captions' if FLAGS.mode == 'interpolate' else 'one or more captions'))
  try:
    families.checkpoint_directory(workdir)  # A run never trained is refused in seconds, before TensorFlow loads.
  except FileNotFoundError as error:
    usage_error(str(error))
  console.log_to_workdir(workdir, jax.process_index())  # Appends to the training run's log.
  console.import_tensorflow()
  key = jax.random.key(FLAGS.seed)
  try:
    validation.validate(config, num_devices=1)
    state = restore_run(config, workdir)
    if FLAGS.mode == 'grid':
      image = draw_grid(config, state, texts, FLAGS.rows, key)
    else:
      figure = stackgan.interpolate_captions(config, state, texts[0], texts[1], FLAGS.steps, FLAGS.rows, key)
      image = stackgan.captioned_grid(figure, [f'{texts[0]} -> {texts[1]}'] + [''] * (FLAGS.rows - 1))
  except (ValueError, FileNotFoundError) as error:
    usage_error(str(error))
  write_picture(image, FLAGS.out or os.path.join(workdir, 'plots', f'captions_{FLAGS.mode}.png'), int(state.step))


if __name__ == '__main__':
  define_flags()
  app.run(main, flags_parser=parse_flags)
