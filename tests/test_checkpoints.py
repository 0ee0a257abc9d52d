"""Checkpoints that users damage, left in place: the run names the damage, falls back, moves the step aside and
completes bit for bit; strays are ignored; no restorable checkpoint and a full disk end in one line and status 3."""

import glob
import logging
import os
import shutil
import subprocess

import numpy as np
import orbax.checkpoint as ocp
import pytest

from gan_jax import checkpoint
from gan_jax.train import train_and_evaluate
from tests.test_train import ENV, assert_same_params, load_state, main_command, small_config


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
  """An undamaged 40-step run (checkpoints 20 and 40), copied by each test."""
  workdir = str(tmp_path_factory.mktemp('reference') / 'run')
  train_and_evaluate(small_config(num_steps=40), workdir)
  return workdir


def copy_run(reference, tmp_path):
  workdir = str(tmp_path / 'run')
  shutil.copytree(reference, workdir)
  return workdir


def data_files(step_dir):
  """The step's array data files (Orbax's OCDBT `d/` files), largest first."""
  files = [p for p in glob.glob(os.path.join(step_dir, 'default', '**', 'd', '*'), recursive=True)
           if os.path.isfile(p)]
  return sorted(files, key=os.path.getsize, reverse=True)


def truncate(step_dir):
  with open(data_files(step_dir)[0], 'r+b') as f:
    f.truncate(os.path.getsize(f.name) // 2)


def random_bytes(step_dir):
  path = data_files(step_dir)[0]
  with open(path, 'wb') as f:
    f.write(np.random.default_rng(0).bytes(os.path.getsize(path)))


def flip_byte(step_dir):
  with open(data_files(step_dir)[0], 'r+b') as f:
    f.seek(os.path.getsize(f.name) // 2)
    byte = f.read(1)
    f.seek(-1, os.SEEK_CUR)
    f.write(bytes([byte[0] ^ 0xFF]))


def remove_default(step_dir):
  shutil.rmtree(os.path.join(step_dir, 'default'))


def truncate_without_sums(step_dir):
  """A checkpoint saved before checksums: only Orbax's own failure reveals the damage."""
  os.remove(os.path.join(step_dir, checkpoint.CHECKSUM_FILE))
  truncate(step_dir)


# After a failed read, tensorstore's callbacks into Orbax's closed event loop arrive late, sometimes after pytest has
# put back its own unraisable-exception hook (under `python -m gan_jax.main` checkpoint.py's hook sends them to the log).
@pytest.mark.filterwarnings('ignore::pytest.PytestUnraisableExceptionWarning')
# CI takes each way of finding the damage once; the other checksum mismatches go to -m slow.
@pytest.mark.parametrize('damage, named', [
    (truncate, 'sha256 mismatch'),
    pytest.param(random_bytes, 'sha256 mismatch', marks=pytest.mark.slow),
    pytest.param(flip_byte, 'sha256 mismatch', marks=pytest.mark.slow),
    (remove_default, 'missing default'), (truncate_without_sums, 'error while reading'),
])
def test_damaged_latest_checkpoint_falls_back_and_the_run_completes_exactly(reference, tmp_path, caplog, damage,
                                                                              named):
  workdir = copy_run(reference, tmp_path)
  step_dir = os.path.join(workdir, 'checkpoints', '40')
  damage(step_dir)
  config = small_config(num_steps=40)
  with caplog.at_level(logging.INFO):
    train_and_evaluate(config, workdir)  # Resumes from 20 and saves 40 again (no StepAlreadyExistsError).
  errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
  assert any(step_dir in m and 'is damaged' in m and named in m for m in errors), errors
  assert any('Resuming from step 20' in r.getMessage() for r in caplog.records)
  checkpoints = sorted(os.listdir(os.path.join(workdir, 'checkpoints')))
  assert checkpoints[:2] == ['20', '40'] and checkpoints[2].startswith('40.damaged-') and len(checkpoints) == 3
  assert_same_params(load_state(workdir, config, 40), load_state(reference, config, 40))
  assert checkpoint.verify_checksums(step_dir) is None
  caplog.clear()
  with caplog.at_level(logging.ERROR):
    train_and_evaluate(config, workdir)  # And the next rerun finds nothing wrong.
  assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_stray_entries_are_ignored_with_a_warning(reference, tmp_path, caplog):
  workdir = copy_run(reference, tmp_path)
  ckpt_dir = os.path.join(workdir, 'checkpoints')
  shutil.rmtree(os.path.join(ckpt_dir, '40'))  # As if stopped at 20.
  os.makedirs(os.path.join(ckpt_dir, '3500'))
  for name in ('1234', 'notes.txt'):
    with open(os.path.join(ckpt_dir, name), 'w') as f:
      f.write('not a checkpoint')
  config = small_config(num_steps=40)
  config.train.keep_checkpoints = 2  # A stray counted as a step would take a place and get 20 deleted.
  with caplog.at_level(logging.WARNING):
    train_and_evaluate(config, workdir)
  assert any('not checkpoints: 1234, 3500/, notes.txt' in r.getMessage() for r in caplog.records)
  assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
  assert sorted(os.listdir(ckpt_dir)) == ['1234', '20', '3500', '40', 'notes.txt']
  assert_same_params(load_state(workdir, config, 40), load_state(reference, config, 40))


def test_no_restorable_checkpoint_is_one_line_and_status_3(reference, tmp_path):
  workdir = copy_run(reference, tmp_path)
  truncate(os.path.join(workdir, 'checkpoints', '40'))
  remove_default(os.path.join(workdir, 'checkpoints', '20'))
  result = subprocess.run(main_command(workdir), env=ENV, capture_output=True, text=True, timeout=300)
  assert result.returncode == checkpoint.EXIT_STATUS == 3, result.stderr[-3000:]
  assert 'Traceback' not in result.stderr
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith(f'error: No checkpoint in {os.path.join(workdir, "checkpoints")} restores (damaged: 40: ')
  assert '20: missing default' in last and 'aside to start afresh' in last
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['20', '40']  # Left for the user.


@pytest.fixture
def small_disk(tmp_path):
  """A run directory whose `checkpoints/` is a 1 MiB tmpfs (needs root and mount); None where it cannot be mounted.

  Only the checkpoints are on the small disk: the log file, plots and summaries on a full disk fail in their own ways
  (Python's logging prints a traceback per record it cannot write), which is not what this tests.
  """
  disk = tmp_path / 'run' / 'checkpoints'
  disk.mkdir(parents=True)
  if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', str(disk)], capture_output=True).returncode:
    yield None
    return
  try:
    yield disk
  finally:
    subprocess.run(['umount', '-l', str(disk)], check=False)


def test_full_disk_stops_at_the_failed_save_and_resumes_once_space_is_freed(reference, tmp_path, small_disk,
                                                                             monkeypatch):
  config = small_config(num_steps=40)
  workdir = str(tmp_path / 'run')
  ckpt_dir = os.path.join(workdir, 'checkpoints')
  train_and_evaluate(small_config(num_steps=20), workdir)
  if small_disk is None:  # Simulated: Orbax's error for ENOSPC, raised by the save of step 40.
    wait = ocp.CheckpointManager.wait_until_finished

    def full(self):
      wait(self)
      if self.latest_step() == 40:
        raise ValueError('RESOURCE_EXHAUSTED: No space left on device')
    monkeypatch.setattr(ocp.CheckpointManager, 'wait_until_finished', full)
    with pytest.raises(checkpoint.CheckpointSaveError, match='checkpoints/40 failed: no space left'):
      train_and_evaluate(config, workdir)
    monkeypatch.undo()
    shutil.rmtree(os.path.join(ckpt_dir, '40'))  # What the real failure leaves: no step 40.
  else:
    filler = small_disk / 'filler'  # Leaves a few pages: less than a checkpoint (~30 files).
    filler.write_bytes(b'\0' * (shutil.disk_usage(small_disk).free - 16 * 1024))
    result = subprocess.run(main_command(workdir, '--config.train.num_steps=40'), env=ENV, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 3, result.stderr[-3000:]
    # Orbax's own errors go to the log file; tensorstore still prints its cancelled writes' "Event loop is closed".
    assert 'ValueError: RESOURCE_EXHAUSTED' not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    path = os.path.join(ckpt_dir, '40')
    assert last.startswith(f'error: Saving checkpoint {path} failed: no space left on the device ('), last
    assert 'a checkpoint needs about' in last and 'it resumes from step 20' in last
    filler.unlink()
  assert sorted(os.listdir(ckpt_dir)) == ['20']  # The partial save removed; the previous step intact.
  assert checkpoint.verify_checksums(os.path.join(ckpt_dir, '20')) is None
  train_and_evaluate(config, workdir)
  assert_same_params(load_state(workdir, config, 40), load_state(reference, config, 40))
