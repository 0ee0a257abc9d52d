"""Generator and discriminator registries: `config.gen.name` and `config.disc.name` pick a network by name.

Each builder takes the model's config section and the data shape (without batch) and returns a linen module called
as `module.apply(variables, inputs, train=...)`.
"""

from typing import Callable

import flax.linen as nn
import ml_collections

from gan_jax.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator

Shape = tuple[int, ...]
Builder = Callable[[ml_collections.ConfigDict, Shape, str | None], nn.Module]


def _mlp_generator(config: ml_collections.ConfigDict, data_shape: Shape, axis_name: str | None) -> nn.Module:
  del axis_name  # No batch statistics.
  if len(data_shape) != 1:
    raise ValueError(f'config.gen.name: "mlp" generates vectors; the data has shape {data_shape}')
  return MLPGenerator(hidden=tuple(config.hidden), output_dim=data_shape[0], init_gain=config.init_gain)


def _mlp_discriminator(config: ml_collections.ConfigDict, data_shape: Shape, axis_name: str | None) -> nn.Module:
  del data_shape, axis_name
  return MLPDiscriminator(hidden=tuple(config.hidden), input_scale=config.input_scale, init_gain=config.init_gain)


def _image_shape(name: str, data_shape: Shape) -> tuple[int, int]:
  if len(data_shape) != 3 or data_shape[0] != data_shape[1]:
    raise ValueError(f'config.gen.name: {name!r} needs square images [H, W, C]; the data has shape {data_shape}')
  return data_shape[0], data_shape[2]


def _dcgan_generator(config: ml_collections.ConfigDict, data_shape: Shape, axis_name: str | None) -> nn.Module:
  resolution, channels = _image_shape('dcgan', data_shape)
  return DCGANGenerator(resolution=resolution, channels=channels, base_channels=config.base_channels,
                        norm=config.norm, axis_name=axis_name)


def _dcgan_discriminator(config: ml_collections.ConfigDict, data_shape: Shape, axis_name: str | None) -> nn.Module:
  resolution, _ = _image_shape('dcgan', data_shape)
  return DCGANDiscriminator(resolution=resolution, base_channels=config.base_channels, norm=config.norm,
                            axis_name=axis_name)


GENERATORS: dict[str, Builder] = {'mlp': _mlp_generator, 'dcgan': _dcgan_generator}
DISCRIMINATORS: dict[str, Builder] = {'mlp': _mlp_discriminator, 'dcgan': _dcgan_discriminator}


def make_generator(config: ml_collections.ConfigDict, data_shape: Shape, axis_name: str | None = None) -> nn.Module:
  """The generator `config.name` for data of `data_shape`; `axis_name` is the pmap axis batch norm reduces over."""
  return GENERATORS[config.name](config, data_shape, axis_name)


def make_discriminator(config: ml_collections.ConfigDict, data_shape: Shape,
                       axis_name: str | None = None) -> nn.Module:
  """The discriminator `config.name` for data of `data_shape`."""
  return DISCRIMINATORS[config.name](config, data_shape, axis_name)


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
