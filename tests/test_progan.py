"""Progressive GAN: the fade-in's two ends against the neighbouring stages' networks, equalised learning rate,
minibatch stddev and pixel norm against numpy, WGAN-GP + drift against a hand computation (the penalty's gradient
by forward mode), the state's structure across a phase change, the schedule's and the feature's bad inputs, then the
family end to end on the offline digits at 8x8: resumes in the middle of a fade-in and exactly at a phase boundary,
bit for bit; and on one style of emoji_styles: the emoji experiment's smoke variant through a phase change, its
classifier FD against a Frechet distance computed here from the classifier's features, on spread reference images."""

import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from gan_jax import checkpoint, families, objectives, train
from gan_jax.config import ConfigError
from gan_jax.data import make_dataset
from gan_jax.evaluation import domain_classifier, plots
from gan_jax.evaluation.evaluator import EVAL_SEED_TAG
from gan_jax.families import progan
from gan_jax.models import progan as models
from gan_jax.train import train_and_evaluate
from tests.helpers import comparable
from tests.test_experiments import load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class FakeDataset:
  shape = (8, 8, 1)


def tiny_config(**progan_fields):
  """The smoke variant on the offline digits at 8x8: widths 4, batch 8, 2 steps per phase (stable 4x4 [0, 2),
  fade-in 8x8 [2, 4), stable 8x8 [4, 6))."""
  config = load(os.path.join(ROOT, 'experiments', 'progan_fashion_mnist.py')).get_config('smoke')
  config.data.name = 'digits'
  config.progan.widths = (4, 4)
  config.progan.latent_dim = 8
  config.train.batch_size = 8
  config.progan.images_per_phase = 16
  config.train.num_steps = 6
  config.train.log_every_steps = 2
  config.train.eval_every_steps = 6
  config.train.checkpoint_every_steps = 2
  config.eval.num_samples = 16
  config.eval.grid_rows = 2
  config.progan.update(progan_fields)
  return config


@pytest.fixture(scope='module')
def grown():
  """The tiny config's three stages' states, each grown from the previous one: (stable 4x4, fade-in 8x8, stable
  8x8), the first with a moved optimizer state and moving average (as after some training), so that carrying them
  is visible."""
  config = tiny_config()
  stable4 = progan.create_progan_state(config, jax.random.key(0), FakeDataset())
  stable4 = stable4.replace_nets(**{name: net.replace(
      opt_state=jax.tree.map(lambda x: x + 1, net.opt_state), count=net.count + 1,
      ema_params=jax.tree.map(lambda x: x + 0.5, net.ema_params)) for name, net in stable4.nets.items()})
  fading = progan.next_stage(config, stable4, FakeDataset())
  return stable4, fading, progan.next_stage(config, fading, FakeDataset())


def params_of(state, name):
  return {jax.tree_util.keystr(p): np.asarray(x) for p, x in
          jax.tree_util.tree_leaves_with_path(state.nets[name].params)}


@jax.jit
def _apply(net, x, alpha):
  return net.apply(x, alpha=alpha)[0]


def apply(state, name, x, alpha=1.0):
  return np.asarray(_apply(state.nets[name], x, jnp.float32(alpha)))


# The fade-in.


def test_the_fade_in_is_the_previous_stage_at_alpha_0_and_the_next_stage_at_alpha_1(grown):
  config = tiny_config()
  stable4, fading, stable8 = grown
  assert [progan.stage_of(config, s) for s in (stable4, fading, stable8)] == list(progan.stages(config))
  z = jax.random.normal(jax.random.key(1), (8, 8))
  x = jax.random.uniform(jax.random.key(2), (8, 8, 8, 1), minval=-1, maxval=1)
  np.testing.assert_array_equal(apply(fading, 'g', z, 0.0), np.repeat(np.repeat(apply(stable4, 'g', z), 2, 1), 2, 2))
  np.testing.assert_array_equal(apply(fading, 'g', z, 1.0), apply(stable8, 'g', z))
  pooled = np.asarray(x).reshape(8, 4, 2, 4, 2, 1).mean(axis=(2, 4))
  np.testing.assert_allclose(apply(fading, 'd', x, 0.0), apply(stable4, 'd', pooled), rtol=1e-6, atol=1e-6)
  np.testing.assert_array_equal(apply(fading, 'd', x, 1.0), apply(stable8, 'd', x))
  # In between, the output is the blend of the two ends.
  blend = 0.7 * apply(fading, 'g', z, 0.0) + 0.3 * apply(fading, 'g', z, 1.0)
  np.testing.assert_allclose(apply(fading, 'g', z, 0.3), blend, rtol=1e-5, atol=1e-6)


