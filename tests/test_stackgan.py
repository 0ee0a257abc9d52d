"""StackGAN: the conditioning augmentation's KL against the closed form of two Gaussians and its gradient through the
reparameterisation against finite differences, the matching-aware loss against a hand computation, the two-stage
schedule (stage II leaves stage I's networks bit for bit; stage I alone), the text encoder's vocabulary refused when
it does not match (at validation and on resume), captions with unknown words drawn, and a smoke run end to end on a
small synthetic captioned set held in memory (the shape of the captioned datasets' batches); the same for a tiny
named set (emoji_names' shape: names as captions, no attributes), scored by FD, its text standardised over its
training names."""

import dataclasses
import itertools
import os

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data, losses, objectives, workdir
from gan_jax.config import ConfigError
from gan_jax.data import captions
from gan_jax.data.in_memory import epoch_indices, to_unit_range
from gan_jax.families import stackgan
from gan_jax.models import stackgan as models
from gan_jax.models import text_encoder
from gan_jax.train import train_and_evaluate
from gan_jax.validation import validate
from tests.test_experiments import load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIDE = 32


@dataclasses.dataclass(frozen=True, eq=False)
class TinyCaptioned:
  """Captioned images held in memory as the captioned sets' loader serves them: 'images' uint8 [N, S, S, 3],
  'tokens' int32 [N, 16], 'attributes' int32 [N, 5]; a step's batch is one gather by its epoch indices."""
  images: np.ndarray
  tokens: np.ndarray
  attributes: np.ndarray

  @property
  def shape(self):
    return tuple(self.images.shape[1:])

  @property
  def num_classes(self):
    return 10

  def host_arrays(self):
    return {'images': self.images, 'tokens': self.tokens, 'attributes': self.attributes}

  def sample(self, arrays, rng, step, num):
    indices = epoch_indices(rng, step, arrays['images'].shape[0], num)
    return {'x': to_unit_range(arrays['images'][indices]), 'tokens': arrays['tokens'][indices],
            'attributes': arrays['attributes'][indices]}


def tiny_captioned(num=32, side=SIDE, seed=0):
  """Squares of the caption's colour, size and position on its background (the class is not drawn)."""
  rng = np.random.default_rng(seed)
  vocabulary = captions.caption_vocabulary('mnist')
  palette = np.array(list(captions.COLOURS.values()), np.uint8)
  images, tokens, attributes = [], [], []
  for _ in range(num):
    colour, background = rng.choice(len(palette), 2, replace=False)
    a = captions.Attributes(int(rng.integers(10)), int(colour), int(background), int(rng.integers(2)),
                            int(rng.integers(9)))
    image = np.broadcast_to(palette[a.background], (side, side, 3)).copy()
    half = side // (8 if a.size == 0 else 5)
    row, col = divmod(a.position, 3)
    cy, cx = (2 * row + 1) * side // 6, (2 * col + 1) * side // 6
    image[max(cy - half, 0):cy + half, max(cx - half, 0):cx + half] = palette[a.colour]
    images.append(image)
    tokens.append(vocabulary.encode(captions.caption('mnist', a)))
    attributes.append(dataclasses.astuple(a))
  return TinyCaptioned(np.stack(images), np.stack(tokens), np.asarray(attributes, np.int32))


def write_encoder(path, vocabulary=None, features=8, seed=0):
  """A randomly initialised text encoder saved with `text_encoder.save`."""
  vocabulary = vocabulary or captions.caption_vocabulary('mnist')
  model = text_encoder.TextEncoder(vocabulary.size, features=features, width=8)
  params = model.init(jax.random.key(seed), jnp.zeros((1, captions.MAX_TOKENS), jnp.int32))['params']
  text_encoder.save(path, model, params, vocabulary, {'how': 'random, for tests'})
  return str(path)


@pytest.fixture
def captioned(monkeypatch):
  """data.name='tiny_captioned': `tiny_captioned` registered as a captioned dataset for this test."""
  monkeypatch.setitem(data.DATASETS, 'tiny_captioned', lambda c: tiny_captioned())
  monkeypatch.setitem(stackgan.CAPTIONED, 'tiny_captioned', 'mnist')
  return 'tiny_captioned'


@pytest.fixture(scope='module')
def tiny_state(tmp_path_factory):
  """(config, its state at step 0) of `tiny_config`, built once for the tests that only read it."""
  with pytest.MonkeyPatch.context() as patch:
    patch.setitem(stackgan.CAPTIONED, 'tiny_captioned', 'mnist')
    config = tiny_config(tmp_path_factory.mktemp('encoder'))
    yield config, stackgan.create_stackgan_state(config, jax.random.key(0), None)


