"""gan_jax against a plain PyTorch implementation of the same unrolled GAN, steps/second side by side.

The experiment is the unrolled GAN paper's ring of 8 (`experiments/unrolled.py`): G 256 -> 128 -> 128 -> 2 (ReLU,
linear output), D input * 0.25 -> 128 -> 1 (ReLU), orthogonal init with gain 0.8 and zero biases, batch 512, the
saturating (minimax) loss, Adam(1e-4, b1 0.5, b2 0.999, eps 1e-8) for both players, simultaneous updates from the same
state, and G's loss taken at D unrolled k Adam steps ahead, differentiated through those steps (second order).
Real data is drawn from the ring at every step on both sides.

The PyTorch version keeps each player's parameters and Adam state as lists of tensors and updates them with one
functional Adam, optax's formula including `sqrt(v + eps_root)` (the config sets eps_root = 1e-16 for both players;
`torch.optim.Adam` has no eps_root and differs where v is near zero). The unroll applies the same Adam, starting from
D's parameters and state, keeping the graph with `create_graph=True`. It runs eagerly, one step per Python
iteration, timed with `torch.set_num_threads(os.cpu_count())` and, for comparison, with one thread; gan_jax runs
`train.py`'s jitted multi-step function (XLA's CPU backend also uses every core) with the config's
`train.steps_per_call` steps per call. Unless the environment says otherwise, OMP_WAIT_POLICY is set to PASSIVE
before torch is imported (see `import_torch`).

Before timing, a correctness check (skip with `--no_check`) copies a trained-for-two-steps gan_jax state into
PyTorch and compares, on one fixed batch with k = 2: G's gradient (from `steps.g_step`), D's gradient (from
`steps.d_step`) and the parameter updates of one whole training step (`steps.train_step`).

PyTorch is not a dependency of gan_jax: if it is missing, this script runs `pip install torch==2.13.0` (a CPU
build; an unpinned `torch` pulls a CUDA build of several GB).

Run (with the defaults: about 1.5 minutes on 2 CPU cores shared with other jobs):
  python benchmarks/pytorch_unrolled.py
  python benchmarks/pytorch_unrolled.py --check_only
  python benchmarks/pytorch_unrolled.py --ks 10 --repeats 3 --chunk_seconds 0.5 --no_check
"""

import argparse
import functools
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import noise, objectives, parallel as parallel_lib, steps, train

import common

torch = common.import_torch()
F = torch.nn.functional


def linear_relu_stack(params, x, num_layers: int):
  """ReLU between `num_layers` linear layers; `params` is [w0, b0, w1, b1, ...] with torch's [out, in] weights."""
  for i in range(num_layers):
    x = F.linear(x, params[2 * i], params[2 * i + 1])
    if i < num_layers - 1:
      x = F.relu(x)
  return x


def bce(logits, target: float):
  return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def d_loss(real_logits, fake_logits):
  """-E[log D(x)] - E[log(1 - D(G(z)))], as `gan_jax.losses.discriminator_loss`."""
  return bce(real_logits, 1.0) + bce(fake_logits, 0.0)


def adam(params, grads, state, hp):
  """`optax.adam` (with eps_root) on lists of tensors; differentiable when its inputs carry a graph.

  Args:
    params: the parameters.
    grads: their gradients.
    state: (first moments, second moments, step count).
    hp: dict with lr, b1, b2, eps, eps_root.

  Returns:
    The new parameters and the new state.
  """
  mu, nu, count = state
  count += 1
  mu = [hp['b1'] * m + (1 - hp['b1']) * g for m, g in zip(mu, grads)]
  nu = [hp['b2'] * v + (1 - hp['b2']) * g * g for v, g in zip(nu, grads)]
  c1, c2 = 1 - hp['b1']**count, 1 - hp['b2']**count
  params = [p - hp['lr'] * (m / c1) / (torch.sqrt(v / c2 + hp['eps_root']) + hp['eps'])
            for p, m, v in zip(params, mu, nu)]
  return params, (mu, nu, count)


