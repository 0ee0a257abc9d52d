"""gan_jax against a plain PyTorch CycleGAN at 128x128: training steps/second (and peak memory) side by side.

The model is CycleGAN (Zhu et al. 2017) as `gan_jax.config.cyclegan_config()` sets it: two ResNet generators with 6
residual blocks (the paper's choice at 128x128) and widths 64-128-256, two 70x70 PatchGANs (widths 64-512), instance
norm without scale and bias, the least-squares GAN loss, cycle loss lambda = 10, identity loss 0.5 lambda, a 50-image
pool per discriminator, Adam(2e-4, b1 0.5, b2 0.999) for all four networks. One training step is both generators'
update, then both discriminators' on the generators' translations through the pools.

gan_jax runs it as train.py does: the family's compiled step, `make_multi_step_fn(config, dataset, parallel)(1)`,
one step per call, waited for after each call; the images are a random uint8 dataset of two domains
(`--num_images` images of each, uniform in 0..255) held on device, each step gathering its batch there.

The PyTorch side is written as the authors' code (pytorch-CycleGAN-and-pix2pix, `cycle_gan_model.py`) trains:
eager, `forward()` (fake_b = G_ab(a), rec_a = G_ba(fake_b), fake_a = G_ba(b), rec_b = G_ab(fake_a)), then with the
discriminators frozen (`requires_grad = False`) the generators' loss (adversarial + cycle + identity) and one
`optimizer_G.step()` over both generators' parameters, then each discriminator's loss on its real images and its
pool's (`ImagePool.query`, per image) detached fakes, halved, `backward()` each, and one `optimizer_D.step()` over
both discriminators' parameters. The networks are the authors' `ResnetGenerator` and `NLayerDiscriminator`
(n_layers 3) as they define them: `get_norm_layer('instance')`'s `InstanceNorm2d(affine=False,
track_running_stats=False)`, and the up-convolutions `ConvTranspose2d(3, stride=2, padding=1, output_padding=1)`,
which keep the last 2H of the full 2H + 1 outputs per side. Names follow gan_jax: G_ab (the authors' G_A) takes A
to B, D_b (the authors' D_A) judges B. The batch is `torch.randint`-drawn images of the same uint8 datasets, per
domain independently.

Before timing (skip with `--no_check`) the script checks that both sides are the same network: parameter counts
per network, and with gan_jax's initial weights copied into the PyTorch modules, the same outputs of each generator
and discriminator on the same images, and the same generator and discriminator losses on one batch (the pools
empty, so that they return the fakes).

Timing: after warm-up (gan_jax's first call compiles), `--repeats` rounds; in each, a chunk of `--steps_per_chunk`
steps of gan_jax, then of PyTorch with each thread count (all cores, and 1), per batch size, so that load from
other processes falls on all alike; medians over rounds. On a GPU (`--device cuda`, or `auto` when one is
visible) PyTorch runs there (synchronised after each step) and gan_jax runs on JAX's default backend, which must be
the GPU too (the table names it).

Memory (skip with `--no_memory`), as `pytorch_dcgan.py` measures it: each side in a fresh subprocess of this script,
the peak RSS (VmHWM) increase over the RSS after the imports, the runtime's initialisation and the host dataset;
"steps" over `--memory_steps` steps after the first (after malloc_trim and a reset of the peak), "whole run"
including setup (for gan_jax: XLA's compilation); and gan_jax's XLA memory_analysis (temp + arguments + outputs).
On a GPU: the device's peak bytes in use (JAX's `memory_stats`, PyTorch's `max_memory_allocated`) instead.

PyTorch is not a dependency of gan_jax: if it is missing, `pip install torch==2.13.0` (a CPU build) runs first.

Run (with the defaults: about 10 minutes on 2 CPU cores shared with other jobs):
  python benchmarks/pytorch_cyclegan.py
  python benchmarks/pytorch_cyclegan.py --check_only
  python benchmarks/pytorch_cyclegan.py --batch_sizes 1 --repeats 5 --no_memory
  python benchmarks/pytorch_cyclegan.py --device cuda --batch_sizes 1,8 --repeats 10 --steps_per_chunk 10
"""

import argparse
import functools
import json
import os
import subprocess
import sys
import time

import jax
import numpy as np

from gan_jax import config as config_lib, data
from gan_jax.families import cyclegan

import common

