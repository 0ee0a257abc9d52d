"""What closes gan_jax's gap to PyTorch on convolutional GANs on CPU: each candidate measured, side by side in one run.

Sections (`--sections`, default all):
- `layers`: one layer's forward + backward (the gradients with respect to its input and its kernel), at the
  reference DCGAN's shapes (batch 64), for each form of a computation, interleaved with PyTorch's layer:
  * G's stride-2 4x4 up-convolutions (`layers.UpConv2x`): XLA's transposed convolution ('transpose'), the phase form
    (one 3x3 stride-1 convolution to 4 x the channels: 36 taps, 2.25x the multiply-adds; 'phases'), the sub-pixel
    form (one 2x2 stride-1 convolution over the input padded by one, 16 taps, then depth-to-space and a crop;
    'subpixel') and the four small convolutions, one 2x2 per output phase ('four_convs'), against
    `torch.nn.ConvTranspose2d(4, 2, 1)`;
  * D's stride-2 4x4 convolutions: XLA's ('native'), the space-to-depth form (a 2x2 stride-1 convolution of the
    space-to-depth input; 's2d'), and the native forward with the space-to-depth input gradient
    (`layers.strided_conv`; 'strided_conv'), against `torch.nn.Conv2d(4, 2, 1)`.
- `step`: DCGAN's whole training step (`pytorch_dcgan.py`'s: train.py's compiled step, batch 64) built with each
  combination of the up-convolution form and the strided-convolution input gradient, interleaved with the PyTorch
  DCGAN example's step; and G's forward pass alone (what reusing the D step's G forward in the G step could save
  at most).
- `cyclegan_layers`: CycleGAN's step broken down (`pytorch_cyclegan.py`'s networks: the ResNet generator and the
  70x70 PatchGAN, `--cyclegan_resolution` 128, batch `--cyclegan_batch_size` 1, widths `--cyclegan_width` 64): each
  distinct layer of the two networks as the library computes it on this backend (`image_to_image.py`'s modules:
  reflection pads, `layers.conv_general_dilated`, `UpConv2x(kernel_size=3, keep_last=True)`, instance norm without
  scale and bias), forward + input and kernel gradients, interleaved with the same PyTorch module; each multiplied
  by its applications in one step (6 of each generator layer: G_ab(a), G_ba(G_ab(a)), G_ba(b), G_ab(G_ba(b)) and the
  two identity terms; 6 of each discriminator layer: 2 in the generators' update, 4 in the discriminators'), summed
  per layer kind, with each kind's share; and the other forms of a layer where the library has one ('native': the
  stride-2 convolutions' input gradient XLA's; 'phases' / 'transpose': the up-convolution's other forms; 'reflect
  pad, VALID': the reflection-padded convolutions as they were before `platform.pad_reflected_convolutions` (the
  convolution over the padded input alone, not one more zero pixel and a crop); 'zero pad': the residual
  convolution without its reflection pad, a different layer, to price the pad).
- `flags`: the same step under XLA_FLAGS settings of the installed jaxlib (`--flag_settings`), each in its own
  worker process (XLA reads the flags once per process), the workers kept alive and timed in turn.

Timings share the CPU with other processes: every round times every alternative once, in the same order, and the
tables give medians over rounds and the 1-minute load average.

Run (about 10 minutes on the shared 2-core CPU with the defaults):
  python benchmarks/cpu_convolutions.py
  python benchmarks/cpu_convolutions.py --sections layers --repeats 7
  python benchmarks/cpu_convolutions.py --sections flags --flag_settings default,fast_math
  python benchmarks/cpu_convolutions.py --sections cyclegan_layers --repeats 5
"""

import argparse
import contextlib
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from unittest import mock

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import platform
from gan_jax.models import image_to_image as i2i, layers

import common
import pytorch_dcgan

