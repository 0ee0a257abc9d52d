"""gan_jax against a plain PyTorch DCGAN at 64x64: training steps/second and peak memory side by side.

The model is the reference DCGAN (Radford et al. 2016; the PyTorch DCGAN example): nz = 100, ngf = ndf = 64,
nc = 3, batch 64. G: ConvTranspose2d(100, 512, 4, 1, 0) + BN + ReLU, then 4x4 stride-2 transposed convolutions
512 -> 256 -> 128 -> 64 with BN + ReLU and 64 -> 3 with tanh; D: Conv2d(3, 64, 4, 2, 1) + LeakyReLU(0.2), then
conv + BN + LeakyReLU blocks 64 -> 128 -> 256 -> 512, and Conv2d(512, 1, 4, 1, 0); no biases. gan_jax runs it as
`dcgan_config()` with data.resolution 64, data.channels 3 and base_channels 64 for both players: the non-saturating
loss, Adam(2e-4, b1 0.5, b2 0.999, eps 1e-8) for both players, and alternating updates (D first, then G against the
updated D), one step per compiled call (`train.steps_per_call = 1`). Its training step is train.py's:
`make_multi_step_fn(config, dataset, parallel)(1)`, called as `fn(state, data_arrays)` and waited for after each
call, with the real images a random uint8 dataset (`--num_images` images of 64x64x3, uniform in 0..255) in a
`gan_jax.data.InMemoryImages` placed with `parallel.put(dataset.host_arrays())`, so each step gathers its batch on
device.

The PyTorch side is the DCGAN example's training loop: the example's `weights_init` (convolutions N(0, 0.02), BN
scales N(1, 0.02), BN biases 0), `torch.optim.Adam` with the same settings, BCEWithLogits on D's logits, D run on
the real and the fake batch as two separate batches (separate BN statistics, as gan_jax does), D updated first, then
G through the updated D on the same fake batch. The real batch is 64 random images of the same uint8 dataset (NCHW),
scaled to [-1, 1]; z is drawn from U(-1, 1) as `dcgan_config` draws it (the example draws N(0, 1); the cost is the
same). Known differences, none of which changes the model: gan_jax's G step recomputes G's output (its D step's copy
is a stop-gradient forward), so gan_jax does one more G forward per step than the example; gan_jax's Adam has
`eps_root = 1e-16` inside the square root; gan_jax gathers its batch from an epoch permutation, PyTorch from
`torch.randint`. PyTorch runs eagerly with `torch.set_num_threads(2)` (the core count) and with 1 thread;
OMP_WAIT_POLICY is PASSIVE unless the environment sets it (see `common.import_torch`). XLA's CPU backend uses every
core.

Before timing (skip with `--no_check`) the script checks that both sides have the same parameter counts (G 3,576,704
and D 2,765,568, batch-norm running statistics not counted) and output shapes, and, with gan_jax's initial weights
copied into the PyTorch modules, the same outputs of G (on the same z) and D (on the same images), both with
training-mode batch norm.

Timing: after warm-up (gan_jax's first call compiles), `--repeats` rounds, each a chunk of `--steps_per_chunk` steps
of gan_jax, then of PyTorch with 2 threads, then with 1 thread, so that load from other processes falls on all
alike; the median over rounds is reported.

Memory (skip with `--no_memory`), each side in a fresh subprocess of this script (`--memory_worker`; PyTorch once
per thread count). The baseline is the process's RSS (VmRSS) after the imports, one trivial operation (the runtime's
initialisation) and the host copy of the dataset, which both sides hold alike; then the side is built (gan_jax:
`create_state`, lowering and compiling the step) and runs one step and `--memory_steps` more.
- peak RSS increase, whole run: the process's peak RSS (VmHWM) minus the baseline. For gan_jax it includes XLA's
  compilation and the eager initialisation of the networks. (Not `resource.getrusage`'s ru_maxrss: exec carries the
  parent's peak into it, so a subprocess of this large process would report at least the parent's RSS.)
- peak RSS increase, steps: the same over the last `--memory_steps` steps only, after `malloc_trim` (so that heap the
  setup freed does not stay resident) and a reset of the peak to the current RSS (writing 5 to
  /proc/self/clear_refs). It counts parameters, optimizer states, activations, gradients and workspace, and
  whatever setup left in use (for gan_jax, compiled executables and JAX's caches).
- XLA memory_analysis: gan_jax's compiled step, temp + argument + output sizes (the outputs alias the donated state
  among the arguments, so the sum counts the state twice; the alias size is printed below the table).

PyTorch is not a dependency of gan_jax: if it is missing, this script runs `pip install torch==2.13.0` (a CPU
build; an unpinned `torch` pulls a CUDA build of several GB).

Run (with the defaults: about 3 minutes on 2 CPU cores shared with other jobs):
  python benchmarks/pytorch_dcgan.py
  python benchmarks/pytorch_dcgan.py --check_only
  python benchmarks/pytorch_dcgan.py --repeats 5 --steps_per_chunk 3 --no_memory
"""

