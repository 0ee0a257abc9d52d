"""InfoGAN (Chen et al. 2016) on the offline digits: a 10-way categorical code and 2 continuous codes beside 62
noise dimensions (the paper's MNIST setting), Q's head on D's features, lambda 1 (categorical) and 0.1 (continuous).

Evaluations write latent sweeps (`plots/sweep_*.png`) and `code_accuracy`: how well the categorical code separates
the digits the classifier reads in the samples (best one-to-one mapping of codes to digits), beside its chance level.

python -m gan_jax.main --config experiments/infogan_digits.py
"""

from gan_jax.config import dcgan_config, select_variant, smoke


def get_config(variant: str | None = None):
  config = dcgan_config()
  config.gen.base_channels = config.disc.base_channels = 32
  config.gen.latent_dim = 62
  config.info.categories = 10
  config.info.continuous = 2
  config.loss.d.info_categorical = config.loss.g.info_categorical = 1.0
  config.loss.d.info_continuous = config.loss.g.info_continuous = 0.1
  config.eval.grid_rows = 10
  return select_variant(config, variant, {'smoke': smoke})
