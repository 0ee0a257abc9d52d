"""VGG19's convolutional feature network (Simonyan & Zisserman 2015, configuration E), for SRGAN's content loss.

The layers of torchvision's `vgg19().features`: five blocks of 3x3 convolutions (padding 1) each followed by ReLU,
of 2, 2, 4, 4, 4 convolutions with 64, 128, 256, 512, 512 channels, a 2x2 max pool after each block. Layer names
are `conv<block>_<i>` (torchvision's `features.<index>`: conv1_1 = 0, conv1_2 = 2, conv2_1 = 5, conv2_2 = 7,
conv3_1 = 10, ..., conv5_4 = 34). `VGG19Features(layer)` stops at a named layer's ReLU output, before the block's
pool: Ledig et al.'s phi_5,4 is 'relu5_4' (the 'vgg54' content loss), phi_2,2 is 'relu2_2' ('vgg22').

Input: RGB images in [0, 1], normalised inside the module by torchvision's ImageNet statistics (mean 0.485, 0.456,
0.406; std 0.229, 0.224, 0.225), as torchvision's weights expect.

Weights file (`.npz`, `numpy.savez`): for every convolution up to the deepest layer used, two float32 arrays,
  `conv<b>_<i>/kernel`: [3, 3, in, out], HWIO (Flax's `nn.Conv` layout; torch's [out, in, 3, 3] transposed
    (2, 3, 1, 0)),
  `conv<b>_<i>/bias`: [out].
Extra keys (deeper layers) are ignored; a missing or misshapen one is an error naming it. The file of torchvision's
ImageNet weights (`torchvision.models.vgg19(weights='IMAGENET1K_V1').state_dict()` saved with `torch.save`, or the
downloaded `vgg19-dcbb9e9d.pth`) is made by

  python -m gan_jax.models.vgg19 --from_torch vgg19-dcbb9e9d.pth --out vgg19.npz

which needs only torch (not torchvision): it reads the state dict's `features.<index>.weight/.bias`. The weights
themselves are not shipped here and cannot be downloaded on this machine.
"""

import argparse
import os
import sys
from typing import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))  # (channels, convolutions) per block.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def conv_names() -> tuple[str, ...]:
  """Every convolution's name, in order: conv1_1, conv1_2, conv2_1, ..., conv5_4."""
  return tuple(f'conv{b}_{i}' for b, (_, n) in enumerate(BLOCKS, 1) for i in range(1, n + 1))


def torch_indices() -> dict[str, int]:
  """conv name -> its index in torchvision's `vgg19().features` (each conv is followed by a ReLU, each block by a
  pool)."""
  indices, index = {}, 0
  for b, (_, n) in enumerate(BLOCKS, 1):
    for i in range(1, n + 1):
      indices[f'conv{b}_{i}'] = index
      index += 2
    index += 1  # The block's max pool.
  return indices


LAYERS = tuple(name.replace('conv', 'relu') for name in conv_names())  # The layers features can be taken at.


def convs_up_to(layer: str) -> tuple[str, ...]:
  """The convolutions the network runs to reach `layer` ('relu5_4' -> conv1_1 ... conv5_4)."""
  if layer not in LAYERS:
    raise ValueError(f'VGG19 layer: got {layer!r}; accepted: {", ".join(LAYERS)}')
  names = conv_names()
  return names[:names.index(layer.replace('relu', 'conv')) + 1]


def expected_shapes(layer: str) -> dict[str, tuple[int, ...]]:
  """The weights file's keys for `layer` and their shapes."""
  shapes, channels = {}, 3
  names = set(convs_up_to(layer))
  for b, (width, n) in enumerate(BLOCKS, 1):
    for i in range(1, n + 1):
      name = f'conv{b}_{i}'
      if name in names:
        shapes[f'{name}/kernel'] = (3, 3, channels, width)
        shapes[f'{name}/bias'] = (width,)
      channels = width
  return shapes


