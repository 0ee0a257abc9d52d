"""Greedy layer-wise training by phases and the deep belief net: the phase switch at its boundaries, only the
training layer (and its optimizer's state) moving, layer 1's update against CD written by hand on layer 0's up-pass,
the up- and down-passes against sigmoids composed by hand, the fine-tuned classifier's start, exact resume in the
middle of a phase, and the refused configs."""

import os

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data, families, parallel as parallel_lib
from gan_jax.config import ConfigError
from gan_jax.evaluation import probes
from gan_jax.families import dbn as dbn_family
from gan_jax.families import phases
from gan_jax.models import dbn as dbn_lib
from gan_jax.models import rbm as rbm_lib
from gan_jax.rng import noise_key
from gan_jax.train import PreemptedError, train_and_evaluate
from gan_jax.validation import validate
from tests.helpers import comparable, load_family_state, preempt_after, run_on, set_field
from tests.test_experiments import load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def smoke_config(data_dir, **dbn):
  config = load(os.path.join(ROOT, 'experiments', 'dbn_mnist.py')).get_config('smoke')
  config.data.data_dir = data_dir
  config.dbn.update(dbn)
  return config


def sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def as64(tree):
  return jax.tree.map(lambda a: np.asarray(a, np.float64), tree)


def assert_trees_equal(a, b):
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), a, b)


def test_phase_index_switches_at_each_boundary_and_the_last_phase_runs_on():
  schedule = (3, 2, 4)
  expected = [0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 2]
  index = jax.jit(lambda step: phases.phase_index(step, schedule))
  assert [int(index(step)) for step in range(12)] == expected
  assert int(phases.phase_index(10**6, schedule)) == 2
  assert phases.phase_starts(schedule) == (0, 3, 5)
  assert int(phases.phase_index(7, (5,))) == 0  # One phase: always phase 0.


@flax.struct.dataclass
class Counter:
  step: jax.Array


def test_phased_step_refuses_branches_of_different_structures():
  def a(state, real):
    return state, {'loss': real, 'a_norm': real}

  def b(state, real):
    return state, {'loss': real}

  step = phases.make_phased_step([a, b], (1, 1))
  with pytest.raises(ValueError, match=r"metrics only in phase 0: \['a_norm'\], only in phase 1: \[\]"):
    jax.jit(step)(Counter(jnp.zeros((), jnp.int32)), jnp.ones(()))
  with pytest.raises(ValueError, match='2 branches for 3 phases'):
    phases.make_phased_step([a, b], (1, 1, 1))


def test_only_the_training_layer_and_its_optimizer_state_move_and_layer_1_is_cd_on_layer_0s_up_pass(
    offline_data_dir):
  config = smoke_config(offline_data_dir, layer_steps=(2, 2), gibbs_steps=2)
  config.train.num_steps = 4
  opt = config.optim.rbm
  assert (opt.name, opt.momentum) == ('sgd', 0.9)  # Momentum: the optimizer has a state that could drift.
  dataset = data.make_dataset(config.data)
  family = families.get('dbn')
  state = family.create_state(config, jax.random.key(0), dataset)
  assert sorted(state.nets) == ['rbm_0', 'rbm_1']
  assert state.nets['rbm_0'].params['W'].shape == (784, 16) and state.nets['rbm_1'].params['W'].shape == (16, 8)
  train_step, sample_real = family.make_train_step(config, dataset, parallel_lib.make_data_parallel('single'))
  step = jax.jit(train_step)
  arrays = jax.tree.map(jnp.asarray, dataset.host_arrays())
  phases_seen = []
  for t in range(4):
    real = sample_real(state, arrays)
    before = state
    state, metrics = step(state, real)
    phase = int(metrics['phase'])
    phases_seen.append(phase)
    active, idle = (f'rbm_{phase}', f'rbm_{1 - phase}')
    # The idle layer is untouched, its momentum and update count included; the active one moved.
    assert_trees_equal(state.nets[idle], before.nets[idle])
    assert int(state.nets[active].count) == int(before.nets[active].count) + 1
    assert float(metrics['rbm_update_norm']) > 0
    np.testing.assert_allclose(float(metrics['rbm_param_norm']),
                               float(np.sqrt(sum(np.sum(as64(p)**2) for p in jax.tree.leaves(
                                   state.nets[active].params)))), rtol=1e-5)
    if t == 2:  # Layer 1's first update: CD-2 by hand on the up-pass of layer 0, its momentum trace still zero.
      p0, p1 = as64(before.nets['rbm_0'].params), as64(before.nets['rbm_1'].params)
      v = np.asarray(families.to_visible(real['x'][0]), np.float64)
      h0 = sigmoid(v @ p0['W'] + p0['c'])
      up = dbn_lib.up_pass([before.nets['rbm_0'].params], families.to_visible(real['x'][0]))[0]
      np.testing.assert_allclose(np.asarray(up), h0, atol=1e-6)
      chain = rbm_lib.gibbs_chain(before.nets['rbm_1'].params, up, noise_key(before.rng, before.step), 2)
      v_model = np.asarray(chain['v'], np.float64)
      w, b, c = p1['W'], p1['b'], p1['c']
      h_data, h_model = sigmoid(h0 @ w + c), sigmoid(v_model @ w + c)
      n = len(h0)
      grad = {'W': -(h0.T @ h_data - v_model.T @ h_model) / n + opt.weight_decay * w,
              'b': -(h0 - v_model).mean(0), 'c': -(h_data - h_model).mean(0)}
      for name in 'Wbc':
        np.testing.assert_allclose(np.asarray(state.nets['rbm_1'].params[name]),
                                   p1[name] - opt.learning_rate * grad[name], atol=2e-6)
      free = lambda x: -x @ b - np.logaddexp(0, x @ w + c).sum(-1)
      # A difference of two free energies of about -10 each: float32's rounding of each is about 1e-6.
      np.testing.assert_allclose(float(metrics['dbn_loss']), free(h0).mean() - free(v_model).mean(), atol=1e-5)
  assert phases_seen == [0, 0, 1, 1] and int(state.step) == 4
  assert set(metrics) == {'dbn_loss', 'dbn_reconstruction_error', 'rbm_grad_norm', 'rbm_update_norm',
                          'rbm_param_norm', 'phase'}


