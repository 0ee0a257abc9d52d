"""How close a translated image is to its target: per-image L1, PSNR and SSIM on [0, 1] pixels, and for maps the
agreement of their colour classes.

SSIM is Wang et al. (2004)'s: an 11 x 11 Gaussian window of standard deviation 1.5 (normalised), K1 = 0.01,
K2 = 0.03, dynamic range 1, the population (not sample) variances, computed on each colour channel separately and
averaged over the channels and over the window positions that lie wholly inside the image. That is what
`skimage.metrics.structural_similarity(a, b, channel_axis=-1, data_range=1, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False)` computes; the tests compare the two. PSNR is 10 log10(1 / MSE) of one image (all its
pixels and channels), then averaged over images.

Map classes: a palette of `PALETTE_SIZE` colours found by k-means on the training maps' pixels (`fit_palette`);
each pixel's class is its nearest palette colour (`classify`). On the shaded-relief maps the clusters split into
water colours (blue above green) and land colours: `water_classes` names the former, so that the water/land
agreement can be read apart from the finer colour bands.

Sharpness, which the per-pixel measures cannot see (they reward the conditional mean, i.e. blur): the share of an
image's spectral power above a radial frequency cutoff (`high_frequency_share`), as in the spectral analyses of
generated images (Durall et al. 2020, "Watch your up-convolution"; Dzanic et al. 2020), compared between outputs
and targets (`sharpness_ratio`: 1 as sharp as the targets, below 1 blurrier); and the radially averaged power
spectrum in frequency bands (`band_power`), whose top band compares the outputs' absolute fine-detail power with the
targets' (`top_band_db`). See `power_spectrum` for the estimate.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # 11 x 11: skimage's int(3.5 * sigma + 0.5) with its default truncation at 3.5 sigma.
SSIM_K1, SSIM_K2 = 0.01, 0.03
PALETTE_SIZE = 6
PALETTE_PIXELS = 100_000  # Training-map pixels the k-means sees (drawn with the seed; all when there are fewer).
# A palette colour whose blue exceeds its green by more than this (in [0, 1]) is water: on satellite_maps' training
# maps at 64x64 the three water centres lie 0.066 to 0.144 above, the three land ones 0.038 to 0.063 below (shaded
# relief's greens, tans and greys). The palest water colour also takes in the ice caps, which the map paints
# near-white with a blue tint (Greenland): 'water' is the map's water colours.
WATER_BLUE_MARGIN = 0.015


def to_unit(x: jax.Array) -> jax.Array:
  """Images in [-1, 1] -> [0, 1]."""
  return (x + 1.0) / 2.0


def l1(a: jax.Array, b: jax.Array) -> jax.Array:
  """Mean absolute difference of each image pair [B, H, W, C] -> [B]."""
  return jnp.mean(jnp.abs(a - b), axis=(1, 2, 3))


def psnr(a: jax.Array, b: jax.Array, data_range: float = 1.0) -> jax.Array:
  """Peak signal-to-noise ratio in dB of each image pair [B, H, W, C] -> [B] (infinite for equal images)."""
  mse = jnp.mean((a - b)**2, axis=(1, 2, 3))
  return 10.0 * jnp.log10(data_range**2 / mse)


def gaussian_window(sigma: float = SSIM_SIGMA, radius: int = SSIM_RADIUS) -> np.ndarray:
  """The normalised 1-D Gaussian taps of SSIM's separable window, [2 radius + 1]."""
  taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma)**2)
  return taps / taps.sum()


def _window_mean(x: jax.Array) -> jax.Array:
  """Gaussian-weighted local means of every channel of [B, H, W, C] at the window positions inside the image:
  [B, H - 2 radius, W - 2 radius, C]."""
  taps = jnp.asarray(gaussian_window(), x.dtype)
  channels = x.shape[-1]
  # Depthwise 'VALID' convolutions: the window along the rows, then along the columns.
  rows = jnp.tile(taps[:, None, None, None], (1, 1, 1, channels))
  cols = jnp.tile(taps[None, :, None, None], (1, 1, 1, channels))
  spec = ('NHWC', 'HWIO', 'NHWC')
  x = jax.lax.conv_general_dilated(x, rows, (1, 1), 'VALID', dimension_numbers=spec, feature_group_count=channels)
  return jax.lax.conv_general_dilated(x, cols, (1, 1), 'VALID', dimension_numbers=spec, feature_group_count=channels)


