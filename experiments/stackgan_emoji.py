"""StackGAN (Zhang et al. 2017) on emoji_names, the Noto emoji with their names as captions ("red apple"): the small
real-text extra beside the generated captioned sets (experiments/stackgan_mnist.py), sized for a 2-core CPU: stage I
draws 32x32, stage II 64x64.

  python -m gan_jax.data.prepare emoji_styles    # once (after `bash gan_jax/data/install_sources.sh`)
  python -m gan_jax.main --config experiments/stackgan_emoji.py --workdir workdirs/stackgan_emoji
  python -m gan_jax.sample_captions --config experiments/stackgan_emoji.py --workdir workdirs/stackgan_emoji \
      --mode interpolate --captions='red apple' --captions='green apple'

The networks and the objective are stackgan_mnist.py's; the captions are the 1,217 training emoji's names, read by
the text encoder shipped for them (`stackgan.text_encoder`, trained on those names; it overfits them), its features
standardised over those names; `stackgan.vocabulary` pins the vocabulary's fingerprint (the words of both splits'
names). Evaluated by the Frechet distance of each stage's samples to the 160 test emoji in the features of the
emoji_styles domain classifier (see gan_jax/families/stackgan.py), beside that of 160 training emoji.

Variants: `stage1_only` (stage I alone) and `smoke` (16 -> 32, tiny widths, a few steps).
"""

import os

from gan_jax.config import select_variant, stackgan_cpu_config, stackgan_smoke, stackgan_stage1_only

WEIGHTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'gan_jax', 'evaluation',
                       'weights')
# gan_jax.data.captioned.emoji_text(...)[0].fingerprint, the vocabulary of the names of both splits, written out so
# that loading this file imports only gan_jax.config (tests/test_stackgan.py checks it).
VOCABULARY = 'eb960757b4ec58a8'


def get_config(variant: str | None = None):
  config = stackgan_cpu_config()  # The same sizes as stackgan_mnist.py.
  config.data.name = 'emoji_names'
  # The shipped file (gan_jax.models.text_encoder.SHIPPED), named here without importing JAX.
  config.stackgan.text_encoder = os.path.join(WEIGHTS, 'emoji_names_text_encoder.npz')
  config.stackgan.vocabulary = VOCABULARY
  # 1,500 steps of stage I (79 epochs of the 1,217 training emoji) then 500 of stage II: about 20 minutes on the
  # shared 2-core CPU. The paper: 600 epochs each.
  config.stackgan.stage1_steps = 1500
  config.train.num_steps = 2000
  config.train.log_every_steps = 100
  config.train.eval_every_steps = 500  # Evaluations at 500, 1,000, the switch (stage I's end) and the end.
  config.train.checkpoint_every_steps = 250
  config.eval.num_samples = 160  # The whole test split, one sample per name.
  config.eval.grid_rows = 8
  return select_variant(config, variant, VARIANTS)


VARIANTS = {'stage1_only': stackgan_stage1_only, 'smoke': stackgan_smoke}
