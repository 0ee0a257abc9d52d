"""Pictures a person can look at: generator samples drawn over real samples."""

import io

import matplotlib

matplotlib.use('Agg')  # No display on training machines.
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def mixture_plot(samples: np.ndarray, real: np.ndarray, title: str) -> np.ndarray:
  """Scatter (2-D) or histograms (1-D) of generated over real samples; returns an RGB image [H, W, 3] (uint8)."""
  figure, axes = plt.subplots(figsize=(5, 5))
  lo = np.minimum(real.min(axis=0), -1.0) - 0.5
  hi = np.maximum(real.max(axis=0), 1.0) + 0.5
  if real.shape[1] == 1:
    span = (lo[0], hi[0])
    axes.hist(real[:, 0], bins=100, range=span, density=True, alpha=0.5, color='grey', label='real')
    axes.hist(samples[:, 0], bins=100, range=span, density=True, alpha=0.5, color='tab:green', label='generated')
    axes.legend(loc='upper right')
  else:
    axes.scatter(real[:, 0], real[:, 1], s=2, color='grey', label='real')
    axes.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, color='tab:green', label='generated')
    axes.set_xlim(lo[0], hi[0])
    axes.set_ylim(lo[1], hi[1])
    axes.set_aspect('equal')
    axes.legend(loc='upper right', markerscale=4)
  axes.set_title(title, fontsize=10)
  buffer = io.BytesIO()
  figure.savefig(buffer, format='png', dpi=80)
  plt.close(figure)
  buffer.seek(0)
  return (plt.imread(buffer, format='png')[..., :3] * 255).astype(np.uint8)


def save_png(image: np.ndarray, path: str) -> None:
  """Writes an RGB uint8 image as PNG."""
  plt.imsave(path, image)


def image_grid(images: np.ndarray, rows: int, columns: int | None = None) -> np.ndarray:
  """Tiles the first `rows * columns` images [N, H, W, C] in [-1, 1], row by row, into one RGB uint8 image with
  1-pixel gaps; `columns` defaults to `rows`."""
  columns = columns or rows
  images = np.clip((np.asarray(images[: rows * columns]) + 1.0) * 127.5, 0, 255).astype(np.uint8)
  if images.shape[-1] == 1:
    images = np.repeat(images, 3, axis=-1)
  n, h, w, c = images.shape
  grid = np.full((rows * (h + 1) + 1, columns * (w + 1) + 1, c), 255, np.uint8)
  for i in range(n):
    r, col = divmod(i, columns)
    grid[1 + r * (h + 1):(r + 1) * (h + 1), 1 + col * (w + 1):(col + 1) * (w + 1)] = images[i]
  return grid


def channel_grid(images: np.ndarray, rows: int, per_row: int = 4) -> np.ndarray:
  """`rows` rows of `per_row` multi-channel images [N, H, W, C] in [-1, 1], each shown as its C channels side by
  side in grey, with a wider gap between images (Stacked MNIST's three digits, readable one by one)."""
  images = np.asarray(images[: rows * per_row])
  n, h, w, c = images.shape
  tiles = np.transpose(images, (0, 3, 1, 2)).reshape(n, c, h, w)
  # One grey tile per channel, and one white tile after every image as a separator.
  separator = np.ones((n, 1, h, w), images.dtype)
  tiles = np.concatenate([tiles, separator], axis=1)[:, :, :, :, None].reshape(n * (c + 1), h, w, 1)
  grid = image_grid(tiles, rows, per_row * (c + 1))
  return grid[:, : grid.shape[1] - (w + 1)]  # The last separator column.
