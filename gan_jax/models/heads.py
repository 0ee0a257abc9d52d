"""What every discriminator adds on top of its body: conditioning on labels and the heads that read its features.

A discriminator body turns an input into hidden activations; its last one, flattened, is the feature vector phi(x).
The options here turn a plain D into the conditional and structured discriminators of the GAN literature:
- conditioning on a label y: one-hot channels concatenated to the input (Mirza & Osindero 2014), or the projection
  discriminator's inner product <embed(y), phi(x)> added to the logit (Miyato & Koyama 2018);
- an auxiliary classifier head, class logits beside the real/fake logit (AC-GAN, Odena et al. 2017);
- a semi-supervised head (Salimans et al. 2016): K class logits l and the real/fake logit logsumexp(l), i.e.
  D(x) = Z(x) / (Z(x) + 1) with Z(x) = sum_k exp(l_k(x)) and the fake class's logit fixed at 0;
- InfoGAN's Q head (Chen et al. 2016): a hidden layer on phi(x), then logits of the categorical code and means of
  the continuous codes;
- minibatch discrimination (Salimans et al. 2016) on phi(x) before the logit.

Every discriminator returns a dict: 'logits' [B] always, 'features' [B, F], 'hidden' (each layer's activations,
for feature matching), and 'class_logits', 'code_logits', 'code_mean' when the options ask for them.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.minibatch import MinibatchDiscrimination

CONDITIONINGS = ('concat', 'projection')
CLASS_HEADS = ('none', 'auxiliary', 'semi_supervised')
INFO_HIDDEN = 128  # Q's hidden layer (InfoGAN's MNIST Q: FC 128, then the code outputs).


@dataclasses.dataclass(frozen=True)
class HeadOptions:
  """The structure of a discriminator beyond its body; the defaults give the plain real/fake discriminator."""
  num_classes: int = 0  # > 0: D is conditioned on a label y in [0, num_classes).
  conditioning: str = 'concat'  # How y enters D (when num_classes > 0): CONDITIONINGS.
  class_head: str = 'none'  # CLASS_HEADS; both need num_labels.
  num_labels: int = 0  # The classes of the class head (the dataset's classes).
  info_categories: int = 0  # InfoGAN: categories of the one categorical code (0: none).
  info_continuous: int = 0  # InfoGAN: number of continuous codes.
  minibatch_kernels: int = 0  # Minibatch discrimination's B (0: off).
  minibatch_kernel_dim: int = 5  # Its C.
  minibatch_per_device: bool = False  # Compare within each device's share of the batch (else the global batch).

  @property
  def plain_logit(self) -> bool:
    """Whether the body's own last layer makes the logit (no layer between the features and the logit)."""
    return self.minibatch_kernels == 0 and self.class_head != 'semi_supervised'


def condition_input(x: jax.Array, y: jax.Array | None, options: HeadOptions) -> jax.Array:
  """Concatenates one-hot labels to D's input: as channels of an image, as features of a vector."""
  if options.num_classes == 0 or options.conditioning != 'concat':
    return x
  one_hot = jax.nn.one_hot(_labels(y, options), options.num_classes, dtype=x.dtype)
  if x.ndim == 4:
    one_hot = jnp.broadcast_to(one_hot[:, None, None, :], (*x.shape[:3], options.num_classes))
  else:
    x = x.reshape(x.shape[0], -1)
  return jnp.concatenate([x, one_hot], axis=-1)


def _labels(y: jax.Array | None, options: HeadOptions) -> jax.Array:
  if y is None:
    raise ValueError(f'this discriminator is conditioned on {options.num_classes} classes: call it with labels y')
  return y


class DiscriminatorHeads(nn.Module):
  """Reads a body's features: the logit (unless the body made it), projection, class and code heads."""
  options: HeadOptions
  kernel_init: nn.initializers.Initializer = nn.initializers.normal(0.02)
  use_bias: bool = False

  @nn.compact
  def __call__(self, features: jax.Array, logits: jax.Array | None, y: jax.Array | None,
               hidden: tuple[jax.Array, ...]) -> dict[str, jax.Array]:
    o = self.options
    dense = lambda n, name: nn.Dense(n, kernel_init=self.kernel_init, use_bias=self.use_bias, name=name)
    outputs = {'features': features, 'hidden': hidden}
    head_input = features
    if o.minibatch_kernels:
      head_input = MinibatchDiscrimination(o.minibatch_kernels, o.minibatch_kernel_dim,
                                           per_device=o.minibatch_per_device, name='minibatch')(features)
    if o.class_head != 'none':
      outputs['class_logits'] = dense(o.num_labels, 'class_logits')(head_input)
    if logits is None:
      if o.class_head == 'semi_supervised':
        logits = jax.nn.logsumexp(outputs['class_logits'], axis=-1)
      else:
        logits = dense(1, 'logit')(head_input)[:, 0]
    if o.num_classes and o.conditioning == 'projection':
      embedding = nn.Embed(o.num_classes, features.shape[-1], embedding_init=self.kernel_init, name='projection')
      logits = logits + jnp.sum(embedding(_labels(y, o)) * features, axis=-1)
    if o.info_categories or o.info_continuous:
      q = nn.leaky_relu(nn.Dense(INFO_HIDDEN, kernel_init=self.kernel_init, name='q_hidden')(features), 0.2)
      if o.info_categories:
        outputs['code_logits'] = nn.Dense(o.info_categories, kernel_init=self.kernel_init, name='q_categorical')(q)
      if o.info_continuous:
        outputs['code_mean'] = nn.Dense(o.info_continuous, kernel_init=self.kernel_init, name='q_continuous')(q)
    outputs['logits'] = logits
    return outputs
