"""The text encoder of text -> image GANs: token ids -> one embedding vector per caption.

StackGAN (Zhang et al. 2017) conditions on a fixed, pre-trained text embedding (Reed et al. 2016's char-CNN-RNN,
trained jointly with an image encoder so that matching captions and images embed close). This is its small
word-level counterpart: word embeddings, a width-3 convolution over neighbouring words (so that "red seven" and
"red background" differ), a bidirectional GRU over the caption's words, the mean over its words (padding masked)
and a linear projection.

Shipped encoders (`load_shipped(dataset)`): one per captioned set, trained by `evaluation/train_text_encoder.py`
(jointly with an image encoder, symmetric InfoNCE on cosine similarities: the embedding's direction is what was
trained, so consumers may L2-normalise it).

A trained encoder is a file pair like the classifiers': `x.npz` (the flattened parameters) and `x.json` (the
model's sizes, the vocabulary's words and fingerprint, the sha256 of the .npz and how it was trained). A
generator trained with one vocabulary reads another's ids as other words, so loading checks the fingerprint.
"""

import importlib.resources
import json
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.data.captions import PAD, Vocabulary
from gan_jax.evaluation.digits import info_path, load_params, save_params, sha256_of_file


class TextEncoder(nn.Module):
  """int32 token ids [B, L] (PAD = 0 after the words) -> float32 [B, features].

  Attributes:
    vocabulary_size: rows of the word embedding (`Vocabulary.size`).
    features: the embedding's size.
    width: the word vectors' and the GRU's width (per direction).
  """
  vocabulary_size: int
  features: int = 128
  width: int = 128

  @nn.compact
  def __call__(self, tokens: jax.Array) -> jax.Array:
    mask = (tokens != PAD).astype(jnp.float32)[..., None]
    lengths = jnp.maximum(mask[..., 0].sum(axis=1).astype(jnp.int32), 1)
    x = nn.Embed(self.vocabulary_size, self.width)(tokens)
    x = nn.relu(nn.Conv(self.width, (3,))(x)) * mask
    x = nn.Bidirectional(nn.RNN(nn.GRUCell(self.width)), nn.RNN(nn.GRUCell(self.width)))(x, seq_lengths=lengths)
    pooled = (x * mask).sum(axis=1) / jnp.maximum(mask.sum(axis=1), 1.0)
    return nn.Dense(self.features)(pooled)


def standardized(model: TextEncoder, params: Any, tokens: np.ndarray, chunk: int = 2048) -> Any:
  """`params` with the final projection rescaled so that the encoder's features over the captions `tokens` [N, L]
  have mean 0 and standard deviation 1 each: (e - mean) / std, folded into the last layer.

  A contrastively trained encoder fixes only its embedding's direction; its scale is arbitrary (the shipped ones'
  features have standard deviations near 0.06), and a consumer that adds unit noise to a projection of it, as
  StackGAN's conditioning augmentation does, starts with the caption buried in the noise.
  """
  encode = jax.jit(lambda p, t: model.apply({'params': p}, t))
  features = np.concatenate([np.asarray(encode(params, tokens[i:i + chunk]), np.float64)
                             for i in range(0, len(tokens), chunk)])
  mean, std = features.mean(axis=0), np.maximum(features.std(axis=0), 1e-6)
  dense = params['Dense_0']
  scaled = {'kernel': dense['kernel'] / std, 'bias': (dense['bias'] - mean) / std}
  return {**params, 'Dense_0': jax.tree.map(lambda new, old: jnp.asarray(new, old.dtype), scaled, dense)}


def save(path: str | os.PathLike, model: TextEncoder, params: Any, vocabulary: Vocabulary,
         training: dict | None = None) -> None:
  """Writes `path` (.npz) and the .json beside it; `training` records how the weights were made."""
  save_params(params, path)
  info = {'model': {'vocabulary_size': model.vocabulary_size, 'features': model.features, 'width': model.width},
          'vocabulary': {'words': list(vocabulary.words), 'fingerprint': vocabulary.fingerprint},
          'sha256': sha256_of_file(path), 'training': training or {}}
  with open(info_path(path), 'w') as f:
    json.dump(info, f, indent=1)


def load(path: str | os.PathLike, vocabulary: Vocabulary | None = None) -> tuple[TextEncoder, Any, Vocabulary]:
  """Loads an encoder written by `save`: (model, params, its vocabulary).

  Args:
    path: the .npz.
    vocabulary: if given, the vocabulary the caller's tokens use; it must be the encoder's.

  Raises:
    FileNotFoundError: the .npz or its .json is missing.
    ValueError: the .npz is not the one its .json describes, or `vocabulary` is not the encoder's.
  """
  with open(info_path(path)) as f:
    info = json.load(f)
  digest = sha256_of_file(path)
  if digest != info['sha256']:
    raise ValueError(f'{path}: sha256 {digest} differs from {info["sha256"]} recorded in {info_path(path)}')
  own = Vocabulary(tuple(info['vocabulary']['words']))
  if vocabulary is not None and vocabulary.fingerprint != own.fingerprint:
    raise ValueError(f'{path} was trained on vocabulary {own.fingerprint} ({own.size} ids); the captions here use '
                     f'{vocabulary.fingerprint} ({vocabulary.size} ids)')
  model = TextEncoder(**info['model'])
  return model, load_params(path), own


# The shipped encoders, in gan_jax/evaluation/weights/, by captioned dataset.
SHIPPED = {'captioned_mnist': 'captioned_mnist_text_encoder.npz',
           'captioned_fashion_mnist': 'captioned_fashion_mnist_text_encoder.npz',
           'emoji_names': 'emoji_names_text_encoder.npz'}


def load_shipped(dataset: str, vocabulary: Vocabulary | None = None) -> tuple[TextEncoder, Any, Vocabulary]:
  """The shipped encoder of a captioned dataset (a key of `SHIPPED`), as `load`.

  Raises:
    ValueError: an unknown dataset (naming the shipped ones), or as `load`.
  """
  if dataset not in SHIPPED:
    raise ValueError(f'no text encoder is shipped for {dataset!r}; shipped: {", ".join(SHIPPED)}')
  resource = importlib.resources.files('gan_jax.evaluation') / 'weights' / SHIPPED[dataset]
  with importlib.resources.as_file(resource) as local:
    return load(local, vocabulary)