import argparse
import json
import os
import subprocess
import sys
import time

import jax
import numpy as np

from gan_jax import config as config_lib, data
from gan_jax.noise import sample_latents
from gan_jax.state import create_state

import common

RESOLUTION, CHANNELS, WIDTH = 64, 3, 64
G_PARAMS, D_PARAMS = 3_576_704, 2_765_568  # The reference DCGAN's counts at 64x64 (nz 100, ngf = ndf = 64, nc 3).
MEMORY_TAG = 'MEMORY_JSON '
torch = None  # Imported by `main` and the PyTorch memory worker only, so the gan_jax worker never loads it.


def dcgan_64_config(batch_size: int):
  """`dcgan_config()` at 64x64x3 with base_channels 64 for both players (the reference DCGAN)."""
  config = config_lib.dcgan_config()
  config.data.resolution, config.data.channels = RESOLUTION, CHANNELS
  config.gen.base_channels = config.disc.base_channels = WIDTH
  config.train.batch_size = batch_size
  assert config.gen.latent_dim == 100 and config.loss.name == 'non_saturating'
  assert config.train.update_order == 'alternating' and config.train.steps_per_call == 1
  assert config.train.n_critic == 1 and config.unroll.steps == 0 and config.gen.ema_decay == 0
  for player in ('g', 'd'):
    opt = config.optim[player]
    assert (opt.name, opt.learning_rate, opt.b1, opt.b2, opt.eps) == ('adam', 2e-4, 0.5, 0.999, 1e-8)
  return config


def random_images(num: int, seed: int) -> data.InMemoryImages:
  """`num` random uint8 images [num, 64, 64, 3] (labels 0) as gan_jax's in-memory image dataset."""
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 256, (num, RESOLUTION, RESOLUTION, CHANNELS), dtype=np.uint8)
  return data.InMemoryImages(images, np.zeros(num, np.int32))


class JaxDCGAN(common.JaxTrainer):
  """gan_jax's DCGAN state and its compiled training step, as train.py builds and calls them (single device)."""

  def create_state(self, config, dataset: data.InMemoryImages):
    return create_state(config, jax.random.key(config.seed), dataset.shape)


def import_torch():
  global torch
  torch = common.import_torch()
  return torch


def torch_generator(nz: int = 100, ngf: int = WIDTH, nc: int = CHANNELS):
  """The PyTorch DCGAN example's generator."""
  nn = torch.nn
  return nn.Sequential(
      nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
      nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
      nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
      nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
      nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())


def torch_discriminator(ndf: int = WIDTH, nc: int = CHANNELS):
  """The PyTorch DCGAN example's discriminator, without its final Sigmoid (the loss takes logits)."""
  nn = torch.nn
  return nn.Sequential(
      nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
      nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
      nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
      nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
      nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False))


def weights_init(m):
  """The PyTorch DCGAN example's custom initialisation."""
  classname = m.__class__.__name__
  if classname.find('Conv') != -1:
    torch.nn.init.normal_(m.weight.data, 0.0, 0.02)
  elif classname.find('BatchNorm') != -1:
    torch.nn.init.normal_(m.weight.data, 1.0, 0.02)
    torch.nn.init.constant_(m.bias.data, 0)


