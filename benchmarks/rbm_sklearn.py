"""The same Bernoulli RBM trained by scikit-learn's `BernoulliRBM` and by gan_jax's RBM family, side by side.

Both train PCD-1 (persistent chains, one Gibbs step per update) with plain SGD (no momentum, no weight decay) at the
same learning rate on the batch-mean gradient, W ~ N(0, 0.01^2) and zero biases, for the same number of epochs over
the same bits: the offline MNIST train split binarised once by `data.binarize='threshold'` (pixel > 127.5 -> 1),
built for sklearn from the dataset's host arrays with the family's own `binarize` and `to_visible`, exactly as its
compiled step turns each batch into visible units. gan_jax runs epochs x (N // batch) updates.

sklearn's last batch: `fit` cuts ceil(N / batch) slices with `gen_even_slices`, which for MNIST's 9,003 examples
and batch 100 are 90 of 100 and one of 3. Its persistent chains stay `batch` rows, so on that batch the negative
statistics of 100 chains are summed but divided by 3: once per epoch a step 33 times the learning rate on the
negative phase alone, and the last update of every fit is that one. At the defaults it cost sklearn's model 59 nats
of test log-likelihood (-184.9 against -125.9 by AIS; a NumPy re-implementation of its loop reproduces the effect).
So by default (`--sklearn_remainder drop`) sklearn fits the first N - N % batch examples, in order, and both programs
take full batches only (900 updates each at the defaults); `--sklearn_remainder keep` fits all N as sklearn would.

Differences that remain, inherent to the two programs:
- batch order: sklearn takes the same slices in order every epoch; gan_jax serves epoch-shuffled batches of the N
  examples (drop-remainder: N % batch different ones left out each epoch);
- the persistent chains: sklearn keeps hidden samples (zeros at first, so its first negative visibles are fair
  coins) and draws the next hidden sample with the parameters before the update; gan_jax keeps visible samples
  (first drawn from the pixels' mean intensities) and runs v -> h -> v with the current parameters;
- arithmetic: float32 in both (sklearn keeps float32 input in float32), OpenBLAS against XLA's CPU kernels, NumPy's
  RNG against JAX's keys; gan_jax's step also computes its logged metrics (reconstruction error, gradient, update
  and parameter norms) each update, which sklearn does not.

Measured, on the test split binarised the same way (`families.rbm.test_visibles`):
- training time: wall seconds of `BernoulliRBM.fit`, and of the one compiled call that runs all gan_jax's updates
  (`train.make_multi_step_fn`, its data placed on the device before), lowered and compiled beforehand (the compile
  time is reported on its own row). Medians over `--repeats` rounds, sklearn and gan_jax alternating within a
  round so that the machine's other load is shared; the ratio is sklearn's time / gan_jax's, measured side by
  side in this one run (absolute seconds depend on that load). sklearn's OpenBLAS runs `--blas_threads` threads
  (default 1, through threadpoolctl): with its default 2 on 2 cores that other processes share, its spin-waiting
  made `fit` 20-60x slower here (110 against 5.6 ms per update at 500 hidden units), as libgomp did for torch in
  `pytorch_unrolled.py`; gan_jax's step ran as fast pinned to one core (`taskset -c 0`) as on both;
- pseudo-log-likelihood (sklearn's definition: V log sigmoid(F(v with one random unit flipped) - F(v)), nats per
  image): sklearn's own `score_samples` for its model, and the project's `pseudo_log_likelihood` for both models
  with the flip indices `score_samples` draws (`RandomState(seed).randint(0, V, N)`); for sklearn's model the two
  agree to float32 rounding (the largest per-image difference is printed);
- log-likelihood (nats per image): sklearn offers no partition function, AIS or likelihood (only the
  pseudo-likelihood), so the project's `ais_log_partition` estimates log Z for both models (sklearn's weights
  through `load_sklearn_rbm`) with the same settings, key and base model (W = 0, visible biases `base_rate_bias`
  of the training bits), once per model; with the AIS standard error of log Z, which is also the likelihood's;
- one-pass reconstruction error per pixel (`models.rbm.reconstruction_error`: v -> p(h|v) -> p(v|h)).

The models evaluated are those of the last round (every round trains the same one: both are deterministic in
`--seed`).

Run (about 70 seconds on 2 CPU cores shared with other jobs, load average ~7; 50 s of it AIS):
  python benchmarks/rbm_sklearn.py
  python benchmarks/rbm_sklearn.py --sklearn_remainder keep --repeats 3 --json /tmp/rbm_sklearn.json
"""

