"""The relativistic average GAN (RaSGAN, Jolicoeur-Martineau 2018) on the offline digits, otherwise
experiments/dcgan_digits.py: D judges whether real digits are more realistic than the average fake, and G's loss
moves the real logits too.

python -m gan_jax.main --config experiments/ragan_digits.py
"""

from gan_jax.config import dcgan_config, select_variant, smoke


def get_config(variant: str | None = None):
  config = dcgan_config()
  config.gen.base_channels = config.disc.base_channels = 32
  config.loss.name = 'relativistic_average'
  return select_variant(config, variant, {'smoke': smoke})
