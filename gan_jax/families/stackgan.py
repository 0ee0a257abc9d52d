"""The StackGAN family (`config.model='stackgan'`): text -> image in two stages (Zhang et al. 2017), on the captioned
object sets (`gan_jax/data/captions.py`: "a small red seven at the top left on a blue background"), and on
`emoji_names`, the Noto emoji with their names as captions ("red apple"), the small real-text extra (`NAMED`).

Networks of one `TrainState`: 'text', the trained caption encoder loaded from `stackgan.text_encoder`
(`models/text_encoder.py`), its features standardised over every caption of the grammar (on emoji_names: over the
training split's names, `standardization_captions`) when `stackgan.standardize_text` (the default: at the encoder's
own scale the caption drowned in the conditioning augmentation's noise), frozen: no update ever lists it, and it is
saved with each checkpoint, so a resumed run reads its captions with the very weights it trained with; 'g1' and 'd1',
stage I at `stackgan.sizes[0]`; 'g2' and 'd2', stage II at `stackgan.sizes[1]` (twice that), when `stackgan.stages`
is 2 (`models/stackgan.py`; each G holds its own conditioning augmentation). The captions are encoded inside the step
from the batch's token ids rather than precomputed once per dataset: the loader keeps one gather per step (images,
tokens and attributes by the same indices), the mismatched captions are the same batch's embeddings rolled by one
(or, under 'one_attribute', captions the grammar writes from the step's changed attributes, encoded in the step), and
sampling from caption strings runs the very same encoder call; the encoder (a bidirectional GRU over 16 words of
width 128) costs little beside the convolutions of the two stages.

Training (the paper's): stage I first, then stage II with stage I fixed, in one run. Steps [0, stage1_steps) update
'd1' then 'g1'; steps [stage1_steps, num_steps) update 'd2' then 'g2', with 'g1' run in evaluation mode (batch
norm's running averages) on the same text and its own noise to give stage II its input. The switch is the training
loop's stage hook (`Family.stage_starts` / `next_stage`, as Progressive GAN's growth): at stage1_steps, 'g1' and
'd1' are frozen (their optimizer becomes one that makes no update and keeps no state: Adam's moments, which would
never be used again, are dropped), and the compiled step, which reads the stage from that structure, is compiled
anew for stage II. A checkpoint holds its stage's structure and a resume rebuilds it from the step
(`families.state_at`). Stage II's step lists only 'd2' and 'g2' to `update`, so stage I's parameters, batch
statistics and update counts do not change once stage II starts, bit for bit. (Picking the stage from `state.step`
inside one program, as `families/phases.py` does with `lax.switch`, ran each step about 20x slower on XLA's CPU
backend, which runs the convolutions of a conditional's branches as it runs those of a loop.)
`stackgan.stages=1` trains and evaluates stage I alone.

Objectives (the registered terms of `objectives.py`, weights `config.loss.d` / `config.loss.g`): D the matching-aware
loss ('matching_aware': real image + its caption real; generated image + that caption and real image + a mismatched
caption fake, 1/2 each). The mismatched captions (`stackgan.mismatch`): 'rolled', the paper's, the batch's captions
rolled by one, which on the grammar's sets nearly always name another background, so D can tell them by the
background alone and need not check the rest (measured: README); or 'one_attribute', each image's own caption with one
attribute changed (the class, a colour, the size or the place), so that every attribute is one D must check. G: the
non-saturating adversarial loss plus lambda x 'kl', the conditioning augmentation's KL to N(0, I) (lambda = 1, the
paper's). Real images reach each stage's D box-filtered from the dataset's side to the stage's.
`stackgan.conditioning_augmentation=False` (the ablation) conditions on the embedding's projection, without noise and
without the KL (`loss.g.kl` must then be 0).

The text encoder's vocabulary is pinned by its fingerprint in `stackgan.vocabulary`: validation refuses an encoder
or a dataset with another vocabulary (for emoji_names, the words of both splits' names, read without the images),
and since the field is part of the checkpointed config (`workdir.REFUSED`), a resume under another vocabulary is
refused too. A caption a user writes with words outside the vocabulary is
encoded with the unknown word's id (`captions.UNKNOWN`), not refused.

Evaluation (on `eval.num_samples` captions spread evenly over `eval.test_split`): sample grids of each stage, one
row per caption with the caption written beside it, and the caption checker's (`gan_jax.evaluation.caption_match`)
fraction of samples whose class (by the shipped classifier), colours, position and size match their caption, for
stage I and for stage II, beside the same fractions for the real test images. On emoji_names, whose names have no
attributes to check, the number is the Frechet distance between each stage's samples (one per test name) and the
real test emoji in the features of the domain classifier the project trained on emoji_styles (CycleGAN's;
`evaluation/domain_classifier.py`), beside the distance of as many real training emoji to the same test emoji. It
measures whether the samples look like emoji, not whether they match their names: no image encoder of the names'
text encoder ships to score that, and that encoder overfits its 1,217 training names anyway.
"""

import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from gan_jax import data, losses, objectives, optim
from gan_jax.config import ConfigError, choice, int_at_least, require
from gan_jax.data import captions
from gan_jax.data.in_memory import to_unit_range
from gan_jax.evaluation import plots
from gan_jax.families import EVAL_STREAM, Family, _with_split, phases, validate_terms, validate_training
from gan_jax.models import stackgan as models
from gan_jax.models import text_encoder
from gan_jax.objectives import Context, GANObjective
from gan_jax.rng import noise_key
from gan_jax.state import Network, TrainState
from gan_jax.update import run, update