import argparse
import json
import math
import statistics
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from sklearn.neural_network import BernoulliRBM
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from gan_jax import data, families, parallel as parallel_lib, train
from gan_jax.config import rbm_config
from gan_jax.data.in_memory import to_unit_range
from gan_jax.evaluation import rbm_likelihood
from gan_jax.families import rbm as rbm_family
from gan_jax.models import rbm as rbm_lib

import common

CONTENDERS = ('sklearn', 'gan_jax')


def make_config(args: argparse.Namespace) -> ml_collections.ConfigDict:
  """The RBM family configured as `BernoulliRBM(n_components=hidden, learning_rate, batch_size, n_iter=epochs)`."""
  config = rbm_config()
  config.seed = args.seed
  config.data.data_dir = args.data_dir
  config.data.binarize = 'threshold'
  config.rbm.num_hidden = args.hidden
  config.rbm.persistent = True
  config.rbm.gibbs_steps = 1
  config.rbm.init_std = 0.01
  config.rbm.ais_temperatures = args.ais_temperatures
  config.rbm.ais_chains = args.ais_chains
  config.optim.rbm.learning_rate = args.learning_rate
  config.optim.rbm.momentum = 0.0
  config.optim.rbm.weight_decay = 0.0
  config.train.batch_size = args.batch_size
  return config


def training_visibles(config: ml_collections.ConfigDict, dataset) -> np.ndarray:
  """The whole training split [N, V] in {0, 1}, converted as the family's step converts each batch it draws."""
  x = to_unit_range(jnp.asarray(dataset.host_arrays()['images']))
  key = jax.random.key(config.seed)  # Unused by 'threshold'.
  return np.asarray(rbm_family.to_visible(families.binarize(x, config.data.binarize, key)))


def sklearn_flip_index(seed: int, v: np.ndarray) -> np.ndarray:
  """The unit `BernoulliRBM(random_state=seed).score_samples(v)` flips in each row of `v`."""
  return check_random_state(seed).randint(0, v.shape[1], v.shape[0])


class GanJaxTrainer:
  """The RBM family's training, compiled once for all its updates; `train()` runs it from a fresh state."""

  def __init__(self, config: ml_collections.ConfigDict, dataset, num_steps: int):
    self.config, self.dataset = config, dataset
    self.parallel = parallel_lib.make_data_parallel('single')
    self.arrays = self.parallel.put(train.training_arrays(config, dataset))
    fn = train.make_multi_step_fn(config, dataset, self.parallel)(num_steps)
    tic = time.perf_counter()
    self.compiled = fn.lower(self.fresh_state(), self.arrays).compile()
    self.compile_seconds = time.perf_counter() - tic

  def fresh_state(self):
    """The state at step 0 on the device (the compiled call donates its state, so every run needs its own)."""
    state = rbm_family.create_rbm_state(self.config, jax.random.key(self.config.seed), self.dataset)
    return jax.block_until_ready(self.parallel.put(state))

  def train(self) -> tuple[dict, float]:
    """Returns the trained RBM's parameters and the wall seconds of the training call."""
    state = self.fresh_state()
    tic = time.perf_counter()
    state, summary = self.compiled(state, self.arrays)
    jax.block_until_ready((state, summary))
    return state.nets['rbm'].params, time.perf_counter() - tic


def sklearn_examples(train_v: np.ndarray, batch_size: int, remainder: str) -> np.ndarray:
  """What sklearn fits: all of `train_v` ('keep'), or its first N - N % batch_size rows ('drop', full batches)."""
  return train_v if remainder == 'keep' else train_v[:len(train_v) - len(train_v) % batch_size]


def train_sklearn(x: np.ndarray, args: argparse.Namespace) -> tuple[BernoulliRBM, float]:
  """Returns scikit-learn's RBM fitted on `x` (OpenBLAS limited to `args.blas_threads`) and the seconds of `fit`."""
  rbm = BernoulliRBM(n_components=args.hidden, learning_rate=args.learning_rate, batch_size=args.batch_size,
                     n_iter=args.epochs, random_state=args.seed)
  with threadpool_limits(limits=args.blas_threads, user_api='blas'):
    tic = time.perf_counter()
    rbm.fit(x)
    return rbm, time.perf_counter() - tic