def ssim(a: jax.Array, b: jax.Array, data_range: float = 1.0) -> jax.Array:
  """Wang et al. (2004)'s mean SSIM of each image pair [B, H, W, C] -> [B], per channel then averaged (see the
  module docstring); H and W must exceed the 11-pixel window."""
  c1, c2 = (SSIM_K1 * data_range)**2, (SSIM_K2 * data_range)**2
  mu_a, mu_b = _window_mean(a), _window_mean(b)
  var_a = _window_mean(a * a) - mu_a**2
  var_b = _window_mean(b * b) - mu_b**2
  cov = _window_mean(a * b) - mu_a * mu_b
  index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
  return jnp.mean(index, axis=(1, 2, 3))


def fit_palette(images: np.ndarray, seed: int, size: int = PALETTE_SIZE) -> np.ndarray:
  """The `size` colours of the map classes: k-means (scikit-learn, k-means++ with 4 restarts) on up to
  `PALETTE_PIXELS` pixels of `images` (uint8 [N, H, W, C]) drawn with `seed`, in [0, 1], ordered by their blue
  minus green (land first, then water), so that class numbers do not depend on the clustering's order.

  Returns:
    [size, C] float32.
  """
  from sklearn.cluster import KMeans
  pixels = np.asarray(images, np.float64).reshape(-1, images.shape[-1]) / 255.0
  rng = np.random.default_rng(seed)
  if len(pixels) > PALETTE_PIXELS:
    pixels = pixels[rng.choice(len(pixels), PALETTE_PIXELS, replace=False)]
  centres = KMeans(size, n_init=4, random_state=seed).fit(pixels).cluster_centers_
  if centres.shape[1] >= 3:
    centres = centres[np.argsort(centres[:, 2] - centres[:, 1], kind='stable')]
  return centres.astype(np.float32)


def water_classes(palette: np.ndarray) -> np.ndarray:
  """Which palette colours are water: blue above green by more than `WATER_BLUE_MARGIN` ([size] bool; none for
  grey palettes)."""
  palette = np.asarray(palette)
  if palette.shape[1] < 3:
    return np.zeros(len(palette), bool)
  return palette[:, 2] - palette[:, 1] > WATER_BLUE_MARGIN


def classify(images: jax.Array, palette: jax.Array) -> jax.Array:
  """Each pixel's class: the index of its nearest palette colour (Euclidean in [0, 1]); [B, H, W, C] -> [B, H, W]."""
  distances = jnp.sum((images[..., None, :] - palette)**2, axis=-1)
  return jnp.argmin(distances, axis=-1)


@jax.jit
def class_agreement(generated: jax.Array, target: jax.Array, palette: jax.Array,
                    water: jax.Array) -> dict[str, jax.Array]:
  """Per image [B], the fraction of pixels whose palette class in `generated` equals that in `target` ('classes')
  and whose water/land kind agrees ('water'); images in [0, 1]."""
  got, want = classify(generated, palette), classify(target, palette)
  return {'classes': jnp.mean(got == want, axis=(1, 2)), 'water': jnp.mean(water[got] == water[want], axis=(1, 2))}


HIGH_FREQUENCY_CUTOFF = 0.5  # Of the Nyquist frequency: periods shorter than 4 pixels.
NUM_BANDS = 4  # `band_power`'s bands: quarters of the Nyquist frequency (the diagonal corners beyond it in the top).


def hann_window(size: int) -> np.ndarray:
  """The periodic Hann window of `size` taps, 0.5 - 0.5 cos(2 pi n / size): its DFT has three nonzero terms, so a
  windowed sinusoid leaks only into the two neighbouring frequencies."""
  return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(size) / size)


def radial_frequency(height: int, width: int) -> np.ndarray:
  """Each DFT frequency's distance from zero in units of the Nyquist frequency (0.5 cycles per pixel), [H, W] in
  numpy's `fft2` order: 0 at [0, 0], 1 on the axes' Nyquist frequencies, up to sqrt(2) in the diagonal corners."""
  fy, fx = np.fft.fftfreq(height), np.fft.fftfreq(width)
  return np.sqrt(fy[:, None]**2 + fx[None, :]**2) / 0.5


def power_spectrum(images: jax.Array) -> jax.Array:
  """The power spectrum of each image, averaged over its channels: [N, H, W, C] -> [N, H, W] in `fft2` order.

  Each channel has its mean removed (a constant image has no power) and is multiplied by a 2-D Hann window (the outer
  product of `hann_window`s), so that the DFT's implied periodic tiling does not add the jump between opposite
  borders as a sharp edge to every image; then |DFT|^2 / (H W sum(window^2)), which sums over the frequencies to the
  window-weighted variance of the pixels.
  """
  h, w = images.shape[1:3]
  window = jnp.asarray(np.outer(hann_window(h), hann_window(w)), jnp.float32)
  x = images - jnp.mean(images, axis=(1, 2), keepdims=True)
  # A constant channel has no power exactly, not the float32 rounding of its mean.
  x = jnp.where(jnp.ptp(images, axis=(1, 2), keepdims=True) > 0, x, 0.0)
  x = jnp.moveaxis(x, -1, 1) * window  # [N, C, H, W]: the DFT over the last two axes.
  power = jnp.abs(jnp.fft.fft2(x))**2 / (h * w * jnp.sum(window**2))
  return jnp.mean(power, axis=1)


