"""The Inception-v3 network of FID, KID and the Inception Score, in Flax.

This is the 2015-12-05 TensorFlow graph (`pt_inception-2015-12-05`) that the original FID code, pytorch-fid,
torch-fidelity, StudioGAN and StyleGAN evaluate with, not torchvision's or Keras' Inception-v3: its pooling differs
from the paper in a few blocks, and it has 1008 classes. The port follows torch-fidelity's
`FeatureExtractorInceptionV3` step by step, including TensorFlow 1.x's bilinear resize to 299x299, so that features
computed here can be compared with statistics computed there.

Inputs are NHWC images of any size, either uint8 in [0, 255] (the reference's own input) or floats in [-1, 1] (what
a generator emits). Weights come from the public PyTorch file (see `load_params`); the parameter tree mirrors its
keys, e.g. `Mixed_5b.branch1x1.conv.weight` is `params['Mixed_5b']['branch1x1']['conv']['kernel']`.
"""

import argparse
import functools
import os
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

INPUT_SIZE = 299
NUM_CLASSES = 1008  # 1000 ImageNet classes and 8 unused ones, as in the TensorFlow graph.
WEIGHTS_FILENAME = 'weights-inception-2015-12-05-6726825d.pth'
WEIGHTS_URL = f'https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_FILENAME}'
# The same file (same hash suffix) under pytorch-fid's name.
PYTORCH_FID_WEIGHTS_URL = ('https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/'
                           'pt_inception-2015-12-05-6726825d.pth')

Variables = dict[str, Any]


def resize_bilinear_tf1(images: jax.Array, size: tuple[int, int]) -> jax.Array:
  """Resizes NHWC float images as TensorFlow 1.x `resize_bilinear` (align_corners=False, no half-pixel centres).

  Output pixel i samples the input at i * in_size / out_size, so the image is anchored at its top-left corner
  rather than centred as in `jax.image.resize`. The arithmetic (float32 coordinates, x before y) follows
  torch-fidelity's `interpolate_bilinear_2d_like_tensorflow1x`, which matches TensorFlow exactly on CPU. Run
  eagerly, this function gives the same bits; under jit, XLA fuses each interpolation into a fused multiply-add,
  which moves outputs by a few float32 roundings (under 1e-4 on the 0..255 scale).

  Args:
    images: [N, H, W, C] floats.
    size: (height, width) of the output.

  Returns:
    [N, size[0], size[1], C] images of the input's dtype.
  """
  def sample_positions(in_size, out_size):
    # Shapes are static, so the positions are NumPy constants: under jit, XLA would fuse the product and the
    # subtraction into one FMA and get fractions a rounding away from the reference's. The scale is a float64
    # ratio rounded once to float32, as there.
    position = np.arange(out_size, dtype=np.float32) * np.float32(in_size / out_size)
    lo = np.floor(position).astype(np.int32)
    hi = np.minimum(lo + 1, in_size - 1)
    return lo, hi, (position - lo.astype(np.float32)).astype(images.dtype)

  images = jnp.asarray(images)
  y_lo, y_hi, dy = sample_positions(images.shape[1], size[0])
  x_lo, x_hi, dx = sample_positions(images.shape[2], size[1])
  top, bottom = images[:, y_lo], images[:, y_hi]
  dx = dx[:, None]
  top = top[:, :, x_lo] + (top[:, :, x_hi] - top[:, :, x_lo]) * dx
  bottom = bottom[:, :, x_lo] + (bottom[:, :, x_hi] - bottom[:, :, x_lo]) * dx
  return top + (bottom - top) * dy[:, None, None]


def preprocess(images: jax.Array) -> jax.Array:
  """Maps uint8 [0, 255] or float [-1, 1] NHWC images to the network's 299x299 input.

  Floats are mapped to [0, 255] by (x + 1) * 127.5 without rounding, so they give what the same images quantised
  to uint8 would give, up to that quantisation. The resize happens on the 0..255 scale and the result is scaled by
  (x - 128) / 128 as in the TensorFlow graph, so white (255) becomes 0.9921875, not 1.
  """
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f'Expected RGB images of shape [N, H, W, 3], got {images.shape}.')
  if images.dtype == jnp.uint8:
    x = images.astype(jnp.float32)
  else:
    x = (images.astype(jnp.float32) + 1) * 127.5
  x = resize_bilinear_tf1(x, (INPUT_SIZE, INPUT_SIZE))
  return (x - 128) / 128


