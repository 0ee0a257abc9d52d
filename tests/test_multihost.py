"""A simulated pod: 2 processes x 4 CPU devices joined by `jax.distributed`, training one model over a mesh.

SIGTERM reaching one process only stops both after the same chunk with one checkpoint; the rerun finishes; both
processes end with bit-identical states, equal to one process over 8 devices; only process 0 writes summaries,
plots and metrics.json.
"""

import glob
import os
import signal
import socket
import subprocess
import sys
import time

import flax.struct
import jax
import numpy as np
import pytest

from gan_jax import checkpoint, parallel as parallel_lib
from gan_jax.config import ConfigError, base_config
from gan_jax.validation import validate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, 'tests', 'multihost_worker.py')
TIMEOUT = 150  # Seconds for one launch; a run takes about 15.
NUM_STEPS, GATE_STEP, PREEMPTED_STEP = 30, 10, 15
TINY = [
    '--config', os.path.join(ROOT, 'experiments/unrolled.py:smoke'),
    '--config.gen.hidden=(16,16)', '--config.disc.hidden=(16,)', '--config.gen.latent_dim=8',
    '--config.unroll.steps=1', f'--config.train.num_steps={NUM_STEPS}', '--config.train.steps_per_call=5',
    '--config.train.log_every_steps=5', '--config.train.eval_every_steps=10',
    '--config.train.checkpoint_every_steps=10', '--config.train.keep_checkpoints=10', '--config.eval.num_samples=200',
    '--config.parallel.mode=mesh',
]


@pytest.mark.parametrize('fields, message', [
    ({'coordinator_address': 'localhost:1234'}, 'config.parallel.distributed: is False, but coordinator_address'),
    ({'distributed': True, 'coordinator_address': 'localhost:1234'}, 'config.parallel.num_processes: got 0; give'),
    ({'distributed': True, 'coordinator_address': 'localhost:1234', 'num_processes': 2},
     "config.parallel.process_id: got -1; give this process's index"),
    ({'distributed': True, 'num_processes': 2, 'process_id': 2}, 'config.parallel.process_id: got 2; must lie in [0, '),
    ({'distributed': True, 'process_id': 0}, 'config.parallel.num_processes: got 0; give the number of processes'),
    ({'distributed': True, 'coordinator_address': 'localhost'}, 'config.parallel.coordinator_address: got'),
    ({'distributed': True, 'num_processes': -2}, 'config.parallel.num_processes: got -2; must be an integer >= 1'),
])
def test_distributed_fields_are_checked_before_connecting(fields, message):
  parallel = base_config().parallel
  parallel.update(fields)
  with pytest.raises(ConfigError) as error:
    parallel_lib.initialize_distributed(parallel)
  assert message in str(error.value)


def test_detected_and_explicit_clusters_are_accepted():
  parallel = base_config().parallel
  parallel.distributed = True
  parallel_lib.validate_parallel(parallel)  # TPU pod, SLURM: everything detected.
  parallel.update(coordinator_address='10.0.0.1:1234', num_processes=4, process_id=3)
  parallel_lib.validate_parallel(parallel)


def test_main_rejects_incomplete_coordinates_before_connecting(tmp_path):
  workdir = tmp_path / 'run'
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.main', *TINY, '--workdir', str(workdir), '--config.parallel.distributed=True',
       '--config.parallel.coordinator_address=localhost:1'], cwd=tmp_path, capture_output=True, text=True,
      timeout=120, env={**os.environ, 'PYTHONPATH': ROOT, 'JAX_PLATFORMS': 'cpu', 'TF_CPP_MIN_LOG_LEVEL': '2'})
  assert result.returncode == 2, result.stderr[-2000:]
  assert 'error: config.parallel.num_processes: got 0; give the number of processes' in result.stderr
  assert not workdir.exists()


def test_only_mesh_spans_processes():
  mode = 'single'
  config = base_config()
  config.parallel.mode = mode
  validate(config, num_devices=8)
  with pytest.raises(ConfigError, match=rf"config.parallel.mode: got '{mode}', which runs in one process, and this "
                                        'run has 2 processes: use parallel.mode=mesh'):
    validate(config, num_devices=8, num_processes=2)


@flax.struct.dataclass
class _State:
  step: jax.Array
  w: jax.Array
  rng: jax.Array
  x: jax.Array


