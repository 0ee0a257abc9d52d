"""Unrolled GAN on stacked digits (Metz et al. 2017, section 3.3 / Table 2), built from the offline digits.

Three digits stacked as the channels of one 16x16 image: 1,000 modes. The paper uses MNIST at 28x28 and a DCGAN
whose discriminator is shrunk to make mode collapse likely; here the digits are scikit-learn's 1,797 and the
networks are small. k is an override: for k in 0 1 5 10:
  python -m gan_jax.main --config experiments/unrolled_stacked.py --config.unroll.steps=$k --workdir workdirs/stacked_k$k
With mnist prepared in TFDS, --config.data.name=stacked_mnist uses real MNIST.
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
