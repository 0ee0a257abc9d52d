"""A GAN's objectives as weighted sums of terms: pure functions registered by name, composed per player.

A term is `term(ctx: Context) -> scalar`: it reads D's outputs on the real and generated batches (and whatever else
the context holds) and returns a loss. `D_TERMS` and `G_TERMS` hold them by name; a `GANObjective` lists (term,
weight) pairs for each player, where a term is a registered name or any function of a `Context`. A new term (a
cycle loss, a reconstruction loss) is one `@d_term`/`@g_term` function here and one weight in the config
(`config.loss.d` / `config.loss.g`).

The objectives themselves are `discriminator_objective` and `generator_objective`; `steps.py` turns them into
updates. Both have the `update.Objective` form, `(state, batch) -> (loss, (state, metrics))`.
"""

import dataclasses
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp

from gan_jax import history, losses, mutual_information
from gan_jax import noise as noise_lib
from gan_jax.state import TrainState, discriminator_outputs, pack_inputs
from gan_jax.update import run
from gan_jax.unroll import unroll

Batch = dict[str, jax.Array]
Term = Callable[['Context'], jax.Array]

D_TERMS: dict[str, Term] = {}
G_TERMS: dict[str, Term] = {}


def d_term(name: str):
  """Registers a discriminator term under `name`."""
  def register(fn: Term) -> Term:
    D_TERMS[name] = fn
    return fn
  return register


def g_term(name: str):
  """Registers a generator term under `name`."""
  def register(fn: Term) -> Term:
    G_TERMS[name] = fn
    return fn
  return register


@dataclasses.dataclass(frozen=True)
class GANObjective:
  """What each player minimises: weighted terms, and the options of the adversarial term.

  Attributes:
    d_terms: (term, weight) pairs of D's loss; a term is a name in `D_TERMS` or a function of a `Context`.
    g_terms: the same for G (`G_TERMS`).
    loss: the adversarial pair's name (`losses.LOSSES`).
    label_smoothing: one-sided label smoothing of the adversarial pair (minimax, non_saturating).
    feature_layer: the hidden layer of D that feature matching matches (-1: the last).
  """
  d_terms: tuple[tuple[str | Term, float], ...] = (('adversarial', 1.0),)
  g_terms: tuple[tuple[str | Term, float], ...] = (('adversarial', 1.0),)
  loss: str = 'non_saturating'
  label_smoothing: float = 0.0
  feature_layer: int = -1

  @property
  def pair(self):
    return losses.adversarial_pair(self.loss, self.label_smoothing)


@dataclasses.dataclass(frozen=True)
class Context:
  """What a term sees. Arrays are traced: a term's value is differentiable in the player's parameters.

  Attributes:
    state: the training state, holding the parameters being differentiated.
    batch: real examples 'x' (labels 'y'), G's noise ('z', 'fake_y', codes), 'eps' for the gradient penalty; for an
      image-to-image translation (pix2pix) the input images 'source' and their paired targets 'x'.
    fake: G's samples (a translation: G's outputs for `batch['source']`).
    real_out, fake_out: D's outputs (dicts, see `state.DISCRIMINATOR_CONTRACT`) on `batch['x']` and on `fake`; a
      PatchGAN's 'logits' are one per patch, [B, H', W', 1], which the adversarial losses average like a batch's.
    d_params: the D parameters those outputs came from (unrolled ones in an unrolled G objective).
    objective: the objective's options.
    labelled_out: D's outputs on the semi-supervised GAN's labelled batch, when the batch has one.
  """
  state: TrainState
  batch: Batch
  fake: jax.Array
  real_out: dict[str, Any]
  fake_out: dict[str, Any]
  d_params: Any
  objective: GANObjective
  labelled_out: dict[str, Any] | None = None

  def critic(self, y: jax.Array | None = None) -> Callable[[jax.Array], jax.Array]:
    """x -> D's logits at `d_params` (batch statistics of the state, which a penalty must not advance)."""
    return lambda x: discriminate(self.state, x, y, params=self.d_params)[0]['logits']


def output(outputs: Mapping[str, Any] | None, key: str, term: str) -> jax.Array:
  """D's output `key`, or an error naming the term that needs it."""
  if outputs is None or key not in outputs:
    have = sorted(outputs) if outputs is not None else 'nothing (no labelled batch)'
    raise ValueError(f'objective term {term!r} needs the discriminator output {key!r}; it returned {have}')
  return outputs[key]


# Discriminator terms.


@d_term('adversarial')
def d_adversarial(ctx: Context) -> jax.Array:
  """The adversarial pair's D loss (`GANObjective.loss`)."""
  return ctx.objective.pair[0](ctx.real_out['logits'], ctx.fake_out['logits'])


