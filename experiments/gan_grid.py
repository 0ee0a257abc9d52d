"""The k = 0 GAN on the 5x5 grid of Gaussians: the baseline of experiments/unrolled_grid.py."""

from gan_jax.config import base_config, select_variant, smoke


def get_config(variant: str | None = None):
  config = base_config()
  config.data.name = 'grid'
  config.data.std = 0.05
  config.unroll.steps = 0
  return select_variant(config, variant, {'smoke': smoke})
