"""Unrolled GAN on stacked scikit-learn digits at 16x16: the small stand-in for Stacked MNIST that needs no
prepared dataset, and the baseline of the README's stabilisation table. The paper's setting, at 28x28 on MNIST, is
experiments/unrolled_stacked.py.

Three digits stacked as the channels of one 16x16 image: 1,000 modes. DCGAN G of width 32 against a weak D (width
8). k is an override: for k in 0 1 5 10:
  python -m gan_jax.main --config experiments/unrolled_stacked_digits.py --config.unroll.steps=$k
"""

from gan_jax.config import dcgan_config, select_variant, smoke


def get_config(variant: str | None = None):
  config = dcgan_config()
  config.data.name = 'stacked_digits'
  config.gen.base_channels = 32
  config.disc.base_channels = 8  # A weak discriminator, as in the paper's hardest setting, makes collapse likely.
  config.loss.name = 'minimax'
  config.unroll.steps = 10
  config.train.update_order = 'simultaneous'
  config.train.num_steps = 3000
  config.eval.num_samples = 25_600  # As many samples as the paper counts modes on.
  return select_variant(config, variant, {'smoke': smoke})
