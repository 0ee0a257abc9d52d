"""The baseline of Metz et al. 2017, Figure 1: the same ring-of-8 GAN with no unrolling (k = 0)."""

from gan_jax.config import base_config, select_variant, smoke


def get_config(variant: str | None = None):
  config = base_config()
  config.unroll.steps = 0
  return select_variant(config, variant, {'smoke': smoke})
