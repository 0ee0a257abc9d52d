"""The Flax FID Inception-v3 against torch-fidelity's, with the same random weights (the real ones are not here)."""

import importlib.util
import pathlib
import sys
import types

import jax
import numpy as np
import pytest

from gan_jax.evaluation import inception

torch = pytest.importorskip('torch', reason='the parity test runs the PyTorch reference (pip install torch)')

# Per-output float32 tolerances, relative to the output's largest magnitude.
RTOL = 1e-5


def _load_reference_module():
  """Imports torch_fidelity.feature_extractor_inceptionv3 without the package __init__.

  The package's __init__ imports torchvision (for its CLIP extractor), which has no working CPU build here; the
  Inception module itself needs only torch and three small sibling modules.
  """
  spec = importlib.util.find_spec('torch_fidelity')
  if spec is None:
    pytest.skip('torch_fidelity is not installed (pip install torch-fidelity --no-deps)')
  saved = {k: v for k, v in sys.modules.items() if k == 'torch_fidelity' or k.startswith('torch_fidelity.')}
  package = types.ModuleType('torch_fidelity')
  package.__path__ = list(spec.submodule_search_locations)
  sys.modules['torch_fidelity'] = package  # Siblings import through it, so their imports skip __init__ too.
  try:
    path = pathlib.Path(package.__path__[0]) / 'feature_extractor_inceptionv3.py'
    module_spec = importlib.util.spec_from_file_location('torch_fidelity.feature_extractor_inceptionv3', path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
  finally:
    # Leave sys.modules as it was, so that no other test sees the half-imported package.
    for k in [k for k in sys.modules if k == 'torch_fidelity' or k.startswith('torch_fidelity.')]:
      del sys.modules[k]
    sys.modules.update(saved)
  return module


def _random_state_dict(seed: int) -> dict[str, 'torch.Tensor']:
  """Random weights under the PyTorch names and layouts, for every variable of the Flax network.

  He-scaled kernels and batch-norm statistics away from (0, 1) keep activations of order 1 through all 94
  convolutions, so that every layer, normalisation included, contributes to the outputs being compared.
  """
  rng = np.random.default_rng(seed)
  state_dict = {}
  for path, shape in inception._expected_shapes().items():
    collection, *modules, leaf = path
    prefix = '.'.join(modules)
    if modules[-1] == 'fc':
      fan_in = shape[0]
      value = rng.normal(0, 1 / np.sqrt(fan_in), shape) if leaf == 'kernel' else rng.normal(0, 0.1, shape)
      name = {'kernel': 'weight', 'bias': 'bias'}[leaf]
      value = value.T if leaf == 'kernel' else value
    elif leaf == 'kernel':
      h, w, c_in, _ = shape
      value = rng.normal(0, np.sqrt(2 / (h * w * c_in)), shape).transpose(3, 2, 0, 1)
      name = 'weight'
    else:
      name, value = {
          ('params', 'scale'): ('weight', rng.uniform(0.5, 1.5, shape)),
          ('params', 'bias'): ('bias', rng.normal(0, 0.2, shape)),
          ('batch_stats', 'mean'): ('running_mean', rng.normal(0, 0.2, shape)),
          ('batch_stats', 'var'): ('running_var', rng.uniform(0.5, 2.0, shape)),
      }[(collection, leaf)]
    state_dict[f'{prefix}.{name}'] = torch.tensor(np.ascontiguousarray(value), dtype=torch.float32)
    if name == 'running_var':
      state_dict[f'{prefix}.num_batches_tracked'] = torch.tensor(0)
  return state_dict


@pytest.fixture(scope='module')
def reference_and_weights(tmp_path_factory):
  """torch-fidelity's extractor built from a random weights file (the path argument keeps it off the network)."""
  module = _load_reference_module()
  state_dict = _random_state_dict(seed=0)
  path = tmp_path_factory.mktemp('inception') / 'random-inception.pth'
  torch.save(state_dict, path)
  # Its strict load_state_dict also checks that the names and shapes generated from the Flax tree are its own.
  reference = module.FeatureExtractorInceptionV3(
      'inception-v3-compat', ['2048', 'logits_unbiased', 'logits'], feature_extractor_weights_path=str(path))
  return reference, path


def _relative_error(ours, theirs):
  return float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))


