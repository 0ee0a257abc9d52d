"""Generator and discriminator registries: `config.gen.name` and `config.disc.name` pick a network by name.

Each builder takes the model's config section, the data shape (without batch) and, for discriminators, the
`HeadOptions`, and returns a linen module: generators are called as `module.apply(variables, inputs, train=...)`,
discriminators as `module.apply(variables, x, y, train=...)` and return a dict of outputs (see `heads.py`). Any
other Flax module can stand in for either (see `state.create_gan` and `state.DISCRIMINATOR_CONTRACT`).
"""

from typing import Callable

import flax.linen as nn
import ml_collections

from gan_jax.config import choice, int_at_least, require
from gan_jax.models.conv import ConvDiscriminator, ConvGenerator
from gan_jax.models.dcgan import NORMS, DCGANDiscriminator, DCGANGenerator
from gan_jax.models.heads import CONDITIONINGS, HeadOptions
from gan_jax.models.mlp import INITS, MLP_NORMS, MLPDiscriminator, MLPGenerator

Shape = tuple[int, ...]
MINIBATCH_SCOPES = ('global', 'device')
Builder = Callable[..., nn.Module]


def head_options(config: ml_collections.ConfigDict, num_labels: int) -> HeadOptions:
  """The discriminator structure the experiment config asks for, for a dataset of `num_labels` classes."""
  class_head = 'none'
  if config.semi.labels_per_class:
    class_head = 'semi_supervised'
  elif config.loss.d.aux_classifier or config.loss.g.aux_classifier:
    class_head = 'auxiliary'
  conditioned = config.cond.enabled and config.cond.disc != 'none'
  return HeadOptions(
      num_classes=num_labels if conditioned else 0,
      conditioning=config.cond.disc if conditioned else 'concat',
      class_head=class_head,
      num_labels=num_labels if class_head != 'none' else 0,
      info_categories=config.info.categories,
      info_continuous=config.info.continuous,
      minibatch_kernels=config.disc.minibatch_kernels,
      minibatch_kernel_dim=config.disc.minibatch_kernel_dim,
      minibatch_per_device=config.disc.minibatch_scope == 'device')


def _mlp_generator(config: ml_collections.ConfigDict, data_shape: Shape, reference_size: int) -> nn.Module:
  del reference_size  # No virtual batch norm.
  if len(data_shape) != 1:
    raise ValueError(f'config.gen.name: "mlp" generates vectors; the data has shape {data_shape}')
  return MLPGenerator(hidden=tuple(config.hidden), output_dim=data_shape[0], init_gain=config.init_gain,
                      norm=config.mlp_norm, init_kind=config.init, init_std=config.init_std)


def _mlp_discriminator(config: ml_collections.ConfigDict, data_shape: Shape, heads: HeadOptions,
                       reference_size: int) -> nn.Module:
  del data_shape, reference_size
  return MLPDiscriminator(hidden=tuple(config.hidden), input_scale=config.input_scale, init_gain=config.init_gain,
                          heads=heads, maxout_pieces=config.maxout_pieces, init_kind=config.init,
                          init_std=config.init_std)


def _image_shape(name: str, data_shape: Shape) -> tuple[int, int]:
  if len(data_shape) != 3 or data_shape[0] != data_shape[1]:
    raise ValueError(f'config.gen.name: {name!r} needs square images [H, W, C]; the data has shape {data_shape}')
  return data_shape[0], data_shape[2]


def _dcgan_generator(config: ml_collections.ConfigDict, data_shape: Shape, reference_size: int) -> nn.Module:
  resolution, channels = _image_shape('dcgan', data_shape)
  return DCGANGenerator(resolution=resolution, channels=channels, base_channels=config.base_channels,
                        norm=config.norm, reference_size=reference_size)


def _dcgan_discriminator(config: ml_collections.ConfigDict, data_shape: Shape, heads: HeadOptions,
                         reference_size: int) -> nn.Module:
  resolution, _ = _image_shape('dcgan', data_shape)
  return DCGANDiscriminator(resolution=resolution, base_channels=config.base_channels, norm=config.norm,
                            heads=heads, reference_size=reference_size)


def _conv_generator(config: ml_collections.ConfigDict, data_shape: Shape, reference_size: int) -> nn.Module:
  resolution, channels = _image_shape('conv', data_shape)
  return ConvGenerator(resolution=resolution, channels=channels, widths=tuple(config.widths),
                       kernel_size=config.kernel_size, norm=config.norm, reference_size=reference_size)


def _conv_discriminator(config: ml_collections.ConfigDict, data_shape: Shape, heads: HeadOptions,
                        reference_size: int) -> nn.Module:
  _image_shape('conv', data_shape)
  return ConvDiscriminator(widths=tuple(config.widths), kernel_size=config.kernel_size,
                           leaky_slope=config.leaky_slope, norm=config.norm, heads=heads,
                           reference_size=reference_size)


GENERATORS: dict[str, Builder] = {'mlp': _mlp_generator, 'dcgan': _dcgan_generator, 'conv': _conv_generator}
DISCRIMINATORS: dict[str, Builder] = {'mlp': _mlp_discriminator, 'dcgan': _dcgan_discriminator,
                                      'conv': _conv_discriminator}
