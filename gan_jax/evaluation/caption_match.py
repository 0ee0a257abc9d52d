r"""Does an image show what its caption says? The checker of text -> image samples on the captioned object sets.

The captions of `captioned_mnist` / `captioned_fashion_mnist` are generated from five attributes (class, object
colour, background colour, size, position; see `data/captioned_builder.py`), each measurable in pixels:
- background: the palette colour nearest the median of the image's border (2 px wide at 64 x 64);
- object colour: the palette colour c (other than the background) that best explains the pixels that differ from
  the background as blends b + w (c - b), w in [0, 1] (least squares over those pixels): un-blending, which also
  gives each pixel's blend weight w, the object's grey level;
- the object mask: w > 15 % of the image's largest w; size: the mask's extent (the longer side of its bounding
  box) against the source's object extent (MNIST's digits span 20 of 28 px, Fashion-MNIST's items 28): large when
  scaled by more than the midpoint (28 + 44) / 2 / 28 of the two sizes;
- position: the object's centre, MNIST's by the centre of mass of w and Fashion-MNIST's by the mask's bounding box
  (as each source centred its images), nearest which of the 3 placements per axis of an object of the measured size;
- class: w inside the mask's box, scaled so that its longer side is the source's object extent, centred on 28 x 28
  as the source centres it (by mass / by box), classified by the shipped classifier of the source
  (`digits.load_digit_classifier`).
An image matches its caption when all five agree with the attributes it was generated from.

  python -m gan_jax.evaluation.caption_match --dataset captioned_mnist --split test [--data_dir DIR]

prints the fractions on the split's real images, and with the attributes shuffled (the chance level).
"""

import numpy as np

from gan_jax.data import captions
from gan_jax.data.captioned_builder import ATTRIBUTE_NAMES, CANVAS, SIZE_PIXELS, SOURCES

PALETTE = np.array(list(captions.COLOURS.values()), np.float32)
BORDER = 2  # Pixels of the border read for the background, at 64 x 64.
OBJECT_DISTANCE = 30.0  # RGB distance (0..255) from the background beyond which a pixel takes part in the colour fit.
MASK_FRACTION = 0.15  # Of the image's largest blend weight.
MIN_WEIGHT = 0.2  # An image whose largest blend weight is below this shows no object.
SOURCE_EXTENT = {'mnist': 20, 'fashion_mnist': 28}  # The longer side of the object in a 28 x 28 source image.
CENTRE_BY = {'mnist': 'mass', 'fashion_mnist': 'box'}  # How each source centres its objects.
LARGE_SCALE = (SIZE_PIXELS[0] + SIZE_PIXELS[1]) / 2 / SIZE_PIXELS[0]
CHECKS = ('class', 'colour', 'background', 'size', 'position')
CHUNK = 512


def _unit_to_rgb(images: np.ndarray) -> np.ndarray:
  """[-1, 1] -> float32 [0, 255]."""
  return (np.clip(np.asarray(images, np.float32), -1.0, 1.0) + 1.0) * 127.5


