"""What users do to a run directory: a second run on it, a resume under another config, Ctrl-C, a killed run."""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from tensorboard.backend.event_processing import event_file_loader, plugin_event_accumulator

from gan_jax import workdir as workdir_lib
from gan_jax.config import base_config
from gan_jax.train import train_and_evaluate
from tests.test_train import ENV, main_command, small_config

LONG = ['--config.train.num_steps=100000']


def wait_for(path_pattern, process, timeout=300):
  deadline = time.time() + timeout
  while not glob.glob(path_pattern):
    assert process.poll() is None and time.time() < deadline, process.communicate()[1][-3000:]
    time.sleep(0.1)


def logged_steps(workdir, tag='d_loss'):
  """The steps of `tag` in the event files as written, duplicates included."""
  steps = []
  for path in sorted(glob.glob(os.path.join(workdir, 'events.out.tfevents.*'))):
    for event in event_file_loader.EventFileLoader(path).Load():
      steps += [event.step for value in event.summary.value if value.tag == tag]
  return steps


def shown_steps(workdir, tag='d_loss'):
  """The steps of `tag` as TensorBoard shows them."""
  accumulator = plugin_event_accumulator.EventAccumulator(str(workdir), size_guidance={'tensors': 0})
  accumulator.Reload()
  return [event.step for event in accumulator.Tensors(tag)]


def test_config_fields_are_refused_allowed_or_free():
  saved = workdir_lib.flat_config(small_config())
  changed = small_config()
  changed.gen.hidden = (64, 32)
  changed.seed = 3
  changed.optim.d.name = 'sgd'
  changed.optim.d.learning_rate = 1e-3
  changed.train.batch_size = 128
  changed.train.num_steps = 7
  changed.eval.num_samples = 10
  refused, allowed = workdir_lib.diff_configs(saved, workdir_lib.flat_config(changed))
  assert refused == ["gen.hidden: [32, 32] -> [64, 32]", "optim.d.name: 'adam' -> 'sgd'", 'seed: 0 -> 3']
  assert allowed == ['optim.d.learning_rate: 0.0001 -> 0.001', 'train.batch_size: 64 -> 128']


def test_a_field_added_to_the_schema_since_the_run_began_is_a_change_only_off_its_default():
  current = workdir_lib.flat_config(small_config())
  defaults = workdir_lib.flat_config(base_config())
  saved = {field: value for field, value in current.items() if field != 'data.pipeline'}  # An older run's config.
  assert workdir_lib.diff_configs(saved, current, defaults) == ([], [])
  current['data.pipeline'] = 'stream'
  assert workdir_lib.diff_configs(saved, current, defaults) == (["data.pipeline: '<absent>' -> 'stream'"], [])


def test_resume_refuses_a_changed_config_unless_allowed_and_records_the_change(tmp_path):
  workdir = str(tmp_path / 'run')
  train_and_evaluate(small_config(num_steps=20), workdir)
  saved = (tmp_path / 'run' / 'config.json').read_text()
  assert json.loads(saved)['optim.d.learning_rate'] == 1e-4

  shape = small_config(num_steps=40)
  shape.gen.hidden = (64, 32)  # Was reported as damaged checkpoints.
  with pytest.raises(workdir_lib.WorkdirError, match=r"shape or meaning.*\n  gen.hidden: \[32, 32\] -> \[64, 32\]"):
    train_and_evaluate(shape, workdir, allow_config_change=True)
  seed = small_config(num_steps=40)
  seed.seed = 1
  with pytest.raises(workdir_lib.WorkdirError, match='seed: 0 -> 1'):
    train_and_evaluate(seed, workdir)
  faster = small_config(num_steps=40)
  faster.optim.d.learning_rate = 1e-3
  with pytest.raises(workdir_lib.WorkdirError, match=r'optim.d.learning_rate: 0.0001 -> 0.001\nPass '
                                                     '--allow_config_change'):
    train_and_evaluate(faster, workdir)
  assert (tmp_path / 'run' / 'config.json').read_text() == saved  # Refused: nothing changed.
  assert sorted(os.listdir(tmp_path / 'run' / 'checkpoints')) == ['20']
  assert not os.path.exists(os.path.join(workdir, workdir_lib.LOCK_NAME))

  assert train_and_evaluate(faster, workdir, allow_config_change=True)['step'] == 40
  assert json.loads((tmp_path / 'run' / 'config.json').read_text())['optim.d.learning_rate'] == 1e-3
  accumulator = plugin_event_accumulator.EventAccumulator(workdir)
  accumulator.Reload()
  [text] = accumulator.Tensors('config_change')
  assert text.step == 20 and b'optim.d.learning_rate: 0.0001 -> 0.001' in text.tensor_proto.string_val[0]