class VGG19Features(nn.Module):
  """Images [B, H, W, 3] in [0, 1] -> VGG19's features at `layer` (after its ReLU), [B, H / 2^k, W / 2^k, C] for
  the k pools before it.

  Attributes:
    layer: one of `LAYERS` ('relu5_4': phi_5,4; 'relu2_2': phi_2,2).
  """
  layer: str = 'relu5_4'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    names = convs_up_to(self.layer)
    x = (x - jnp.asarray(IMAGENET_MEAN, x.dtype)) / jnp.asarray(IMAGENET_STD, x.dtype)
    for b, (width, n) in enumerate(BLOCKS, 1):
      for i in range(1, n + 1):
        name = f'conv{b}_{i}'
        x = nn.relu(nn.Conv(width, (3, 3), padding=((1, 1), (1, 1)), name=name)(x))
        if name == names[-1]:
          return x
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
    raise AssertionError('unreachable: convs_up_to checked the layer')


def params_from_arrays(arrays: Mapping[str, np.ndarray], layer: str) -> dict:
  """The Flax parameters of `VGG19Features(layer)` from a weights file's arrays (see the module docstring).

  Raises:
    ValueError: a key is missing or has the wrong shape (named).
  """
  params = {}
  for key, shape in expected_shapes(layer).items():
    if key not in arrays:
      raise ValueError(f'VGG19 weights: no array {key!r} (needed for layer {layer}); the file has '
                       f'{", ".join(sorted(arrays)[:6])}{", ..." if len(arrays) > 6 else ""}')
    value = np.asarray(arrays[key], np.float32)
    if value.shape != shape:
      raise ValueError(f'VGG19 weights: {key!r} has shape {value.shape}, expected {shape} (kernels are HWIO)')
    name, leaf = key.split('/')
    params.setdefault(name, {})[leaf] = jnp.asarray(value)
  return params


def load_params(path: str, layer: str) -> dict:
  """`params_from_arrays` of the `.npz` file at `path`."""
  with np.load(path) as arrays:
    return params_from_arrays({k: arrays[k] for k in arrays.files}, layer)


def arrays_from_torch(state_dict: Mapping[str, object]) -> dict[str, np.ndarray]:
  """A torchvision VGG19 state dict (its `features.<index>.weight` [out, in, 3, 3] and `.bias`; a bare
  `features` Sequential's `<index>.weight` too) -> the weights file's arrays."""
  arrays = {}
  prefix = 'features.' if any(str(k).startswith('features.') for k in state_dict) else ''
  for name, index in torch_indices().items():
    weight, bias = state_dict.get(f'{prefix}{index}.weight'), state_dict.get(f'{prefix}{index}.bias')
    if weight is None or bias is None:
      raise ValueError(f'torch state dict: no {prefix}{index}.weight/.bias ({name}); is it a VGG19 '
                       '(torchvision.models.vgg19) state dict?')
    weight = np.asarray(weight.detach().cpu().numpy() if hasattr(weight, 'detach') else weight, np.float32)
    bias = np.asarray(bias.detach().cpu().numpy() if hasattr(bias, 'detach') else bias, np.float32)
    arrays[f'{name}/kernel'] = weight.transpose(2, 3, 1, 0)
    arrays[f'{name}/bias'] = bias
  return arrays


def convert_torch_file(torch_path: str, out_path: str) -> None:
  """Writes the weights file `out_path` from a torch state-dict file (`torch.save(model.state_dict(), ...)`)."""
  import torch  # Only the converter needs it.
  state_dict = torch.load(torch_path, map_location='cpu', weights_only=True)
  if hasattr(state_dict, 'state_dict'):
    state_dict = state_dict.state_dict()
  arrays = arrays_from_torch(state_dict)
  expected = expected_shapes(LAYERS[-1])
  for key, value in arrays.items():
    if value.shape != expected[key]:
      raise ValueError(f'{torch_path}: {key} has shape {value.shape} after conversion, expected {expected[key]}; '
                       'not a VGG19')
  np.savez(out_path, **arrays)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python -m gan_jax.models.vgg19',
                                   description="Converts torchvision's VGG19 weights into gan_jax's .npz format.")
  parser.add_argument('--from_torch', required=True, help='a torch state dict of torchvision.models.vgg19')
  parser.add_argument('--out', required=True, help='the .npz file to write')
  args = parser.parse_args(argv)
  if not os.path.exists(args.from_torch):
    print(f'--from_torch: no such file {args.from_torch}', file=sys.stderr)
    return 2
  try:
    convert_torch_file(args.from_torch, args.out)
  except ValueError as error:
    print(error, file=sys.stderr)
    return 2
  print(f'wrote {args.out}: {len(conv_names())} convolutions, conv1_1 ... conv5_4')
  return 0


if __name__ == '__main__':
  sys.exit(main())