RESOLUTION, CHANNELS, BLOCKS, WIDTH = 128, 3, 6, 64
FEATURES = ('openmoji', 'noto')  # emoji_styles' two domains (cyclegan_config's dataset), as random images here.
MEMORY_TAG = 'MEMORY_JSON '
torch = None  # Imported by `main` and the PyTorch memory worker only.


def cyclegan_bench_config(batch_size: int, resolution: int = RESOLUTION, n_blocks: int = BLOCKS,
                          width: int = WIDTH):
  """`cyclegan_config()` at `resolution` with `n_blocks` residual blocks and first widths `width` (G and D)."""
  config = config_lib.cyclegan_config()
  config.data.resolution, config.data.channels = resolution, CHANNELS
  c = config.cyclegan
  c.n_blocks, c.gen_channels, c.disc_channels = n_blocks, width, width
  config.train.batch_size = batch_size
  assert (c.patch, c.norm) == (70, 'instance_no_affine')
  assert (c.cycle_weight, c.identity_weight, c.pool_size) == (10.0, 0.5, 50)
  assert config.loss.name == 'least_squares' and config.train.steps_per_call == 1 and not c.reverse
  for name in cyclegan.NETS:
    opt = config.optim[name]
    assert (opt.name, opt.learning_rate, opt.b1, opt.b2) == ('adam', 2e-4, 0.5, 0.999)
  return config


def random_domains(num: int, resolution: int, seed: int) -> data.PairedImages:
  """`num` random uint8 images [num, R, R, 3] per domain, as gan_jax's paired dataset (CycleGAN reads its two
  features as unpaired domains)."""
  rng = np.random.default_rng(seed)
  return data.PairedImages({f: rng.integers(0, 256, (num, resolution, resolution, CHANNELS), dtype=np.uint8)
                            for f in FEATURES})


class JaxCycleGAN(common.JaxTrainer):
  """gan_jax's CycleGAN state and its compiled training step, as train.py builds and calls them (single device)."""

  def create_state(self, config, dataset: data.PairedImages):
    return cyclegan.FAMILY.create_state(config, jax.random.key(config.seed), dataset)


def import_torch():
  global torch
  torch = common.import_torch()
  return torch


def norm(channels: int):
  """The authors' `get_norm_layer('instance')`."""
  return torch.nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