def tiny_config(tmp_path, **stackgan_fields):
  """The smoke variant on `tiny_captioned` with a random encoder in tmp_path."""
  config = load(os.path.join(ROOT, 'experiments', 'stackgan_mnist.py')).get_config('smoke')
  config.data.name = 'tiny_captioned'
  config.stackgan.text_encoder = write_encoder(tmp_path / 'encoder.npz')
  for field, value in stackgan_fields.items():
    config.stackgan[field] = value
  return config


def kl_closed_form(mu, sigma):
  """KL(N(mu, S) || N(0, I)) = (tr S + mu'mu - k - log det S) / 2 from the full covariance matrix S = diag sigma^2."""
  k = mu.shape[0]
  cov = np.diag(sigma.astype(np.float64) ** 2)
  return 0.5 * (np.trace(cov) + mu @ mu - k - np.linalg.slogdet(cov)[1])


def test_the_kl_term_is_the_closed_form_of_two_gaussians_per_dimension_averaged_over_the_batch():
  rng = np.random.default_rng(0)
  mu, log_sigma = rng.normal(size=(5, 7)), rng.normal(scale=0.5, size=(5, 7))
  expected = np.mean([kl_closed_form(m, np.exp(s)) for m, s in zip(mu, log_sigma)]) / 7
  got = losses.kl_to_standard_normal(jnp.asarray(mu, jnp.float32), jnp.asarray(log_sigma, jnp.float32))
  np.testing.assert_allclose(float(got), expected, rtol=1e-5)
  ctx = objectives.Context(None, {'ca_mu': jnp.asarray(mu), 'ca_log_sigma': jnp.asarray(log_sigma)}, None, {}, {},
                           None, objectives.GANObjective())
  np.testing.assert_allclose(float(objectives.G_TERMS['kl'](ctx)), expected, rtol=1e-5)
  assert float(losses.kl_to_standard_normal(jnp.zeros((3, 4)), jnp.zeros((3, 4)))) == 0.0


def test_the_gradient_through_the_reparameterisation_matches_finite_differences():
  """d/dtheta of a loss of c = mu + sigma * eps (eps fixed) plus the KL, against central differences in float64."""
  with jax.enable_x64(True):
    module = models.ConditioningAugmentation(dim=3)
    embedding = jnp.asarray(np.random.default_rng(1).normal(size=(4, 5)))
    eps = jnp.asarray(np.random.default_rng(2).normal(size=(4, 3)))
    params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64) * 20,  # Away from 0: sigma far from 1.
                          module.init(jax.random.key(0), embedding, eps)['params'])
    weights = jnp.asarray(np.random.default_rng(3).normal(size=(4, 3)))

    def loss(params):
      c, mu, log_sigma = module.apply({'params': params}, embedding, eps)
      return jnp.sum(weights * jnp.sin(c)) + losses.kl_to_standard_normal(mu, log_sigma)

    grads = jax.grad(loss)(params)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    h = 1e-6
    numeric = np.array([(loss(unravel(flat.at[i].add(h))) - loss(unravel(flat.at[i].add(-h)))) / (2 * h)
                        for i in range(flat.size)])
    np.testing.assert_allclose(jax.flatten_util.ravel_pytree(grads)[0], numeric, rtol=1e-6, atol=1e-8)
    assert np.abs(numeric).min() > 0  # Every parameter, the log sigma head's included, reaches the loss.


def test_the_matching_aware_loss_against_a_hand_computation():
  real, fake, wrong = np.array([2.0, -1.0]), np.array([0.5, -3.0]), np.array([1.0, 0.0])
  sigmoid = lambda x: 1 / (1 + np.exp(-x))
  expected = (-np.mean(np.log(sigmoid(real))) + 0.5 * (-np.mean(np.log(1 - sigmoid(fake)))
                                                        - np.mean(np.log(1 - sigmoid(wrong)))))
  as_jax = lambda x: jnp.asarray(x, jnp.float32)
  got = losses.matching_aware_discriminator_loss(as_jax(real), as_jax(fake), as_jax(wrong))
  np.testing.assert_allclose(float(got), expected, rtol=1e-6)
  ctx = objectives.Context(None, {}, None, {'logits': as_jax(real), 'mismatched_logits': as_jax(wrong)},
                           {'logits': as_jax(fake)}, None, objectives.GANObjective())
  np.testing.assert_allclose(float(objectives.D_TERMS['matching_aware'](ctx)), expected, rtol=1e-6)


