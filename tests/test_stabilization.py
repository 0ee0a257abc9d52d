"""The stabilisation techniques as pure functions and inside the step: feature matching, historical averaging,
experience replay, snapshot swaps, and their state across a device mesh and checkpoints."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data, history, losses, noise, objectives, parallel as parallel_lib, steps
from gan_jax.objectives import GANObjective
from gan_jax.state import create_state
from gan_jax.train import make_multi_step_fn, train_and_evaluate
from tests.helpers import g_loss, tiny_config, tiny_state_and_batch


def test_feature_matching_loss_by_hand():
  real = jnp.array([[1.0, 2.0], [3.0, 4.0]])
  fake = jnp.array([[0.0, 0.0], [1.0, 1.0]])
  # Means (2, 3) and (0.5, 0.5): 1.5^2 + 2.5^2.
  np.testing.assert_allclose(losses.feature_matching_loss(real, fake), 1.5**2 + 2.5**2)


def test_feature_matching_generator_matches_the_chosen_hidden_layer():
  config = tiny_config(steps=0)
  config.disc.hidden = (16, 8)
  config.loss.g.adversarial, config.loss.g.feature_matching = 0.0, 1.0
  config.loss.feature_layer = 0
  state, batch = tiny_state_and_batch(config)
  g = state.nets['g']
  value = g_loss(g.params, state, batch, objectives.objective_from_config(config))
  fake = g.module.apply({'params': g.params}, batch['z'])
  p = state.nets['d'].params
  first_layer = lambda x: jax.nn.relu(0.25 * x @ p['Dense_0']['kernel'] + p['Dense_0']['bias'])
  expected = jnp.sum((first_layer(batch['x']).mean(0) - first_layer(fake).mean(0)) ** 2)
  np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_running_average_is_the_mean_of_all_values():
  values = [jnp.array([1.0, -2.0]), jnp.array([3.0, 0.0]), jnp.array([-1.0, 5.0]), jnp.array([0.5, 0.5])]
  average = values[0]
  for count, value in enumerate(values[1:], start=1):
    average = history.update_average(average, value, jnp.array(count))
  np.testing.assert_allclose(average, np.mean(values, axis=0), rtol=1e-6)
  params = {'w': jnp.array([1.0, 2.0]), 'b': jnp.array(3.0)}
  average = {'w': jnp.array([0.0, 0.0]), 'b': jnp.array(1.0)}
  np.testing.assert_allclose(history.averaging_penalty(params, average), 1 + 4 + 4)
  # The average is a constant of the penalty: its gradient is 2 (theta - average) in theta alone.
  grads = jax.grad(history.averaging_penalty)(params, average)
  np.testing.assert_allclose(grads['w'], [2.0, 4.0])


def test_historical_averaging_in_the_train_step():
  config = tiny_config(steps=0)
  config.loss.d.historical_averaging = config.loss.g.historical_averaging = 0.1
  state, batch = tiny_state_and_batch(config)
  step = jax.jit(steps.make_train_step(config, lambda key: noise.sample_noise(key, 32, state.noise)))
  params = {name: [state.nets[name].params] for name in ('g', 'd')}
  for _ in range(3):
    state, _ = step(state, {'x': batch['x'][None]})
    for name in params:
      params[name].append(state.nets[name].params)
  # One update of each network per step (n_critic = 1): each average is the mean of its initial and 3 updated
  # parameters.
  for name in ('g', 'd'):
    expected = jax.tree.map(lambda *p: np.mean(p, axis=0), *params[name])
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), state.nets[name].average,
                 expected)
  # The penalty enters G's loss (away from the average, where it is large enough to compare in float32).
  shifted = jax.tree.map(lambda p: p + 0.1, state.nets['g'].params)
  plain = g_loss(shifted, state, batch, GANObjective(loss='minimax'))
  penalised = g_loss(shifted, state, batch, objectives.objective_from_config(config))
  np.testing.assert_allclose(penalised - plain, 0.1 * history.averaging_penalty(shifted, state.nets['g'].average),
                             rtol=1e-4)


def test_replay_buffer_is_a_ring_of_the_newest_samples():
  buffer = history.init_buffer(5, (1,), with_labels=True)
  written = []
  for start in (0, 3, 6):
    batch = jnp.arange(start, start + 3, dtype=jnp.float32)[:, None]
    buffer = history.insert(buffer, batch, jnp.arange(start, start + 3))
    written.extend(range(start, start + 3))
  assert int(buffer['count']) == 9
  # A list model of the ring: position i holds the last value written at i.
  expected = [None] * 5
  for n, value in enumerate(written):
    expected[n % 5] = value
  np.testing.assert_array_equal(buffer['samples'][:, 0], expected)
  np.testing.assert_array_equal(buffer['labels'], expected)
  big = history.insert(history.init_buffer(2, (1,)), jnp.arange(5.0)[:, None])
  assert sorted(np.asarray(big['samples'][:, 0]).tolist()) == [3.0, 4.0]


def test_replay_mixes_the_asked_fraction_and_nothing_while_empty():
  fresh = -jnp.ones((8, 1))
  empty = history.init_buffer(4, (1,))
  mixed, _ = history.mix(empty, jax.random.key(0), fresh, 0.5)
  np.testing.assert_array_equal(mixed, fresh)
  buffer = history.insert(empty, jnp.arange(1.0, 4.0)[:, None])  # 3 of 4 slots filled.
  mixed, _ = history.mix(buffer, jax.random.key(0), fresh, 0.5)
  assert np.all(np.isin(mixed[:4, 0], [1.0, 2.0, 3.0])) and np.all(mixed[4:] == -1)


def test_d_step_with_replay_trains_on_replayed_fakes_and_stores_the_new_ones():
  config = tiny_config(steps=0)
  config.replay.fraction = 0.25
  config.replay.capacity = 64
  state, batch = tiny_state_and_batch(config)
  objective = GANObjective(loss='minimax')
  first, _ = steps.d_step(state, batch, objective=objective, replay_fraction=0.25)
  fake = state.nets['g'].module.apply({'params': state.nets['g'].params}, batch['z'])
  assert int(first.extras['replay']['count']) == 32
  np.testing.assert_allclose(first.extras['replay']['samples'][:32], fake, rtol=1e-6)
  # Second step: D's fakes are 8 draws from the buffer and 24 fresh ones; check its loss on exactly those.
  second, metrics = steps.d_step(first, batch, objective=objective, replay_fraction=0.25)
  key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(first.rng, 0), 1), 32)
  replayed = first.extras['replay']['samples'][jax.random.randint(key, (8,), 0, 32)]
  fakes = jnp.concatenate([replayed, fake[8:]])
  d = lambda x: first.nets['d'].module.apply({'params': first.nets['d'].params}, x)['logits']
  expected = losses.discriminator_loss(d(batch['x']), d(fakes))
  np.testing.assert_allclose(metrics['d_loss'], expected, rtol=1e-5)
  assert int(second.extras['replay']['count']) == 64


def test_snapshot_swap_trains_d_against_the_older_generator():
  config = tiny_config(steps=0)
  config.replay.swap_every = 3
  config.replay.swap_steps = 1
  state, batch = tiny_state_and_batch(config)
  step = jax.jit(steps.make_train_step(config, lambda key: noise.sample_noise(key, 32, state.noise)))
  states = [state]
  for _ in range(4):
    states.append(step(states[-1], {'x': batch['x'][None]})[0])
  params = lambda state, name: state.nets[name].params
  # Snapshots refresh after step swap_steps - 1 = 0 of each period: the copy is the state after step 0.
  jax.tree.map(np.testing.assert_array_equal, states[1].extras['snapshots']['g']['params'], params(states[1], 'g'))
  jax.tree.map(np.testing.assert_array_equal, states[3].extras['snapshots']['g']['params'], params(states[1], 'g'))
  # Step 3 is in a swap window: D's update equals a D step against G from after step 0, G's a G step against D
  # from then.
  before = states[3]
  z = noise.sample_noise(jax.random.split(jax.random.fold_in(jax.random.fold_in(before.rng, 3), 1), 2)[0], 32,
                         before.noise)
  d_batch = {**z, 'x': batch['x']}
  objective = GANObjective(loss='minimax')
  against_old_g = before.with_params({'g': params(states[1], 'g')})
  expected_d = params(steps.d_step(against_old_g, d_batch, objective=objective)[0], 'd')
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), params(states[4], 'd'),
               expected_d)
  against_old_d = before.with_params({'d': params(states[1], 'd')})
  expected_g = params(steps.g_step(against_old_d, d_batch, objective=objective)[0], 'g')
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), params(states[4], 'g'),
               expected_g)


def run_parallel(config, mode, calls=2):
  parallel = parallel_lib.make_data_parallel(mode)
  dataset = data.make_dataset(config.data)
  state = create_state(config, jax.random.key(0), dataset.shape)
  compiled = make_multi_step_fn(config, dataset, parallel)
  device_state, arrays = parallel.put(state), parallel.put(dataset.host_arrays())
  for _ in range(calls):
    device_state, _ = compiled(2)(device_state, arrays)
  if mode == 'mesh':  # Every device must hold the same state, replay buffer included: replicated over the mesh.
    for leaf in jax.tree.leaves((device_state.nets, device_state.extras)):
      assert leaf.sharding.is_fully_replicated and len(leaf.sharding.device_set) == jax.device_count()
      shards = [np.asarray(shard.data) for shard in leaf.addressable_shards]
      for shard in shards[1:]:
        np.testing.assert_array_equal(shard, shards[0])
  return jax.device_get(parallel.get(device_state))


def assert_close_states(a, b):
  for name in ('g', 'd'):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=2e-4, atol=2e-6), a.nets[name].params,
                 b.nets[name].params)


@pytest.mark.slow  # Four compiles; test_parallel's minibatch discrimination on a mesh stays in CI.
def test_minibatch_discrimination_and_replay_on_a_mesh_match_one_device():
  config = tiny_config(steps=0)
  config.disc.minibatch_kernels = 4
  config.disc.minibatch_kernel_dim = 3
  single, meshed = run_parallel(config, 'single'), run_parallel(config, 'mesh')
  assert_close_states(meshed, single)
  config.replay.fraction = 0.5
  config.replay.capacity = 48
  # Under a mesh the replayed draws are the global batch's, as on one device: the states match with replay too.
  single, meshed = run_parallel(config, 'single', calls=1), run_parallel(config, 'mesh', calls=1)
  assert int(meshed.extras['replay']['count']) == 2 * 32  # The global batch of every step went into the buffer.
  np.testing.assert_allclose(meshed.extras['replay']['samples'], single.extras['replay']['samples'], rtol=2e-4,
                             atol=2e-6)
  assert_close_states(meshed, single)


def test_techniques_resume_bit_for_bit(tmp_path):
  # Checkpoints carry the replay buffer, the historical averages and the snapshots.
  def config_of(num_steps):
    config = tiny_config(steps=0)
    config.train.num_steps = num_steps
    config.train.steps_per_call = 5
    config.train.log_every_steps = config.train.eval_every_steps = config.train.checkpoint_every_steps = 10
    config.eval.num_samples = 200
    config.replay.fraction = 0.5
    config.replay.capacity = 100
    config.replay.swap_every = 4
    config.replay.swap_steps = 1
    config.loss.d.historical_averaging = config.loss.g.historical_averaging = 0.01
    config.disc.minibatch_kernels = 4
    return config

  train_and_evaluate(config_of(20), str(tmp_path / 'whole'))
  train_and_evaluate(config_of(10), str(tmp_path / 'split'))
  train_and_evaluate(config_of(20), str(tmp_path / 'split'))
  from gan_jax import checkpoint
  restored = {}
  for run in ('whole', 'split'):
    template = create_state(config_of(20), jax.random.key(0), (2,))
    manager = checkpoint.make_manager(str(tmp_path / run / 'checkpoints'), 3)
    restored[run] = checkpoint.restore_latest(manager, template)
  assert int(restored['whole'].step) == 20
  split, whole = restored['split'], restored['whole']
  for name in ('g', 'd'):
    for field in ('params', 'average'):
      jax.tree.map(np.testing.assert_array_equal, getattr(split.nets[name], field), getattr(whole.nets[name], field))
  for name in ('replay', 'snapshots'):
    jax.tree.map(np.testing.assert_array_equal, split.extras[name], whole.extras[name])
  assert int(whole.extras['replay']['count']) > 0