def subpixel_upconv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Not in the library (its kernel gradient, see the README): the stride-2 'SAME' transposed convolution of x [B, H, W, I] with a [4, 4, I, O] kernel, as one 2x2 stride-1
  convolution to 4 * O channels (16 taps per output pixel's group of 4, as the transposed convolution itself) and
  a depth-to-space.

  Along one axis, y[2m + 1] = K1 x[m] + K3 x[m + 1] and y[2m + 2] = K0 x[m] + K2 x[m + 1] read the same two inputs,
  so output pairs (y[2m + 1], y[2m + 2]), m = -1 .. H - 1, are one 2-tap correlation over x padded by one zero on
  each side; the first and the last of the 2H + 2 outputs fall outside and are cropped.
  """
  pairs = ((1, 3), (0, 2))  # Taps of y[2m + 1] and of y[2m + 2].
  phases = [layers._taps(layers._taps(kernel, a, 0), b, 1) for a in pairs for b in pairs]
  y = jax.lax.conv_general_dilated(x, jnp.concatenate(phases, axis=-1), (1, 1), ((1, 1), (1, 1)),
                                   dimension_numbers=layers.NHWC)
  b, h, w, _ = y.shape
  o = kernel.shape[-1]
  y = y.reshape(b, h, w, 2, 2, o).transpose(0, 1, 3, 2, 4, 5).reshape(b, 2 * h, 2 * w, o)
  return y[:, 1:-1, 1:-1]


# D's stride-2 convolutions and G's up-convolutions in the reference DCGAN at 64x64: (side of the input, in, out).
DOWN_LAYERS = ((64, 3, 64), (32, 64, 128), (16, 128, 256), (8, 256, 512))
UP_LAYERS = ((4, 512, 256), (8, 256, 128), (16, 128, 64), (32, 64, 3))
UP_FORMS = {'transpose': lambda x, k: jax.lax.conv_transpose(x, k, (2, 2), 'SAME', dimension_numbers=layers.NHWC),
            'phases': None, 'subpixel': subpixel_upconv, 'four_convs': layers.four_convs_upconv}
PAD = ((1, 1), (1, 1))
DOWN_FORMS = {'native': lambda x, k: jax.lax.conv_general_dilated(x, k, (2, 2), PAD, dimension_numbers=layers.NHWC),
              's2d': lambda x, k: layers.space_to_depth_conv(x, k, PAD),
              'strided_conv': lambda x, k: layers.strided_conv(x, k, PAD)}
# XLA_FLAGS settings for the `flags` section: name -> flags. Each is a flag the installed jaxlib's library holds
# (`strings libjax_common.so | grep xla_cpu_`); see the README section for the list.
FLAG_SETTINGS = {
    'default': '',
    'onednn': '--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true',
    'onednn_conv_fusion': '--xla_cpu_experimental_onednn_fusion_type=LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION',
    'xnn_conv_fusion': '--xla_cpu_experimental_xnn_fusion_type=LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION',
    'xnn_graph_greedy': '--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY',
    'no_xnnpack': '--xla_cpu_use_xnnpack=false',
    'no_ynn_conv': '--xla_cpu_experimental_ynn_fusion_type=-LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION',
    'fast_math': '--xla_cpu_enable_fast_math=true',
    'one_thread_eigen': '--xla_cpu_multi_thread_eigen=false',
}
# Settings that act below the HLO (LLVM's code generation, the thread pool): timed even with the same program.
RUNTIME_SETTINGS = ('fast_math', 'one_thread_eigen')
READY, RATE = 'WORKER_READY', 'WORKER_RATE '
torch = None


def median_ms(times: list[float]) -> float:
  return 1000 * statistics.median(times)


def timed(fn) -> float:
  tic = time.perf_counter()
  fn()
  return time.perf_counter() - tic


def layer_fn(form, x, kernel, dy):
  """The jitted forward + backward of one form: (y, dL/dx, dL/dkernel) for L = sum(y * dy)."""
  def forward_backward(x, kernel):
    y, vjp = jax.vjp(form, x, kernel)
    return (y, *vjp(dy))
  fn = jax.jit(forward_backward)
  jax.block_until_ready(fn(x, kernel))
  return lambda: jax.block_until_ready(fn(x, kernel))


def torch_layer_fn(up: bool, side: int, cin: int, cout: int, batch: int):
  """PyTorch's layer: forward and backward (input and weight gradients), eager."""
  nn = torch.nn
  layer = (nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False) if up else nn.Conv2d(cin, cout, 4, 2, 1, bias=False))
  return torch_module_fn(layer, (batch, cin, side, side))


