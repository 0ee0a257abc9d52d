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

from gan_jax import config as config_lib

AXIS = 'data'


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


def initialize_distributed(parallel: ml_collections.ConfigDict) -> None:
  """Joins this process to the multi-host system when `parallel.distributed`; a no-op otherwise.

  Call it once, before anything asks JAX for its devices. Unset fields (`coordinator_address=''`,
  `num_processes=0`, `process_id=-1`) are left to JAX's cluster detection (TPU pods, SLURM, Open MPI).

  Args:
    parallel: the `parallel` section of an experiment config.

  Raises:
    ConfigError: the fields are inconsistent (checked before any connection is attempted).
  """
  config_lib.validate_parallel(parallel)
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
