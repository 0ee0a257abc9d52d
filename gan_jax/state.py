"""The training state: named networks, each carrying its own optimizer and running statistics, plus step and rng.

A GAN's state holds networks 'g' and 'd'; CycleGAN's would hold 'g_ab', 'g_ba', 'd_a', 'd_b', a VAE's 'encoder' and
'decoder'. Each `Network` advances its own invariants (optimizer state, batch statistics, EMA, historical average)
in `apply_gradients`, so any loop of updates, the framework's or a researcher's, keeps them.

Build from objects with `Network.create` and `TrainState.create` (or `create_gan`), as with Flax's
`TrainState.create`; `create_state(config, ...)` adapts an experiment config onto those.
"""

import inspect
from typing import Any, Mapping

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from gan_jax import history, models, optim
from gan_jax import noise as noise_lib
from gan_jax.noise import NoiseSpec
from gan_jax.rng import REFERENCE_STREAM

PyTree = Any


def _call_keywords(module: nn.Module) -> tuple[str, ...] | None:
  """The keyword arguments `module.__call__` takes (None: any, it has **kwargs)."""
  parameters = list(inspect.signature(type(module).__call__).parameters.values())[1:]
  if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
    return None
  return tuple(p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL)


def _copy(tree: PyTree) -> PyTree:
  return jax.tree.map(jnp.copy, tree)  # Own buffers: the state is donated, and a buffer can be donated only once.


@flax.struct.dataclass
class Network:
  """One trained network: its module and optimizer (static), and the arrays that change as it trains.

  Attributes:
    params: the module's parameters.
    opt_state: the optimizer's state.
    batch_stats: the module's 'batch_stats' collection ({} without batch norm).
    ema_params: an exponential moving average of `params` ({} when `ema_decay` is 0), for sampling.
    average: the running mean of all past `params` ({} when off), for historical averaging.
    count: the number of updates applied.
    module: a Flax linen module; called as `module.apply(variables, *inputs, **keywords)` with only the keywords
      its `__call__` takes (`train` when it has one), so any module works.
    tx: the optax transformation of its updates.
    ema_decay: the decay of `ema_params`.
  """
  params: PyTree
  opt_state: PyTree
  batch_stats: PyTree
  ema_params: PyTree
  average: PyTree
  count: jax.Array
  module: nn.Module = flax.struct.field(pytree_node=False)
  tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  ema_decay: float = flax.struct.field(pytree_node=False, default=0.0)
  call_keywords: tuple[str, ...] | None = flax.struct.field(pytree_node=False, default=None)

  @classmethod
  def create(cls, module: nn.Module, tx: optax.GradientTransformation, key: jax.Array, *example_inputs,
             ema_decay: float = 0.0, keep_average: bool = False, **example_keywords) -> 'Network':
    """Initialises `module` on example inputs (batch axis first) and `tx` on its parameters, in one compiled call.

    Args:
      module: any Flax linen module.
      tx: its optimizer.
      key: the initialisation key.
      *example_inputs: positional inputs of the right shapes (values are ignored).
      ema_decay: > 0 keeps a moving average of the parameters.
      keep_average: keep the running mean of past parameters (historical averaging).
      **example_keywords: keyword inputs (e.g. labels `y`); those `module` does not take are dropped. Arrays are
        the compiled call's inputs; other values (flags, sizes) stay Python values, as in `module.init`.
    """
    keywords = _call_keywords(module)
    inputs = (example_inputs, _accepted(keywords, {**example_keywords, 'train': False}))

    def initialise(key, arrays):
      example_inputs, example_keywords = _with_arrays(inputs, arrays)
      variables = module.init(key, *example_inputs, **example_keywords)
      unknown = set(variables) - {'params', 'batch_stats'}
      if unknown:
        raise ValueError(f'{type(module).__name__}: variable collections {sorted(unknown)} are not trained by '
                         "gan_jax; a network may have 'params' and 'batch_stats'")
      params = variables['params']
      return params, tx.init(params), variables.get('batch_stats', {})

    # One program: op by op, initialising compiles every distinct op on its own (a 64x64 DCGAN's two networks,
    # initialised and run once on a 2-core CPU: about 8 s op by op, 2 s compiled whole).
    params, opt_state, batch_stats = jax.jit(initialise)(key, _arrays(inputs))
    return cls(params=params, opt_state=opt_state, batch_stats=batch_stats,
               ema_params=_copy(params) if ema_decay > 0 else {},
               average=_copy(params) if keep_average else {}, count=jnp.zeros((), jnp.int32),
               module=module, tx=tx, ema_decay=ema_decay, call_keywords=keywords)

  def apply(self, *inputs, params: PyTree | None = None, batch_stats: PyTree | None = None, train: bool = True,
            **keywords) -> tuple[Any, PyTree]:
    """Runs the module as a pure function; returns (outputs, batch stats after the call).

    `params` and `batch_stats` default to the network's own. In training mode batch norm uses and updates batch
    statistics; in evaluation mode the running averages.
    """
    params = self.params if params is None else params
    batch_stats = self.batch_stats if batch_stats is None else batch_stats
    keywords = _accepted(self.call_keywords, {**keywords, 'train': train})
    if not batch_stats:
      return self.module.apply({'params': params}, *inputs, **keywords), batch_stats
    variables = {'params': params, 'batch_stats': batch_stats}
    if not train:
      return self.module.apply(variables, *inputs, **keywords), batch_stats
    outputs, updates = self.module.apply(variables, *inputs, mutable=['batch_stats'], **keywords)
    return outputs, updates['batch_stats']

  def apply_gradients(self, grads: PyTree, batch_stats: PyTree | None = None) -> tuple['Network', PyTree]:
    """One optimizer update; advances the EMA and the historical average with it. Returns (network, updates)."""
    updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
    params = optax.apply_updates(self.params, updates)
    ema = self.ema_params
    if self.ema_decay > 0:
      ema = optax.incremental_update(params, ema, step_size=1.0 - self.ema_decay)
    average = self.average
    if average:  # Before this update it held `count + 1` values (the initial parameters and one per update).
      average = history.update_average(average, params, self.count + 1)
    network = self.replace(params=params, opt_state=opt_state, ema_params=ema, average=average, count=self.count + 1,
                           batch_stats=self.batch_stats if batch_stats is None else batch_stats)
    return network, updates

  @property
  def sampling_params(self) -> PyTree:
    """The weights to sample and evaluate with: the moving average when there is one."""
    return self.ema_params or self.params


