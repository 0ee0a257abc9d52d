"""Test setup: 8 fake CPU devices for the parallel tests, and fast compiles for tiny models."""

import getpass
import os
import tempfile

# Must happen before JAX is imported anywhere.
# Each fake device computes on one thread: with Eigen's shared intra-op pool, 7 devices waiting in an all-reduce can
# hold the threads the 8th needs to reach it, and XLA aborts the deadlock after 40 s (seen under pytest -n 2).
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=8 --xla_cpu_multi_thread_eigen=false').strip()
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# Set here, so that the commands the tests start (`python -m gan_jax.main`, the pod's processes) inherit them too:
# - halve compile time (the tests check numerics, not XLA's optimisations);
# - one persistent compilation cache for the run, its xdist workers and those commands: the suite compiles the same
#   small programs again and again (every smoke run and its resume, every main command), and a hit reads the
#   executable back instead of compiling it. Every program is kept, down to the single ops that eager code compiles
#   one by one (about 40 ms each here, a few ms to read back): a fresh process creating a model's state compiles
#   hundreds of them (the README's snippets: 31 s in a first process, 11 s in a second with all kept, 17 s with
#   only compiles over 0.1 s kept).
os.environ.setdefault('JAX_DISABLE_MOST_OPTIMIZATIONS', '1')
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR', os.path.join(tempfile.gettempdir(), f'pytest-of-{getpass.getuser()}',
                                                                'gan_jax_compilation_cache'))
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update('jax_platforms', 'cpu')


@pytest.fixture
def smoke_config():
  """The unrolled ring experiment in its CI size."""
  from gan_jax.config import base_config, smoke
  return smoke(base_config())


def _shared_preparer(tmp_path_factory, prefix: str, modules):
  """`prepared(name)`: prepares the offline dataset `name` once in a data_dir shared by the xdist workers and kept
  between runs, under a name that changes with `modules`' code; a lock file makes one worker prepare while the others
  wait. Skips (with the reason, which `-ra` prints) when the dataset's sources are not installed: `.ci/run`
  installs them."""
  import fcntl
  import hashlib
  import inspect
  from gan_jax.data import prepare, sources
  code = hashlib.sha256(''.join(inspect.getsource(m) for m in modules).encode()).hexdigest()[:12]
  data_dir = tmp_path_factory.getbasetemp().parent / f'{prefix}_{code}'
  data_dir.mkdir(exist_ok=True)

  def prepared(name: str) -> str:
    with open(data_dir / f'{name}.lock', 'w') as lock:
      fcntl.flock(lock, fcntl.LOCK_EX)
      try:
        prepare.prepare(name, str(data_dir))
      except sources.SourceError as error:
        pytest.skip(f'offline sources of {name} not installed: {error}')
    return str(data_dir)

  return prepared


@pytest.fixture(scope='session')
def main_command_run(tmp_path_factory, testrun_uid):
  """(the finished process, its workdir) of one run of `tests.test_train.main_command` (the smoke ring experiment: 40
  steps, a line every 10, evaluations and checkpoints at 20 and 40), for the tests that read what the command prints
  and writes (and change nothing): run once per test run, by whichever xdist worker asks first while the other waits
  on a lock."""
  import fcntl
  import json
  import subprocess
  from tests.test_train import ENV, main_command
  root = tmp_path_factory.getbasetemp().parent / f'main_command_{testrun_uid}'  # Shared by the run's workers.
  root.mkdir(exist_ok=True)
  command = main_command(root / 'run')
  with open(root / 'lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not (root / 'result.json').exists():
      result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
      (root / 'result.json').write_text(json.dumps([result.returncode, result.stdout, result.stderr]))
  returncode, stdout, stderr = json.loads((root / 'result.json').read_text())
  return subprocess.CompletedProcess(command, returncode, stdout, stderr), root / 'run'


@pytest.fixture(scope='session')
def data_dir(tmp_path_factory):
  """A TFDS data_dir holding `sklearn_digits`, the tiny image tests' data (see `_shared_preparer`): prepared once,
  not in each module and worker that reads it."""
  from gan_jax.data import digits_builder
  return _shared_preparer(tmp_path_factory, 'digits_tfds', (digits_builder,))('sklearn_digits')


def _offline_preparer(tmp_path_factory):
  from gan_jax.data import mnist_builders
  return _shared_preparer(tmp_path_factory, 'offline_tfds', (mnist_builders,))


@pytest.fixture(scope='session')
def offline_data_dir(tmp_path_factory):
  """A TFDS data_dir holding the offline `mnist` (see `_shared_preparer`)."""
  return _offline_preparer(tmp_path_factory)('mnist')


@pytest.fixture
def offline_dir_of(request):
  """`offline_dir_of(name)`: the data_dir that holds the offline `name` ('mnist' or 'fashion_mnist'), asking only
  for the fixture that prepares it."""
  return lambda name: request.getfixturevalue('offline_fashion_dir' if name == 'fashion_mnist' else 'offline_data_dir')


@pytest.fixture(scope='session')
def offline_fashion_dir(tmp_path_factory):
  """The same data_dir once it holds `fashion_mnist` too (about 25 s to prepare its 70,000 images: only the tests
  that read them ask for it)."""
  prepared = _offline_preparer(tmp_path_factory)
  prepared('mnist')
  return prepared('fashion_mnist')


@pytest.fixture(scope='session')
def image_sets_dir(tmp_path_factory):
  """`image_sets_dir(name)`: the data_dir once the image-to-image dataset `name` (`satellite_maps`, `emoji_styles`,
  `photos`) is prepared there (see `_shared_preparer`)."""
  from gan_jax.data import emoji_styles_builder, photos_builder, png, satellite_maps_builder
  return _shared_preparer(tmp_path_factory, 'image_sets_tfds',
                          (satellite_maps_builder, emoji_styles_builder, photos_builder, png))


# The tiny paired dataset of tests/test_pix2pix.py, prepared once per session for pix2pix's and CycleGAN's tests.
@pytest.fixture(scope='session')
def tiny_maps_dir(tmp_path_factory):
  from tests.test_pix2pix import tiny_builder
  data_dir = str(tmp_path_factory.mktemp('tiny_maps'))
  tiny_builder()(data_dir=data_dir).download_and_prepare()
  return data_dir


@pytest.fixture
def tiny_maps(tiny_maps_dir, monkeypatch):
  """The data_dir of the tiny paired dataset, registered for this test as data.name='tiny_maps' (its 'image' and
  'map' features: pix2pix's pairs, CycleGAN's domains A and B)."""
  from gan_jax import data
  monkeypatch.setitem(data.PAIRED_DATASETS, 'tiny_maps', data.PairedDataset('tiny_satellite_maps', ('image', 'map')))
  monkeypatch.setitem(data.DATASETS, 'tiny_maps', data.paired_from_config)
  return tiny_maps_dir
