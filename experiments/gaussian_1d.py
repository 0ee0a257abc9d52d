"""The 1-D toy of the introductory GAN lectures: a GAN learning N(4, 0.5^2), non-saturating loss, k = 0."""

from gan_jax.config import base_config, select_variant, smoke


def get_config(variant: str | None = None):
  config = base_config()
  config.data.name = 'gaussian_1d'
  config.data.mean = 4.0
  config.data.std = 0.5
  config.gen.latent_dim = 16
  config.gen.hidden = (32, 32)
  config.disc.hidden = (32, 32)
  config.disc.input_scale = 1.0
  config.loss.name = 'non_saturating'
  config.unroll.steps = 0
  config.optim.g.learning_rate = 1e-3
  config.optim.d.learning_rate = 1e-3
  config.train.batch_size = 256
  config.train.num_steps = 5000
  return select_variant(config, variant, {'smoke': smoke})
