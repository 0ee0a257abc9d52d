"""benchmarks/pytorch_cyclegan.py's network check at a tiny size: gan_jax's CycleGAN and the PyTorch one the
benchmark times are the same networks (parameter counts, outputs from the same weights, both losses on a batch)."""

import os

import pytest

from gan_jax.models import image_to_image as i2i
from tests.test_experiments import load

torch = pytest.importorskip('torch', reason='the benchmark runs PyTorch (pip install torch==2.13.0)')

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'benchmarks')
# 32x32 (the 70x70 PatchGAN needs >= 24), one residual block, widths 4.
TINY = ['--check_only', '--resolution', '32', '--n_blocks', '1', '--width', '4', '--batch_sizes', '2',
        '--num_images', '4', '--device', 'cpu']


@pytest.fixture(scope='module')
def module():
  with pytest.MonkeyPatch.context() as mp:
    mp.syspath_prepend(BENCHMARKS)  # For its `import common`, as `python benchmarks/pytorch_cyclegan.py` finds it.
    yield load(os.path.join(BENCHMARKS, 'pytorch_cyclegan.py'))


@pytest.mark.slow  # 8 s; the benchmark runs the same check before it times anything.
def test_cyclegan_check_passes_at_a_tiny_size(module):
  rows = {row[0]: row[1:] for row in module.main(TINY)}
  # The generator: c7s1-4, d8, d16, one block of two 3x3 convolutions at 16, u8, u4, c7s1-3, each with a bias; the
  # instance norms have no parameters (the authors' affine=False).
  g = ((7 * 7 * 3 * 4 + 4) + (3 * 3 * 4 * 8 + 8) + (3 * 3 * 8 * 16 + 16) + 2 * (3 * 3 * 16 * 16 + 16)
       + (3 * 3 * 16 * 8 + 8) + (3 * 3 * 8 * 4 + 4) + (7 * 7 * 4 * 3 + 3))
  assert rows['g_ab parameters'] == [f'{g:,}', f'{g:,}']
  # The 70x70 PatchGAN: C4 (no norm), C8, C16, C32 (stride 1), then one logit per patch.
  d = (16 * 3 * 4 + 4) + (16 * 4 * 8 + 8) + (16 * 8 * 16 + 16) + (16 * 16 * 32 + 32) + (16 * 32 + 1)
  assert rows['d_b parameters'] == [f'{d:,}', f'{d:,}']
  for name in ('g_ab', 'g_ba', 'd_a', 'd_b'):
    assert any(key.startswith(f'{name} output') for key in rows)
  ours, theirs = rows["generators' loss, one batch"]
  assert float(ours) == pytest.approx(float(theirs), rel=1e-5) and float(ours) > 1  # lambda-weighted L1 of ~1.


def flax_up_sampling(monkeypatch):
  original = i2i.UpConv2x
  monkeypatch.setattr(i2i, 'UpConv2x', lambda *args, **kwargs: original(*args, **{**kwargs, 'keep_last': False}))
  return 'g_ab: outputs differ'


def scaled_instance_norm(monkeypatch):
  original = i2i._norm
  monkeypatch.setattr(i2i, '_norm', lambda kind, train: original(
      'instance' if kind == 'instance_no_affine' else kind, train))
  return 'g_ab: .* parameters in gan_jax'


@pytest.mark.slow  # A second full check (about 10 s of CPU) each.
@pytest.mark.parametrize('deviation', [flax_up_sampling, scaled_instance_norm])
def test_check_fails_for_each_former_deviation_from_the_authors_networks(module, monkeypatch, deviation):
  # gan_jax's former CycleGAN networks: Flax's 'SAME' up-sampling keeps the first 2H of the 2H + 1 outputs (a
  # one-pixel shift from the authors' padding=1, output_padding=1), and an instance norm with scale and bias has
  # parameters the authors' affine=False one lacks. The check must see each.
  with pytest.raises(AssertionError, match=deviation(monkeypatch)):
    module.main(TINY)


@pytest.mark.slow  # About 30 distinct layers compiled (a minute of CPU).
def test_cyclegan_layers_section_runs_at_a_tiny_size(monkeypatch, capsys):
  # cpu_convolutions.py's CycleGAN breakdown at 32x32, widths 2, one residual block: every form of a layer agrees
  # with the library's (the section asserts it), and the applications add up to one step's.
  monkeypatch.syspath_prepend(BENCHMARKS)
  convolutions = load(os.path.join(BENCHMARKS, 'cpu_convolutions.py'))
  monkeypatch.setattr('sys.argv', ['cpu_convolutions.py', '--sections', 'cyclegan_layers', '--repeats', '1',
                                   '--cyclegan_resolution', '32', '--cyclegan_width', '2', '--cyclegan_blocks', '1'])
  convolutions.main()
  lines = capsys.readouterr().out.splitlines()
  summary = {line.split(' | ')[0][2:]: line.split(' | ')[1:] for line in lines[lines.index(next(
      line for line in lines if line.startswith('| kind | applications'))) + 2:] if line.startswith('| ')}
  assert set(summary) == {'7x7 conv, reflect pad', 'G 3x3 stride-2 conv', 'G residual 3x3 conv, reflect pad',
                          'G 3x3 up-conv', 'instance norm', 'D 4x4 stride-2 conv', 'D 4x4 stride-1 conv', 'all'}
  # Six applications of each network per step; a generator with one block: 8 convolutions and 7 norms; the
  # PatchGAN: 5 convolutions and 3 norms.
  assert int(summary['all'][0]) == 6 * (8 + 7) + 6 * (5 + 3)
  assert int(summary['instance norm'][0]) == 6 * 7 + 6 * 3