def test_the_discriminator_judges_the_mismatched_text_on_the_same_image_features():
  """D's mismatched logits are its logits for the same images with the other embeddings (one image encoding)."""
  d = models.Discriminator(widths=(4, 8), text_dim=4)
  x = jax.random.normal(jax.random.key(0), (3, 16, 16, 3))
  e, other = jax.random.normal(jax.random.key(1), (2, 3, 6))
  variables = jax.jit(lambda *a: d.init(*a, train=False))(jax.random.key(2), x, e)  # Whole, not op by op.
  apply = jax.jit(lambda v, x, e, m: d.apply(v, x, e, mismatched=m, train=False))
  both = apply(variables, x, e, other)
  np.testing.assert_allclose(both['logits'], apply(variables, x, e, None)['logits'], rtol=1e-6)
  np.testing.assert_allclose(both['mismatched_logits'], apply(variables, x, other, None)['logits'], rtol=1e-6)


def test_one_attribute_mismatches_change_one_attribute_uniformly_and_keep_the_colours_apart():
  counts = captions.attribute_counts('mnist')
  n = 20_000
  rng = np.random.default_rng(0)
  colour = rng.integers(8, size=n)
  attributes = np.stack([rng.integers(10, size=n), colour, (colour + rng.integers(1, 8, size=n)) % 8,
                         rng.integers(2, size=n), rng.integers(9, size=n)], axis=1).astype(np.int32)
  changed = np.asarray(jax.jit(stackgan.one_attribute_changed, static_argnums=2)(
      jax.random.key(0), jnp.asarray(attributes), counts))
  differs = changed != attributes
  assert (differs.sum(axis=1) == 1).all() and (changed[:, 1] != changed[:, 2]).all()
  assert ((changed >= 0) & (changed < np.asarray(counts))).all()
  # Each attribute is the changed one a fifth of the time (the standard error of each fraction is 0.003) ...
  np.testing.assert_allclose(differs.mean(axis=0), 0.2, atol=0.015)
  for column, allowed in enumerate(counts):
    rows = differs[:, column]
    old, new = attributes[rows], changed[rows, column]
    # ... and takes each value it may take alike: for a colour, the 6 that are neither its own nor the other colour.
    excluded = [old[:, column]] + ([old[:, 3 - column]] if column in (1, 2) else [])
    index = new - (new[:, None] > np.stack(excluded, axis=1)).sum(axis=1)  # Among the values it may take.
    choices = allowed - len(excluded)
    shares = np.bincount(index, minlength=choices) / rows.sum()
    assert len(shares) == choices
    assert rows.sum() > 3000 and np.abs(shares - 1 / choices).max() < 0.03, (column, shares)


@pytest.mark.parametrize('mismatch', ['rolled', 'one_attribute'])
def test_the_step_judges_real_images_with_the_mismatched_captions(mismatch, tiny_state, captioned):
  """The step's mismatched captions: the batch's own rolled by one (the paper's), or each image's with one
  attribute changed, read back from the token ids as the grammar wrote them; D reads their embeddings."""
  config, state = tiny_state
  config = config.copy_and_resolve_references()
  config.stackgan.mismatch = mismatch
  dataset = tiny_captioned()
  from gan_jax import parallel as parallel_lib
  train_step, sample_real = stackgan.make_stackgan_train_step(config, dataset,
                                                              parallel_lib.make_data_parallel('single'))
  arrays = jax.tree.map(jnp.asarray, dataset.host_arrays())
  real = sample_real(state, arrays)
  batch = jax.jit(lambda state, real: stackgan.step_batch(state, real, config))(state, real)
  tokens = np.asarray(real['tokens'][0])
  vocabulary = captions.caption_vocabulary('mnist')
  by_caption = {captions.caption('mnist', captions.Attributes(*a)): a for a in itertools.product(
      range(10), range(8), range(8), range(2), range(9)) if a[1] != a[2]}
  read = lambda ids: np.array([by_caption[vocabulary.decode(row)] for row in ids])
  mismatched = np.asarray(batch['mismatched_tokens'])
  if mismatch == 'rolled':
    assert 'attributes' not in real
    np.testing.assert_array_equal(mismatched, np.roll(tokens, 1, axis=0))
  else:
    np.testing.assert_array_equal(real['attributes'][0], read(tokens))
    assert ((read(mismatched) != read(tokens)).sum(axis=1) == 1).all()
  np.testing.assert_allclose(batch['mismatched'], stackgan.embed(state, jnp.asarray(mismatched)), rtol=1e-5,
                             atol=1e-6)
  if mismatch == 'one_attribute':  # The rolled step runs in the tests above.
    _, metrics = jax.jit(lambda s: train_step(s, sample_real(s, arrays)))(state)
    assert 0 < float(metrics['d_mismatched_score']) < 1 and np.isfinite(float(metrics['d_loss']))


