"""A variational autoencoder on dynamically binarised MNIST (Kingma & Welling 2014) in Burda et al. (2016)'s
one-stochastic-layer setting: 50 latents, 2 x 200 tanh units each way, Adam 1e-3, batch 100; measured by the test
ELBO and the importance-weighted test log-likelihood with k = 5,000 samples.

  python -m gan_jax.main --config experiments/vae_mnist.py --workdir workdirs/vae_mnist
  python -m gan_jax.main --config experiments/vae_mnist.py:fashion_mnist --workdir workdirs/vae_fashion_mnist
  python -m gan_jax.main --config experiments/vae_mnist.py:smoke --workdir /tmp/vae_smoke

Variants: `fashion_mnist` (the same on Fashion-MNIST) and `smoke` (4 latents, one hidden layer of 32 units,
k = 50). The data are the offline MNIST digits (9,003 train / 997 test): `python -m gan_jax.data.prepare mnist` once
(`fashion_mnist` for that variant).
"""

from gan_jax.config import select_variant, smoke, vae_config


def fashion_mnist(config):
  config.data.name = 'fashion_mnist'
  return config


def smoke_vae(config):
  config = smoke(config)
  config.vae.latent_dim = 4
  config.vae.hidden = (32,)
  config.vae.iw_samples = 50
  config.vae.iw_chunk = 20  # Not a divisor of iw_samples: the partly empty last chunk runs too.
  config.train.batch_size = 32
  config.eval.num_samples = 200
  return config


def get_config(variant: str | None = None):
  return select_variant(vae_config(), variant, {'fashion_mnist': fashion_mnist, 'smoke': smoke_vae})
