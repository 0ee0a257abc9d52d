"""CycleGAN (Zhu et al. 2017) on emoji_styles, OpenMoji <-> Noto Color Emoji, unpaired, sized for a 2-core CPU.

  python -m gan_jax.data.prepare emoji_styles   # once: 1,217 training and 160 test emoji in both styles
  python -m gan_jax.main --config experiments/cyclegan_emoji.py --workdir workdirs/cyclegan_emoji
  python -m gan_jax.main --config experiments/cyclegan_emoji.py:smoke --workdir /tmp/cyclegan_smoke

The paper's system (gan_jax.config.cyclegan_config: the authors' ResNet generators and 70x70 PatchGANs, with instance
norm without scale and bias, least-squares GAN loss, cycle lambda = 10, identity 0.5 lambda, 50-image pools, Adam 2e-4 /
0.5 constant then linear to 0, batch 1) at 32x32 and a quarter of the widths. Variants: the paper's ablations `no_cycle`
("GAN alone") and `no_adversarial` ("Cycle alone"), `no_identity`, `unrolled` (both discriminators unrolled 5 steps in
G's loss) and `smoke`. Training reads the two styles as independent sets; the test split's pairing (the same code point
in both styles) only scores the translations.
"""

from gan_jax.config import cyclegan_cpu_config, cyclegan_smoke, decay_in_second_half, select_variant, set_adam


def get_config(variant: str | None = None):
  # 32x32 (the emoji stay recognisable), 4 residual blocks, a quarter of the widths; 5,000 steps: 4 epochs of the
  # 1,217 training emoji (the paper: 200), the rate decaying over the second half: 4-6 minutes at 13-19 steps/s on
  # the shared 2-core CPU (longer when other jobs hold it). Measured over seeds with
  # `python benchmarks/sweeps.py cyclegan` (README), seeds 0 and 1 with the authors' networks: test L1 of
  # G_ab(openmoji) against the true noto 0.149 (the openmoji copied as its translation: 0.163), FD in the emoji
  # classifier's features 25-27 (copy: 393).
  config = cyclegan_cpu_config()
  # The paper's rate: constant for the first half, then linear to 0 (set after the variant, from its length).
  return decay_in_second_half(select_variant(config, variant, VARIANTS))


def no_identity(config):
  config.cyclegan.identity_weight = 0.0
  return config


def no_cycle(config):
  # The paper's "GAN alone" (Table 4): the identity term, weighed lambda_id * lambda as in the reference code, goes
  # with it, as the paper's ablation had no identity term either.
  config.cyclegan.cycle_weight = 0.0
  return config


def no_adversarial(config):
  # The paper's "Cycle alone": G never hears the discriminators (they still train, so their losses are logged).
  config.cyclegan.adversarial_weight = 0.0
  return config


def unrolled(config):
  # Both discriminators unrolled 5 updates ahead in G's adversarial term (Metz et al. 2017's k = 5); Adam's
  # eps_root > 0 so that the unroll can be differentiated.
  config.cyclegan.unroll_steps = 5
  set_adam(config, eps_root=1e-16, names=('d_a', 'd_b'))
  return config


VARIANTS = {'no_identity': no_identity, 'no_cycle': no_cycle, 'no_adversarial': no_adversarial, 'unrolled': unrolled,
            'smoke': cyclegan_smoke}
