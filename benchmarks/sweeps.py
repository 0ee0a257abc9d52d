r"""Runs the published comparisons as sweeps of `python -m gan_jax.main` and prints their tables.

  python benchmarks/sweeps.py stacked_mnist [--root workdirs/sweeps] [--num_steps N] [--seeds 0 1 2] \
      [--k 0 5 10] [--d quarter half] [--table_only]
  python benchmarks/sweeps.py image_losses [--datasets mnist fashion_mnist] [--losses '' hinge ...] [...]
  python benchmarks/sweeps.py mixtures [--experiment experiments/pacgan_grid.py] [--variants '' unrolled pack4]
  python benchmarks/sweeps.py rbm [--rbm_variants '' pcd cd10] [--seeds 0 1 2] [--num_steps N]
  python benchmarks/sweeps.py vae [--vae_variants '' fashion_mnist] [--seeds 0 1 2]
  python benchmarks/sweeps.py autoencoder [--autoencoder_variants '' sparse sparse_weight_decay denoising deep ...] \
      [--autoencoder_data mnist fashion_mnist]
  python benchmarks/sweeps.py dbn [--dbn_variants '' fashion_mnist] [--seeds 0 1 2]
  python benchmarks/sweeps.py ppgn [--ppgn_variants '' fashion_mnist] [--seeds 0 1 2]
  python benchmarks/sweeps.py pix2pix [--pix2pix_variants '' l1_only cgan_only l1_gan patch16 pixel map_to_image]
  python benchmarks/sweeps.py lapgan [--lapgan_data fashion_mnist emoji] [--lapgan_variants '' concat nearest] \
      [--seeds 0 1 2] [--num_steps N]
  python benchmarks/sweeps.py srgan [--seeds 0 1 2]
  python benchmarks/sweeps.py progan [--progan_data fashion_mnist emoji] [--progan_schedule short] [--seeds 0 1 2]
  python benchmarks/sweeps.py stackgan [--stackgan_settings stage1 no_ca stages12 stage1_one_attribute \
      stages12_one_attribute] [--stackgan_data mnist fashion_mnist] [--seeds 0 1 2]
  python benchmarks/sweeps.py cyclegan [--cyclegan_variants '' no_cycle no_adversarial unrolled] \
      [--cyclegan_data emoji maps] [--seeds 0 1 2]

Each run is one workdir (`<root>/<sweep>/<setting>_s<seed>`); a run whose metrics.json is at the requested step is
not run again, and an interrupted one resumes from its last checkpoint, so the same command continues a sweep.
`--reevaluate` trains nothing: it measures the runs' checkpoints again with this tree's evaluators (a measure added
since they were trained), each into its workdir's reevaluated.json beside the untouched metrics.json.
Runs go one after another (each already uses every core). The table gives each setting's mean and standard
deviation over seeds and, beside them, the published numbers. On an accelerator, raise --num_steps towards the
papers' lengths; the defaults are sized for a 2-core CPU (see README).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

from gan_jax import config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Metz et al. 2017, Table 2 (Stacked MNIST, 1,000 modes, 25,600 samples): (modes, KL) by D size and k; and
# PacGAN's best (Lin et al. 2018, Table 3: PacGAN4 with D = 1/4 G).
STACKED_PAPER = {
    ('quarter', 0): (30.6, 5.99), ('quarter', 1): (65.4, 5.91), ('quarter', 5): (236.4, 4.67),
    ('quarter', 10): (327.2, 4.66),
    ('half', 0): (628.0, 2.58), ('half', 1): (523.6, 2.44), ('half', 5): (732.0, 1.66), ('half', 10): (817.4, 1.43),
    ('quarter_pack4', 0): (867.0, 0.90),  # PacGAN's best in this setting, as the issue cites it.
}
D_LABELS = {'quarter': '1/4 G', 'half': '1/2 G', 'quarter_pack4': '1/4 G, PacGAN4'}
D_VARIANTS = {'quarter': '', 'half': ':half', 'quarter_pack4': ':pack4'}  # PacGAN4 with D = 1/4 G.


def run(config: str, workdir: str, overrides: list[str], num_steps: int | None) -> dict:
  """Trains (or resumes) one run to `num_steps` (None: the experiment's own) and returns its final metrics."""
  metrics_path = os.path.join(workdir, 'metrics.json')
  if os.path.exists(metrics_path):
    with open(metrics_path) as f:
      metrics = json.load(f)
    if num_steps is None or metrics.get('step') == num_steps:
      return metrics
  steps = [f'--config.train.num_steps={num_steps}'] if num_steps else []
  command = [sys.executable, '-m', 'gan_jax.main', f'--config={config}', f'--workdir={workdir}', *steps,
             *overrides]
  if os.path.exists(os.path.join(workdir, 'config.json')):
    command.append('--allow_config_change')  # A longer sweep continues a shorter one.
  print('+', ' '.join(command), flush=True)
  subprocess.run(command, cwd=REPO, check=True)
  with open(metrics_path) as f:
    return json.load(f)


def reevaluated(args, config: str, workdir: str, overrides: list[str]) -> dict | None:
  """A run's metrics measured again from its latest checkpoint by this tree's evaluator (`gan_jax.evaluate`, kept in
  the workdir's reevaluated.json: delete it to measure again), over its training metrics (its speed); None if it has
  no checkpoint, or with --table_only no reevaluated.json."""
  path = os.path.join(workdir, 'reevaluated.json')
  if not os.path.exists(path):
    if args.table_only or not os.path.isdir(os.path.join(workdir, 'checkpoints')):
      return None
    command = [sys.executable, '-m', 'gan_jax.evaluate', f'--config={config}', f'--workdir={workdir}', *overrides]
    print('+', ' '.join(command), flush=True)
    subprocess.run(command, cwd=REPO, check=True)
  metrics = {}
  for name in ('metrics.json', 'reevaluated.json'):
    if os.path.exists(os.path.join(workdir, name)):
      with open(os.path.join(workdir, name)) as f:
        metrics.update(json.load(f))
  return metrics


def result(args, config: str, workdir: str, overrides: list[str]) -> dict | None:
  """A run's final metrics: with --reevaluate measured again from its checkpoint (`reevaluated`), with --table_only
  read from its workdir (None if it has none), else trained or resumed to --num_steps first."""
  if args.reevaluate:
    return reevaluated(args, config, workdir, overrides)
  if args.table_only:
    path = os.path.join(workdir, 'metrics.json')
    if not os.path.exists(path):
      return None
    with open(path) as f:
      return json.load(f)
  return run(config, workdir, overrides, args.num_steps)


def eval_history(workdir: str) -> dict[int, dict[str, float]]:
  """Every evaluation a run wrote to its TensorBoard summaries ('eval/<name>'), by step, as TensorBoard shows them
  (a resumed run's repeated steps once): a run's metrics.json holds only its last."""
  from tensorboard.backend.event_processing import plugin_event_accumulator
  from tensorboard.util import tensor_util
  accumulator = plugin_event_accumulator.EventAccumulator(workdir, size_guidance={'tensors': 0})
  accumulator.Reload()
  history = {}
  for tag in accumulator.Tags()['tensors']:
    if tag.startswith('eval/'):
      for event in accumulator.Tensors(tag):
        history.setdefault(event.step, {})[tag[len('eval/'):]] = float(tensor_util.make_ndarray(event.tensor_proto))
  return history


def _data_dir(args) -> list[str]:
  return [f'--config.data.data_dir={args.data_dir}'] if args.data_dir else []


def seed_major(args, experiment: str, sweep: str, variants: list[str], base_name: str,
               overrides: list[str] = ()) -> dict[str, list[dict]]:
  """Each of an experiment's variants ('' is the experiment itself, named `base_name`) at each seed, seed-major (a
  cut-short sweep still has every variant at the seeds it reached); returns the final metrics by variant."""
  results = {variant: [] for variant in variants}
  for seed in args.seeds:
    for variant in variants:
      workdir = os.path.join(args.root, sweep, f'{variant or base_name}_s{seed}')
      metrics = result(args, experiment + (f':{variant}' if variant else ''), workdir,
                       [f'--config.seed={seed}', *overrides])
      if metrics:
        results[variant].append(metrics)
  return results


def _ms_per_step(results: list[dict]) -> str:
  return _mean_std([1000 / r['steps_per_second'] for r in results if r.get('steps_per_second')])


def _mean_std(values: list[float], digits: int = 1) -> str:
  if not values:
    return '–'
  if len(set(values)) == 1:  # One run, or runs that agree (the steps of a sweep).
    return f'{values[0]:.{digits}f}'
  return f'{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}'


def stacked_mnist(args) -> None:
  rows = ['| D | k | seeds | modes (of 1,000) | KL(model ‖ data) | paper: modes | paper: KL | ms/step |',
          '|---|---|---|---|---|---|---|---|']
  for d in args.d:
    for k in args.k:
      results = []
      for seed in args.seeds:
        workdir = os.path.join(args.root, 'stacked_mnist', f'd{d}_k{k}_s{seed}')
        overrides = [f'--config.unroll.steps={k}', f'--config.seed={seed}', *_data_dir(args)]
        results.append(result(args, f'experiments/unrolled_stacked.py{D_VARIANTS[d]}', workdir, overrides))
      results = [r for r in results if r]
      paper = STACKED_PAPER.get((d, k), (None, None))
      if not results and paper[0] is None:
        continue  # Neither run here nor published (PacGAN4 is compared at k = 0).
      rows.append(f'| {D_LABELS[d]} | {k} | {len(results)} | '
                  f'{_mean_std([r["modes_covered"] for r in results])} | '
                  f'{_mean_std([r["kl_to_uniform"] for r in results])} | '
                  f'{paper[0] if paper[0] is not None else "–"} | {paper[1] if paper[1] is not None else "–"} | '
                  f'{_ms_per_step(results)} |')
  print('\n'.join(rows))


LOSS_VARIANTS = ('', *config_lib.LOSS_VARIANTS)  # '' is the experiment itself: DCGAN's non-saturating loss.
LOSS_NAMES = {'': 'DCGAN (non-saturating)', 'least_squares': 'LSGAN', 'hinge': 'hinge', 'wgan_gp': 'WGAN-GP'}


def real_vs_real(dataset: str, data_dir: str, num: int) -> dict:
  """The classifier's scores of `num` real test images against `num` real training images: the floor of FD and KID
  and the ceiling of IS that a generator is compared with."""
  from gan_jax.data import images
  from gan_jax.evaluation import digits
  train, _ = images.load_images(dataset, 'train', data_dir or None, 28, 1)
  test, _ = images.load_images(dataset, 'test', data_dir or None, 28, 1)
  return digits.digit_scores(test[:num], train[:num], digits.load_digit_classifier(dataset))


def image_losses(args) -> None:
  """DCGAN and the loss family at 28x28 on the offline MNIST and Fashion-MNIST, scored by their classifiers."""
  rows = ['| dataset | loss | seeds | classifier IS | classifier FD | classifier KID | ms/step |',
          '|---|---|---|---|---|---|---|']
  for dataset in args.datasets:
    for variant in args.losses:
      results = []
      for seed in args.seeds:
        workdir = os.path.join(args.root, 'image_losses', f'{dataset}_{variant or "dcgan"}_s{seed}')
        config = f'experiments/dcgan_{dataset}.py' + (f':{variant}' if variant else '')
        results.append(result(args, config, workdir,
                              [f'--config.seed={seed}', '--config.eval.num_samples=2000', *_data_dir(args)]))
      results = [r for r in results if r]
      rows.append(f'| {dataset} | {LOSS_NAMES[variant]} | {len(results)} | '
                  f'{_mean_std([r["classifier_is"] for r in results])} | '
                  f'{_mean_std([r["classifier_fd"] for r in results])} | '
                  f'{_mean_std([r["classifier_kid"] for r in results], 2)} | '
                  f'{_ms_per_step(results)} |')
    real = real_vs_real(dataset, args.data_dir, 2000)
    rows.append(f'| {dataset} | real test vs real train (2,000 each) | – | {real["classifier_is"]:.1f} | '
                f'{real["classifier_fd"]:.1f} | {real["classifier_kid"]:.2f} | – |')
  print('\n'.join(rows))


# Published results on the 5x5 grid (2,500 samples; printed beside experiments/pacgan_grid.py only): (training
# length, modes of 25, high-quality %, reverse KL or None). VEEGAN's runs use VEEGAN's own networks and length.
MIXTURES_PAPER = {
    'VEEGAN Table 1, GAN': ("VEEGAN's", 3.3, 0.5, None),
    'VEEGAN Table 1, unrolled GAN (k = 5)': ("VEEGAN's", 23.6, 16.0, None),
    'PacGAN Table 1, GAN': ('400 epochs', 17.3, 94.8, 0.70),
    'PacGAN Table 1, PacGAN4': ('400 epochs', 24.8, 93.6, 0.04),
}
MIXTURE_LABELS = {'': 'GAN (k = 0)', 'unrolled': 'unrolled GAN (k = 5)', 'pack4': 'PacGAN4 (k = 0)'}
MIXTURE_METRICS = (('modes_covered', 'modes', 1.0), ('high_quality_fraction', 'high quality %', 100.0),
                   ('kl_to_uniform_high_quality', 'reverse KL (HQ)', 1.0), ('kl_to_uniform', 'KL (all)', 1.0))


def mixtures(args) -> None:
  """Mode collapse on a 2-D mixture: an experiment's variants x seeds, seed-major (a cut-short sweep still has every
  variant at the seeds it reached), beside the published grid numbers."""
  stem = os.path.splitext(os.path.basename(args.experiment))[0]
  results = seed_major(args, args.experiment, stem, args.variants, 'base')
  header = ['run', 'seeds', 'steps'] + [name for _, name, _ in MIXTURE_METRICS] + ['ms/step']
  rows = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for variant, runs in results.items():
    cells = [MIXTURE_LABELS.get(variant, variant), str(len(runs)), _mean_std([r['step'] for r in runs])]
    cells += [_mean_std([scale * r[key] for r in runs], 2) for key, _, scale in MIXTURE_METRICS]
    cells.append(_ms_per_step(runs))
    rows.append('| ' + ' | '.join(cells) + ' |')
  for name, (length, modes, hq, kl) in (MIXTURES_PAPER.items() if stem == 'pacgan_grid' else ()):
    rows.append('| ' + ' | '.join([name, '', length, f'{modes}', f'{hq}', '' if kl is None else f'{kl}', '', ''])
                + ' |')
  print('\n'.join(rows))


RBM_LABELS = {'': 'CD-1', 'pcd': 'PCD-1', 'cd10': 'CD-10', 'cd25': 'CD-25'}
# Salakhutdinov & Murray (2008), 500 hidden units on the full binarised MNIST (60,000 training digits): about -86
# nats with CD-25; CD-1 far worse.
RBM_PAPER = {'cd25': '≈ −86'}


def rbm(args) -> None:
  """The Bernoulli RBM (500 hidden units) on binarised MNIST by learning rule, measured by AIS, seed-major."""
  results = seed_major(args, 'experiments/rbm_mnist.py', 'rbm', args.rbm_variants, 'cd1', _data_dir(args))
  rows = ['| rule | seeds | steps | test log-likelihood (AIS, nats) | AIS std error of log Z | test pseudo-LL | '
          'reconstruction error / pixel | paper | ms/step |', '|' + '---|' * 9]
  for variant, runs in results.items():
    rows.append(f'| {RBM_LABELS.get(variant, variant)} | {len(runs)} | {_mean_std([r["step"] for r in runs], 0)} | '
                f'{_mean_std([r["test_log_likelihood"] for r in runs])} | '
                f'{_mean_std([r["log_z_std_error"] for r in runs], 2)} | '
                f'{_mean_std([r["test_pseudo_log_likelihood"] for r in runs])} | '
                f'{_mean_std([r["test_reconstruction_error"] for r in runs], 4)} | {RBM_PAPER.get(variant, "–")} | '
                f'{_ms_per_step(runs)} |')
  print('\n'.join(rows))


VAE_PAPER = {'': '−86.76 (k = 5,000; 60,000 training digits)'}  # Burda et al. (2016), Table 1: VAE, one layer, k = 1.


def vae(args) -> None:
  """The VAE (Burda et al.'s one-stochastic-layer model) on binarised MNIST (and its variants), seed-major."""
  results = seed_major(args, 'experiments/vae_mnist.py', 'vae', args.vae_variants, 'mnist', _data_dir(args))
  rows = ['| data | seeds | steps | test ELBO | test log-likelihood (k = 5,000) | KL | active units | paper | ms/step |',
          '|' + '---|' * 9]
  for variant, runs in results.items():
    rows.append(f'| {variant or "mnist"} | {len(runs)} | {_mean_std([r["step"] for r in runs], 0)} | '
                f'{_mean_std([r["test_elbo"] for r in runs], 2)} | '
                f'{_mean_std([r["test_log_likelihood_iw"] for r in runs], 2)} | '
                f'{_mean_std([r["test_kl"] for r in runs], 2)} | {_mean_std([r["test_active_units"] for r in runs])} | '
                f'{VAE_PAPER.get(variant, "–")} | {_ms_per_step(runs)} |')
  print('\n'.join(rows))


AUTOENCODER_LABELS = {'': 'plain', 'sparse': 'sparse', 'sparse_weight_decay': 'sparse + weight decay',
                      'denoising': 'denoising (25% masked)', 'deep': '784-256-64, end to end',
                      'stacked': '784-256-64, stacked (greedy pre-training)', 'conv': 'convolutional'}


def autoencoder(args) -> None:
  """The autoencoders (64 sigmoid codes) by variant, seed-major: test reconstruction and linear probes of the codes
  beside the raw pixels and the untrained encoder."""
  rows = ['| data | autoencoder | seeds | steps | test cross-entropy (nats) | probe: codes | probe: pixels | '
          'probe: untrained encoder | mean code | ms/step |', '|' + '---|' * 10]
  for data in args.autoencoder_data:
    # Every variant runs on either dataset by overriding data.name; MNIST's runs keep the sweep's first directory.
    sweep = 'autoencoder' if data == 'mnist' else f'autoencoder_{data}'
    results = seed_major(args, 'experiments/autoencoder_mnist.py', sweep, args.autoencoder_variants, 'plain',
                         [f'--config.data.name={data}', *_data_dir(args)])
    rows += _autoencoder_rows(data, results)
  print('\n'.join(rows))


def _autoencoder_rows(data: str, results: dict[str, list[dict]]) -> list[str]:
  rows = []
  for variant, runs in results.items():
    rows.append(f'| {data} | {AUTOENCODER_LABELS.get(variant, variant)} | {len(runs)} | '
                f'{_mean_std([r["step"] for r in runs], 0)} | {_mean_std([r["test_cross_entropy"] for r in runs])} | '
                f'{_mean_std([r["probe_accuracy"] for r in runs], 3)} | '
                f'{_mean_std([r["probe_accuracy_pixels"] for r in runs], 3)} | '
                f'{_mean_std([r["probe_accuracy_random_encoder"] for r in runs], 3)} | '
                f'{_mean_std([r["test_mean_code"] for r in runs], 3)} | {_ms_per_step(runs)} |')
  return rows


def dbn(args) -> None:
  """The DBN (784-500-500, CD-1 per layer) by variant, seed-major: its top features under a linear probe against the
  pixels, and a classifier fine-tuned from it against the same one from random weights."""
  results = seed_major(args, 'experiments/dbn_mnist.py', 'dbn', args.dbn_variants, 'mnist', _data_dir(args))
  rows = ['| DBN | seeds | steps | probe: top features | probe: pixels | fine-tuned from the DBN | '
          'fine-tuned from random weights | test reconstruction error / pixel | ms/step |', '|' + '---|' * 9]
  for variant, runs in results.items():
    rows.append(f'| {variant or "mnist"} | {len(runs)} | {_mean_std([r["step"] for r in runs], 0)} | '
                f'{_mean_std([r["probe_accuracy"] for r in runs], 3)} | '
                f'{_mean_std([r["probe_accuracy_pixels"] for r in runs], 3)} | '
                f'{_mean_std([r["fine_tuned_accuracy"] for r in runs], 3)} | '
                f'{_mean_std([r["fine_tuned_accuracy_random_init"] for r in runs], 3)} | '
                f'{_mean_std([r["test_reconstruction_error"] for r in runs], 4)} | {_ms_per_step(runs)} |')
  print('\n'.join(rows))


PIX2PIX_LABELS = {'': 'L1 + cGAN, 70×70 (the paper\'s)', 'l1_only': 'L1 alone', 'cgan_only': 'cGAN alone',
                  'l1_gan': 'L1 + unconditional GAN', 'patch16': 'L1 + cGAN, 16×16 patches',
                  'pixel': 'L1 + cGAN, 1×1 (PixelGAN)', 'map_to_image': 'map → photo, L1 + cGAN'}


def pix2pix(args) -> None:
  """pix2pix on satellite_maps by variant, seed-major: the held-out tiles' L1, PSNR, SSIM, (towards the map)
  colour-class accuracy and sharpness against the real targets' (`translation_metrics`; runs measured before it was
  added: '–', or see --reevaluate), beside the mean training target's."""
  results = seed_major(args, 'experiments/pix2pix_maps.py', 'pix2pix', args.pix2pix_variants, 'full',
                       _data_dir(args))
  rows = ['| pix2pix | seeds | steps | test L1 ↓ | PSNR (dB) ↑ | SSIM ↑ | class accuracy ↑ | water accuracy ↑ | '
          'sharpness (1 = real) | top band (dB, 0 = real) | '
          'mean target: L1 / PSNR / SSIM / class / sharpness | ms/step |',
          '|' + '---|' * 12]
  for variant, runs in results.items():
    cells = [_mean_std([r[f'test_{key}'] for r in runs if f'test_{key}' in r], digits)
             for key, digits in (('l1', 4), ('psnr', 2), ('ssim', 3), ('class_accuracy', 3), ('water_accuracy', 3),
                                 ('sharpness', 2), ('top_band_db', 1))]
    baseline = ' / '.join(_mean_std([r[f'test_{key}_mean_target'] for r in runs if f'test_{key}_mean_target' in r],
                                    digits) for key, digits in (('l1', 4), ('psnr', 2), ('ssim', 3),
                                                                ('class_accuracy', 3), ('sharpness', 2)))
    rows.append(f'| {PIX2PIX_LABELS.get(variant, variant)} | {len(runs)} | {_mean_std([r["step"] for r in runs], 0)} | '
                f'{" | ".join(cells)} | {baseline} | {_ms_per_step(runs)} |')
  print('\n'.join(rows))


PPGN_COLUMNS = (('accuracy_conditioning', 'conditioning classifier', 3), ('accuracy_independent',
                'independent classifier', 3), ('accuracy_nearest_neighbour', 'pixel 1-NN', 3),
                ('nearest_neighbour_distance', 'distance to nearest training image', 2),
                ('diversity_ratio', 'diversity / real', 2), ('mixing_ratio', 'mixing ratio', 2))


def ppgn(args) -> None:
  """PPGN-h by variant, seed-major: per sampler (the full one, and eps1 = 0 without the prior), the fraction of
  samples of their class by three judges, their distance to the training images, diversity and mixing."""
  results = seed_major(args, 'experiments/ppgn_mnist.py', 'ppgn', args.ppgn_variants, 'mnist', _data_dir(args))
  header = ['data', 'sampler', 'seeds'] + [name for _, name, _ in PPGN_COLUMNS]
  rows = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for variant, runs in results.items():
    for sampler, label in (('full', 'full (eps1 > 0)'), ('no_prior', 'no prior (eps1 = 0)'), ('real', 'real test')):
      cells = [variant or 'mnist', label, str(len(runs))]
      for key, _, digits in PPGN_COLUMNS:
        values = [r[f'{sampler}_{key}'] for r in runs if f'{sampler}_{key}' in r]
        cells.append(_mean_std(values, digits) if values else '–')
      rows.append('| ' + ' | '.join(cells) + ' |')
  print('\n'.join(rows))


LAPGAN_LABELS = {'': 'LAPGAN 28-14-7 (bilinear, D on h + l)', 'concat': 'LAPGAN, D on (h + l, l)',
                 'nearest': 'LAPGAN, nearest upsampling'}
LAPGAN_STEPS = 2000  # Both models' default length: the README's DCGAN runs (128,000 training images at batch 64).


def dcgan_acceptance(workdir: str, seed: int, data_dir: str, num: int, threshold: float) -> float:
  """The person-free check on a finished DCGAN run: the fraction of its `num` evaluation samples (the run's fixed
  latents, as its evaluation drew them) that the Fashion-MNIST classifier accepts with probability > threshold."""
  import numpy as np
  from gan_jax import sample
  from gan_jax.evaluation import digits, evaluator
  from gan_jax.families import lapgan as lapgan_family
  from common import load_config  # benchmarks/common.py (this script's folder is on sys.path).
  config = load_config('experiments/dcgan_fashion_mnist.py')
  config.seed, config.data.data_dir = seed, data_dir
  state, _ = sample.restore_run(config, workdir)
  samples = np.clip(evaluator.generate(state, config, num), -1.0, 1.0)
  logits, _ = digits.load_digit_classifier('fashion_mnist')(samples)
  return lapgan_family.acceptance(logits, threshold)


def lapgan(args) -> None:
  """LAPGAN by variant beside a DCGAN of a similar parameter count for the same number of steps, seed-major, per
  dataset of --lapgan_data. Fashion-MNIST (batch 64; DCGAN: experiments/dcgan_fashion_mnist.py): the classifier's
  IS, FD and KID, and the fraction of samples it accepts as a garment with probability > 0.9 (the same fraction for
  real test images in the last row). Emoji (experiments/lapgan_emoji.py; DCGAN: its `dcgan` variant, the coarsest
  GAN alone on the whole image): the emoji domain classifier's FD and KID, and the FD of other real emoji (the
  floor) in the last row."""
  for data in args.lapgan_data:
    (lapgan_emoji_sweep if data == 'emoji' else lapgan_fashion_mnist)(args)


def lapgan_fashion_mnist(args) -> None:
  steps = args.num_steps or LAPGAN_STEPS
  overrides = [*_data_dir(args), '--config.eval.num_samples=2000']
  results = {variant: [] for variant in [*args.lapgan_variants, 'dcgan']}
  for seed in args.seeds:
    for variant in results:
      experiment = 'experiments/dcgan_fashion_mnist.py' if variant == 'dcgan' else (
          'experiments/lapgan_fashion_mnist.py' + (f':{variant}' if variant else ''))
      workdir = os.path.join(args.root, 'lapgan', f'{variant or "lapgan"}_s{seed}')
      seeded = [f'--config.seed={seed}', *overrides]
      metrics = result(args, experiment, workdir, seeded) if args.table_only else run(experiment, workdir, seeded,
                                                                                       steps)
      if metrics and variant == 'dcgan':
        metrics['accepted_fraction'] = dcgan_acceptance(workdir, seed, args.data_dir, 2000, 0.9)
      if metrics:
        results[variant].append(metrics)
  rows = ['| model | seeds | steps | classifier IS ↑ | classifier FD ↓ | classifier KID ↓ | accepted (p > 0.9) ↑ | '
          'ms/step |', '|' + '---|' * 8]
  for variant, runs in results.items():
    label = 'DCGAN (width 32)' if variant == 'dcgan' else LAPGAN_LABELS.get(variant, variant)
    rows.append(f'| {label} | {len(runs)} | {_mean_std([r["step"] for r in runs], 0)} | '
                f'{_mean_std([r["classifier_is"] for r in runs], 2)} | '
                f'{_mean_std([r["classifier_fd"] for r in runs])} | '
                f'{_mean_std([r["classifier_kid"] for r in runs], 2)} | '
                f'{_mean_std([r["accepted_fraction"] for r in runs], 3)} | {_ms_per_step(runs)} |')
  real = [r['accepted_fraction_real'] for runs in results.values() for r in runs if 'accepted_fraction_real' in r]
  if real:
    rows.append(f'| real test images (2,000) | – | – | – | – | – | {real[0]:.3f} | – |')
  print('\n'.join(rows))


def lapgan_emoji_sweep(args) -> None:
  results = {variant: [] for variant in [*args.lapgan_variants, 'dcgan']}
  for seed in args.seeds:
    for variant in results:
      experiment = 'experiments/lapgan_emoji.py' + (f':{variant}' if variant else '')
      workdir = os.path.join(args.root, 'lapgan_emoji', f'{variant or "lapgan"}_s{seed}')
      metrics = result(args, experiment, workdir, [f'--config.seed={seed}', *_data_dir(args)])
      if metrics:
        results[variant].append(metrics)
  print('\n'.join(lapgan_emoji_table(results)))


def lapgan_emoji_table(results: dict[str, list[dict]]) -> list[str]:
  """The emoji comparison's rows: each model's runs (`results`, by lapgan_emoji.py's variant, 'dcgan' the
  baseline) as mean and spread of the domain classifier's FD and KID; then the real emoji's FD."""
  labels = {'': 'LAPGAN 64-32-16-8', 'dcgan': 'DCGAN (one level, `:dcgan`)', 'openmoji': 'LAPGAN on OpenMoji'}
  rows = ['| model | seeds | steps | classifier FD ↓ | classifier KID ↓ | ms/step |', '|' + '---|' * 6]
  for variant, runs in results.items():
    rows.append(f'| {labels.get(variant, variant)} | {len(runs)} | {_mean_std([r["step"] for r in runs], 0)} | '
                f'{_mean_std([r["classifier_fd"] for r in runs])} | '
                f'{_mean_std([r["classifier_kid"] for r in runs], 2)} | {_ms_per_step(runs)} |')
  real = [r['classifier_fd_real'] for runs in results.values() for r in runs if 'classifier_fd_real' in r]
  if real:
    rows.append(f'| other real training emoji (the floor) | – | – | {real[0]:.1f} | – | – |')
  return rows


def srgan(args) -> None:
  """SRResNet, then SRGAN started from it (srgan.init_from), per seed: PSNR and SSIM on Y of the held-out photos'
  crops, beside bicubic upsampling of the same LR inputs."""
  experiment, runs = 'experiments/srgan_photos.py', {'bicubic': [], 'srresnet': [], 'srgan': []}
  for seed in args.seeds:
    resnet_dir = os.path.join(args.root, 'srgan', f'srresnet_s{seed}')
    resnet = result(args, f'{experiment}:srresnet', resnet_dir, [f'--config.seed={seed}', *_data_dir(args)])
    gan = result(args, experiment, os.path.join(args.root, 'srgan', f'srgan_s{seed}'),
                 [f'--config.seed={seed}', f'--config.srgan.init_from={resnet_dir}', *_data_dir(args)])
    if resnet:
      runs['srresnet'].append(resnet)
      runs['bicubic'].append({k: resnet[f'{k}_bicubic'] for k in ('test_psnr_y', 'test_ssim_y')})
    if gan:
      runs['srgan'].append(gan)
  rows = ['| method | seeds | PSNR Y (dB) | SSIM Y |', '|---|---|---|---|']
  for name, label in (('bicubic', 'bicubic'), ('srresnet', 'SRResNet (MSE)'), ('srgan', 'SRGAN-MSE (from SRResNet)')):
    found = runs[name]
    rows.append(f'| {label} | {len(found)} | {_mean_std([r["test_psnr_y"] for r in found], 2)} | '
                f'{_mean_std([r["test_ssim_y"] for r in found], 4)} |')
  print('\n'.join(rows))


PROGAN_EXPERIMENTS = {'fashion_mnist': 'experiments/progan_fashion_mnist.py', 'emoji': 'experiments/progan_emoji.py'}


def progan_table(title: str, phases: dict[int, str], batch_size: int, histories: dict[str, list[dict]]) -> list[str]:
  """The rows of the per-phase table: at each evaluation step of `phases` (step: the phase that ended there), the
  images shown, the progressive runs' classifier FD and KID and the fixed runs' at the same step (mean and spread
  over the runs' `histories`, 'progressive' and 'fixed', each a list of `eval_history`), the FD of real images
  reduced to the phase's resolution, and each side's seconds since the previous evaluation."""
  def cell(side: str, step: int, name: str, digits: int) -> str:
    return _mean_std([h[step][name] for h in histories[side] if name in h.get(step, {})], digits)

  rows = [f'{title}:', '| phase (ending at) | images | progressive FD ↓ | progressive KID ↓ | fixed FD ↓ | '
          'fixed KID ↓ | FD of real images at the resolution | progressive s | fixed s |', '|' + '---|' * 9]
  for step, phase in sorted(phases.items()):
    if not any(step in h for side in histories.values() for h in side):
      continue
    rows.append(f'| {phase} | {step * batch_size:,} | {cell("progressive", step, "classifier_fd", 1)} | '
                f'{cell("progressive", step, "classifier_kid", 2)} | {cell("fixed", step, "classifier_fd", 1)} | '
                f'{cell("fixed", step, "classifier_kid", 2)} | '
                f'{cell("progressive", step, "real_fd_at_resolution", 1)} | '
                f'{cell("progressive", step, "stage_seconds", 0)} | {cell("fixed", step, "stage_seconds", 0)} |')
  return rows


def progan(args) -> None:
  """Progressive GAN beside the same final networks trained without growing (the experiments' `fixed`) on as many
  images, seed-major: at each phase's end, both sides' classifier FD and KID (from the runs' TensorBoard
  summaries), the real images' FD at the phase's resolution and the phase's time."""
  from common import load_config  # benchmarks/common.py (this script's folder is on sys.path).
  from gan_jax.families import progan as progan_family
  schedule = args.progan_schedule
  for data in args.progan_data:
    experiment = PROGAN_EXPERIMENTS[data]
    histories = {'progressive': [], 'fixed': []}
    for seed in args.seeds:
      for side in histories:
        variant = '+'.join(v for v in ('fixed' if side == 'fixed' else '', schedule) if v)
        workdir = os.path.join(args.root, f'progan_{data}' + (f'_{schedule}' if schedule else ''), f'{side}_s{seed}')
        if result(args, experiment + (f':{variant}' if variant else ''), workdir,
                  [f'--config.seed={seed}', *_data_dir(args)]):
          histories[side].append(eval_history(workdir))
    config = load_config(experiment, schedule)
    experiment += f':{schedule}' if schedule else ''
    ends = {s.start + s.steps: s for s in progan_family.stages(config)}
    phases = {step: f'{s.resolution}×{s.resolution} {"fade-in" if s.fading else "stable"}' for step, s in ends.items()}
    phases[config.train.num_steps] = phases.pop(max(phases))  # The last stage runs on to the end.
    print('\n'.join(progan_table(experiment, phases, config.train.batch_size, histories)) + '\n')


# setting: (experiments/stackgan_mnist.py's variants, label); each setting's workdir is <root>/stackgan[_<data>]/.
STACKGAN_SETTINGS = {'stage1': ('stage1_only', 'stage I alone'),
                     'no_ca': ('no_ca+stage1_only', 'stage I without conditioning augmentation'),
                     'stages12': ('', 'stage I + II'),
                     'stage1_one_attribute': ('one_attribute+stage1_only', 'stage I alone, one-attribute mismatches'),
                     'stages12_one_attribute': ('one_attribute', 'stage I + II, one-attribute mismatches')}
STACKGAN_CHECKS = ('class', 'colour', 'background', 'size', 'position', 'all')


def stackgan_table(title: str, results: dict[str, list[dict]]) -> list[str]:
  """The rows of the caption-match table of StackGAN runs by setting (one row per stage each setting's runs drew),
  then the test images' own fractions at each stage's side."""
  rows = [f'{title}:', '| setting | seeds | steps | samples | ' + ' | '.join(STACKGAN_CHECKS) + ' |',
          '|' + '---|' * (4 + len(STACKGAN_CHECKS))]
  for setting, runs in results.items():
    for stage, label in (('stage1', 'stage I'), ('stage2', 'stage II')):
      if runs and f'{stage}_all' in runs[0]:
        cells = [_mean_std([r[f'{stage}_{c}'] for r in runs], 3) for c in STACKGAN_CHECKS]
        rows.append(f'| {STACKGAN_SETTINGS[setting][1]} | {len(runs)} | {_mean_std([r["step"] for r in runs], 0)} '
                    f'| {label} | ' + ' | '.join(cells) + ' |')
  for stage, label in (('stage1', 'stage I'), ('stage2', 'stage II')):
    real = next((r for runs in results.values() for r in runs if f'real_{stage}_all' in r), None)
    if real:  # The same for every run: the test images themselves.
      cells = [f'{real[f"real_{stage}_{c}"]:.3f}' for c in STACKGAN_CHECKS]
      rows.append(f"| real test images at {label}'s side | – | – | – | " + ' | '.join(cells) + ' |')
  return rows


STACKGAN_D_CHECKS = ('own', *(f'{check}_changed' for check in STACKGAN_CHECKS[:-1]))


def stackgan_d_table(results: dict[str, list[dict]]) -> list[str]:
  """Which attributes each stage's D checks, by setting: its mean probability of 'real' for the real test images
  with their own captions and with each attribute changed (the evaluation's 'd<k>_real_*'), over seeds; runs from
  before those metrics existed have no row."""
  rows = ['| setting | seeds | D | own caption | ' + ' | '.join(f'{c} changed' for c in STACKGAN_CHECKS[:-1]) + ' |',
          '|' + '---|' * (3 + len(STACKGAN_D_CHECKS))]
  for setting, runs in results.items():
    for k in (1, 2):
      measured = [r for r in runs if f'd{k}_real_own' in r]
      if measured:
        cells = [_mean_std([r[f'd{k}_real_{c}'] for r in measured], 3) for c in STACKGAN_D_CHECKS]
        rows.append(f'| {STACKGAN_SETTINGS[setting][1]} | {len(measured)} | D{k} | ' + ' | '.join(cells) + ' |')
  return rows if len(rows) > 2 else []


def stackgan(args) -> None:
  """StackGAN on the captioned sets by setting, seed-major: the fraction of each stage's samples whose class, colours,
  size and position (read by the caption checker) match their caption, beside the test images' own fractions."""
  for data in args.stackgan_data:
    data_variant = '' if data == 'mnist' else data  # The experiment's variant that switches the captioned set.
    results = {setting: [] for setting in args.stackgan_settings}
    for seed in args.seeds:
      for setting in results:
        variant = '+'.join(name for name in (data_variant, STACKGAN_SETTINGS[setting][0]) if name)
        workdir = os.path.join(args.root, 'stackgan' + ('' if data == 'mnist' else f'_{data}'), f'{setting}_s{seed}')
        metrics = result(args, 'experiments/stackgan_mnist.py' + (f':{variant}' if variant else ''),
                         workdir, [f'--config.seed={seed}', *_data_dir(args)])
        if metrics:
          results[setting].append(metrics)
    print('\n'.join(stackgan_table(f'captioned_{data}', results)) + '\n')
    d_rows = stackgan_d_table(results)
    if d_rows:
      print(f"captioned_{data}: each D's mean probability of 'real' for real test images\n" + '\n'.join(d_rows) + '\n')


CYCLEGAN_EXPERIMENTS = {'emoji': ('experiments/cyclegan_emoji.py', 'cyclegan'),
                        'maps': ('experiments/cyclegan_maps.py', 'cyclegan_maps')}
CYCLEGAN_NAMES = {'': 'CycleGAN', 'no_cycle': 'cycle loss off', 'no_adversarial': 'adversarial loss off',
                  'no_identity': 'identity loss off', 'unrolled': 'both D unrolled, k = 5'}
# (metric, column, digits): per direction, then the cycle reconstructions.
CYCLEGAN_COLUMNS = (('test_l1_ab', 'L1 ab ↓', 3), ('test_ssim_ab', 'SSIM ab ↑', 3), ('test_fd_ab', 'FD ab ↓', 1),
                    ('test_l1_ba', 'L1 ba ↓', 3), ('test_ssim_ba', 'SSIM ba ↑', 3), ('test_fd_ba', 'FD ba ↓', 1),
                    ('test_cycle_l1_a', 'cycle L1 a ↓', 3), ('test_cycle_l1_b', 'cycle L1 b ↓', 3))
# The baselines every run computes alike, by column: the input copied as its translation, and (FD only) as many
# training images of the target domain.
CYCLEGAN_BASELINES = {
    'input copied': {'test_l1_ab': 'test_l1_ab_input_copy', 'test_ssim_ab': 'test_ssim_ab_input_copy',
                     'test_fd_ab': 'test_fd_input_copy', 'test_l1_ba': 'test_l1_ba_input_copy',
                     'test_ssim_ba': 'test_ssim_ba_input_copy', 'test_fd_ba': 'test_fd_input_copy'},
    'real images of the target domain (training split)': {'test_fd_ab': 'test_fd_ab_real',
                                                          'test_fd_ba': 'test_fd_ba_real'},
    'real images of the target domain (spread over the training split)': {'test_fd_ab': 'test_fd_ab_real_spread',
                                                                          'test_fd_ba': 'test_fd_ba_real_spread'},
}
# pix2pix's further measures (`image_metrics.translation_metrics`; class and water accuracy only towards a map), in
# a second table where the runs have them (reevaluated): (name, column, digits), each direction.
CYCLEGAN_MEASURES = (('psnr', 'PSNR', 2), ('sharpness', 'sharpness', 2), ('top_band_db', 'top band dB', 1),
                     ('class_accuracy', 'class acc.', 3), ('water_accuracy', 'water acc.', 3))


def cyclegan_measures_table(results: dict) -> list[str]:
  """The rows of the table of `CYCLEGAN_MEASURES` by variant, then their input-copy and mean-target baselines;
  only the measures some run has ([] when none has any)."""
  runs_all = [r for runs in results.values() for r in runs]
  columns = [(f'test_{name}_{d}', f'{label} {d}', digits) for d in ('ab', 'ba') for name, label, digits in
             CYCLEGAN_MEASURES if any(f'test_{name}_{d}' in r for r in runs_all)]
  if not columns:
    return []
  header = ['model', 'seeds'] + [label for _, label, _ in columns]
  rows = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for variant, runs in results.items():
    cells = [_mean_std([r[key] for r in runs if key in r], digits) for key, _, digits in columns]
    rows.append('| ' + ' | '.join([CYCLEGAN_NAMES.get(variant, variant), str(len(runs))] + cells) + ' |')
  any_run = next(r for r in runs_all if columns[0][0] in r)
  for suffix, label in (('_input_copy', 'input copied'), ('_mean_target', 'mean training target')):
    cells = [_mean_std([any_run[key + suffix]], digits) if key + suffix in any_run else '–'
             for key, _, digits in columns]
    rows.append('| ' + ' | '.join([label, '–'] + cells) + ' |')
  return rows


def cyclegan(args) -> None:
  """CycleGAN and its ablations by dataset, seed-major: each direction's L1 and SSIM against the hidden true pair
  and FD in the domain classifier's features, the cycle reconstructions' L1, the step time, and the baselines; then,
  where the runs have them, pix2pix's further measures (`cyclegan_measures_table`)."""
  for data in args.cyclegan_data:
    experiment, sweep = CYCLEGAN_EXPERIMENTS[data]
    results = seed_major(args, experiment, sweep, args.cyclegan_variants, data, _data_dir(args))
    header = ['model', 'seeds'] + [name for _, name, _ in CYCLEGAN_COLUMNS] + ['ms/step']
    rows = [f'{experiment}:', '| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for variant, runs in results.items():
      cells = [CYCLEGAN_NAMES.get(variant, variant), str(len(runs))]
      for key, _, digits in CYCLEGAN_COLUMNS:
        cells.append(_mean_std([r[key] for r in runs if key in r], digits))
      rows.append('| ' + ' | '.join(cells + [_ms_per_step(runs)]) + ' |')
    any_run = next((r for runs in results.values() for r in runs), None)
    for label, keys in CYCLEGAN_BASELINES.items():
      if any_run and any(keys.get(k) in any_run for k, _, _ in CYCLEGAN_COLUMNS):
        cells = [label, '–'] + [_mean_std([any_run[keys[k]]], d) if keys.get(k) in any_run else '–'
                                for k, _, d in CYCLEGAN_COLUMNS]
        rows.append('| ' + ' | '.join(cells + ['–']) + ' |')
    measures = cyclegan_measures_table(results)
    print('\n'.join(rows + ([''] + measures if measures else [])) + '\n')


SWEEPS = {'stacked_mnist': stacked_mnist, 'image_losses': image_losses, 'mixtures': mixtures, 'rbm': rbm, 'vae': vae,
          'autoencoder': autoencoder, 'dbn': dbn, 'ppgn': ppgn, 'pix2pix': pix2pix, 'lapgan': lapgan,
          'srgan': srgan, 'cyclegan': cyclegan, 'stackgan': stackgan, 'progan': progan}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('sweep', choices=sorted(SWEEPS))
  parser.add_argument('--root', default=os.path.join(REPO, 'workdirs', 'sweeps'))
  parser.add_argument('--num_steps', type=int, default=None, help="default: each experiment's own")
  parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
  parser.add_argument('--k', type=int, nargs='+', default=[0, 5, 10])
  parser.add_argument('--d', nargs='+', choices=sorted(D_VARIANTS), default=['quarter', 'half'])
  parser.add_argument('--datasets', nargs='+', choices=('mnist', 'fashion_mnist'),
                      default=['mnist', 'fashion_mnist'])
  parser.add_argument('--losses', nargs='+', choices=LOSS_VARIANTS, default=list(LOSS_VARIANTS),
                      help="image_losses: the experiments' loss variants ('' is DCGAN's).")
  parser.add_argument('--experiment', default='experiments/pacgan_grid.py', help='mixtures: the experiment.')
  parser.add_argument('--variants', nargs='+', default=['', 'unrolled', 'pack4'],
                      help="mixtures: its variants ('' is the experiment itself).")
  parser.add_argument('--rbm_variants', nargs='+', default=['', 'pcd', 'cd10'],
                      help="rbm: experiments/rbm_mnist.py's variants ('' is CD-1).")
  parser.add_argument('--vae_variants', nargs='+', default=[''],
                      help="vae: experiments/vae_mnist.py's variants ('' is MNIST; fashion_mnist).")
  parser.add_argument('--autoencoder_variants', nargs='+',
                      default=['', 'sparse', 'sparse_weight_decay', 'denoising', 'deep', 'stacked', 'conv'],
                      help="autoencoder: experiments/autoencoder_mnist.py's variants ('' is the plain one).")
  parser.add_argument('--autoencoder_data', nargs='+', choices=('mnist', 'fashion_mnist'), default=['mnist'],
                      help='autoencoder: the datasets each variant runs on.')
  parser.add_argument('--dbn_variants', nargs='+', default=[''],
                      help="dbn: experiments/dbn_mnist.py's variants ('' is MNIST; cd10, fashion_mnist).")
  parser.add_argument('--ppgn_variants', nargs='+', default=[''],
                      help="ppgn: experiments/ppgn_mnist.py's variants ('' is MNIST; fashion_mnist).")
  parser.add_argument('--pix2pix_variants', nargs='+', default=list(PIX2PIX_LABELS),
                      help="pix2pix: experiments/pix2pix_maps.py's variants ('' is the paper's system).")
  parser.add_argument('--lapgan_variants', nargs='+', default=[''],
                      help="lapgan: experiments/lapgan_fashion_mnist.py's variants ('' is the paper's; concat, "
                           "nearest), each beside DCGAN.")
  parser.add_argument('--lapgan_data', nargs='+', choices=('fashion_mnist', 'emoji'), default=['fashion_mnist'],
                      help='lapgan: Fashion-MNIST (beside dcgan_fashion_mnist.py, for --num_steps, default 2,000) '
                           "and/or emoji (lapgan_emoji.py beside its dcgan variant, for --num_steps or the "
                           "experiment's).")
  parser.add_argument('--cyclegan_variants', nargs='+', default=['', 'no_cycle', 'no_adversarial'],
                      help="cyclegan: the experiments' variants ('' is CycleGAN; no_identity, unrolled).")
  parser.add_argument('--cyclegan_data', nargs='+', choices=sorted(CYCLEGAN_EXPERIMENTS), default=['emoji'],
                      help='cyclegan: emoji (experiments/cyclegan_emoji.py) and/or maps (cyclegan_maps.py).')
  parser.add_argument('--progan_data', nargs='+', choices=sorted(PROGAN_EXPERIMENTS), default=['fashion_mnist'],
                      help='progan: the datasets (experiments/progan_<data>.py), each grown and fixed.')
  parser.add_argument('--progan_schedule', choices=('', 'short'), default='',
                      help="progan: the experiments' schedule ('' theirs: 32,000 images per phase; short: 8,000).")
  parser.add_argument('--stackgan_settings', nargs='+', choices=list(STACKGAN_SETTINGS),
                      default=['stage1', 'no_ca', 'stages12'],
                      help="stackgan: stage1 (stage I alone), no_ca (stage I without conditioning augmentation), "
                           "stages12 (stage I then stage II: the experiment itself), and stage1 and stages12 with D's "
                           "mismatched captions changed in one attribute (stage1_one_attribute, "
                           "stages12_one_attribute).")
  parser.add_argument('--stackgan_data', nargs='+', choices=('mnist', 'fashion_mnist'), default=['mnist'],
                      help='stackgan: captioned_mnist and/or captioned_fashion_mnist.')
  parser.add_argument('--data_dir', default='', help='TFDS data_dir of the prepared datasets (default: TFDS\'s).')
  parser.add_argument('--table_only', action='store_true', help='Print the table of the runs done; run nothing.')
  parser.add_argument('--reevaluate', action='store_true',
                      help="Train nothing: measure each run's latest checkpoint with this tree's evaluator "
                           '(gan_jax.evaluate, into its reevaluated.json) and print the table of those metrics.')
  args = parser.parse_args()
  SWEEPS[args.sweep](args)


if __name__ == '__main__':
  main()