# The captioned datasets whose captions the grammar writes from checkable attributes: data.name -> its source
# (`captions.CLASS_NAMES`), whose vocabulary the token ids use (a copy, which tests extend with in-memory sets).
CAPTIONED = {name: source for name, source in data.CAPTIONED_DATASETS.items() if source in captions.CLASS_NAMES}


def _emoji_text(data_config: ml_collections.ConfigDict) -> tuple[captions.Vocabulary, list[str]]:
  from gan_jax.data import captioned  # TensorFlow loads only for image data.
  return captioned.emoji_text(data_config.split, data_config.data_dir or None)


# The captioned datasets whose captions are real text (names), not the grammar's, so not checkable: data.name ->
# `read(config.data) -> (vocabulary, the captions of data.split)`, read without the images (a copy, which tests
# extend with in-memory sets).
NAMED = {'emoji_names': _emoji_text}
# The shipped domain classifier (`evaluation.domain_classifier.WEIGHTS_BY_DATASET`) whose features score the samples
# of a NAMED dataset by Frechet distance to its test images.
FD_CLASSIFIERS = {'emoji_names': 'emoji_styles'}
TEXT = 'text'
STAGE_NETS = {1: ('g1', 'd1'), 2: ('g2', 'd2')}
TERMS = {'d': ('matching_aware', 'adversarial'), 'g': ('adversarial', 'kl')}
LOSSES = ('non_saturating', 'minimax')  # The terms are binary cross-entropies.
EVAL_CHUNK = 250
MISMATCH = ('rolled', 'one_attribute')  # stackgan.mismatch: see `mismatched_tokens`.
MISMATCH_STREAM = 0x3A7C  # The one-attribute changes draw from their own stream of the step's noise key.
# The caption checker's names of the attribute columns (captions.ATTRIBUTE_NAMES, whose 'label' is the class).
CHECKED = ('class', *captions.ATTRIBUTE_NAMES[1:])
FROZEN = optax.set_to_zero()  # The optimizer of a network that is not trained: the text encoder, stage I in stage II.


def _widths(value, field: str, count: int, why: str) -> None:
  require(isinstance(value, tuple) and len(value) == count and all(
      isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in value), field,
          f'got {value!r}; give {count} channel counts, each an integer >= 1 ({why})')


def _power_of_two(n) -> bool:
  return isinstance(n, int) and not isinstance(n, bool) and n >= 1 and n & (n - 1) == 0


def caption_source(config: ml_collections.ConfigDict) -> str:
  """The caption grammar's source of `data.name` ('mnist' or 'fashion_mnist')."""
  return CAPTIONED[config.data.name]


def caption_vocabulary(config: ml_collections.ConfigDict) -> captions.Vocabulary:
  """The vocabulary of `data.name`'s captions: the grammar's, or a NAMED dataset's (its names of every split)."""
  if config.data.name in NAMED:
    return NAMED[config.data.name](config.data)[0]
  return captions.caption_vocabulary(caption_source(config))


def standardization_captions(config: ml_collections.ConfigDict) -> list[str]:
  """The captions the text features are standardised over: every caption the grammar writes (the distribution of
  the grammar's datasets, whose attributes are drawn uniformly), or a NAMED dataset's training split's (data.split)
  names. Neither reads the images."""
  if config.data.name in NAMED:
    return NAMED[config.data.name](config.data)[1]
  return captions.all_captions(caption_source(config))


def load_text_encoder(config: ml_collections.ConfigDict):
  """(model, params, vocabulary) of `stackgan.text_encoder`, checked against the dataset's vocabulary.

  Raises:
    ConfigError: naming stackgan.text_encoder when the file is missing or its vocabulary is not the captions'.
  """
  path = config.stackgan.text_encoder
  require(isinstance(path, str) and path, 'stackgan.text_encoder',
          f'got {path!r}; give the .npz of a trained caption encoder (gan_jax.models.text_encoder.save)')
  info = os.path.splitext(path)[0] + '.json'
  require(os.path.isfile(path) and os.path.isfile(info), 'stackgan.text_encoder',
          f'got {path!r}: {"no such file" if not os.path.isfile(path) else "no " + info + " beside it"}; give the '
          '.npz of a trained caption encoder and its .json (gan_jax.models.text_encoder.save writes both)')
  vocabulary = caption_vocabulary(config)
  try:
    return text_encoder.load(path, vocabulary)
  except ValueError as error:
    raise ConfigError(f'config.stackgan.text_encoder: {error}; use an encoder trained on the captions of '
                      f'data.name={config.data.name!r}') from error


# Validation.


