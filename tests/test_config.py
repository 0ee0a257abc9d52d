"""Bad input: a clear error naming the field and the accepted values, exit status 2, nothing written."""

import os
import subprocess
import sys

import pytest

from gan_jax import config as config_lib
from gan_jax.config import ConfigError, base_config
from gan_jax.train import train_and_evaluate
from gan_jax.validation import validate
from tests.helpers import set_field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize('field, value, message', [
    ('unroll.steps', -1, 'config.unroll.steps: got -1; must be an integer >= 0'),
    ('loss.name', 'wgan', 'config.loss.name: got \'wgan\'; accepted values: hinge, least_squares, minimax, '
     'non_saturating, relativistic_average, relativistic_average_ls, wasserstein'),
    ('data.name', 'imagenet', 'accepted values: captioned_fashion_mnist, captioned_mnist, celeb_a, cifar10, digits, '
     'emoji_names, emoji_styles, fashion_mnist, gaussian_1d, grid, mnist, photos, ring, satellite_maps, stacked_digits, '
     'stacked_mnist'),
    ('loss.d.gradient_penalty', -1.0, 'config.loss.d.gradient_penalty: got -1.0; a weight must be a number >= 0'),
    ('loss.g.r1', 1.0, 'config.loss.g.r1: no such G term; accepted: adversarial, aux_classifier, feature_matching'),
    ('loss.d.aux_classifier', 1.0, 'config.loss.d.aux_classifier: AC-GAN draws each sample for a class'),
    ('loss.g.info_categorical', 1.0, 'config.loss.g.info_categorical: needs a categorical code'),
    ('loss.d.supervised', 1.0, 'config.loss.d.supervised: needs labelled examples'),
    ('loss.d.adversarial', 0.0, 'config.loss.d.adversarial: D has no objective'),
    ('gen.ema_decay', 1.0, 'config.gen.ema_decay'),
    ('data.resize', 'crop', 'accepted values: resize, pad'),
    ('gen.name', 'dcgan', 'config.gen.name'),
    ('optim.d.name', 'lion', 'accepted values: adam, rmsprop, sgd'),
    ('parallel.mode', 'pmap', 'accepted values: single, mesh'),
    ('disc.minibatch_scope', 'host', "config.disc.minibatch_scope: got 'host'; accepted values: global, device"),
    ('parallel.model_shards', 2, 'config.parallel.model_shards: got 2; sharding the state needs parallel.mode=mesh'),
    ('train.update_order', 'random', 'accepted values: simultaneous, alternating'),
    ('train.n_critic', 0, 'config.train.n_critic'),
    ('loss.label_smoothing', 1.0, 'config.loss.label_smoothing'),
    ('data.std', 0.0, 'config.data.std'),
    ('optim.d.eps_root', 0.0, 'config.optim.d.eps_root'),
    ('gen.ema_decay', None, 'config.gen.ema_decay: got None; give it a value'),
    ('optim.g.learning_rate', None, 'config.optim.g.learning_rate: got None; give it a value'),
])
def test_validate_names_the_field(field, value, message):
  config = base_config()
  set_field(config, field, value)
  with pytest.raises(ConfigError) as error:
    validate(config, num_devices=1)
  assert message in str(error.value)


def test_batch_must_divide_over_devices():
  config = base_config()
  config.train.batch_size = 100
  config.parallel.mode = 'mesh'
  with pytest.raises(ConfigError, match=r'config.train.batch_size: got 100; must be divisible by the 8 devices'):
    validate(config, num_devices=8)


def test_the_library_entry_point_rejects_before_writing(tmp_path):
  config = config_lib.smoke(base_config())
  config.unroll.steps = -2
  workdir = tmp_path / 'run'
  with pytest.raises(ConfigError):
    train_and_evaluate(config, str(workdir))
  assert not workdir.exists()


def run_main(*args, cwd):
  env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2', 'JAX_PLATFORMS': 'cpu'}
  return subprocess.run([sys.executable, '-m', 'gan_jax.main', *args], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=300)


# In CI one command per stage that refuses an override: validation (a bad value) and the flag parse (an unknown
# key); a wrong type (refused by the same parse) and another bad value run under -m slow.
@pytest.mark.parametrize('override, message', [
    ('--config.unroll.steps=-1', 'config.unroll.steps: got -1'),
    ('--config.unroll.stepz=3', 'stepz'),  # Unknown key.
    pytest.param('--config.unroll.steps=ten', 'ten', marks=pytest.mark.slow),  # Wrong type.
    pytest.param('--config.data.name=imagenet', 'config.data.name', marks=pytest.mark.slow),
])
def test_main_exits_2_and_writes_nothing(tmp_path, override, message):
  workdir = tmp_path / 'run'
  result = run_main('--config', os.path.join(ROOT, 'experiments/unrolled.py:smoke'), '--workdir', str(workdir),
                    override, cwd=tmp_path)
  assert result.returncode == 2, result.stderr[-2000:]
  assert message in result.stderr
  assert not workdir.exists()


def image_config(**data):
  config = config_lib.smoke(base_config())
  config.gen.name = config.disc.name = 'dcgan'
  config.gen.latent_dim = 100
  config.data.update(data)
  return config


def test_missing_tfds_dataset_names_it_and_says_how_to_get_it(tmp_path):
  config = image_config(name='mnist', data_dir=str(tmp_path / 'tfds'))
  with pytest.raises(ConfigError) as error:
    validate(config, num_devices=1)
  message = str(error.value)
  assert "'mnist'" in message and str(tmp_path / 'tfds') in message and 'tfds build mnist' in message
  assert not (tmp_path / 'tfds').exists()


@pytest.mark.parametrize('resolution, message', [(18, r'DCGAN needs s \* 2\^b'), (4, 'must be an integer >= 8')])
def test_image_resolution_the_model_cannot_produce(resolution, message):
  with pytest.raises(ConfigError, match=rf'config.data.resolution: .*{message}'):
    validate(image_config(name='digits', resolution=resolution), num_devices=1)


def test_networks_must_fit_the_data():
  config = image_config(name='ring')
  with pytest.raises(ConfigError, match='config.gen.name'):
    validate(config, num_devices=1)
  config = base_config()
  config.data.name = 'digits'
  with pytest.raises(ConfigError, match='use an image network'):
    validate(config, num_devices=1)


def test_gradient_penalty_needs_per_example_critic_values():
  config = image_config(name='digits')
  config.loss.name = 'wasserstein'
  for term in ('gradient_penalty', 'r1', 'r2'):
    config.disc.norm = 'batch'
    config.loss.d[term] = 10.0
    with pytest.raises(ConfigError, match=f'config.loss.d.{term}: needs per-example critic values'):
      validate(config, num_devices=1)
    config.disc.norm = 'layer'
    validate(config, num_devices=1)
    config.loss.d[term] = 0.0


def test_label_smoothing_only_for_losses_with_labels():
  config = base_config()
  config.loss.name = 'hinge'
  config.loss.label_smoothing = 0.1
  with pytest.raises(ConfigError, match='config.loss.label_smoothing: applies to the losses with labels'):
    validate(config, num_devices=1)
