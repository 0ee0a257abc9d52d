"""Draws from a trained run: `python -m gan_jax.sample --config experiments/X.py --workdir DIR --mode MODE`.

Modes (each writes one PNG, `--out`, default DIR/plots/<mode>.png):
- grid: a grid of samples; with `--labels 3,7` a conditional generator draws one row per label.
- interpolate: each row walks from one latent to another (`--method slerp|linear`), the other inputs fixed.
- arithmetic: DCGAN's vector arithmetic on averaged latents, G(mean z_a - mean z_b + mean z_c), with `--a`, `--b`,
  `--c` indices into the run's fixed evaluation latents (the samples of `--mode grid` without labels, numbered row
  by row from 0); the first image is the result, the rest add small noise to it as in the DCGAN paper.
The config must be the one the run was trained with (the same file and overrides). Runs of the other families
that generate images (config.model 'lapgan', 'progan', ...: those with a `Family.sample`) have the grid mode without
labels: a Progressive GAN's checkpoint restores into the stage it was saved in and draws at that stage's resolution
and alpha.
"""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app, flags  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax import console, data, families, latent_space, validation  # noqa: E402
from gan_jax.cli import parse_flags, usage_error, write_picture  # noqa: E402  (defines --config and --workdir)
from gan_jax.evaluation import evaluator, plots  # noqa: E402
from gan_jax.state import TrainState  # noqa: E402

MODES = ('grid', 'interpolate', 'arithmetic')
ARITHMETIC_NOISE = 0.25  # The spread of the DCGAN paper's neighbours of the arithmetic result, relative to z's.

FLAGS = flags.FLAGS
flags.DEFINE_enum('mode', 'grid', MODES, 'What to draw.')
flags.DEFINE_list('labels', [], 'grid: class labels, one row each (conditional generators).')
flags.DEFINE_integer('rows', 8, 'Rows (and columns) of the picture.')
flags.DEFINE_enum('method', 'slerp', latent_space.INTERPOLATION_METHODS, 'interpolate: the path between latents.')
flags.DEFINE_list('a', [], 'arithmetic: indices of the evaluation latents averaged into z_a.')
flags.DEFINE_list('b', [], 'arithmetic: indices averaged into z_b (subtracted).')
flags.DEFINE_list('c', [], 'arithmetic: indices averaged into z_c.')
flags.DEFINE_string('out', None, 'Output PNG (default: WORKDIR/plots/<mode>.png).')


def restore_run(config: ml_collections.ConfigDict, workdir: str) -> tuple[TrainState, object]:
  """The latest checkpoint of the run in `workdir` and its dataset."""
  directory = os.path.join(workdir, 'checkpoints')
  # Before the dataset, whose first use may prepare it: an empty workdir writes nothing.
  if not os.path.isdir(directory):
    raise FileNotFoundError(f'--workdir: no checkpoint in {directory}')
  dataset = data.make_dataset(config.data)
  state = families.restore_run(config, workdir, dataset)
  return state, dataset


def _indices(values: list[str], name: str, limit: int) -> np.ndarray:
  try:
    indices = np.array([int(v) for v in values])
  except ValueError:
    raise ValueError(f'--{name}: expected comma-separated integers, got {",".join(values)!r}') from None
  if len(indices) == 0 or indices.min() < 0 or indices.max() >= limit:
    raise ValueError(f'--{name}: give indices in [0, {limit})')
  return indices


