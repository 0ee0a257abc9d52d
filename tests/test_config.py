"""Bad input: a clear error naming the field and the accepted values, exit status 2, nothing written."""

import os
import subprocess
import sys

import pytest

from gan_jax import config as config_lib
from gan_jax.config import ConfigError, base_config, validate
from gan_jax.train import train_and_evaluate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize('field, value, message', [
    ('unroll.steps', -1, 'config.unroll.steps: got -1; must be an integer >= 0'),
    ('loss.name', 'wasserstein', 'config.loss.name: got \'wasserstein\'; accepted values: minimax, non_saturating'),
    ('data.name', 'mnist', 'accepted values: gaussian_1d, grid, ring'),
    ('gen.name', 'dcgan', 'config.gen.name'),
    ('optim.d.name', 'lion', 'accepted values: adam, rmsprop, sgd'),
    ('parallel.mode', 'tpu', 'accepted values: single, pmap, mesh'),
    ('train.update_order', 'random', 'accepted values: simultaneous, alternating'),
    ('train.n_critic', 0, 'config.train.n_critic'),
    ('loss.label_smoothing', 1.0, 'config.loss.label_smoothing'),
    ('data.std', 0.0, 'config.data.std'),
    ('optim.d.eps_root', 0.0, 'config.optim.d.eps_root'),
])
def test_validate_names_the_field(field, value, message):
  config = base_config()
  section, _, key = field.rpartition('.')
  node = config
  for part in section.split('.'):
    node = node[part]
  node[key] = value
  with pytest.raises(ConfigError) as error:
    validate(config, num_devices=1)
  assert message in str(error.value)


def test_batch_must_divide_over_devices():
  config = base_config()
  config.train.batch_size = 100
  config.parallel.mode = 'pmap'
  with pytest.raises(ConfigError, match=r'config.train.batch_size: got 100; must be divisible by the 8 devices'):
    validate(config, num_devices=8)


def test_the_library_entry_point_rejects_before_writing(tmp_path):
  config = config_lib.smoke(base_config())
  config.unroll.steps = -2
  workdir = tmp_path / 'run'
  with pytest.raises(ConfigError):
    train_and_evaluate(config, str(workdir))
  assert not workdir.exists()


def run_main(*args, cwd):
  env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2', 'JAX_PLATFORMS': 'cpu'}
  return subprocess.run([sys.executable, '-m', 'gan_jax.main', *args], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize('override, message', [
    ('--config.unroll.steps=-1', 'config.unroll.steps: got -1'),
    ('--config.unroll.stepz=3', 'stepz'),  # Unknown key.
    ('--config.unroll.steps=ten', 'ten'),  # Wrong type.
    ('--config.data.name=mnist', 'config.data.name'),
])
def test_main_exits_2_and_writes_nothing(tmp_path, override, message):
  workdir = tmp_path / 'run'
  result = run_main('--config', os.path.join(ROOT, 'experiments/unrolled.py:smoke'), '--workdir', str(workdir),
                    override, cwd=tmp_path)
  assert result.returncode == 2, result.stderr[-2000:]
  assert message in result.stderr
  assert not workdir.exists()
