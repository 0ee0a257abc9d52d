"""Conditional, AC-, Info- and semi-supervised GANs and the normalisations, end to end on the offline digits; and
the sampling command on a trained run."""

import json
import os
import subprocess
import sys

import jax
import matplotlib.pyplot as plt
import numpy as np
import pytest

from gan_jax.config import ConfigError
from gan_jax.train import train_and_evaluate
from tests.test_image_training import tiny_dcgan
from tests.test_train import ENV, ROOT


@pytest.fixture(scope='module')
def conditional_run(tmp_path_factory, data_dir):
  """A conditional DCGAN with a projection discriminator, trained a few steps."""
  config = tiny_dcgan(data_dir)
  config.cond.enabled = True
  config.cond.disc = 'projection'
  workdir = str(tmp_path_factory.mktemp('cgan'))
  final = train_and_evaluate(config, workdir)
  return config, workdir, final


def test_conditional_run_scores_how_often_samples_are_the_digit_asked_for(conditional_run):
  _, workdir, final = conditional_run
  assert 0.0 <= final['conditional_accuracy'] <= 1.0
  grid = plt.imread(os.path.join(workdir, 'plots', 'samples_0000020.png'))
  assert grid.shape[:2] == (4 * 17 + 1, 4 * 17 + 1)


@pytest.mark.slow  # A further end-to-end check, beside the suite's: python -m pytest -n 2 -m slow.
def test_sample_command_writes_one_row_per_label(conditional_run, tmp_path):
  config, workdir, _ = conditional_run
  out = tmp_path / 'grid.png'
  command = [sys.executable, '-m', 'gan_jax.sample', '--config', os.path.join(ROOT, 'experiments/cgan_digits.py:smoke'),
             '--workdir', workdir, f'--config.data.data_dir={config.data.data_dir}', '--config.gen.base_channels=8',
             '--config.disc.base_channels=8', '--config.gen.latent_dim=16', '--config.train.batch_size=16',
             '--config.cond.disc=projection', '--rows=5', '--labels=1,3,7', f'--out={out}']
  result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert plt.imread(out).shape[:2] == (3 * 17 + 1, 5 * 17 + 1)  # One row per label, five columns.


def test_interpolations_and_latent_arithmetic_from_a_run(conditional_run):
  from gan_jax import sample
  config, workdir, _ = conditional_run
  state, _ = sample.restore_run(config, workdir)
  assert int(state.step) == 20
  assert sample.draw_interpolations(state, config, 5, 'linear').shape[:2] == (5 * 17 + 1, 5 * 17 + 1)
  assert sample.draw_arithmetic(state, config, 4, ['0', '1'], ['2'], ['3']).shape[:2] == (4 * 17 + 1, 4 * 17 + 1)
  with pytest.raises(ValueError, match=r'--labels: give indices in \[0, 10\)'):
    sample.draw_grid(state, config, 4, ['12'])
  with pytest.raises(ValueError, match='--a: expected comma-separated integers'):
    sample.draw_arithmetic(state, config, 4, ['x'], ['2'], ['3'])


@pytest.mark.slow
def test_infogan_writes_code_sweeps_and_code_accuracy(tmp_path, data_dir):
  config = tiny_dcgan(data_dir)
  config.info.categories = 10
  config.info.continuous = 2
  # The paper's weights: lambda = 1 for the categorical code, 0.1 for the continuous ones.
  config.loss.d.info_categorical = config.loss.g.info_categorical = 1.0
  config.loss.d.info_continuous = config.loss.g.info_continuous = 0.1
  final = train_and_evaluate(config, str(tmp_path))
  assert 0.0 < final['code_accuracy_chance'] < 1.0 and 0.0 < final['code_accuracy'] <= 1.0
  plots = sorted(os.listdir(tmp_path / 'plots'))
  assert 'sweep_categorical_0000020.png' in plots and 'sweep_continuous_1_0000020.png' in plots
  sweep = plt.imread(tmp_path / 'plots' / 'sweep_categorical_0000020.png')
  assert sweep.shape[:2] == (4 * 17 + 1, 10 * 17 + 1)  # grid_rows latents x 10 categories.


@pytest.mark.slow
@pytest.mark.parametrize('adversarial', [True, False])
def test_semi_supervised_gan_and_its_supervised_baseline_report_test_accuracy(tmp_path, data_dir, adversarial):
  config = tiny_dcgan(data_dir)
  config.semi.labels_per_class = 10
  config.loss.d.supervised = 1.0
  config.loss.d.adversarial = 1.0 if adversarial else 0.0  # 0: the baseline trains D on the labelled digits alone.
  config.loss.name = 'minimax'
  config.loss.g.adversarial, config.loss.g.feature_matching = 0.0, 1.0
  final = train_and_evaluate(config, str(tmp_path))
  assert 0.0 <= final['test_accuracy'] <= 1.0
  assert json.loads((tmp_path / 'metrics.json').read_text())['test_accuracy'] == final['test_accuracy']


@pytest.mark.slow
@pytest.mark.parametrize('norm', ['virtual_batch', 'instance'])
def test_dcgan_trains_with_the_per_example_normalisations(tmp_path, data_dir, norm):
  config = tiny_dcgan(data_dir, num_steps=10)
  config.gen.norm = config.disc.norm = norm
  config.train.reference_batch_size = 8
  config.train.eval_every_steps = config.train.checkpoint_every_steps = 10
  final = train_and_evaluate(config, str(tmp_path))
  assert final['step'] == 10 and np.isfinite(final['classifier_fd'])


def test_too_few_labels_for_a_batch_is_a_config_error(tmp_path, data_dir):
  config = tiny_dcgan(data_dir)
  config.semi.labels_per_class = 1  # 10 labelled digits, batch 16.
  config.loss.d.supervised = 1.0
  with pytest.raises(ConfigError, match='config.semi.labels_per_class: 1 per class gives 10 labelled examples'):
    train_and_evaluate(config, str(tmp_path))
  assert not os.listdir(tmp_path)


@pytest.mark.slow
def test_reference_batch_and_labelled_subset_resume_bit_for_bit(tmp_path, data_dir):
  from tests.test_train import assert_same_params, load_state

  def config_of(num_steps):
    config = tiny_dcgan(data_dir, num_steps=num_steps)
    config.gen.norm = config.disc.norm = 'virtual_batch'
    config.train.reference_batch_size = 8
    config.semi.labels_per_class = 10
    config.loss.d.supervised = 1.0
    config.loss.name = 'minimax'
    return config

  train_and_evaluate(config_of(40), str(tmp_path / 'whole'))
  train_and_evaluate(config_of(30), str(tmp_path / 'split'))
  train_and_evaluate(config_of(40), str(tmp_path / 'split'))
  whole, split = load_state(tmp_path / 'whole', config_of(40)), load_state(tmp_path / 'split', config_of(40))
  assert_same_params(split, whole)
  reference = whole.extras['reference']
  assert reference['x'].shape == (8, 16, 16, 1) and reference['noise']['z'].shape == (8, 16)
  jax.tree.map(np.testing.assert_array_equal, split.extras['reference'], reference)