def _arrays(tree: PyTree) -> list[jax.Array]:
  """The array leaves of `tree`: what a compiled function takes as inputs; its other leaves (flags, sizes) are
  Python values the function closes over."""
  return [leaf for leaf in jax.tree.leaves(tree) if isinstance(leaf, (jax.Array, np.ndarray))]


def _with_arrays(tree: PyTree, arrays: list[jax.Array]) -> PyTree:
  """`tree` with its array leaves replaced, in order, by `arrays`."""
  leaves, treedef = jax.tree.flatten(tree)
  arrays = iter(arrays)
  return jax.tree.unflatten(treedef, [next(arrays) if isinstance(leaf, (jax.Array, np.ndarray)) else leaf
                                      for leaf in leaves])


def _accepted(call_keywords: tuple[str, ...] | None, keywords: Mapping[str, Any]) -> dict[str, Any]:
  if call_keywords is None:
    return dict(keywords)
  return {k: v for k, v in keywords.items() if k in call_keywords}


@flax.struct.dataclass
class TrainState:
  """Everything that changes during training: the networks by name, the step and the run's key.

  Attributes:
    step: training iterations completed.
    rng: a typed key; each step's randomness is `fold_in(rng, step)` (see `rng.py`), so a resumed run draws the same.
    nets: the networks by name.
    extras: the state of training techniques that belong to no single network: experience replay's buffer
      ('replay'), snapshot swaps' older copies ('snapshots'), virtual batch norm's reference batches ('reference').
    noise: what a GAN's generator takes (static; None for models without one).
    pack: how many examples a GAN's discriminator judges as one input (static; PacGAN's m, 1: no packing).
  """
  step: jax.Array
  rng: jax.Array
  nets: dict[str, Network]
  extras: dict[str, PyTree] = flax.struct.field(default_factory=dict)
  noise: NoiseSpec | None = flax.struct.field(pytree_node=False, default=None)
  pack: int = flax.struct.field(pytree_node=False, default=1)

  @classmethod
  def create(cls, nets: Mapping[str, Network], key: jax.Array, *, noise: NoiseSpec | None = None,
             extras: Mapping[str, PyTree] | None = None, pack: int = 1) -> 'TrainState':
    """The state at step 0 of the given networks; `key` becomes the run's key."""
    return cls(step=jnp.zeros((), jnp.int32), rng=key, nets=dict(nets), extras=dict(extras or {}), noise=noise,
               pack=pack)

  def replace_nets(self, **nets: Network) -> 'TrainState':
    """The state with the named networks replaced."""
    return self.replace(nets={**self.nets, **nets})

  def with_params(self, params: Mapping[str, PyTree]) -> 'TrainState':
    """The state with the named networks' parameters replaced (inside an objective being differentiated)."""
    return self.replace(nets={name: net.replace(params=params[name]) if name in params else net
                              for name, net in self.nets.items()})


