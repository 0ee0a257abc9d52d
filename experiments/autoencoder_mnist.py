"""Autoencoders of grey MNIST in [0, 1] with 64 sigmoid code units: plain, sparse (Ng's CS294A notes) and denoising
(Vincent et al. 2008); measured by the test reconstruction error and by a linear probe of the codes against the raw
pixels and the untrained encoder's codes.

  python -m gan_jax.main --config experiments/autoencoder_mnist.py --workdir workdirs/autoencoder_mnist
  python -m gan_jax.main --config experiments/autoencoder_mnist.py:sparse --workdir workdirs/autoencoder_sparse
  python -m gan_jax.main --config experiments/autoencoder_mnist.py:sparse_weight_decay \
      --workdir workdirs/autoencoder_sparse_wd
  python -m gan_jax.main --config experiments/autoencoder_mnist.py:denoising --workdir workdirs/autoencoder_denoising
  python -m gan_jax.main --config experiments/autoencoder_mnist.py:stacked --workdir workdirs/autoencoder_stacked
  python -m gan_jax.main --config experiments/autoencoder_mnist.py:deep --workdir workdirs/autoencoder_deep
  python -m gan_jax.main --config experiments/autoencoder_mnist.py:conv --workdir workdirs/autoencoder_conv
  python -m gan_jax.main --config experiments/autoencoder_mnist.py:smoke --workdir /tmp/autoencoder_smoke

Variants: `sparse`, `sparse_weight_decay` (Ng's whole objective), `denoising`, `deep` (a 256-unit hidden layer
before the code), `stacked` (`deep` pre-trained greedily layer by layer, then fine-tuned), `conv` (convolutional),
`fashion_mnist` (the plain one on Fashion-MNIST), `smoke` (16 code units, 40 steps) and `stacked_smoke`. The data are
the offline MNIST digits (9,003 train / 997 test): `python -m gan_jax.data.prepare mnist` once (`fashion_mnist` for
that variant). Any variant runs on Fashion-MNIST with `--config.data.name=fashion_mnist`, as
`benchmarks/sweeps.py autoencoder --autoencoder_data fashion_mnist` runs them.
"""

from gan_jax.config import autoencoder_config, select_variant, smoke


def sparse(config):
  # rho = 0.05 is the example of Ng's CS294A lecture notes ('Sparse autoencoder', 2011: 'say rho = 0.05'); beta = 3
  # is the sparsity weight of the UFLDL exercises that go with them. Their objective also has weight decay: see
  # sparse_weight_decay.
  config.autoencoder.sparsity_target = 0.05
  config.autoencoder.sparsity_weight = 3.0
  return config


def sparse_weight_decay(config):
  # Ng's whole objective: the sparse one plus (lambda / 2) ||W||^2 on the weight matrices (optax adds lambda W to
  # the gradient before Adam), lambda = 3e-3 as in the UFLDL MNIST exercises. Without it the filters are speckle
  # (30k steps: probe 0.907); with it they are pen strokes and loops (probe 0.928, raw pixels 0.897).
  config = sparse(config)
  for net in ('encoder', 'decoder'):
    config.optim[net].weight_decay = 3e-3
  return config


def denoising(config):
  # Masking noise destroying 25% of the pixels: one of the destruction fractions of Vincent et al. (2008).
  config.autoencoder.corruption = 'mask'
  config.autoencoder.corruption_level = 0.25
  return config


def conv(config):
  # Two 4x4 stride-2 convolutions (28 -> 14 -> 7; 16 and 32 channels, ReLU) to the same 64 sigmoid code units, and
  # their mirror image of up-convolutions in the decoder. A step costs about 10x the dense one's on this CPU: 6,000
  # steps (67 epochs) rather than 30,000. Its first few hundred steps sit at the mean image (about 206 nats) before
  # the codes start to vary (600 steps, seed 0: 104 nats, probe 0.87).
  config.autoencoder.architecture = 'conv'
  config.autoencoder.conv_channels = (16, 32)
  config.train.num_steps = 6000
  config.train.eval_every_steps = 6000
  config.train.checkpoint_every_steps = 1000
  return config


def deep(config):
  # One hidden layer of 256 sigmoid units before the 64-unit code (784-256-64-256-784), trained end to end from the
  # start: the baseline of `stacked`, the same network for the same 30,000 steps.
  config.autoencoder.hidden = (256,)
  return config


def stacked(config):
  # `deep` pre-trained greedily (Bengio et al. 2007): a 784-256-784 autoencoder of the images for 5,000 steps, then a
  # 256-64-256 one of its codes for 5,000, then the whole stack fine-tuned for the remaining 20,000 steps. The code
  # stays at 64 units, so that the probe compares with the one-layer variants' codes.
  config = deep(config)
  config.autoencoder.pretrain_steps = (5000, 5000)
  return config


def stacked_smoke(config):
  config = smoke_autoencoder(stacked(config))
  config.autoencoder.hidden = (24,)
  config.autoencoder.pretrain_steps = (10, 10)  # smoke's 40 steps: 10 per layer, then 20 fine-tuning.
  return config


def fashion_mnist(config):
  config.data.name = 'fashion_mnist'
  return config


def smoke_autoencoder(config):
  config = smoke(config)
  config.autoencoder.code_dim = 16
  config.train.batch_size = 32
  config.eval.num_samples = 200  # The probes fit on 200 training codes and score 200 test codes.
  return config


def get_config(variant: str | None = None):
  return select_variant(autoencoder_config(), variant, {'sparse': sparse, 'sparse_weight_decay': sparse_weight_decay,
                                                        'denoising': denoising, 'deep': deep, 'stacked': stacked,
                                                        'conv': conv, 'fashion_mnist': fashion_mnist,
                                                        'smoke': smoke_autoencoder, 'stacked_smoke': stacked_smoke})
