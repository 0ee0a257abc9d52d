"""Generator and discriminator registries: `config.gen.name` and `config.disc.name` pick a network by name.

Each builder takes the model's config section and the data shape (without batch) and returns a linen module called
as `module.apply(variables, inputs, train=...)`.
"""

from typing import Callable

import flax.linen as nn
import ml_collections

from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator

Shape = tuple[int, ...]


def _mlp_generator(config: ml_collections.ConfigDict, data_shape: Shape) -> nn.Module:
  if len(data_shape) != 1:
    raise ValueError(f'config.gen.name: "mlp" generates vectors; the data has shape {data_shape}')
  return MLPGenerator(hidden=tuple(config.hidden), output_dim=data_shape[0], init_gain=config.init_gain)


def _mlp_discriminator(config: ml_collections.ConfigDict, data_shape: Shape) -> nn.Module:
  del data_shape
  return MLPDiscriminator(hidden=tuple(config.hidden), input_scale=config.input_scale, init_gain=config.init_gain)


GENERATORS: dict[str, Callable[[ml_collections.ConfigDict, Shape], nn.Module]] = {'mlp': _mlp_generator}
DISCRIMINATORS: dict[str, Callable[[ml_collections.ConfigDict, Shape], nn.Module]] = {'mlp': _mlp_discriminator}


def make_generator(config: ml_collections.ConfigDict, data_shape: Shape) -> nn.Module:
  return GENERATORS[config.name](config, data_shape)


def make_discriminator(config: ml_collections.ConfigDict, data_shape: Shape) -> nn.Module:
  return DISCRIMINATORS[config.name](config, data_shape)


def apply_model(module: nn.Module, params, batch_stats, inputs, train: bool):
  """Runs `module` as a pure function; returns (outputs, batch_stats after the call).

  Networks without batch normalisation have empty `batch_stats` and return them unchanged.
  """
  if not batch_stats:
    return module.apply({'params': params}, inputs, train=train), batch_stats
  variables = {'params': params, 'batch_stats': batch_stats}
  if not train:
    return module.apply(variables, inputs, train=False), batch_stats
  outputs, updates = module.apply(variables, inputs, train=True, mutable=['batch_stats'])
  return outputs, updates['batch_stats']
