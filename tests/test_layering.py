"""The package's layering: what importing a module loads, checked in a fresh interpreter (pytest's own process has
imported everything already).

- The config schema imports only ml_collections: an experiment file loads without JAX or the implementation.
- Data does not depend on the training state.
- The entry points share flags through `cli.py`, not by importing each other.
"""

import glob
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Imports the modules named on the command line and prints every module then loaded.
PROBE = '''
import importlib.util, json, sys
for name in sys.argv[1:]:
  if name.endswith('.py'):
    spec = importlib.util.spec_from_file_location('experiment', name)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
  else:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
'''
HEAVY = ('jax', 'jaxlib', 'flax', 'optax', 'orbax', 'tensorflow', 'clu')


def loaded_by(*names: str) -> set[str]:
  """The modules a fresh interpreter holds after importing `names` (modules, or experiment files by path)."""
  env = {**os.environ, 'PYTHONPATH': os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')]).rstrip(os.pathsep),
         'TF_CPP_MIN_LOG_LEVEL': '2'}
  result = subprocess.run([sys.executable, '-c', PROBE, *names], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  return set(json.loads(result.stdout.splitlines()[-1]))


def gan_jax_modules(modules: set[str]) -> set[str]:
  return {m for m in modules if m == 'gan_jax' or m.startswith('gan_jax.')}


def test_config_schema_loads_nothing_but_ml_collections():
  loaded = loaded_by('gan_jax.config')
  assert gan_jax_modules(loaded) == {'gan_jax', 'gan_jax.config'}
  assert not {m.split('.')[0] for m in loaded} & set(HEAVY)


def test_experiment_files_load_without_the_implementation():
  experiments = sorted(glob.glob(os.path.join(ROOT, 'experiments', '*.py')))
  assert experiments
  loaded = loaded_by(*experiments)
  assert gan_jax_modules(loaded) == {'gan_jax', 'gan_jax.config'}
  assert not {m.split('.')[0] for m in loaded} & set(HEAVY)


def test_data_does_not_import_the_state():
  loaded = loaded_by('gan_jax.data.mixtures')  # And its package, gan_jax.data, with it.
  assert {'gan_jax.data', 'gan_jax.data.mixtures'} <= loaded
  assert not {'gan_jax.state', 'gan_jax.train'} & loaded


@pytest.mark.parametrize('entry_point, other', [('gan_jax.main', 'gan_jax.sample'),
                                                ('gan_jax.sample', 'gan_jax.main')])
def test_entry_points_do_not_import_each_other(entry_point, other):
  loaded = loaded_by(entry_point)
  assert {entry_point, 'gan_jax.cli'} <= loaded
  assert other not in loaded


# Every command module that has flags of its own: each defines them only when it runs as a program.
COMMANDS = ('gan_jax.sample', 'gan_jax.sample_captions', 'gan_jax.evaluation.train_text_encoder',
            'gan_jax.evaluation.train_digit_classifier', 'gan_jax.evaluation.train_domain_classifier',
            'gan_jax.evaluation.caption_match', 'gan_jax.data.prepare', 'gan_jax.evaluate')


def test_the_commands_import_into_one_process():
  # Research code and tests import their functions beside each other (a pytest worker imports several): flags
  # defined at import (--out, --seed, --data_dir, --dataset, ...) would collide with DuplicateFlagError, and the
  # two entry points would if either defined --config or --workdir itself.
  assert {'gan_jax.main', *COMMANDS} <= loaded_by('gan_jax.main', *COMMANDS)
