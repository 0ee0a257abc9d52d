"""Running the same pure step functions on one device, or under `jit` over a device mesh.

Both see the same global batch: each draw (real data and latents) is made for the whole batch from the step's key,
and under a mesh the batch axis is sharded over the devices ('data'), the state replicated. XLA partitions the
computation: batch statistics, minibatch discrimination and the unroll's gradients cover the global batch with no
axis names in the models or the steps. A run therefore computes the same state whatever the device count, up to
the order of floating-point sums, and a pod behaves like one big device.
"""

import dataclasses
from typing import Any, Callable

import jax
from jax.sharding import NamedSharding, PartitionSpec as P

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

  def put(self, tree: Any) -> Any:
    """Places a host-side pytree (the state) on the devices, replicated."""
    if self.mode == 'mesh':
      return jax.device_put(tree, NamedSharding(self.mesh, P()))
    return tree

  def get(self, tree: Any) -> Any:
    """The single copy of a replicated pytree (the state or the metrics)."""
    return tree


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
