"""benchmarks/rbm_sklearn.py at a tiny size: both RBMs learn, its numbers are what sklearn and the project compute,
sklearn sees the bits gan_jax's step draws, and the JSON holds every number it prints."""

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data, parallel as parallel_lib
from gan_jax.evaluation import rbm_likelihood
from gan_jax.families import rbm as rbm_family
from tests.test_experiments import load

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'benchmarks')
TINY = ['--hidden', '16', '--epochs', '1', '--ais_temperatures', '50', '--ais_chains', '8']
MEASURES = ('train_seconds', 'train_seconds_all', 'updates', 'train_examples', 'test_pseudo_log_likelihood',
            'log_z', 'log_z_std_error', 'test_log_likelihood', 'test_reconstruction_error', 'evaluation_seconds')


@pytest.fixture(scope='module')
def bench_run(tmp_path_factory, offline_data_dir):
  """The script's module and what its main returned and wrote."""
  with pytest.MonkeyPatch.context() as mp:
    mp.syspath_prepend(BENCHMARKS)  # For its `import common`, as `python benchmarks/rbm_sklearn.py` finds it.
    module = load(os.path.join(BENCHMARKS, 'rbm_sklearn.py'))
    path = tmp_path_factory.mktemp('rbm_bench') / 'numbers.json'
    argv = TINY + ['--data_dir', offline_data_dir, '--json', str(path)]
    results = module.main(argv)
    yield module, module.parse_args(argv), results, json.loads(path.read_text())


def test_both_models_learn(bench_run):
  _, args, results, _ = bench_run
  # An RBM that knows nothing (W = 0, zero biases) has PLL -V log 2 (every flip 1/2) and reconstructs every pixel
  # as 1/2 (error 1/4); 90 updates are far from it.
  zero_pll = results['references']['zero_rbm_pseudo_log_likelihood']
  assert zero_pll == pytest.approx(-784 * math.log(2))
  for name in ('sklearn', 'gan_jax'):
    r = results[name]
    assert r['updates'] == 90
    assert np.isfinite(r['test_pseudo_log_likelihood']) and r['test_pseudo_log_likelihood'] > zero_pll + 100
    assert 0 < r['test_reconstruction_error'] < 0.2
    assert np.isfinite(r['log_z']) and 0 < r['log_z_std_error'] < 5
    assert -784 * math.log(2) < r['test_log_likelihood'] < 0  # Below the uniform model's cost, a probability < 1.
  assert results['sklearn']['train_examples'] == 9000  # Full batches only (--sklearn_remainder drop).
  assert results['gan_jax']['train_examples'] == 9003


def test_numbers_are_sklearns_and_the_projects(bench_run, offline_data_dir):
  module, args, results, _ = bench_run
  config = module.make_config(args)
  test_v, _ = rbm_family.test_visibles(config, config.seed)
  train_v = module.training_visibles(config, data.make_dataset(config.data))
  # The fit is deterministic in its seed: the same model the script measured.
  fitted, _ = module.train_sklearn(module.sklearn_examples(train_v, args.batch_size, 'drop'), args)
  score_samples = fitted.score_samples(test_v)
  assert results['sklearn']['test_score_samples'] == pytest.approx(np.mean(score_samples), rel=1e-6)
  p = rbm_likelihood.load_sklearn_rbm(fitted)
  project = rbm_likelihood.pseudo_log_likelihood(p, jnp.asarray(test_v), None,
                                                 flip_index=module.sklearn_flip_index(args.seed, test_v))
  # V = 784 times float32 rounding of a difference of free energies of a few hundred nats: ~0.06 at most.
  np.testing.assert_allclose(np.asarray(project), score_samples, rtol=1e-4, atol=0.2)
  assert results['sklearn']['test_pseudo_log_likelihood'] == pytest.approx(np.mean(score_samples), abs=0.01)
  assert results['sklearn']['pll_max_abs_difference'] < 0.2
  # The log-likelihood is sklearn's own free energy less the AIS log Z.
  mean_log_p = -np.mean(fitted._free_energy(test_v)) - results['sklearn']['log_z']
  assert results['sklearn']['test_log_likelihood'] == pytest.approx(mean_log_p, abs=1e-3)


def test_sklearn_sees_the_bits_the_step_draws(bench_run):
  module, args, _, _ = bench_run
  config = module.make_config(args)
  dataset = data.make_dataset(config.data)
  rows = {row.tobytes() for row in module.training_visibles(config, dataset).astype(np.float32)}
  _, sample_real = rbm_family.make_rbm_train_step(config, dataset, parallel_lib.make_data_parallel('single'))
  state = rbm_family.create_rbm_state(config, jax.random.key(config.seed), dataset)
  batch = rbm_family.to_visible(sample_real(state, jax.tree.map(jnp.asarray, dataset.host_arrays()))['x'][0])
  assert all(row.tobytes() in rows for row in np.asarray(batch, np.float32))


def test_json_holds_every_number(bench_run):
  _, _, results, written = bench_run
  assert written == json.loads(json.dumps(results))
  for name in ('sklearn', 'gan_jax'):
    assert set(MEASURES) <= set(written[name])
  assert {'test_score_samples', 'pll_max_abs_difference', 'pll_max_rel_difference'} <= set(written['sklearn'])
  assert 'compile_seconds' in written['gan_jax']
  assert written['train_seconds_ratio'] == pytest.approx(
      written['sklearn']['train_seconds'] / written['gan_jax']['train_seconds'])
  assert set(written['references']) == {'zero_rbm_pseudo_log_likelihood', 'base_rate_test_log_likelihood'}
  numbers = [v for r in (written['sklearn'], written['gan_jax'], written['references']) for v in r.values()]
  assert all(np.all(np.isfinite(v)) for v in numbers)
