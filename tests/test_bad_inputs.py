"""Bad inputs that used to crash late or pass silently: each exits with status 2, names the flag or field, and
writes nothing (the README's table under "Faults" has one row per test here).

The command-line cases run `python -m gan_jax.main` once each and stop while parsing flags, before JAX compiles;
the field-level cases call `validation.validate` in-process.
"""

import os
import re
import subprocess
import sys

import pytest

from gan_jax.config import ConfigError
from tests.helpers import set_field
from tests.test_experiments import EXPERIMENTS, load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = os.path.join(ROOT, 'experiments', 'gan_ring.py:smoke')


def run_main(*args, cwd, module='gan_jax.main'):
  env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2', 'JAX_PLATFORMS': 'cpu',
         'PYTHONPATH': os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')]).rstrip(os.pathsep)}
  return subprocess.run([sys.executable, '-m', module, *args], cwd=cwd, env=env, capture_output=True,
                        text=True, timeout=300)


def test_sampling_from_a_workdir_without_checkpoints_creates_nothing(tmp_path):
  workdir = tmp_path / 'never_trained'
  result = run_main('--config', os.path.join(ROOT, 'experiments', 'dcgan_digits.py:smoke'), '--workdir', str(workdir),
                    cwd=tmp_path, module='gan_jax.sample')
  assert result.returncode == 2, result.stderr[-2000:]
  assert f'--workdir: no checkpoint in {workdir / "checkpoints"}' in result.stderr
  assert not workdir.exists()


def write(path, text):
  path.write_text(text)
  return str(path)


# Each case: the --config argument (given tmp_path), the message.
CONFIG_FILES = {
    'missing': (lambda d: 'experiments/nonexistent.py', '--config experiments/nonexistent.py: no such file'),
    'syntax_error': (lambda d: write(d / 'broken.py', 'def get_config(variant=None)\n  pass\n'),
                     'broken.py, line 1: expected'),
    'directory': (lambda d: str(d), 'is a directory; give an experiment file'),
    'returns_dict': (lambda d: write(d / 'plain.py', 'def get_config(variant=None):\n  return {"seed": 0}\n'),
                     "plain.py: get_config() returned a dict; it must return an ml_collections.ConfigDict"),
    'unknown_variant': (lambda d: os.path.join(ROOT, 'experiments', 'gan_ring.py:smokee'),
                        "gan_ring.py:smokee: unknown variant 'smokee'; this experiment has: smoke"),
}


# The missing file and the directory are refused by the first check of `cli.check_config_file`, in-process below;
# the command runs in CI for the checks after it (a file that does not compile, a get_config that fails or returns
# the wrong type).
@pytest.mark.parametrize('case', [pytest.param(case, marks=pytest.mark.slow) if case in ('missing', 'directory')
                                  else case for case in sorted(CONFIG_FILES)])
def test_bad_config_file_exits_2_and_writes_nothing(case, tmp_path):
  make_arg, message = CONFIG_FILES[case]
  workdir = tmp_path / 'run'
  result = run_main('--config', make_arg(tmp_path), '--workdir', str(workdir), cwd=tmp_path)
  assert result.returncode == 2, result.stderr[-2000:]
  assert message in result.stderr
  assert 'Traceback' not in result.stderr
  assert not workdir.exists()


@pytest.mark.parametrize('case', ['missing', 'directory', 'syntax_error'])
def test_the_config_file_is_checked_before_flags_are_parsed(case, tmp_path, monkeypatch, capsys):
  from gan_jax import cli
  monkeypatch.chdir(ROOT)  # The missing case's path is relative to the project.
  make_arg, message = CONFIG_FILES[case]
  with pytest.raises(SystemExit) as exit_:
    cli.check_config_file(make_arg(tmp_path))
  assert exit_.value.code == 2 and message in capsys.readouterr().err
  cli.check_config_file(os.path.join(ROOT, 'experiments', 'gan_ring.py:smoke'))  # A good one passes.


@pytest.mark.parametrize('path', EXPERIMENTS, ids=lambda p: os.path.basename(p)[:-3])
def test_every_experiment_refuses_unknown_variants(path):
  with pytest.raises(ConfigError, match=r"unknown variant 'smokee'; this experiment has: (\w+, )*smoke[, ]"):
    load(path).get_config('smokee')


def test_variants_joined_by_plus_apply_left_to_right_and_an_unknown_one_is_named():
  experiment = load(os.path.join(ROOT, 'experiments', 'stackgan_mnist.py'))
  composed = experiment.get_config('fashion_mnist+no_ca+stage1_only')
  by_hand = experiment.stackgan_stage1_only(experiment.no_ca(experiment.fashion_mnist(experiment.get_config())))
  assert composed.to_json() == by_hand.to_json()
  assert composed.data.name == 'captioned_fashion_mnist' and composed.stackgan.stages == 1
  assert not composed.stackgan.conditioning_augmentation and composed.train.num_steps == composed.stackgan.stage1_steps
  with pytest.raises(ConfigError, match=r"unknown variant 'noca'; this experiment has: stage1_only, no_ca, "):
    experiment.get_config('fashion_mnist+noca')


