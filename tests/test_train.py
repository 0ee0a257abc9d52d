"""End to end: the main command's outputs, exact resume, the NaN guard, preemption (damaged checkpoints:
test_checkpoints.py)."""

import glob
import json
import logging
import os
import signal
import subprocess
import sys
import time

import flax.serialization
import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from gan_jax import data
from gan_jax.config import base_config, smoke
from gan_jax.families.gan import create_gan_state
from gan_jax.train import NonFiniteLossError, train_and_evaluate
from tests.helpers import comparable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def small_config(num_steps=40, unroll_steps=2):
  config = smoke(base_config())
  config.gen.hidden = (32, 32)
  config.gen.latent_dim = 16
  config.disc.hidden = (32,)
  config.unroll.steps = unroll_steps
  config.train.num_steps = num_steps
  return config


def load_state(workdir, config, step=None):
  """The state saved at `step` (default: the latest) in a run directory."""
  dataset = data.make_dataset(config.data)
  template = create_gan_state(config, jax.random.key(0), dataset)
  manager = ocp.CheckpointManager(os.path.join(workdir, 'checkpoints'))
  step = manager.latest_step() if step is None else step
  restored = manager.restore(step, args=ocp.args.StandardRestore(flax.serialization.to_state_dict(template)))
  return flax.serialization.from_state_dict(template, restored)


def assert_same_params(a, b):
  """Every array of the two states equal: step, key, each network's parameters, optimizer state and statistics."""
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), comparable(a),
               comparable(b))


def test_resumed_run_matches_uninterrupted_run_bit_for_bit(tmp_path):
  config = small_config(num_steps=40)
  train_and_evaluate(config, str(tmp_path / 'whole'))
  half = small_config(num_steps=30)  # Stops between checkpoints (20, 30); the resume continues from 30.
  train_and_evaluate(half, str(tmp_path / 'split'))
  train_and_evaluate(config, str(tmp_path / 'split'))
  assert_same_params(load_state(tmp_path / 'split', config), load_state(tmp_path / 'whole', config))
  assert int(load_state(tmp_path / 'whole', config).step) == 40


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
  workdir = str(tmp_path / 'run')
  train_and_evaluate(small_config(num_steps=20), workdir)
  config = small_config(num_steps=40)
  config.optim.d.learning_rate = 1e30  # Blows D up on the first step after the resume.
  with pytest.raises(NonFiniteLossError, match=r'(d_loss|g_loss) is NaN or Inf at step 2[0-9]; .*step 20'):
    train_and_evaluate(config, workdir, allow_config_change=True)
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['20']


def main_command(workdir, *overrides):
  return [sys.executable, '-m', 'gan_jax.main', '--config', os.path.join(ROOT, 'experiments/unrolled.py:smoke'),
          '--workdir', str(workdir), '--config.gen.hidden=(32,32)', '--config.disc.hidden=(32,)',
          '--config.gen.latent_dim=16', '--config.unroll.steps=2', *overrides]


ENV = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2', 'JAX_PLATFORMS': 'cpu'}


def test_main_command_writes_summaries_plots_checkpoints_and_metrics(main_command_run):
  result, workdir = main_command_run  # conftest.py: one run of `main_command` that test_console reads too.
  assert result.returncode == 0, result.stderr[-3000:]
  assert glob.glob(str(workdir / 'events.out.tfevents.*'))
  assert sorted(os.listdir(workdir / 'plots')) == ['samples_0000020.png', 'samples_0000040.png']
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['20', '40']
  metrics = json.loads((workdir / 'metrics.json').read_text())
  assert metrics['step'] == 40 and metrics['num_modes'] == 8
  assert 0 <= metrics['modes_covered'] <= 8 and 0 <= metrics['high_quality_fraction'] <= 1
  assert np.isfinite(metrics['kl_to_uniform'])


def test_a_signal_in_the_middle_of_a_log_write_is_logged_after_the_write(monkeypatch):
  """Ctrl-C often lands while the loop writes a log line to stderr; the handler's own message must not write to the
  same stream from inside that write (Python refuses a reentrant write: a '--- Logging error ---' traceback)."""
  import io
  from gan_jax import train
  flag, written = train._SigtermFlag(), []

  class Terminal(io.RawIOBase):  # The signal arrives while the first line is being written.
    def writable(self):
      return True

    def write(self, data):
      if not flag.raised:
        flag._handle(signal.SIGINT, None)
      written.append(bytes(data).decode())
      return len(data)

  handler = logging.StreamHandler(io.TextIOWrapper(io.BufferedWriter(Terminal()), write_through=True))
  errors = []
  monkeypatch.setattr(handler, 'handleError', lambda record: errors.append(sys.exc_info()[1]))
  absl_logger = logging.getLogger('absl')
  absl_logger.addHandler(handler)
  try:
    absl_logger.warning('step 20/1000 | d_loss 0.5')
    deadline = time.time() + 10
    while len(written) < 2 and time.time() < deadline:
      time.sleep(0.01)
  finally:
    absl_logger.removeHandler(handler)
  assert not errors, errors
  assert flag.raised == signal.SIGINT
  assert written[0] == 'step 20/1000 | d_loss 0.5\n'
  assert written[1] == ('SIGINT received: saving a checkpoint after the current chunk (Ctrl-C again stops without '
                        'one).\n')


@pytest.mark.slow  # CI preempts by SIGTERM in test_multihost's pod test (saved at the chunk, resumed).
def test_sigterm_saves_a_checkpoint_and_the_resumed_run_is_exact(tmp_path):
  long = ['--config.train.num_steps=1000', '--config.train.checkpoint_every_steps=500']
  whole = tmp_path / 'whole'
  subprocess.run(main_command(whole, *long), env=ENV, check=True, capture_output=True, timeout=600)

  split = tmp_path / 'split'
  process = subprocess.Popen(main_command(split, *long), env=ENV, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 300
  while not glob.glob(str(split / 'plots' / '*.png')) and time.time() < deadline:
    time.sleep(0.2)  # The first plot comes at step 20, well before the first checkpoint (500).
  process.send_signal(signal.SIGTERM)
  _, stderr = process.communicate(timeout=300)
  assert process.returncode == 128 + signal.SIGTERM, stderr[-3000:]
  saved = sorted(int(s) for s in os.listdir(split / 'checkpoints'))
  assert saved and saved[-1] < 1000 and saved[-1] % 10 == 0, saved  # Saved at the chunk that was running.

  subprocess.run(main_command(split, *long), env=ENV, check=True, capture_output=True, timeout=600)
  config = small_config()
  assert_same_params(load_state(split, config, 1000), load_state(whole, config, 1000))