class TorchDCGAN:
  """The PyTorch DCGAN example's networks, optimizers and training iteration, on logits."""

  def __init__(self, config, dataset: data.InMemoryImages, seed: int = 0):
    torch.manual_seed(seed)
    self.batch, self.nz = config.train.batch_size, config.gen.latent_dim
    self.images = torch.from_numpy(dataset.images).permute(0, 3, 1, 2).contiguous()  # uint8 NCHW.
    self.net_g, self.net_d = torch_generator(self.nz), torch_discriminator()
    self.net_g.apply(weights_init)
    self.net_d.apply(weights_init)
    make_adam = lambda net, o: torch.optim.Adam(net.parameters(), lr=o.learning_rate, betas=(o.b1, o.b2), eps=o.eps)
    self.opt_g, self.opt_d = make_adam(self.net_g, config.optim.g), make_adam(self.net_d, config.optim.d)
    self.criterion = torch.nn.BCEWithLogitsLoss()

  def sample_batch(self):
    """A real batch in [-1, 1] and z ~ U(-1, 1) [B, nz, 1, 1]."""
    real = self.images[torch.randint(0, self.images.shape[0], (self.batch,))].float() / 127.5 - 1.0
    return real, torch.rand(self.batch, self.nz, 1, 1) * 2 - 1

  def step(self):
    real, z = self.sample_batch()
    ones, zeros = torch.ones(self.batch), torch.zeros(self.batch)
    # (1) D: maximise log D(x) + log(1 - D(G(z))), real and fake as separate batches.
    self.net_d.zero_grad()
    err_d_real = self.criterion(self.net_d(real).view(-1), ones)
    err_d_real.backward()
    fake = self.net_g(z)
    err_d_fake = self.criterion(self.net_d(fake.detach()).view(-1), zeros)
    err_d_fake.backward()
    self.opt_d.step()
    # (2) G: maximise log D(G(z)) against the updated D.
    self.net_g.zero_grad()
    err_g = self.criterion(self.net_d(fake).view(-1), ones)
    err_g.backward()
    self.opt_g.step()

  def load_jax_params(self, state):
    """Copies gan_jax's parameters (Flax NHWC/HWIO layouts) into the PyTorch modules."""
    g, d = state.nets['g'].params, state.nets['d'].params
    t = lambda a: torch.from_numpy(np.array(a))  # A writable copy.
    g_convs = [g['Dense_0']['kernel'].reshape(self.nz, 4, 4, -1).transpose(0, 3, 1, 2)]  # [nz, C, 4, 4].
    # UpConv2x is a transposed convolution without kernel flip: torch's [in, out, h, w] is its kernel flipped.
    g_convs += [np.asarray(g[f'UpConv2x_{i}']['kernel'])[::-1, ::-1].transpose(2, 3, 0, 1) for i in range(4)]
    d_convs = [np.asarray(d[f'Conv_{i}']['kernel']).transpose(3, 2, 0, 1) for i in range(5)]
    with torch.no_grad():
      for net, convs, params in ((self.net_g, g_convs, g), (self.net_d, d_convs, d)):
        conv_layers = [m for m in net if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
        bn_layers = [m for m in net if isinstance(m, torch.nn.BatchNorm2d)]
        for layer, kernel in zip(conv_layers, convs, strict=True):
          layer.weight.copy_(t(kernel))
        for i, layer in enumerate(bn_layers):
          layer.weight.copy_(t(params[f'BatchNorm_{i}']['scale']))
          layer.bias.copy_(t(params[f'BatchNorm_{i}']['bias']))


def count(tree) -> int:
  return sum(int(np.size(x)) for x in jax.tree.leaves(tree))


def check(config, dataset: data.InMemoryImages, tolerance: float = 1e-4) -> list[list[object]]:
  """Parameter counts, output shapes and outputs from the same weights and inputs; raises on a mismatch.

  Returns:
    Table rows: quantity, gan_jax, PyTorch.
  """
  state = create_state(config, jax.random.key(config.seed), dataset.shape)
  model = TorchDCGAN(config, dataset)
  model.load_jax_params(state)
  batch = config.train.batch_size
  z = sample_latents(jax.random.key(1), batch, config.gen.latent_dim, config.gen.latent_dist)
  x = data.in_memory.to_unit_range(dataset.images[:batch])
  jax_fake, _ = state.nets['g'].apply(z, train=True)
  jax_out, _ = state.nets['d'].apply(x, train=True)
  jax_logits = jax_out['logits']
  with torch.no_grad():
    torch_fake = model.net_g(torch.from_numpy(np.array(z)).view(batch, -1, 1, 1)).permute(0, 2, 3, 1)
    torch_logits = model.net_d(torch.from_numpy(np.array(x)).permute(0, 3, 1, 2)).view(-1)
  numel = lambda net: sum(p.numel() for p in net.parameters())
  rows = [
      ['G parameters', count(state.nets['g'].params), numel(model.net_g)],
      ['D parameters', count(state.nets['d'].params), numel(model.net_d)],
      ['G output shape (NHWC)', tuple(jax_fake.shape), tuple(torch_fake.shape)],
      ['D output shape', tuple(jax_logits.shape), tuple(torch_logits.shape)],
  ]
  expected = [G_PARAMS, D_PARAMS, (batch, RESOLUTION, RESOLUTION, CHANNELS), (batch,)]
  for (name, jax_value, torch_value), want in zip(rows, expected):
    if not jax_value == torch_value == want:
      raise AssertionError(f'{name}: gan_jax {jax_value}, PyTorch {torch_value}, expected {want}')
  for name, got, want in (('G output', torch_fake, jax_fake), ('D output', torch_logits, jax_logits)):
    error = float(np.linalg.norm(got.numpy() - np.asarray(want)) / np.linalg.norm(np.asarray(want)))
    if not error < tolerance:
      raise AssertionError(f'{name} from the same weights: relative error {error:.2e} >= {tolerance}')
    rows.append([f'{name} from the same weights (relative L2 error)', f'{error:.1e}', ''])
  return [[name, f'{a:,}' if isinstance(a, int) else a, f'{b:,}' if isinstance(b, int) else b]
          for name, a, b in rows]


def memory_worker(side: str, config, dataset: data.InMemoryImages, steps: int, threads: int) -> dict:
  """Builds one side in this (fresh) process, runs 1 + `steps` steps, and returns its memory figures (MiB)."""
  if side == 'torch':
    import_torch()
    torch.set_num_threads(threads)
    (torch.ones(3) + 1).sum().item()  # Runtime initialisation, outside the measurement.
  else:
    (jax.numpy.ones(3) + 1).block_until_ready()
  base = common.rss_mib()  # After the imports, the runtime's initialisation and the host copy of the dataset.
  common.reset_peak_rss()
  result = {}
  if side == 'jax':
    model = JaxDCGAN(config, dataset)
    result.update(model.compile_with_memory_analysis())
  else:
    model = TorchDCGAN(config, dataset)
  model.step()
  result['setup_peak'] = common.peak_rss_mib() - base
  common.trim_heap()  # Setup's freed heap (XLA's compiler's) would otherwise stay resident and count below.
  result['resident'] = common.rss_mib() - base
  result['reset'] = common.reset_peak_rss()
  for _ in range(steps):
    model.step()
  result['steps_peak'] = common.peak_rss_mib() - base
  result['base_rss'] = base
  return result


def run_memory_worker(side: str, args, threads: int = 0) -> dict:
  """`memory_worker` in a fresh subprocess of this script; returns its figures."""
  command = [sys.executable, os.path.abspath(__file__), '--memory_worker', side, '--threads', str(threads),
             '--batch_size', str(args.batch_size), '--num_images', str(args.num_images),
             '--memory_steps', str(args.memory_steps)]
  out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
  return json.loads([line for line in out.splitlines() if line.startswith(MEMORY_TAG)][-1][len(MEMORY_TAG):])


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--batch_size', type=int, default=64, help='batch size (the reference: 64)')
  parser.add_argument('--num_images', type=int, default=1024, help='images in the random uint8 dataset')
  parser.add_argument('--repeats', type=int, default=3, help='timed rounds (median)')
  parser.add_argument('--steps_per_chunk', type=int, default=2, help='steps per timed chunk')
  parser.add_argument('--memory_steps', type=int, default=2, help='steps after the first in a memory subprocess')
  parser.add_argument('--no_check', action='store_true', help='skip the architecture check')
  parser.add_argument('--check_only', action='store_true', help='run the architecture check only')
  parser.add_argument('--no_memory', action='store_true', help='skip the memory subprocesses')
  parser.add_argument('--memory_worker', choices=('jax', 'torch'), help=argparse.SUPPRESS)
  parser.add_argument('--threads', type=int, default=0, help=argparse.SUPPRESS)
  args = parser.parse_args()
  config = dcgan_64_config(args.batch_size)
  dataset = random_images(args.num_images, config.seed)
  if args.memory_worker:
    result = memory_worker(args.memory_worker, config, dataset, args.memory_steps, args.threads)
    print(MEMORY_TAG + json.dumps(result), flush=True)
    return

  start = time.perf_counter()
  start_load = os.getloadavg()[0]
  import_torch()
  cores = os.cpu_count()
  thread_counts = sorted({cores, 1}, reverse=True)
  torch.set_num_threads(cores)
  if not args.no_check:
    print('Check: the same architecture on both sides\n')
    print(common.markdown_table(['quantity', 'gan_jax', 'PyTorch'], check(config, dataset)))
    print(flush=True)
  if args.check_only:
    return

  memory = {}
  if not args.no_memory:
    memory['jax'] = run_memory_worker('jax', args)
    for n in thread_counts:
      memory[n] = run_memory_worker('torch', args, n)
    print(f'memory measured ({time.perf_counter() - start:.0f} s)', flush=True)

  jax_model, torch_model = JaxDCGAN(config, dataset), TorchDCGAN(config, dataset, seed=config.seed)
  compile_seconds = common.warm_up(jax_model, torch_model, thread_counts)
  print(f'warmed up ({time.perf_counter() - start:.0f} s; first gan_jax call {compile_seconds:.1f} s)', flush=True)
  rate = common.median_rates({'jax': (jax_model, None), **{n: (torch_model, n) for n in thread_counts}},
                             args.repeats, args.steps_per_chunk)
  faster = max(thread_counts, key=lambda n: rate[n])

  for m in memory.values():
    m['whole_peak'] = max(m['setup_peak'], m['steps_peak'])
  mib = lambda key, field: f'{memory[key][field]:.0f}' if key in memory else 'n/a'
  analysis = ''
  if 'jax' in memory:
    m = memory['jax']
    analysis = f'{m["temp"] + m["argument"] + m["output"]:.0f}'
  rows = [['gan_jax (XLA, all cores)', f'{rate["jax"]:.3f}', f'{1000 / rate["jax"]:.0f}', mib('jax', 'steps_peak'),
           mib('jax', 'whole_peak'), analysis]]
  for n in thread_counts:
    rows.append([f'PyTorch eager, {n} thread(s)', f'{rate[n]:.3f}', f'{1000 / rate[n]:.0f}', mib(n, 'steps_peak'),
                 mib(n, 'whole_peak'), ''])
  ratio = lambda field: (f'{memory["jax"][field] / memory[faster][field]:.2f}' if memory else 'n/a')
  rows.append([f'gan_jax / PyTorch ({faster} thread(s))', f'{rate["jax"] / rate[faster]:.2f}',
               f'{rate[faster] / rate["jax"]:.2f}', ratio('steps_peak'), ratio('whole_peak'), ''])

  print()
  print(f'{common.machine_line()} (at the start {start_load:.1f}); torch {torch.__version__}, '
        f'OMP_WAIT_POLICY={os.environ["OMP_WAIT_POLICY"]}; DCGAN 64x64x3, batch {args.batch_size}, random uint8 '
        f'dataset of {args.num_images} images; medians of {args.repeats} rounds of {args.steps_per_chunk} steps each')
  print()
  print(common.markdown_table(
      ['implementation', 'steps/s', 'ms/step', 'peak RSS increase, steps (MiB)',
       'peak RSS increase, whole run incl. setup (MiB)', 'XLA memory_analysis temp + args + outputs (MiB)'], rows))
  print()
  if 'jax' in memory:
    m = memory['jax']
    print(f'gan_jax memory_analysis: temp {m["temp"]:.1f} MiB, arguments {m["argument"]:.1f} MiB (the state and the '
          f'{dataset.images.nbytes / common.MIB:.1f} MiB dataset), outputs {m["output"]:.1f} MiB, of which '
          f'{m["alias"]:.1f} MiB alias the donated state.')
    torch_side = ', '.join(f'PyTorch {n} thread(s) {memory[n]["resident"]:.0f} MiB' for n in thread_counts)
    print('Peak RSS: VmHWM in a fresh subprocess per side, minus VmRSS before the side was built (after the '
          'imports, one trivial operation and the host dataset). "whole run": setup (gan_jax: state, compile), the '
          f'first step and {args.memory_steps} more; "steps": those {args.memory_steps} steps only, after '
          'malloc_trim and a reset of the peak to the current RSS '
          f'({"done" if all(v["reset"] for v in memory.values()) else "reset FAILED: steps include setup"}). '
          f'Resident after setup and the first step (after malloc_trim): gan_jax {m["resident"]:.0f} MiB, '
          f'{torch_side}. RSS before building: gan_jax worker {m["base_rss"]:.0f} MiB, PyTorch worker '
          f'{memory[faster]["base_rss"]:.0f} MiB.')
  print(f'first gan_jax call (compile + step) {compile_seconds:.1f} s; '
        f'total wall time {time.perf_counter() - start:.0f} s')

if __name__ == '__main__':
  main()
