"""The text encoder's joint training with an image encoder (symmetric InfoNCE) and the shipped encoders."""

import numpy as np
import pytest

from gan_jax.data import captioned_builder, captions


def test_matching_loss_is_the_two_way_cross_entropy():
  import jax
  from gan_jax.evaluation import train_text_encoder
  rng = np.random.default_rng(0)
  text, image = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
  t = text / np.linalg.norm(text, axis=1, keepdims=True)
  i = image / np.linalg.norm(image, axis=1, keepdims=True)
  expected = 0.0
  for a in range(5):  # Caption a among the 5 images, and image a among the 5 captions.
    by_caption = np.array([t[a] @ i[b] for b in range(5)]) / 0.5
    by_image = np.array([t[b] @ i[a] for b in range(5)]) / 0.5
    expected += (np.log(np.exp(by_caption).sum()) - by_caption[a]) + (np.log(np.exp(by_image).sum()) - by_image[a])
  got = train_text_encoder.matching_loss(jax.numpy.asarray(text), jax.numpy.asarray(image), 0.5)
  np.testing.assert_allclose(got, expected / 10, rtol=1e-5)
  # Hard negatives join the image -> caption softmax only.
  negatives = rng.normal(size=(5, 2, 3))
  n = negatives / np.linalg.norm(negatives, axis=-1, keepdims=True)
  expected = 0.0
  for a in range(5):
    by_caption = np.array([t[a] @ i[b] for b in range(5)]) / 0.5
    by_image = np.array([t[b] @ i[a] for b in range(5)] + [n[a, k] @ i[a] for k in range(2)]) / 0.5
    expected += (np.log(np.exp(by_caption).sum()) - by_caption[a]) + (np.log(np.exp(by_image).sum()) - by_image[a])
  got = train_text_encoder.matching_loss(jax.numpy.asarray(text), jax.numpy.asarray(image), 0.5,
                                         jax.numpy.asarray(negatives))
  np.testing.assert_allclose(got, expected / 10, rtol=1e-5)


def test_hard_negatives_are_captions_one_attribute_away():
  import jax
  from gan_jax.evaluation import train_text_encoder as tte
  source = 'fashion_mnist'
  table = tte.caption_table(source)
  vocabulary = captions.caption_vocabulary(source)
  rng = np.random.default_rng(1)
  colour = rng.integers(8, size=64)
  attributes = np.stack([rng.integers(10, size=64), colour, (colour + 1 + rng.integers(7, size=64)) % 8,
                         rng.integers(2, size=64), rng.integers(9, size=64)], axis=1).astype(np.int32)
  for row in attributes[:5]:
    np.testing.assert_array_equal(table[tte.caption_index(row, source)],
                                  vocabulary.encode(captions.caption(source, captions.Attributes(*row.tolist()))))
  away = np.asarray(tte.one_attribute_away(jax.random.key(0), jax.numpy.asarray(attributes), source))
  assert away.shape == (64, 13, 5)
  for k, column in enumerate([0] * 9 + [1, 2, 3, 4]):
    differs = away[:, k] != attributes
    assert np.all(differs[:, column]) and not np.any(np.delete(differs, column, axis=1))
  np.testing.assert_array_equal(np.sort(away[:, :9, 0], axis=1),  # Every other class once.
                                [[c for c in range(10) if c != label] for label in attributes[:, 0]])
  assert np.all(away[..., 1] != away[..., 2])  # Never an object on its own colour.
  assert len(np.unique(away[:, 9, 1])) >= 6  # Other colours drawn at random, not one fixed shift.


def test_retrieval_counts_identical_captions_as_right():
  from gan_jax.evaluation import train_text_encoder
  tokens = np.array([[2, 3], [2, 4], [2, 3], [5, 6]], np.int32)  # Pairs 0 and 2 have the same caption.
  image = np.eye(4, dtype=np.float32)
  text = image[[2, 1, 0, 1]]  # Caption 0 nearest image 2 (same caption: right); caption 3 nearest image 1: wrong.
  result = train_text_encoder.retrieval_accuracy(text, image, tokens, group=4)
  assert result == {'caption_to_image': 0.75, 'image_to_caption': 0.75, 'chance': 0.25}
  assert train_text_encoder.retrieval_accuracy(image, image, tokens, group=2)['caption_to_image'] == 1.0


