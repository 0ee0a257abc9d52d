"""WGAN with weight clipping (Arjovsky et al. 2017) on the offline digits: c = 0.01, n_critic 5, RMSProp 5e-5."""

from gan_jax.config import dcgan_config, select_variant, smoke


def get_config(variant: str | None = None):
  config = dcgan_config()
  config.gen.base_channels = config.disc.base_channels = 32
  config.loss.name = 'wasserstein'
  config.optim.d.clip_params = 0.01
  config.train.n_critic = 5
  for player in ('g', 'd'):
    config.optim[player].name = 'rmsprop'
    config.optim[player].learning_rate = 5e-5
  return select_variant(config, variant, {'smoke': smoke})