def _backgrounds(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(palette index [N], measured colour [N, 3]) of the border's median."""
  width = max(1, BORDER * rgb.shape[1] // CANVAS)
  border = np.concatenate([rgb[:, :width].reshape(len(rgb), -1, 3), rgb[:, -width:].reshape(len(rgb), -1, 3),
                           rgb[:, width:-width, :width].reshape(len(rgb), -1, 3),
                           rgb[:, width:-width, -width:].reshape(len(rgb), -1, 3)], axis=1)
  measured = np.median(border, axis=1)
  return np.argmin(np.linalg.norm(measured[:, None] - PALETTE[None], axis=-1), axis=1), measured


def _colours_and_weights(rgb: np.ndarray, background: np.ndarray, measured: np.ndarray):
  """(object colour index [N], blend weights [N, H, W]) by un-blending against every other palette colour."""
  d = rgb - measured[:, None, None]  # [N, H, W, 3]
  far = (np.linalg.norm(d, axis=-1) > OBJECT_DISTANCE).astype(np.float32)
  residuals = np.empty((len(rgb), len(PALETTE)), np.float32)
  for c in range(len(PALETTE)):
    v = PALETTE[c][None] - measured  # [N, 3]
    w = np.clip(np.einsum('nhwk,nk->nhw', d, v) / np.maximum((v * v).sum(-1), 1.0)[:, None, None], 0.0, 1.0)
    r = ((d - w[..., None] * v[:, None, None]) ** 2).sum(-1)
    residuals[:, c] = (r * far).sum(axis=(1, 2))
  residuals[np.arange(len(rgb)), background] = np.inf
  colour = np.argmin(residuals, axis=1)
  v = PALETTE[colour] - measured
  weights = np.clip(np.einsum('nhwk,nk->nhw', d, v) / np.maximum((v * v).sum(-1), 1.0)[:, None, None], 0.0, 1.0)
  return colour, weights


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
  """(top, bottom, left, right) of a non-empty mask, bottom and right exclusive."""
  rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
  return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def _centre(weights: np.ndarray, box: tuple[int, int, int, int], by: str) -> tuple[float, float]:
  """(row, column) of the object's centre, in pixels of its image."""
  if by == 'mass':
    total = weights.sum()
    grid = np.arange(weights.shape[0]) + 0.5
    return float((weights.sum(axis=1) * grid).sum() / total), float((weights.sum(axis=0) * grid).sum() / total)
  top, bottom, left, right = box
  return (top + bottom) / 2, (left + right) / 2


def _placement_index(centre: float, size: int) -> int:
  """The placement (0, 1, 2 along one axis) whose object centre is nearest `centre` (in 64 x 64 pixels)."""
  centres = np.array([0, (CANVAS - size) // 2, CANVAS - size]) + size / 2
  return int(np.argmin(np.abs(centres - centre)))


def _grey_object(weights: np.ndarray, box: tuple[int, int, int, int], source: str) -> np.ndarray:
  """The object as the source draws it: float32 [28, 28] in [0, 1], scaled and centred as the source does."""
  from PIL import Image
  top, bottom, left, right = box
  crop = weights[top:bottom, left:right]
  extent = SOURCE_EXTENT[source]
  scale = extent / max(crop.shape)
  height, width = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
  scaled = np.asarray(Image.fromarray(crop.astype(np.float32), mode='F').resize((width, height),
                                                                             Image.Resampling.BILINEAR))
  scaled = np.clip(scaled, 0.0, 1.0)
  if CENTRE_BY[source] == 'mass':
    total = max(float(scaled.sum()), 1e-6)
    row = float((scaled.sum(axis=1) * (np.arange(height) + 0.5)).sum() / total)
    col = float((scaled.sum(axis=0) * (np.arange(width) + 0.5)).sum() / total)
  else:
    row, col = height / 2, width / 2
  out = np.zeros((28 + 2 * height, 28 + 2 * width), np.float32)  # Room to shift the crop anywhere, then cut 28 x 28.
  top_out = int(round(14 - row)) + height
  left_out = int(round(14 - col)) + width
  out[top_out:top_out + height, left_out:left_out + width] = scaled
  return out[height:height + 28, width:width + 28]


def measure(images: np.ndarray, source: str) -> dict[str, np.ndarray]:
  """The attributes that images show, by pixel statistics; the class is left to `grey_objects` + a classifier.

  Args:
    images: [N, R, R, 3] in [-1, 1], R = 64 or 32 (any R; geometry is read in 64 x 64 pixels).
    source: 'mnist' or 'fashion_mnist'.

  Returns:
    int64 [N] each of 'colour', 'background', 'size', 'position' (-1 where no object is seen), and 'grey': float32
    [N, 28, 28, 1] in [-1, 1], the object as the source's classifier reads it.
  """
  if source not in SOURCE_EXTENT:
    raise ValueError(f'source must be one of {sorted(SOURCE_EXTENT)}, not {source!r}')
  images = np.asarray(images)
  if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] != images.shape[2]:
    raise ValueError(f'images must be [N, R, R, 3] in [-1, 1]; got shape {images.shape}')
  n, resolution = len(images), images.shape[1]
  to_canvas = CANVAS / resolution
  out = {key: np.full(n, -1, np.int64) for key in ('colour', 'background', 'size', 'position')}
  grey = np.full((n, 28, 28, 1), -1.0, np.float32)
  for start in range(0, n, CHUNK):
    rgb = _unit_to_rgb(images[start:start + CHUNK])
    background, measured = _backgrounds(rgb)
    colour, weights = _colours_and_weights(rgb, background, measured)
    out['background'][start:start + len(rgb)] = background
    for i in range(len(rgb)):
      w = weights[i]
      if w.max() < MIN_WEIGHT:
        continue  # No object: only the background is judged.
      mask = w > MASK_FRACTION * w.max()
      box = _box(mask)
      extent = max(box[1] - box[0], box[3] - box[2]) * to_canvas
      size = int(extent / SOURCE_EXTENT[source] > LARGE_SCALE)
      row, col = _centre(np.where(mask, w, 0.0), box, CENTRE_BY[source])
      pixels = SIZE_PIXELS[size]
      k = start + i
      out['colour'][k] = colour[i]
      out['size'][k] = size
      out['position'][k] = 3 * _placement_index(row * to_canvas, pixels) + _placement_index(col * to_canvas, pixels)
      grey[k, ..., 0] = _grey_object(w, box, source) * 2.0 - 1.0
  out['grey'] = grey
  return out


def caption_match(images: np.ndarray, attributes: np.ndarray, source: str, classifier=None) -> dict[str, float]:
  """The fraction of images that show each attribute of their caption, and all of them at once.

  Args:
    images: [N, R, R, 3] in [-1, 1] (R = 64 or 32), e.g. a text -> image generator's samples.
    attributes: int [N, 5], the attributes (columns `ATTRIBUTE_NAMES`: label, colour, background, size, position)
      of the captions the images were generated from.
    source: 'mnist' or 'fashion_mnist'.
    classifier: a `digits.Classifier` of the source's classes; None for the shipped one of `source`.

  Returns:
    'class', 'colour', 'background', 'size', 'position': fractions matched; 'all': all five matched.
  """
  attributes = np.asarray(attributes)
  if attributes.shape != (len(images), len(ATTRIBUTE_NAMES)):
    raise ValueError(f'attributes must be [N, {len(ATTRIBUTE_NAMES)}] ({", ".join(ATTRIBUTE_NAMES)}) for N = '
                     f'{len(images)} images; got shape {attributes.shape}')
  if classifier is None:
    from gan_jax.evaluation import digits
    classifier = digits.load_digit_classifier(source)
  seen = measure(images, source)
  matched = {'class': classifier.predict(seen['grey']) == attributes[:, 0]}
  for column, name in enumerate(ATTRIBUTE_NAMES[1:], start=1):
    matched[name] = seen[name] == attributes[:, column]
  result = {name: float(matched[name].mean()) for name in CHECKS}
  result['all'] = float(np.all([matched[name] for name in CHECKS], axis=0).mean())
  return result


def main(argv: list[str]) -> None:
  from absl import flags
  import json
  from gan_jax.data import captioned
  del argv
  dataset = captioned.load_captioned(flags.FLAGS.dataset, flags.FLAGS.split, flags.FLAGS.data_dir,
                                     flags.FLAGS.resolution)
  images = dataset.images.astype(np.float32) / 127.5 - 1.0
  real = caption_match(images, dataset.attributes, dataset.source)
  shuffled_attributes = dataset.attributes.copy()
  rng = np.random.default_rng(0)
  for column in range(shuffled_attributes.shape[1]):
    shuffled_attributes[:, column] = rng.permutation(shuffled_attributes[:, column])
  shuffled = caption_match(images, shuffled_attributes, dataset.source)
  print(json.dumps({'dataset': flags.FLAGS.dataset, 'split': flags.FLAGS.split, 'num': len(images),
                    'resolution': flags.FLAGS.resolution, 'real': real, 'shuffled': shuffled}, indent=1))


if __name__ == '__main__':
  from absl import app, flags
  flags.DEFINE_enum('dataset', 'captioned_mnist', list(SOURCES), 'The captioned dataset.')
  flags.DEFINE_string('split', 'test', 'Its split (slices accepted).')
  flags.DEFINE_string('data_dir', None, 'Where it is prepared (default: $TFDS_DATA_DIR or ~/tensorflow_datasets).')
  flags.DEFINE_integer('resolution', 64, 'Read at 64 (stored) or 32.')
  app.run(main)
