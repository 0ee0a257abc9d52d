"""WGAN-GP (Gulrajani et al. 2017) on the offline digits: lambda 10, n_critic 5, Adam 1e-4 with betas (0.5, 0.9)."""

from gan_jax.config import dcgan_config, select_variant, smoke


def get_config(variant: str | None = None):
  config = dcgan_config()
  config.gen.base_channels = config.disc.base_channels = 32
  config.loss.name = 'wasserstein'
  config.loss.d.gradient_penalty = 10.0
  config.disc.norm = 'layer'  # The penalty needs per-example critic values: no batch norm in the critic.
  config.train.n_critic = 5
  for player in ('g', 'd'):
    config.optim[player].learning_rate = 1e-4
    config.optim[player].b1 = 0.5
    config.optim[player].b2 = 0.9
  return select_variant(config, variant, {'smoke': smoke})