def test_the_d_checks_score_real_images_with_their_captions_and_with_one_attribute_changed(tiny_state, captioned):
  config, state = tiny_state
  dataset = tiny_captioned()
  by_name = stackgan.changed_attributes(config, dataset.attributes)
  assert list(by_name) == ['own', *(f'{name}_changed' for name in ('class', 'colour', 'background', 'size',
                                                                    'position'))]
  for column, (name, attributes) in enumerate(list(by_name.items())[1:]):
    assert (np.flatnonzero((attributes != dataset.attributes).any(axis=0)) == [column]).all(), name
    assert (attributes[:, column] != dataset.attributes[:, column]).all()
    assert (attributes[:, 1] != attributes[:, 2]).all()  # Never the object's colour on itself.
  real = to_unit_range(jnp.asarray(dataset.images))
  metrics = stackgan.discriminator_checks(config, real, dataset.attributes)(state)
  assert len(metrics) == 12
  vocabulary = captions.caption_vocabulary('mnist')

  @jax.jit  # One program per stage: op by op, the encoder's and D's operations would each compile on their own.
  def logits_of(d, images, state, tokens):
    return d.apply(images, stackgan.embed(state, tokens))[0]['logits']

  for k, side in ((1, 16), (2, 32)):
    images = stackgan.box_filter(real, side)
    for name, attributes in by_name.items():  # D in training mode on the captions the grammar writes.
      tokens = np.stack([vocabulary.encode(captions.caption('mnist', captions.Attributes(*a))) for a in attributes])
      logits = logits_of(state.nets[f'd{k}'], images, state, jnp.asarray(tokens))
      np.testing.assert_allclose(metrics[f'd{k}_real_{name}'], np.mean(jax.nn.sigmoid(logits)), rtol=1e-5)


def test_stage_two_leaves_stage_one_bit_for_bit(tiny_state, captioned):
  """At the switch stage I is frozen, and stage II's compiled step (the loop's) moves 'g2' and 'd2' only: stage I's
  networks and the text encoder keep their parameters, batch statistics and counts exactly."""
  config, state = tiny_state
  dataset = tiny_captioned()
  assert set(state.nets) == {'text', 'g1', 'd1', 'g2', 'd2'} and stackgan.stage_of(state) == 1
  assert stackgan.stage_starts(config) == (6,)
  from gan_jax import families, parallel as parallel_lib
  second = stackgan.next_stage(config, state, dataset)
  assert stackgan.stage_of(second) == 2
  # A checkpoint after the switch restores into stage II's structure.
  assert stackgan.stage_of(families.state_at(stackgan.FAMILY, config, state, 7, dataset)) == 2
  assert stackgan.stage_of(families.state_at(stackgan.FAMILY, config, state, 6, dataset)) == 1
  train_step, sample_real = stackgan.make_stackgan_train_step(config, dataset,
                                                              parallel_lib.make_data_parallel('single'))
  arrays = jax.tree.map(jnp.asarray, dataset.host_arrays())
  after, metrics = jax.jit(lambda s: train_step(s, sample_real(s, arrays)))(second)
  assert float(metrics['stage']) == 2 and int(after.step) == 1
  for name in ('g1', 'd1', 'text'):
    for part in ('params', 'batch_stats', 'count'):
      jax.tree.map(np.testing.assert_array_equal, getattr(after.nets[name], part), getattr(state.nets[name], part))
  for name in ('g2', 'd2'):
    assert int(after.nets[name].count) == 1
    assert not np.array_equal(jax.flatten_util.ravel_pytree(after.nets[name].params)[0],
                              jax.flatten_util.ravel_pytree(state.nets[name].params)[0])
  assert float(metrics['g_kl']) > 0 and 0 < float(metrics['d_mismatched_score']) < 1


def test_stage_one_alone_starts_as_the_first_stage_of_both_and_trains_and_evaluates_alone(tmp_path, tiny_state,
                                                                                          captioned):
  both, two_stages = tiny_state
  alone = tiny_config(tmp_path, stages=1)
  alone.stackgan.text_encoder = both.stackgan.text_encoder
  one_stage = stackgan.create_stackgan_state(alone, jax.random.key(0), None)
  assert set(one_stage.nets) == {'text', 'g1', 'd1'}
  for name in ('g1', 'd1', 'text'):  # The same stage I at step 0 (and the same noise at every step).
    jax.tree.map(np.testing.assert_array_equal, one_stage.nets[name].params, two_stages.nets[name].params)
  alone.train.num_steps = 2
  alone.train.eval_every_steps = 2
  assert stackgan.stage_starts(alone) == ()
  metrics = train_and_evaluate(alone, str(tmp_path / 'run'))
  assert metrics['step'] == 2 and 'stage2_minus_stage1_rms' not in metrics and 'stage2_all' not in metrics
  checks = ('class', 'colour', 'background', 'size', 'position', 'all')
  assert all(0 <= metrics[f'{who}_{check}'] <= 1 for who in ('stage1', 'real_stage1') for check in checks)
  assert all(0 < metrics[f'd1_real_{name}'] < 1 for name in ('own', *(f'{c}_changed' for c in checks[:-1])))
  assert 'd2_real_own' not in metrics
  assert metrics['real_stage1_background'] == 1.0  # The tiny set's flat backgrounds, read by the checker.
  assert sorted(os.listdir(tmp_path / 'run' / 'plots')) == ['stage1_0000002.png']


