"""Semi-supervised GAN (Salimans et al. 2016) on the offline digits: D is an 11-class classifier (10 digits and the
implicit fake class) trained on 10 labelled digits per class plus the unlabelled training set, G trained by feature
matching as in the paper's semi-supervised experiments. `test_accuracy` is D's accuracy on the 297 held-out digits.

The baseline is the same discriminator trained on the 100 labelled digits alone:
python -m gan_jax.main --config experiments/ssgan_digits.py --workdir workdirs/ssgan_digits
python -m gan_jax.main --config experiments/ssgan_digits.py --config.loss.d.adversarial=0 --workdir workdirs/ssgan_baseline
"""

from gan_jax.config import dcgan_config, select_variant, smoke


def get_config(variant: str | None = None):
  config = dcgan_config()
  config.gen.base_channels = config.disc.base_channels = 32
  config.semi.labels_per_class = 10
  config.loss.name = 'minimax'  # With the semi-supervised head, D's BCE is the paper's unsupervised loss.
  config.loss.d.supervised = 1.0
  config.loss.g.adversarial, config.loss.g.feature_matching = 0.0, 1.0
  return select_variant(config, variant, {'smoke': smoke})
