"""LAPGAN (Denton et al. 2015) on emoji, a pyramid of 64 -> 32 -> 16 -> 8, sized for a 2-core CPU.

  python -m gan_jax.data.prepare emoji_styles   # once: 1,217 training and 160 test emoji in two styles
  python -m gan_jax.main --config experiments/lapgan_emoji.py --workdir workdirs/lapgan_emoji
  python -m gan_jax.main --config experiments/lapgan_emoji.py:openmoji --workdir workdirs/lapgan_openmoji
  python -m gan_jax.main --config experiments/lapgan_emoji.py:dcgan --workdir workdirs/lapgan_emoji_dcgan
  python -m gan_jax.main --config experiments/lapgan_emoji.py:smoke --workdir /tmp/lapgan_emoji_smoke

emoji_styles is a paired dataset (each emoji drawn by Noto Color Emoji and by OpenMoji); LAPGAN reads one feature,
`lapgan.feature` ('noto' here, 'openmoji' in the variant), as a set of unlabelled RGB images. Three residual levels
(64, 32, 16) and an unconditional GAN at 8x8. The evaluation gives the pictures, each level's residual RMS against
the real residuals', and the shipped emoji domain classifier's scores (no Inception weights ship), as
progan_emoji.py's: 'classifier_fd' and 'classifier_kid' of 600 samples against 600 training emoji of the feature
spread evenly over the split, and 'classifier_fd_real', 600 other such emoji's FD (the floor;
`domain_classifier.feature_scorer`).
"""

from gan_jax.config import lapgan_config, lapgan_smoke, select_variant


def get_config(variant: str | None = None):
  config = lapgan_config()
  config.data.name = 'emoji_styles'
  config.data.resolution = 64
  config.data.channels = 3
  config.data.pipeline = 'in_memory'
  config.lapgan.feature = 'noto'
  config.lapgan.sizes = (64, 32, 16, 8)
  config.lapgan.gen_width = 16  # A 64x64 convolution costs 5x a 28x28 one: half the width.
  config.train.num_steps = 3000
  config.train.log_every_steps = 100
  config.train.eval_every_steps = 1000
  config.train.checkpoint_every_steps = 1000
  config.eval.num_samples = 600  # At most half the 1,217 training emoji: the reference and the other real images.
  return select_variant(config, variant, VARIANTS)


def openmoji(config):
  config.lapgan.feature = 'openmoji'
  return config


def dcgan(config):
  """The baseline of the comparison: one level, the coarsest GAN alone on the whole 64x64 image, read, trained and
  scored as the pyramid is: conv.ConvGenerator from a 4x4 map (widths 128-64-32-32-16) and a D of 16-32-64-128;
  411,476 parameters against the pyramid's 390,368, 0.80x its multiply-adds per image (G and D forward)."""
  config.lapgan.sizes = (64,)
  config.lapgan.coarse_gen_widths = (128, 64, 32, 32, 16)
  config.lapgan.coarse_disc_widths = (16, 32, 64, 128)
  return config


def smoke(config):
  config.data.resolution = 32
  config.lapgan.sizes = (32, 16, 8)
  return lapgan_smoke(config, batch_size=8, num_samples=80)  # More than the classifier's 64 features: an FD.


VARIANTS = {'openmoji': openmoji, 'dcgan': dcgan, 'smoke': smoke}
