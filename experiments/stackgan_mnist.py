"""StackGAN (Zhang et al. 2017) on captioned_mnist, sized for a 2-core CPU: stage I draws 32x32, stage II 64x64 (the
paper: 64 and 256).

  python -m gan_jax.data.prepare captioned_mnist    # once (after `bash gan_jax/data/install_sources.sh`)
  python -m gan_jax.main --config experiments/stackgan_mnist.py --workdir workdirs/stackgan_mnist
  python -m gan_jax.main --config experiments/stackgan_mnist.py:stage1_only --workdir workdirs/stackgan_stage1
  python -m gan_jax.main --config experiments/stackgan_mnist.py:no_ca --workdir workdirs/stackgan_no_ca

The paper's system (gan_jax.config.stackgan_config: conditioning augmentation with its KL at lambda = 1, the
matching-aware D, upsampling and residual blocks, Adam 2e-4 / 0.5, batch 64, stage I then stage II with stage I
fixed) at half the sides and narrow layers: see `get_config`. The text encoder is the trained one shipped for the
captions (`stackgan.text_encoder`); `stackgan.vocabulary` pins its vocabulary's fingerprint.

Variants: `stage1_only` (stage I alone, the issue's "stage I alone vs stage I + II"), `no_ca` (no conditioning
augmentation: c is the embedding's projection, no noise, no KL), `one_attribute` (D's mismatched captions are each
image's own with one attribute changed, not the batch's others), `fashion_mnist` (captioned_fashion_mnist with its
encoder) and `smoke` (16 -> 32, tiny widths, a few steps).
"""

import os

from gan_jax.config import select_variant, stackgan_cpu_config, stackgan_smoke, stackgan_stage1_only

WEIGHTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'gan_jax', 'evaluation',
                       'weights')
# gan_jax.data.captions.caption_vocabulary(source).fingerprint, written out so that loading this file imports only
# gan_jax.config (tests/test_stackgan.py checks them).
VOCABULARIES = {'mnist': 'b8819b472ec5e796', 'fashion_mnist': '253dfaa0d9174602'}


def use_captions(config, source: str):
  """Train on captioned_<source> with the encoder shipped for its captions, pinned to their vocabulary."""
  config.data.name = f'captioned_{source}'
  # The shipped file (gan_jax.models.text_encoder.SHIPPED), named here without importing JAX.
  config.stackgan.text_encoder = os.path.join(WEIGHTS, f'captioned_{source}_text_encoder.npz')
  config.stackgan.vocabulary = VOCABULARIES[source]
  return config


def get_config(variant: str | None = None):
  # The CPU sizes (stackgan_cpu_config): the captions name five attributes of 10 or fewer values.
  config = use_captions(stackgan_cpu_config(), 'mnist')
  # 8,000 steps of stage I (57 epochs of the 9,003 training images) then 1,000 of stage II. At 2,800 steps of stage I
  # the samples had the caption's background but no object yet; objects in the caption's colour and place came
  # between 4,000 and 8,000 (README). Stage I ran at 12 steps a second on one idle 2-core CPU, 2.2-2.7 on another.
  # The paper: 600 epochs each.
  config.stackgan.stage1_steps = 8000
  config.train.num_steps = 9000
  config.train.log_every_steps = 500
  config.train.eval_every_steps = 4000  # Evaluations at 4,000, at the switch (stage I's end) and at the end.
  config.train.checkpoint_every_steps = 500
  config.eval.num_samples = 500
  return select_variant(config, variant, VARIANTS)


def no_ca(config):
  config.stackgan.conditioning_augmentation = False
  config.loss.g.kl = 0.0
  return config


def one_attribute(config):
  config.stackgan.mismatch = 'one_attribute'
  return config


def fashion_mnist(config):
  return use_captions(config, 'fashion_mnist')


VARIANTS = {'stage1_only': stackgan_stage1_only, 'no_ca': no_ca, 'one_attribute': one_attribute,
            'fashion_mnist': fashion_mnist, 'smoke': stackgan_smoke}
