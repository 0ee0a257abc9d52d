"""LAPGAN (Denton et al. 2015) on Fashion-MNIST (60,000 training images), a pyramid of 28 -> 14 -> 7, sized for a
2-core CPU.

  python -m gan_jax.data.prepare fashion_mnist   # once (after `bash gan_jax/data/install_sources.sh`)
  python -m gan_jax.main --config experiments/lapgan_fashion_mnist.py --workdir workdirs/lapgan_fashion_mnist
  python -m gan_jax.main --config experiments/lapgan_fashion_mnist.py:smoke --workdir /tmp/lapgan_smoke

gan_jax.config.lapgan_config: levels 0 (28x28) and 1 (14x14) draw residuals with 2 convolutions of 32 channels given
the upsampled coarser image and a noise plane; level 2 (7x7) is a small unconditional GAN; each level's D is two
stride-2 convolutions and a linear logit. Scored like experiments/dcgan_fashion_mnist.py (the shipped classifier's IS,
FD and KID) plus the fraction of samples the classifier accepts as a garment with probability > 0.9. Variants:
`concat` (each D sees the upsampled coarser image as extra channels besides h + l), `nearest` (nearest-neighbour
upsampling in the pyramid) and `smoke`.
"""

from gan_jax.config import lapgan_config, lapgan_smoke, select_variant


def get_config(variant: str | None = None):
  config = lapgan_config()
  # The number of training images of experiments/dcgan_fashion_mnist.py's README runs: 2,000 steps of 64.
  config.train.num_steps = 2000
  config.train.eval_every_steps = 1000
  return select_variant(config, variant, VARIANTS)


def concat(config):
  config.lapgan.disc_input = 'concat'
  return config


def nearest(config):
  config.lapgan.upsample = 'nearest'
  return config


def smoke(config):
  return lapgan_smoke(config, batch_size=16, num_samples=64)


VARIANTS = {'concat': concat, 'nearest': nearest, 'smoke': smoke}