def high_frequency_share(images: jax.Array, cutoff: float = HIGH_FREQUENCY_CUTOFF) -> jax.Array:
  """The fraction of each image's spectral power (`power_spectrum`) at radial frequencies above `cutoff` x Nyquist,
  [N, H, W, C] -> [N] in [0, 1]: independent of contrast, lowered by blur; 0 for a constant image."""
  power = power_spectrum(images)
  high = jnp.asarray(radial_frequency(*images.shape[1:3]) > cutoff)
  total = jnp.sum(power, axis=(1, 2))
  return jnp.where(total > 0, jnp.sum(jnp.where(high, power, 0.0), axis=(1, 2)) / jnp.where(total > 0, total, 1.0),
                   0.0)


@functools.partial(jax.jit, static_argnames='cutoff')  # One compile, not one per operation (4x faster cold).
def sharpness_ratio(outputs: jax.Array, targets: jax.Array, cutoff: float = HIGH_FREQUENCY_CUTOFF) -> jax.Array:
  """The outputs' mean `high_frequency_share` over the targets': 1 when the outputs put as much of their power into
  fine detail as the targets do, below 1 when they are blurrier (above: more fine detail, or noise). A ratio of means
  over the set, not a mean of ratios: a target tile of open sea has almost no high-frequency power to divide by."""
  return jnp.mean(high_frequency_share(outputs, cutoff)) / jnp.mean(high_frequency_share(targets, cutoff))


def band_power(images: jax.Array, num_bands: int = NUM_BANDS) -> jax.Array:
  """The radially averaged power spectrum in bands, [N, H, W, C] -> [N, num_bands]: band b sums the `power_spectrum`
  at radial frequencies in (b / num_bands, (b + 1) / num_bands] x Nyquist (the zero frequency in band 0, the
  diagonal corners beyond Nyquist in the last band); the bands sum to the window-weighted variance."""
  radius = radial_frequency(*images.shape[1:3])
  band = np.clip(np.ceil(radius * num_bands).astype(int) - 1, 0, num_bands - 1)
  one_hot = jnp.asarray(band[..., None] == np.arange(num_bands), jnp.float32)  # [H, W, num_bands]
  return jnp.einsum('nhw,hwb->nb', power_spectrum(images), one_hot)


@functools.partial(jax.jit, static_argnames='num_bands')
def top_band_db(outputs: jax.Array, targets: jax.Array, num_bands: int = NUM_BANDS) -> jax.Array:
  """10 log10 of the outputs' mean power in `band_power`'s top band over the targets': the absolute power of the
  finest detail (not a share), 0 dB as much as the targets, -3 dB half of it."""
  return 10.0 * jnp.log10(jnp.mean(band_power(outputs, num_bands)[:, -1]) /
                          jnp.mean(band_power(targets, num_bands)[:, -1]))


def translation_metrics(outputs: np.ndarray, targets: np.ndarray, palette: np.ndarray | None,
                        water: np.ndarray | None) -> dict[str, float]:
  """Means over the pairs of L1, PSNR (dB) and SSIM of `outputs` against `targets` (both [N, H, W, C] in [0, 1]);
  over the whole set, the outputs' share of spectral power above half the Nyquist frequency over the targets'
  ('sharpness': 1 as sharp as the targets, below 1 blurrier) and their power in the top quarter of frequencies over
  the targets' in dB ('top_band_db'), see `sharpness_ratio` and `top_band_db`; and with a palette the per-pixel
  agreement of their colour classes ('class_accuracy') and of water against land ('water_accuracy'). pix2pix's and
  CycleGAN's evaluators report these."""
  outputs, targets = jnp.asarray(outputs), jnp.asarray(targets)
  metrics = {'l1': l1(outputs, targets), 'psnr': psnr(outputs, targets), 'ssim': ssim(outputs, targets),
             'sharpness': sharpness_ratio(outputs, targets), 'top_band_db': top_band_db(outputs, targets)}
  if palette is not None:
    agreement = class_agreement(outputs, targets, jnp.asarray(palette), jnp.asarray(water))
    metrics.update(class_accuracy=agreement['classes'], water_accuracy=agreement['water'])
  return {k: float(jnp.mean(v)) for k, v in metrics.items()}
