"""LSGAN (Mao et al. 2017, a=0, b=c=1) on the offline digits, otherwise experiments/dcgan_digits.py."""

from gan_jax.config import dcgan_config, least_squares, select_variant, smoke


def get_config(variant: str | None = None):
  config = dcgan_config()
  config.gen.base_channels = config.disc.base_channels = 32
  config = least_squares(config)
  return select_variant(config, variant, {'smoke': smoke})
