"""The unrolled GAN of `experiments/unrolled.py` written directly with jax, flax.linen and optax: no gan_jax.

The yardstick of `framework_overhead.py`: what a researcher would write by hand for the paper's ring experiment
(Metz et al. 2017): G 256 -> 128 -> 128 -> 2 and D input * 0.25 -> 128 -> 1 (ReLU, orthogonal init with gain 0.8),
the minimax loss, Adam for both players, simultaneous updates from the same state, and G's loss taken at D unrolled k
Adam steps ahead, differentiated through them (second order), the k steps a `lax.scan`. `make_multi_step` scans
`num_steps` such steps in one jitted call, drawing the ring's points and G's latents on device every step, as
gan_jax's multi-step function does.

Nothing here imports gan_jax (this file must stay so: it is what the framework is measured against). The draws
follow gan_jax's key scheme (`fold_in(fold_in(key, step), 0)` for the data, `..., 1)` for the noise, the latents
from the first of two keys split from it), so that from the same parameters and key both follow the same
trajectory and `framework_overhead.py` can check that they compute the same numbers.
"""

import dataclasses
import functools
from typing import Any, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax


@dataclasses.dataclass(frozen=True)
class Hyper:
  """The experiment's settings (the defaults are the paper's)."""
  batch_size: int = 512
  latent_dim: int = 256
  g_hidden: Sequence[int] = (128, 128)
  d_hidden: Sequence[int] = (128,)
  input_scale: float = 0.25
  init_gain: float = 0.8
  unroll_steps: int = 10
  learning_rate: float = 1e-4
  b1: float = 0.5
  b2: float = 0.999
  eps: float = 1e-8
  eps_root: float = 1e-16  # Differentiating through Adam needs it > 0.
  num_modes: int = 8
  radius: float = 2.0
  std: float = 0.02


class Generator(nn.Module):
  hidden: Sequence[int]
  init_gain: float

  @nn.compact
  def __call__(self, z):
    init = nn.initializers.orthogonal(self.init_gain)
    for width in self.hidden:
      z = nn.relu(nn.Dense(width, kernel_init=init)(z))
    return nn.Dense(2, kernel_init=init)(z)


class Discriminator(nn.Module):
  hidden: Sequence[int]
  input_scale: float
  init_gain: float

  @nn.compact
  def __call__(self, x):
    init = nn.initializers.orthogonal(self.init_gain)
    x = x * self.input_scale
    for width in self.hidden:
      x = nn.relu(nn.Dense(width, kernel_init=init)(x))
    return nn.Dense(1, kernel_init=init)(x)[:, 0]


class State(NamedTuple):
  g_params: Any
  d_params: Any
  g_opt_state: Any
  d_opt_state: Any
  key: jax.Array
  step: jax.Array


