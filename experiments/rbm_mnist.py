"""A Bernoulli RBM on binarised MNIST, trained by contrastive divergence (Salakhutdinov & Murray 2008's setting:
500 hidden units, CD-1 / CD-25) and measured by annealed importance sampling (14,500 temperatures, 100 chains).

  python -m gan_jax.main --config experiments/rbm_mnist.py --workdir workdirs/rbm_cd1
  python -m gan_jax.main --config experiments/rbm_mnist.py:cd25 --workdir workdirs/rbm_cd25
  python -m gan_jax.main --config experiments/rbm_mnist.py:pcd --workdir workdirs/rbm_pcd

Variants: `cd25` (k = 25, the paper's better model), `pcd` (persistent CD-1), `fashion_mnist` (the same on
Fashion-MNIST), and `smoke` (20 hidden units, so that AIS is checked against the exact partition function).
The data are the offline MNIST digits (9,003 train / 997 test): `python -m gan_jax.data.prepare mnist` once.
"""

from gan_jax.config import rbm_config, select_variant, smoke


def cd25(config):
  config.rbm.gibbs_steps = 25
  return config


def pcd(config):
  config.rbm.persistent = True
  return config


def fashion_mnist(config):
  config.data.name = 'fashion_mnist'
  return config


def smoke_rbm(config):
  config = smoke(config)
  config.rbm.num_hidden = 16  # Small enough to enumerate: the evaluation adds the exact log Z beside AIS.
  config.rbm.ais_temperatures = 200
  config.rbm.ais_chains = 16
  config.rbm.sample_gibbs_steps = 10
  config.train.batch_size = 20
  config.eval.num_samples = 200
  return config


def get_config(variant: str | None = None):
  return select_variant(rbm_config(), variant, {'cd25': cd25, 'pcd': pcd, 'fashion_mnist': fashion_mnist,
                                                'smoke': smoke_rbm})