def layers_section(args) -> None:
  batch = args.batch_size
  fns, names = {}, []
  for up, shapes, forms in ((True, UP_LAYERS, UP_FORMS), (False, DOWN_LAYERS, DOWN_FORMS)):
    for side, cin, cout in shapes:
      key = ('G up-conv' if up else 'D conv', f'{side}x{side}x{cin} -> {2 * side if up else side // 2}^2x{cout}')
      names.append(key)
      x = jax.random.normal(jax.random.key(0), (batch, side, side, cin))
      kernel = jax.random.normal(jax.random.key(1), (4, 4, cin, cout)) * 0.02
      outputs = {}
      for name, form in forms.items():
        if name == 'phases':
          module = layers.UpConv2x(cout, use_bias=False, method='phases')
          form = lambda x, k, m=module: m.apply({'params': {'kernel': k}}, x)
        y = form(x, kernel)
        outputs[name] = y
        dy = jax.random.normal(jax.random.key(2), y.shape)
        fns[key + (name,)] = layer_fn(form, x, kernel, dy)
      reference = outputs['transpose' if up else 'native']
      for name, y in outputs.items():  # Every form computes the same layer.
        np.testing.assert_allclose(y, reference, atol=1e-4, err_msg=f'{key} {name}')
      fns[key + ('PyTorch',)] = torch_layer_fn(up, side, cin, cout, batch)
  times = {k: [] for k in fns}
  for _ in range(args.repeats):
    for k, fn in fns.items():
      times[k].append(timed(fn))
  print(f'\n{common.machine_line()}; one layer forward + input and kernel gradients, batch {batch}, medians of '
        f'{args.repeats} rounds (ms); ratio: PyTorch time / form time (> 1: the form is faster)\n')
  for up, forms in ((True, UP_FORMS), (False, DOWN_FORMS)):
    headers = ['layer', 'shape'] + [f'{f} (ms)' for f in forms] + ['PyTorch (ms)'] + [f'ratio {f}' for f in forms]
    rows = []
    total = {f: 0.0 for f in list(forms) + ['PyTorch']}
    for key in names:
      if (key[0] == 'G up-conv') != up:
        continue
      ms = {f: median_ms(times[key + (f,)]) for f in list(forms) + ['PyTorch']}
      for f, value in ms.items():
        total[f] += value
      rows.append([*key] + [f'{ms[f]:.1f}' for f in list(forms) + ['PyTorch']]
                  + [f'{ms["PyTorch"] / ms[f]:.2f}' for f in forms])
    rows.append(['all four', ''] + [f'{total[f]:.1f}' for f in list(forms) + ['PyTorch']]
                + [f'{total["PyTorch"] / total[f]:.2f}' for f in forms])
    print(common.markdown_table(headers, rows))
    print()


class ReflectConv(nn.Module):
  """The ResNet generator's stride-1 convolution of a reflection-padded input (`image_to_image._reflect_conv`), or
  (`zero`) the same convolution zero-padded instead: a different layer, to price the reflection."""
  pad: int
  features: int
  kernel: int
  zero: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if self.zero:
      return nn.Conv(self.features, (self.kernel, self.kernel), padding=[(self.pad, self.pad)] * 2)(x)
    return i2i._reflect_conv(x, self.pad, self.features, self.kernel)