def evaluate(params: dict, test_v: jax.Array, flip_index: np.ndarray, base_bias: np.ndarray,
             args: argparse.Namespace) -> dict[str, float]:
  """Test-split measures of one RBM with the project's functions (AIS with the same key for every model)."""
  key = jax.random.fold_in(jax.random.key(args.seed), rbm_family.EVAL_STREAM)
  log_z, log_z_std_error = rbm_likelihood.ais_log_partition(params, key, args.ais_temperatures, args.ais_chains,
                                                            base_bias)
  pll = rbm_likelihood.pseudo_log_likelihood(params, test_v, None, flip_index=jnp.asarray(flip_index))
  return {
      'log_z': float(log_z),
      'log_z_std_error': float(log_z_std_error),
      'test_log_likelihood': float(rbm_likelihood.log_likelihood(params, test_v, log_z)),
      'test_pseudo_log_likelihood': float(jnp.mean(pll)),
      'test_reconstruction_error': float(rbm_lib.reconstruction_error(params, test_v)),
  }


def base_rate_log_likelihood(base_bias: np.ndarray, test_v: np.ndarray) -> float:
  """The exact mean test log-likelihood of AIS's base model (W = 0): log p(v) = v.b - sum_i softplus(b_i)."""
  b = np.asarray(base_bias, np.float64)
  return float(np.mean(test_v @ b) - np.sum(np.logaddexp(0.0, b)))


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--data_dir', default='', help="TFDS data_dir ('': $TFDS_DATA_DIR or ~/tensorflow_datasets)")
  parser.add_argument('--hidden', type=int, default=500, help='hidden units')
  parser.add_argument('--learning_rate', type=float, default=0.05, help='SGD step on the batch-mean gradient')
  parser.add_argument('--batch_size', type=int, default=100)
  parser.add_argument('--epochs', type=int, default=10, help="sklearn's n_iter; gan_jax: epochs x (N // batch) steps")
  parser.add_argument('--ais_temperatures', type=int, default=14_500)
  parser.add_argument('--ais_chains', type=int, default=100)
  parser.add_argument('--repeats', type=int, default=1, help='training rounds (median times; AIS runs once)')
  parser.add_argument('--sklearn_remainder', choices=('drop', 'keep'), default='drop',
                      help="drop: sklearn fits full batches only; keep: all examples (see the last batch above)")
  parser.add_argument('--blas_threads', type=int, default=1, help="OpenBLAS threads of sklearn's fit")
  parser.add_argument('--seed', type=int, default=0, help="sklearn's random_state and gan_jax's config.seed")
  parser.add_argument('--json', default='', help='also write the numbers to this file')
  return parser.parse_args(argv)


def print_table(results: dict) -> None:
  """The two models side by side: times with sklearn / gan_jax ratios, measures with gan_jax - sklearn."""
  s, g, settings = results['sklearn'], results['gan_jax'], results['settings']

  def ms_per_update(r):
    return 1e3 * r['train_seconds'] / r['updates']

  def with_se(r, field):
    return f'{r[field]:.2f} ± {r["log_z_std_error"]:.2f}'

  def difference(field, digits=2):
    return f'{g[field] - s[field]:+.{digits}f}'

  rows = [
      ['train examples fitted', f'{s["train_examples"]:,}', f'{g["train_examples"]:,}', ''],
      ['updates (PCD-1, plain SGD)', s['updates'], g['updates'], ''],
      [f'training seconds (median of {settings["repeats"]})', f'{s["train_seconds"]:.1f}',
       f'{g["train_seconds"]:.1f}', f'{results["train_seconds_ratio"]:.2f}x'],
      ['ms per update', f'{ms_per_update(s):.2f}', f'{ms_per_update(g):.2f}',
       f'{ms_per_update(s) / ms_per_update(g):.2f}x'],
      ['compile seconds (not in training)', '', f'{g["compile_seconds"]:.1f}', ''],
      ['test PLL, sklearn score_samples', f'{s["test_score_samples"]:.2f}', '', ''],
      ['test PLL, project function, same flips', f'{s["test_pseudo_log_likelihood"]:.2f}',
       f'{g["test_pseudo_log_likelihood"]:.2f}', difference('test_pseudo_log_likelihood')],
      ['log Z (AIS ± s.e.)', with_se(s, 'log_z'), with_se(g, 'log_z'), difference('log_z')],
      ['test log-likelihood (AIS ± s.e.)', with_se(s, 'test_log_likelihood'), with_se(g, 'test_log_likelihood'),
       difference('test_log_likelihood')],
      ['test reconstruction error per pixel', f'{s["test_reconstruction_error"]:.4f}',
       f'{g["test_reconstruction_error"]:.4f}', difference('test_reconstruction_error', 4)],
  ]
  references = results['references']
  print(f'\nMNIST threshold-binarised ({settings["train_examples"]:,} train / {settings["test_examples"]:,} test), '
        f'{settings["hidden"]} hidden, lr {settings["learning_rate"]}, batch {settings["batch_size"]}, '
        f'{settings["epochs"]} epochs, sklearn remainder {settings["sklearn_remainder"]}, '
        f'{settings["blas_threads"]} BLAS thread(s); AIS {settings["ais_temperatures"]:,} temperatures x '
        f'{settings["ais_chains"]} chains; PLL and log-likelihood in nats per test image')
  print(common.markdown_table(['metric', 'scikit-learn', 'gan_jax', 'time: sklearn / gan_jax; else gan_jax - sklearn'],
                              rows))
  print(f'\nThe project\'s PLL on sklearn\'s model against score_samples, largest per-image difference: '
        f'{s["pll_max_abs_difference"]:.1e} (relative {s["pll_max_rel_difference"]:.1e}).')
  print(f'References: the W = 0, zero-bias RBM\'s PLL {references["zero_rbm_pseudo_log_likelihood"]:.2f}; AIS\'s base '
        f'model (W = 0, base-rate biases) exact test log-likelihood {references["base_rate_test_log_likelihood"]:.2f}.')


