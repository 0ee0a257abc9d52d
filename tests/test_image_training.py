"""DCGAN on the offline digits, end to end: grids, checkpoints, exact resume, and the loss family on images."""

import glob
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from gan_jax.config import dcgan_config, smoke
from gan_jax.train import train_and_evaluate
from tests.test_train import ENV, ROOT, assert_same_params, load_state


def tiny_dcgan(data_dir, num_steps=20, **loss):
  config = smoke(dcgan_config())
  config.data.data_dir = data_dir
  config.gen.base_channels = config.disc.base_channels = 8
  config.gen.latent_dim = 16
  config.train.batch_size = 16
  config.train.num_steps = num_steps
  config.eval.grid_rows = 4
  config.loss.update(loss)
  return config


@pytest.mark.slow  # CI runs the main command in test_train and trains DCGANs on images in process.
def test_main_command_trains_dcgan_on_digits(tmp_path, data_dir):
  workdir = tmp_path / 'run'
  command = [sys.executable, '-m', 'gan_jax.main', '--config', os.path.join(ROOT, 'experiments/dcgan_digits.py:smoke'),
             '--workdir', str(workdir), f'--config.data.data_dir={data_dir}', '--config.gen.base_channels=8',
             '--config.disc.base_channels=8', '--config.train.batch_size=16', '--config.gen.ema_decay=0.99']
  result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  grids = sorted(glob.glob(str(workdir / 'plots' / '*.png')))
  assert [os.path.basename(g) for g in grids] == ['samples_0000020.png', 'samples_0000040.png']
  image = __import__('matplotlib.pyplot').pyplot.imread(grids[-1])
  assert image.shape[:2] == (8 * 17 + 1, 8 * 17 + 1)  # 8 x 8 samples of 16 x 16 with 1-pixel gaps.
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['20', '40']
  metrics = json.loads((workdir / 'metrics.json').read_text())
  assert metrics['step'] == 40


@pytest.mark.slow  # A further resume (the suite keeps one per path); python -m pytest -n 2 -m slow.
def test_digits_run_resumes_bit_for_bit(tmp_path, data_dir):
  config = tiny_dcgan(data_dir, num_steps=40)
  train_and_evaluate(config, str(tmp_path / 'whole'))
  train_and_evaluate(tiny_dcgan(data_dir, num_steps=30), str(tmp_path / 'split'))
  train_and_evaluate(config, str(tmp_path / 'split'))
  whole, split = load_state(tmp_path / 'whole', config), load_state(tmp_path / 'split', config)
  assert_same_params(split, whole)
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)),
               split.nets['g'].batch_stats, whole.nets['g'].batch_stats)


def with_gradient_penalty(config, weight=10.0):
  config.loss.d.gradient_penalty = weight
  config.disc.norm = 'layer'  # Batch norm would couple the examples the penalty takes one by one.
  return config


# The losses' values are in test_losses; CI trains the Wasserstein critic with its penalty under the unrolled G loss
# in the stacked-digits run below.
@pytest.mark.slow
@pytest.mark.parametrize('name,gradient_penalty', [('hinge', 0.0), ('least_squares', 0.0), ('wasserstein', 10.0)])
def test_every_loss_trains_a_dcgan_with_finite_losses(tmp_path, data_dir, name, gradient_penalty):
  config = tiny_dcgan(data_dir, name=name)
  if gradient_penalty:
    with_gradient_penalty(config, gradient_penalty)
  config.unroll.steps = 1  # The unrolled G loss must work with every loss.
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  assert final['step'] == 20


@pytest.mark.slow  # CI unrolls in the main command and test_unroll, counts modes in test_digit_metrics.
def test_unrolled_wgan_gp_on_stacked_digits_trains_and_reports_modes(tmp_path, data_dir):
  # G's gradient goes through 2 critic updates, each a gradient of a penalty that is itself a norm of a gradient.
  # train_and_evaluate raises NonFiniteLossError on any NaN or Inf loss.
  config = with_gradient_penalty(tiny_dcgan(data_dir, num_steps=20, name='wasserstein'))
  config.data.name = 'stacked_digits'
  config.unroll.steps = 2
  config.eval.num_samples = 300
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  assert final['step'] == 20
  assert 1 <= final['modes_covered'] <= 300 and final['num_samples'] == 300
  assert 0 <= final['kl_to_uniform'] <= np.log(1000) + 1e-9