def test_the_state_reads_captions_standardised_over_the_grammar_or_as_the_encoder_file_has_them(tmp_path, tiny_state,
                                                                                                 captioned):
  config, state = tiny_state
  model, params, vocabulary = text_encoder.load(config.stackgan.text_encoder)
  tokens = jnp.asarray(np.stack([vocabulary.encode(t) for t in captions.all_captions('mnist')]))
  features = np.asarray(stackgan.embed(state, tokens), np.float64)
  np.testing.assert_allclose(features.mean(axis=0), 0.0, atol=1e-4)
  np.testing.assert_allclose(features.std(axis=0), 1.0, rtol=1e-4)
  raw = tiny_config(tmp_path, standardize_text=False, stages=1)
  raw.stackgan.text_encoder = config.stackgan.text_encoder
  raw_state = stackgan.create_stackgan_state(raw, jax.random.key(0), None)
  np.testing.assert_array_equal(stackgan.embed(raw_state, tokens), model.apply({'params': params}, tokens))


def test_without_conditioning_augmentation_c_is_the_projection_and_has_no_kl():
  module = models.ConditioningAugmentation(dim=3, augment=False)
  e = jax.random.normal(jax.random.key(0), (2, 5))
  variables = module.init(jax.random.key(1), e, jnp.zeros((2, 3)))
  c, mu, log_sigma = module.apply(variables, e, jax.random.normal(jax.random.key(2), (2, 3)))
  kernel, bias = variables['params']['Dense_0']['kernel'], variables['params']['Dense_0']['bias']
  np.testing.assert_allclose(c, e @ kernel + bias, rtol=1e-6)
  np.testing.assert_array_equal(c, mu)
  assert float(losses.kl_to_standard_normal(jnp.zeros_like(mu), log_sigma)) == 0.0


def test_a_caption_with_unknown_words_is_drawn_and_an_overlong_one_refused(tiny_state, captioned):
  config, state = tiny_state
  texts = ['a small red seven at the top left on a blue background',
           'a small purple seven at the top left on a blue background']  # 'purple' is not a caption word.
  tokens = stackgan.encode_captions(config, texts)
  assert (tokens[1] == captions.UNKNOWN).sum() == 1 and (tokens[0] == captions.UNKNOWN).sum() == 0
  low, high = stackgan.images_from_captions(config, state, texts, jax.random.key(1))
  assert low.shape == (2, 16, 16, 3) and high.shape == (2, 32, 32, 3)
  assert np.isfinite(high).all() and not np.array_equal(high[0], high[1])
  with pytest.raises(ValueError, match='at most 16 are encoded'):
    stackgan.encode_captions(config, ['a ' * 17])
  figure = stackgan.interpolate_captions(config, state, texts[0], 'a large green one at the centre on a black '
                                         'background', steps=2, rows=1, key=jax.random.key(2))
  assert figure.shape == (1, 2, 32, 32, 3) and not np.array_equal(figure[0, 0], figure[0, 1])


@pytest.mark.parametrize('field, value, message', [
    ('sizes', (16, 64), 'must double stage I'),
    ('sizes', (16, 16), 'must double stage I'),
    ('sizes', (8, 16), 'data.resolution=32'),
    ('stage1_steps', 12, 'stage II would never train'),
    ('caption_length', 20, 'hold 16 token ids'),
    ('vocabulary', 'ffffffffffffffff', "set stackgan.vocabulary='"),
    ('text_encoder', '/nonexistent/encoder.npz', 'no such file'),
    ('stage2_up_widths', (8,), 'give 2 channel counts'),
    ('mismatch', 'shuffled', 'accepted values: rolled, one_attribute'),
])
def test_bad_stackgan_config_is_refused_naming_the_field_before_anything_is_written(field, value, message, tmp_path,
                                                                                     captioned):
  config = tiny_config(tmp_path, **{field: value})
  with pytest.raises(ConfigError, match=f'config.stackgan.{field}: .*{message}'):
    train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


def test_an_encoder_of_another_vocabulary_is_refused(tmp_path, captioned):
  config = tiny_config(tmp_path)
  config.stackgan.text_encoder = write_encoder(tmp_path / 'fashion.npz', captions.caption_vocabulary('fashion_mnist'))
  with pytest.raises(ConfigError, match='config.stackgan.text_encoder: .* was trained on vocabulary'):
    validate(config, num_devices=1)
  config = tiny_config(tmp_path)
  config.loss.g.kl = 1.0
  config.stackgan.conditioning_augmentation = False
  with pytest.raises(ConfigError, match='config.loss.g.kl: .*no Gaussian'):
    validate(config, num_devices=1)


