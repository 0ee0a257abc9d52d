"""Every experiment file loads, in its full and its smoke variant, and validates where its data is available."""

import glob
import importlib.util
import os

import pytest

from gan_jax.config import ConfigError
from gan_jax.validation import validate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = sorted(glob.glob(os.path.join(ROOT, 'experiments', '*.py')))
NEEDS_DOWNLOAD = {'dcgan_cifar10': 'cifar10', 'dcgan_celeb_a': 'celeb_a'}
# Offline datasets: python -m gan_jax.data.prepare NAME.
NEEDS_PREPARE = {'unrolled_stacked': 'mnist', 'rbm_mnist': 'mnist', 'dbn_mnist': 'mnist', 'vae_mnist': 'mnist',
                 'autoencoder_mnist': 'mnist', 'ppgn_mnist': 'mnist', 'dcgan_mnist': 'mnist',
                 'dcgan_fashion_mnist': 'fashion_mnist', 'pix2pix_maps': 'satellite_maps',
                 'cyclegan_emoji': 'emoji_styles', 'lapgan_fashion_mnist': 'fashion_mnist',
                 'lapgan_emoji': 'emoji_styles', 'srgan_photos': 'photos', 'cyclegan_maps': 'satellite_maps',
                 'progan_fashion_mnist': 'fashion_mnist', 'stackgan_mnist': 'captioned_mnist',
                 'stackgan_emoji': 'emoji_styles', 'progan_emoji': 'emoji_styles'}
IMAGE_SETS = ('satellite_maps', 'emoji_styles', 'photos')  # Prepared by the image_sets_dir fixture; the others by offline_data_dir.


def load(path):
  spec = importlib.util.spec_from_file_location('experiment', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize('path', EXPERIMENTS, ids=lambda p: os.path.basename(p)[:-3])
@pytest.mark.parametrize('variant', [None, 'smoke'])
def test_experiment_validates(path, variant, tmp_path, request):
  config = load(path).get_config(variant)
  name = os.path.basename(path)[:-3]
  config.data.data_dir = str(tmp_path)  # Empty: only the offline datasets are there to be found.
  if name in NEEDS_DOWNLOAD:
    with pytest.raises(ConfigError, match=f'tfds build {NEEDS_DOWNLOAD[name]}'):
      validate(config, num_devices=1)
  elif name in NEEDS_PREPARE:
    with pytest.raises(ConfigError, match=f'python -m gan_jax.data.prepare {NEEDS_PREPARE[name]}'):
      validate(config, num_devices=1)
    if NEEDS_PREPARE[name].startswith('captioned_'):
      return  # Preparing it takes ~12 s: tests/test_stackgan.py validates the family on an in-memory captioned set.
    if NEEDS_PREPARE[name] in IMAGE_SETS:
      config.data.data_dir = request.getfixturevalue('image_sets_dir')(NEEDS_PREPARE[name])
    else:
      config.data.data_dir = request.getfixturevalue('offline_data_dir')
      # Fashion-MNIST's experiments validate on MNIST's files, which have its shape, classes and split names (70,000
      # images to prepare for this check alone: about 25 s); the refusal above names Fashion-MNIST's command.
      config.data.name = 'mnist'
    validate(config, num_devices=1)
  else:
    validate(config, num_devices=1)
  if variant == 'smoke':
    assert config.train.num_steps <= 100


def test_the_main_experiment_is_the_paper_setting():
  config = load(os.path.join(ROOT, 'experiments', 'unrolled.py')).get_config()
  assert (config.unroll.steps, config.train.num_steps, config.train.batch_size) == (10, 25_000, 512)
  assert (config.data.name, config.data.num_modes, config.data.radius, config.data.std) == ('ring', 8, 2.0, 0.02)
  assert (config.optim.g.learning_rate, config.optim.g.b1, config.loss.name) == (1e-4, 0.5, 'minimax')


def test_the_pacgan_experiments_are_its_protocol():
  grid = load(os.path.join(ROOT, 'experiments', 'pacgan_grid.py'))
  config = grid.get_config()
  assert (config.data.name, config.data.grid_size, config.data.spacing, config.data.std) == ('grid', 5, 2.0, 0.05)
  assert (config.data.num_train_points, config.train.batch_size, config.train.num_steps) == (100_000, 100, 400_000)
  assert (config.gen.latent_dim, config.gen.hidden, config.gen.mlp_norm) == (2, (400,) * 4, 'batch')
  assert (config.disc.hidden, config.disc.maxout_pieces, config.disc.input_scale) == ((200,) * 3, 5, 1.0)
  assert (config.gen.init, config.gen.init_std, config.disc.init, config.disc.init_std) == ('normal', 0.02,
                                                                                          'normal', 0.02)
  assert (config.optim.d.learning_rate, config.optim.d.b1, config.optim.g.b1, config.optim.g.b2) == (1e-4, 0.8, 0.8,
                                                                                                     0.999)
  assert (config.unroll.steps, config.disc.pack, config.eval.num_samples) == (0, 1, 2500)
  pack4 = grid.get_config('pack4')
  assert (pack4.disc.pack, pack4.train.batch_size) == (4, 400)  # PacGAN's batch: 100 packed inputs of 4 samples.
  assert grid.get_config('unrolled').unroll.steps == 5
  ring = load(os.path.join(ROOT, 'experiments', 'pacgan_ring.py')).get_config()
  assert (ring.data.name, ring.data.num_modes, ring.data.radius, ring.data.std) == ('ring', 8, 1.0, 0.01)
  for variant in ('pack4', 'unrolled'):
    validate(grid.get_config(variant), num_devices=1)