def test_alpha_rises_linearly_over_the_fade_in_and_the_reals_fade_with_it():
  config = tiny_config(images_per_phase=32)  # 4 steps per phase.
  stable, fading, _ = progan.stages(config)
  assert (fading.start, fading.steps, fading.resolution, fading.fading) == (4, 4, 8, True)
  assert [float(progan.alpha(fading, s)) for s in range(4, 9)] == [0.0, 0.25, 0.5, 0.75, 1.0]
  assert float(progan.alpha(stable, 2)) == 1.0
  assert progan.stage_starts(config) == (4, 8)
  x = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 1)).astype(np.float32)
  low = np.repeat(np.repeat(x.reshape(2, 4, 2, 4, 2, 1).mean(axis=(2, 4)), 2, 1), 2, 2)
  np.testing.assert_allclose(progan.reals_at(jnp.asarray(x), fading, jnp.float32(0.25)), 0.75 * low + 0.25 * x,
                             rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(progan.reals_at(jnp.asarray(x), stable, 1.0), low[:, ::2, ::2], rtol=1e-6)


# The layers.


def test_equalised_layers_draw_unit_normal_weights_and_scale_them_by_hes_constant_at_run_time():
  x = np.random.default_rng(0).normal(size=(2, 5, 5, 32)).astype(np.float32)
  conv = models.EqualizedConv(48, 3)
  params = conv.init(jax.random.key(0), x)['params']
  kernel = np.asarray(params['kernel'], np.float64)
  assert kernel.shape == (3, 3, 32, 48) and abs(kernel.std() - 1.0) < 0.02 and abs(kernel.mean()) < 0.02
  bias = np.random.default_rng(1).normal(size=48)
  out = conv.apply({'params': {'kernel': params['kernel'], 'bias': bias}}, x)
  scaled = kernel * np.sqrt(2.0 / (3 * 3 * 32))
  padded = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
  expected = sum(np.einsum('bhwc,co->bhwo', padded[:, i:i + 5, j:j + 5], scaled[i, j])
                 for i in range(3) for j in range(3)) + bias
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
  dense = models.EqualizedDense(7, gain=1.0)
  v = np.random.default_rng(2).normal(size=(3, 50)).astype(np.float32)
  p = dense.init(jax.random.key(1), v)['params']
  np.testing.assert_allclose(dense.apply({'params': p}, v), v @ (np.asarray(p['kernel']) / np.sqrt(50)), rtol=1e-5,
                             atol=1e-5)
  # The point of it: a unit input keeps unit scale through the He-scaled layer, whatever the fan-in.
  wide = models.EqualizedDense(256)
  big = np.random.default_rng(3).normal(size=(512, 2048)).astype(np.float32)
  pw = wide.init(jax.random.key(2), big)['params']
  assert abs(float(np.mean(np.asarray(wide.apply({'params': pw}, big)) ** 2)) - 2.0) < 0.1


def test_pixel_norm_against_numpy():
  x = np.random.default_rng(0).normal(size=(2, 3, 3, 5)).astype(np.float32) * 3
  expected = x / np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=-1, keepdims=True) + 1e-8)
  np.testing.assert_allclose(models.pixel_norm(jnp.asarray(x)), expected, rtol=1e-5)