def test_workdir_that_is_a_file_exits_2(tmp_path):
  workdir = tmp_path / 'run'
  workdir.write_text('not a directory')
  result = run_main('--config', SMOKE, '--workdir', str(workdir), cwd=tmp_path)
  assert result.returncode == 2, result.stderr[-2000:]
  assert f'--workdir {workdir}: is a file, not a directory' in result.stderr
  assert workdir.read_text() == 'not a directory'


def test_workdir_below_a_file_or_read_only_is_refused_without_creating_it(tmp_path, monkeypatch, capsys):
  from gan_jax import cli
  (tmp_path / 'file').write_text('')
  with pytest.raises(SystemExit) as exit_:
    cli.check_workdir(str(tmp_path / 'file' / 'run'))
  assert exit_.value.code == 2 and 'is a file, so the run directory cannot be created' in capsys.readouterr().err
  # A read-only filesystem: access(2) answers EROFS (as root, a permission bit alone would not stop the write).
  monkeypatch.setattr(cli.os, 'access', lambda path, mode: False)
  workdir = tmp_path / 'new' / 'run'
  with pytest.raises(SystemExit) as exit_:
    cli.check_workdir(str(workdir))
  assert exit_.value.code == 2
  assert f'{tmp_path}, where it would be created, is not writable' in capsys.readouterr().err
  assert not (tmp_path / 'new').exists()
  monkeypatch.undo()
  cli.check_workdir(str(workdir))  # Writable: passes, and still creates nothing.
  assert not (tmp_path / 'new').exists()


@pytest.mark.parametrize('field, value, message', [
    ('gen.hidden', (128, -5),
     'config.gen.hidden: got (128, -5); must be a tuple of layer widths, each an integer >= 1'),
    ('disc.hidden', (0,), 'config.disc.hidden: got (0,)'),
    ('gen.base_channels', 0, 'config.gen.base_channels: got 0; must be an integer >= 1'),
    ('seed', 99999999999999999999, 'config.seed: got 99999999999999999999; must be an integer in [0, 2**32)'),
    ('seed', -1, 'config.seed: got -1'),
    ('optim.g.b1', 1.5, 'config.optim.g.b1: got 1.5; must lie in [0, 1)'),
    ('optim.d.b2', 1.0, 'config.optim.d.b2: got 1.0; must lie in [0, 1)'),
    ('optim.g.eps', 0.0, 'config.optim.g.eps: got 0.0; must be > 0'),
    ('optim.d.eps_root', -1e-8, 'config.optim.d.eps_root: got -1e-08; must be >= 0'),
    ('optim.d.clip_params', -0.01, 'config.optim.d.clip_params: got -0.01; must be >= 0'),
])
def test_field_out_of_range_is_named(field, value, message):
  from gan_jax.config import base_config
  from gan_jax.validation import validate
  config = base_config()
  set_field(config, field, value)
  with pytest.raises(ConfigError) as error:
    validate(config, num_devices=1)
  assert message in str(error.value)


@pytest.mark.parametrize('name, field, value, message', [
    ('rmsprop', 'decay', 1.0, 'config.optim.d.decay: got 1.0; must lie in [0, 1)'),
    ('rmsprop', 'momentum', -0.5, 'config.optim.d.momentum: got -0.5; must lie in [0, 1)'),
    ('sgd', 'momentum', 1.0, 'config.optim.d.momentum: got 1.0; must lie in [0, 1)'),
])
def test_each_optimizer_checks_what_it_reads(name, field, value, message):
  from gan_jax import optim
  from gan_jax.config import base_config
  config = base_config()
  config.optim.d.name = name
  config.optim.d.b1 = 7.0  # Not read by rmsprop or sgd: not checked.
  optim.validate(config.optim)
  config.optim.d[field] = value
  with pytest.raises(ConfigError, match=re.escape(message)):
    optim.validate(config.optim)


def test_batch_that_cannot_fit_names_both_numbers():
  from gan_jax.config import base_config
  from gan_jax.validation import validate
  config = base_config()
  config.train.batch_size = 1_000_000_000
  with pytest.raises(ConfigError) as error:
    validate(config, num_devices=1)
  message = str(error.value)
  assert message.startswith('config.train.batch_size: got 1000000000; its batch needs at least ')
  assert 'but the host has available' in message or 'but one device has free' in message


def test_batch_bytes_counts_the_documented_lower_bound():
  from gan_jax.config import base_config, dcgan_config
  from gan_jax.validation import batch_bytes, check_batch_fits
  config = base_config()  # Ring: 2-D examples, latent 256, G hidden (128, 128), D hidden (128,).
  assert batch_bytes(config) == 4 * 512 * (1 * 2 + 256 + 2 + 256 + 2 * 128)
  config = dcgan_config()  # 16x16x1 digits, latent 100, base_channels 64: 8x8 maps.
  config.train.n_critic = 5
  assert batch_bytes(config) == 4 * 64 * (5 * 256 + 100 + 256 + 64 * (64 + 2 * 64))
  needed = batch_bytes(config)
  check_batch_fits(config, num_devices=2, available=(needed // 2, False))  # Split over 2 devices: fits.
  with pytest.raises(ConfigError, match=r'per device\), but one device has free 0\.0 GiB \(1,000 bytes\)'):
    check_batch_fits(config, num_devices=2, available=(1000, False))
  check_batch_fits(config, num_devices=8, available=(None, True))  # Unknown memory: not checked.
