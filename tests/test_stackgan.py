"""StackGAN: the conditioning augmentation's KL against the closed form of two Gaussians and its gradient through the
reparameterisation against finite differences, the matching-aware loss against a hand computation, the two-stage
schedule (stage II leaves stage I's networks bit for bit; stage I alone), the text encoder's vocabulary refused when
it does not match (at validation and on resume), captions with unknown words drawn, and a smoke run end to end on a
small synthetic captioned set held in memory (the shape of the captioned datasets' batches)."""

import dataclasses
import json
import os

import jax
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


def tiny_config(tmp_path, **stackgan_fields):
  """The smoke variant on `tiny_captioned` with a random encoder in tmp_path."""
  config = load(os.path.join(ROOT, 'experiments', 'stackgan_mnist.py')).get_config('smoke')
  config.data.name = 'tiny_captioned'
  config.stackgan.text_encoder = write_encoder(tmp_path / 'encoder.npz')
  for field, value in stackgan_fields.items():
    config.stackgan[field] = value
  return config


def test_smoke_run(tmp_path, captioned):
  config = tiny_config(tmp_path)
  metrics = train_and_evaluate(config, str(tmp_path / 'run'))
  print(metrics)
  print(sorted(os.listdir(tmp_path / 'run' / 'plots')))
