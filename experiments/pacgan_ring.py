"""The ring of 8 Gaussians at PacGAN's protocol: radius 1, std 0.01, the grid's networks and training.

python -m gan_jax.main --config experiments/pacgan_ring.py            # GAN (k = 0)
python -m gan_jax.main --config experiments/pacgan_ring.py:pack4      # PacGAN4
python -m gan_jax.main --config experiments/pacgan_ring.py:unrolled   # unrolled GAN, k = 5
python -m gan_jax.main --config experiments/pacgan_ring.py:smoke      # a few steps, for CI
"""

from gan_jax.config import pacgan_config, pack, select_variant, smoke


def unrolled(config):
  config.unroll.steps = 5
  return config


def get_config(variant: str | None = None):
  config = pacgan_config()
  config.data.name = 'ring'
  config.data.num_modes = 8
  config.data.radius = 1.0
  config.data.std = 0.01
  return select_variant(config, variant, {'smoke': smoke, 'pack4': pack(4), 'unrolled': unrolled})
