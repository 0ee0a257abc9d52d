"""Conditional DCGAN (Mirza & Osindero 2014) on the offline digits: G takes a one-hot label beside z, D sees it as
ten one-hot input channels. `--config.cond.disc=projection` uses the projection discriminator (Miyato & Koyama 2018)
instead. Sample grids have one row per digit; `conditional_accuracy` is the share of samples the digit classifier
reads as the digit asked for.

python -m gan_jax.main --config experiments/cgan_digits.py
python -m gan_jax.sample --config experiments/cgan_digits.py --workdir workdirs/cgan_digits --labels 0,1,2,3,4,5,6,7,8,9
"""

from gan_jax.config import dcgan_config, select_variant, smoke


def get_config(variant: str | None = None):
  config = dcgan_config()
  config.gen.base_channels = config.disc.base_channels = 32
  config.cond.enabled = True
  config.cond.disc = 'concat'
  config.eval.grid_rows = 10  # One row per digit.
  return select_variant(config, variant, {'smoke': smoke})
