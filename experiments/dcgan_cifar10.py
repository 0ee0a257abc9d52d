"""DCGAN on CIFAR-10 at 32x32 (needs cifar10 prepared in TFDS: `tfds build cifar10 --data_dir DIR`).

python -m gan_jax.main --config experiments/dcgan_cifar10.py --config.data.data_dir=DIR
"""

from gan_jax.config import dcgan_config, select_variant, smoke


def get_config(variant: str | None = None):
  config = dcgan_config()
  config.data.name = 'cifar10'
  config.data.resolution = 32
  config.data.channels = 3
  config.gen.latent_dist = 'normal'
  config.train.batch_size = 128
  config.train.num_steps = 100_000
  config.train.eval_every_steps = 5000
  config.train.checkpoint_every_steps = 5000
  config.gen.ema_decay = 0.999
  return select_variant(config, variant, {'smoke': smoke})