def draw_grid(state: TrainState, config, rows: int, labels: list[str]) -> np.ndarray:
  """Samples from the run's evaluation noise; with `labels`, one row per label and the same latents down each
  column, so a column shows one latent drawn as every class. Families other than 'gan' draw with their
  `Family.sample` from a key of the run's seed."""
  if config.model != 'gan':
    if labels:
      raise ValueError(f'--labels: only config.model=gan runs draw by label, not {config.model!r}')
    key = jax.random.fold_in(jax.random.key(config.seed), evaluator.EVAL_SEED_TAG)
    return plots.image_grid(families.get(config.model).sample(config, state, key, rows * rows), rows)
  if not labels:
    return plots.image_grid(evaluator.generate_from(state, evaluator.eval_noise(state, config, rows * rows)), rows)
  if not state.noise.num_classes:
    raise ValueError('--labels: this generator is not conditional (config.cond.enabled is False)')
  wanted = jnp.asarray(_indices(labels, 'labels', state.noise.num_classes))
  noise = evaluator.class_rows_noise(state, config, wanted, rows)
  return plots.image_grid(evaluator.generate_from(state, noise), len(wanted), rows)


def draw_interpolations(state: TrainState, config, rows: int, method: str) -> np.ndarray:
  """Row r walks from evaluation latent 2r to 2r + 1 in `rows` steps; labels and codes are those of 2r."""
  noise = evaluator.eval_noise(state, config, 2 * rows)
  paths = jax.vmap(lambda z0, z1: latent_space.interpolate(z0, z1, rows, method))(noise['z'][::2], noise['z'][1::2])
  walked = {k: jnp.repeat(v[::2], rows, axis=0) for k, v in noise.items()}
  walked['z'] = paths.reshape(rows * rows, -1)
  return plots.image_grid(evaluator.generate_from(state, walked), rows)


def draw_arithmetic(state: TrainState, config, rows: int, a: list[str], b: list[str], c: list[str]) -> np.ndarray:
  """G(mean z_a - mean z_b + mean z_c) and its noisy neighbours; the other inputs are those of z_a's first."""
  count = rows * rows
  noise = evaluator.eval_noise(state, config, count)
  groups = [noise['z'][_indices(v, name, count)] for v, name in ((a, 'a'), (b, 'b'), (c, 'c'))]
  result = latent_space.vector_arithmetic(*groups)
  jitter = ARITHMETIC_NOISE * jax.random.normal(jax.random.key(0), (count, result.shape[0]))
  first = int(a[0])
  arithmetic = {k: jnp.repeat(v[first:first + 1], count, axis=0) for k, v in noise.items()}
  arithmetic['z'] = result[None] + jitter.at[0].set(0.0)
  return plots.image_grid(evaluator.generate_from(state, arithmetic), rows)


def main(argv: list[str]) -> None:
  console.hold_log_records()
  if len(argv) > 1:
    usage_error(f'unexpected arguments {argv[1:]}')
  config = FLAGS.config
  if config.data.name not in data.IMAGE_DATASETS:
    usage_error(f'config.data.name: sampling pictures needs an image dataset, not {config.data.name!r}')
  workdir = FLAGS.workdir
  if not workdir:
    usage_error('--workdir is required: the run to sample from')
  try:
    families.checkpoint_directory(workdir)  # A run never trained is refused in seconds, before TensorFlow loads.
  except FileNotFoundError as error:
    usage_error(str(error))
  console.log_to_workdir(workdir, jax.process_index())  # Appends to the training run's log.
  console.import_tensorflow()
  try:
    validation.validate(config, num_devices=1)
    if config.model != 'gan' and (FLAGS.mode != 'grid' or families.get(config.model).sample is None):
      raise ValueError(f'--mode {FLAGS.mode}: a config.model={config.model!r} run '
                       + ('has the grid mode only' if families.get(config.model).sample else 'draws no images'))
    state, _ = restore_run(config, workdir)
    if FLAGS.mode == 'grid':
      image = draw_grid(state, config, FLAGS.rows, FLAGS.labels)
    elif FLAGS.mode == 'interpolate':
      image = draw_interpolations(state, config, FLAGS.rows, FLAGS.method)
    else:
      image = draw_arithmetic(state, config, FLAGS.rows, FLAGS.a, FLAGS.b, FLAGS.c)
  except (ValueError, FileNotFoundError) as error:
    usage_error(str(error))
  write_picture(image, FLAGS.out or os.path.join(workdir, 'plots', f'{FLAGS.mode}.png'), int(state.step))


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