@pytest.mark.parametrize('batch, group', [(8, 4), (6, 2), (3, 4)])
def test_minibatch_stddev_against_numpy(batch, group):
  x = np.random.default_rng(batch).normal(size=(batch, 4, 4, 3)).astype(np.float32)
  out = np.asarray(models.minibatch_stddev(jnp.asarray(x), group))
  g = min(group, batch)
  m = batch // g
  expected = np.empty(batch)
  for i in range(batch):
    members = x[[i % m + k * m for k in range(g)]].astype(np.float64)  # The released code's strided groups.
    expected[i] = np.mean(np.sqrt(members.var(axis=0) + 1e-8))
  np.testing.assert_array_equal(out[..., :3], x)
  np.testing.assert_allclose(out[..., 3], np.broadcast_to(expected[:, None, None], (batch, 4, 4)), rtol=1e-5)


# The objective.


def test_wgan_gp_plus_drift_against_a_hand_computation(grown):
  config = tiny_config()
  state = grown[1]  # The fade-in: D at alpha 0.4.
  a = jnp.float32(0.4)
  keys = jax.random.split(jax.random.key(3), 3)
  x = jax.random.uniform(keys[0], (8, 8, 8, 1), minval=-1, maxval=1)
  fake = jax.random.uniform(keys[1], (8, 8, 8, 1), minval=-1, maxval=1)
  eps = jax.random.uniform(keys[2], (8,))
  objective = objectives.objective_from_config(config)
  value, (_, metrics) = jax.jit(lambda s: progan.discriminator_objective(
      s, {'x': x, 'eps': eps}, fake=fake, alpha=a, objective=objective))(state)
  d = state.nets['d']
  critic = jax.jit(lambda images: d.apply(images, alpha=a)[0])
  real_scores, fake_scores = np.asarray(critic(x), np.float64), np.asarray(critic(fake), np.float64)
  x_hat = eps[:, None, None, None] * x + (1 - eps[:, None, None, None]) * fake
  # Forward mode, one input pixel at a time: the gradient of the summed critic values (minibatch stddev mixes them).
  flat = x_hat.reshape(-1)
  tangents = jnp.eye(flat.size, dtype=flat.dtype)
  grads = jax.jit(jax.vmap(lambda t: jax.jvp(lambda f: critic(f.reshape(x_hat.shape)).sum(), (flat,), (t,))[1]))(
      tangents)
  norms = np.linalg.norm(np.asarray(grads, np.float64).reshape(8, -1), axis=1)
  wasserstein = fake_scores.mean() - real_scores.mean()
  penalty = np.mean((norms - 1) ** 2)
  drift = np.mean(real_scores ** 2)
  np.testing.assert_allclose(float(metrics['d_term_adversarial']), wasserstein, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(float(metrics['d_term_gradient_penalty']), penalty, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(float(metrics['d_term_drift']), drift, rtol=1e-4)
  np.testing.assert_allclose(float(value), wasserstein + 10 * penalty + 1e-3 * drift, rtol=1e-4, atol=1e-5)


# The state across a phase change.


@pytest.mark.parametrize('reset', [True, False])
def test_a_phase_change_adds_the_new_blocks_carries_the_old_ones_and_drops_the_faded_path(reset, grown):
  config = tiny_config(reset_optimizer=reset)
  stable4 = grown[0]
  fading, stable8 = grown[1:] if reset else (progan.next_stage(config, stable4, FakeDataset()), None)
  stable8 = stable8 or progan.next_stage(config, fading, FakeDataset())
  new_g = {"['block_8_conv0']", "['block_8_conv1']", "['to_rgb_8']"}
  new_d = {"['block_8_conv0']", "['block_8_conv1']", "['from_rgb_8']"}
  for name, added, faded in (('g', new_g, "['to_rgb_4']"), ('d', new_d, "['from_rgb_4']")):
    before, during, after = (params_of(s, name) for s in (stable4, fading, stable8))
    prefixes = lambda p: {k.split(']')[0] + ']' for k in p}
    assert prefixes(during) - prefixes(before) == added and prefixes(before) <= prefixes(during)
    assert prefixes(after) == prefixes(during) - {faded}
    for path, value in before.items():
      np.testing.assert_array_equal(during[path], value)  # Carried unchanged.
      if not path.startswith(faded):
        np.testing.assert_array_equal(after[path], value)
    old, net = stable4.nets[name], fading.nets[name]
    assert int(net.count) == int(old.count) == 1
    adam, old_adam = net.opt_state[0], old.opt_state[0]
    if reset:  # Both moments zero, the step count 0: Adam from scratch.
      assert int(adam.count) == 0
      assert not any(np.any(np.asarray(m)) for m in jax.tree.leaves((adam.mu, adam.nu)))
    else:  # The carried parameters' moments and the count carried (all ones here), the new parameters' zero.
      assert int(adam.count) == int(old_adam.count) == 1
      for moments, old_moments in ((adam.mu, old_adam.mu), (adam.nu, old_adam.nu)):
        flat = {jax.tree_util.keystr(p): np.asarray(x) for p, x in jax.tree_util.tree_leaves_with_path(moments)}
        old_flat = {jax.tree_util.keystr(p): x for p, x in jax.tree_util.tree_leaves_with_path(old_moments)}
        for path, value in flat.items():
          if path in old_flat:
            np.testing.assert_array_equal(value, old_flat[path])
          else:
            assert not np.any(value) and prefixes({path}) <= added
  ema_before, ema_during = ({jax.tree_util.keystr(p): x for p, x in
                             jax.tree_util.tree_leaves_with_path(s.nets['g'].ema_params)} for s in (stable4, fading))
  for path, value in ema_before.items():
    np.testing.assert_array_equal(ema_during[path], value)
  g_during = params_of(fading, 'g')
  for path in set(ema_during) - set(ema_before):  # New blocks' average starts at their initial weights.
    np.testing.assert_array_equal(ema_during[path], g_during[path])


# Bad input.


BAD = [
    ('progan.resolutions', (8, 16, 32), r'config.progan.resolutions: got \(8, 16, 32\); must start at 4'),
    ('progan.resolutions', (4, 8, 24, 32), r'config.progan.resolutions: got \(4, 8, 24, 32\); each resolution must '
     r'double the previous one \(8 is followed by 24, not 16\)'),
    ('progan.resolutions', (4, 8, 16), r'config.progan.resolutions: got \(4, 8, 16\); its last resolution 16 differs '
     'from data.resolution=32'),
    ('progan.widths', (8, 8), r'config.progan.widths: got \(8, 8\); give one integer >= 1 per resolution'),
    ('progan.images_per_phase', 100, 'config.progan.images_per_phase: got 100; must be a multiple of '
     'train.batch_size=32'),
    ('progan.mbstd_group_size', 5, 'config.progan.mbstd_group_size: got 5; train.batch_size=32 must be divisible'),
    ('loss.d.r1', 1.0, "config.loss.d.r1: got 1.0; Progressive GAN's D is trained on the terms adversarial, "
     'gradient_penalty, drift'),
    ('progan.feature', 'noto', "config.progan.feature: got 'noto'; it picks one image of a paired dataset, and "
     "data.name='fashion_mnist' has one: use ''"),
]


@pytest.mark.parametrize('field, value, message', BAD, ids=[f'{b[0]}={b[1]}' for b in BAD])
def test_bad_progan_config_is_refused_naming_the_field_before_anything_is_written(field, value, message, tmp_path):
  config = load(os.path.join(ROOT, 'experiments', 'progan_fashion_mnist.py')).get_config()
  config.data.data_dir = str(tmp_path / 'data')  # Nothing there: the schedule is refused before the disk is read.
  section, name = field.rsplit('.', 1)
  config[section][name] = value
  workdir = tmp_path / 'run'
  with pytest.raises(ConfigError, match=message):
    train_and_evaluate(config, str(workdir))
  assert not workdir.exists()


@pytest.mark.parametrize('feature', ['photo', ''])
def test_a_feature_the_paired_dataset_lacks_is_refused_naming_the_accepted_ones(feature, tmp_path):
  config = load(os.path.join(ROOT, 'experiments', 'progan_emoji.py')).get_config()
  config.data.data_dir = str(tmp_path / 'data')  # Nothing there: refused before the disk is read.
  config.progan.feature = feature
  with pytest.raises(ConfigError, match=f"config.progan.feature: got '{feature}'; accepted values: openmoji, noto"):
    train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


# End to end.


def saved_state(workdir, config):
  """The latest checkpoint of a progan run, restored into the structure of its step."""
  family = families.get(config.model)
  dataset = make_dataset(config.data)
  initial = family.create_state(config, jax.random.key(config.seed), dataset)
  manager = checkpoint.make_manager(os.path.join(workdir, 'checkpoints'))
  return checkpoint.restore_latest(manager, lambda step: families.state_at(family, config, initial, step, dataset))


class _Single:
  """`parallel.DataParallel`'s sharding of a batch, on one device."""

  @staticmethod
  def local_share(x, axis=0):
    del axis
    return x


def test_a_checkpoint_in_a_fade_in_restores_into_its_stage_and_trains_on_bit_for_bit(grown, tmp_path):
  config = tiny_config()
  family = families.get('progan')
  step_fn = jax.jit(progan.make_progan_train_step(config, None, _Single())[0])
  reals = [{'x': jax.random.uniform(jax.random.key(s), (1, 8, 8, 8, 1), minval=-1, maxval=1)} for s in (2, 3)]
  start = grown[1].replace(step=jnp.int32(2))  # The fade-in's first step.
  whole = step_fn(step_fn(start, reals[0])[0], reals[1])[0]
  halfway = step_fn(start, reals[0])[0]
  manager = checkpoint.make_manager(str(tmp_path / 'checkpoints'))
  checkpoint.save(manager, halfway)
  initial = progan.create_progan_state(config, jax.random.key(config.seed), FakeDataset())
  restored = checkpoint.restore_latest(manager, lambda s: families.state_at(family, config, initial, s,
                                                                            FakeDataset()))
  assert int(restored.step) == 3 and progan.stage_of(config, restored) == progan.stages(config)[1]
  resumed = step_fn(restored, reals[1])[0]
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), comparable(whole),
               comparable(resumed))
  # A checkpoint at a stage's first step holds the previous stage (the loop grows it before training the step).
  assert progan.stage_of(config, families.state_at(family, config, initial, 4, FakeDataset())).fading
  assert progan.stage_of(config, families.state_at(family, config, initial, 5, FakeDataset())).resolution == 8
  # The loop's chunks end at every stage start.
  config.train.steps_per_call = config.train.log_every_steps = 100
  assert [train.next_boundary(s, config, progan.stage_starts(config)) for s in (0, 2, 3)] == [2, 4, 4]


