"""The 5x5 grid of Gaussians at PacGAN's protocol (Lin et al. 2018, Table 1): see `config.pacgan_config`.

python -m gan_jax.main --config experiments/pacgan_grid.py            # GAN (k = 0): 400 epochs of 100,000 points
python -m gan_jax.main --config experiments/pacgan_grid.py:pack4      # PacGAN4: D judges 4 samples at once
python -m gan_jax.main --config experiments/pacgan_grid.py:unrolled   # unrolled GAN, k = 5 (VEEGAN's baseline)
python -m gan_jax.main --config experiments/pacgan_grid.py:smoke      # a few steps, for CI
"""

from gan_jax.config import pacgan_config, pack, select_variant, smoke


def unrolled(config):
  config.unroll.steps = 5  # The k of VEEGAN's unrolled GAN baseline on this grid.
  return config


def get_config(variant: str | None = None):
  config = pacgan_config()
  return select_variant(config, variant, {'smoke': smoke, 'pack4': pack(4), 'unrolled': unrolled})
