"""Running the same pure step functions on one device, or under `jit` over a device mesh.

Both see the same global batch: each draw (real data and latents) is made for the whole batch from the step's key,
and under a mesh the batch axis is sharded over the devices ('data'), the state replicated. XLA partitions the
computation: batch statistics, minibatch discrimination and the unroll's gradients cover the global batch with no
axis names in the models or the steps. A run therefore computes the same state whatever the device count, up to
the order of floating-point sums, and a pod behaves like one big device.

Multi-host (a pod: several processes, each with its own devices, joined by `initialize_distributed`): the mesh
spans every process's devices. The state is then a pytree of global `jax.Array`s replicated over the mesh; every
process runs the same program on the same values, `put` builds the global arrays from each process's identical
host copy, and `get` gives a process its own copy back.
"""

import dataclasses
import functools
from typing import Any, Callable

import jax
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec as P
import ml_collections
import numpy as np

from gan_jax.config import choice, require

AXIS = 'data'
MODES = ('single', 'mesh')
# `config.parallel`'s multi-host fields and their "detect it" values.
DISTRIBUTED_DEFAULTS = {'coordinator_address': '', 'num_processes': 0, 'process_id': -1}


@dataclasses.dataclass(frozen=True)
class DataParallel:
  """How a step function is compiled and where the state lives. Build it with `make_data_parallel`."""
  mode: str  # 'single' or 'mesh'.
  num_devices: int
  mesh: jax.sharding.Mesh | None = None

  def local_share(self, x: jax.Array, axis: int = 0) -> jax.Array:
    """Inside a compiled step: a global batch `x`, sharded over the devices along `axis` under a mesh."""
    if self.mode == 'mesh':
      spec = P(*([None] * axis), AXIS)
      return jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, spec))
    return x

  def compile(self, fn: Callable, donate: bool = True) -> Callable:
    """Compiles `fn(state, ...)`; the state argument is donated so the update happens in place."""
    donate_argnums = (0,) if donate else ()
    if self.mode == 'mesh':
      replicated = NamedSharding(self.mesh, P())
      return jax.jit(fn, donate_argnums=donate_argnums, out_shardings=replicated)
    return jax.jit(fn, donate_argnums=donate_argnums)

  @property
  def replicated(self) -> NamedSharding | None:
    """The sharding of the state under a mesh: one full copy on every device of every process (else None)."""
    return NamedSharding(self.mesh, P()) if self.mode == 'mesh' else None

  def put(self, tree: Any) -> Any:
    """Places a pytree (the state, the dataset's arrays) on the devices, replicated.

    Under a mesh, every process must pass the same values (not checked: each process's copy becomes its devices'
    copy); the leaves may be numpy arrays, host-local `jax.Array`s (typed PRNG keys included) or global arrays
    already placed, and come back as global replicated arrays.
    """
    if self.mode == 'mesh':
      return jax.tree.map(functools.partial(_replicate, sharding=self.replicated), tree)
    return tree

  def get(self, tree: Any) -> Any:
    """This process's copy of a replicated pytree (the state or the metrics), as arrays on one local device.

    Every process can evaluate or plot its copy; the values are the same on all of them.
    """
    if self.mode == 'mesh':
      return jax.tree.map(lambda x: x.addressable_data(0) if isinstance(x, jax.Array) else x, tree)
    return tree

  def checkpointable(self, tree: Any) -> Any:
    """What Orbax saves of the placed state: the global arrays under a mesh (each process writes its part, Orbax's
    multi-host path; it refuses host-local arrays there), else the one copy."""
    return tree if self.mode == 'mesh' else self.get(tree)


def _is_key(x: Any) -> bool:
  return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _replicate(x: Any, sharding: NamedSharding) -> jax.Array:
  """One leaf as a global array replicated over `sharding`'s mesh, from this process's copy."""
  if _is_key(x):  # A typed key cannot be put onto a multi-host sharding; its raw uint32 data can.
    return jax.random.wrap_key_data(_replicate(jax.random.key_data(x), sharding), impl=jax.random.key_impl(x))
  if isinstance(x, jax.Array) and x.sharding.is_equivalent_to(sharding, x.ndim):  # Already placed (e.g. restored).
    return x
  if isinstance(x, jax.Array) and not x.is_fully_addressable:  # Global, sharded otherwise: XLA reshards it.
    return jax.device_put(x, sharding)
  # Committed host-local arrays cannot be put onto a multi-host sharding either: go through numpy.
  host = np.asarray(x)
  return jax.make_array_from_process_local_data(sharding, host, host.shape)


