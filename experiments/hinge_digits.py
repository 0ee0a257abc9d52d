"""Hinge loss (Lim & Ye 2017; Miyato et al. 2018) on the offline digits, otherwise experiments/dcgan_digits.py."""

from gan_jax.config import dcgan_config, hinge, select_variant, smoke


def get_config(variant: str | None = None):
  config = dcgan_config()
  config.gen.base_channels = config.disc.base_channels = 32
  config = hinge(config)
  return select_variant(config, variant, {'smoke': smoke})
