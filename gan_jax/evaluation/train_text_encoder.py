r"""Trains StackGAN's text encoder (`models/text_encoder.py`) on a captioned set and writes it with `text_encoder.save`.

  python -m gan_jax.evaluation.train_text_encoder --dataset captioned_mnist --data_dir DIR \
      --out gan_jax/evaluation/weights/captioned_mnist_text_encoder.npz

StackGAN conditions on a pre-trained caption embedding (Reed et al. 2016's char-CNN-RNN, trained jointly with an
image encoder so that a caption and its image embed close). Here the word-level `TextEncoder` is trained jointly
with a small image encoder (the shipped classifiers' network, `digits.DigitClassifier`, with `features` outputs) by
a symmetric InfoNCE loss (CLIP's, Radford et al. 2021): in a batch of B pairs, each image's caption is to be picked
out of the B captions and each caption's image out of the B images, by softmax over cosine similarities / T.
Reed et al.'s symmetric structured joint embedding is the same two-way matching with a hinge over *classes*
(captions pooled per bird species); here almost every caption is its own class (10 x 8 x 7 x 2 x 9 = 10,080
attribute combinations), so matching per example, against the batch, is the form that fits, and InfoNCE's softmax
gives every negative a gradient where a hinge stops at its margin. Only the text encoder is kept: its embedding's
direction carries the match (the loss normalises), so a consumer may L2-normalise it.

Hard negatives from the grammar: with batch negatives alone, an image's caption is told apart from the others by
colours and position, which almost always differ within a batch, and the class, which is harder to see, is barely
learnt (first run on captioned_mnist: the embeddings of '... red three ...' and '... red seven ...' had cosine
0.99, while test retrieval among 100 was 0.99). So on the object sets each image also has to pick its caption over
captions that differ from it in one attribute: all 9 other classes (one such negative per image reached only 56 %
on the class test below), and one other object colour, background, size and position drawn per step: the image ->
caption softmax runs over the B batch captions and these 13.

Reported in the .json: the loss over training, the retrieval accuracy on the test split, top-1 among groups of
100 consecutive examples (image -> caption and caption -> image; a retrieved example with the same caption as the
right one counts as right), and per attribute, how often a test image's own caption is the most similar among all
captions that differ from it in that attribute only (10 classes, 7 colours, 7 backgrounds, 2 sizes, 9 positions).
"""

import functools
import os
import time

from absl import app, flags, logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.data import captions
from gan_jax.data.captioned_builder import ATTRIBUTE_NAMES
from gan_jax.data.in_memory import epoch_indices, to_unit_range
from gan_jax.evaluation import digits
from gan_jax.models import text_encoder

FORMAT_VERSION = 1
RETRIEVAL_GROUP = 100
IMAGE_CONV_FEATURES = (32, 64, 64)  # Strided 3x3 convolutions: 64 -> 32 -> 16 -> 8.

FLAGS = flags.FLAGS


def attribute_cardinalities(source: str) -> tuple[int, ...]:
  """The number of values of each attribute column (label, colour, background, size, position)."""
  return (len(captions.CLASS_NAMES[source]), len(captions.COLOUR_NAMES), len(captions.COLOUR_NAMES),
          len(captions.SIZES), len(captions.POSITIONS))


def caption_index(attributes, source: str):
  """The index of each attribute row [..., 5] in `caption_table`'s rows (mixed radix; numpy or jax)."""
  index = 0
  for column, cardinality in enumerate(attribute_cardinalities(source)):
    index = index * cardinality + attributes[..., column]
  return index


def caption_table(source: str) -> np.ndarray:
  """int32 [C, MAX_TOKENS]: the token ids of the caption of every attribute combination, in `caption_index` order
  (combinations with background == colour included, never used)."""
  vocabulary = captions.caption_vocabulary(source)
  combos = np.stack(np.meshgrid(*[np.arange(c) for c in attribute_cardinalities(source)], indexing='ij'),
                    axis=-1).reshape(-1, len(ATTRIBUTE_NAMES))
  return np.stack([vocabulary.encode(captions.caption(source, captions.Attributes(*map(int, row))))
                   for row in combos]).astype(np.int32)


