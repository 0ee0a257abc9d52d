"""Optimizers by name: one optax transformation per player, built from its config section."""

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan_jax.config import choice, require


def learning_rate(c: ml_collections.ConfigDict) -> float | optax.Schedule:
  """The learning rate of an optimizer section: `learning_rate`, constant when `decay_steps` is 0 (or absent);
  else constant until update `decay_start_step`, then decaying linearly to 0 over `decay_steps` updates and 0 after
  (CycleGAN's and pix2pix's schedule: 100 epochs constant, 100 decaying). A schedule's update count is part of the
  optimizer's state (optax's `ScaleByScheduleState`), so it is checkpointed and a resumed run continues it."""
  decay_steps = c.get('decay_steps', 0)
  if not decay_steps:
    return c.learning_rate
  return optax.linear_schedule(c.learning_rate, 0.0, decay_steps, transition_begin=c.get('decay_start_step', 0))


def _adam(c: ml_collections.ConfigDict) -> optax.GradientTransformation:
  return optax.adam(learning_rate(c), b1=c.b1, b2=c.b2, eps=c.eps, eps_root=c.eps_root)


def _rmsprop(c: ml_collections.ConfigDict) -> optax.GradientTransformation:
  return optax.rmsprop(learning_rate(c), decay=c.decay, eps=c.eps, momentum=c.momentum or None)


def _sgd(c: ml_collections.ConfigDict) -> optax.GradientTransformation:
  return optax.sgd(learning_rate(c), momentum=c.momentum or None)


OPTIMIZERS: dict[str, Callable[[ml_collections.ConfigDict], optax.GradientTransformation]] = {
    'adam': _adam,
    'rmsprop': _rmsprop,
    'sgd': _sgd,
}


# The fields each optimizer reads, besides learning_rate and clip_params: field -> (test, the accepted range).
_UNIT = (lambda v: 0.0 <= v < 1.0, 'must lie in [0, 1)')
_FIELDS = {
    'adam': {'b1': _UNIT, 'b2': _UNIT, 'eps': (lambda v: v > 0, 'must be > 0'),
             'eps_root': (lambda v: v >= 0, 'must be >= 0')},
    'rmsprop': {'decay': _UNIT, 'eps': (lambda v: v > 0, 'must be > 0'), 'momentum': _UNIT},
    'sgd': {'momentum': _UNIT},
}


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks the `config.optim` section: each network's optimizer name, learning rate, and the hyperparameters that
  optimizer reads (Adam's b1, b2 in [0, 1), eps > 0, eps_root >= 0; RMSProp's decay; momentum in [0, 1)),
  clip_params and weight_decay >= 0, and the optional linear decay's `decay_start_step` and `decay_steps`
  (integers >= 0).

  Raises:
    ConfigError: naming the field, the value and the accepted values.
  """
  networks = list(config.keys())
  for name in networks:
    choice(config[name].name, f'optim.{name}.name', sorted(OPTIMIZERS))
  for name in networks:
    section = config[name]
    require(section.learning_rate > 0, f'optim.{name}.learning_rate',
            f'got {section.learning_rate}; must be > 0')
    for field, (ok, accepted) in _FIELDS[section.name].items():
      value = section[field]
      require(_is_number(value) and ok(value), f'optim.{name}.{field}', f'got {value!r}; {accepted}')
    for field in ('clip_params', 'weight_decay'):
      value = section.get(field, 0.0)
      require(_is_number(value) and value >= 0, f'optim.{name}.{field}', f'got {value!r}; must be >= 0 (0: off)')
    for field, meaning in (('decay_start_step', 'the update at which the linear decay to 0 begins'),
                           ('decay_steps', 'the updates the linear decay to 0 takes; 0: a constant rate')):
      value = section.get(field, 0)
      require(isinstance(value, int) and not isinstance(value, bool) and value >= 0, f'optim.{name}.{field}',
              f'got {value!r}; must be an integer >= 0 ({meaning})')


def _is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def clip_params(limit: float) -> optax.GradientTransformation:
  """Turns each update into one that leaves the parameters inside [-limit, limit] (WGAN's weight clipping).

  As a transformation rather than a step after the optimizer, the clipping is part of D's optimizer and so also of
  every unrolled D update.
  """
  def update_fn(updates, state, params):
    clipped = jax.tree.map(lambda u, p: jnp.clip(p + u, -limit, limit) - p, updates, params)
    return clipped, state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def _weight_matrices(params):
  return jax.tree.map(lambda p: p.ndim >= 2, params)


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Builds the optax transformation named by `config.name` (a `config.optim.<network>` section): weight decay on
  the weight matrices first when `weight_decay` > 0, then the optimizer, then WGAN's clipping when `clip_params` > 0.

  Equal sections give the same object: the optimizer is a static part of the state, so two states built from one
  config must compare equal for a compiled step to accept both without recompiling.
  """
  return _cached_optimizer(ml_collections.FrozenConfigDict(config))


@functools.lru_cache(maxsize=None)
def _cached_optimizer(config: ml_collections.FrozenConfigDict) -> optax.GradientTransformation:
  tx = OPTIMIZERS[config.name](config)
  if config.get('weight_decay', 0.0):
    tx = optax.chain(optax.add_decayed_weights(config.weight_decay, mask=_weight_matrices), tx)
  return optax.chain(tx, clip_params(config.clip_params)) if config.clip_params else tx