def validate_stackgan(config: ml_collections.ConfigDict, num_devices: int, num_processes: int = 1) -> None:
  """StackGAN's checks: its section (stage sizes, the schedule, widths, the text encoder and its vocabulary), the
  objective, a captioned dataset, the optimizers and the loop; last the disk (the dataset, then the encoder).

  Raises:
    ConfigError: naming the field, the value and the accepted values.
  """
  require('stackgan' in config, 'stackgan',
          'the stackgan family reads config.stackgan: start from gan_jax.config.stackgan_config()')
  c = config.stackgan
  data.validate(config.data)
  require(config.data.name in CAPTIONED or config.data.name in NAMED, 'data.name',
          f'got {config.data.name!r}; StackGAN draws images from captions: use one of '
          f'{", ".join([*CAPTIONED, *NAMED])}')
  require(config.data.channels == 3, 'data.channels', f'got {config.data.channels}; the captioned sets are coloured: '
          'set data.channels=3')
  choice(c.stages, 'stackgan.stages', (1, 2))
  validate_sizes(c.sizes, config.data.resolution)
  s1, s2 = c.sizes
  ups = s1.bit_length() - 3  # log2(s1 / 4)
  _widths(c.gen_widths, 'stackgan.gen_widths', ups + 1, f"stage I's 4x4 map, then one upsampling block per doubling "
          f'to {s1}')
  _widths(c.disc_widths, 'stackgan.disc_widths', ups, f'one down-sampling block per halving from {s1} to 4')
  _widths(c.stage2_disc_widths, 'stackgan.stage2_disc_widths', ups + 1,
          f'one down-sampling block per halving from {s2} to 4')
  down = c.stage2_down_widths
  downs = len(down) - 1 if isinstance(down, tuple) else 0
  require(downs >= 1 and s1 >> downs >= 4, 'stackgan.stage2_down_widths',
          f"got {down!r}; stage II's encoder: its first convolution's width, then one down-sampling block's each, "
          f'at least one and at most {s1.bit_length() - 3} (from {s1} to a side >= 4)')
  _widths(down, 'stackgan.stage2_down_widths', downs + 1, "stage II's encoder")
  _widths(c.stage2_up_widths, 'stackgan.stage2_up_widths', downs + 1,
          f'one upsampling block per doubling from {s1 >> max(downs, 0)} to {s2}')
  int_at_least(c.residual_blocks, 'stackgan.residual_blocks', minimum=0)
  for field in ('condition_dim', 'latent_dim', 'text_dim'):
    int_at_least(c[field], f'stackgan.{field}')
  require(isinstance(c.conditioning_augmentation, bool), 'stackgan.conditioning_augmentation',
          f'got {c.conditioning_augmentation!r}; must be True or False')
  choice(c.mismatch, 'stackgan.mismatch', MISMATCH)
  require(c.mismatch == 'rolled' or config.data.name in CAPTIONED, 'stackgan.mismatch',
          f"got {c.mismatch!r} on data.name={config.data.name!r}, whose captions are names without attributes to "
          "change: use 'rolled'")
  require(isinstance(c.standardize_text, bool), 'stackgan.standardize_text',
          f'got {c.standardize_text!r}; must be True or False')
  int_at_least(c.stage1_steps, 'stackgan.stage1_steps')
  if c.stages == 2:
    require(c.stage1_steps < config.train.num_steps, 'stackgan.stage1_steps',
            f'got {c.stage1_steps} with train.num_steps={config.train.num_steps}: stage II would never train; set '
            'it below train.num_steps, or stackgan.stages=1 to train stage I alone')
  require(c.caption_length == captions.MAX_TOKENS, 'stackgan.caption_length',
          f'got {c.caption_length!r}; the captioned sets hold {captions.MAX_TOKENS} token ids per caption')
  validate_objective(config.loss, c.conditioning_augmentation)
  validate_training(config, num_devices, num_processes, ('g', 'd'),
                    'StackGAN makes one D update and one G update per step')
  data.check_available(config.data)
  _, _, vocabulary = load_text_encoder(config)
  require(c.vocabulary == vocabulary.fingerprint, 'stackgan.vocabulary',
          f'got {c.vocabulary!r}; the captions of data.name={config.data.name!r} and the text encoder '
          f'{c.text_encoder} use vocabulary {vocabulary.fingerprint} ({vocabulary.size} ids): set '
          f"stackgan.vocabulary='{vocabulary.fingerprint}' (a run's checkpoints keep the vocabulary they were trained "
          'with)')


def validate_sizes(sizes, resolution) -> None:
  """(stage I's side, stage II's side): a power of 2 >= 8, then its double, which is data.resolution."""
  field = 'stackgan.sizes'
  require(isinstance(sizes, tuple) and len(sizes) == 2 and all(_power_of_two(s) for s in sizes), field,
          f'got {sizes!r}; give (stage I side, stage II side), powers of 2, e.g. (32, 64)')
  require(sizes[0] >= 8, field, f'got {sizes!r}; stage I must draw at least 8x8 (its G starts at 4x4)')
  require(sizes[1] == 2 * sizes[0], field, f'got {sizes!r}; stage II must double stage I ({sizes[0]} -> '
          f'{2 * sizes[0]}, not {sizes[1]})')
  require(sizes[1] == resolution, field, f'got {sizes!r}; stage II draws {sizes[1]}x{sizes[1]} but '
          f'data.resolution={resolution}: make them equal')


def validate_objective(loss: ml_collections.ConfigDict, augment: bool) -> None:
  """The adversarial pair (binary cross-entropy), only StackGAN's terms, an objective for each player, and no KL
  without the conditioning augmentation."""
  choice(loss.name, 'loss.name', LOSSES)
  validate_terms(loss, TERMS, "StackGAN's {player}")
  require(loss.d.matching_aware > 0 or loss.d.adversarial > 0, 'loss.d.matching_aware',
          'D has no objective: give loss.d.matching_aware (the paper\'s) or loss.d.adversarial a weight > 0')
  require(loss.g.adversarial > 0, 'loss.g.adversarial', 'G has no adversarial objective: give it a weight > 0')
  require(augment or not loss.g.kl, 'loss.g.kl',
          f'got {loss.g.kl!r} with stackgan.conditioning_augmentation=False: without the augmentation there is no '
          'Gaussian to regularise; set it to 0')


# The state.


