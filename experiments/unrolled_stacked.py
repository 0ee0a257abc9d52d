"""Unrolled GAN on Stacked MNIST at 28x28 (Metz et al. 2017, sec. 3.3.1, Table 2), with the networks of that
setting as PacGAN re-implemented them (Lin et al. 2018).

Three MNIST digits stacked as the channels of one 28x28 image: 1,000 modes, counted on 25,600 samples by the
shipped MNIST classifier. G: z ~ N(0, I_256) -> dense 4x4x64 -> transposed convolutions to 7x7x32, 14x14x16,
28x28x8 -> a 3x3 convolution to 3 channels -> tanh. D is small on purpose (the paper's hardest settings): 1/4 of G
(2 -> 4 -> 8 channels, the default) or, with the `:half` variant, 1/2 (4 -> 8 -> 16). Adam 2e-4 for both
(the setting's G rate is 1e-4; see below), betas (0.5, 0.99), batch 128, alternating updates. `:pack4` is
PacGAN4 (D judges 4 stacked images at once, D = 1/4 G). k is an override:
  python -m gan_jax.main --config experiments/unrolled_stacked.py --config.unroll.steps=5 --workdir workdirs/sm_k5
`python benchmarks/sweeps.py stacked_mnist` runs the paper's grid of k, D sizes and seeds. Needs the offline MNIST:
  python -m gan_jax.data.prepare mnist   (after `bash gan_jax/data/install_sources.sh` once)
"""

from gan_jax.config import dcgan_config, pack, select_variant, set_adam, smoke


def half(config):
  """D at 1/2 of G's widths (the paper's easier setting)."""
  config.disc.widths = (4, 8, 16)
  return config


def smoke_stacked(config):
  config = smoke(config)
  config.eval.num_samples = 1000
  return config


def get_config(variant: str | None = None):
  config = dcgan_config()
  config.data.name = 'stacked_mnist'
  config.data.resolution = 28
  config.gen.name = config.disc.name = 'conv'
  config.gen.widths = (64, 32, 16, 8)
  config.disc.widths = (2, 4, 8)  # D = 1/4 of G.
  config.gen.latent_dim = 256
  config.gen.latent_dist = 'normal'
  # The setting's G rate, 1e-4, let D win at once in runs of this length (D = 1/2 G on MNIST, 800 steps: d_loss
  # 0.013, classifier IS 1.3; with 2e-4: 1.20 and 4.8), as did simultaneous updates (IS 2.6).
  set_adam(config, 2e-4, b1=0.5, b2=0.99)
  config.train.batch_size = 128
  config.unroll.steps = 10
  config.train.update_order = 'alternating'
  config.train.num_steps = 10_000
  config.train.log_every_steps = 250
  config.train.eval_every_steps = 2500
  config.train.checkpoint_every_steps = 2500
  config.eval.num_samples = 25_600  # As many samples as the paper counts modes on.
  return select_variant(config, variant, {'smoke': smoke_stacked, 'half': half, 'pack4': pack(4),
                                          'half_smoke': lambda c: smoke_stacked(half(c))})