def test_a_resume_under_another_vocabulary_is_refused(tmp_path, captioned):
  config = tiny_config(tmp_path)
  run = tmp_path / 'run'
  (run / 'checkpoints' / '6').mkdir(parents=True)
  workdir.check_config(str(run), config, allow_change=False)
  moved = tiny_config(tmp_path)
  moved.stackgan.text_encoder = write_encoder(tmp_path / 'elsewhere.npz')  # The path alone is free.
  workdir.check_config(str(run), moved, allow_change=False)
  other = tiny_config(tmp_path)
  other.stackgan.vocabulary = captions.caption_vocabulary('fashion_mnist').fingerprint
  with pytest.raises(workdir.WorkdirError, match="stackgan.vocabulary: '[0-9a-f]{16}' -> '[0-9a-f]{16}'"):
    workdir.check_config(str(run), other, allow_change=False)


@pytest.mark.slow
def test_smoke_run_trains_both_stages_and_stage_one_stops_at_the_switch(tmp_path, captioned):
  config = tiny_config(tmp_path)
  run = str(tmp_path / 'run')
  metrics = train_and_evaluate(config, run)
  assert metrics['step'] == 12 and metrics['stage2_minus_stage1_rms'] > 0
  assert sorted(os.listdir(os.path.join(run, 'plots'))) == ['stage1_0000006.png', 'stage1_0000012.png',
                                                           'stage2_0000006.png', 'stage2_0000012.png']
  import flax.serialization
  import orbax.checkpoint as ocp
  from gan_jax import families
  initial = stackgan.create_stackgan_state(config, jax.random.key(0), None)
  manager = ocp.CheckpointManager(os.path.join(run, 'checkpoints'))

  def restore(step):  # Into the structure of the step's stage.
    template = families.state_at(stackgan.FAMILY, config, initial, step, None)
    restored = manager.restore(step, args=ocp.args.StandardRestore(flax.serialization.to_state_dict(template)))
    return flax.serialization.from_state_dict(template, restored)

  at_switch, final = restore(6), restore(12)  # Step 6: the last of stage I.
  assert stackgan.stage_of(at_switch) == 1 and stackgan.stage_of(final) == 2
  for name in ('g1', 'd1', 'text'):
    for part in ('params', 'batch_stats', 'count'):
      jax.tree.map(np.testing.assert_array_equal, getattr(final.nets[name], part), getattr(at_switch.nets[name], part))
  assert int(final.nets['g2'].count) == 6 and int(at_switch.nets['g2'].count) == 0
  from gan_jax import sample_captions  # The sampling command's functions on the run's checkpoint.
  restored = sample_captions.restore_run(config, run)
  grid = sample_captions.draw_grid(config, restored, ['a large red seven at the centre on a blue background',
                                                      'a small mauve two at the top on a black background'], 3,
                                   jax.random.key(0))
  assert grid.shape == (4 * 33 + 1, 340 + 3 * 33 + 1, 3)  # Two captions x (stage I, stage II) rows of 32 + 1.


# The emoji_names path on an in-memory emoji-like set: images whose names are their captions, no attributes.
TINY_NAMES = {'train': ('red_apple', 'green_apple', 'blue_heart', 'red_heart', 'yellow_star', 'green_star'),
              'test': ('blue_star', 'red_square')}


def tiny_named(split='train', side=SIDE):
  """Shapes (by the name's last word) in the name's colour on white, captioned by the names; attributes [N, 0]."""
  from gan_jax.data import captioned
  names = TINY_NAMES[split]
  vocabulary = captioned.emoji_vocabulary([n for split_names in TINY_NAMES.values() for n in split_names])
  palette = {name: np.array(rgb, np.uint8) for name, rgb in captions.COLOURS.items()}
  images = np.full((len(names), side, side, 3), 255, np.uint8)
  for image, name in zip(images, names):
    colour, shape = name.split('_')
    yy, xx = np.mgrid[:side, :side] - side / 2 + 0.5
    mask = {'apple': yy ** 2 + xx ** 2 < (side / 3) ** 2, 'heart': np.abs(xx) + np.abs(yy) < side / 3,
            'star': (np.abs(xx) < side / 10) | (np.abs(yy) < side / 10), 'square': np.maximum(abs(xx), abs(yy)) < 8}
    image[mask[shape]] = palette[colour]
  tokens = captioned.encode_captions([captioned.emoji_caption(n) for n in names], vocabulary)
  return TinyCaptioned(images, tokens, np.zeros((len(names), 0), np.int32))