def test_the_sample_command_restores_a_fade_in_checkpoint_into_its_stage_and_draws_from_it(grown, tmp_path):
  from gan_jax import sample
  config = tiny_config()
  saved = grown[1].replace(step=jnp.int32(3))  # Inside the 8x8 fade-in, alpha 0.5.
  checkpoint.save(checkpoint.make_manager(str(tmp_path / 'checkpoints')), saved)
  state, _ = sample.restore_run(config, str(tmp_path))
  assert int(state.step) == 3 and progan.stage_of(config, state) == progan.stages(config)[1]
  key = jax.random.fold_in(jax.random.key(config.seed), EVAL_SEED_TAG)
  expected = progan.generate(config, saved, jax.random.normal(key, (4, config.progan.latent_dim)))
  assert expected.shape == (4, 8, 8, 1)
  np.testing.assert_array_equal(sample.draw_grid(state, config, 2, []), plots.image_grid(expected, 2))
  with pytest.raises(ValueError, match='only config.model=gan runs draw by label'):
    sample.draw_grid(state, config, 2, ['1'])


@pytest.fixture
def compile_cache(tmp_path):
  """A persistent compilation cache for a test's runs: a resumed run compiles the programs the first run compiled
  (each stage's step, the evaluation), and reads them back instead (4 s instead of 30 s here)."""
  from jax.experimental.compilation_cache import compilation_cache
  fields = ('jax_compilation_cache_dir', 'jax_persistent_cache_min_compile_time_secs',
            'jax_persistent_cache_min_entry_size_bytes')
  saved = {field: getattr(jax.config, field) for field in fields}
  compilation_cache.reset_cache()
  for field, value in zip(fields, (str(tmp_path / 'jax_cache'), 0, -1)):
    jax.config.update(field, value)
  yield
  for field, value in saved.items():
    jax.config.update(field, value)
  compilation_cache.reset_cache()