def _pairs(num: int, seed: int):
  """`num` captioned images of a bar drawn with random attributes, their token ids and attributes."""
  grey = np.zeros((28, 28), np.uint8)
  grey[4:24, 11:17] = 255
  rng = np.random.default_rng(seed)
  vocabulary = captions.caption_vocabulary('mnist')
  images, tokens, rows = [], [], []
  for _ in range(num):
    colour = int(rng.integers(8))
    a = captions.Attributes(int(rng.integers(10)), colour, (colour + 1 + int(rng.integers(7))) % 8,
                            int(rng.integers(2)), int(rng.integers(9)))
    images.append(captioned_builder.compose(grey, a))
    tokens.append(vocabulary.encode(captions.caption('mnist', a)))
    rows.append([a.label, a.colour, a.background, a.size, a.position])
  return np.stack(images), np.stack(tokens), np.array(rows, np.int32)


def test_a_short_training_lowers_the_loss_and_retrieves_above_chance():
  from gan_jax.evaluation import train_text_encoder
  from gan_jax.models import text_encoder
  images, tokens, attributes = _pairs(32, seed=0)
  vocabulary = captions.caption_vocabulary('mnist')
  text_model = text_encoder.TextEncoder(vocabulary.size, features=16, width=16)
  image_model = train_text_encoder.image_encoder(16)
  text_params, image_params, losses = train_text_encoder.train(tokens, images, text_model, image_model, seed=0,
                                                               train_steps=40, batch_size=16, learning_rate=3e-3,
                                                               temperature=0.1, attributes=attributes,
                                                               source='mnist')
  assert len(losses) == 40 and np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5]), losses
  retrieval = train_text_encoder.retrieval_accuracy(train_text_encoder.embed(text_model, text_params, tokens),
                                                    train_text_encoder.embed(image_model, image_params, images),
                                                    tokens, group=32)
  assert retrieval['caption_to_image'] >= 4 * retrieval['chance'], retrieval
  assert retrieval['image_to_caption'] >= 4 * retrieval['chance'], retrieval


@pytest.mark.parametrize('dataset', ['captioned_mnist', 'captioned_fashion_mnist'])
def test_shipped_encoder_loads_and_tells_colours_apart(dataset):
  import importlib.resources
  import json
  from gan_jax.models import text_encoder
  source = captioned_builder.SOURCES[dataset]
  vocabulary = captions.caption_vocabulary(source)
  model, params, own = text_encoder.load_shipped(dataset, vocabulary)
  assert own == vocabulary and model.features == 128 and model.width <= 128
  weights = importlib.resources.files('gan_jax.evaluation') / 'weights' / text_encoder.SHIPPED[dataset]
  assert weights.stat().st_size < 1 << 20
  with open(text_encoder.info_path(weights)) as f:
    training = json.load(f)['training']
  assert training['dataset'] == dataset and training['retrieval_test']['caption_to_image'] > 0.5
  name, other = captions.CLASS_NAMES[source][3], captions.CLASS_NAMES[source][7]
  texts = [f'a small red {name} at the top on a blue background',
           f'a small green {name} at the top on a blue background',  # Another object colour,
           f'a small red {other} at the top on a blue background',  # another class,
           f'a small red {name} at the top on a blue background purple']  # an unknown word more.
  embedding = np.asarray(model.apply({'params': params}, np.stack([vocabulary.encode(t) for t in texts])))
  assert np.all(np.isfinite(embedding))
  unit = embedding / np.linalg.norm(embedding, axis=1, keepdims=True)
  cosine = unit[0] @ unit.T
  assert cosine[1] < 0.9 and cosine[2] < 0.9, cosine  # One word apart, colour or class: elsewhere.
  assert cosine[3] > 0.9, cosine  # An unknown word is read, not refused, and changes little.
  with pytest.raises(ValueError, match='vocabulary'):
    text_encoder.load_shipped(dataset, captions.caption_vocabulary('fashion_mnist' if source == 'mnist' else 'mnist'))
  with pytest.raises(ValueError, match='captioned_mnist'):
    text_encoder.load_shipped('captioned_cifar')