def make_networks(config: ml_collections.ConfigDict) -> dict[str, object]:
  """The stages' modules by network name."""
  c = config.stackgan
  augment = c.conditioning_augmentation
  modules = {'g1': models.StageOneGenerator(size=c.sizes[0], widths=tuple(c.gen_widths),
                                            condition_dim=c.condition_dim, augment=augment),
             'd1': models.Discriminator(widths=tuple(c.disc_widths), text_dim=c.text_dim)}
  if c.stages == 2:
    modules['g2'] = models.StageTwoGenerator(
        down_widths=tuple(c.stage2_down_widths), residual_blocks=c.residual_blocks,
        up_widths=tuple(c.stage2_up_widths), condition_dim=c.condition_dim, augment=augment)
    modules['d2'] = models.Discriminator(widths=tuple(c.stage2_disc_widths), text_dim=c.text_dim)
  return modules


def create_stackgan_state(config: ml_collections.ConfigDict, key: jax.Array, dataset) -> TrainState:
  """StackGAN at step 0: the frozen text encoder with its trained weights, and each stage's G and D with their
  optimizers (optim.g, optim.d)."""
  del dataset
  c = config.stackgan
  encoder, encoder_params, vocabulary = load_text_encoder(config)
  if c.standardize_text:
    every_caption = np.stack([vocabulary.encode(t) for t in standardization_captions(config)])
    encoder_params = text_encoder.standardized(encoder, encoder_params, every_caption)
  modules = make_networks(config)
  s1, s2 = c.sizes
  tokens = jnp.zeros((1, c.caption_length), jnp.int32)
  embedding = jnp.zeros((1, encoder.features))
  eps = jnp.zeros((1, c.condition_dim))
  inputs = {'g1': (embedding, jnp.zeros((1, c.latent_dim)), eps), 'd1': (jnp.zeros((1, s1, s1, 3)), embedding),
            'g2': (embedding, jnp.zeros((1, s1, s1, 3)), eps), 'd2': (jnp.zeros((1, s2, s2, 3)), embedding)}

  def create(key, encoder_params):
    # Each network's key by its name, so that stage I starts the same with or without stage II (stackgan.stages).
    keys = {name: jax.random.fold_in(key, i) for i, name in enumerate(('g1', 'd1', 'g2', 'd2', TEXT, 'rng'))}
    nets = {name: Network.create(module, optim.make_optimizer(config.optim[name[0]]), keys[name], *inputs[name])
            for name, module in modules.items()}
    text = Network.create(encoder, FROZEN, keys[TEXT], tokens)  # Never updated.
    nets[TEXT] = text.replace(params=encoder_params)
    return TrainState.create(nets, keys['rng'])

  return jax.jit(create)(key, jax.tree.map(jnp.asarray, encoder_params))


# The step.


def embed(state: TrainState, tokens: jax.Array) -> jax.Array:
  """The frozen encoder's caption embeddings [B, F] of token ids [B, L]."""
  return jax.lax.stop_gradient(state.nets[TEXT].apply(tokens, train=False)[0])


def box_filter(x: jax.Array, size: int) -> jax.Array:
  """Images [B, S, S, C] -> [B, size, size, C], the mean of each (S/size)^2 block."""
  b, s, _, c = x.shape
  f = s // size
  return x if f == 1 else x.reshape(b, size, f, size, f, c).mean(axis=(2, 4))


def stage_one_images(state: TrainState, batch: dict) -> jax.Array:
  """Stage I's images for the batch's text and noise, as stage II reads them: G1 in evaluation mode, fixed."""
  net = state.nets['g1']
  images = net.apply(batch['embedding'], batch['z'], batch['eps1'], train=False)[0][0]
  return jax.lax.stop_gradient(images)


def generate(state: TrainState, k: int, batch: dict, *, train: bool = True):
  """Stage k's G on the batch: ((images, mu, log sigma), the state with its batch statistics advanced)."""
  if k == 1:
    return run(state, 'g1', batch['embedding'], batch['z'], batch['eps1'], train=train)
  return run(state, 'g2', batch['embedding'], stage_one_images(state, batch), batch['eps2'], train=train)


def discriminator_objective(state: TrainState, batch: dict, *, k: int, fake: jax.Array, objective: GANObjective):
  """Stage k's D loss: the real images with their captions and with the mismatched ones, and `fake` with the
  captions.

  Returns:
    (loss, (state with D's batch statistics advanced, metrics: D's mean probabilities of 'real')).
  """
  given, d = state, f'd{k}'
  x = batch[f'x{k}']
  real_out, state = run(state, d, x, batch['embedding'], mismatched=batch['mismatched'])
  fake_out, state = run(state, d, fake, batch['embedding'])
  ctx = Context(given, {**batch, 'x': x}, fake, real_out, fake_out, given.nets[d].params, objective)
  value, metrics = objectives.combine(objective.d_terms, objectives.D_TERMS, ctx, 'd')
  score = lambda logits: jnp.mean(jax.nn.sigmoid(logits))
  return value, (state, {**metrics, 'd_real_score': score(real_out['logits']),
                         'd_fake_score': score(fake_out['logits']),
                         'd_mismatched_score': score(real_out['mismatched_logits'])})


def generator_objective(state: TrainState, batch: dict, *, k: int, objective: GANObjective):
  """Stage k's G loss: the adversarial term against the stage's D on the batch's captions, and the KL of its
  conditioning augmentation ('kl').

  Returns:
    (loss, (state with G's batch statistics advanced, metrics: the unweighted KL 'g_kl')).
  """
  (fake, mu, log_sigma), state = generate(state, k, batch)
  d = f'd{k}'
  x = batch[f'x{k}']
  real_out, _ = run(state, d, x, batch['embedding'])  # D's statistics stay put; unused by the non-saturating loss.
  fake_out, _ = run(state, d, fake, batch['embedding'])
  terms_batch = {**batch, 'x': x, 'ca_mu': mu, 'ca_log_sigma': log_sigma}
  ctx = Context(state, terms_batch, fake, real_out, fake_out, state.nets[d].params, objective)
  value, metrics = objectives.combine(objective.g_terms, objectives.G_TERMS, ctx, 'g')
  return value, (state, {**metrics, 'g_kl': losses.kl_to_standard_normal(mu, log_sigma)})