DISCRIMINATOR_CONTRACT = ("a discriminator returns its logits, an array [B] (or [B, 1]), or a dict with 'logits' "
                          "[B] and, for the objective terms that need them, 'hidden' (feature matching), "
                          "'class_logits' (AC-GAN, semi-supervised), 'code_logits'/'code_mean' (InfoGAN)")


def discriminator_outputs(outputs: Any, batch: int | None = None) -> dict[str, Any]:
  """D's outputs as a dict with 'logits' [B], from any output the contract allows; a clear error otherwise."""
  if isinstance(outputs, Mapping):
    if 'logits' not in outputs:
      raise ValueError(f'discriminator: returned a dict with keys {sorted(outputs)}, no "logits"; '
                       f'{DISCRIMINATOR_CONTRACT}')
    logits = outputs['logits']
  elif hasattr(outputs, 'shape'):
    logits, outputs = outputs, {}
  else:
    raise ValueError(f'discriminator: returned {type(outputs).__name__}; {DISCRIMINATOR_CONTRACT}')
  if logits.ndim == 2 and logits.shape[1] == 1:
    logits = logits[:, 0]
  if logits.ndim != 1 or (batch is not None and logits.shape[0] != batch):
    raise ValueError(f'discriminator: logits have shape {tuple(logits.shape)} for a batch of {batch}; '
                     f'{DISCRIMINATOR_CONTRACT}')
  return {**outputs, 'logits': logits}


