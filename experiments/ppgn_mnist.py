"""PPGN-h (Nguyen et al. 2017) on MNIST: h is the shipped mnist classifier's 128 ReLU features, G (DCGAN's generator)
draws x from h, R denoises h, and the sampler climbs log p(h) + log p(y = c | G(h)) per class; judged by the
conditioning classifier and by an independent one, with the prior and without it (eps1 = 0).

  python -m gan_jax.main --config experiments/ppgn_mnist.py --workdir workdirs/ppgn_mnist
  python -m gan_jax.main --config experiments/ppgn_mnist.py:fashion_mnist --workdir workdirs/ppgn_fashion_mnist
  python -m gan_jax.main --config experiments/ppgn_mnist.py:smoke --workdir /tmp/ppgn_smoke

Variants: `fashion_mnist` (the same on Fashion-MNIST, with its shipped classifiers) and `smoke` (narrow networks,
short chains, 40 steps). The data are the offline datasets: `python -m gan_jax.data.prepare mnist` once
(`fashion_mnist` for that variant).
"""

from gan_jax.config import ppgn_config, select_variant, smoke


def fashion_mnist(config):
  config.data.name = 'fashion_mnist'
  return config


def smoke_ppgn(config):
  config = smoke(config)
  config.gen.base_channels = config.disc.base_channels = 8
  config.ppgn.dae_hidden = (32,)
  config.ppgn.chain_steps = 4
  config.ppgn.record_every = 2
  config.ppgn.samples_per_class = 2
  config.train.batch_size = 16
  config.train.steps_per_call = 1
  config.eval.num_samples = 100
  return config


def get_config(variant: str | None = None):
  return select_variant(ppgn_config(), variant, {'fashion_mnist': fashion_mnist, 'smoke': smoke_ppgn})