def stage_step(state: TrainState, batch: dict, *, k: int, objective: GANObjective):
  """Stage k's iteration (the step not advanced): D's update on G's samples for the batch's noise, then G's against
  the updated D with the same noise. Metrics carry the names of stage I's (see `make_stackgan_train_step`)."""
  fake = jax.lax.stop_gradient(generate(state, k, batch)[0][0])
  g, d = STAGE_NETS[k]
  d_objective = functools.partial(discriminator_objective, k=k, fake=fake, objective=objective)
  state, d_metrics = update(state, batch, nets=(d,), objective=d_objective, name='d')
  g_objective = functools.partial(generator_objective, k=k, objective=objective)
  state, g_metrics = update(state, batch, nets=(g,), objective=g_objective, name='g')
  metrics = phases.merge_network_metrics({**d_metrics, **g_metrics}, (d,), 'd')
  return state, phases.merge_network_metrics(metrics, (g,), 'g')


def one_attribute_changed(key: jax.Array, attributes: jax.Array, counts: tuple[int, ...],
                          column: int | None = None) -> jax.Array:
  """Attributes int32 [B, 5] (columns `captions.ATTRIBUTE_NAMES`) with one attribute of each row changed: which one is
  `column`, or uniform over the five, its new value uniform over the values that leave a caption the grammar writes
  (another value, and the object's colour never the background's)."""
  which_key, value_key = jax.random.split(key)
  values = jnp.arange(max(counts))
  allowed = (values < jnp.asarray(counts)[:, None])[None] & (values != attributes[:, :, None])  # [B, 5, V]
  colour, background = captions.ATTRIBUTE_NAMES.index('colour'), captions.ATTRIBUTE_NAMES.index('background')
  allowed = allowed.at[:, colour].min(values != attributes[:, background, None])
  allowed = allowed.at[:, background].min(values != attributes[:, colour, None])
  new = jax.random.categorical(value_key, jnp.where(allowed, 0.0, -jnp.inf))
  which = (jax.random.randint(which_key, attributes.shape[:1], 0, len(counts)) if column is None
           else jnp.full(attributes.shape[:1], column))
  return jnp.where(jax.nn.one_hot(which, len(counts), dtype=bool), new, attributes).astype(attributes.dtype)


def mismatched_tokens(state: TrainState, real: dict, config: ml_collections.ConfigDict) -> jax.Array:
  """Token ids [B, L] of the step's mismatched captions under `stackgan.mismatch`: the batch's own rolled by one
  ('rolled'), or each real image's caption with one attribute changed ('one_attribute', `one_attribute_changed`;
  from the stream MISMATCH_STREAM of the step's noise key)."""
  if config.stackgan.mismatch == 'rolled':
    return jnp.roll(real['tokens'][0], 1, axis=0)
  source = caption_source(config)
  key = jax.random.fold_in(noise_key(state.rng, state.step), MISMATCH_STREAM)
  changed = one_attribute_changed(key, real['attributes'][0], captions.attribute_counts(source))
  return jnp.asarray(captions.token_table(source))[tuple(changed.T)]


def step_batch(state: TrainState, real: dict, config: ml_collections.ConfigDict, share=lambda x: x) -> dict:
  """The step's batch: real images at each stage's side ('x1', 'x2'), the captions' embeddings and the mismatched
  captions' ('mismatched_tokens', `mismatched_tokens`), and the noise: z, and eps1, eps2 for the two conditioning
  augmentations."""
  c = config.stackgan
  x = real['x'][0]
  batch_size = x.shape[0]
  embedding = embed(state, real['tokens'][0])
  mismatched_ids = mismatched_tokens(state, real, config)
  # Rolled captions are the batch's own: their embeddings are rolled, not encoded again.
  mismatched = jnp.roll(embedding, 1, axis=0) if c.mismatch == 'rolled' else embed(state, mismatched_ids)
  z_key, eps1_key, eps2_key = jax.random.split(noise_key(state.rng, state.step), 3)
  normal = lambda key, dim: share(jax.random.normal(key, (batch_size, dim)))
  return {'x1': box_filter(x, c.sizes[0]), 'x2': box_filter(x, c.sizes[1]), 'embedding': embedding,
          'mismatched_tokens': mismatched_ids, 'mismatched': mismatched, 'z': normal(z_key, c.latent_dim),
          'eps1': normal(eps1_key, c.condition_dim), 'eps2': normal(eps2_key, c.condition_dim)}


def stage_starts(config: ml_collections.ConfigDict) -> tuple[int, ...]:
  """The step where stage II starts and stage I is frozen: (stage1_steps,) with two stages, () with one."""
  return (config.stackgan.stage1_steps,) if config.stackgan.stages == 2 else ()


def freeze(net: Network) -> Network:
  """`net` with `FROZEN` as its optimizer (no update, no state); parameters, statistics and count kept."""
  return net.replace(tx=FROZEN, opt_state=FROZEN.init(net.params))