class BareGAN:
  """The networks, optimizer and step functions for one `Hyper`."""

  def __init__(self, hp: Hyper):
    self.hp = hp
    self.generator = Generator(tuple(hp.g_hidden), hp.init_gain)
    self.discriminator = Discriminator(tuple(hp.d_hidden), hp.input_scale, hp.init_gain)
    self.tx = optax.adam(hp.learning_rate, b1=hp.b1, b2=hp.b2, eps=hp.eps, eps_root=hp.eps_root)
    angles = 2 * np.pi * np.arange(hp.num_modes) / hp.num_modes
    self.centers = hp.radius * np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)

  def init(self, key: jax.Array, g_params=None, d_params=None) -> State:
    """The state at step 0; `key` seeds the draws. Given parameters (copied) replace the initialisation."""
    g_key, d_key = jax.random.split(jax.random.fold_in(key, 1))
    if g_params is None:
      g_params = self.generator.init(g_key, jnp.zeros((1, self.hp.latent_dim)))['params']
    if d_params is None:
      d_params = self.discriminator.init(d_key, jnp.zeros((1, 2)))['params']
    g_params, d_params = jax.tree.map(jnp.copy, (g_params, d_params))
    return State(g_params, d_params, self.tx.init(g_params), self.tx.init(d_params), key,
                 jnp.zeros((), jnp.int32))

  def d_loss(self, d_params, real, fake):
    """-E[log D(x)] - E[log(1 - D(G(z)))], D on the real and the fake batch separately."""
    real_logits = self.discriminator.apply({'params': d_params}, real)
    fake_logits = self.discriminator.apply({'params': d_params}, fake)
    return (optax.sigmoid_binary_cross_entropy(real_logits, jnp.ones_like(real_logits)).mean()
            + optax.sigmoid_binary_cross_entropy(fake_logits, jnp.zeros_like(fake_logits)).mean())

  def unrolled_d_params(self, d_params, d_opt_state, real, fake):
    """D after k Adam steps on (real, fake); differentiable in `fake`."""
    def one_update(carry, _):
      params, opt_state = carry
      grads = jax.grad(self.d_loss)(params, real, fake)
      updates, opt_state = self.tx.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), None

    if self.hp.unroll_steps == 0:
      return d_params
    (params, _), _ = jax.lax.scan(one_update, (d_params, d_opt_state), None, length=self.hp.unroll_steps)
    return params

  def train_step(self, state: State, real, z, with_metrics: bool = False):
    """One simultaneous update of G (through the unrolled D) and D; returns (state, metrics).

    The metrics are the losses, and with `with_metrics` also each player's gradient, update and parameter norms
    (what gan_jax logs every step).
    """
    def g_loss(g_params):
      fake = self.generator.apply({'params': g_params}, z)
      unrolled = self.unrolled_d_params(state.d_params, state.d_opt_state, real, fake)
      return -self.d_loss(unrolled, real, fake), fake  # Minimax: G minimises D's loss negated.

    (g_value, fake), g_grads = jax.value_and_grad(g_loss, has_aux=True)(state.g_params)
    d_value, d_grads = jax.value_and_grad(self.d_loss)(state.d_params, real, jax.lax.stop_gradient(fake))
    g_updates, g_opt_state = self.tx.update(g_grads, state.g_opt_state, state.g_params)
    d_updates, d_opt_state = self.tx.update(d_grads, state.d_opt_state, state.d_params)
    g_params = optax.apply_updates(state.g_params, g_updates)
    d_params = optax.apply_updates(state.d_params, d_updates)
    metrics = {'d_loss': d_value, 'g_loss': g_value}
    if with_metrics:
      for name, grads, updates, params in (('d', d_grads, d_updates, d_params), ('g', g_grads, g_updates, g_params)):
        metrics.update({f'{name}_grad_norm': optax.tree.norm(grads), f'{name}_update_norm': optax.tree.norm(updates),
                        f'{name}_param_norm': optax.tree.norm(params)})
    return State(g_params, d_params, g_opt_state, d_opt_state, state.key, state.step + 1), metrics

  def draw(self, key: jax.Array, step: jax.Array):
    """The step's real batch from the ring and G's latents."""
    step_key = jax.random.fold_in(key, step)
    component_key, normal_key = jax.random.split(jax.random.fold_in(step_key, 0))
    component = jax.random.randint(component_key, (self.hp.batch_size,), 0, self.hp.num_modes)
    real = jnp.asarray(self.centers)[component] + self.hp.std * jax.random.normal(normal_key, (self.hp.batch_size, 2))
    z_key = jax.random.split(jax.random.fold_in(step_key, 1))[0]
    return real, jax.random.normal(z_key, (self.hp.batch_size, self.hp.latent_dim))

  def make_multi_step(self, num_steps: int, with_metrics: bool = False):
    """`multi_step(state) -> (state, mean metrics)`: `num_steps` steps in one jitted call, the state donated.

    With `with_metrics` the summary also holds each loss's first non-finite step, as gan_jax's does.
    """
    def multi_step(state):
      def one_step(state, _):
        return self.train_step(state, *self.draw(state.key, state.step), with_metrics=with_metrics)

      first_step = state.step
      state, metrics = jax.lax.scan(one_step, state, None, length=num_steps)
      summary = jax.tree.map(jnp.mean, metrics)
      if with_metrics:
        steps = first_step + jnp.arange(num_steps)
        for name in ('d_loss', 'g_loss'):
          bad = jnp.where(jnp.isfinite(metrics[name]), jnp.iinfo(jnp.int32).max, steps)
          summary[f'{name}_first_nonfinite_step'] = jnp.min(bad)
      return state, summary

    return jax.jit(multi_step, donate_argnums=0)

  @functools.cached_property
  def jitted_train_step(self):
    """`train_step` with metrics, jitted (not donating), for one-step checks."""
    return jax.jit(functools.partial(self.train_step, with_metrics=True))
