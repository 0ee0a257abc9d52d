"""Differentiable discriminator updates for unrolled GANs (Metz et al. 2017)."""

from typing import Callable

import jax
import optax

PyTree = jax.typing.ArrayLike | dict


def mean_over_devices(tree, axis_name: str | None):
  """Averages a pytree across the named device axis (pmap); the identity without one."""
  if axis_name is None:
    return tree
  return jax.lax.pmean(tree, axis_name)


def unroll_discriminator(
    d_objective: Callable[[PyTree], jax.Array],
    tx: optax.GradientTransformation,
    d_params: PyTree,
    d_opt_state: PyTree,
    steps: int,
    remat: bool = False,
    axis_name: str | None = None,
    unroll_loop: bool = False,
) -> PyTree:
  """Applies `steps` updates of `tx` to `d_params` on `d_objective`, as one `lax.scan`.

  The result stays differentiable with respect to everything `d_objective` closes over (the generator's samples),
  so a generator loss evaluated at the returned parameters carries the second-order term of the paper. The scan keeps
  compile time flat in `steps`; `remat` recomputes each update in the backward pass, so memory stays flat too.

  Args:
    d_objective: the discriminator loss as a function of its parameters.
    tx: the optimizer of the real discriminator update (the unroll must use the same one).
    d_params: the discriminator's current parameters.
    d_opt_state: its optimizer state; the unrolled copy is discarded.
    steps: k, the number of unrolled updates; 0 returns `d_params` unchanged.
    remat: wrap each update in `jax.checkpoint`.
    axis_name: the pmap axis over which the gradients are averaged, so every device unrolls the same D.
    unroll_loop: let XLA unroll the scan. Compile time then grows with `steps`, but XLA's CPU backend runs
      convolutions inside a loop about 20x slower, so convolutional models on CPU want it.

  Returns:
    The discriminator parameters after `steps` updates.
  """
  if steps == 0:
    return d_params

  def update(carry, _):
    params, opt_state = carry
    grads = mean_over_devices(jax.grad(d_objective)(params), axis_name)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  if remat:
    update = jax.checkpoint(update)
  if unroll_loop and steps == 1:  # XLA keeps a one-trip loop even when asked to unroll it.
    (params, _), _ = update((d_params, d_opt_state), None)
  else:
    (params, _), _ = jax.lax.scan(update, (d_params, d_opt_state), None, length=steps, unroll=unroll_loop)
  return params
