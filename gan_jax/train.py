"""The training loop: `train_and_evaluate(config, workdir)` is what `main.py`, the tests and notebooks call."""

import json
import os
import signal
import threading
import time
from typing import Any, Callable

from absl import logging
from clu import metric_writers, periodic_actions
from flax import traverse_util
import jax
import ml_collections
import numpy as np
from tensorboard.compat.proto import event_pb2
from tensorflow.python.ops import summary_ops_v2  # import_event: TF2's only way to write a SessionLog event.

from gan_jax import checkpoint, console, data, families, parallel as parallel_lib, steps
from gan_jax import config as config_lib
from gan_jax import validation, workdir as workdir_lib
from gan_jax.data import in_memory
from gan_jax.data.streaming import StreamedImages
from gan_jax.evaluation import plots


class NonFiniteLossError(FloatingPointError):
  """A loss became NaN or Inf; the message names the step and the loss."""


class PreemptedError(RuntimeError):
  """SIGTERM or SIGINT arrived; a checkpoint of the current step was saved before this was raised.

  Attributes:
    signum: the signal that stopped the run (SIGTERM when it reached another process only).
  """

  def __init__(self, message: str, signum: int = signal.SIGTERM):
    super().__init__(message)
    self.signum = signum


def training_arrays(config: ml_collections.ConfigDict, dataset) -> dict[str, np.ndarray]:
  """What the compiled step reads on device: the dataset's arrays, and the semi-supervised GAN's labelled subset
  (nothing for a streamed dataset, whose batches `open_feed` passes each call)."""
  global_batch = config.train.n_critic * config.train.batch_size
  if isinstance(dataset, StreamedImages) and dataset.steps_per_epoch(global_batch, jax.process_count()) < 1:
    raise config_lib.ConfigError(
        f'config.train.batch_size: data.split={config.data.split!r} has {dataset.num_examples} examples '
        f'({jax.process_count()} process(es) read equal parts), fewer than one streamed batch of train.batch_size x '
        f'train.n_critic = {global_batch}')
  arrays = dict(dataset.host_arrays())
  if config.semi.labels_per_class:
    arrays['labelled_indices'] = in_memory.labelled_subset(dataset.labels, config.semi.labels_per_class, config.seed)
    if len(arrays['labelled_indices']) < config.train.n_critic * config.train.batch_size:
      raise config_lib.ConfigError(
          f'config.semi.labels_per_class: {config.semi.labels_per_class} per class gives '
          f'{len(arrays["labelled_indices"])} labelled examples, fewer than a batch '
          f'(train.batch_size x train.n_critic = {config.train.n_critic * config.train.batch_size})')
  return arrays


class _HeldArrays:
  """The in-memory feed: every call reads the same arrays, placed on the devices once."""

  def __init__(self, arrays: Any):
    self._arrays = arrays

  def __call__(self, step: int, num_steps: int) -> Any:
    del step, num_steps
    return self._arrays

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    pass


def open_feed(config: ml_collections.ConfigDict, dataset, arrays: dict[str, np.ndarray],
              parallel: parallel_lib.DataParallel, start_step: int):
  """`feed(step, num_steps)` -> the data arrays of the compiled call that trains steps [step, step + num_steps).

  In memory: `arrays` (from `training_arrays`) placed once and passed to every call. Streamed: that call's batches,
  read ahead from step `start_step` on by a thread (`streaming.StreamFeed`). Use it as a context manager, which
  stops the thread.
  """
  if isinstance(dataset, StreamedImages):
    return dataset.open_feed(config.seed, start_step, config.train.n_critic * config.train.batch_size, parallel)
  return _HeldArrays(parallel.put(arrays))


def make_multi_step_fn(config, dataset, parallel: parallel_lib.DataParallel,
                       state_sharding: Any = None) -> Callable[[int], Callable]:
  """Returns `compiled(num_steps)`: the compiled multi-step function for a chunk length, built once per length.

  The compiled function is called as `fn(state, data_arrays)` with the arrays `open_feed` gives for the call; the
  state comes back with `state_sharding` (`parallel.state_sharding`; default replicated).
  """
  family = families.get(config.model)
  train_step, sample_real = family.make_train_step(config, dataset, parallel)
  cache = {}

  def compiled(num_steps: int):
    if num_steps not in cache:
      multi_step = steps.make_multi_step(train_step, sample_real, num_steps, loss_names=family.loss_names)
      cache[num_steps] = parallel.compile(multi_step, state_sharding=state_sharding)
    return cache[num_steps]

  return compiled


