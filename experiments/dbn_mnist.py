"""A deep belief net (Hinton, Osindero & Teh 2006) on binarised MNIST: two RBMs of 500 hidden units (784-500-500)
trained greedily by CD-1, 20,000 steps each; judged by samples, a linear probe of the top layer's features against
the pixels, and a classifier fine-tuned from the DBN's weights against the same classifier from random weights.

  python -m gan_jax.main --config experiments/dbn_mnist.py --workdir workdirs/dbn_mnist
  python -m gan_jax.main --config experiments/dbn_mnist.py:fashion_mnist --workdir workdirs/dbn_fashion_mnist
  python -m gan_jax.main --config experiments/dbn_mnist.py:smoke --workdir /tmp/dbn_smoke

Variants: `cd10` (CD-10 for every layer), `fashion_mnist` (the same on Fashion-MNIST) and `smoke` (16-8 hidden
units, 20 steps per layer). The data are the offline MNIST digits (9,003 train / 997 test):
`python -m gan_jax.data.prepare mnist` once (`fashion_mnist` for that variant).
"""

from gan_jax.config import dbn_config, select_variant, smoke


def cd10(config):
  config.dbn.gibbs_steps = 10
  return config


def fashion_mnist(config):
  config.data.name = 'fashion_mnist'
  return config


def smoke_dbn(config):
  config = smoke(config)
  config.dbn.hidden = (16, 8)
  config.dbn.layer_steps = (20, 20)  # smoke's 40 steps: both layers train.
  config.dbn.sample_gibbs_steps = 10
  config.dbn.finetune_steps = 20
  config.dbn.finetune_batch_size = 20
  config.train.batch_size = 20
  config.eval.num_samples = 200
  return config


def get_config(variant: str | None = None):
  return select_variant(dbn_config(), variant, {'cd10': cd10, 'fashion_mnist': fashion_mnist, 'smoke': smoke_dbn})
