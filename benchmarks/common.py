"""Helpers shared by the benchmark scripts: the paper's config, compiling and timing the training function, tables.

Not a benchmark itself; the scripts next to it import it (running `python benchmarks/NAME.py` puts this folder on
`sys.path`).
"""

import contextlib
import ctypes
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Iterator, Sequence
from unittest import mock

import jax
import ml_collections
import optax

from gan_jax import data, objectives, parallel as parallel_lib, train
from gan_jax.state import TrainState, create_state

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 2**20
TORCH_REQUIREMENT = 'torch==2.13.0'


def load_config(path: str = 'experiments/unrolled.py', variant: str | None = None) -> ml_collections.ConfigDict:
  """`get_config(variant)` of an experiment file (relative to the repository root), as `main.py` would load it."""
  spec = importlib.util.spec_from_file_location('experiment_config', os.path.join(REPO, path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(variant)


def with_unroll(config: ml_collections.ConfigDict, k: int, remat: bool = False) -> ml_collections.ConfigDict:
  """A copy of `config` with `unroll.steps = k` and `unroll.remat = remat`."""
  config = ml_collections.ConfigDict(config.to_dict())
  config.unroll.steps = k
  config.unroll.remat = remat
  return config


def fresh_state(config: ml_collections.ConfigDict) -> tuple[TrainState, data.GaussianMixture]:
  """The state at step 0 (the training function donates its argument, so every run needs its own)."""
  dataset = data.make_dataset(config.data)
  return create_state(config, jax.random.key(config.seed), dataset.shape), dataset


def unroll_with_python_loop(objective, nets, steps: int, remat: bool = False):
  """`gan_jax.unroll.unroll` with a Python for-loop instead of `lax.scan`.

  Same arguments and result; the traced graph holds `steps` copies of the update instead of one scan body.
  """

  def update(params, opt_states):
    grads = jax.grad(objective)(params)
    new_params, new_states = {}, {}
    for name, net in nets.items():
      updates, new_states[name] = net.tx.update(grads[name], opt_states[name], params[name])
      new_params[name] = optax.apply_updates(params[name], updates)
    return new_params, new_states

  update = jax.checkpoint(update) if remat else update
  params = {name: net.params for name, net in nets.items()}
  opt_states = {name: net.opt_state for name, net in nets.items()}
  for _ in range(steps):
    params, opt_states = update(params, opt_states)
  return params


@contextlib.contextmanager
def python_loop_unroll() -> Iterator[None]:
  """While active, the training step traces `unroll_with_python_loop` instead of the library's scan."""
  with mock.patch.object(objectives, 'unroll', unroll_with_python_loop):
    yield


def compile_multi_step(config: ml_collections.ConfigDict, num_steps: int, state: TrainState,
                       dataset) -> tuple[Callable, float, float]:
  """Lowers and compiles train.py's multi-step function (single device) from scratch.

  Returns:
    The compiled executable, the lowering (tracing) seconds and the XLA compile seconds. Each call builds a new
    function, so nothing is served from JAX's in-memory caches.
  """
  parallel = parallel_lib.make_data_parallel('single')
  fn = train.make_multi_step_fn(config, dataset, parallel)(num_steps)
  tic = time.perf_counter()
  lowered = fn.lower(state, {})  # The mixtures hold no data arrays on device.
  mid = time.perf_counter()
  compiled = lowered.compile()
  return compiled, mid - tic, time.perf_counter() - mid


def steps_per_second(compiled: Callable, state: TrainState, num_steps: int, calls: int,
                     warmup: int = 1) -> tuple[float, TrainState]:
  """Median steps/second over `calls` calls of a compiled `num_steps`-step function, after `warmup` calls.

  Returns:
    The median rate and the state after the last call (the argument is donated and no longer usable).
  """
  rates = []
  for i in range(warmup + calls):
    tic = time.perf_counter()
    state, summary = compiled(state, {})
    jax.block_until_ready((state, summary))
    if i >= warmup:
      rates.append(num_steps / (time.perf_counter() - tic))
  return statistics.median(rates), state


class JaxTrainer:
  """gan_jax's state and its compiled training step, as train.py builds and calls them (single device), for the
  benchmarks against PyTorch; a subclass says how its state is created."""

  def __init__(self, config: ml_collections.ConfigDict, dataset):
    self.parallel = parallel_lib.make_data_parallel('single')
    self.state = self.parallel.put(self.create_state(config, dataset))
    self.data_arrays = self.parallel.put(dataset.host_arrays())
    self.fn = train.make_multi_step_fn(config, dataset, self.parallel)(config.train.steps_per_call)

  def create_state(self, config: ml_collections.ConfigDict, dataset) -> TrainState:
    raise NotImplementedError

  def step(self):
    """One call (one training step); waits for it, as train.py's loop waits for each call's summary."""
    self.state, summary = self.fn(self.state, self.data_arrays)
    jax.block_until_ready((self.state, summary))

  def compile_with_memory_analysis(self) -> dict[str, float]:
    """Replaces the jitted step by the executable it would compile and run, built explicitly to read its memory
    analysis; returns its temp, argument, output and alias sizes (MiB)."""
    self.fn = self.fn.lower(self.state, self.data_arrays).compile()
    analysis = self.fn.memory_analysis()
    return {name: getattr(analysis, f'{name}_size_in_bytes') / MIB for name in ('temp', 'argument', 'output', 'alias')}


def timed_chunk(model, steps: int) -> float:
  """Steps/second over `steps` consecutive steps of `model` (anything with a `step()` that waits for its step)."""
  tic = time.perf_counter()
  for _ in range(steps):
    model.step()
  return steps / (time.perf_counter() - tic)


def warm_up(jax_model: JaxTrainer, torch_model, thread_counts: Sequence[int]) -> float:
  """The steps before timing: gan_jax's first call (it compiles) and a second, then one PyTorch step at each thread
  count. Returns the seconds of gan_jax's first call."""
  torch = import_torch()
  tic = time.perf_counter()
  jax_model.step()  # Compiles.
  compile_seconds = time.perf_counter() - tic
  jax_model.step()
  for n in thread_counts:
    torch.set_num_threads(n)
    torch_model.step()
  return compile_seconds


def median_rates(models: dict, repeats: int, steps: int) -> dict:
  """The median steps/second of each model over `repeats` rounds; each round times a chunk of `steps` steps of every
  model in turn, so that load from other processes falls on all alike.

  Args:
    models: key -> (model, threads): the PyTorch thread count set before the model's chunks (None for gan_jax).
    repeats: rounds.
    steps: steps per chunk.

  Returns:
    key -> median steps/second.
  """
  rates = {key: [] for key in models}
  for _ in range(repeats):
    for key, (model, threads) in models.items():
      if threads is not None:
        import_torch().set_num_threads(threads)
      rates[key].append(timed_chunk(model, steps))
  return {key: statistics.median(r) for key, r in rates.items()}


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
  """A GitHub markdown table; floats are printed as given (format them before)."""
  lines = ['| ' + ' | '.join(map(str, headers)) + ' |', '|' + '|'.join('---:' for _ in headers) + '|']
  lines += ['| ' + ' | '.join(map(str, row)) + ' |' for row in rows]
  return '\n'.join(lines)


def xla_cost(compiled) -> dict[str, float]:
  """A compiled executable's XLA cost analysis (flops, bytes accessed, ...)."""
  cost = compiled.cost_analysis()
  return cost[0] if isinstance(cost, (list, tuple)) else cost


def int_list(text: str) -> list[int]:
  """argparse type for '0,1,5': a comma-separated list of integers."""
  return [int(x) for x in text.split(',') if x]


def machine_line() -> str:
  """One line naming the JAX version, backend, CPU count and current load, printed above every table.

  Other processes may share the cores; the 1-minute load average tells how much.
  """
  return (f'jax {jax.__version__}, backend {jax.default_backend()}, {jax.device_count()} device(s), '
          f'{os.cpu_count()} CPU cores, load average now {os.getloadavg()[0]:.1f}')


def import_torch():
  """Imports torch, installing the pinned CPU build into this interpreter's environment first if needed.

  Sets OMP_WAIT_POLICY=PASSIVE first unless the environment sets it: libgomp's default spin-waiting made 2 threads
  30-100x slower than 1 here whenever other processes shared the 2 cores (see `pytorch_unrolled.py`).
  """
  os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
  try:
    import torch
  except ModuleNotFoundError:
    print(f'torch not found: pip install {TORCH_REQUIREMENT}', flush=True)
    subprocess.check_call([sys.executable, '-m', 'pip', 'install', TORCH_REQUIREMENT])
    import torch
  return torch


def _status_mib(field: str) -> float:
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith(field + ':'):
        return int(line.split()[1]) / 1024
  raise RuntimeError(f'no {field} in /proc/self/status')


def rss_mib() -> float:
  """This process's resident set size now (VmRSS), in MiB."""
  return _status_mib('VmRSS')


def peak_rss_mib() -> float:
  """This process's peak resident set size (VmHWM), in MiB.

  Not `resource.getrusage`'s ru_maxrss: exec keeps the pre-exec peak in it, so a subprocess started from a large
  process reports at least the parent's RSS at the fork.
  """
  return _status_mib('VmHWM')


def reset_peak_rss() -> bool:
  """Lowers the peak RSS to the current RSS (Linux >= 4.0: writing 5 to /proc/self/clear_refs); False if refused."""
  try:
    with open('/proc/self/clear_refs', 'w') as f:
      f.write('5')
    return True
  except OSError:
    return False


def trim_heap() -> bool:
  """Returns the C heap's free memory to the system (glibc's malloc_trim), so RSS counts what is in use."""
  try:
    return bool(ctypes.CDLL('libc.so.6').malloc_trim(0))
  except (OSError, AttributeError):
    return False