def one_attribute_away(key: jax.Array, attributes: jax.Array, source: str) -> jax.Array:
  """int32 [B, K, 5]: per attribute row, K = C + 3 rows that differ from it in one column only: the C - 1 other
  classes (C = the source's classes), then one random other value of the object colour, the background, the size
  and the position (a colour never equals the background)."""
  cardinalities = attribute_cardinalities(source)
  classes = (attributes[:, :1] + jnp.arange(1, cardinalities[0])[None]) % cardinalities[0]  # [B, C - 1]
  variants = [jnp.repeat(attributes[:, None], cardinalities[0] - 1, axis=1).at[:, :, 0].set(classes)]
  keys = jax.random.split(key, len(ATTRIBUTE_NAMES))
  for column in range(1, len(ATTRIBUTE_NAMES)):
    values = jnp.arange(cardinalities[column])
    forbidden = values[None] == attributes[:, column:column + 1]
    if column in (1, 2):  # Colour and background stay different.
      forbidden |= values[None] == attributes[:, 3 - column:4 - column]
    value = jax.random.categorical(keys[column], jnp.where(forbidden, -jnp.inf, 0.0))
    variants.append(attributes.at[:, column].set(value.astype(attributes.dtype))[:, None])
  return jnp.concatenate(variants, axis=1)


def image_encoder(features: int) -> digits.DigitClassifier:
  """images [B, 64, 64, 3] in [-1, 1] -> (embedding [B, features], hidden features): the classifiers' network."""
  return digits.DigitClassifier(conv_features=IMAGE_CONV_FEATURES, feature_dim=features, num_classes=features)


def normalize(x: jax.Array) -> jax.Array:
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-6)


def matching_loss(text: jax.Array, image: jax.Array, temperature: float,
                  negatives: jax.Array | None = None) -> jax.Array:
  """Symmetric InfoNCE: the mean of the caption -> image and image -> caption cross-entropies over the batch.

  Args:
    text: [B, F] caption embeddings; image: [B, F] image embeddings, row i of each from pair i.
    temperature: T, dividing the cosine similarities.
    negatives: optional [B, K, F] embeddings of K more captions per image, wrong for it (hard negatives): image
      i's caption is picked out of the B batch captions and its K negatives.
  """
  text, image = normalize(text), normalize(image)
  logits = text @ image.T / temperature  # [caption, image]
  labels = jnp.arange(logits.shape[0])
  by_image = logits.T
  if negatives is not None:
    by_image = jnp.concatenate([by_image, jnp.einsum('bf,bkf->bk', image, normalize(negatives)) / temperature], 1)
  return 0.5 * (optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean() +
                optax.softmax_cross_entropy_with_integer_labels(by_image, labels).mean())


