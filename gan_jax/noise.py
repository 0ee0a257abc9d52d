"""What a generator is fed: the latent z and, for conditional and InfoGAN models, class labels and latent codes.

G's input vector is the concatenation [z, one_hot(y), one_hot(c_cat), c_cont]. A one-hot label into G's first dense
layer is a learnt class embedding added to W z (the first layer's weights on the one-hot part are the embedding
table), so the conditional generator needs no separate embedding.
"""

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections

from gan_jax.config import choice, int_at_least

LATENT_DISTRIBUTIONS = ('normal', 'uniform')


@dataclasses.dataclass(frozen=True)
class NoiseSpec:
  """The parts of G's input; static, so it is part of the compiled step."""
  latent_dim: int
  latent_dist: str = 'normal'
  num_classes: int = 0  # > 0: G is conditioned on a class label (conditional GAN, AC-GAN).
  info_categories: int = 0  # InfoGAN: categories of the categorical code (0: none).
  info_continuous: int = 0  # InfoGAN: continuous codes, each U(-1, 1).

  @property
  def input_dim(self) -> int:
    return self.latent_dim + self.num_classes + self.info_categories + self.info_continuous


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks the latent fields of the `config.gen` section: `latent_dist` and `latent_dim`.

  Raises:
    ConfigError: naming the field, the value and the accepted values.
  """
  choice(config.latent_dist, 'gen.latent_dist', LATENT_DISTRIBUTIONS)
  int_at_least(config.latent_dim, 'gen.latent_dim')


def sample_latents(key: jax.Array, num: int, dim: int, distribution: str) -> jax.Array:
  """Draws `num` latents: N(0, I), or U(-1, 1) per coordinate."""
  if distribution == 'uniform':
    return jax.random.uniform(key, (num, dim), minval=-1.0, maxval=1.0)
  return jax.random.normal(key, (num, dim))


def sample_noise(key: jax.Array, num: int, spec: NoiseSpec) -> dict[str, jax.Array]:
  """`num` draws of everything G takes: 'z', and 'fake_y', 'code_cat', 'code_cont' when the spec has them.

  Labels and categorical codes are uniform over their values; z comes from the key itself, so an unconditional
  model draws the same latents as before labels existed.
  """
  noise = {'z': sample_latents(key, num, spec.latent_dim, spec.latent_dist)}
  if spec.num_classes:
    noise['fake_y'] = jax.random.randint(jax.random.fold_in(key, 2), (num,), 0, spec.num_classes)
  if spec.info_categories:
    noise['code_cat'] = jax.random.randint(jax.random.fold_in(key, 3), (num,), 0, spec.info_categories)
  if spec.info_continuous:
    noise['code_cont'] = jax.random.uniform(jax.random.fold_in(key, 4), (num, spec.info_continuous), minval=-1.0,
                                            maxval=1.0)
  return noise


def generator_input(noise: dict[str, jax.Array], spec: NoiseSpec) -> jax.Array:
  """G's input vector [B, spec.input_dim] from a dict of `sample_noise`'s form."""
  parts = [noise['z']]
  if spec.num_classes:
    parts.append(jax.nn.one_hot(noise['fake_y'], spec.num_classes, dtype=noise['z'].dtype))
  if spec.info_categories:
    parts.append(jax.nn.one_hot(noise['code_cat'], spec.info_categories, dtype=noise['z'].dtype))
  if spec.info_continuous:
    parts.append(noise['code_cont'].astype(noise['z'].dtype))
  return jnp.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
