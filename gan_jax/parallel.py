"""Running the same pure step functions on one device, under `jax.pmap`, or under `jit` over a device mesh.

All three see the same global batch: each draw (real data and latents) is made for the whole batch from the step's
key and every device keeps its contiguous share. A run therefore computes the same state whatever the device count,
up to the order of floating-point sums, and a pod behaves like one big device.
"""

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P
import ml_collections

from gan_jax import config as config_lib

AXIS = 'data'


@dataclasses.dataclass(frozen=True)
class DataParallel:
  """How a step function is compiled and where the state lives. Build it with `make_data_parallel`."""
  mode: str  # 'single', 'pmap' or 'mesh'.
  num_devices: int
  mesh: jax.sharding.Mesh | None = None

  @property
  def axis_name(self) -> str | None:
    """The named axis collectives reduce over inside the step (pmap only; a mesh partitions automatically)."""
    return AXIS if self.mode == 'pmap' else None

  def local_share(self, x: jax.Array, axis: int = 0) -> jax.Array:
    """Inside a compiled step: this device's part of a global batch `x`, split along `axis`."""
    if self.mode == 'pmap':
      size = x.shape[axis] // self.num_devices
      return jax.lax.dynamic_slice_in_dim(x, jax.lax.axis_index(AXIS) * size, size, axis=axis)
    if self.mode == 'mesh':
      spec = P(*([None] * axis), AXIS)
      return jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, spec))
    return x

  def compile(self, fn: Callable, donate: bool = True) -> Callable:
    """Compiles `fn(state, ...)`; the state argument is donated so the update happens in place."""
    donate_argnums = (0,) if donate else ()
    if self.mode == 'pmap':
      return jax.pmap(fn, axis_name=AXIS, donate_argnums=donate_argnums)  # Over all hosts' devices.
    if self.mode == 'mesh':
      replicated = NamedSharding(self.mesh, P())
      return jax.jit(fn, donate_argnums=donate_argnums, out_shardings=replicated)
    return jax.jit(fn, donate_argnums=donate_argnums)

  def put(self, tree: Any) -> Any:
    """Places a host-side pytree (the state) on the devices: replicated (pmap: a leading device axis)."""
    if self.mode == 'pmap':
      n = jax.local_device_count()
      return jax.tree.map(lambda x: jnp.broadcast_to(x, (n, *jnp.shape(x))), tree)
    if self.mode == 'mesh':
      return jax.device_put(tree, NamedSharding(self.mesh, P()))
    return tree

  def get(self, tree: Any) -> Any:
    """The single copy of a replicated pytree (the state or the metrics) as one device's arrays."""
    if self.mode == 'pmap':
      return jax.tree.map(lambda x: x[0], tree)
    return tree


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
  """Uses every device (all hosts' for pmap and mesh) for 'pmap' and 'mesh', and the first one for 'single'."""
  if mode == 'single':
    return DataParallel('single', 1)
  num_devices = jax.device_count()
  if mode == 'pmap':
    return DataParallel('pmap', num_devices)
  mesh = jax.make_mesh((num_devices,), (AXIS,), axis_types=(jax.sharding.AxisType.Auto,))
  return DataParallel('mesh', num_devices, mesh)


def device_count(mode: str) -> int:
  """The number of devices the batch is split over in `mode` (without building a mesh)."""
  return 1 if mode == 'single' else jax.device_count()