@pytest.fixture
def named(monkeypatch):
  """data.name='tiny_named': `tiny_named` registered as a NAMED captioned dataset for this test; its names (the
  vocabulary and data.split's captions) are read from TINY_NAMES, never from the images."""
  from gan_jax.data import captioned
  monkeypatch.setitem(data.DATASETS, 'tiny_named', lambda c: tiny_named(c.split))
  read = lambda c: (captioned.emoji_vocabulary([n for names in TINY_NAMES.values() for n in names]),
                    [captioned.emoji_caption(n) for n in TINY_NAMES[c.split]])
  monkeypatch.setitem(stackgan.NAMED, 'tiny_named', read)
  monkeypatch.setitem(stackgan.FD_CLASSIFIERS, 'tiny_named', 'emoji_styles')
  return read


def named_config(tmp_path, **stackgan_fields):
  """The emoji experiment's smoke variant on `tiny_named` with a random encoder of its vocabulary in tmp_path."""
  from gan_jax.data import captioned
  config = load(os.path.join(ROOT, 'experiments', 'stackgan_emoji.py')).get_config('smoke')
  config.data.name = 'tiny_named'
  vocabulary = captioned.emoji_vocabulary([n for names in TINY_NAMES.values() for n in names])
  config.stackgan.text_encoder = write_encoder(tmp_path / 'names.npz', vocabulary)
  config.stackgan.vocabulary = vocabulary.fingerprint
  config.eval.num_samples = 2  # The whole tiny test split.
  for field, value in stackgan_fields.items():
    config.stackgan[field] = value
  return config


@pytest.mark.slow  # 40 s; unknown words are drawn (test_a_caption_with_...), a run evaluated (stage one alone) in CI.
def test_a_named_set_trains_evaluates_by_fd_and_draws_names_with_unknown_words(tmp_path, named):
  """Stage I on the tiny named set: trained 2 steps, evaluated by the domain classifier's FD against the test images
  (checked against an independent computation), its checkpoint's text features standardised over the training
  names (not the test names, not the images), and drawn from names with words outside the vocabulary."""
  config = named_config(tmp_path, stages=1)
  config.train.num_steps = config.train.eval_every_steps = 2
  run = str(tmp_path / 'run')
  metrics = train_and_evaluate(config, run)
  assert metrics['step'] == 2 and {'stage1_fd', 'real_stage1_fd'} <= set(metrics)
  assert not any(k.endswith(('_class', '_all')) for k in metrics)  # No caption checker on names.
  from gan_jax.evaluation import domain_classifier, feature_metrics
  classifier = domain_classifier.shipped_classifier('emoji_styles')
  train, test = tiny_named('train'), tiny_named('test')
  real = lambda images: np.asarray(stackgan.box_filter(to_unit_range(jnp.asarray(images)), 16))
  expected = feature_metrics.frechet_distance_from_features(classifier.features(real(train.images[[0, 5]])),
                                                            classifier.features(real(test.images)))
  np.testing.assert_allclose(metrics['real_stage1_fd'], expected, rtol=1e-5)
  assert metrics['stage1_fd'] > 0 and np.isfinite(metrics['stage1_fd'])
  assert sorted(os.listdir(os.path.join(run, 'plots'))) == ['stage1_0000002.png']

  from gan_jax import sample_captions  # The sampling command's functions on the run's checkpoint.
  from gan_jax.data.captioned import emoji_caption
  state = sample_captions.restore_run(config, run)
  vocabulary = stackgan.caption_vocabulary(config)
  embed = lambda names: np.asarray(stackgan.embed(state, jnp.asarray(np.stack(
      [vocabulary.encode(emoji_caption(n)) for n in names]))), np.float64)
  train_features, test_features = embed(TINY_NAMES['train']), embed(TINY_NAMES['test'])
  np.testing.assert_allclose(train_features.mean(axis=0), 0.0, atol=1e-4)
  np.testing.assert_allclose(train_features.std(axis=0), 1.0, rtol=1e-4)
  assert np.abs(test_features.mean(axis=0)).max() > 1e-2  # Over the training names only.
  texts = ['red apple', 'purple apple', "woman's apple"]  # 'purple' and 'womans' are not name words.
  tokens = stackgan.encode_captions(config, texts)
  np.testing.assert_array_equal(tokens[0], vocabulary.encode('red apple'))
  assert (tokens[1] == captions.UNKNOWN).sum() == 1 and tokens[1][1] == tokens[0][1]
  assert (tokens[2] == captions.UNKNOWN).sum() == 1 and (tokens[2] != captions.PAD).sum() == 2
  low, high = stackgan.images_from_captions(config, state, texts, jax.random.key(1))
  assert low.shape == (3, 16, 16, 3) and high is None and np.isfinite(low).all()
  figure = stackgan.interpolate_captions(config, state, 'red apple', 'blue star', steps=3, rows=1,
                                         key=jax.random.key(2))
  assert figure.shape == (1, 3, 16, 16, 3) and not np.array_equal(figure[0, 0], figure[0, 2])


