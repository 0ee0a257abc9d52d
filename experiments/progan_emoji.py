"""Progressive GAN on emoji (Noto Color Emoji's 1,217 training emoji), growing 4 -> 8 -> 16 -> 32 -> 64, sized for a
CPU.

  python -m gan_jax.data.prepare emoji_styles   # once: 1,217 training and 160 test emoji in two styles
  python -m gan_jax.main --config experiments/progan_emoji.py --workdir workdirs/progan_emoji
  python -m gan_jax.main --config experiments/progan_emoji.py:fixed --workdir workdirs/progan_emoji_fixed
  python -m gan_jax.main --config experiments/progan_emoji.py:smoke --workdir /tmp/progan_emoji_smoke

emoji_styles is a paired dataset (each emoji drawn by Noto and by OpenMoji); Progressive GAN reads one feature,
`progan.feature='noto'`, as a set of unlabelled RGB images, as lapgan_emoji.py does. The schedule of
progan_fashion_mnist.py with one more resolution: widths (64, 64, 32, 16, 8) (a narrow 64x64 block: at half the
32x32 block's width, as many multiply-adds), 32,000 images per phase at batch 32, so 9 phases of 1,000 steps.
`fixed` is the non-progressive baseline: the final networks (64x64, no fade-in) trained on the same number of images.

Scores: the shipped emoji domain classifier's features (`evaluation/domain_classifier.py`, which reads 32x32: the
64x64 stage's finer detail is invisible to it) give 'classifier_fd' and 'classifier_kid' of 600 samples against 600
training emoji spread evenly over the split, and 'real_fd_at_resolution' of 600 other training emoji, disjoint and
spread likewise, box-filtered to the stage's resolution. The reference is the training split, not the test split:
the generator models the training emoji, as the Fashion-MNIST experiment's reference is its training split, and the
test split's 160 emoji would fit a 64-dimensional Gaussian poorly (FD's bias grows as the samples shrink). The
classifier was trained on the same split, which makes its features of training images somewhat sharper than of
unseen ones; the real baseline shares that, the samples do not.
"""

from gan_jax.config import progan_cpu_config, progan_fixed, progan_short, select_variant, smoke


def tiny(config):
  """CI size: widths 8, a 16-dimensional latent, 4 -> 8 on 8x8 images, 5 steps per phase (3 phases), 15 steps, 80
  samples scored (more than the classifier's 64 features, so that their covariance is not singular)."""
  config = smoke(config)
  config.data.resolution = 8
  config.progan.resolutions = (4, 8)
  config.progan.widths = (8, 8)
  config.progan.latent_dim = 16
  config.train.batch_size = 8
  config.progan.images_per_phase = 40
  config.train.num_steps = 15
  config.train.steps_per_call = 1
  config.train.log_every_steps = 5
  config.train.eval_every_steps = 5
  config.train.checkpoint_every_steps = 5
  config.eval.num_samples = 80
  config.eval.grid_rows = 4
  return config


def get_config(variant: str | None = None):
  config = progan_cpu_config('emoji_styles', (4, 8, 16, 32, 64), (64, 64, 32, 16, 8))
  config.data.channels = 3
  config.data.pipeline = 'in_memory'
  config.progan.feature = 'noto'
  config.eval.num_samples = 600  # At most half the 1,217 training emoji: the reference and the other real images.
  return select_variant(config, variant, {'fixed': progan_fixed, 'short': progan_short, 'smoke': tiny})
