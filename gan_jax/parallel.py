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

For networks too large to replicate, `parallel.model_shards` > 1 splits the mesh into ('data', 'model') and shards
every array of the state over 'model' along its largest dimension that divides evenly (as FSDP / ZeRO-3 do), the
batch over both axes; XLA gathers the parameters where a layer needs them. The arithmetic is unchanged.
"""

import dataclasses
import functools
from typing import Any, Callable, Sequence

import jax
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec as P
import ml_collections
import numpy as np

from gan_jax.config import ConfigError, choice, int_at_least, require

AXIS = 'data'
MODEL_AXIS = 'model'
MODES = ('single', 'mesh')
# `config.parallel`'s multi-host fields and their "detect it" values.
DISTRIBUTED_DEFAULTS = {'coordinator_address': '', 'num_processes': 0, 'process_id': -1}


@dataclasses.dataclass(frozen=True)
class DataParallel:
  """How a step function is compiled and where the state lives. Build it with `make_data_parallel`."""
  mode: str  # 'single' or 'mesh'.
  num_devices: int
  mesh: jax.sharding.Mesh | None = None
  model_shards: int = 1  # Devices of the 'model' axis the state is sharded over (1: replicated).

  def local_share(self, x: jax.Array, axis: int = 0) -> jax.Array:
    """Inside a compiled step: a global batch `x`, sharded over all devices along `axis` under a mesh."""
    if self.mode == 'mesh':
      batch_axes = AXIS if self.model_shards == 1 else (AXIS, MODEL_AXIS)
      spec = P(*([None] * axis), batch_axes)
      return jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, spec))
    return x

  def state_sharding(self, tree: Any, batch_extras: Sequence[str] = ()) -> Any:
    """Where each array of the state lives under a mesh: replicated, or (model_shards > 1) split over 'model'
    along its largest dimension divisible by model_shards (arrays without one stay replicated). None for 'single'.

    `batch_extras` name entries of `tree.extras` whose leading axis is a batch (a family's `batch_extras`, e.g.
    PCD's persistent chains): those are split over the devices as the batch is, so that each device runs its own
    chains instead of every device running all of them.
    """
    if self.mode != 'mesh':
      return None
    if batch_extras:
      shardings = self.state_sharding(tree)
      batch_axes = AXIS if self.model_shards == 1 else (AXIS, MODEL_AXIS)
      split = {name: jax.tree.map(lambda _: NamedSharding(self.mesh, P(batch_axes)), tree.extras[name])
               for name in batch_extras}
      return shardings.replace(extras={**shardings.extras, **split})

    def leaf(x):
      shape = np.shape(x)
      dims = [i for i, size in enumerate(shape) if size % self.model_shards == 0] if self.model_shards > 1 else []
      if not dims or _is_key(x):
        return self.replicated
      split = max(dims, key=lambda i: shape[i])
      return NamedSharding(self.mesh, P(*(MODEL_AXIS if i == split else None for i in range(len(shape)))))

    return jax.tree.map(leaf, tree)

  def compile(self, fn: Callable, donate: bool = True, state_sharding: Any = None) -> Callable:
    """Compiles `fn(state, ...) -> (state, metrics)`; the state argument is donated so the update happens in place.

    `state_sharding` (from `state_sharding`) keeps the returned state where it came from; default replicated.
    """
    donate_argnums = (0,) if donate else ()
    if self.mode == 'mesh':
      out_shardings = self.replicated if state_sharding is None else (state_sharding, self.replicated)
      return _UnderMesh(jax.jit(fn, donate_argnums=donate_argnums, out_shardings=out_shardings), self.mesh)
    return jax.jit(fn, donate_argnums=donate_argnums)

  @property
  def replicated(self) -> NamedSharding | None:
    """The sharding of the state under a mesh: one full copy on every device of every process (else None)."""
    return NamedSharding(self.mesh, P()) if self.mode == 'mesh' else None

  def put(self, tree: Any, sharding: Any = None) -> Any:
    """Places a pytree (the state, the dataset's arrays) on the devices: replicated, or as `sharding` (a pytree of
    shardings matching `tree`, from `state_sharding`) says.

    Under a mesh, every process must pass the same values (not checked: each process's copy becomes its devices'
    copy); the leaves may be numpy arrays, host-local `jax.Array`s (typed PRNG keys included) or global arrays
    already placed, and come back as global replicated arrays.
    """
    if self.mode == 'mesh':
      if sharding is None:
        return jax.tree.map(functools.partial(_place, sharding=self.replicated), tree)
      return jax.tree.map(_place, tree, sharding)
    return tree

  def put_batches(self, local: np.ndarray, axis: int = 1) -> jax.Array:
    """Places streamed batches: this process's rows of the global batch along `axis` (all of them on one process),
    sharded over the devices as `local_share` shards a batch. Under a mesh each process passes only its own rows,
    `global / process_count` of them, and `jax.make_array_from_process_local_data` assembles the global array.
    """
    if self.mode != 'mesh':
      return jax.device_put(local)  # Asynchronous: the copy overlaps the host's next work.
    batch_axes = AXIS if self.model_shards == 1 else (AXIS, MODEL_AXIS)
    sharding = NamedSharding(self.mesh, P(*([None] * axis), batch_axes))
    global_shape = list(local.shape)
    global_shape[axis] *= jax.process_count()
    return jax.make_array_from_process_local_data(sharding, local, tuple(global_shape))

  def get(self, tree: Any) -> Any:
    """This process's copy of a replicated pytree (the state or the metrics), as arrays on one local device.

    Every process can evaluate or plot its copy; the values are the same on all of them.
    """
    if self.mode == 'mesh':
      return jax.tree.map(self._local_copy, tree)
    return tree

  def _local_copy(self, x: Any) -> Any:
    if not isinstance(x, jax.Array):
      return x
    if not x.sharding.is_fully_replicated:  # A shard of the 'model' axis: gather it first (a collective).
      x = jax.jit(lambda a: a, out_shardings=self.replicated)(x)
    return x.addressable_data(0)

  def checkpointable(self, tree: Any) -> Any:
    """What Orbax saves of the placed state: the global arrays under a mesh (each process writes its part, Orbax's
    multi-host path; it refuses host-local arrays there), else the one copy."""
    return tree if self.mode == 'mesh' else self.get(tree)


class _UnderMesh:
  """A jitted function traced and called with `jax.set_mesh(mesh)`, so that code inside it that runs per device
  (`shard_map` over the mesh's axes, e.g. per-device minibatch discrimination) finds the mesh."""

  def __init__(self, jitted: Callable, mesh: jax.sharding.Mesh):
    self._jitted, self._mesh = jitted, mesh

  def __call__(self, *args):
    with jax.set_mesh(self._mesh):
      return self._jitted(*args)

  def lower(self, *args):
    with jax.set_mesh(self._mesh):
      return self._jitted.lower(*args)


def _is_key(x: Any) -> bool:
  return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _place(x: Any, sharding: NamedSharding) -> jax.Array:
  """One leaf as a global array placed as `sharding` says, from this process's full copy."""
  if _is_key(x):  # A typed key cannot be put onto a multi-host sharding; its raw uint32 data can.
    return jax.random.wrap_key_data(_place(jax.random.key_data(x), sharding), impl=jax.random.key_impl(x))
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
  shards = parallel.model_shards
  int_at_least(shards, 'parallel.model_shards')
  require(shards == 1 or parallel.mode == 'mesh', 'parallel.model_shards',
          f'got {shards}; sharding the state needs parallel.mode=mesh')
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


def make_data_parallel(mode: str, model_shards: int = 1) -> DataParallel:
  """Uses every device (all hosts') for 'mesh', and the first one for 'single'.

  Args:
    mode: 'single' or 'mesh'.
    model_shards: under a mesh, the size of the 'model' axis the state is sharded over (1: replicated state).

  Raises:
    ConfigError: `model_shards` does not divide the devices, or is set for 'single'.
  """
  if mode == 'single':
    if model_shards != 1:
      raise ConfigError(f'config.parallel.model_shards: got {model_shards}; sharding the state needs '
                                   'parallel.mode=mesh')
    return DataParallel('single', 1)
  num_devices = jax.device_count()
  if model_shards < 1 or num_devices % model_shards:
    raise ConfigError(f'config.parallel.model_shards: got {model_shards}; must divide the {num_devices} '
                                 'devices')
  if model_shards == 1:
    mesh = jax.make_mesh((num_devices,), (AXIS,), axis_types=(jax.sharding.AxisType.Auto,))
  else:
    mesh = jax.make_mesh((num_devices // model_shards, model_shards), (AXIS, MODEL_AXIS),
                         axis_types=(jax.sharding.AxisType.Auto,) * 2)
  return DataParallel('mesh', num_devices, mesh, model_shards)


def device_count(mode: str) -> int:
  """The number of devices the batch is split over in `mode` (without building a mesh)."""
  return 1 if mode == 'single' else jax.device_count()
