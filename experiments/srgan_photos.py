"""SRGAN (Ledig et al. 2017) x4 on photos' 96x96 crops (LR 24x24), sized for a 2-core CPU.

  python -m gan_jax.data.prepare photos   # once: 1,064 training and 167 test crops (opencv-doc, scikit-image, ...)
  python -m gan_jax.main --config experiments/srgan_photos.py:srresnet --workdir workdirs/srresnet_photos
  python -m gan_jax.main --config experiments/srgan_photos.py --workdir workdirs/srgan_photos \\
      --config.srgan.init_from=workdirs/srresnet_photos
  python -m gan_jax.main --config experiments/srgan_photos.py:vgg54 --config.srgan.vgg_weights=vgg19.npz \\
      --config.srgan.init_from=workdirs/srresnet_photos --workdir workdirs/srgan_vgg54_photos
  python -m gan_jax.main --config experiments/srgan_photos.py:smoke --workdir /tmp/srgan_smoke

The paper's system (gan_jax.config.srgan_config: SRResNet, the VGG-style D, content + 10^-3 non-saturating
adversarial loss, initialised from SRResNet, Adam 1e-4 / 0.9, random flips) with fewer residual blocks, narrower
networks and far fewer steps: see `get_config`'s comments for the sizes. The default is SRGAN-MSE (pixel MSE as the
content loss, since no VGG19 weights are available offline), started from the SRResNet run given by
--config.srgan.init_from as the paper starts SRGAN (without it, from scratch).

Variants: `srresnet` (content 'mse' alone, no D: the paper's SRResNet-MSE),
`vgg54` (the paper's SRGAN-VGG54; needs --config.srgan.vgg_weights, see gan_jax/models/vgg19.py), and `smoke`.
"""

from gan_jax.config import decay_in_second_half, select_variant, srgan_config


def get_config(variant: str | None = None):
  config = srgan_config()
  # 8 residual blocks of 32 channels (the paper: 16 of 64) and D's widths from 16 (16 ... 128, dense 128; the paper
  # 64 ... 512, dense 1024): on the shared 2-core CPU a step of D from 32 (dense 256) took SRGAN's step to 3x
  # SRResNet's.
  config.srgan.num_blocks = 8
  config.srgan.channels = 32
  config.srgan.disc_channels = 16
  config.srgan.disc_dense = 128
  config.srgan.content = 'mse'
  config.train.batch_size = 16
  # SRGAN's 1,000 adversarial steps continue the 3,000-step SRResNet of --config.srgan.init_from (the paper: 2 x 10^5
  # and 10^6), each rate constant for the first half and then linear to 0, as the paper's SRGAN steps down to a
  # tenth for its second half: at a constant 1e-3 SRResNet's PSNR swung by 0.8 dB between evaluations 500 steps
  # apart (26.75 dB at step 1,500, 25.91 at 2,000, seed 0). About 3 steps/s for SRResNet on a free 2-core CPU.
  config.train.num_steps = 1000
  config.train.log_every_steps = 250
  config.train.eval_every_steps = 500
  config.train.checkpoint_every_steps = 500
  return decay_in_second_half(select_variant(config, variant, VARIANTS))


def srresnet(config):
  config.srgan.adversarial_weight = 0.0
  # 10x the paper's rate for a run 300x shorter: at 1e-4 400 steps left SRResNet at 23.3 dB on Y, 3.9 dB below
  # bicubic (seed 0). SRGAN continues it at the paper's 1e-4.
  config.optim.g.learning_rate = 1e-3
  config.train.num_steps = 3000
  return config


def vgg54(config):
  config.srgan.content = 'vgg54'  # With --config.srgan.vgg_weights=<the .npz file>.
  return config


def smoke(config):
  config.srgan.num_blocks = 1
  config.srgan.channels = 8
  config.srgan.disc_channels = 4
  config.srgan.disc_dense = 8
  config.data.resolution = 32
  config.train.batch_size = 4
  config.train.num_steps = 4
  config.train.log_every_steps = 2
  config.train.eval_every_steps = 4
  config.train.checkpoint_every_steps = 4
  config.eval.num_samples = 8
  config.eval.grid_rows = 4
  return config


VARIANTS = {'srresnet': srresnet, 'vgg54': vgg54, 'smoke': smoke}
