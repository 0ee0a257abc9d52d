"""DCGAN on the offline handwritten digits (scikit-learn's 1,797 8x8 digits, upsampled to 16x16 through TFDS).

python -m gan_jax.main --config experiments/dcgan_digits.py
python -m gan_jax.main --config experiments/dcgan_digits.py:smoke
"""

from gan_jax.config import dcgan_config, select_variant, smoke


def get_config(variant: str | None = None):
  config = dcgan_config()
  # Half the reference width: the digits are simple and the run should take minutes on a CPU.
  config.gen.base_channels = 32
  config.disc.base_channels = 32
  return select_variant(config, variant, {'smoke': smoke})
