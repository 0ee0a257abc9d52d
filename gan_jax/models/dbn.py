"""A deep belief net (Hinton, Osindero & Teh 2006) as pure functions of its stack of Bernoulli RBMs' parameters.

Layer l is an RBM (`gan_jax.models.rbm`) whose visible units are layer l-1's hidden units (layer 0's are the
pixels). Trained greedily, each RBM models the up-pass of the data through the layers below it. The generative
model is the top RBM (an undirected associative memory) over directed sigmoid belief layers down to the pixels,
whose weights are the lower RBMs' (the generative weights, before any up-down fine-tuning).

Every function takes `stack`, a sequence of the layers' parameter dicts {'W', 'b', 'c'}, bottom first.
"""

from typing import Sequence

import jax

from gan_jax.models.rbm import Params, gibbs_chain, hidden_probs, visible_probs


def up_pass(stack: Sequence[Params], v: jax.Array) -> list[jax.Array]:
  """The deterministic up-pass: each layer's hidden probabilities given the probabilities below, as Hinton &
  Salakhutdinov's code feeds `batchposhidprobs` to the next RBM.

  Args:
    stack: the layers' parameters, bottom first.
    v: [B, V] visible vectors (binary pixels, or any values in [0, 1]).

  Returns:
    One [B, H_l] array per layer of `stack`: p(h_l = 1 | h_{l-1}) with h_{-1} = v.
  """
  features = []
  for params in stack:
    v = hidden_probs(params, v)
    features.append(v)
  return features


def down_pass(stack: Sequence[Params], h: jax.Array) -> jax.Array:
  """The deterministic down-pass of the directed layers: p(v | h) of each layer in turn, from the top of `stack`
  down, each fed the probabilities of the layer above.

  Args:
    stack: the directed layers' parameters, bottom first (a DBN's all but its top RBM).
    h: [B, H] states or probabilities of `stack`'s top hidden layer.

  Returns:
    [B, V] the pixels' probabilities (h itself when `stack` is empty).
  """
  for params in reversed(stack):
    h = visible_probs(params, h)
  return h


def sample(stack: Sequence[Params], v0: jax.Array, key: jax.Array, gibbs_steps: int) -> jax.Array:
  """Samples of the DBN: `gibbs_steps` block-Gibbs steps in the top RBM started from the up-pass of `v0`, then the
  down-pass of the last step's visible probabilities through the layers below.

  Args:
    stack: every layer's parameters, bottom first (the last is the top RBM).
    v0: [B, V] the pixels the chains start from (e.g. base-rate noise or test images).
    key: the chains' key.
    gibbs_steps: the top RBM's Gibbs steps (a Python int >= 1).

  Returns:
    [B, V] pixel probabilities.
  """
  below, top = stack[:-1], stack[-1]
  start = up_pass(below, v0)[-1] if below else v0
  chain = gibbs_chain(top, start, key, gibbs_steps)
  return down_pass(below, chain['v_probs'])