def test_up_and_down_passes_are_sigmoids_composed_by_hand():
  rng = np.random.default_rng(0)
  widths = (12, 7, 5, 3)
  stack = [{'W': rng.normal(size=(a, b)), 'b': rng.normal(size=a), 'c': rng.normal(size=b)}
           for a, b in zip(widths[:-1], widths[1:])]
  stack32 = [jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), p) for p in stack]
  v = rng.uniform(size=(4, 12))
  up = dbn_lib.up_pass(stack32, jnp.asarray(v, jnp.float32))
  h = v
  for layer, p in enumerate(stack):
    h = sigmoid(h @ p['W'] + p['c'])
    np.testing.assert_allclose(np.asarray(up[layer]), h, atol=1e-6)
  top = rng.uniform(size=(4, 5))
  down = sigmoid(sigmoid(top @ stack[1]['W'].T + stack[1]['b']) @ stack[0]['W'].T + stack[0]['b'])
  np.testing.assert_allclose(np.asarray(dbn_lib.down_pass(stack32[:2], jnp.asarray(top, jnp.float32))), down,
                             atol=1e-6)
  # Samples: the top RBM's chain from the up-pass of the start, then the down-pass of its visible probabilities.
  key = jax.random.key(3)
  v0 = jnp.asarray(rng.integers(0, 2, size=(4, 12)), jnp.float32)
  chain = rbm_lib.gibbs_chain(stack32[2], dbn_lib.up_pass(stack32[:2], v0)[-1], key, 4)
  np.testing.assert_allclose(np.asarray(dbn_lib.sample(stack32, v0, key, 4)),
                             np.asarray(dbn_lib.down_pass(stack32[:2], chain['v_probs'])), atol=1e-6)


def test_the_fine_tuned_classifier_starts_as_the_dbns_up_pass_and_learns():
  rng = np.random.default_rng(1)
  stack = [{'W': jnp.asarray(rng.normal(size=(6, 5)), jnp.float32), 'b': jnp.zeros(6), 'c': jnp.ones(5)},
           {'W': jnp.asarray(rng.normal(size=(5, 4)), jnp.float32), 'b': jnp.zeros(5), 'c': -jnp.ones(4)}]
  head = probes.glorot_layers(jax.random.key(0), (4, 2))[0]
  layers = dbn_family.classifier_layers(stack, head)
  x = jnp.asarray(rng.uniform(size=(200, 6)), jnp.float32)
  first = np.asarray(jax.nn.sigmoid(x @ layers[0]['W'] + layers[0]['c']))
  w, c = (np.asarray(stack[0][k], np.float64) for k in 'Wc')
  np.testing.assert_allclose(first, sigmoid(np.asarray(x, np.float64) @ w + c), atol=1e-6)
  top = dbn_lib.up_pass(stack, x)[-1]
  np.testing.assert_allclose(np.asarray(probes.mlp_logits(layers, x)), np.asarray(top @ head['W'] + head['c']),
                             atol=1e-5)
  # Trained on a rule of the inputs, it learns it; zero steps leave it as it was.
  labels = jnp.asarray((x[:, 0] > x[:, 1]).astype(np.int32))
  same = probes.fine_tune(layers, x, labels, jax.random.key(1), steps=0, batch_size=10, learning_rate=1e-2)
  assert_trees_equal(same, layers)
  before = probes.accuracy(layers, x, labels)
  tuned = probes.fine_tune(layers, x, labels, jax.random.key(1), steps=300, batch_size=50, learning_rate=3e-2)
  assert probes.accuracy(tuned, x, labels) > max(0.9, before + 0.2)