def next_stage(config: ml_collections.ConfigDict, state: TrainState, dataset) -> TrainState:
  """The state of stage II: stage I's networks frozen."""
  del config, dataset
  return state.replace_nets(g1=freeze(state.nets['g1']), d1=freeze(state.nets['d1']))


def stage_of(state: TrainState) -> int:
  """The stage `state` trains: 2 once stage I is frozen."""
  return 2 if state.nets['g1'].tx is FROZEN else 1


def make_sampler(config: ml_collections.ConfigDict, dataset, parallel):
  """`sample_real(state, data_arrays)` -> {'x': [1, B, S, S, 3] in [-1, 1], 'tokens': [1, B, L], and with
  stackgan.mismatch='one_attribute' 'attributes': [1, B, 5]}: the step's examples by one gather (the dataset's epoch
  order), sharded over the devices under a mesh."""
  batch = config.train.batch_size

  def sample_real(state, data_arrays):
    examples = dataset.sample(data_arrays, state.rng, state.step, batch)
    real = {'x': examples['x'][None], 'tokens': examples['tokens'][None]}
    if config.stackgan.mismatch == 'one_attribute':
      real['attributes'] = examples['attributes'][None]
    return jax.tree.map(lambda x: parallel.local_share(x, axis=1), real)

  return sample_real


def make_stackgan_train_step(config: ml_collections.ConfigDict, dataset, parallel):
  """`(train_step, sample_real)`: one iteration of the state's stage (`stage_of`); advances `state.step`.

  Metrics, whichever the stage: 'd_loss', 'g_loss', each term's value when a player has two ('g_term_adversarial',
  'g_term_kl'), 'g_kl' (unweighted), D's mean probabilities 'd_real_score', 'd_fake_score', 'd_mismatched_score',
  the gradient, update and parameter norms of the stage's networks as 'g_*' and 'd_*', and 'stage' (1 or 2).
  """
  objective = objectives.objective_from_config(config)
  share = parallel.local_share

  def train_step(state, real):
    k = stage_of(state)
    state, metrics = stage_step(state, step_batch(state, real, config, share), k=k, objective=objective)
    return state.replace(step=state.step + 1), {**metrics, 'stage': jnp.float32(k)}

  return train_step, make_sampler(config, dataset, parallel)


# Sampling from captions.


def encode_captions(config: ml_collections.ConfigDict, texts: list[str]) -> np.ndarray:
  """Token ids [N, caption_length] of caption strings with the dataset's vocabulary; words outside it become
  `captions.UNKNOWN` (a user's caption is drawn, not refused). A NAMED dataset's captions are first written as its
  names are ('woman's boot' -> 'womans boot': `captioned.emoji_caption`).

  Raises:
    ValueError: a caption has more words than `stackgan.caption_length`.
  """
  vocabulary = caption_vocabulary(config)
  if config.data.name in NAMED:
    from gan_jax.data.captioned import emoji_caption
    texts = [emoji_caption(text.replace("'", '')) for text in texts]
  return np.stack([vocabulary.encode(text, config.stackgan.caption_length) for text in texts])


@functools.partial(jax.jit, static_argnums=(0,))
def _draw(stages: int, state: TrainState, embedding: jax.Array, z: jax.Array, eps1: jax.Array, eps2: jax.Array):
  g1 = state.nets['g1']
  low = g1.apply(embedding, z, eps1, params=g1.sampling_params, train=False)[0][0]
  if stages == 1:
    return low, low
  g2 = state.nets['g2']
  return low, g2.apply(embedding, low, eps2, params=g2.sampling_params, train=False)[0][0]


