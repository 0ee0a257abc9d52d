"""Mode metrics for samples of a Gaussian mixture (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018).

A sample is of high quality when it lies within 3 standard deviations of some centre. A mode is covered when at
least `min_samples_per_mode` high-quality samples lie nearest to it. The KL divergence compares the histogram of
all samples over their nearest centres with the uniform distribution over modes (0 when the generator spreads its
samples evenly, log(num_modes) when it puts them all nearest to one mode). PacGAN's reverse KL (its Table 1) takes
the histogram of the high-quality samples only: `kl_to_uniform_high_quality`. PacGAN counts a mode as covered from
one high-quality sample on (`min_samples_per_mode=1`).
"""

import numpy as np


def mode_metrics(samples: np.ndarray, centers: np.ndarray, std: float, min_samples_per_mode: int) -> dict[str, float]:
  """Computes modes covered, the high-quality fraction and KL(sample histogram || uniform).

  Args:
    samples: [num_samples, dim] generator samples.
    centers: [num_modes, dim] the mixture's centres.
    std: the mixture's standard deviation.
    min_samples_per_mode: high-quality samples a mode needs to count as covered.

  Returns:
    A dict of floats: modes_covered, high_quality_fraction, kl_to_uniform, kl_to_uniform_high_quality (0 when
    no sample is of high quality) and num_modes.
  """
  samples = np.asarray(samples, np.float64)
  distances = np.linalg.norm(samples[:, None, :] - centers[None, :, :], axis=-1)
  nearest = np.argmin(distances, axis=1)
  high_quality = distances[np.arange(len(samples)), nearest] <= 3 * std
  num_modes = len(centers)
  hq_counts = np.bincount(nearest[high_quality], minlength=num_modes)
  histogram = np.bincount(nearest, minlength=num_modes) / len(samples)
  nonzero = histogram > 0
  kl = float(np.sum(histogram[nonzero] * np.log(histogram[nonzero] * num_modes)))
  hq_histogram = hq_counts / max(hq_counts.sum(), 1)
  hq_nonzero = hq_histogram > 0
  hq_kl = float(np.sum(hq_histogram[hq_nonzero] * np.log(hq_histogram[hq_nonzero] * num_modes)))
  return {
      'modes_covered': float(np.sum(hq_counts >= max(min_samples_per_mode, 1))),
      'high_quality_fraction': float(np.mean(high_quality)),
      'kl_to_uniform': kl,
      'kl_to_uniform_high_quality': hq_kl,
      'num_modes': float(num_modes),
  }
