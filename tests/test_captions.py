"""The caption grammar and vocabulary of the captioned object sets."""

import itertools

import numpy as np
import pytest

from gan_jax.data import captions


@pytest.mark.parametrize('source', sorted(captions.CLASS_NAMES))
def test_every_caption_round_trips_through_the_vocabulary(source):
  vocabulary = captions.caption_vocabulary(source)
  longest = 0
  for label, colour, size, position in itertools.product(range(10), range(len(captions.COLOUR_NAMES)),
                                                         range(len(captions.SIZES)), range(len(captions.POSITIONS))):
    text = captions.caption(source, captions.Attributes(label, colour, (colour + 1) % 8, size, position))
    ids = vocabulary.encode(text)
    assert captions.UNKNOWN not in ids
    assert vocabulary.decode(ids) == text
    longest = max(longest, int((ids != captions.PAD).sum()))
  assert longest <= captions.MAX_TOKENS


@pytest.mark.parametrize('source', sorted(captions.CLASS_NAMES))
def test_all_captions_lists_every_attribute_combination_once(source):
  every = captions.all_captions(source)
  assert len(every) == len(set(every)) == 10 * 8 * 7 * 2 * 9
  assert captions.caption(source, captions.Attributes(9, 7, 6, 1, 8)) in every
  assert not any(f'{c} {captions.CLASS_NAMES[source][0]}' in t and t.endswith(f'a {c} background')
                 for t in every for c in captions.COLOUR_NAMES)  # Never one colour on itself.


@pytest.mark.parametrize('source', sorted(captions.CLASS_NAMES))
def test_the_token_table_holds_the_caption_of_every_attribute_combination(source):
  table = captions.token_table(source)
  counts = captions.attribute_counts(source)
  assert table.shape == (*counts, captions.MAX_TOKENS) == (10, 8, 8, 2, 9, 16) and table.dtype == np.int32
  vocabulary = captions.caption_vocabulary(source)
  for attributes in itertools.product(*map(range, counts)):
    assert vocabulary.decode(table[attributes]) == captions.caption(source, captions.Attributes(*attributes))


def test_standardized_encoder_features_have_zero_mean_and_unit_variance_and_keep_their_order():
  import jax
  from gan_jax.models import text_encoder
  vocabulary = captions.caption_vocabulary('mnist')
  model = text_encoder.TextEncoder(vocabulary.size, features=8, width=8)
  tokens = np.stack([vocabulary.encode(t) for t in captions.all_captions('mnist')[::7]])
  params = model.init(jax.random.key(0), tokens[:1])['params']
  before = np.asarray(model.apply({'params': params}, tokens), np.float64)
  after = np.asarray(model.apply({'params': text_encoder.standardized(model, params, tokens, chunk=500)}, tokens))
  np.testing.assert_allclose(after.mean(axis=0), 0.0, atol=1e-4)
  np.testing.assert_allclose(after.std(axis=0), 1.0, rtol=1e-4)
  np.testing.assert_allclose(after, (before - before.mean(axis=0)) / before.std(axis=0), atol=1e-4)


def test_caption_reads_as_written():
  text = captions.caption('mnist', captions.Attributes(label=7, colour=0, background=2, size=0, position=0))
  assert text == 'a small red seven at the top left on a blue background'


def test_unknown_words_encode_as_unknown_and_long_captions_are_refused():
  vocabulary = captions.caption_vocabulary('mnist')
  ids = vocabulary.encode('A purple Seven, at the top!', length=8)
  assert ids.tolist()[:6] == [vocabulary.encode('a')[0], captions.UNKNOWN, *vocabulary.encode('seven at the top')[:4]]
  assert np.all(ids[6:] == captions.PAD)
  with pytest.raises(ValueError, match='at most 3'):
    vocabulary.encode('a red seven at the top', length=3)


def test_fingerprint_tells_vocabularies_apart():
  mnist, fashion = captions.caption_vocabulary('mnist'), captions.caption_vocabulary('fashion_mnist')
  assert mnist.fingerprint != fashion.fingerprint
  assert mnist.fingerprint == captions.Vocabulary(mnist.words).fingerprint
  with pytest.raises(ValueError, match='repeated'):
    captions.Vocabulary(('a', 'b', 'a'))


def test_text_encoder_reads_word_order_and_ignores_padding(tmp_path):
  import jax
  from gan_jax.models import text_encoder
  vocabulary = captions.caption_vocabulary('mnist')
  model = text_encoder.TextEncoder(vocabulary.size, features=8, width=8)
  tokens = np.stack([vocabulary.encode('a red seven on a blue background'),
                     vocabulary.encode('a blue seven on a red background')])
  params = model.init(jax.random.key(0), tokens)['params']
  a, b = model.apply({'params': params}, tokens)
  assert np.abs(np.asarray(a - b)).max() > 1e-4  # The same words in another order embed elsewhere.
  longer = np.concatenate([tokens, np.zeros_like(tokens)], axis=1)  # More padding changes nothing.
  np.testing.assert_allclose(model.apply({'params': params}, longer), model.apply({'params': params}, tokens),
                             atol=1e-6)
  path = tmp_path / 'encoder.npz'
  text_encoder.save(path, model, params, vocabulary)
  loaded, loaded_params, own = text_encoder.load(path, vocabulary)
  assert own == vocabulary and loaded == model
  np.testing.assert_array_equal(loaded.apply({'params': loaded_params}, tokens), model.apply({'params': params}, tokens))
  with pytest.raises(ValueError, match='vocabulary'):
    text_encoder.load(path, captions.caption_vocabulary('fashion_mnist'))
