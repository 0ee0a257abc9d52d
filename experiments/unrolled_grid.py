"""Unrolled GAN (k = 10) on the 5x5 grid of Gaussians (spacing 2, std 0.05), otherwise the ring's settings."""

from gan_jax.config import base_config, select_variant, smoke


def get_config(variant: str | None = None):
  config = base_config()
  config.data.name = 'grid'
  config.data.std = 0.05
  config.unroll.steps = 10
  return select_variant(config, variant, {'smoke': smoke})