def test_mesh_put_get_and_restore_keep_typed_keys_and_values(tmp_path):
  parallel = parallel_lib.make_data_parallel('mesh')
  state = _State(step=jax.numpy.asarray(7), w=jax.device_put(np.arange(6.0, dtype=np.float32).reshape(3, 2)),
                 rng=jax.random.key(3), x=np.ones(4, np.int32))
  placed = parallel.put(state)
  for leaf in jax.tree.leaves(placed):
    assert leaf.sharding == parallel.replicated and len(leaf.addressable_shards) == 8
  assert parallel.put(placed).w is placed.w  # Already placed: left as it is.
  local = parallel.get(placed)
  assert all(len(leaf.devices()) == 1 for leaf in jax.tree.leaves(local))
  assert jax.dtypes.issubdtype(local.rng.dtype, jax.dtypes.prng_key)
  np.testing.assert_array_equal(jax.random.key_data(local.rng), jax.random.key_data(state.rng))
  np.testing.assert_array_equal(local.w, state.w)

  manager = checkpoint.make_manager(str(tmp_path / 'checkpoints'), keep=1)
  checkpoint.save(manager, parallel.checkpointable(placed))
  manager.wait_until_finished()
  restored = checkpoint.restore_latest(manager, state, parallel.replicated)
  assert all(leaf.sharding == parallel.replicated for leaf in jax.tree.leaves(restored))
  assert jax.dtypes.issubdtype(restored.rng.dtype, jax.dtypes.prng_key)
  np.testing.assert_array_equal(jax.random.key_data(parallel.get(restored).rng), jax.random.key_data(state.rng))
  np.testing.assert_array_equal(parallel.get(restored).w, state.w)


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


