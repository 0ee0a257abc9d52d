"""DCGAN on MNIST (the 10,000 offline digits; 9,003 train) at its native 28x28, and the loss family as variants.

  python -m gan_jax.main --config experiments/dcgan_mnist.py              # DCGAN, non-saturating loss
  python -m gan_jax.main --config experiments/dcgan_mnist.py:hinge        # least_squares, hinge, wgan_gp likewise

G starts from 7x7 (28 = 7 x 2^2); half the reference width, so a run takes minutes on a CPU. Scored by the shipped
mnist classifier (IS, Frechet distance and KID on its features). Needs the offline dataset:
  python -m gan_jax.data.prepare mnist   (after `bash gan_jax/data/install_sources.sh` once)
"""

from gan_jax.config import LOSS_VARIANTS, dcgan_config, select_variant, with_smoke_variants


def get_config(variant: str | None = None):
  config = dcgan_config()
  config.data.name = 'mnist'
  config.data.resolution = 28
  config.gen.base_channels = config.disc.base_channels = 32
  config.train.num_steps = 5000
  return select_variant(config, variant, with_smoke_variants(LOSS_VARIANTS))