def cyclegan_layers(resolution: int, width: int, n_blocks: int) -> list[tuple]:
  """CycleGAN's distinct layers (`image_to_image.py`'s ResNet generator and 70x70 PatchGAN) with PyTorch's
  equivalents (the authors' modules, as `pytorch_cyclegan.py` builds them).

  Returns:
    (kind, layer, applications in one training step, input shape NHWC, {form: (flax module, variant or None)},
    a function returning the PyTorch module) per layer; the first form is the library's default on this backend,
    `variant` the arguments of `variant` under which the form is traced.
  """
  tnn = torch.nn
  r, w = resolution, width
  conv = lambda features, kernel, stride=1, padding='VALID': nn.Conv(
      features, (kernel, kernel), strides=(stride, stride), padding=padding,
      conv_general_dilated=layers.conv_general_dilated)
  norm = lambda: i2i._norm('instance_no_affine', True)
  g, d = 6, 6  # Applications of each layer of a generator / a discriminator in one step (see the docstring).
  former = ('auto', True, False)  # The reflection-padded convolutions without the extra padding and crop.
  rows = [
      ('7x7 conv, reflect pad', f'G c7s1 {r}^2x3 -> {w}', g, (r, r, 3),
       {'library': (ReflectConv(3, w, 7), None), 'reflect pad, VALID': (ReflectConv(3, w, 7), former)},
       lambda: tnn.Sequential(tnn.ReflectionPad2d(3), tnn.Conv2d(3, w, 7))),
      ('7x7 conv, reflect pad', f'G c7s1 {r}^2x{w} -> 3', g, (r, r, w),
       {'library': (ReflectConv(3, 3, 7), None), 'reflect pad, VALID': (ReflectConv(3, 3, 7), former)},
       lambda: tnn.Sequential(tnn.ReflectionPad2d(3), tnn.Conv2d(w, 3, 7))),
  ]
  for side, cin in ((r, w), (r // 2, 2 * w)):
    rows.append(('G 3x3 stride-2 conv', f'G d {side}^2x{cin} -> {side // 2}^2x{2 * cin}', g, (side, side, cin),
                 {'library': (conv(2 * cin, 3, 2, ((1, 1), (1, 1))), None),
                  'native': (conv(2 * cin, 3, 2, ((1, 1), (1, 1))), ('auto', False))},
                 lambda cin=cin: tnn.Conv2d(cin, 2 * cin, 3, 2, 1)))
  rows.append(('G residual 3x3 conv, reflect pad', f'G R {r // 4}^2x{4 * w}', g * 2 * n_blocks,
               (r // 4, r // 4, 4 * w),
               {'library': (ReflectConv(1, 4 * w, 3), None), 'reflect pad, VALID': (ReflectConv(1, 4 * w, 3), former),
                'zero pad': (ReflectConv(1, 4 * w, 3, zero=True), None)},
               lambda: tnn.Sequential(tnn.ReflectionPad2d(1), tnn.Conv2d(4 * w, 4 * w, 3))))
  for side, cin in ((r // 4, 4 * w), (r // 2, 2 * w)):
    up = lambda method: layers.UpConv2x(cin // 2, kernel_size=3, keep_last=True, method=method)
    rows.append(('G 3x3 up-conv', f'G u {side}^2x{cin} -> {2 * side}^2x{cin // 2}', g, (side, side, cin),
                 {'library': (up('auto'), None), 'phases': (up('phases'), None),
                  'transpose': (up('transpose'), None)},
                 lambda cin=cin: tnn.ConvTranspose2d(cin, cin // 2, 3, 2, 1, output_padding=1)))
  # Instance norms: after every G layer but the last (the blocks' two each), after D's layers but the first.
  g_norms = ((r, w, 2), (r // 2, 2 * w, 2), (r // 4, 4 * w, 1 + 2 * n_blocks))
  d_norms = ((r // 4, 2 * w), (r // 8, 4 * w), (r // 8 - 1, 8 * w))
  for who, side, c, count in ([('G', s, c, g * n) for s, c, n in g_norms] + [('D', s, c, d) for s, c in d_norms]):
    rows.append(('instance norm', f'{who} norm {side}^2x{c}', count, (side, side, c), {'library': (norm(), None)},
                 lambda c=c: tnn.InstanceNorm2d(c, affine=False, track_running_stats=False)))
  for side, cin, cout in ((r, 3, w), (r // 2, w, 2 * w), (r // 4, 2 * w, 4 * w)):
    rows.append(('D 4x4 stride-2 conv', f'D {side}^2x{cin} -> {side // 2}^2x{cout}', d, (side, side, cin),
                 {'library': (conv(cout, 4, 2, ((1, 1), (1, 1))), None),
                  'native': (conv(cout, 4, 2, ((1, 1), (1, 1))), ('auto', False))},
                 lambda cin=cin, cout=cout: tnn.Conv2d(cin, cout, 4, 2, 1)))
  for side, cin, cout in ((r // 8, 4 * w, 8 * w), (r // 8 - 1, 8 * w, 1)):
    rows.append(('D 4x4 stride-1 conv', f'D {side}^2x{cin} -> {side - 1}^2x{cout}', d, (side, side, cin),
                 {'library': (conv(cout, 4, 1, ((1, 1), (1, 1))), None)},
                 lambda cin=cin, cout=cout: tnn.Conv2d(cin, cout, 4, 1, 1)))
  return rows


def torch_module_fn(module, shape: tuple[int, ...]):
  """A PyTorch module's forward and backward (input and parameter gradients) on a random NCHW input, eager."""
  x = torch.randn(*shape, requires_grad=True)
  dy = torch.randn(*module(x).shape)

  def run():
    x.grad = None
    module.zero_grad()
    module(x).backward(dy)
  run()
  return run


def cyclegan_layers_section(args) -> None:
  batch = args.cyclegan_batch_size
  rows = cyclegan_layers(args.cyclegan_resolution, args.cyclegan_width, args.cyclegan_blocks)
  fns = {}
  for kind, name, count, shape, forms, torch_module in rows:
    x = jax.random.normal(jax.random.key(0), (batch, *shape))
    outputs = {}
    params = forms['library'][0].init(jax.random.key(1), x).get('params', {})  # Every form takes the same.
    for form_name, (module, form_variant) in forms.items():
      with variant(*form_variant) if form_variant else contextlib.nullcontext():
        form = lambda x, p, module=module: module.apply({'params': p}, x)
        outputs[form_name] = y = form(x, params)
        fns[(name, form_name)] = layer_fn(form, x, params, jax.random.normal(jax.random.key(2), y.shape))
    for form_name, y in outputs.items():  # The same layer (but the zero-padded one), the same parameters.
      if form_name != 'zero pad':
        np.testing.assert_allclose(y, outputs['library'], atol=1e-4, err_msg=f'{name} {form_name}')
    fns[(name, 'PyTorch')] = torch_module_fn(torch_module(), (batch, shape[2], shape[0], shape[1]))
  times = {k: [] for k in fns}
  for _ in range(args.repeats):
    for k, fn in fns.items():
      times[k].append(timed(fn))
  ms = {k: median_ms(v) for k, v in times.items()}
  print(f'\n{common.machine_line()}; CycleGAN {args.cyclegan_resolution}x{args.cyclegan_resolution}, widths '
        f'{args.cyclegan_width}, {args.cyclegan_blocks} residual blocks; one layer forward + input and kernel '
        f'gradients, batch {batch}, medians of {args.repeats} rounds (ms); PyTorch eager with '
        f'{torch.get_num_threads()} thread(s); ratio: PyTorch time / gan_jax time (> 1: gan_jax faster)\n')
  table, kinds = [], {}
  for kind, name, count, _, forms, _ in rows:
    ours, theirs = ms[(name, 'library')], ms[(name, 'PyTorch')]
    others = ', '.join(f'{f} {ms[(name, f)]:.1f} ({theirs / ms[(name, f)]:.2f})' for f in forms if f != 'library')
    table.append([kind, name, count, f'{ours:.2f}', f'{theirs:.2f}', f'{theirs / ours:.2f}', others])
    total = kinds.setdefault(kind, [0, 0.0, 0.0])
    total[0] += count
    total[1] += count * ours
    total[2] += count * theirs
  print(common.markdown_table(['kind', 'layer', 'in one step', 'gan_jax (ms)', 'PyTorch (ms)', 'ratio',
                               'other forms: ms (ratio)'], table))
  ours_sum, theirs_sum = sum(t[1] for t in kinds.values()), sum(t[2] for t in kinds.values())
  print('\nPer layer kind, each layer\'s time x its applications in one step, summed (ms):\n')
  summary = [[kind, count, f'{ours:.0f}', f'{theirs:.0f}', f'{theirs / ours:.2f}', f'{ours / ours_sum:.0%}',
              f'{theirs / theirs_sum:.0%}', f'{(ours - theirs) / (ours_sum - theirs_sum):.0%}']
             for kind, (count, ours, theirs) in kinds.items()]
  summary.append(['all', sum(t[0] for t in kinds.values()), f'{ours_sum:.0f}', f'{theirs_sum:.0f}',
                  f'{theirs_sum / ours_sum:.2f}', '100%', '100%', '100%'])
  print(common.markdown_table(['kind', 'applications', 'gan_jax (ms)', 'PyTorch (ms)', 'ratio', 'share of gan_jax',
                               'share of PyTorch', 'share of the difference'], summary))


def layout_section(args) -> None:
  """D's stride-2 convolutions with NHWC against NCHW dimension numbers (the data kept in that layout throughout),
  forward + both gradients."""
  batch = args.batch_size
  fns = {}
  for side, cin, cout in DOWN_LAYERS:
    kernel = jax.random.normal(jax.random.key(1), (4, 4, cin, cout)) * 0.02
    for layout, shape, numbers in (('NHWC', (batch, side, side, cin), layers.NHWC),
                                   ('NCHW', (batch, cin, side, side), ('NCHW', 'HWIO', 'NCHW'))):
      x = jax.random.normal(jax.random.key(0), shape)
      form = lambda x, k, numbers=numbers: jax.lax.conv_general_dilated(x, k, (2, 2), PAD,
                                                                         dimension_numbers=numbers)
      fns[(f'{side}x{side}x{cin} -> {cout}', layout)] = layer_fn(form, x, kernel,
                                                                   jax.random.normal(jax.random.key(2),
                                                                                     form(x, kernel).shape))
  times = {k: [] for k in fns}
  for _ in range(args.repeats):
    for k, fn in fns.items():
      times[k].append(timed(fn))
  print(f'\n{common.machine_line()}; D\'s convolutions, forward + input and kernel gradients, batch {batch}, '
        f'medians of {args.repeats} rounds (ms)\n')
  rows = []
  for shape in dict.fromkeys(k[0] for k in fns):
    nhwc, nchw = median_ms(times[(shape, 'NHWC')]), median_ms(times[(shape, 'NCHW')])
    rows.append([shape, f'{nhwc:.1f}', f'{nchw:.1f}', f'{nhwc / nchw:.2f}'])
  print(common.markdown_table(['layer', 'NHWC (ms)', 'NCHW (ms)', 'NCHW speed-up'], rows))


@contextlib.contextmanager
def variant(upconv: str, s2d: bool, pad_reflected: bool | None = None):
  """While active, models built and traced take the up-convolution form `upconv`, (if `s2d`) the strided
  convolutions' space-to-depth input gradient, and (unless None) `pad_reflected` as
  `platform.pad_reflected_convolutions()`."""
  method = platform.upconvolution_method if upconv == 'auto' else lambda features: upconv
  reflected = platform.pad_reflected_convolutions if pad_reflected is None else lambda: pad_reflected
  with mock.patch.object(platform, 'upconvolution_method', method), \
       mock.patch.object(platform, 'space_to_depth_gradients', lambda: s2d), \
       mock.patch.object(platform, 'pad_reflected_convolutions', reflected):
    yield


def build_step(config, dataset, upconv: str, s2d: bool):
  """pytorch_dcgan's gan_jax side, compiled under `variant(upconv, s2d)`; returns the model (its step compiled)."""
  with variant(upconv, s2d):
    model = pytorch_dcgan.JaxDCGAN(config, dataset)
    model.fn = model.fn.lower(model.state, model.data_arrays).compile()
  model.step()
  return model


def step_variants(args) -> list[tuple[str, bool]]:
  """`--step_variants` 'phases:xla,four_convs:s2d' -> [('phases', False), ('four_convs', True)]."""
  pairs = [v.split(':') for v in args.step_variants.split(',')]
  return [(u, g == 's2d') for u, g in pairs]


def step_section(args) -> None:
  config = pytorch_dcgan.dcgan_64_config(args.batch_size)
  dataset = pytorch_dcgan.random_images(args.num_images, config.seed)
  models = {}
  for upconv, s2d in step_variants(args):
    tic = time.perf_counter()
    models[(upconv, s2d)] = build_step(config, dataset, upconv, s2d)
    print(f'built {upconv} / s2d {s2d} ({time.perf_counter() - tic:.0f} s)', flush=True)
  # G's forward alone, train mode (batch statistics), as the D step runs it; in the default (phases) form.
  reference = models[('phases', False)] if ('phases', False) in models else next(iter(models.values()))
  z = jax.random.uniform(jax.random.key(1), (args.batch_size, config.gen.latent_dim), minval=-1, maxval=1)
  g_forward = {}
  for upconv in sorted({u for u, _ in step_variants(args)}):
    with variant(upconv, False):
      net = reference.state.nets['g']
      fn = jax.jit(lambda z, net=net: net.apply(z, train=True)[0])
      jax.block_until_ready(fn(z))
    g_forward[upconv] = lambda fn=fn: jax.block_until_ready(fn(z))
  torch_model = pytorch_dcgan.TorchDCGAN(config, dataset, seed=config.seed)
  threads = args.torch_threads
  torch.set_num_threads(threads)
  torch_model.step()
  times = {**{k: [] for k in models}, **{('G forward', u): [] for u in g_forward}, 'PyTorch': []}
  for _ in range(args.repeats):
    for k, model in models.items():
      times[k].append(timed(model.step))
    for u, fn in g_forward.items():
      times[('G forward', u)].append(timed(fn))
    times['PyTorch'].append(timed(torch_model.step))
  torch_ms = median_ms(times['PyTorch'])
  print(f'\n{common.machine_line()}; DCGAN 64x64 step, batch {args.batch_size}, medians of {args.repeats} rounds of '
        f'one step each; PyTorch eager with {threads} thread(s)\n')
  rows = []
  for (upconv, s2d), model in models.items():
    ms = median_ms(times[(upconv, s2d)])
    rows.append([f'gan_jax, up-conv {upconv}, strided-conv input gradient {"space-to-depth" if s2d else "XLA"}',
                 f'{1000 / ms:.3f}', f'{ms:.0f}', f'{torch_ms / ms:.2f}'])
  rows.append([f'PyTorch eager ({threads} thread(s))', f'{1000 / torch_ms:.3f}', f'{torch_ms:.0f}', '1.00'])
  print(common.markdown_table(['implementation', 'steps/s', 'ms/step', 'gan_jax / PyTorch (steps/s)'], rows))
  print()
  for u in g_forward:
    ms = median_ms(times[('G forward', u)])
    print(f'G forward alone ({u}): {ms:.0f} ms, the most that reusing the D step\'s G forward in the G step could '
          f'save: {ms / median_ms(times[(u, False)]):.0%} of that step')


def flag_worker(args) -> None:
  """One gan_jax DCGAN step built under this process's XLA_FLAGS; steps on each line of stdin, prints rates."""
  config = pytorch_dcgan.dcgan_64_config(args.batch_size)
  dataset = pytorch_dcgan.random_images(args.num_images, config.seed)
  with variant(args.worker_upconv, args.worker_s2d):
    model = pytorch_dcgan.JaxDCGAN(config, dataset)
    model.fn = model.fn.lower(model.state, model.data_arrays).compile()
  text = model.fn.as_text()
  kinds = {kind: text.count(kind) for kind in ('__ynn_fusion', '__xnn_fusion', '__onednn', 'convolution(')}
  # The program without its names and metadata: equal digests, the same computation.
  body = re.sub(r'(%[\w.\-]+|metadata=\{[^}]*\}|, calls=[^,]+)', '', text)
  model.step()
  print(READY, hashlib.sha256(body.encode()).hexdigest()[:12], json.dumps(kinds), flush=True)
  for line in sys.stdin:
    if line.strip() == 'quit':
      return
    print(RATE + str(timed(model.step)), flush=True)


def flags_section(args) -> None:
  settings = args.flag_settings.split(',')
  workers, digests, same = {}, {}, []
  for name in settings:
    env = {**os.environ, 'XLA_FLAGS': FLAG_SETTINGS[name]}
    command = [sys.executable, os.path.abspath(__file__), '--flag_worker', '--batch_size', str(args.batch_size),
               '--num_images', str(args.num_images), '--worker_upconv', args.worker_upconv]
    command += ['--worker_s2d'] if args.worker_s2d else []
    proc = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    while True:  # One worker compiles at a time.
      line = proc.stdout.readline()
      if not line:
        raise RuntimeError(f'flag worker {name} ended before it was ready')
      if line.startswith(READY):
        digest, kinds = line[len(READY):].split(' ', 1)
        print(f'{name}: compiled program {digest}, {kinds.strip()}', flush=True)
        break
    # The flags changed nothing XLA compiled: no need to time it (code-generation and runtime flags are timed).
    if digest in digests.values() and name not in RUNTIME_SETTINGS:
      same.append((name, next(n for n, d in digests.items() if d == digest)))
      proc.stdin.write('quit\n')
      proc.stdin.flush()
      proc.wait()
      continue
    digests[name] = digest
    workers[name] = proc
  times = {name: [] for name in workers}
  try:
    for _ in range(args.repeats):
      for name, proc in workers.items():
        proc.stdin.write('step\n')
        proc.stdin.flush()
        line = proc.stdout.readline()
        while not line.startswith(RATE):
          line = proc.stdout.readline()
        times[name].append(float(line[len(RATE):]))
  finally:
    for proc in workers.values():
      proc.stdin.write('quit\n')
      proc.stdin.flush()
      proc.wait()
  base = median_ms(times[settings[0]])
  timed_settings = list(workers)
  print(f'\n{common.machine_line()}; DCGAN 64x64 step (up-conv {args.worker_upconv}, space-to-depth gradients '
        f'{args.worker_s2d}), batch {args.batch_size}, one worker process per XLA_FLAGS setting, medians of '
        f'{args.repeats} rounds of one step each\n')
  rows = [[name, f'`{FLAG_SETTINGS[name] or "(none)"}`', f'{median_ms(times[name]):.0f}',
           f'{base / median_ms(times[name]):.2f}'] for name in timed_settings]
  rows += [[name, f'`{FLAG_SETTINGS[name]}`', f'the same compiled program as {other}: not timed', '']
           for name, other in same]
  print(common.markdown_table(['setting', 'XLA_FLAGS', 'ms/step', f'speed-up over {settings[0]}'], rows))


def main():
  global torch
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--sections', default='layers,layout,step,flags',
                      help='comma-separated: layers, layout, step, flags, cyclegan_layers')
  parser.add_argument('--batch_size', type=int, default=64)
  parser.add_argument('--num_images', type=int, default=256, help='images in the random uint8 dataset')
  parser.add_argument('--repeats', type=int, default=5, help='timed rounds (median)')
  parser.add_argument('--step_variants', default='phases:xla,four_convs:xla,four_convs:s2d',
                      help="the step section's builds: up-conv form:strided-conv input gradient (xla or s2d)")
  parser.add_argument('--torch_threads', type=int, default=1,
                      help='PyTorch threads in the layers, step and cyclegan_layers sections')
  parser.add_argument('--flag_settings', default=','.join(FLAG_SETTINGS), help='names of FLAG_SETTINGS')
  parser.add_argument('--worker_upconv', default='phases', help='the up-convolution form of the flags section')
  parser.add_argument('--worker_s2d', action='store_true', help='space-to-depth gradients in the flags section')
  parser.add_argument('--cyclegan_batch_size', type=int, default=1, help='the cyclegan_layers section\'s batch')
  parser.add_argument('--cyclegan_resolution', type=int, default=128, help='(divisible by 16)')
  parser.add_argument('--cyclegan_width', type=int, default=64, help='the networks\' first width')
  parser.add_argument('--cyclegan_blocks', type=int, default=6, help='the generator\'s residual blocks')
  parser.add_argument('--flag_worker', action='store_true', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.flag_worker:
    flag_worker(args)
    return
  torch = pytorch_dcgan.import_torch()
  start = time.perf_counter()
  sections = args.sections.split(',')
  if 'layers' in sections:
    torch.set_num_threads(args.torch_threads)
    layers_section(args)
  if 'layout' in sections:
    layout_section(args)
  if 'step' in sections:
    step_section(args)
  if 'flags' in sections:
    flags_section(args)
  if 'cyclegan_layers' in sections:
    torch.set_num_threads(args.torch_threads)
    cyclegan_layers_section(args)
  print(f'\ntotal wall time {time.perf_counter() - start:.0f} s')


if __name__ == '__main__':
  main()