@pytest.mark.slow
def test_resumes_in_a_fade_in_and_at_a_phase_boundary_are_bit_for_bit_the_uninterrupted_run(tmp_path,
                                                                                           compile_cache):
  config = tiny_config()
  whole = train_and_evaluate(config, str(tmp_path / 'whole'))
  assert whole['step'] == 6 and whole['resolution'] == 8 and np.isfinite(whole['classifier_fd'])
  expected = saved_state(tmp_path / 'whole', config)
  assert progan.stage_of(config, expected) == progan.stages(config)[-1]
  for stop in (3, 4):  # In the middle of the fade-in [2, 4); at the first step of the last stage.
    part = config.copy_and_resolve_references()
    part.train.num_steps = stop
    train_and_evaluate(part, str(tmp_path / f'stop{stop}'))
    stopped = saved_state(tmp_path / f'stop{stop}', config)
    assert int(stopped.step) == stop and progan.stage_of(config, stopped).fading  # Saved before the change at 4.
    train_and_evaluate(config, str(tmp_path / f'stop{stop}'))
    resumed = saved_state(tmp_path / f'stop{stop}', config)
    jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), comparable(expected),
                 comparable(resumed))


def test_the_sweeps_phase_table_reads_each_evaluation_from_the_summaries_as_the_training_loop_writes_them(tmp_path):
  from clu import metric_writers
  sweeps = load(os.path.join(ROOT, 'benchmarks', 'sweeps.py'))
  evaluations = {2: {'classifier_fd': 30.25, 'classifier_kid': 4.5, 'real_fd_at_resolution': 9.0, 'stage_seconds': 10},
                 4: {'classifier_fd': 20.0, 'classifier_kid': 3.0, 'real_fd_at_resolution': 2.0, 'stage_seconds': 30}}
  for run, shift in (('grown', 0.0), ('grown_again', 2.0), ('fixed', 5.0)):
    writer = metric_writers.SummaryWriter(str(tmp_path / run))  # The training loop's writer and tags (train.py).
    for step, metrics in evaluations.items():
      writer.write_scalars(step, {f'eval/{k}': v + shift for k, v in metrics.items()})
      writer.write_scalars(step, {'d_loss': 1.0})  # Not an evaluation.
    writer.close()
  history = sweeps.eval_history(str(tmp_path / 'grown'))
  assert history == {step: {k: float(v) for k, v in metrics.items()} for step, metrics in evaluations.items()}
  histories = {'progressive': [history, sweeps.eval_history(str(tmp_path / 'grown_again'))],
               'fixed': [sweeps.eval_history(str(tmp_path / 'fixed'))]}
  rows = sweeps.progan_table('tiny', {2: '4×4 stable', 4: '8×8 fade-in', 6: '8×8 stable'}, 8, histories)
  assert len(rows) == 5  # Title, header, rule and the two evaluated phases (none at step 6).
  # Progressive FD over the two runs: 30.25 and 32.25, mean 31.25, sample standard deviation sqrt(2) = 1.41.
  assert rows[3] == '| 4×4 stable | 16 | 31.2 ± 1.4 | 5.50 ± 1.41 | 35.2 | 9.50 | 10.0 ± 1.4 | 11 ± 1 | 15 |'
  assert rows[4].startswith('| 8×8 fade-in | 32 | 21.0 ± 1.4 | ')