def define_modules():
  """The authors' ResnetGenerator, ResnetBlock and NLayerDiscriminator (instance norm, no dropout), defined after
  torch's import."""
  nn = torch.nn

  class Block(nn.Module):
    def __init__(self, dim):
      super().__init__()
      self.conv_block = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm(dim), nn.ReLU(True),
                                      nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm(dim))

    def forward(self, x):
      return x + self.conv_block(x)

  def generator(n_blocks: int, ngf: int, nc: int = CHANNELS):
    model = [nn.ReflectionPad2d(3), nn.Conv2d(nc, ngf, 7), norm(ngf), nn.ReLU(True)]
    for mult in (1, 2):
      model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1), norm(ngf * mult * 2), nn.ReLU(True)]
    model += [Block(ngf * 4) for _ in range(n_blocks)]
    for mult in (4, 2):
      model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1),
                norm(ngf * mult // 2), nn.ReLU(True)]
    model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, nc, 7), nn.Tanh()]
    return nn.Sequential(*model)

  def discriminator(ndf: int, nc: int = CHANNELS, n_layers: int = 3):
    model = [nn.Conv2d(nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers + 1):
      prev, mult = mult, min(2**n, 8)
      model += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2 if n < n_layers else 1, 1), norm(ndf * mult),
                nn.LeakyReLU(0.2, True)]
    model += [nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
    return nn.Sequential(*model)

  return generator, discriminator


def init_weights(m):
  """The authors' 'normal' initialisation: convolutions N(0, 0.02) with zero biases, affine norms N(1, 0.02)."""
  name = m.__class__.__name__
  if name.find('Conv') != -1:
    torch.nn.init.normal_(m.weight.data, 0.0, 0.02)
    torch.nn.init.constant_(m.bias.data, 0.0)
  elif name.find('Norm') != -1 and getattr(m, 'weight', None) is not None:
    torch.nn.init.normal_(m.weight.data, 1.0, 0.02)
    torch.nn.init.constant_(m.bias.data, 0.0)


class ImagePool:
  """The authors' ImagePool: until full, each image is stored and returned; then with probability 1/2 a stored one
  is returned and replaced by it."""

  def __init__(self, size: int):
    self.size, self.images = size, []

  def query(self, images):
    if self.size == 0:
      return images
    out = []
    for image in images:
      image = image.unsqueeze(0)
      if len(self.images) < self.size:
        self.images.append(image)
        out.append(image)
      elif torch.rand(()) > 0.5:
        i = int(torch.randint(0, self.size, ()))
        out.append(self.images[i].clone())
        self.images[i] = image
      else:
        out.append(image)
    return torch.cat(out, 0)


class TorchCycleGAN:
  """The authors' CycleGAN training iteration (`optimize_parameters`), gan_jax's names and networks."""

  def __init__(self, config, dataset: data.PairedImages, device: str = 'cpu', seed: int = 0):
    torch.manual_seed(seed)
    c = config.cyclegan
    generator, discriminator = define_modules()
    self.device, self.batch = device, config.train.batch_size
    self.images = {d: torch.from_numpy(dataset.features[f]).permute(0, 3, 1, 2).contiguous().to(device)
                   for d, f in zip('ab', FEATURES)}  # uint8 NCHW.
    self.nets = {name: (generator(c.n_blocks, c.gen_channels) if name.startswith('g')
                        else discriminator(c.disc_channels)).to(device) for name in cyclegan.NETS}
    for net in self.nets.values():
      net.apply(init_weights)
    o = config.optim.g_ab
    adam = lambda *nets: torch.optim.Adam([p for n in nets for p in self.nets[n].parameters()], lr=o.learning_rate,
                                          betas=(o.b1, o.b2), eps=o.eps)
    self.opt_g, self.opt_d = adam('g_ab', 'g_ba'), adam('d_a', 'd_b')
    self.pools = {d: ImagePool(c.pool_size) for d in 'ab'}
    self.cycle, self.identity = c.cycle_weight, c.identity_weight
    self.mse, self.l1 = torch.nn.MSELoss(), torch.nn.L1Loss()

  def sample_batch(self):
    """Each domain's batch in [-1, 1], drawn independently."""
    return [self.images[d][torch.randint(0, self.images[d].shape[0], (self.batch,), device=self.device)].float()
            / 127.5 - 1.0 for d in 'ab']

  def generator_loss(self, a, b):
    """The authors' forward() and backward_G's loss; returns (loss, fake_a, fake_b)."""
    g_ab, g_ba, d_a, d_b = (self.nets[n] for n in cyclegan.NETS)
    fake_b, fake_a = g_ab(a), g_ba(b)
    rec_a, rec_b = g_ba(fake_b), g_ab(fake_a)
    adversarial = self.mse(d_b(fake_b), torch.ones_like(d_b(fake_b).detach()))
    adversarial = adversarial + self.mse(d_a(fake_a), torch.ones_like(d_a(fake_a).detach()))
    loss = adversarial + self.cycle * (self.l1(rec_a, a) + self.l1(rec_b, b))
    if self.identity:
      loss = loss + self.identity * self.cycle * (self.l1(g_ab(b), b) + self.l1(g_ba(a), a))
    return loss, fake_a, fake_b

  def discriminator_loss(self, name, real, fake):
    """backward_D_basic's loss: 1/2 (MSE(D(real), 1) + MSE(D(fake.detach()), 0))."""
    net = self.nets[name]
    pred_real, pred_fake = net(real), net(fake.detach())
    return 0.5 * (self.mse(pred_real, torch.ones_like(pred_real)) + self.mse(pred_fake, torch.zeros_like(pred_fake)))

  def set_requires_grad(self, names, flag):
    for n in names:
      for p in self.nets[n].parameters():
        p.requires_grad = flag

  def step(self):
    a, b = self.sample_batch()
    self.set_requires_grad(('d_a', 'd_b'), False)
    self.opt_g.zero_grad()
    loss_g, fake_a, fake_b = self.generator_loss(a, b)
    loss_g.backward()
    self.opt_g.step()
    self.set_requires_grad(('d_a', 'd_b'), True)
    self.opt_d.zero_grad()
    self.discriminator_loss('d_a', a, self.pools['a'].query(fake_a)).backward()
    self.discriminator_loss('d_b', b, self.pools['b'].query(fake_b)).backward()
    self.opt_d.step()
    if self.device != 'cpu':
      torch.cuda.synchronize()

  def load_jax_params(self, state):
    """Copies gan_jax's parameters (Flax NHWC/HWIO layouts) into the PyTorch modules, layer by layer in order."""
    nn = torch.nn
    for name, net in self.nets.items():
      params = state.nets[name].params
      counts = {}
      with torch.no_grad():
        for m in net.modules():
          kind = {nn.Conv2d: 'Conv', nn.ConvTranspose2d: 'ConvTranspose'}.get(type(m))
          if kind is None:  # The norms have no parameters on either side.
            continue
          p = params[f'{kind}_{counts.setdefault(kind, 0)}']
          counts[kind] += 1
          if kind == 'Conv':
            m.weight.copy_(torch.from_numpy(np.array(p['kernel']).transpose(3, 2, 0, 1)))
          else:  # Flax's transposed convolution does not flip its kernel: torch's [in, out, h, w] is it flipped.
            m.weight.copy_(torch.from_numpy(np.array(p['kernel'])[::-1, ::-1].transpose(2, 3, 0, 1).copy()))
          m.bias.copy_(torch.from_numpy(np.array(p['bias'])))
        assert sum(counts.values()) == len(params), (name, counts, list(params))


def count(tree) -> int:
  return sum(int(np.size(x)) for x in jax.tree.leaves(tree))


def check(config, dataset: data.PairedImages, tolerance: float = 1e-4) -> list[list[object]]:
  """Parameter counts, outputs and losses from the same weights and inputs; raises on a mismatch.

  Returns:
    Table rows: quantity, gan_jax, PyTorch.
  """
  state = cyclegan.FAMILY.create_state(config, jax.random.key(config.seed), dataset)
  model = TorchCycleGAN(config, dataset)
  rows = []
  for name, net in model.nets.items():
    ours, theirs = count(state.nets[name].params), sum(p.numel() for p in net.parameters())
    if ours != theirs:
      raise AssertionError(f'{name}: {ours} parameters in gan_jax, {theirs} in PyTorch')
    rows.append([f'{name} parameters', f'{ours:,}', f'{theirs:,}'])
  model.load_jax_params(state)
  batch = config.train.batch_size
  to_jax = lambda f: data.in_memory.to_unit_range(dataset.features[f][:batch])
  a, b = (np.asarray(to_jax(f)) for f in FEATURES)
  to_torch = lambda x: torch.from_numpy(np.array(x)).permute(0, 3, 1, 2)
  from_torch = lambda x: x.detach().permute(0, 2, 3, 1).numpy()
  for name, x in (('g_ab', a), ('g_ba', b), ('d_a', a), ('d_b', b)):
    ours = np.asarray(jax.jit(lambda state, x, name=name: state.nets[name].apply(x, train=True)[0])(state, x))
    with torch.no_grad():
      theirs = from_torch(model.nets[name](to_torch(x)))
    if ours.shape != theirs.shape:
      raise AssertionError(f'{name}: output shape {ours.shape} in gan_jax, {theirs.shape} in PyTorch')
    diff = float(np.max(np.abs(ours - theirs)))
    if diff > tolerance:
      raise AssertionError(f'{name}: outputs differ by {diff:.2e} (tolerance {tolerance})')
    rows.append([f'{name} output {list(ours.shape)}', 'same weights', f'max |difference| {diff:.1e}'])
  c = config.cyclegan
  jax_batch = {'a': a, 'b': b}
  g_objective = jax.jit(functools.partial(cyclegan.generator_objective, cycle_weight=c.cycle_weight,
                                          identity_weight=c.identity_weight))
  g_loss, (_, g_metrics) = g_objective(state, jax_batch)
  d_batch = {**jax_batch, 'pool_a': g_metrics['fake_a'], 'pool_b': g_metrics['fake_b']}
  d_loss, _ = jax.jit(cyclegan.discriminator_objective)(state, d_batch)
  with torch.no_grad():
    ta, tb = to_torch(a), to_torch(b)
    torch_g, fake_a, fake_b = model.generator_loss(ta, tb)
    torch_d = (model.discriminator_loss('d_a', ta, model.pools['a'].query(fake_a))
               + model.discriminator_loss('d_b', tb, model.pools['b'].query(fake_b)))
  for name, ours, theirs in (('generators\' loss', g_loss, torch_g), ('discriminators\' loss', d_loss, torch_d)):
    ours, theirs = float(ours), float(theirs)
    if abs(ours - theirs) > tolerance * max(1.0, abs(ours)):
      raise AssertionError(f'{name}: {ours} in gan_jax, {theirs} in PyTorch')
    rows.append([f'{name}, one batch', f'{ours:.6f}', f'{theirs:.6f}'])
  return rows


def memory_worker(side: str, config, dataset, steps: int, threads: int, device: str) -> dict:
  """Builds one side in this (fresh) process, runs 1 + `steps` steps, and returns its memory figures (MiB)."""
  on_gpu = device != 'cpu'
  if side == 'torch':
    import_torch()
    torch.set_num_threads(threads)
    (torch.ones(3, device=device) + 1).sum().item()  # Runtime initialisation, outside the measurement.
  else:
    (jax.numpy.ones(3) + 1).block_until_ready()
  base = common.rss_mib()
  common.reset_peak_rss()
  result = {}
  if side == 'jax':
    model = JaxCycleGAN(config, dataset)
    result.update(model.compile_with_memory_analysis())
  else:
    model = TorchCycleGAN(config, dataset, device)
  model.step()
  result['setup_peak'] = common.peak_rss_mib() - base
  common.trim_heap()
  result['reset'] = common.reset_peak_rss()
  for _ in range(steps):
    model.step()
  result['steps_peak'] = common.peak_rss_mib() - base
  if on_gpu:  # Device memory instead: the peak bytes the side held on the accelerator.
    if side == 'jax':
      stats = jax.devices()[0].memory_stats() or {}
      result['device_peak'] = stats.get('peak_bytes_in_use', float('nan')) / common.MIB
    else:
      result['device_peak'] = torch.cuda.max_memory_allocated() / common.MIB
  return result


def run_memory_worker(side: str, args, batch: int, threads: int = 0) -> dict:
  """`memory_worker` in a fresh subprocess of this script; returns its figures."""
  command = [sys.executable, os.path.abspath(__file__), '--memory_worker', side, '--threads', str(threads),
             '--batch_sizes', str(batch), '--num_images', str(args.num_images), '--memory_steps',
             str(args.memory_steps), '--resolution', str(args.resolution), '--n_blocks', str(args.n_blocks),
             '--width', str(args.width), '--device', args.device]
  out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
  return json.loads([line for line in out.splitlines() if line.startswith(MEMORY_TAG)][-1][len(MEMORY_TAG):])


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--batch_sizes', type=common.int_list, default=[1, 8], help='comma-separated (the paper: 1)')
  parser.add_argument('--resolution', type=int, default=RESOLUTION)
  parser.add_argument('--n_blocks', type=int, default=BLOCKS, help='residual blocks (the paper: 6 at 128x128)')
  parser.add_argument('--width', type=int, default=WIDTH, help='first width of G and D (the paper: 64)')
  parser.add_argument('--num_images', type=int, default=64, help='random uint8 images per domain')
  parser.add_argument('--repeats', type=int, default=3, help='timed rounds (median)')
  parser.add_argument('--steps_per_chunk', type=int, default=1, help='steps per timed chunk')
  parser.add_argument('--memory_steps', type=int, default=1, help='steps after the first in a memory subprocess')
  parser.add_argument('--memory_batch_sizes', type=common.int_list, default=[1],
                      help='batch sizes whose memory is measured (each a subprocess per side)')
  parser.add_argument('--device', default='auto', choices=('auto', 'cpu', 'cuda'),
                      help="PyTorch's device; auto: cuda when available")
  parser.add_argument('--no_check', action='store_true', help='skip the architecture check')
  parser.add_argument('--check_only', action='store_true', help='run the architecture check only')
  parser.add_argument('--no_memory', action='store_true', help='skip the memory subprocesses')
  parser.add_argument('--memory_worker', choices=('jax', 'torch'), help=argparse.SUPPRESS)
  parser.add_argument('--threads', type=int, default=0, help=argparse.SUPPRESS)
  return parser.parse_args(argv)


def main(argv=None):
  args = parse_args(argv)
  shape = dict(resolution=args.resolution, n_blocks=args.n_blocks, width=args.width)
  if args.memory_worker:
    config = cyclegan_bench_config(args.batch_sizes[0], **shape)
    dataset = random_domains(args.num_images, args.resolution, config.seed)
    result = memory_worker(args.memory_worker, config, dataset, args.memory_steps, args.threads, args.device)
    print(MEMORY_TAG + json.dumps(result), flush=True)
    return None

  start = time.perf_counter()
  start_load = os.getloadavg()[0]
  import_torch()
  if args.device == 'auto':
    args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
  cores = os.cpu_count()
  thread_counts = sorted({cores, 1}, reverse=True) if args.device == 'cpu' else [cores]
  torch.set_num_threads(cores)
  check_rows = None
  if not args.no_check:
    config = cyclegan_bench_config(min(args.batch_sizes), **shape)
    check_rows = check(config, random_domains(args.num_images, args.resolution, config.seed))
    print('Check: the same networks and losses on both sides\n')
    print(common.markdown_table(['quantity', 'gan_jax', 'PyTorch'], check_rows))
    print(flush=True)
  if args.check_only:
    return check_rows

  memory = {}
  if not args.no_memory:
    for batch in args.memory_batch_sizes:
      memory[(batch, 'jax')] = run_memory_worker('jax', args, batch)
      for n in thread_counts:
        memory[(batch, n)] = run_memory_worker('torch', args, batch, n)
    print(f'memory measured ({time.perf_counter() - start:.0f} s): '
          f'{json.dumps({f"{b} {k}": v for (b, k), v in memory.items()})}', flush=True)

  models, compile_seconds = {}, {}
  for batch in args.batch_sizes:
    config = cyclegan_bench_config(batch, **shape)
    dataset = random_domains(args.num_images, args.resolution, config.seed)
    jax_model = JaxCycleGAN(config, dataset)
    torch_model = TorchCycleGAN(config, dataset, args.device, seed=config.seed)
    compile_seconds[batch] = common.warm_up(jax_model, torch_model, thread_counts)
    models[(batch, 'jax')] = (jax_model, None)
    models.update({(batch, n): (torch_model, n) for n in thread_counts})
  print(f'warmed up ({time.perf_counter() - start:.0f} s; first gan_jax calls '
        f'{", ".join(f"batch {b}: {s:.0f} s" for b, s in compile_seconds.items())})', flush=True)
  rate = common.median_rates(models, args.repeats, args.steps_per_chunk)

  on_gpu = args.device != 'cpu'
  mem = lambda key, field: f'{memory[key][field]:.0f}' if key in memory else 'n/a'
  field = 'device_peak' if on_gpu else 'steps_peak'
  rows = []
  results = {'device': args.device, 'batches': {}}
  for batch in args.batch_sizes:
    faster = max(thread_counts, key=lambda n: rate[(batch, n)])
    jax_key = (batch, 'jax')
    analysis = ''
    if jax_key in memory:
      m = memory[jax_key]
      analysis = f'{m["temp"] + m["argument"] + m["output"]:.0f}'
    rows.append([batch, f'gan_jax (XLA, {jax.default_backend()})', f'{rate[jax_key]:.3f}',
                 f'{1000 / rate[jax_key]:.0f}', mem(jax_key, field), mem(jax_key, 'setup_peak'), analysis])
    for n in thread_counts:
      label = f'PyTorch eager, {n} thread(s)' if not on_gpu else 'PyTorch eager, cuda'
      rows.append([batch, label, f'{rate[(batch, n)]:.3f}', f'{1000 / rate[(batch, n)]:.0f}', mem((batch, n), field),
                   mem((batch, n), 'setup_peak'), ''])
    memory_ratio = (f'{memory[jax_key][field] / memory[(batch, faster)][field]:.2f}' if jax_key in memory else '')
    rows.append([batch, f'**gan_jax / PyTorch ({faster} thread(s))**', f'**{rate[jax_key] / rate[(batch, faster)]:.2f}**',
                 '', memory_ratio, '', ''])
    results['batches'][batch] = {'jax_steps_per_second': rate[jax_key],
                                 'torch_steps_per_second': {n: rate[(batch, n)] for n in thread_counts},
                                 'ratio': rate[jax_key] / rate[(batch, faster)]}

  print()
  print(f'{common.machine_line()} (at the start {start_load:.1f}); torch {torch.__version__} on {args.device}, '
        f'OMP_WAIT_POLICY={os.environ["OMP_WAIT_POLICY"]}; CycleGAN {args.resolution}x{args.resolution}, '
        f'{args.n_blocks} residual blocks, widths {args.width}; medians of {args.repeats} rounds of '
        f'{args.steps_per_chunk} step(s) each')
  print()
  memory_name = 'peak device memory (MiB)' if on_gpu else 'peak RSS increase, steps (MiB)'
  print(common.markdown_table(
      ['batch', 'implementation', 'steps/s', 'ms/step', memory_name, 'peak RSS increase, whole run incl. setup (MiB)',
       'XLA memory_analysis temp + args + outputs (MiB)'], rows))
  print(f'\nfirst gan_jax calls (compile + step): '
        f'{", ".join(f"batch {b}: {s:.1f} s" for b, s in compile_seconds.items())}; total wall time '
        f'{time.perf_counter() - start:.0f} s')
  return results


if __name__ == '__main__':
  main()
