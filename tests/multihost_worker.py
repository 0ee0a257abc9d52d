"""`python -m gan_jax.main`, instrumented for tests/test_multihost.py; run as `python tests/multihost_worker.py ARGS`.

Environment:
  MH_NAME: this process's name in the files below (p0, p1, single).
  MH_DUMP_DIR: where each checkpointed state is dumped as this process's copy (`{name}_{step}.npz`), and where the
    files this process opens for writing (outside checkpoints/) are listed (`{name}_writes.txt`).
  MH_GATE_STEP, MH_GATE_FILE (optional): after saving that step, write `{name}_saved_{step}` and wait for the file,
    so that the test can send SIGTERM while the run is known to be between two chunks.
"""

import builtins
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import flax.serialization  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax import checkpoint, main  # noqa: E402

NAME = os.environ['MH_NAME']
DUMP_DIR = os.environ['MH_DUMP_DIR']
GATE_STEP = int(os.environ.get('MH_GATE_STEP', '-1'))
GATE_FILE = os.environ.get('MH_GATE_FILE', '')
GATE_SECONDS = 120


def host_copy(leaf):
  """This process's copy of a replicated leaf, after checking that all its local devices hold the same values."""
  if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
    leaf = jax.random.key_data(leaf)
  shards = [np.asarray(shard.data) for shard in leaf.addressable_shards]
  for shard in shards[1:]:
    np.testing.assert_array_equal(shard, shards[0])
  return shards[0]


def dump_then_save(manager, state, save=checkpoint.save):
  save(manager, state)
  leaves = jax.tree_util.tree_flatten_with_path(flax.serialization.to_state_dict(state))[0]
  arrays = {jax.tree_util.keystr(path): host_copy(leaf) for path, leaf in leaves}
  step = int(arrays["['step']"])
  np.savez(os.path.join(DUMP_DIR, f'{NAME}_{step}.npz'), **arrays)
  if step == GATE_STEP:
    with open(os.path.join(DUMP_DIR, f'{NAME}_saved_{step}'), 'w'):
      pass
    deadline = time.time() + GATE_SECONDS
    while not os.path.exists(GATE_FILE) and time.time() < deadline:
      time.sleep(0.05)


def logging_open(file, mode='r', *args, open_=builtins.open, **kwargs):
  if isinstance(file, (str, os.PathLike)) and any(c in mode for c in 'wax+'):
    path = os.path.abspath(file)
    if not path.startswith(os.path.abspath(DUMP_DIR)) and f'{os.sep}checkpoints{os.sep}' not in path:
      with open_(os.path.join(DUMP_DIR, f'{NAME}_writes.txt'), 'a') as log:
        log.write(path + '\n')
  return open_(file, mode, *args, **kwargs)


if __name__ == '__main__':
  checkpoint.save = dump_then_save
  builtins.open = logging_open
  sys.argv[0] = main.__file__
  main.run()