@d_term('gradient_penalty')
def gradient_penalty(ctx: Context) -> jax.Array:
  """WGAN-GP's penalty at interpolates of real and fake (weight: its lambda, 10 in the paper).

  With packing, the interpolates lie on segments between packed real and packed fake inputs: one weight per packed
  input, the first of its examples' weights.
  """
  eps, m = ctx.batch['eps'], ctx.state.pack
  if m > 1:
    eps = jnp.repeat(eps[::m], m)
  return losses.gradient_penalty(ctx.critic(ctx.batch.get('y')), ctx.batch['x'], ctx.fake, eps)


@d_term('r1')
def r1(ctx: Context) -> jax.Array:
  """R1 (Mescheder et al. 2018): 1/2 E||grad D(x)||^2 on real data (weight: gamma)."""
  return losses.gradient_norm_penalty(ctx.critic(ctx.batch.get('y')), ctx.batch['x'])


@d_term('r2')
def r2(ctx: Context) -> jax.Array:
  """R2: the same on generated samples (weight: gamma)."""
  return losses.gradient_norm_penalty(ctx.critic(ctx.batch.get('fake_y')), ctx.fake)


@d_term('aux_classifier')
def d_aux_classifier(ctx: Context) -> jax.Array:
  """AC-GAN: D's class loss on real examples and on fakes (for the classes they were drawn for)."""
  return (losses.classification_loss(output(ctx.real_out, 'class_logits', 'aux_classifier'), ctx.batch['y'])
          + losses.classification_loss(output(ctx.fake_out, 'class_logits', 'aux_classifier'),
                                       ctx.batch['fake_y']))


@d_term('info_categorical')
@g_term('info_categorical')
def info_categorical(ctx: Context) -> jax.Array:
  """InfoGAN: -E log Q(c | G(z, c)) for the categorical code; both players minimise it (weight: lambda)."""
  return mutual_information.categorical_code_nll(output(ctx.fake_out, 'code_logits', 'info_categorical'),
                                                 ctx.batch['code_cat'])


@d_term('info_continuous')
@g_term('info_continuous')
def info_continuous(ctx: Context) -> jax.Array:
  """InfoGAN: the same for the continuous codes (fixed unit variance)."""
  return mutual_information.gaussian_code_nll(output(ctx.fake_out, 'code_mean', 'info_continuous'),
                                              ctx.batch['code_cont'])


@d_term('supervised')
def supervised(ctx: Context) -> jax.Array:
  """Semi-supervised GAN: D's class loss on the labelled batch ('labelled_x', 'labelled_y')."""
  return losses.classification_loss(output(ctx.labelled_out, 'class_logits', 'supervised'),
                                    ctx.batch['labelled_y'])


@d_term('drift')
def drift(ctx: Context) -> jax.Array:
  """Progressive GAN's drift penalty (Karras et al. 2018): E[D(x)^2] on real data, which keeps a Wasserstein
  critic's values from drifting far from 0 (weight: epsilon_drift, 1e-3 in the paper)."""
  return jnp.mean(jnp.square(ctx.real_out['logits']))


@d_term('matching_aware')
def matching_aware(ctx: Context) -> jax.Array:
  """StackGAN's matching-aware D (text -> image): real images with their text real, generated images and real
  images with a mismatched text (`real_out['mismatched_logits']`) fake, 1/2 each (`losses.
  matching_aware_discriminator_loss`)."""
  return losses.matching_aware_discriminator_loss(
      ctx.real_out['logits'], ctx.fake_out['logits'], output(ctx.real_out, 'mismatched_logits', 'matching_aware'))


@d_term('historical_averaging')
def d_historical_averaging(ctx: Context) -> jax.Array:
  """||theta_D - mean of past theta_D||^2 (Salimans et al. 2016)."""
  return history.averaging_penalty(ctx.d_params, _average(ctx.state, 'd'))


# Generator terms.


@g_term('adversarial')
def g_adversarial(ctx: Context) -> jax.Array:
  """The adversarial pair's G loss."""
  return ctx.objective.pair[1](ctx.real_out['logits'], ctx.fake_out['logits'])


@g_term('feature_matching')
def feature_matching(ctx: Context) -> jax.Array:
  """Salimans et al. 2016: match the batch means of D's hidden layer `feature_layer`."""
  layer = ctx.objective.feature_layer
  return losses.feature_matching_loss(output(ctx.real_out, 'hidden', 'feature_matching')[layer],
                                      output(ctx.fake_out, 'hidden', 'feature_matching')[layer])