def any_process(flag: bool) -> bool:
  """Whether `flag` is True on any process; every process gets the same answer.

  A collective: with several processes, all must call it at the same point of the loop (e.g. SIGTERM reaching one
  host must stop them all after the same chunk).
  """
  if jax.process_count() == 1:
    return flag
  return bool(np.any(multihost_utils.process_allgather(np.asarray(flag, np.int32))))


def validate_parallel(parallel: ml_collections.ConfigDict, num_processes: int = 1) -> None:
  """Checks `config.parallel`; `initialize_distributed` calls it before `jax.distributed.initialize` sees the fields.

  Args:
    parallel: the `parallel` section of an experiment config.
    num_processes: the JAX processes of the run (`jax.process_count()` once the distributed system is joined).

  Raises:
    ConfigError: naming the field, the value and what is accepted.
  """
  choice(parallel.mode, 'parallel.mode', MODES)
  address = parallel.coordinator_address  # ConfigDict keeps the fields' types.
  require(not address or (':' in address and address.rpartition(':')[2].isdigit()), 'parallel.coordinator_address',
          f'got {address!r}; must be host:port, e.g. 10.0.0.1:1234 (or empty to detect it)')
  for name, unset in (('num_processes', 0), ('process_id', -1)):
    value = parallel[name]
    require(isinstance(value, int) and not isinstance(value, bool) and value >= unset, f'parallel.{name}',
            f'got {value!r}; must be an integer >= {unset + 1}, or {unset} to detect it')
  given = [f'{name}={parallel[name]!r}' for name, unset in DISTRIBUTED_DEFAULTS.items() if parallel[name] != unset]
  require(parallel.distributed or not given, 'parallel.distributed',
          f'is False, but {", ".join(given)} only apply to a multi-host run: set parallel.distributed=True')
  if address:  # A coordinator given by hand means no detected cluster: JAX then needs the count and index too.
    require(parallel.num_processes > 0, 'parallel.num_processes',
            f'got {parallel.num_processes}; give the number of processes with parallel.coordinator_address')
    require(parallel.process_id >= 0, 'parallel.process_id',
            f'got {parallel.process_id}; give this process\'s index with parallel.coordinator_address')
  if parallel.process_id >= 0:
    require(parallel.num_processes > 0, 'parallel.num_processes',
            f'got {parallel.num_processes}; give the number of processes with parallel.process_id')
    require(parallel.process_id < parallel.num_processes, 'parallel.process_id',
            f'got {parallel.process_id}; must lie in [0, parallel.num_processes={parallel.num_processes})')
  # Only a mesh spans processes: single would train one model per process, on host-local state that Orbax cannot
  # save from several processes.
  require(parallel.mode == 'mesh' or num_processes == 1, 'parallel.mode',
          f'got {parallel.mode!r}, which runs in one process, and this run has {num_processes} processes: '
          'use parallel.mode=mesh')


def initialize_distributed(parallel: ml_collections.ConfigDict) -> None:
  """Joins this process to the multi-host system when `parallel.distributed`; a no-op otherwise.

  Call it once, before anything asks JAX for its devices. Unset fields (`coordinator_address=''`,
  `num_processes=0`, `process_id=-1`) are left to JAX's cluster detection (TPU pods, SLURM, Open MPI).

  Args:
    parallel: the `parallel` section of an experiment config.

  Raises:
    ConfigError: the fields are inconsistent (checked before any connection is attempted).
  """
  validate_parallel(parallel)
  if not parallel.distributed:
    return
  jax.distributed.initialize(
      coordinator_address=parallel.coordinator_address or None,
      num_processes=parallel.num_processes or None,
      process_id=parallel.process_id if parallel.process_id >= 0 else None)


def make_data_parallel(mode: str) -> DataParallel:
  """Uses every device (all hosts') for 'mesh', and the first one for 'single'."""
  if mode == 'single':
    return DataParallel('single', 1)
  num_devices = jax.device_count()
  mesh = jax.make_mesh((num_devices,), (AXIS,), axis_types=(jax.sharding.AxisType.Auto,))
  return DataParallel('mesh', num_devices, mesh)


def device_count(mode: str) -> int:
  """The number of devices the batch is split over in `mode` (without building a mesh)."""
  return 1 if mode == 'single' else jax.device_count()