def main(argv=None) -> dict:
  """Trains, measures and prints the table; returns the numbers that `--json` writes."""
  args = parse_args(argv)
  print(common.machine_line(), flush=True)
  config = make_config(args)
  dataset = data.make_dataset(config.data)
  steps = args.epochs * (dataset.num_examples // args.batch_size)
  config.train.num_steps = steps
  families.get('rbm').validate(config, 1)
  train_v = training_visibles(config, dataset)
  test_v, _ = rbm_family.test_visibles(config, config.seed)
  base_bias = rbm_likelihood.base_rate_bias(train_v)
  flip_index = sklearn_flip_index(args.seed, test_v)
  sklearn_v = sklearn_examples(train_v, args.batch_size, args.sklearn_remainder)

  trainer = GanJaxTrainer(config, dataset, steps)
  print(f'gan_jax: {steps} steps compiled in {trainer.compile_seconds:.1f} s', flush=True)
  seconds = {name: [] for name in CONTENDERS}
  for _ in range(args.repeats):
    sklearn_rbm, elapsed = train_sklearn(sklearn_v, args)
    seconds['sklearn'].append(elapsed)
    params, elapsed = trainer.train()
    seconds['gan_jax'].append(elapsed)
    print(f'trained: sklearn {seconds["sklearn"][-1]:.1f} s, gan_jax {seconds["gan_jax"][-1]:.1f} s', flush=True)

  test_jax = jnp.asarray(test_v)
  results = {name: {} for name in CONTENDERS}
  for name, model in (('sklearn', rbm_likelihood.load_sklearn_rbm(sklearn_rbm)), ('gan_jax', params)):
    tic = time.perf_counter()
    results[name].update(evaluate(model, test_jax, flip_index, base_bias, args))
    results[name]['evaluation_seconds'] = time.perf_counter() - tic
    print(f'{name}: evaluated in {results[name]["evaluation_seconds"]:.0f} s', flush=True)
  score_samples = sklearn_rbm.score_samples(test_v)
  project_pll = rbm_likelihood.pseudo_log_likelihood(rbm_likelihood.load_sklearn_rbm(sklearn_rbm), test_jax, None,
                                                     flip_index=jnp.asarray(flip_index))
  difference = np.abs(np.asarray(project_pll, np.float64) - score_samples)
  results['sklearn']['test_score_samples'] = float(np.mean(score_samples))
  results['sklearn']['pll_max_abs_difference'] = float(np.max(difference))
  results['sklearn']['pll_max_rel_difference'] = float(np.max(difference / np.maximum(np.abs(score_samples), 1.0)))
  results['sklearn']['train_examples'] = len(sklearn_v)
  results['sklearn']['updates'] = args.epochs * math.ceil(len(sklearn_v) / args.batch_size)
  results['gan_jax']['train_examples'] = len(train_v)
  results['gan_jax']['updates'] = steps
  results['gan_jax']['compile_seconds'] = trainer.compile_seconds
  for name in CONTENDERS:
    results[name]['train_seconds_all'] = seconds[name]
    results[name]['train_seconds'] = statistics.median(seconds[name])
  s, g = results['sklearn'], results['gan_jax']
  results['train_seconds_ratio'] = s['train_seconds'] / g['train_seconds']
  results['references'] = {
      'zero_rbm_pseudo_log_likelihood': -test_v.shape[1] * math.log(2.0),  # W = 0, b = c = 0: every flip is 1/2.
      'base_rate_test_log_likelihood': base_rate_log_likelihood(base_bias, test_v),
  }
  results['settings'] = {**vars(args), 'train_examples': len(train_v), 'test_examples': len(test_v),
                         'machine': common.machine_line()}

  print_table(results)
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(results, f, indent=2)
  return results


if __name__ == '__main__':
  main()