@g_term('aux_classifier')
def g_aux_classifier(ctx: Context) -> jax.Array:
  """AC-GAN: G's samples should be classified as the classes they were drawn for."""
  return losses.classification_loss(output(ctx.fake_out, 'class_logits', 'aux_classifier'), ctx.batch['fake_y'])


@g_term('l1')
def l1(ctx: Context) -> jax.Array:
  """pix2pix's reconstruction term: the mean absolute difference between G's outputs and their paired targets
  `batch['x']` (weight: lambda, 100 in Isola et al. 2017). Needs paired data: G's output for an input must have a
  target to be compared with."""
  return jnp.mean(jnp.abs(ctx.batch['x'] - ctx.fake))


@g_term('mse')
def mse(ctx: Context) -> jax.Array:
  """SRResNet's content loss (Ledig et al. 2017, eq. 4): the mean squared difference between G's outputs and their
  paired targets `batch['x']` (on [-1, 1] pixels, as the paper)."""
  return jnp.mean((ctx.batch['x'] - ctx.fake)**2)


def feature_mse(features: Callable[[jax.Array], jax.Array], scale: float = 1.0) -> Term:
  """A content term in a fixed feature space: mean (scale * (features(G's outputs) - features(targets)))^2, the
  targets `batch['x']`. SRGAN's VGG losses (Ledig et al. 2017, eq. 5) are this with VGG19's features at a layer and
  scale 1/12.75; `features` is a closed-over network (not trained), so the term is built by the family that loads
  it rather than registered by name."""
  def content(ctx: Context) -> jax.Array:
    target = jax.lax.stop_gradient(features(ctx.batch['x']))
    return jnp.mean((scale * (features(ctx.fake) - target))**2)
  return content


@g_term('kl')
def kl(ctx: Context) -> jax.Array:
  """StackGAN's conditioning-augmentation regulariser: KL(N(mu, sigma^2) || N(0, I)) of the conditioning Gaussians
  G drew its samples from (`batch['ca_mu']`, `batch['ca_log_sigma']`), averaged over the batch and the dimensions
  (weight: the paper's lambda, 1)."""
  return losses.kl_to_standard_normal(ctx.batch['ca_mu'], ctx.batch['ca_log_sigma'])


@g_term('historical_averaging')
def g_historical_averaging(ctx: Context) -> jax.Array:
  """||theta_G - mean of past theta_G||^2."""
  return history.averaging_penalty(ctx.state.nets['g'].params, _average(ctx.state, 'g'))


def _average(state: TrainState, name: str):
  average = state.nets[name].average
  if not average:
    raise ValueError(f"objective term 'historical_averaging': network {name!r} keeps no running average; create "
                     'it with keep_average=True (create_gan(..., historical_averaging=True))')
  return average


def combine(terms: Sequence[tuple[str | Term, float]], registry: Mapping[str, Term], ctx: Context,
            player: str) -> tuple[jax.Array, dict[str, jax.Array]]:
  """sum(weight * term(ctx)) over the terms with a non-zero weight; returns (loss, each term's value)."""
  value, metrics = 0.0, {}
  for term, weight in terms:
    if not weight:
      continue
    fn = registry[term] if isinstance(term, str) else term
    name = term if isinstance(term, str) else getattr(term, '__name__', 'term')
    term_value = fn(ctx)
    metrics[f'{player}_term_{name}'] = term_value
    value = value + (term_value if weight == 1.0 else weight * term_value)
  if len(metrics) < 2:  # One term: it is the player's loss, already logged.
    metrics = {}
  return value, metrics


# The objectives.


def with_reference(apply_fn, reference: jax.Array | None, inputs: jax.Array, labels=None):
  """`apply_fn(inputs, labels)` with virtual batch norm's reference rows prepended, their outputs dropped.

  `labels` is None or a pair (reference labels, batch labels). Returns (outputs, state) as `apply_fn` does.
  """
  if reference is None:
    return apply_fn(inputs, None if labels is None else labels[1])
  size = reference.shape[0]
  joined = None if labels is None else jnp.concatenate(labels)
  outputs, state = apply_fn(jnp.concatenate([reference, inputs]), joined)
  return jax.tree.map(lambda a: a[size:], outputs), state


def generate(state: TrainState, batch: Batch, *, params=None, train: bool = True) -> tuple[jax.Array, TrainState]:
  """G's samples for the noise in `batch`; returns (samples, the state with G's batch stats advanced)."""
  inputs = noise_lib.generator_input(batch, state.noise)
  reference = state.extras.get('reference', {}).get('noise')
  if reference is not None:
    reference = noise_lib.generator_input(reference, state.noise)
  apply_fn = lambda x, _: run(state, 'g', x, params=params, train=train)
  return with_reference(apply_fn, reference, inputs)