def test_matches_torch_fidelity(reference_and_weights):
  reference, path = reference_and_weights
  variables = inception.load_params(path)
  rng = np.random.default_rng(1)
  # A small size, an upsampled non-square one and a downsampled one; floats in [-1, 1] once.
  cases = [((2, 64, 64, 3), False), ((1, 37, 53, 3), True), ((1, 320, 301, 3), False)]
  images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape, _ in cases]
  inputs = [image.astype(np.float32) / 127.5 - 1 if as_float else image for image, (_, as_float) in zip(images, cases)]
  # The network compiled once for all the cases, on their preprocessed images; apply is exactly this composition.
  features = jax.jit(lambda v, x: inception.FIDInceptionV3().apply(v, x, method='features'))
  outputs = jax.device_get(features(variables, np.concatenate([jax.jit(inception.preprocess)(x) for x in inputs])))
  start = 0
  for (shape, as_float), image in zip(cases, images):
    ours = {name: value[start:start + shape[0]] for name, value in outputs.items()}
    start += shape[0]
    with torch.no_grad():
      theirs = reference(torch.from_numpy(image).permute(0, 3, 1, 2).contiguous())
    for name, their in zip(['pool_3', 'logits_unbiased', 'logits'], theirs):
      their = their.numpy()
      error = _relative_error(ours[name], their)
      print(f'{shape} {"float" if as_float else "uint8"} {name}: max |diff| '
            f'{np.max(np.abs(ours[name] - their)):.1e}, relative to max |value| {error:.1e}')
      assert ours[name].shape == their.shape
      assert np.std(their) > 0.1  # The random network does not collapse to a constant.
      assert error < RTOL, (shape, name, error)
  # What evaluation calls, the module on raw images, is that composition operation for operation.
  module = inception.FIDInceptionV3()
  composed = lambda v, x: module.apply(v, inception.preprocess(x), method='features')
  for x in inputs[1:]:
    assert str(jax.make_jaxpr(module.apply)(variables, x)) == str(jax.make_jaxpr(composed)(variables, x))


def test_resize_matches_tensorflow1_resize():
  module = _load_reference_module()
  rng = np.random.default_rng(3)
  resize_jit = jax.jit(inception.resize_bilinear_tf1, static_argnums=1)
  for size in [(37, 53), (299, 299), (320, 301), (1, 2)]:
    images = rng.uniform(0, 255, (2, *size, 3)).astype(np.float32)
    theirs = module.interpolate_bilinear_2d_like_tensorflow1x(
        torch.from_numpy(images).permute(0, 3, 1, 2), size=(299, 299), align_corners=False).permute(0, 2, 3, 1)
    np.testing.assert_array_equal(inception.resize_bilinear_tf1(images, (299, 299)), theirs.numpy())
    # Compiled, XLA contracts each a + (b - a) * t into one fused multiply-add: a rounding or two apart.
    np.testing.assert_allclose(resize_jit(images, (299, 299)), theirs.numpy(), rtol=0, atol=1e-4)


def test_npz_round_trip_gives_identical_params(reference_and_weights, tmp_path):
  pth = reference_and_weights[1]
  npz = tmp_path / 'inception.npz'
  inception.main(['--convert', str(pth), str(npz)])
  from_pth, from_npz = inception.load_params(pth), inception.load_params(npz)
  assert jax.tree.structure(from_pth) == jax.tree.structure(from_npz)
  jax.tree.map(np.testing.assert_array_equal, from_pth, from_npz)


def test_missing_weights_say_where_to_get_them(tmp_path):
  for path in [None, tmp_path / 'nowhere.pth']:
    with pytest.raises(FileNotFoundError, match='weights-inception-2015-12-05-6726825d.pth') as error:
      inception.load_params(path)
    assert 'eval.inception_weights' in str(error.value)


def test_rejects_a_different_state_dict():
  state_dict = {k: v for k, v in _random_state_dict(seed=4).items() if not k.startswith('Mixed_7c.')}
  state_dict['AuxLogits.fc.weight'] = torch.zeros(1000, 768)
  with pytest.raises(ValueError, match='missing'):
    inception.convert_torch_state_dict(state_dict)
