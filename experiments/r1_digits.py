"""R1 regularisation (Mescheder et al. 2018) on the offline digits: the non-saturating GAN with D's loss plus
gamma/2 E||grad D(x)||^2 on real digits, gamma = 10. The penalty needs per-example gradients, so D uses layer norm;
the baseline without R1 is the same file with --config.loss.d.r1=0.

python -m gan_jax.main --config experiments/r1_digits.py
"""

from gan_jax.config import dcgan_config, select_variant, smoke


def get_config(variant: str | None = None):
  config = dcgan_config()
  config.gen.base_channels = config.disc.base_channels = 32
  config.disc.norm = 'layer'
  config.loss.d.r1 = 10.0
  return select_variant(config, variant, {'smoke': smoke})