def discriminate(state: TrainState, x: jax.Array, y: jax.Array | None, *, params=None,
                 train: bool = True) -> tuple[dict[str, Any], TrainState]:
  """D's outputs (a dict with 'logits') on `x` with labels `y`; returns (outputs, state with D's stats advanced).

  With packing (`state.pack` m > 1) D sees `pack_inputs(x, m)` and returns one output per m examples; labels are
  not passed (validation refuses packing with anything that reads them).
  """
  if state.pack > 1:
    x, y = pack_inputs(x, state.pack), None
  reference = state.extras.get('reference', {})
  labels = None if y is None else (reference.get('y'), y)

  def apply_fn(x, y):
    outputs, after = run(state, 'd', x, params=params, train=train, y=y)
    return discriminator_outputs(outputs, x.shape[0]), after

  return with_reference(apply_fn, reference.get('x'), x, labels)


def discriminate_both(state: TrainState, batch: Batch, fake: jax.Array, *, params=None):
  """D on the real batch and on `fake` as two separate batches (separate batch-norm statistics, as in DCGAN).

  Returns:
    (outputs on real, outputs on fake, state with D's batch stats advanced by both calls).
  """
  real_out, state = discriminate(state, batch['x'], batch.get('y'), params=params)
  fake_out, state = discriminate(state, fake, batch.get('fake_y'), params=params)
  return real_out, fake_out, state


def discriminator_objective(state: TrainState, batch: Batch, fake: jax.Array, objective: GANObjective):
  """D's loss on real `batch['x']` and `fake`: the weighted sum of `objective.d_terms`.

  Returns:
    (loss, (state with D's batch stats advanced, the terms' values)).
  """
  given = state  # Penalties run D with the statistics it came in with.
  real_out, fake_out, state = discriminate_both(state, batch, fake)
  labelled_out = None
  if 'labelled_x' in batch:
    labelled_out, state = discriminate(state, batch['labelled_x'], None)
  ctx = Context(given, batch, fake, real_out, fake_out, given.nets['d'].params, objective, labelled_out)
  value, metrics = combine(objective.d_terms, D_TERMS, ctx, 'd')
  return value, (state, metrics)


def generator_objective(state: TrainState, batch: Batch, objective: GANObjective, unroll_steps: int = 0,
                        second_order: bool = True, remat: bool = False):
  """G's loss against D unrolled `unroll_steps` updates ahead: the weighted sum of `objective.g_terms`.

  The unrolled updates use D's own optimizer and objective on `batch` and are thrown away afterwards. With
  `second_order=False` the samples enter the unroll through `stop_gradient`, which leaves only the gradient at the
  unrolled parameters (the paper's cheap approximation). `unroll_steps=0` is the ordinary GAN.

  Returns:
    (loss, (state with G's batch stats advanced, the terms' values)).
  """
  fake, state = generate(state, batch)
  fake_in_unroll = fake if second_order else jax.lax.stop_gradient(fake)

  def unrolled_loss(params):
    return discriminator_objective(state.with_params(params), batch, fake_in_unroll, objective)[0]

  d_params = unroll(unrolled_loss, {'d': state.nets['d']}, unroll_steps, remat=remat)['d']
  real_out, fake_out, _ = discriminate_both(state, batch, fake, params=d_params)  # D's statistics stay put.
  ctx = Context(state, batch, fake, real_out, fake_out, d_params, objective)
  value, metrics = combine(objective.g_terms, G_TERMS, ctx, 'g')
  return value, (state, metrics)


def objective_from_config(config) -> GANObjective:
  """The experiment's objective: the terms of `config.loss.d` and `config.loss.g` with non-zero weights."""
  c = config.loss
  return GANObjective(d_terms=tuple((n, float(w)) for n, w in c.d.items() if w),
                      g_terms=tuple((n, float(w)) for n, w in c.g.items() if w),
                      loss=c.name, label_smoothing=c.label_smoothing, feature_layer=c.feature_layer)


def check_terms(loss_config) -> None:
  """Raises ValueError naming the field when `config.loss.d`/`.g` has an unknown term or a negative weight."""
  for player, registry in (('d', D_TERMS), ('g', G_TERMS)):
    for name, weight in loss_config[player].items():
      if name not in registry:
        raise ValueError(f'config.loss.{player}.{name}: no such {player.upper()} term; accepted: '
                         f'{", ".join(sorted(registry))}')
      if not isinstance(weight, (int, float)) or weight < 0:
        raise ValueError(f'config.loss.{player}.{name}: got {weight!r}; a weight must be a number >= 0')