def test_resume_in_the_middle_of_a_layers_phase_matches_the_uninterrupted_run_bit_for_bit(tmp_path, monkeypatch,
                                                                                         offline_data_dir):
  config = smoke_config(offline_data_dir, layer_steps=(15, 15), finetune_steps=0)
  config.train.update(num_steps=30, steps_per_call=10, checkpoint_every_steps=10, eval_every_steps=30,
                      log_every_steps=10)
  config.eval.num_samples = 50
  with monkeypatch.context() as patch:
    preempt_after(patch, chunks=2)  # Step 20: five steps into layer 1's phase.
    with pytest.raises(PreemptedError, match='at step 20'):
      train_and_evaluate(config, str(tmp_path / 'split'))
  train_and_evaluate(config, str(tmp_path / 'split'))
  resumed = load_family_state(tmp_path / 'split', config)
  uninterrupted, _ = run_on(config, 'single', num_calls=3, steps_per_call=10)  # The loop's chunks, not stopped.
  assert int(resumed.step) == 30
  assert_trees_equal(comparable(resumed), comparable(uninterrupted))
  assert int(resumed.nets['rbm_0'].count) == 15 and int(resumed.nets['rbm_1'].count) == 15


@pytest.mark.parametrize('field, value, message', [
    ('dbn.hidden', (), r'config.dbn.hidden: got \(\); must be a non-empty tuple of positive integers'),
    ('dbn.hidden', (16, 0), r'config.dbn.hidden: got \(16, 0\)'),
    ('dbn.layer_steps', (40,), r'config.dbn.layer_steps: got \(40,\): 1 step counts for the 2 layers of '
                               r'dbn.hidden=\(16, 8\); give one per layer'),
    ('dbn.layer_steps', (30, 20), r'config.dbn.layer_steps: got \(30, 20\), 50 steps in all, more than '
                                  r'train.num_steps=40.*set train.num_steps >= 50'),
    ('dbn.layer_steps', (20, -1), 'config.dbn.layer_steps: got'),
    ('dbn.gibbs_steps', 0, 'config.dbn.gibbs_steps: got 0; CD-k needs k >= 1'),
    ('dbn.init_std', 0.0, 'config.dbn.init_std: got 0.0; must be a number > 0'),
    ('dbn.finetune_steps', -1, 'config.dbn.finetune_steps: got -1; must be an integer >= 0'),
    ('data.binarize', 'none', "config.data.binarize: got 'none': a deep belief net of Bernoulli RBMs models binary "
                              "pixels.*set data.binarize='sample'"),
    ('optim.rbm.momentum', 1.0, 'config.optim.rbm.momentum: got 1.0'),
])
def test_bad_dbn_config_is_refused_before_anything_runs(field, value, message, tmp_path):
  config = load(os.path.join(ROOT, 'experiments', 'dbn_mnist.py')).get_config('smoke')
  set_field(config, field, value)
  config.data.data_dir = str(tmp_path)
  with pytest.raises(ConfigError, match=message):
    validate(config, num_devices=1)
  assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_a_trained_dbns_top_features_and_fine_tuning_beat_their_baselines(tmp_path, offline_data_dir):
  config = load(os.path.join(ROOT, 'experiments', 'dbn_mnist.py')).get_config()
  config.data.data_dir = offline_data_dir
  config.dbn.hidden = (200, 200)
  config.dbn.layer_steps = (3000, 3000)
  config.dbn.sample_gibbs_steps = 100
  config.dbn.finetune_steps = 1000
  config.train.update(num_steps=6000, eval_every_steps=6000, checkpoint_every_steps=6000)
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  assert final['probe_accuracy'] > final['probe_accuracy_pixels']
  assert final['fine_tuned_accuracy'] > 0.9 and final['test_reconstruction_error'] < 0.1
  assert sorted(os.listdir(tmp_path / 'run' / 'plots')) == ['filters_0006000.png', 'samples_0006000.png']