def next_boundary(step: int, config: ml_collections.ConfigDict, stage_starts: tuple[int, ...] = ()) -> int:
  """The next step at which the loop must stop a compiled chunk: a call, log, eval or checkpoint boundary, or the
  start of a stage (`families.Family.stage_starts`), where the state changes structure.

  Boundaries are multiples of fixed intervals or fixed steps, so a resumed run cuts its chunks where an
  uninterrupted one does and computes bit for bit the same.
  """
  t = config.train
  intervals = (t.steps_per_call, t.log_every_steps, t.eval_every_steps, t.checkpoint_every_steps)
  return min([t.num_steps] + [(step // n + 1) * n for n in intervals] + [s for s in stage_starts if s > step])


def _flat_hparams(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config as TensorBoard hyperparameters: dotted names, scalar values (tuples as strings)."""
  flat = traverse_util.flatten_dict(config.to_dict(), sep='.')
  return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in flat.items()}


class _SigtermFlag:
  """Turns SIGTERM (how TPU pods preempt) and SIGINT (Ctrl-C) into a flag the loop checks between compiled chunks.

  `raised` is the signal's number (0: none). A second SIGINT stops at once (KeyboardInterrupt), without a checkpoint.
  """

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.raised = 0
    self._previous = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
    return self

  def _handle(self, signum, frame):
    del frame
    if signum == signal.SIGINT and self.raised == signal.SIGINT:
      raise KeyboardInterrupt
    if not self.raised:
      self.raised = signum
      # Logged from another thread, once this one is out of its write: the signal may have arrived in the middle of
      # a write to the stream the handler would write to, and writing again from here raises a reentrant-call error.
      threading.Thread(target=logging.warning, daemon=True, args=(
          '%s received: saving a checkpoint after the current chunk%s.', signal.Signals(signum).name,
          ' (Ctrl-C again stops without one)' if signum == signal.SIGINT else '')).start()

  def __exit__(self, *exc):
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)


def _check_finite(summary: dict[str, Any], last_saved: int | None, directory: str) -> None:
  for key in sorted(k for k in summary if k.endswith('_first_nonfinite_step')):
    name = key.removesuffix('_first_nonfinite_step')
    bad_step = int(summary[key])
    if bad_step != np.iinfo(np.int32).max:
      kept = f'step {last_saved} in {directory}' if last_saved is not None else 'none saved yet'
      raise NonFiniteLossError(f'{name} is NaN or Inf at step {bad_step}; stopping. Last good checkpoint: {kept}.')


def _create_writer(workdir: str, is_chief: bool):
  """clu's default writer, and on process 0 its TensorBoard part (for `_start_summaries`; None elsewhere)."""
  if not is_chief:
    return metric_writers.create_default_writer(workdir, just_logging=True), None
  summaries = metric_writers.SummaryWriter(workdir)
  return metric_writers.AsyncMultiWriter([metric_writers.LoggingWriter(), summaries]), summaries


def _start_summaries(summaries: metric_writers.SummaryWriter | None, step: int) -> None:
  """Marks where this run's summaries start, so that TensorBoard drops an earlier run's points after `step`.

  A run killed after its last checkpoint (SIGKILL, a crash) logged steps that the resumed run logs again. A
  `SessionLog.START` event at step s makes TensorBoard discard the points of earlier event files at steps >= s (the
  first one in a directory marks the start and discards nothing), as `tf.train.Supervisor` and PyTorch's
  `purge_step` do; clu's writer does not expose it, so it is written through TF's `import_event`.
  """
  if summaries is None:
    return
  event = event_pb2.Event(wall_time=time.time(), step=step + 1,
                          session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START))
  with summaries._summary_writer.as_default():  # pylint: disable=protected-access
    summary_ops_v2.import_event(event.SerializeToString())
  summaries.flush()


def _record_config_changes(writer: metric_writers.MetricWriter, step: int, changes: list[str]) -> None:
  """Logs the config fields this resume changed, and shows them in TensorBoard's text tab at the resumed step."""
  logging.warning('Resuming at step %d with a changed config (--allow_config_change):\n  %s', step,
                  '\n  '.join(changes))
  writer.write_texts(step, {'config_change': '\n'.join(f'- `{line}`' for line in changes)})


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       allow_config_change: bool = False) -> dict[str, float]:
  """Trains the model `config` describes (a GAN, an RBM, ...: `config.model`), resuming from `workdir` when it holds a checkpoint.

  Writes TensorBoard summaries, sample plots (`plots/`), checkpoints (`checkpoints/`), the config
  (`config.json`) and, at the end, `metrics.json` into `workdir`, which it holds for the run (`workdir.WorkdirLock`).

  Args:
    config: an experiment config (see `gan_jax.config.base_config`).
    workdir: the run's directory.
    allow_config_change: resume under a config whose training hyperparameters (learning rates, ...) differ from
      the saved one's (see `gan_jax.workdir`); fields that change the state's shape or meaning are always refused.

  Returns:
    The final metrics written to `metrics.json`.

  Raises:
    ConfigError: before anything is compiled or written.
    WorkdirError: another run holds `workdir`, or the config differs from its checkpoints' in a refused way.
    NonFiniteLossError: a loss became NaN or Inf; the last good checkpoint is kept.
    PreemptedError: SIGTERM or SIGINT arrived; a checkpoint of the current step was saved.
  """
  validation.validate(config, parallel_lib.device_count(config.parallel.mode), jax.process_count())
  # The checks that need the devices or the data, still before anything is written.
  parallel = parallel_lib.make_data_parallel(config.parallel.mode, config.parallel.model_shards)
  dataset = data.make_dataset(config.data)
  arrays = training_arrays(config, dataset)
  with workdir_lib.claim(workdir, config, allow_config_change, jax.process_index(),
                         parallel_lib.any_process) as config_changes:
    return _train_and_evaluate(config, workdir, config_changes, parallel, dataset, arrays)


def _train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, config_changes: list[str],
                        parallel: parallel_lib.DataParallel, dataset, arrays: dict[str, np.ndarray]):
  family = families.get(config.model)
  state = family.create_state(config, jax.random.key(config.seed), dataset)
  is_chief = jax.process_index() == 0

  writer, summaries = _create_writer(workdir, is_chief)
  log = f', {os.path.basename(console.log_path())} (the full log)' if console.log_path() else ''
  console.report(f'Outputs in {workdir}: TensorBoard summaries, plots/, checkpoints/, metrics.json at the end{log}')
  ckpt_dir = os.path.join(workdir, 'checkpoints')
  manager = checkpoint.make_manager(ckpt_dir, config.train.keep_checkpoints)
  # Under a mesh the checkpoint comes back as global arrays, on every process. A growing state is restored into
  # the structure of its step.
  initial = state
  restored = checkpoint.restore_latest(
      manager, lambda saved_step: families.state_at(family, config, initial, saved_step, dataset),
      lambda template: parallel.state_sharding(template, family.batch_extras))
  if restored is not None:
    state = restored
  state_sharding = parallel.state_sharding(state, family.batch_extras)
  device_state = parallel.put(state, state_sharding)
  state = parallel.get(device_state)  # This process's copy, for evaluation and plots.
  step = int(state.step)
  last_saved = None
  if restored is not None:
    last_saved = step
    console.report(f'Resuming from step {last_saved} in {ckpt_dir}.')
  else:
    writer.write_hparams(_flat_hparams(config))
  _start_summaries(summaries, step)
  if config_changes:
    _record_config_changes(writer, step, config_changes)
  plot_dir = os.path.join(workdir, 'plots')
  if is_chief:
    os.makedirs(plot_dir, exist_ok=True)

  compiled = make_multi_step_fn(config, dataset, parallel, state_sharding)
  stage_starts = families.stage_starts(family, config)
  evaluate = family.make_evaluator(config, dataset)
  progress = periodic_actions.ReportProgress(num_train_steps=config.train.num_steps, writer=writer)
  feed = open_feed(config, dataset, arrays, parallel, step)
  if isinstance(dataset, StreamedImages):
    logging.info('Streaming %r split %r from %s (%d examples, shuffle buffer %d).', dataset.name, dataset.split,
                 dataset.data_dir, dataset.num_examples, dataset.shuffle_buffer)
  timed_steps, train_seconds, first_call_seconds, compiling = 0, 0.0, None, True
  progress_line = console.ProgressLine(config.train.num_steps)
  eval_metrics = {}

  with _SigtermFlag() as sigterm, feed:
    while step < config.train.num_steps:
      if step in stage_starts:  # The state changes structure: its new step is compiled.
        state = family.next_stage(config, parallel.get(device_state), dataset)
        state_sharding = parallel.state_sharding(state, family.batch_extras)
        device_state = parallel.put(state, state_sharding)
        compiled = make_multi_step_fn(config, dataset, parallel, state_sharding)
        compiling = True
        logging.info('Step %d starts a new stage of %s: the state changed structure.', step, config.model)
      chunk = next_boundary(step, config, stage_starts) - step
      tic = time.perf_counter()
      device_state, summary = compiled(chunk)(device_state, feed(step, chunk))
      summary = jax.device_get(parallel.get(summary))  # Waits for the chunk: the NaN check needs its result.
      elapsed = time.perf_counter() - tic
      if compiling:  # Includes compilation (of every stage's step, for a growing state).
        first_call_seconds = (first_call_seconds or 0.0) + elapsed
        compiling = False
      else:
        train_seconds += elapsed
        timed_steps += chunk
      step += chunk
      progress_line.add_call(step, chunk, elapsed)
      _check_finite(summary, last_saved, ckpt_dir)
      # SIGTERM may reach one host only: all stop after the same chunk, or the others would wait in its collectives.
      preempted = parallel_lib.any_process(sigterm.raised)
      progress(step)
      t = config.train
      done = step == t.num_steps
      if step % t.log_every_steps == 0 or done:
        writer.write_scalars(step, {k: v for k, v in summary.items() if not k.endswith('_nonfinite_step')})
        console.report(progress_line.line(step, summary, family.loss_names))
      state = parallel.get(device_state)
      if step % t.eval_every_steps == 0 or done:
        eval_metrics, pictures = evaluate(state)
        writer.write_scalars(step, {f'eval/{k}': v for k, v in eval_metrics.items()})
        console.report(f'eval at step {step} | {console.metrics_line(eval_metrics)}')
        writer.write_images(step, {name: image[None] for name, image in pictures.items()})
        if is_chief:
          for name, image in pictures.items():
            plots.save_png(image, os.path.join(plot_dir, f'{name}_{step:07d}.png'))
      if step % t.checkpoint_every_steps == 0 or done or preempted:
        checkpoint.save(manager, parallel.checkpointable(device_state))  # Every process, for Orbax's multi-host save.
        last_saved = step
      if preempted:
        manager.wait_until_finished()
        writer.flush()
        signum = sigterm.raised or signal.SIGTERM
        how = 'Interrupted by SIGINT' if signum == signal.SIGINT else 'Preempted by SIGTERM'
        where = '' if sigterm.raised else ' on another process'
        raise PreemptedError(f'{how}{where} at step {step}; checkpoint saved in {ckpt_dir}.', signum)

  manager.wait_until_finished()
  if not eval_metrics:  # Resumed at the last step: evaluate the restored state.
    eval_metrics, _ = evaluate(parallel.get(device_state))
  final = {
      'step': step,
      **eval_metrics,
      'first_call_seconds': first_call_seconds or 0.0,
      'train_seconds': train_seconds,
      'steps_per_second': timed_steps / train_seconds if train_seconds > 0 else 0.0,
  }
  if is_chief:
    with open(os.path.join(workdir, 'metrics.json'), 'w') as f:
      json.dump(final, f, indent=2, sort_keys=True)
  writer.flush()
  writer.close()
  manager.close()
  return final