@pytest.mark.slow  # CI counts modes in test_digit_metrics and trains on the offline MNIST (below).
def test_stacked_mnist_experiment_trains_and_counts_modes_at_28(tmp_path, offline_data_dir):
  from tests.test_experiments import load
  config = load(os.path.join(ROOT, 'experiments', 'unrolled_stacked.py')).get_config('smoke')
  config.data.data_dir = offline_data_dir
  config.unroll.steps = 2
  config.train.batch_size = 32
  config.train.num_steps = config.train.eval_every_steps = config.train.checkpoint_every_steps = 10
  config.eval.num_samples = 500
  config.eval.grid_rows = 4
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  assert final['step'] == 10 and final['num_samples'] == 500
  assert 1 <= final['modes_covered'] <= 500 and 0 <= final['kl_to_uniform'] <= np.log(1000) + 1e-9
  grid = __import__('matplotlib.pyplot').pyplot.imread(str(tmp_path / 'run' / 'plots' / 'samples_0000010.png'))
  assert grid.shape[:2] == (4 * 29 + 1, 4 * 29 + 1)  # 4 x 4 stacked digits of 28 x 28 with 1-pixel gaps.


# CI trains on MNIST; Fashion-MNIST takes the same path (its shipped classifier's accuracy is a fixed file's).
@pytest.mark.parametrize('name, classifier_accuracy', [('mnist', 0.98),
                                                       pytest.param('fashion_mnist', 0.90, marks=pytest.mark.slow)])
def test_offline_28x28_datasets_train_and_their_classifiers_score_real_images(tmp_path, name, classifier_accuracy,
                                                                              offline_dir_of):
  from gan_jax.data import images
  from gan_jax.evaluation import digits
  offline_data_dir = offline_dir_of(name)
  config = tiny_dcgan(offline_data_dir, num_steps=10)
  config.data.name, config.data.resolution = name, 28
  config.train.eval_every_steps = config.train.checkpoint_every_steps = 10
  config.eval.num_samples = 200
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  assert final['step'] == 10 and np.isfinite(final['classifier_fd'])
  # The shipped classifier of each dataset, on its held-out split as the GANs see it.
  test_x, test_y = images.load_images(name, 'test', offline_data_dir, 28, 1)
  classifier = digits.load_digit_classifier(name)
  assert classifier.info['dataset'] == name and classifier.info['resolution'] == 28
  accuracy = float(np.mean(classifier.predict(test_x) == test_y))
  assert accuracy == pytest.approx(classifier.info['test_accuracy'], abs=1e-6) and accuracy > classifier_accuracy


def test_channel_grid_shows_each_stacked_digit_in_grey_in_order():
  from gan_jax.evaluation import plots
  images = np.full((8, 4, 5, 3), -1.0, np.float32)
  for i in range(8):
    for channel in range(3):
      images[i, :, :, channel] = -1 + 0.08 * (3 * i + channel)  # Every (image, channel) its own grey.
  grid = plots.channel_grid(images, rows=2, per_row=4)
  # 2 rows of 4 images, each 3 grey tiles and a white separator (none after the last): 15 tiles of 5 + 1 pixels.
  assert grid.shape == (2 * 5 + 1, 15 * 6 + 1, 3)
  for i in range(8):
    row, column = divmod(i, 4)
    for channel in range(3):
      tile = grid[1 + row * 5, 1 + (column * 4 + channel) * 6]
      expected = round(0.08 * (3 * i + channel) * 127.5)
      assert np.all(np.abs(tile.astype(int) - expected) <= 1), (i, channel)
    if column < 3:
      assert np.all(grid[1 + row * 5, 1 + (column * 4 + 3) * 6] == 255)  # The separator.