@pytest.mark.slow  # Two commands; CI keeps the lock refusal in process (below) and the save on a signal in the pod.
def test_held_workdir_refuses_a_second_run_and_ctrl_c_saves_releases_and_exits_130(tmp_path):
  workdir = tmp_path / 'run'
  first = subprocess.Popen(main_command(workdir, *LONG, '--config.train.checkpoint_every_steps=50000'), env=ENV,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  try:
    wait_for(str(workdir / 'plots' / '*.png'), first)
    second = subprocess.run(main_command(workdir), env=ENV, capture_output=True, text=True, timeout=300)
    assert second.returncode == 2, second.stderr[-3000:]
    assert f'is in use by another run: pid {first.pid} on host {socket.gethostname()}' in second.stderr
    assert len(glob.glob(str(workdir / 'events.out.tfevents.*'))) == 1  # The second run wrote no summaries.
    first.send_signal(signal.SIGINT)
    _, stderr = first.communicate(timeout=300)
  finally:
    if first.poll() is None:
      first.kill()
  assert first.returncode == 128 + signal.SIGINT, stderr[-3000:]
  assert 'Traceback' not in stderr
  assert 'Interrupted by SIGINT at step' in stderr and 'checkpoint saved in' in stderr
  saved = sorted(int(s) for s in os.listdir(workdir / 'checkpoints'))
  assert saved and saved[-1] < 100000 and saved[-1] % 10 == 0, saved  # Saved at the chunk that was running.
  assert not (workdir / workdir_lib.LOCK_NAME).exists()


def test_killed_run_leaves_a_stale_lock_that_is_taken_over_and_summaries_resume_without_duplicates(tmp_path):
  workdir = tmp_path / 'run'
  killed = subprocess.Popen(main_command(workdir, *LONG, '--config.train.checkpoint_every_steps=100'), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  try:
    wait_for(str(workdir / 'plots' / 'samples_0000120.png'), killed)  # Logged past the checkpoint at step 100.
  finally:
    killed.kill()
    killed.communicate()
  assert json.loads((workdir / workdir_lib.LOCK_NAME).read_text())['pid'] == killed.pid
  last_logged = max(logged_steps(workdir))

  num_steps = last_logged + 20
  resumed = subprocess.run(main_command(workdir, f'--config.train.num_steps={num_steps}',
                                        '--config.train.checkpoint_every_steps=100'),
                           env=ENV, capture_output=True, text=True, timeout=300)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f'was left by run {killed.pid} on {socket.gethostname()}' in resumed.stderr
  assert 'which no longer exists: taking it over' in resumed.stderr
  assert not (workdir / workdir_lib.LOCK_NAME).exists()
  written = logged_steps(workdir)
  assert len(written) > len(set(written))  # The killed run's points after its checkpoint were logged again...
  assert shown_steps(workdir) == list(range(10, num_steps + 1, 10))  # ... and TensorBoard shows each step once.


def test_lock_held_by_a_live_process_is_not_taken_over(tmp_path):
  sleeper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
  try:
    (tmp_path / workdir_lib.LOCK_NAME).write_text(json.dumps({'pid': sleeper.pid, 'host': socket.gethostname()}))
    with pytest.raises(workdir_lib.WorkdirError, match=f'pid {sleeper.pid} on host'):
      workdir_lib.WorkdirLock(str(tmp_path)).acquire()
  finally:
    sleeper.kill()
    sleeper.wait()
  with workdir_lib.WorkdirLock(str(tmp_path)) as lock:  # Now stale.
    assert json.loads((tmp_path / workdir_lib.LOCK_NAME).read_text())['pid'] == os.getpid()
  assert not os.path.exists(lock.path)