class Launcher:
  """Starts workers in their own process groups and kills whatever is left of them at the end."""

  def __init__(self, dump_dir):
    self.dump_dir = dump_dir
    self.processes = []

  def start(self, name, workdir, devices, *args, **env):
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')]),
           'JAX_PLATFORMS': 'cpu', 'TF_CPP_MIN_LOG_LEVEL': '2', 'JAX_DISABLE_MOST_OPTIMIZATIONS': 'true',
           # Replaces conftest's 8 devices. One Eigen thread per device: see conftest.py.
           'XLA_FLAGS': f'--xla_force_host_platform_device_count={devices} --xla_cpu_multi_thread_eigen=false',
           'MH_NAME': name, 'MH_DUMP_DIR': str(self.dump_dir), **env}
    with open(self.dump_dir / f'{name}.log', 'w') as log:  # The child keeps its own descriptor.
      process = subprocess.Popen([sys.executable, WORKER, *TINY, '--workdir', str(workdir), *args], env=env,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    process.name = name
    self.processes.append(process)
    return process

  def start_pod(self, workdir, **env):
    port = free_port()
    return [self.start(f'p{i}', workdir, 4, '--config.parallel.distributed=True',
                       f'--config.parallel.coordinator_address=localhost:{port}',
                       '--config.parallel.num_processes=2', f'--config.parallel.process_id={i}', **env)
            for i in range(2)]

  def wait(self, processes):
    deadline = time.time() + TIMEOUT
    for process in processes:
      try:
        process.wait(timeout=max(1.0, deadline - time.time()))
      except subprocess.TimeoutExpired:
        self.kill_all()
        pytest.fail(f'{process.name} still running after {TIMEOUT} s:\n{self.tail(process)}')
    return [process.returncode for process in processes]

  def output(self, process):
    return (self.dump_dir / f'{process.name}.log').read_text()

  def tail(self, process):
    return '\n'.join(line for line in self.output(process).splitlines() if 'Gloo' not in line)[-3000:]

  def kill_all(self):
    for process in self.processes:
      if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def launcher(tmp_path):
  dump_dir = tmp_path / 'dumps'
  dump_dir.mkdir()
  launcher = Launcher(dump_dir)
  yield launcher
  launcher.kill_all()


def wait_for(paths, processes, launcher):
  deadline = time.time() + TIMEOUT
  while not all(os.path.exists(p) for p in paths):
    for process in processes:
      if process.poll() is not None:
        pytest.fail(f'{process.name} exited ({process.returncode}) early:\n{launcher.tail(process)}')
    if time.time() > deadline:
      pytest.fail(f'no {paths} after {TIMEOUT} s')
    time.sleep(0.05)


def load(dump_dir, name, step):
  with np.load(dump_dir / f'{name}_{step}.npz') as f:
    return dict(f)


def event_files(workdir):
  return sorted(glob.glob(os.path.join(workdir, 'events.out.tfevents.*')))


def test_pod_preempted_on_one_host_resumes_and_matches_one_process(tmp_path, launcher):
  workdir, dumps = tmp_path / 'pod', launcher.dump_dir
  gate = tmp_path / 'gate'
  # Both processes pause after saving step 10 until the gate opens: SIGTERM then reaches process 1 only, between
  # chunks, and the next chunk (10 -> 15) is the one both must agree to stop after.
  pod = launcher.start_pod(workdir, MH_GATE_STEP=str(GATE_STEP), MH_GATE_FILE=str(gate))
  # The one-process reference runs meanwhile (8 devices, same mesh program, no preemption).
  single = launcher.start('single', tmp_path / 'single', 8)
  wait_for([dumps / f'p{i}_saved_{GATE_STEP}' for i in range(2)], pod, launcher)
  pod[1].send_signal(signal.SIGTERM)
  gate.touch()
  assert launcher.wait(pod) == [128 + signal.SIGTERM] * 2, [launcher.tail(p) for p in pod]
  assert sorted(os.listdir(workdir / 'checkpoints')) == [str(GATE_STEP), str(PREEMPTED_STEP)]
  assert f'Preempted by SIGTERM at step {PREEMPTED_STEP}' in launcher.output(pod[1])
  assert f'Preempted by SIGTERM on another process at step {PREEMPTED_STEP}' in launcher.output(pod[0])
  assert len(event_files(workdir)) == 1 and f'.{pod[0].pid}.' in event_files(workdir)[0]  # Process 0's.

  resumed = launcher.start_pod(workdir)
  assert launcher.wait(resumed + [single]) == [0, 0, 0], [launcher.tail(p) for p in resumed + [single]]
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['10', '15', '20', '30']
  assert len(event_files(workdir)) == 2 and f'.{resumed[0].pid}.' in event_files(workdir)[1]

  # Every process saved the same state at the same steps; each holds the same copy on all its devices (checked by
  # the worker), and the two processes' copies are bit-identical.
  for step in (GATE_STEP, PREEMPTED_STEP, 20, NUM_STEPS):
    p0, p1 = load(dumps, 'p0', step), load(dumps, 'p1', step)
    assert sorted(p0) == sorted(p1) and int(p0["['step']"]) == step
    for name in p0:
      np.testing.assert_array_equal(p0[name], p1[name], err_msg=f'{name} at step {step}')
  # The pod computes what one process computes over the same 8 devices, up to the order of float32 sums.
  final, reference = load(dumps, 'p0', NUM_STEPS), load(dumps, 'single', NUM_STEPS)
  assert sorted(final) == sorted(reference)
  for name in final:
    np.testing.assert_allclose(final[name], reference[name], rtol=1e-5, atol=1e-6, err_msg=name)

  # Only process 0 wrote outside the checkpoints and its log: one config.json, one metrics.json, one plot set (Orbax
  # writes checkpoints from all); each process appends to its own log. The lock (run.lock) is gone.
  writes = {name: {os.path.relpath(p.strip(), workdir) for p in (dumps / f'{name}_writes.txt').read_text().split()
                   if p.startswith(str(workdir) + os.sep)} if (dumps / f'{name}_writes.txt').exists() else set()
            for name in ('p0', 'p1')}
  plots = {f'plots/samples_{s:07d}.png' for s in (10, 20, 30)}
  assert writes == {'p0': plots | {'config.json', 'metrics.json', 'log.process0.txt'}, 'p1': {'log.process1.txt'}}
  events = [os.path.basename(f) for f in event_files(workdir)]
  assert sorted(os.listdir(workdir)) == sorted(['checkpoints', 'config.json', 'metrics.json', 'plots',
                                                'log.process0.txt', 'log.process1.txt', *events])
  # Only process 0 shows the progress on its console; each log holds both runs of its process.
  assert f'step {NUM_STEPS}/{NUM_STEPS} |' in launcher.output(resumed[0])
  assert f'step {NUM_STEPS}/' not in launcher.output(resumed[1]) and 'eval at step' not in launcher.output(resumed[1])
  for i in range(2):
    log = (workdir / f'log.process{i}.txt').read_text()
    assert log.count('] Command: ') == 2 and f'JAX process {i} of 2' in log
    assert f'] step {NUM_STEPS}/{NUM_STEPS} |' in log and 'Saving checkpoint at step 30' in log
  assert {f'plots/{f}' for f in os.listdir(workdir / 'plots')} == plots
