"""The stabilisation techniques as pure functions and inside the step: feature matching, historical averaging,
experience replay, snapshot swaps, and their state across pmap and checkpoints."""

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import data, history, losses, noise, parallel as parallel_lib, steps
from gan_jax.state import create_state
from gan_jax.train import make_multi_step_fn, train_and_evaluate
from tests.helpers import tiny_config, tiny_state_and_batch


def test_feature_matching_loss_by_hand():
  real = jnp.array([[1.0, 2.0], [3.0, 4.0]])
  fake = jnp.array([[0.0, 0.0], [1.0, 1.0]])
  # Means (2, 3) and (0.5, 0.5): 1.5^2 + 2.5^2.
  np.testing.assert_allclose(losses.feature_matching_loss(real, fake), 1.5**2 + 2.5**2)


def test_feature_matching_generator_matches_the_chosen_hidden_layer():
  config = tiny_config(steps=0)
  config.disc.hidden = (16, 8)
  config.loss.g_objective = 'feature_matching'
  config.loss.feature_layer = 0
  state, batch = tiny_state_and_batch(config)
  value, _ = steps.generator_loss(state.g_params, state, batch, loss=losses.loss_from_config(config))
  fake = state.generator.apply({'params': state.g_params}, batch['z'])
  p = state.d_params
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
  config.loss.historical_averaging = 0.1
  state, batch = tiny_state_and_batch(config)
  step = jax.jit(steps.make_train_step(config, lambda key: noise.sample_noise(key, 32, state.noise_spec)))
  params = [state.g_params]
  for _ in range(3):
    state, _ = step(state, {'x': batch['x'][None]})
    params.append(state.g_params)
  expected = jax.tree.map(lambda *p: np.mean(p, axis=0), *params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), state.g_average, expected)
  # The penalty enters G's loss (away from the average, where it is large enough to compare in float32).
  shifted = jax.tree.map(lambda p: p + 0.1, state.g_params)
  plain = steps.generator_loss(shifted, state, batch, loss=losses.make_loss('minimax'))[0]
  penalised = steps.generator_loss(shifted, state, batch, loss=losses.loss_from_config(config))[0]
  np.testing.assert_allclose(penalised - plain, 0.1 * history.averaging_penalty(shifted, state.g_average),
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
  loss = losses.make_loss('minimax')
  first, _ = steps.d_step(state, batch, loss=loss, replay_fraction=0.25)
  fake = state.generator.apply({'params': state.g_params}, batch['z'])
  assert int(first.replay['count']) == 32
  np.testing.assert_allclose(first.replay['samples'][:32], fake, rtol=1e-6)
  # Second step: D's fakes are 8 draws from the buffer and 24 fresh ones; check its loss on exactly those.
  second, metrics = steps.d_step(first, batch, loss=loss, replay_fraction=0.25)
  key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(first.rng, 0), 1), 32)
  replayed = first.replay['samples'][jax.random.randint(key, (8,), 0, 32)]
  fakes = jnp.concatenate([replayed, fake[8:]])
  d = lambda x: first.discriminator.apply({'params': first.d_params}, x)['logits']
  expected = losses.discriminator_loss(d(batch['x']), d(fakes))
  np.testing.assert_allclose(metrics['d_loss'], expected, rtol=1e-5)
  assert int(second.replay['count']) == 64


def test_snapshot_swap_trains_d_against_the_older_generator():
  config = tiny_config(steps=0)
  config.replay.swap_every = 3
  config.replay.swap_steps = 1
  state, batch = tiny_state_and_batch(config)
  step = jax.jit(steps.make_train_step(config, lambda key: noise.sample_noise(key, 32, state.noise_spec)))
  states = [state]
  for _ in range(4):
    states.append(step(states[-1], {'x': batch['x'][None]})[0])
  # Snapshots refresh after step swap_steps - 1 = 0 of each period: the copy is the state after step 0.
  jax.tree.map(np.testing.assert_array_equal, states[1].snapshots['g_params'], states[1].g_params)
  jax.tree.map(np.testing.assert_array_equal, states[3].snapshots['g_params'], states[1].g_params)
  # Step 3 is in a swap window: D's update equals a D step against G from after step 0, G's a G step against D
  # from then.
  before = states[3]
  z = noise.sample_noise(jax.random.split(jax.random.fold_in(jax.random.fold_in(before.rng, 3), 1), 2)[0], 32,
                         before.noise_spec)
  d_batch = {**z, 'x': batch['x']}
  loss = losses.make_loss('minimax')
  against_old_g = before.replace(g_params=states[1].g_params)
  expected_d = steps.d_step(against_old_g, d_batch, loss=loss)[0].d_params
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), states[4].d_params, expected_d)
  against_old_d = before.replace(d_params=states[1].d_params)
  expected_g = steps.g_step(against_old_d, d_batch, loss=loss)[0].g_params
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), states[4].g_params, expected_g)


def run_parallel(config, mode, calls=2):
  parallel = parallel_lib.make_data_parallel(mode)
  dataset = data.make_dataset(config.data)
  state = create_state(config, jax.random.key(0), dataset.shape, parallel.axis_name)
  compiled = make_multi_step_fn(config, dataset, parallel)
  device_state, arrays = parallel.put(state), parallel.put(dataset.host_arrays())
  for _ in range(calls):
    device_state, _ = compiled(2)(device_state, arrays)
  if mode == 'pmap':  # Every device must hold the same state, replay buffer included.
    for leaf in jax.tree.leaves(device_state.replay):
      np.testing.assert_array_equal(np.asarray(leaf), np.broadcast_to(np.asarray(leaf)[0], leaf.shape))
  return jax.device_get(parallel.get(device_state))


def test_minibatch_discrimination_and_replay_under_pmap_match_one_device():
  config = tiny_config(steps=0)
  config.disc.minibatch_kernels = 4
  config.disc.minibatch_kernel_dim = 3
  config.replay.fraction = 0.0  # Replayed draws are per device by design; checked below for state equality only.
  single, pmapped = run_parallel(config, 'single'), run_parallel(config, 'pmap')
  for name in ('g_params', 'd_params'):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6),
                 getattr(pmapped, name), getattr(single, name))
  config.replay.fraction = 0.5
  config.replay.capacity = 48
  pmapped = run_parallel(config, 'pmap', calls=1)
  assert int(pmapped.replay['count']) == 2 * 32  # The global batch of every step went into the buffer.


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
    config.loss.historical_averaging = 0.01
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
  for name in ('g_params', 'd_params', 'replay', 'g_average', 'd_average', 'snapshots'):
    jax.tree.map(np.testing.assert_array_equal, getattr(restored['split'], name), getattr(restored['whole'], name))
  assert int(restored['whole'].replay['count']) > 0
