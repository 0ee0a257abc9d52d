"""Plug & Play Generative Networks, the PPGN-h variant (Nguyen, Clune, Bengio, Dosovitskiy & Yosinski 2017), as pure
functions: the prior on the feature space h, the generator's loss terms, and the sampler.

A frozen encoder E maps images to features h = E(x) (the paper's CaffeNet fc6; here a digit classifier's ReLU
features). A generator G learns to invert it, x ~ G(h), and a denoising autoencoder R learns the prior p(h): trained
to reconstruct h from h + N(0, sigma^2), its residual R(h) - h estimates sigma^2 d log p(h) / dh (Alain & Bengio
2014). The sampler then climbs log p(h) + log p(y = c | G(h)) in h (the paper's eq. 11):

  h_{t+1} = h_t + eps1 (R(h_t) - h_t) + eps2 d log p(y = c | G(h_t)) / dh_t + N(0, eps3^2 I),

each step clipped to [0, h_max] (h is a ReLU layer's output; the released code clips fc6 to [0, 30]). eps1 = 0 is the
paper's ablation without a prior (DGN-AM's sampler, less its L2 decay), eps2 = 0 an unconditional chain.
"""

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array


class DenoisingMLP(nn.Module):
  """R: h [B, D] -> ReLU hidden layers -> a linear reconstruction [B, D] of the clean h.

  The paper's R on fc6 has seven fully connected layers, 4096-2048-1024-500-1024-2048-4096: widths halving to a
  bottleneck of about an eighth of h, then mirrored. `hidden` gives the hidden widths.
  """
  hidden: Sequence[int] = (256, 128, 64, 128, 256)

  @nn.compact
  def __call__(self, h: Array, train: bool = True) -> Array:
    del train  # Accepted so that `Network.create` and `Network.apply` can pass it.
    x = h
    for width in self.hidden:
      x = nn.relu(nn.Dense(width)(x))
    return nn.Dense(h.shape[-1])(x)


def dae_loss(reconstruction: Array, h: Array) -> Array:
  """R's loss: the mean over batch and units of (R(h + noise) - h)^2, the noise drawn by the caller."""
  return jnp.mean((reconstruction - h)**2)


def generator_terms(x: Array, x_hat: Array, h: Array, h_hat: Array) -> dict[str, Array]:
  """G's reconstruction terms (Dosovitskiy & Brox 2016), each a mean over batch and elements.

  Args:
    x: real images [B, H, W, C] in [-1, 1].
    x_hat: G(E(x)), the same shape.
    h: E(x) [B, D].
    h_hat: E(G(E(x))) [B, D].

  Returns:
    {'image': mean (x_hat - x)^2, 'feature': mean (h_hat - h)^2} (the adversarial term is the GAN loss's).
  """
  return {'image': jnp.mean((x_hat - x)**2), 'feature': jnp.mean((h_hat - h)**2)}


def class_log_likelihood(h: Array, target: Array, generate: Callable[[Array], Array],
                         classify: Callable[[Array], Array]) -> Array:
  """sum_b log p(y = target_b | G(h_b)): the condition's log-likelihood of a batch of chains [B, D].

  `generate` and `classify` must treat examples independently (G in evaluation mode), so that the gradient of the
  sum is each chain's own gradient.
  """
  log_p = jax.nn.log_softmax(classify(generate(h)))
  return jnp.sum(jnp.take_along_axis(log_p, target[:, None], axis=1))


def chain_step(h: Array, key: Array, target: Array, *, generate: Callable[[Array], Array],
               classify: Callable[[Array], Array], denoise: Callable[[Array], Array], eps1: float, eps2: float,
               eps3: float, h_max: float) -> Array:
  """One step of the PPGN-h sampler (the module's equation), for a batch of independent chains.

  Args:
    h: the chains' current codes [B, D].
    key: this step's noise key.
    target: the class each chain is conditioned on [B] (int).
    generate: G, codes [B, D] -> images (evaluation mode).
    classify: the condition network, images -> class logits [B, K].
    denoise: R, codes [B, D] -> reconstructed codes [B, D].
    eps1, eps2, eps3: the prior's, the condition's and the noise's multipliers; Python numbers (static), a zero one
      skipping its term's computation.
    h_max: the upper clip; the lower is 0.

  Returns:
    The next codes [B, D].
  """
  step = jnp.zeros_like(h)
  if eps1:
    step = step + eps1 * (denoise(h) - h)
  if eps2:
    step = step + eps2 * jax.grad(lambda h: class_log_likelihood(h, target, generate, classify))(h)
  if eps3:
    step = step + eps3 * jax.random.normal(key, h.shape, h.dtype)
  return jnp.clip(h + step, 0.0, h_max)


def sample_chain(h0: Array, key: Array, target: Array, *, steps: int, record_every: int | None = None,
                 **step_settings) -> tuple[Array, Array]:
  """`steps` steps of `chain_step` from `h0`, as one `lax.scan` (an outer scan over frames of an inner one over
  steps); step t draws its noise from `fold_in(key, t)`.

  Args:
    h0: the chains' start [B, D].
    key: the chains' noise key.
    target: the class of each chain [B].
    steps: the chain's length (static).
    record_every: keep the codes every this many steps (static; must divide `steps`); None: only the last.
    **step_settings: `chain_step`'s keyword arguments (generate, classify, denoise, eps1, eps2, eps3, h_max).

  Returns:
    (h after `steps` steps [B, D], frames [steps // record_every, B, D], frame i being h after
    (i + 1) * record_every steps).
  """
  record_every = record_every or steps
  if steps % record_every:
    raise ValueError(f'sample_chain: record_every={record_every} does not divide steps={steps}')

  def one_step(h, t):
    return chain_step(h, jax.random.fold_in(key, t), target, **step_settings), None

  def one_frame(h, ts):
    h, _ = jax.lax.scan(one_step, h, ts)
    return h, h

  ts = jnp.arange(steps).reshape(steps // record_every, record_every)
  return jax.lax.scan(one_frame, h0, ts)
