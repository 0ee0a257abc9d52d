"""Unrolled GAN on the ring of 8 Gaussians: Metz et al. 2017, Figure 1, with the settings of its Appendix A.

python -m gan_jax.main --config experiments/unrolled.py            # the paper's run: k = 10, 25,000 steps
python -m gan_jax.main --config experiments/unrolled.py:smoke      # a few steps, for CI
"""

from gan_jax.config import base_config, select_variant, smoke


def get_config(variant: str | None = None):
  config = base_config()  # The defaults are the paper's ring experiment: see gan_jax/config.py.
  config.unroll.steps = 10
  return select_variant(config, variant, {'smoke': smoke})
