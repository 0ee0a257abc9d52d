"""AC-GAN (Odena et al. 2017) on the offline digits: G draws a sample for a given digit; D does not see the label
but predicts it with an auxiliary head, and both players add the class loss (weight 1, as in the paper).

python -m gan_jax.main --config experiments/acgan_digits.py
"""

from gan_jax.config import dcgan_config, select_variant, smoke


def get_config(variant: str | None = None):
  config = dcgan_config()
  config.gen.base_channels = config.disc.base_channels = 32
  config.cond.enabled = True
  config.cond.disc = 'none'  # D predicts the class instead of being told it.
  config.loss.d.aux_classifier = config.loss.g.aux_classifier = 1.0
  config.eval.grid_rows = 10
  return select_variant(config, variant, {'smoke': smoke})
