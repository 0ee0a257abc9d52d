"""Differentiable updates of networks for unrolled GANs (Metz et al. 2017), as one `lax.scan`."""

from typing import Callable, Mapping

import jax
import optax

from gan_jax import platform
from gan_jax.state import Network

PyTree = jax.typing.ArrayLike | dict


def unroll(objective: Callable[[dict[str, PyTree]], jax.Array], nets: Mapping[str, Network], steps: int,
           remat: bool = False) -> dict[str, PyTree]:
  """Applies `steps` updates of each network's own optimizer to its parameters on `objective`, as one `lax.scan`.

  The result stays differentiable with respect to everything `objective` closes over (the generator's samples), so
  a generator loss evaluated at the returned parameters carries the second-order term of the paper. The scan keeps
  compile time flat in `steps` (except on CPU for convolutional networks, where `platform.scan` unrolls it: XLA's CPU
  backend runs convolutions in loops much slower); `remat` recomputes each update in the backward pass, so memory
  stays flat too.
  Several networks (CycleGAN's two discriminators) unroll jointly: each step takes the gradient of `objective`
  with respect to all of them.

  Args:
    objective: the loss of the unrolled networks as a function of their parameters {name: params}.
    nets: the networks to unroll, by name; their optimizers and optimizer states are the real ones' (copies are
      advanced and discarded).
    steps: k, the number of unrolled updates; 0 returns the current parameters.
    remat: wrap each update in `jax.checkpoint`.

  Returns:
    {name: parameters after `steps` updates}.
  """
  params = {name: net.params for name, net in nets.items()}
  if steps == 0:
    return params

  def one_update(carry, _):
    params, opt_states = carry
    grads = jax.grad(objective)(params)
    new_params, new_states = {}, {}
    for name, net in nets.items():
      updates, new_states[name] = net.tx.update(grads[name], opt_states[name], params[name])
      new_params[name] = optax.apply_updates(params[name], updates)
    return (new_params, new_states), None

  if remat:
    one_update = jax.checkpoint(one_update)
  carry = (params, {name: net.opt_state for name, net in nets.items()})
  (params, _), _ = platform.scan(one_update, carry, None, length=steps)
  return params