def draw(config: ml_collections.ConfigDict, state: TrainState, embedding: jax.Array, key: jax.Array,
         mean_condition: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
  """Each stage's samples for caption embeddings [N, F] (evaluation mode), noise from `key`.

  Args:
    config: the run's config.
    state: its state.
    embedding: the captions' embeddings (`embed`).
    key: the noise's key: z and each stage's eps, in chunks of `EVAL_CHUNK` folded with the chunk's start.
    mean_condition: condition on each augmentation's mean (eps = 0), e.g. for interpolations.

  Returns:
    (stage I images [N, S1, S1, 3], stage II images [N, S2, S2, 3] or None) in [-1, 1].
  """
  c = config.stackgan
  lows, highs = [], []
  for i in range(0, embedding.shape[0], EVAL_CHUNK):
    e = embedding[i:i + EVAL_CHUNK]
    z_key, eps1_key, eps2_key = jax.random.split(jax.random.fold_in(key, i), 3)
    n = e.shape[0]
    eps = (lambda k: jnp.zeros((n, c.condition_dim))) if mean_condition else (
        lambda k: jax.random.normal(k, (n, c.condition_dim)))
    low, high = _draw(c.stages, state, e, jax.random.normal(z_key, (n, c.latent_dim)), eps(eps1_key), eps(eps2_key))
    lows.append(np.asarray(low))
    highs.append(np.asarray(high))
  return np.concatenate(lows), (np.concatenate(highs) if c.stages == 2 else None)


def images_from_captions(config: ml_collections.ConfigDict, state: TrainState, texts: list[str],
                         key: jax.Array) -> tuple[np.ndarray, np.ndarray | None]:
  """Samples of each stage for caption strings (unknown words allowed): see `draw`."""
  return draw(config, state, embed(state, jnp.asarray(encode_captions(config, texts))), key)


def interpolate_captions(config: ml_collections.ConfigDict, state: TrainState, first: str, second: str,
                         steps: int, rows: int, key: jax.Array) -> np.ndarray:
  """Interpolation between two captions' embeddings, the paper's figure: `rows` rows (each its own z), `steps`
  columns from `first`'s embedding to `second`'s, conditioned on the augmentation's mean.

  Returns:
    The last stage's images [rows, steps, S, S, 3] in [-1, 1].
  """
  ends = embed(state, jnp.asarray(encode_captions(config, [first, second])))
  t = jnp.linspace(0.0, 1.0, steps)[:, None]
  path = (1.0 - t) * ends[0] + t * ends[1]  # [steps, F]
  z_rows = jax.random.normal(key, (rows, config.stackgan.latent_dim))
  embedding = jnp.tile(path, (rows, 1))
  z = jnp.repeat(z_rows, steps, axis=0)
  zeros = jnp.zeros((rows * steps, config.stackgan.condition_dim))
  low, high = _draw(config.stackgan.stages, state, embedding, z, zeros, zeros)
  images = np.asarray(high if config.stackgan.stages == 2 else low)
  return images.reshape(rows, steps, *images.shape[1:])


# Evaluation.


def caption_strip(texts: list[str], row_height: int, width: int) -> np.ndarray:
  """White RGB uint8 [len(texts) * (row_height + 1) + 1, width, 3] with each text written at its row's middle."""
  from PIL import Image, ImageDraw
  image = Image.new('RGB', (width, len(texts) * (row_height + 1) + 1), 'white')
  drawing = ImageDraw.Draw(image)
  for i, text in enumerate(texts):
    drawing.text((4, 1 + i * (row_height + 1) + row_height // 2 - 5), text, fill='black')
  return np.asarray(image)


def captioned_grid(images: np.ndarray, texts: list[str], text_width: int = 340) -> np.ndarray:
  """Images [R, C, S, S, 3] in [-1, 1] as a grid of R rows, each row's caption written on its left."""
  rows, columns = images.shape[:2]
  grid = plots.image_grid(images.reshape(-1, *images.shape[2:]), rows, columns)
  strip = caption_strip(texts, images.shape[2], text_width)
  return np.concatenate([strip[:grid.shape[0]], grid], axis=1)


def caption_checker(config: ml_collections.ConfigDict):
  """`check(images, attributes) -> {name: fraction}`: the caption checker (`evaluation.caption_match`) with the
  source's shipped classifier, loaded once."""
  from gan_jax.evaluation import caption_match, digits
  source = caption_source(config)
  classifier = digits.load_digit_classifier(source)
  return lambda images, attributes: caption_match.caption_match(images, attributes, source, classifier)


@jax.jit
def _real_scores(state: TrainState, images: dict[int, jax.Array], tokens: jax.Array) -> dict[int, jax.Array]:
  """Stage k's D's mean probability of 'real' for `images[k]` with each set of captions tokens[j] [N, L]: D in
  training mode (batch statistics, as in the step; its running averages mix the real and generated batches it saw),
  its statistics left as they are."""
  embeddings = [embed(state, t) for t in tokens]  # Once for both stages.
  scores = {}
  for k, x in images.items():
    d = state.nets[f'd{k}']
    scores[k] = jnp.stack([jnp.mean(jax.nn.sigmoid(d.apply(x, e)[0]['logits'])) for e in embeddings])
  return scores


def discriminator_checks(config: ml_collections.ConfigDict, real: jax.Array, attributes: np.ndarray):
  """`check(state) -> metrics`: which attributes each stage's D checks. 'd<k>_real_own': its mean probability of
  'real' for the real test images at its side with their own captions; 'd<k>_real_<check>_changed' with their
  captions' class, colour, background, size or position changed (a new value drawn once per image,
  `one_attribute_changed`). A D that checks an attribute scores the real image with it changed near its score for
  a generated one; a D that does not, near 'own'."""
  table = captions.token_table(caption_source(config))
  by_name = changed_attributes(config, attributes)
  tokens = jnp.asarray(np.stack([table[tuple(a.T)] for a in by_name.values()]))
  images = {k: box_filter(real, side) for k, side in enumerate(config.stackgan.sizes[:config.stackgan.stages], 1)}

  def check(state: TrainState) -> dict[str, float]:
    scores = jax.device_get(_real_scores(state, images, tokens))
    return {f'd{k}_real_{name}': float(v) for k, values in scores.items() for name, v in zip(by_name, values)}

  return check


def changed_attributes(config: ml_collections.ConfigDict, attributes: np.ndarray) -> dict[str, np.ndarray]:
  """The captions `discriminator_checks` reads, as attributes [N, 5]: 'own' (`attributes`), and '<check>_changed'
  with each row's class, colour, background, size or position changed (drawn once from the run's seed)."""
  counts = captions.attribute_counts(caption_source(config))
  key = jax.random.fold_in(jax.random.key(config.seed), MISMATCH_STREAM)
  return {'own': np.asarray(attributes), **{
      f'{name}_changed': np.asarray(one_attribute_changed(jax.random.fold_in(key, column), jnp.asarray(attributes),
                                                          counts, column)) for column, name in enumerate(CHECKED)}}


def checker_scores(config: ml_collections.ConfigDict, test: dict, chosen: np.ndarray, dataset):
  """The grammar's sets: (the real test images' metrics, `score(images) -> metrics`), the caption checker's
  fractions of `chosen` test examples whose class, colour, background, size, position and all of them match."""
  del dataset
  check = caption_checker(config)
  attributes = np.asarray(test['attributes'][chosen])
  real = to_unit_range(jnp.asarray(test['images'][chosen]))
  real_metrics = {}
  for k, side in enumerate(config.stackgan.sizes[:config.stackgan.stages], start=1):
    real_metrics.update({f'real_stage{k}_{name}': value for name, value in
                         check(np.asarray(box_filter(real, side)), attributes).items()})
  return real_metrics, lambda images: check(images, attributes)


def fd_scores(config: ml_collections.ConfigDict, test: dict, chosen: np.ndarray, dataset):
  """A NAMED set: (the real baseline, `score(images) -> {'fd': value}`), the Frechet distance in the features of
  the dataset's shipped domain classifier (`FD_CLASSIFIERS`) between the samples and the `chosen` test images
  box-filtered to the samples' side. The baseline 'real_stage<k>_fd' is as many training images (spread evenly over
  the split) against the same test images: the distance real images of the set reach at this sample size."""
  from gan_jax.evaluation import domain_classifier, feature_metrics
  classifier = domain_classifier.shipped_classifier(FD_CLASSIFIERS[config.data.name])
  real = to_unit_range(jnp.asarray(test['images'][chosen]))
  train_images = dataset.host_arrays()['images']
  others = to_unit_range(jnp.asarray(
      train_images[np.linspace(0, len(train_images) - 1, len(chosen)).round().astype(int)]))
  fd = feature_metrics.frechet_distance_from_features
  real_features, real_metrics = {}, {}
  for k, side in enumerate(config.stackgan.sizes[:config.stackgan.stages], start=1):
    real_features[side] = classifier.features(np.asarray(box_filter(real, side)))
    real_metrics[f'real_stage{k}_fd'] = fd(classifier.features(np.asarray(box_filter(others, side))),
                                           real_features[side])
  return real_metrics, lambda images: {'fd': fd(classifier.features(images), real_features[images.shape[1]])}


def make_stackgan_evaluator(config: ml_collections.ConfigDict, dataset):
  """`evaluate(state) -> (metrics, pictures)` on `eval.num_samples` captions of `eval.test_split` spread evenly
  over it, with noise from the run's fixed evaluation key.

  Metrics on the grammar's sets: 'stage1_<check>' and 'stage2_<check>' (`evaluation.caption_match`, each stage's
  samples at its own side): the fraction of samples whose class, colour, background, size, position and all of
  them at once ('all') match the caption they were drawn for, beside 'real_stage1_<check>' and
  'real_stage2_<check>' for the test images themselves box-filtered to each side (computed once). On a NAMED set
  (emoji_names: names, no attributes to check), 'stage1_fd' and 'stage2_fd' instead, beside 'real_stage1_fd' and
  'real_stage2_fd' (`fd_scores`). On the grammar's sets also which attributes each D checks: 'd<k>_real_own' and
  'd<k>_real_<check>_changed' (`discriminator_checks`). Both: 'stage2_minus_stage1_rms', the RMS difference
  between stage II's samples and stage I's upsampled (how much stage II changes).
  Pictures: 'stage1', 'stage2': `eval.grid_rows` captions, one row each with `eval.grid_rows` samples.
  """
  named = config.data.name in NAMED
  test = data.make_dataset(_with_split(config.data, config.eval.test_split)).host_arrays()
  total = test['tokens'].shape[0]
  num = min(config.eval.num_samples, total)
  # Spread evenly over the split (the captioned test splits are ordered by class: their first captions are zeros).
  chosen = np.linspace(0, total - 1, num).round().astype(int)
  tokens = jnp.asarray(test['tokens'][chosen])
  rows = min(config.eval.grid_rows, num)
  pictured = np.linspace(0, num - 1, rows).round().astype(int)  # Captions of every class.
  if named:
    vocabulary = caption_vocabulary(config)
    texts = [vocabulary.decode(t) for t in test['tokens'][chosen][pictured]]
  else:
    texts = [captions.caption(caption_source(config), captions.Attributes(*map(int, a)))
             for a in test['attributes'][chosen][pictured]]
  key = jax.random.fold_in(jax.random.key(config.seed), EVAL_STREAM)
  real_metrics, score = (fd_scores if named else checker_scores)(config, test, chosen, dataset)
  d_checks = None if named else discriminator_checks(config, to_unit_range(jnp.asarray(test['images'][chosen])),
                                                     np.asarray(test['attributes'][chosen]))

  def evaluate(state: TrainState):
    embedding = embed(state, tokens)
    low, high = draw(config, state, embedding, key)
    metrics = dict(real_metrics)
    grid_embedding = jnp.repeat(embedding[pictured], rows, axis=0)  # Row r: caption r, `rows` noises.
    grid_low, grid_high = draw(config, state, grid_embedding, jax.random.fold_in(key, 1))
    pictures = {'stage1': captioned_grid(grid_low.reshape(rows, rows, *grid_low.shape[1:]), texts)}
    stages = {'stage1': low}
    if high is not None:
      pictures['stage2'] = captioned_grid(grid_high.reshape(rows, rows, *grid_high.shape[1:]), texts)
      stages['stage2'] = high
      up = np.repeat(np.repeat(low, 2, axis=1), 2, axis=2)
      metrics['stage2_minus_stage1_rms'] = float(np.sqrt(np.mean((high - up) ** 2)))
    for name, images in stages.items():
      metrics.update({f'{name}_{k}': v for k, v in score(np.clip(images, -1.0, 1.0)).items()})
    if d_checks is not None:
      metrics.update(d_checks(state))
    return metrics, pictures

  return evaluate


FAMILY = Family(validate=validate_stackgan, create_state=create_stackgan_state,
                make_train_step=make_stackgan_train_step, make_evaluator=make_stackgan_evaluator,
                loss_names=('d_loss', 'g_loss'), stage_starts=stage_starts, next_stage=next_stage)