# One style of emoji_styles.


def frechet_distance(a, b):
  """The Frechet distance of Gaussians fitted to feature sets a and b, in numpy and scipy alone."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  mu_a, mu_b, cov_a, cov_b = a.mean(0), b.mean(0), np.cov(a.T), np.cov(b.T)
  # ReLU features that are 0 on every sample of a barely trained G make the product singular: pytorch-fid's 1e-6.
  offset = 1e-6 * np.eye(len(mu_a))
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', scipy.linalg.LinAlgWarning)
    root = scipy.linalg.sqrtm((cov_a + offset) @ (cov_b + offset)).real
  return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def test_spread_reference_images_are_disjoint_and_cover_the_split():
  real, other = domain_classifier.spread_indices(1217, 600)
  assert len(set(real)) == len(set(other)) == 600 and not set(real) & set(other)
  assert real[0] == 0 and other[-1] == 1216 and np.all(np.diff(real) >= 2) and np.all(np.diff(other) >= 2)
  with pytest.raises(ValueError, match='need 1 <= num <= 608'):
    domain_classifier.spread_indices(1217, 609)


@pytest.mark.slow  # 26 s; the fade-in checkpoint test keeps a growing run in CI, the emoji FD path is lapgan's.
def test_emoji_smoke_run_grows_and_scores_with_the_emoji_classifier_on_spread_real_images(tmp_path, image_sets_dir):
  config = load(os.path.join(ROOT, 'experiments', 'progan_emoji.py')).get_config('smoke')
  config.data.data_dir = image_sets_dir('emoji_styles')
  config.train.num_steps = config.train.eval_every_steps = 10  # The stable 4x4 stage and the 8x8 fade-in.
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  assert final['step'] == 10 and final['resolution'] == 8 and final['alpha'] == 1.0
  for key in ('classifier_fd', 'classifier_kid', 'real_fd_at_resolution'):
    assert np.isfinite(final[key]), key
  assert 'classifier_is' not in final  # Style x subject classes: no Inception Score.
  # The same FD from the classifier's features, computed here, on the training emoji spread over the split.
  state = saved_state(tmp_path / 'run', config)
  num = config.eval.num_samples
  z = jax.random.normal(jax.random.fold_in(jax.random.key(config.seed), EVAL_SEED_TAG),
                        (num, config.progan.latent_dim))
  classifier = domain_classifier.shipped_classifier('emoji_styles')
  fake = classifier.features(progan.generate(config, state, z))
  noto = make_dataset(config.data).host_arrays()['noto'].astype(np.float64) / 127.5 - 1.0
  spread = np.linspace(0, len(noto) - 1, 2 * num).round().astype(int)
  real, other = (classifier.features(noto[spread[i::2]].astype(np.float32)) for i in (0, 1))
  np.testing.assert_allclose(final['classifier_fd'], frechet_distance(real, fake), rtol=1e-4)
  np.testing.assert_allclose(final['real_fd_at_resolution'], frechet_distance(real, other), rtol=1e-4)
  # Against the split's first emoji (all faces: the split is in code-point order), the distance is another one.
  first = classifier.features(noto[:num].astype(np.float32))
  assert abs(frechet_distance(first, fake) - final['classifier_fd']) > 0.01 * final['classifier_fd']


@pytest.mark.slow  # 20 s: three compiles of the step, for a benchmark script.
def test_the_stage_benchmark_compiles_each_stage_in_its_middle_and_counts_more_work_as_it_grows(monkeypatch):
  with monkeypatch.context() as patch:
    patch.syspath_prepend(os.path.join(ROOT, 'benchmarks'))  # For its `import common`, as the script finds it.
    benchmark = load(os.path.join(ROOT, 'benchmarks', 'progan_stages.py'))
  config = tiny_config()  # 4x4 stable, 8x8 fade-in, 8x8 stable; 2 steps each.
  steps, real = benchmark.stage_steps(config, channels=1)
  assert [label for label, *_ in steps] == ['4×4 stable', '8×8 fade-in', '8×8 stable']
  assert real['x'].shape == (1, config.train.batch_size, 8, 8, 1)
  alphas = []
  for label, compiled, state, gflop in steps:
    assert int(state.step) in (1, 3, 5) and gflop > 0
    alphas.append(float(compiled(state, real)[1]['alpha']))
  assert 0 < alphas[1] < 1 and alphas[0] == alphas[2] == 1.0  # The fade-in is timed half way, not at an end.
  gflops = [gflop for *_, gflop in steps]
  assert gflops[1] > 2 * gflops[0] and gflops[2] < gflops[1]  # Growing adds work; the fade-in's old path goes.
