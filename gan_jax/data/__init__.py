"""Datasets by name (`config.data.name`).

The mixtures are drawn on device inside the compiled training step from the step's key, so no batch crosses from
the host.
"""

from typing import Callable

import ml_collections

from gan_jax.data.mixtures import GaussianMixture, gaussian_1d_from_config, grid_from_config, ring_from_config

DATASETS: dict[str, Callable[[ml_collections.ConfigDict], GaussianMixture]] = {
    'ring': ring_from_config,
    'grid': grid_from_config,
    'gaussian_1d': gaussian_1d_from_config,
}


def make_dataset(config: ml_collections.ConfigDict) -> GaussianMixture:
  """Builds the dataset named by `config.name` (the `config.data` section)."""
  return DATASETS[config.name](config)

