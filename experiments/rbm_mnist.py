"""A Bernoulli RBM on binarised MNIST, trained by contrastive divergence (Salakhutdinov & Murray 2008's setting:
500 hidden units, CD-1 / CD-25) and measured by annealed importance sampling (14,500 temperatures, 100 chains).

  python -m gan_jax.main --config experiments/rbm_mnist.py --workdir workdirs/rbm_cd1
  python -m gan_jax.main --config experiments/rbm_mnist.py:cd25 --workdir workdirs/rbm_cd25
  python -m gan_jax.main --config experiments/rbm_mnist.py:pcd --workdir workdirs/rbm_pcd

Variants: `cd10` and `cd25` (k = 10, 25; CD-25 is the paper's best model), `pcd` (persistent CD-1), `fashion_mnist` (the same on
Fashion-MNIST), and `smoke` (20 hidden units, so that AIS is checked against the exact partition function).
The data are the offline MNIST digits (9,003 train / 997 test): `python -m gan_jax.data.prepare mnist` once.
"""

from gan_jax.config import rbm_config, select_variant, smoke


def cd10(config):
  config.rbm.gibbs_steps = 10
  return config


def cd25(config):
  config.rbm.gibbs_steps = 25
  return config


def pcd(config):
  config.rbm.persistent = True
  # A tenth of CD's rate, so that the persistent chains keep up with the weights (Tieleman 2008). At CD's 0.05
  # (0.5 with momentum 0.9; one seed, 10,000 steps) PCD-1 reached -159 nats, but AIS's error on log Z was 0.8
  # nats (CD-1: 0.04) and the reconstruction error 0.086 per pixel (CD-1: 0.018): a model of sharp, far-apart modes.
  config.optim.rbm.learning_rate = 0.005
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
  return select_variant(rbm_config(), variant, {'cd10': cd10, 'cd25': cd25, 'pcd': pcd, 'fashion_mnist': fashion_mnist,
                                                'smoke': smoke_rbm})