CONVOLUTIONAL = ('dcgan', 'conv')  # The networks whose norm may be any of NORMS.


def make_generator(config: ml_collections.ConfigDict, data_shape: Shape, reference_size: int = 0) -> nn.Module:
  """The generator `config.name` for data of `data_shape`.

  Args:
    config: the `gen` section.
    data_shape: one example's shape.
    reference_size: the reference batch's size, for virtual batch norm.
  """
  return GENERATORS[config.name](config, data_shape, reference_size)


def make_discriminator(config: ml_collections.ConfigDict, data_shape: Shape, heads: HeadOptions = HeadOptions(),
                       reference_size: int = 0) -> nn.Module:
  """The discriminator `config.name` (the `disc` section) for data of `data_shape`, with the heads `heads`."""
  return DISCRIMINATORS[config.name](config, data_shape, heads, reference_size)


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks what the networks are built from: the `gen` and `disc` sections and the heads' options.

  The heads' options are `cond.disc`, `info` and `semi`. G's latent fields are the noise's (`noise.validate`); the
  rules that join the networks to the data or the objective are `gan_jax.validation`'s.

  Raises:
    ConfigError: naming the field, the value and the accepted values.
  """
  choice(config.gen.name, 'gen.name', sorted(GENERATORS))
  choice(config.disc.name, 'disc.name', sorted(DISCRIMINATORS))
  choice(config.gen.norm, 'gen.norm', NORMS)
  choice(config.disc.norm, 'disc.norm', NORMS)
  choice(config.cond.disc, 'cond.disc', ('none',) + CONDITIONINGS)
  choice(config.gen.mlp_norm, 'gen.mlp_norm', MLP_NORMS)
  for player in ('gen', 'disc'):
    choice(config[player].init, f'{player}.init', INITS)
    require(config[player].init_std > 0, f'{player}.init_std', f'got {config[player].init_std}; must be > 0')
  int_at_least(config.disc.maxout_pieces, 'disc.maxout_pieces', minimum=0)
  require(config.disc.maxout_pieces != 1, 'disc.maxout_pieces', 'got 1; a maxout layer needs >= 2 pieces (0: ReLU)')
  int_at_least(config.disc.pack, 'disc.pack')
  mlp_options = (('gen.mlp_norm', config.gen.mlp_norm != 'none', config.gen.name),
                 ('gen.init', config.gen.init != 'orthogonal', config.gen.name),
                 ('disc.init', config.disc.init != 'orthogonal', config.disc.name),
                 ('disc.maxout_pieces', config.disc.maxout_pieces, config.disc.name))
  for field, used, name in mlp_options:
    require(not used or name == 'mlp', field, f'applies to the mlp networks, not {name!r}')
  for field in ('info.categories', 'info.continuous', 'semi.labels_per_class', 'disc.minibatch_kernels'):
    section, key = field.split('.')
    int_at_least(config[section][key], field, minimum=0)
  int_at_least(config.disc.minibatch_kernel_dim, 'disc.minibatch_kernel_dim')
  choice(config.disc.minibatch_scope, 'disc.minibatch_scope', MINIBATCH_SCOPES)
  require(not (config.disc.norm == 'virtual_batch' and config.disc.minibatch_kernels), 'disc.minibatch_kernels',
          'minibatch discrimination would compare examples with the reference batch of disc.norm=virtual_batch')
  for player in ('gen', 'disc'):
    require(config[player].norm in ('batch', 'layer', 'none') or config[player].name in CONVOLUTIONAL,
            f'{player}.norm',
            f'{config[player].norm!r} applies to convolutional networks ({", ".join(CONVOLUTIONAL)}), not '
            f'{config[player].name!r}')
  require(0.0 <= config.gen.ema_decay < 1.0, 'gen.ema_decay', f'got {config.gen.ema_decay}; must lie in [0, 1)')
  for player in ('gen', 'disc'):
    hidden = config[player].hidden
    require(isinstance(hidden, (tuple, list)) and all(_is_width(width) for width in hidden), f'{player}.hidden',
            f'got {hidden!r}; must be a tuple of layer widths, each an integer >= 1')
    int_at_least(config[player].base_channels, f'{player}.base_channels')
    widths = config[player].widths
    require(isinstance(widths, (tuple, list)) and widths and all(_is_width(width) for width in widths),
            f'{player}.widths', f'got {widths!r}; must be a non-empty tuple of channel counts, each an integer >= 1')
  require(config.gen.kernel_size in (3, 4), 'gen.kernel_size',  # What UpConv2x computes.
          f'got {config.gen.kernel_size!r}; accepted values: 3, 4')
  require(config.disc.kernel_size in (3, 4, 5), 'disc.kernel_size',
          f'got {config.disc.kernel_size!r}; accepted values: 3, 4, 5')
  require(0.0 <= config.disc.leaky_slope < 1.0, 'disc.leaky_slope',
          f'got {config.disc.leaky_slope}; must lie in [0, 1)')


def _is_width(value) -> bool:
  return isinstance(value, int) and not isinstance(value, bool) and value >= 1
