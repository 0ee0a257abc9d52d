"""The main command's console: a few lines for a person; the detail in the workdir's log file, and on request."""

import re
import subprocess

import pytest

from gan_jax import console
from tests.test_train import ENV, main_command

NUMBER = r'-?\d+\.\d{4}'
INFO_RECORD = re.compile(r'^I\d{4} ', re.M)  # absl's prefix of an INFO record.


def run_main(workdir, *flags):
  return subprocess.run(main_command(workdir, *flags), env=ENV, capture_output=True, text=True, timeout=300)


@pytest.fixture
def smoke_run(main_command_run):
  """conftest.py's one run of the smoke config (40 steps, a line every 10, evaluations at 20 and 40), which
  test_train reads too."""
  result, _ = main_command_run
  assert result.returncode == 0, result.stderr[-3000:]
  return main_command_run


def test_console_shows_outputs_progress_evaluations_and_final_metrics_only(smoke_run):
  result, workdir = smoke_run
  lines = result.stdout.splitlines()
  assert lines[0] == (f'Outputs in {workdir}: TensorBoard summaries, plots/, checkpoints/, metrics.json at the end, '
                      'log.process0.txt (the full log)')
  progress = [line for line in lines if line.startswith('step ')]
  assert re.fullmatch(rf'step 10/40 \| first call, compilation included: \d+\.\d s \| d_loss {NUMBER} \| '
                      rf'g_loss {NUMBER}', progress[0]), progress[0]
  for step, line in zip((20, 30, 40), progress[1:], strict=True):
    assert re.fullmatch(rf'step {step}/40 \| \d+\.\d steps/s \| ETA \d+:\d\d:\d\d \| d_loss {NUMBER} \| '
                        rf'g_loss {NUMBER}', line), line
  evals = [line for line in lines if line.startswith('eval ')]
  for step, line in zip((20, 40), evals, strict=True):
    assert re.fullmatch(rf'eval at step {step} \| modes_covered \d \| high_quality_fraction [\d.]+ \| '
                        r'kl_to_uniform [\d.]+ \| kl_to_uniform_high_quality [\d.]+ \| num_modes 8', line), line
  assert re.fullmatch(rf'Final metrics \({re.escape(str(workdir / "metrics.json"))}\): step 40 \| modes_covered \d '
                      r'\| .* \| steps_per_second [\d.]+', lines[-1]), lines[-1]
  assert len(lines) == 8, result.stdout
  # stderr is for warnings and errors: none of the INFO records, Orbax's and the hyperparameters among them.
  assert not INFO_RECORD.search(result.stderr), result.stderr[-3000:]
  assert 'orbax' not in result.stderr.lower() and 'Hyperparameters' not in result.stderr
  assert len(result.stderr.splitlines()) <= 4, result.stderr[-3000:]


def test_log_file_keeps_every_record(smoke_run):
  result, workdir = smoke_run
  log = (workdir / 'log.process0.txt').read_text()
  # Records from before the run created the workdir, too.
  assert re.search(r'\] Command: .*gan_jax/main\.py --config', log) and 'JAX process 0 of 1' in log
  assert re.search(r"\[Hyperparameters\] \{.*'unroll\.steps': 2", log)
  assert 'checkpoint_manager.py' in log and 'Saving checkpoint at step 40' in log  # Orbax's.
  assert re.search(r'\[40\] d_grad_norm=.*g_loss=', log)  # Every scalar written to TensorBoard.
  for line in result.stdout.splitlines():  # And the console's lines, as INFO records.
    assert re.search(rf'^I\d{{4}} .*\] {re.escape(line)}$', log, re.M), line


@pytest.mark.slow  # A main command of its own for absl's flag; CI runs the console's other two checks.
def test_alsologtostderr_shows_every_record_on_the_console(tmp_path):
  workdir = tmp_path / 'run'
  result = run_main(workdir, '--config.train.num_steps=10', '--alsologtostderr')
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout == ''  # The console's lines come once, as absl's records on stderr.
  for record in (r'train\.py:\d+\] step 10/10 \| first call', r'logging_writer\.py:\d+\] \[Hyperparameters\]',
                 r'checkpoint_manager\.py:\d+\] .*Saving checkpoint at step 10', r'main\.py:\d+\] Final metrics'):
    assert re.search(rf'^I\d{{4}} .*{record}', result.stderr, re.M), record
  assert '[Hyperparameters]' in (workdir / 'log.process0.txt').read_text()


def test_progress_line_leaves_the_compiling_first_call_out():
  times = iter([100.0, 104.0])  # The end of the first call; the second line.
  line = console.ProgressLine(100, clock=lambda: next(times))
  losses = {'d_loss': 1.25, 'g_loss': -0.5}
  line.add_call(step=10, steps=10, seconds=30.0)
  assert line.line(10, losses) == ('step  10/100 | first call, compilation included: 30.0 s | d_loss 1.2500 | '
                                   'g_loss -0.5000')
  line.add_call(step=20, steps=10, seconds=0.5)
  line.add_call(step=30, steps=10, seconds=1.5)
  # 20 steps in 2 s of calls; ETA: 70 steps at the pace since the first call (20 steps in 4 s, evaluations included).
  assert line.line(30, losses) == 'step  30/100 | 10.0 steps/s | ETA 0:00:14 | d_loss 1.2500 | g_loss -0.5000'


def test_metrics_line_writes_integers_without_decimals():
  assert console.metrics_line({'step': 40, 'modes': 8.0, 'kl': 1.58205, 'nan': float('nan')}) == (
      'step 40 | modes 8 | kl 1.582 | nan nan')


def test_commands_import_tensorflow_with_the_gpus_hidden_and_its_start_up_lines_in_the_log(monkeypatch, capfd):
  import builtins
  import os
  import tensorflow as tf
  hidden, logged, real_import = [], [], builtins.__import__
  monkeypatch.setattr(tf.config.experimental, 'set_visible_devices', lambda d, kind: hidden.append((d, kind)))

  def first_import(name, *args, **kwargs):  # TensorFlow's first import prints this C++ line on stderr.
    if name == 'tensorflow':
      os.write(2, b'I0000 00:00:1.000 1 cpu_feature_guard.cc:1] oneDNN custom operations are on.\n')
    return real_import(name, *args, **kwargs)

  monkeypatch.setattr(builtins, '__import__', first_import)
  monkeypatch.setattr(console, '_LOG_FILE', type('LogFile', (), {'write': lambda self, line: logged.append(line)})())
  console.import_tensorflow()
  assert hidden == [([], 'GPU')]
  assert any('oneDNN' in line for line in logged) and 'oneDNN' not in capfd.readouterr().err
