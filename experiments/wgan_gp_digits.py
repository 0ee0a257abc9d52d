"""WGAN-GP (Gulrajani et al. 2017) on the offline digits: lambda 10, n_critic 5, Adam 1e-4 with betas (0.5, 0.9)."""

from gan_jax.config import dcgan_config, select_variant, smoke, wgan_gp


def get_config(variant: str | None = None):
  config = dcgan_config()
  config.gen.base_channels = config.disc.base_channels = 32
  config = wgan_gp(config)
  return select_variant(config, variant, {'smoke': smoke})