def test_a_named_set_is_refused_under_another_vocabulary(tmp_path, named):
  config = named_config(tmp_path)
  config.stackgan.vocabulary = captions.caption_vocabulary('mnist').fingerprint
  with pytest.raises(ConfigError, match="config.stackgan.vocabulary: .*set stackgan.vocabulary='"):
    validate(config, num_devices=1)
  config = named_config(tmp_path, mismatch='one_attribute')
  with pytest.raises(ConfigError, match="config.stackgan.mismatch: .*names without attributes to change: use 'rolled'"):
    validate(config, num_devices=1)
  config = named_config(tmp_path)
  config.stackgan.text_encoder = write_encoder(tmp_path / 'mnist.npz')  # The grammar's vocabulary.
  with pytest.raises(ConfigError, match='config.stackgan.text_encoder: .* was trained on vocabulary'):
    validate(config, num_devices=1)


def test_the_emoji_experiment_pins_the_names_vocabulary_and_its_shipped_encoder(image_sets_dir):
  from gan_jax.data import captioned
  experiment = load(os.path.join(ROOT, 'experiments', 'stackgan_emoji.py'))
  config = experiment.get_config()
  vocabulary = captioned.emoji_text('train', image_sets_dir('emoji_styles'))[0]
  assert experiment.VOCABULARY == config.stackgan.vocabulary == vocabulary.fingerprint
  assert text_encoder.load(config.stackgan.text_encoder, vocabulary)[2] == vocabulary


def test_the_experiment_pins_each_caption_grammars_vocabulary_and_its_shipped_encoder():
  experiment = load(os.path.join(ROOT, 'experiments', 'stackgan_mnist.py'))
  for source, fingerprint in experiment.VOCABULARIES.items():
    vocabulary = captions.caption_vocabulary(source)
    assert fingerprint == vocabulary.fingerprint
    config = experiment.get_config(None if source == 'mnist' else source)
    assert config.stackgan.vocabulary == fingerprint
    assert text_encoder.load(config.stackgan.text_encoder, vocabulary)[2] == vocabulary


def test_the_sweeps_table_gives_each_stage_its_mean_and_spread_over_seeds_then_the_real_fractions():
  sweeps = load(os.path.join(ROOT, 'benchmarks', 'sweeps.py'))
  checks = sweeps.STACKGAN_CHECKS
  stage1 = [{'step': 8000, **{f'stage1_{c}': v for c in checks}} for v in (0.2, 0.4)]
  both = {'step': 9000, **{f'stage1_{c}': 0.5 for c in checks}, **{f'stage2_{c}': 0.25 for c in checks},
          **{f'real_stage1_{c}': 0.984 for c in checks}, **{f'real_stage2_{c}': 0.992 for c in checks}}
  rows = sweeps.stackgan_table('captioned_mnist', {'stage1': stage1, 'no_ca': [], 'stages12': [both]})
  # 0.2 and 0.4: mean 0.3, sample standard deviation 0.2 / sqrt(2) = 0.141.
  assert rows[3] == '| stage I alone | 2 | 8000 | stage I | ' + ' | '.join(['0.300 ± 0.141'] * 6) + ' |'
  assert rows[4] == '| stage I + II | 1 | 9000 | stage I | ' + ' | '.join(['0.500'] * 6) + ' |'
  assert rows[5] == '| stage I + II | 1 | 9000 | stage II | ' + ' | '.join(['0.250'] * 6) + ' |'
  assert rows[6:] == ["| real test images at stage I's side | – | – | – | " + ' | '.join(['0.984'] * 6) + ' |',
                      "| real test images at stage II's side | – | – | – | " + ' | '.join(['0.992'] * 6) + ' |']
  assert len(rows) == 8  # A setting with no runs has no row.
  checks = sweeps.STACKGAN_D_CHECKS
  assert checks == ('own', 'class_changed', 'colour_changed', 'background_changed', 'size_changed',
                    'position_changed')
  d_checked = [{**run, **{f'd1_real_{c}': v for c in checks}} for run, v in zip(stage1, (0.5, 0.7))]
  rows = sweeps.stackgan_d_table({'stage1': d_checked, 'stages12': [both]})  # `both` predates the D checks.
  assert rows[2:] == ['| stage I alone | 2 | D1 | ' + ' | '.join(['0.600 ± 0.141'] * 6) + ' |']
  assert sweeps.stackgan_d_table({'stages12': [both]}) == []