def pack_inputs(x: jax.Array, m: int) -> jax.Array:
  """PacGAN's packing: each run of `m` consecutive examples becomes one input of D.

  Vectors [B, d] -> [B/m, m*d] (features concatenated); images [B, H, W, C] -> [B/m, H, W, m*C] (channels
  concatenated), example by example: packed input i holds examples i*m, ..., i*m + m - 1 in that order.
  """
  if m == 1:
    return x
  batch = x.shape[0]
  if batch % m:
    raise ValueError(f'config.disc.pack: a batch of {batch} examples cannot be packed {m} at a time')
  if x.ndim <= 2:
    return x.reshape(batch // m, -1)
  grouped = jnp.moveaxis(x.reshape(batch // m, m, *x.shape[1:]), 1, -2)  # [B/m, H, W, m, C]
  return grouped.reshape(*grouped.shape[:-2], m * x.shape[-1])


def create_gan(generator: nn.Module, discriminator: nn.Module, g_tx: optax.GradientTransformation,
               d_tx: optax.GradientTransformation, key: jax.Array, example_x: jax.Array, *,
               noise: NoiseSpec | int, ema_decay: float = 0.0, historical_averaging: bool = False,
               extras: Mapping[str, PyTree] | None = None, reference_rows: tuple[int, int] = (0, 0),
               pack: int = 1) -> TrainState:
  """A GAN's state from its two modules and optimizers; checks that D keeps the discriminator contract.

  Args:
    generator: a module taking G's input vectors [B, noise.input_dim] (and `train=` if it wants it).
    discriminator: a module taking examples [B, ...] (and `y=` labels, `train=` if it wants them), returning what
      `DISCRIMINATOR_CONTRACT` says.
    g_tx, d_tx: their optimizers.
    key: a typed PRNG key; split into the two initialisation keys and the run's key.
    example_x: one or more real examples (only the shape and dtype are used).
    noise: G's input: a `NoiseSpec`, or the latent dimension of a plain N(0, I) latent.
    ema_decay: > 0 keeps a moving average of G's weights for sampling.
    historical_averaging: keep both players' running means of past parameters.
    extras: technique state (see `TrainState.extras`).
    reference_rows: virtual batch norm's reference rows that lead every input of (G, D).
    pack: D judges this many examples at once (PacGAN): it is built for `pack` examples packed into one input, and
      `objectives.discriminate` packs its inputs.

  Returns:
    The state at step 0 with networks 'g' and 'd'.

  Raises:
    ValueError: D's outputs break the contract.
  """
  if isinstance(noise, int):
    noise = NoiseSpec(latent_dim=noise)
  g_key, d_key, rng = jax.random.split(key, 3)
  g_rows, d_rows = reference_rows
  if pack > 1 and d_rows:
    raise ValueError("config.disc.pack: packing and virtual batch norm's reference rows do not combine")
  x = jnp.zeros((d_rows + 1, *example_x.shape[1:]), example_x.dtype)
  if pack > 1:
    x = pack_inputs(jnp.zeros((pack, *example_x.shape[1:]), example_x.dtype), pack)
  y = jnp.zeros((d_rows + 1,), jnp.int32)
  g = Network.create(generator, g_tx, g_key, jnp.zeros((g_rows + 1, noise.input_dim)), ema_decay=ema_decay,
                     keep_average=historical_averaging)
  d = Network.create(discriminator, d_tx, d_key, x, y=y, keep_average=historical_averaging)
  jax.eval_shape(lambda: discriminator_outputs(d.apply(x, y=y, train=False)[0], d_rows + 1))
  return TrainState.create({'g': g, 'd': d}, rng, noise=noise, extras=extras, pack=pack)


# The config adapter.


def make_noise_spec(config: ml_collections.ConfigDict, num_classes: int) -> NoiseSpec:
  """What the config's generator takes: z, a class label when conditional (cGAN, AC-GAN), InfoGAN's codes."""
  return NoiseSpec(latent_dim=config.gen.latent_dim, latent_dist=config.gen.latent_dist,
                   num_classes=num_classes if config.cond.enabled else 0,
                   info_categories=config.info.categories, info_continuous=config.info.continuous)


def create_state(config: ml_collections.ConfigDict, key: jax.Array, data_shape: tuple[int, ...], *,
                 num_classes: int = 0, reference_batch: dict[str, jax.Array] | None = None) -> TrainState:
  """The GAN `config` describes, at step 0: its networks and optimizers built by name, then `create_gan`.

  Args:
    config: the experiment config (its `gen`, `disc`, `optim`, `cond`, `info`, `loss` and `replay` sections).
    key: a typed PRNG key (`jax.random.key`).
    data_shape: the shape of one real example, without the batch axis.
    num_classes: the dataset's classes (conditional models and class heads need them).
    reference_batch: virtual batch norm's fixed real examples {'x', 'y'}, drawn once by the caller; needed when
      `disc.norm` is 'virtual_batch'.
  """
  noise_spec = make_noise_spec(config, num_classes)
  heads = models.head_options(config, num_classes)
  g_rows = config.train.reference_batch_size if config.gen.norm == 'virtual_batch' else 0
  d_rows = config.train.reference_batch_size if config.disc.norm == 'virtual_batch' else 0
  generator = models.make_generator(config.gen, data_shape, g_rows)
  discriminator = models.make_discriminator(config.disc, data_shape, heads, d_rows)
  _, _, rng = jax.random.split(key, 3)  # The run's key, as `create_gan` splits it.
  extras = {}
  reference = {}
  if g_rows:
    reference['noise'] = noise_lib.sample_noise(jax.random.fold_in(rng, REFERENCE_STREAM), g_rows, noise_spec)
  if d_rows:
    if reference_batch is None:
      raise ValueError('config.disc.norm: virtual_batch needs a reference batch of real examples')
    reference['x'], reference['y'] = reference_batch['x'], reference_batch['y']
  if reference:
    extras['reference'] = reference
  if config.replay.fraction:
    extras['replay'] = history.init_buffer(config.replay.capacity, data_shape,
                                           with_labels=noise_spec.num_classes > 0)
  state = create_gan(generator, discriminator, optim.make_optimizer(config.optim.g),
                     optim.make_optimizer(config.optim.d), key, jnp.zeros((1, *data_shape)), noise=noise_spec,
                     ema_decay=config.gen.ema_decay, historical_averaging=config.loss.d.historical_averaging > 0
                     or config.loss.g.historical_averaging > 0, extras=extras, reference_rows=(g_rows, d_rows),
                     pack=config.disc.pack)
  if config.replay.swap_every:
    state = state.replace(extras={**state.extras, 'snapshots': history.snapshot(state.nets)})
  return state