def train(tokens: np.ndarray, images: np.ndarray, text_model: text_encoder.TextEncoder,
          image_model: digits.DigitClassifier, seed: int, train_steps: int, batch_size: int, learning_rate: float,
          temperature: float, attributes: np.ndarray | None = None,
          source: str | None = None) -> tuple[dict, dict, list[float]]:
  """Trains both encoders on pairs (tokens int32 [N, L], images uint8 [N, R, R, 3]).

  Batches are `in_memory.epoch_indices`' (a fresh permutation per epoch, drop remainder), the data on the device.
  With `attributes` (int [N, 5]) and `source`, each image is also matched against 5 captions one attribute away
  (`one_attribute_away`).

  Returns:
    (text encoder parameters, image encoder parameters, the loss of every step).
  """
  tokens, images = jnp.asarray(tokens), jnp.asarray(images)
  rng = jax.random.key(seed)
  text_key, image_key = jax.random.split(jax.random.fold_in(rng, 0))
  params = {'text': text_model.init(text_key, tokens[:1])['params'],
            'image': image_model.init(image_key, to_unit_range(images[:1]))['params']}
  tx = optax.adam(optax.cosine_decay_schedule(learning_rate, train_steps))
  opt_state = tx.init(params)
  hard = attributes is not None
  if hard:
    attributes, table = jnp.asarray(attributes, jnp.int32), jnp.asarray(caption_table(source))

  def loss_fn(params, batch_tokens, batch_images, negative_tokens):
    batch = batch_tokens.shape[0]
    all_tokens = batch_tokens if negative_tokens is None else jnp.concatenate(
        [batch_tokens, negative_tokens.reshape(-1, batch_tokens.shape[1])])
    text = text_model.apply({'params': params['text']}, all_tokens)
    image, _ = image_model.apply({'params': params['image']}, to_unit_range(batch_images))
    negatives = None if negative_tokens is None else text[batch:].reshape(batch, -1, text.shape[-1])
    return matching_loss(text[:batch], image, temperature, negatives)

  @functools.partial(jax.jit, donate_argnums=(0, 1))
  def step(params, opt_state, step_index):
    indices = epoch_indices(jax.random.fold_in(rng, 1), step_index, tokens.shape[0], batch_size)
    negative_tokens = None
    if hard:
      away = one_attribute_away(jax.random.fold_in(jax.random.fold_in(rng, 2), step_index), attributes[indices],
                                source)
      negative_tokens = table[caption_index(away, source)]
    loss, grads = jax.value_and_grad(loss_fn)(params, tokens[indices], images[indices], negative_tokens)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  losses = []
  for step_index in range(train_steps):
    params, opt_state, loss = step(params, opt_state, jnp.int32(step_index))
    losses.append(loss)
    if (step_index + 1) % max(1, train_steps // 10) == 0:
      recent = jax.device_get(losses[-max(1, train_steps // 10):])
      logging.info('step %d: mean loss of the last %d steps %.4f', step_index + 1, len(recent), np.mean(recent))
  return params['text'], params['image'], [float(x) for x in jax.device_get(losses)]


def embed(model, params, inputs: np.ndarray, chunk: int = 500) -> np.ndarray:
  """A model's embeddings of `inputs` (token ids, or uint8 images), L2-normalised, float32 [N, F]."""
  apply = jax.jit(lambda p, x: normalize(model.apply({'params': p}, x)) if x.dtype == jnp.int32 else
                  normalize(model.apply({'params': p}, to_unit_range(x))[0]))
  return np.concatenate([np.asarray(apply(params, inputs[i:i + chunk])) for i in range(0, len(inputs), chunk)])


def retrieval_accuracy(text: np.ndarray, image: np.ndarray, tokens: np.ndarray,
                       group: int = RETRIEVAL_GROUP) -> dict[str, float]:
  """Top-1 retrieval among groups of `group` consecutive pairs (a last, smaller group is dropped).

  Args:
    text, image: [N, F] L2-normalised embeddings of pair i's caption and image.
    tokens: [N, L] the captions, so that a retrieved pair with the same caption counts as right.

  Returns:
    'image_to_caption': the fraction of images whose most similar caption in their group is theirs;
    'caption_to_image': the same the other way; 'chance': 1 / group.
  """
  hits = {'image_to_caption': [], 'caption_to_image': []}
  for start in range(0, len(text) - group + 1, group):
    t, i, ids = text[start:start + group], image[start:start + group], tokens[start:start + group]
    similarity = t @ i.T  # [caption, image]
    same = np.all(ids[:, None] == ids[None], axis=-1)  # Captions identical as text.
    hits['caption_to_image'].append(same[np.arange(group), np.argmax(similarity, axis=1)])
    hits['image_to_caption'].append(same[np.arange(group), np.argmax(similarity, axis=0)])
  result = {key: float(np.mean(np.concatenate(value))) for key, value in hits.items()}
  result['chance'] = 1.0 / group
  return result


def attribute_accuracy(text_model, text_params, image: np.ndarray, attributes: np.ndarray,
                       source: str) -> dict[str, float]:
  """Per attribute, the fraction of images (embeddings [N, F], L2-normalised) whose own caption is the most similar
  among the captions that differ from it in that attribute only; 'all': right in all five."""
  table = caption_table(source)
  captions_embedded = embed(text_model, text_params, table)
  right = []
  for column, cardinality in enumerate(attribute_cardinalities(source)):
    variants = np.repeat(attributes[:, None], cardinality, axis=1)
    variants[:, :, column] = np.arange(cardinality)
    similarity = np.einsum('nf,nvf->nv', image, captions_embedded[caption_index(variants, source)])
    if column in (1, 2):  # Colour and background are never equal: that variant is not a caption.
      similarity[variants[:, :, 1] == variants[:, :, 2]] = -np.inf
    right.append(np.argmax(similarity, axis=1) == attributes[:, column])
  result = {name: float(np.mean(r)) for name, r in zip(ATTRIBUTE_NAMES, right)}
  result['all'] = float(np.mean(np.all(right, axis=0)))
  return result


def define_flags() -> None:
  """The command's flags, defined only when it runs as a program: the functions above are imported by tests and
  research code beside other commands (gan_jax.sample also has --out), whose flags would collide at import."""
  flags.DEFINE_enum('dataset', 'captioned_mnist', ['captioned_mnist', 'captioned_fashion_mnist', 'emoji_names'],
                    "Captioned set ('emoji_names': emoji_styles' Noto emoji and their names).")
  flags.DEFINE_string('data_dir', None, 'TFDS data_dir (default: $TFDS_DATA_DIR, else ~/tensorflow_datasets).')
  flags.DEFINE_string('out', None, 'The .npz to write (default: weights/<dataset>_text_encoder.npz).')
  flags.DEFINE_integer('seed', 0, 'Seed of initialisation and batch order.')
  flags.DEFINE_integer('train_steps', 3000, 'Optimizer steps.')
  flags.DEFINE_integer('batch_size', 64, 'Caption-image pairs per step (each pair is matched against the others).')
  flags.DEFINE_float('learning_rate', 1e-3, 'Adam learning rate, decayed to 0 by a cosine.')
  flags.DEFINE_float('temperature', 0.1, 'Softmax temperature T of the cosine similarities.')
  flags.DEFINE_integer('features', 128, "The embedding's size.")
  flags.DEFINE_integer('width', 64, "The text encoder's word and GRU width.")
  flags.DEFINE_bool('hard_negatives', True, 'Also match each image against 13 captions one attribute away.')


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  import tensorflow as tf
  from gan_jax.data import captioned
  tf.config.experimental.set_visible_devices([], 'GPU')  # TensorFlow must not take the accelerators' memory.
  out = FLAGS.out or os.path.join(os.path.dirname(digits.__file__), 'weights', f'{FLAGS.dataset}_text_encoder.npz')
  if FLAGS.dataset == captioned.EMOJI_DATASET:
    load = functools.partial(captioned.load_named_emoji, data_dir=FLAGS.data_dir)
  else:
    load = functools.partial(captioned.load_captioned, FLAGS.dataset, data_dir=FLAGS.data_dir)
  train_set, test_set = load('train'), load('test')
  hard_negatives = FLAGS.hard_negatives and train_set.attributes.shape[1] > 0  # Emoji names have no attributes.
  vocabulary = train_set.vocabulary
  logging.info('%s: %d train and %d test pairs, %d token ids', FLAGS.dataset, train_set.num_examples,
               test_set.num_examples, vocabulary.size)
  text_model = text_encoder.TextEncoder(vocabulary.size, features=FLAGS.features, width=FLAGS.width)
  image_model = image_encoder(FLAGS.features)
  start = time.perf_counter()
  text_params, image_params, losses = train(train_set.tokens, train_set.images, text_model, image_model, FLAGS.seed,
                                            FLAGS.train_steps, FLAGS.batch_size, FLAGS.learning_rate,
                                            FLAGS.temperature,
                                            train_set.attributes if hard_negatives else None,
                                            train_set.source)
  train_seconds = time.perf_counter() - start
  tenth = max(1, FLAGS.train_steps // 10)
  test_images = embed(image_model, image_params, test_set.images)
  retrieval = retrieval_accuracy(embed(text_model, text_params, test_set.tokens), test_images, test_set.tokens)
  by_attribute = (attribute_accuracy(text_model, text_params, test_images, test_set.attributes, test_set.source)
                  if test_set.attributes.shape[1] else {})
  training = {
      'version': FORMAT_VERSION,
      'dataset': FLAGS.dataset,
      'num_train': int(train_set.num_examples),
      'num_test': int(test_set.num_examples),
      'seed': FLAGS.seed,
      'loss': 'symmetric InfoNCE over the batch, cosine similarity / temperature',
      'hard_negatives': ('image -> caption also against the captions with each other class and with one other '
                         'colour, background, size and position (drawn per step)'
                         if hard_negatives else 'none'),
      'temperature': FLAGS.temperature,
      'image_encoder': {'network': 'digits.DigitClassifier', 'conv_features': list(IMAGE_CONV_FEATURES),
                        'features': FLAGS.features, 'input': '64x64x3 in [-1, 1]'},
      'train_steps': FLAGS.train_steps,
      'batch_size': FLAGS.batch_size,
      'learning_rate': FLAGS.learning_rate,
      'schedule': 'cosine decay to 0',
      'optimizer': 'adam',
      'loss_first_tenth': float(np.mean(losses[:tenth])),
      'loss_last_tenth': float(np.mean(losses[-tenth:])),
      'retrieval_test': {**retrieval, 'group': RETRIEVAL_GROUP},
      'attribute_test': by_attribute,
      'seconds': round(train_seconds, 1),
      'device': str(jax.devices()[0].device_kind),
      **digits.provenance('gan_jax.evaluation.train_text_encoder'),
  }
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  text_encoder.save(out, text_model, text_params, vocabulary, training)
  logging.info('Trained in %.1f s; loss %.4f -> %.4f; test retrieval among %d: image->caption %.4f, '
               'caption->image %.4f; own caption against one attribute changed: %s; wrote %s', train_seconds,
               training['loss_first_tenth'], training['loss_last_tenth'], RETRIEVAL_GROUP,
               retrieval['image_to_caption'], retrieval['caption_to_image'], by_attribute, out)


if __name__ == '__main__':
  define_flags()
  app.run(main)
