"""Progressive GAN on Fashion-MNIST (complete: 60,000 train) resized bilinearly 28 -> 32, sized for a CPU.

  python -m gan_jax.main --config experiments/progan_fashion_mnist.py          # 4 -> 8 -> 16 -> 32
  python -m gan_jax.main --config experiments/progan_fashion_mnist.py:fixed    # the same G and D at 32 from step 0

G and D grow 4 -> 8 -> 16 -> 32 as in the paper (gan_jax.config.progan_config: equalised learning rate, pixel
norm, minibatch stddev, WGAN-GP + drift, Adam 1e-3 beta (0, 0.99), optimizers reset at each phase change), with
widths (64, 64, 32, 16) instead of 512 and 32,000 images per phase instead of 800,000: 7 phases of 1,000 steps at
batch 32. Resized rather than padded: the shipped classifier that scores the samples was trained on resized images.
`fixed` is the non-progressive baseline: the final networks (32x32, no fade-in) trained on the same number of images.
Needs the offline dataset:
  python -m gan_jax.data.prepare fashion_mnist   (after `bash gan_jax/data/install_sources.sh` once)
"""

from gan_jax.config import progan_cpu_config, progan_fixed, progan_short, select_variant, smoke


def tiny(config):
  """CI size: widths 8, a 16-dimensional latent, 4 -> 8 on 8x8 images, 10 steps per phase (3 phases), 40 steps."""
  config = smoke(config)
  config.data.resolution = 8
  config.progan.resolutions = (4, 8)
  config.progan.widths = (8, 8)
  config.progan.latent_dim = 16
  config.train.batch_size = 16
  config.progan.images_per_phase = 160
  config.train.steps_per_call = 1
  config.train.eval_every_steps = 10
  config.eval.num_samples = 200
  return config


def get_config(variant: str | None = None):
  config = progan_cpu_config('fashion_mnist', (4, 8, 16, 32), (64, 64, 32, 16))
  return select_variant(config, variant, {'fixed': progan_fixed, 'short': progan_short, 'smoke': tiny})