class BasicConv(nn.Module):
  """Convolution without bias -> batch norm with TensorFlow's epsilon (1e-3) -> ReLU."""
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: int | Sequence[int] = 0  # Symmetric zero padding per spatial dimension, as PyTorch's `padding`.
  precision: jax.lax.PrecisionLike = jax.lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = nn.Conv(self.features, self.kernel_size, self.strides, padding=self.padding, use_bias=False,
                precision=self.precision, name='conv')(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name='bn')(x)
    return nn.relu(x)


def _avg_pool_3x3(x):
  # TensorFlow averages over the pixels inside the image only: padded zeros are not counted.
  return nn.avg_pool(x, (3, 3), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_stride_2(x):
  return nn.max_pool(x, (3, 3), strides=(2, 2))


class InceptionA(nn.Module):
  """35x35 block: 1x1, 5x5, double 3x3 and average-pool branches."""
  pool_features: int
  precision: jax.lax.PrecisionLike = jax.lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(BasicConv, precision=self.precision)
    b1 = conv(64, (1, 1), name='branch1x1')(x)
    b5 = conv(48, (1, 1), name='branch5x5_1')(x)
    b5 = conv(64, (5, 5), padding=2, name='branch5x5_2')(b5)
    b3 = conv(64, (1, 1), name='branch3x3dbl_1')(x)
    b3 = conv(96, (3, 3), padding=1, name='branch3x3dbl_2')(b3)
    b3 = conv(96, (3, 3), padding=1, name='branch3x3dbl_3')(b3)
    bp = conv(self.pool_features, (1, 1), name='branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """35x35 -> 17x17 reduction."""
  precision: jax.lax.PrecisionLike = jax.lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(BasicConv, precision=self.precision)
    b3 = conv(384, (3, 3), strides=(2, 2), name='branch3x3')(x)
    bd = conv(64, (1, 1), name='branch3x3dbl_1')(x)
    bd = conv(96, (3, 3), padding=1, name='branch3x3dbl_2')(bd)
    bd = conv(96, (3, 3), strides=(2, 2), name='branch3x3dbl_3')(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3_stride_2(x)], axis=-1)


class InceptionC(nn.Module):
  """17x17 block with factorised 7x7 convolutions."""
  channels_7x7: int
  precision: jax.lax.PrecisionLike = jax.lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(BasicConv, precision=self.precision)
    c7 = self.channels_7x7
    b1 = conv(192, (1, 1), name='branch1x1')(x)
    b7 = conv(c7, (1, 1), name='branch7x7_1')(x)
    b7 = conv(c7, (1, 7), padding=(0, 3), name='branch7x7_2')(b7)
    b7 = conv(192, (7, 1), padding=(3, 0), name='branch7x7_3')(b7)
    bd = conv(c7, (1, 1), name='branch7x7dbl_1')(x)
    bd = conv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_2')(bd)
    bd = conv(c7, (1, 7), padding=(0, 3), name='branch7x7dbl_3')(bd)
    bd = conv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_4')(bd)
    bd = conv(192, (1, 7), padding=(0, 3), name='branch7x7dbl_5')(bd)
    bp = conv(192, (1, 1), name='branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """17x17 -> 8x8 reduction."""
  precision: jax.lax.PrecisionLike = jax.lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(BasicConv, precision=self.precision)
    b3 = conv(192, (1, 1), name='branch3x3_1')(x)
    b3 = conv(320, (3, 3), strides=(2, 2), name='branch3x3_2')(b3)
    b7 = conv(192, (1, 1), name='branch7x7x3_1')(x)
    b7 = conv(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(b7)
    b7 = conv(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(b7)
    b7 = conv(192, (3, 3), strides=(2, 2), name='branch7x7x3_4')(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3_stride_2(x)], axis=-1)


class InceptionE(nn.Module):
  """8x8 block with split 1x3 / 3x1 outputs.

  The graph's last block (Mixed_7c) pools with a 3x3 max, not an average as the paper and its first E block
  (Mixed_7b) do; `pool` selects which.
  """
  pool: str = 'avg'
  precision: jax.lax.PrecisionLike = jax.lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(BasicConv, precision=self.precision)
    b1 = conv(320, (1, 1), name='branch1x1')(x)
    b3 = conv(384, (1, 1), name='branch3x3_1')(x)
    b3 = jnp.concatenate([conv(384, (1, 3), padding=(0, 1), name='branch3x3_2a')(b3),
                          conv(384, (3, 1), padding=(1, 0), name='branch3x3_2b')(b3)], axis=-1)
    bd = conv(448, (1, 1), name='branch3x3dbl_1')(x)
    bd = conv(384, (3, 3), padding=1, name='branch3x3dbl_2')(bd)
    bd = jnp.concatenate([conv(384, (1, 3), padding=(0, 1), name='branch3x3dbl_3a')(bd),
                          conv(384, (3, 1), padding=(1, 0), name='branch3x3dbl_3b')(bd)], axis=-1)
    if self.pool == 'avg':
      pooled = _avg_pool_3x3(x)
    elif self.pool == 'max':
      pooled = nn.max_pool(x, (3, 3), padding=((1, 1), (1, 1)))  # Pads with -inf, as PyTorch's max_pool2d.
    else:
      raise ValueError(f"pool must be 'avg' or 'max', got {self.pool!r}")
    bp = conv(192, (1, 1), name='branch_pool')(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class Logits(nn.Module):
  """The 2048 -> 1008 classifier, returning the logits without and with the bias."""
  precision: jax.lax.PrecisionLike = jax.lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    kernel = self.param('kernel', nn.initializers.lecun_normal(), (x.shape[-1], NUM_CLASSES))
    bias = self.param('bias', nn.initializers.zeros, (NUM_CLASSES,))
    unbiased = jnp.dot(x, kernel, precision=self.precision)
    return unbiased, unbiased + bias


class FIDInceptionV3(nn.Module):
  """The FID Inception-v3 network, in inference mode (batch norm uses its stored statistics).

  Call it with `variables = load_params(path)`:
  `FIDInceptionV3().apply(variables, images)` with images [N, H, W, 3], uint8 in [0, 255] or floats in [-1, 1]
  (see `preprocess`). Any H and W work: images are resized to 299x299 inside.

  Attributes:
    precision: of the convolutions and the classifier. HIGHEST by default: on TPUs and recent GPUs the default
      float32 precision rounds operands to bfloat16 or TF32, which moves FID by more than the differences between
      implementations that FID papers report.

  Returns a dict of float32 arrays:
    pool_3: [N, 2048] the average-pooled last features, used by FID, KID and precision/recall
      (torch-fidelity's '2048').
    logits_unbiased: [N, 1008] the classifier without its bias, used by torch-fidelity's Inception Score.
    logits: [N, 1008] the classifier with its bias.
  """
  precision: jax.lax.PrecisionLike = jax.lax.Precision.HIGHEST

  def __call__(self, images: jax.Array) -> dict[str, jax.Array]:
    return self.features(preprocess(images))

  @nn.compact
  def features(self, x: jax.Array) -> dict[str, jax.Array]:
    """The network on inputs already preprocessed ([N, 299, 299, 3], `preprocess`): one program whatever size the
    images had (`apply(variables, x, method='features')`)."""
    conv = functools.partial(BasicConv, precision=self.precision)
    block = lambda cls, name, **kw: cls(precision=self.precision, name=name, **kw)
    x = conv(32, (3, 3), strides=(2, 2), name='Conv2d_1a_3x3')(x)  # 149x149
    x = conv(32, (3, 3), name='Conv2d_2a_3x3')(x)  # 147x147
    x = conv(64, (3, 3), padding=1, name='Conv2d_2b_3x3')(x)
    x = _max_pool_3x3_stride_2(x)  # 73x73
    x = conv(80, (1, 1), name='Conv2d_3b_1x1')(x)
    x = conv(192, (3, 3), name='Conv2d_4a_3x3')(x)  # 71x71
    x = _max_pool_3x3_stride_2(x)  # 35x35
    x = block(InceptionA, 'Mixed_5b', pool_features=32)(x)
    x = block(InceptionA, 'Mixed_5c', pool_features=64)(x)
    x = block(InceptionA, 'Mixed_5d', pool_features=64)(x)
    x = block(InceptionB, 'Mixed_6a')(x)  # 17x17
    x = block(InceptionC, 'Mixed_6b', channels_7x7=128)(x)
    x = block(InceptionC, 'Mixed_6c', channels_7x7=160)(x)
    x = block(InceptionC, 'Mixed_6d', channels_7x7=160)(x)
    x = block(InceptionC, 'Mixed_6e', channels_7x7=192)(x)
    x = block(InceptionD, 'Mixed_7a')(x)  # 8x8
    x = block(InceptionE, 'Mixed_7b', pool='avg')(x)
    x = block(InceptionE, 'Mixed_7c', pool='max')(x)
    pool_3 = jnp.mean(x, axis=(1, 2))
    logits_unbiased, logits = Logits(precision=self.precision, name='fc')(pool_3)
    return {'pool_3': pool_3, 'logits_unbiased': logits_unbiased, 'logits': logits}


# PyTorch (module, tensor) name -> (Flax collection, leaf name); None drops the tensor.
_TORCH_TO_FLAX = {
    ('conv', 'weight'): ('params', 'kernel'),
    ('bn', 'weight'): ('params', 'scale'),
    ('bn', 'bias'): ('params', 'bias'),
    ('bn', 'running_mean'): ('batch_stats', 'mean'),
    ('bn', 'running_var'): ('batch_stats', 'var'),
    ('bn', 'num_batches_tracked'): None,  # Training bookkeeping.
    ('fc', 'weight'): ('params', 'kernel'),
    ('fc', 'bias'): ('params', 'bias'),
}


def _to_numpy(value) -> np.ndarray:
  if hasattr(value, 'detach'):  # A torch tensor; no need to import torch to read it.
    value = value.detach().cpu().numpy()
  return np.asarray(value)


@functools.cache
def _expected_shapes() -> dict[tuple[str, ...], tuple[int, ...]]:
  """Every variable's path and shape, traced without computing anything."""
  shapes = jax.eval_shape(lambda: FIDInceptionV3().init(jax.random.key(0), jnp.zeros((1, 8, 8, 3), jnp.uint8)))
  return {tuple(k.key for k in path): leaf.shape for path, leaf in jax.tree_util.tree_leaves_with_path(shapes)}


def convert_torch_state_dict(state_dict: Mapping[str, Any]) -> Variables:
  """Converts the torch-fidelity / pytorch-fid state dict to this module's variables.

  Convolution kernels go from PyTorch's [out, in, h, w] to Flax's [h, w, in, out] and the classifier's weight is
  transposed; names map as `Mixed_5b.branch1x1.bn.running_mean` -> `batch_stats/Mixed_5b/branch1x1/bn/mean`.

  Args:
    state_dict: tensor name -> torch tensor or array (a `.pth` state dict, or the arrays of a `.npz`).

  Returns:
    {'params': ..., 'batch_stats': ...} of float32 numpy arrays, for `FIDInceptionV3().apply`.

  Raises:
    ValueError: when names or shapes do not match the network.
  """
  variables = {'params': {}, 'batch_stats': {}}
  unknown = []
  for key, value in state_dict.items():
    *modules, leaf = key.split('.')
    if not modules or (modules[-1], leaf) not in _TORCH_TO_FLAX:
      unknown.append(key)
      continue
    target = _TORCH_TO_FLAX[(modules[-1], leaf)]
    if target is None:
      continue
    collection, name = target
    value = _to_numpy(value).astype(np.float32)
    if value.ndim == 4:
      value = value.transpose(2, 3, 1, 0)
    elif modules == ['fc'] and name == 'kernel':
      value = value.T
    node = variables[collection]
    for module in modules:
      node = node.setdefault(module, {})
    node[name] = value

  got = {tuple(k.key for k in path): leaf.shape for path, leaf in jax.tree_util.tree_leaves_with_path(variables)}
  expected = _expected_shapes()
  missing = sorted('/'.join(k) for k in expected.keys() - got.keys())
  wrong = sorted(f"{'/'.join(k)}: {got[k]} instead of {expected[k]}"
                 for k in expected.keys() & got.keys() if got[k] != expected[k])
  unknown += sorted('/'.join(k) for k in got.keys() - expected.keys())
  if missing or wrong or unknown:
    raise ValueError('The state dict is not the FID Inception-v3 (pt_inception-2015-12-05): '
                     f'{len(missing)} missing, {len(unknown)} unexpected, {len(wrong)} with wrong shapes; '
                     f'first ones: {(missing + unknown + wrong)[:5]}')
  return variables


def _read_state_dict(path: str) -> dict[str, Any]:
  if path.endswith('.npz'):
    with np.load(path) as arrays:
      return {k: arrays[k] for k in arrays.files}
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(f'Reading {path} needs PyTorch (pip install torch). Without it, convert the file once on a '
                      'machine that has it: python -m gan_jax.evaluation.inception --convert in.pth out.npz, '
                      'and pass the .npz.') from e
  # The file is a plain state dict, so the safe loader suffices.
  return torch.load(path, map_location='cpu', weights_only=True)


def load_params(path: str | os.PathLike | None) -> Variables:
  """Loads the FID Inception-v3 weights from a `.pth` state dict (needs torch) or a `.npz` of the same keys.

  Args:
    path: the weights file, e.g. the value of the config field `eval.inception_weights`.

  Returns:
    {'params': ..., 'batch_stats': ...} for `FIDInceptionV3().apply`.

  Raises:
    FileNotFoundError: with where to get the file, when `path` is unset or does not exist.
  """
  if path is None or not os.path.isfile(path):
    raise FileNotFoundError(
        f'FID Inception-v3 weights not found at {path!r}. Download {WEIGHTS_FILENAME}, the TensorFlow '
        f'2015-12-05 Inception graph converted to PyTorch and released with torch-fidelity ({WEIGHTS_URL}); '
        f'pytorch-fid publishes the same file as pt_inception-2015-12-05-6726825d.pth ({PYTORCH_FID_WEIGHTS_URL}). '
        'Point the config field eval.inception_weights at it. Without torch, convert it once elsewhere with '
        '`python -m gan_jax.evaluation.inception --convert in.pth out.npz` and point the field at the .npz.')
  return convert_torch_state_dict(_read_state_dict(os.fspath(path)))


def convert_pth_to_npz(src: str | os.PathLike, dst: str | os.PathLike) -> None:
  """Writes the `.pth` weights as a `.npz` of the same keys and layouts, readable without torch."""
  state_dict = {k: _to_numpy(v).astype(np.float32) for k, v in _read_state_dict(os.fspath(src)).items()
                if not k.endswith('num_batches_tracked')}
  convert_torch_state_dict(state_dict)  # Fails here, not at evaluation time, if the file is something else.
  np.savez(dst, **state_dict)


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(prog='python -m gan_jax.evaluation.inception', description=__doc__.split('\n')[0])
  parser.add_argument('--convert', nargs=2, metavar=('IN_PTH', 'OUT_NPZ'), required=True,
                      help='convert the PyTorch weights file to a .npz that loads without torch')
  args = parser.parse_args(argv)
  convert_pth_to_npz(*args.convert)
  print(f'Wrote {args.convert[1]}')


if __name__ == '__main__':
  main()