class TorchUnrolledGAN:
  """The ring experiment's unrolled GAN in PyTorch, parameters as plain lists of leaf tensors."""

  def __init__(self, config, k: int, seed: int = 0):
    torch.manual_seed(seed)
    self.k = k
    self.batch = config.train.batch_size
    self.latent_dim = config.gen.latent_dim
    self.input_scale = config.disc.input_scale
    widths_g = [self.latent_dim, *config.gen.hidden, 2]
    widths_d = [2, *config.disc.hidden, 1]
    self.g_params = self._init(widths_g, config.gen.init_gain)
    self.d_params = self._init(widths_d, config.disc.init_gain)
    self.g_hp, self.d_hp = [dict(lr=o.learning_rate, b1=o.b1, b2=o.b2, eps=o.eps, eps_root=o.eps_root)
                            for o in (config.optim.g, config.optim.d)]
    zeros = lambda params: [torch.zeros_like(p) for p in params]
    self.g_state = (zeros(self.g_params), zeros(self.g_params), 0)
    self.d_state = (zeros(self.d_params), zeros(self.d_params), 0)
    angles = 2 * np.pi * np.arange(config.data.num_modes) / config.data.num_modes
    self.centers = torch.tensor(config.data.radius * np.stack([np.cos(angles), np.sin(angles)], 1),
                                dtype=torch.float32)
    self.std = config.data.std

  @staticmethod
  def _init(widths, gain):
    params = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
      weight = torch.empty(fan_out, fan_in)
      torch.nn.init.orthogonal_(weight, gain=gain)
      params += [weight.requires_grad_(), torch.zeros(fan_out, requires_grad=True)]
    return params

  def generator(self, params, z):
    return linear_relu_stack(params, z, len(params) // 2)

  def discriminator(self, params, x):
    return linear_relu_stack(params, x * self.input_scale, len(params) // 2).squeeze(-1)

  def sample_batch(self):
    """A real batch from the ring and a batch of N(0, I) latents."""
    component = torch.randint(0, self.centers.shape[0], (self.batch,))
    real = self.centers[component] + self.std * torch.randn(self.batch, 2)
    return real, torch.randn(self.batch, self.latent_dim)

  def d_objective(self, d_params, real, fake):
    return d_loss(self.discriminator(d_params, real), self.discriminator(d_params, fake))

  def unrolled_d_params(self, real, fake):
    """D's parameters after k Adam steps on (real, fake), differentiable with respect to `fake`."""
    params, state = self.d_params, self.d_state
    for _ in range(self.k):
      grads = torch.autograd.grad(self.d_objective(params, real, fake), params, create_graph=True)
      params, state = adam(params, grads, state, self.d_hp)
    return params

  def gradients(self, real, z):
    """(G's gradient through the unroll, D's gradient), both at the current parameters."""
    fake = self.generator(self.g_params, z)
    unrolled = self.unrolled_d_params(real, fake)
    # The minimax G minimises minus D's loss at the unrolled D (its real term depends on G through the unroll).
    g_loss = -self.d_objective(unrolled, real, fake)
    g_grads = torch.autograd.grad(g_loss, self.g_params)
    d_grads = torch.autograd.grad(self.d_objective(self.d_params, real, fake.detach()), self.d_params)
    return g_grads, d_grads

  def train_step(self, real, z):
    """One simultaneous update of both players from the same state."""
    g_grads, d_grads = self.gradients(real, z)
    with torch.no_grad():
      g_params, self.g_state = adam(self.g_params, g_grads, self.g_state, self.g_hp)
      d_params, self.d_state = adam(self.d_params, d_grads, self.d_state, self.d_hp)
    self.g_params = [p.requires_grad_() for p in g_params]
    self.d_params = [p.requires_grad_() for p in d_params]

  def load_jax_state(self, state):
    """Copies gan_jax's parameters and Adam states (Flax kernels are [in, out], torch weights [out, in])."""
    g, d = state.nets['g'], state.nets['d']
    g_adam, d_adam = g.opt_state[0], d.opt_state[0]  # optax.adam: (ScaleByAdamState, EmptyState).
    self.g_params = [p.requires_grad_() for p in flax_leaves(g.params)]
    self.d_params = [p.requires_grad_() for p in flax_leaves(d.params)]
    self.g_state = (flax_leaves(g_adam.mu), flax_leaves(g_adam.nu), int(g_adam.count))
    self.d_state = (flax_leaves(d_adam.mu), flax_leaves(d_adam.nu), int(d_adam.count))


def flax_leaves(tree):
  """[w0, b0, w1, b1, ...] as torch tensors in torch's layout, from a Flax MLP's {'Dense_i': {kernel, bias}}."""
  out = []
  for i in range(len(tree)):
    layer = tree[f'Dense_{i}']
    out += [torch.tensor(np.asarray(layer['kernel']).T.copy()), torch.tensor(np.asarray(layer['bias']))]
  return out


def capture_gradients() -> optax.GradientTransformation:
  """An optax transformation that stores the gradient it is given as its state and updates nothing."""
  return optax.GradientTransformation(
      init=lambda params: jax.tree.map(jnp.zeros_like, params),
      update=lambda grads, state, params=None: (jax.tree.map(jnp.zeros_like, grads), grads))


def relative_error(got, want) -> float:
  """||got - want|| / ||want|| over lists of arrays (one global norm)."""
  diff = sum(float(np.sum((np.asarray(g, np.float64) - np.asarray(w, np.float64))**2)) for g, w in zip(got, want))
  norm = sum(float(np.sum(np.asarray(w, np.float64)**2)) for w in want)
  return (diff / norm)**0.5


def check(base, k: int = 2, batch: int = 64, tolerance: float = 1e-4) -> list[list[object]]:
  """Compares the PyTorch gradients and step with gan_jax's on one batch, from the same state; raises on mismatch.

  Returns:
    Table rows: quantity, relative error.
  """
  config = common.with_unroll(base, k)
  config.train.batch_size = batch
  state, dataset = common.fresh_state(config)
  objective = objectives.objective_from_config(config)
  keys = jax.random.split(jax.random.key(123), 6)
  real = [dataset.draw(keys[i], batch) for i in range(3)]
  latents = [noise.sample_latents(keys[3 + i], batch, config.gen.latent_dim, config.gen.latent_dist)
             for i in range(3)]

  @jax.jit
  def train_step_on(state, real, z):
    step = steps.make_train_step(config, lambda key: {'z': z, 'eps': jnp.zeros(z.shape[0])})  # Always `z`.
    return step(state, {'x': real[None]})

  # Two real steps first, so the Adam states (and their step counts) are not zero.
  for i in range(2):
    state, _ = train_step_on(state, real[i], latents[i])
  x, z = real[2], latents[2]
  batch_dict = {'x': x, 'z': z}
  capture = capture_gradients()

  def capturing(name):  # The state with network `name`'s optimizer swapped for `capture`.
    net = state.nets[name]
    return state.replace_nets(**{name: net.replace(tx=capture, opt_state=capture.init(net.params))})

  g_state, _ = jax.jit(functools.partial(steps.g_step, objective=objective, unroll_steps=k))(capturing('g'),
                                                                                          batch_dict)
  d_state, _ = jax.jit(functools.partial(steps.d_step, objective=objective))(capturing('d'), batch_dict)
  new_state, _ = train_step_on(state, x, z)

  model = TorchUnrolledGAN(config, k)
  model.load_jax_state(state)
  x_t, z_t = torch.tensor(np.asarray(x)), torch.tensor(np.asarray(z))
  g_grads, d_grads = model.gradients(x_t, z_t)
  old = [p.detach().clone() for p in model.g_params + model.d_params]
  model.train_step(x_t, z_t)
  torch_updates = [p.detach() - o for p, o in zip(model.g_params + model.d_params, old)]
  params = lambda s: flax_leaves(s.nets['g'].params) + flax_leaves(s.nets['d'].params)
  jax_updates = [n - o for n, o in zip(params(new_state), params(state))]
  rows = [
      [f'G gradient through k={k} Adam steps', relative_error(g_grads, flax_leaves(g_state.nets['g'].opt_state))],
      ['D gradient', relative_error(d_grads, flax_leaves(d_state.nets['d'].opt_state))],
      ['parameter updates of one training step (G and D)', relative_error(torch_updates, jax_updates)],
  ]
  for name, error in rows:
    if not error < tolerance:
      raise AssertionError(f'PyTorch and gan_jax disagree: {name}, relative error {error:.2e} >= {tolerance}')
  return [[name, f'{error:.1e}'] for name, error in rows]


def time_torch(model, seconds: float, max_steps: int) -> float:
  """Steps/second of `model` over a chunk of about `seconds` (at least 2 steps, at most `max_steps`).

  The chunk length comes from one timed step, since a step's cost varies by orders of magnitude with k and threads.
  """
  tic = time.perf_counter()
  model.train_step(*model.sample_batch())
  num_steps = int(min(max_steps, max(2, seconds / (time.perf_counter() - tic))))
  tic = time.perf_counter()
  for _ in range(num_steps):
    model.train_step(*model.sample_batch())
  return num_steps / (time.perf_counter() - tic)


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--config', default='experiments/unrolled.py', help='experiment file, from the repo root')
  parser.add_argument('--ks', type=common.int_list, default=[0, 5, 10], help='unroll lengths')
  parser.add_argument('--repeats', type=int, default=5, help='timed chunks per implementation and k (median)')
  parser.add_argument('--chunk_seconds', type=float, default=1.0, help='length of a timed PyTorch chunk')
  parser.add_argument('--max_torch_steps', type=int, default=200, help='most PyTorch steps in a timed chunk')
  parser.add_argument('--no_check', action='store_true', help='skip the correctness check')
  parser.add_argument('--check_only', action='store_true', help='run the correctness check only')
  args = parser.parse_args()
  start = time.perf_counter()
  cores = os.cpu_count()
  torch.set_num_threads(cores)
  base = common.load_config(args.config)

  if not args.no_check:
    print('Correctness check: PyTorch against gan_jax from the same state and batch (relative L2 error)\n')
    print(common.markdown_table(['quantity', 'relative error'], check(base)))
    print(flush=True)
  if args.check_only:
    return

  parallel = parallel_lib.make_data_parallel('single')
  jax_steps = base.train.steps_per_call
  thread_counts = sorted({cores, 1}, reverse=True)
  rows = []
  for k in args.ks:
    config = common.with_unroll(base, k)
    state, dataset = common.fresh_state(config)
    jax_fn = train.make_multi_step_fn(config, dataset, parallel)(jax_steps)
    model = TorchUnrolledGAN(config, k, seed=config.seed)
    state, _ = jax.block_until_ready(jax_fn(state, {}))  # Compiles.
    # Chunks alternate between the implementations, so that load from other processes falls on all alike.
    jax_rates, torch_rates = [], {n: [] for n in thread_counts}
    for _ in range(args.repeats):
      tic = time.perf_counter()
      state, _ = jax.block_until_ready(jax_fn(state, {}))
      jax_rates.append(jax_steps / (time.perf_counter() - tic))
      for n in thread_counts:
        torch.set_num_threads(n)
        torch_rates[n].append(time_torch(model, args.chunk_seconds, args.max_torch_steps))
    torch.set_num_threads(cores)
    jax_rate = statistics.median(jax_rates)
    torch_rate = {n: statistics.median(r) for n, r in torch_rates.items()}
    rows.append([k, f'{jax_rate:.0f}', *(f'{torch_rate[n]:.1f}' for n in thread_counts),
                 f'{jax_rate / torch_rate[cores]:.1f}', f'{jax_rate / max(torch_rate.values()):.1f}'])
    print(f'k={k} done ({time.perf_counter() - start:.0f} s)', flush=True)

  print()
  print(f'{common.machine_line()}; torch {torch.__version__}, OMP_WAIT_POLICY={os.environ["OMP_WAIT_POLICY"]}; '
        f'config {args.config}, batch {base.train.batch_size}; '
        f'gan_jax: {jax_steps} steps per call (train.steps_per_call); PyTorch: eager, one step per Python iteration, '
        f'chunks of about {args.chunk_seconds} s; medians of {args.repeats} chunks each')
  print()
  print(common.markdown_table(
      ['k', 'gan_jax steps/s', *(f'PyTorch steps/s, {n} thread(s)' for n in thread_counts),
       f'JAX/PyTorch ({cores} threads)', 'JAX/PyTorch (faster PyTorch)'], rows))
  print(f'\nPyTorch threads set with torch.set_num_threads: {cores} matches the core count; 1 is shown too, since '
        'intra-op threads on matrices this small can cost more than they gain when other processes share the cores.')
  print(f'total wall time {time.perf_counter() - start:.0f} s')


if __name__ == '__main__':
  main()
