"""The k = 0 GAN on the 5x5 grid of Gaussians: the baseline of experiments/unrolled_grid.py."""

from gan_jax.config import base_config, smoke


def get_config(variant: str | None = None):
  config = base_config()
  config.data.name = 'grid'
  config.data.std = 0.05
  config.unroll.steps = 0
  return smoke(config) if variant == 'smoke' else config
