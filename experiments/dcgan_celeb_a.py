"""DCGAN on CelebA at 64x64, the reference DCGAN setting (needs celeb_a prepared in TFDS; see README).

python -m gan_jax.main --config experiments/dcgan_celeb_a.py --config.data.data_dir=DIR
"""

from gan_jax.config import dcgan_config, select_variant, smoke


def get_config(variant: str | None = None):
  config = dcgan_config()
  config.data.name = 'celeb_a'
  config.data.resolution = 64
  config.data.channels = 3
  config.gen.latent_dist = 'normal'
  config.train.batch_size = 128
  config.train.num_steps = 50_000
  config.train.eval_every_steps = 5000
  config.train.checkpoint_every_steps = 5000
  return select_variant(config, variant, {'smoke': smoke})
