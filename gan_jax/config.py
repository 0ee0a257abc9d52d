"""The configuration schema: the defaults every experiment inherits, and the helpers that check a field.

Experiments under `experiments/` start from `base_config()` (or `dcgan_config()`) and override fields. This module
imports only ml_collections, so a config file loads without JAX or the implementation. Each registry checks its own
section with the helpers below (`models.validate`, `data.validate`, `optim.validate`, `losses.validate`,
`parallel.validate_parallel`, ...), and `gan_jax.validation.validate` runs them all and then the rules that join
sections, before anything is compiled or written, so a bad value is reported by its field name and the accepted
values.
"""

from typing import Any, Callable, Iterable

import ml_collections


class ConfigError(ValueError):
  """A configuration value that cannot be used; the message names the field."""


def base_config() -> ml_collections.ConfigDict:
  """Defaults shared by all experiments: the unrolled GAN paper's ring-of-8 setting (Metz et al. 2017, App. A)."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  # The model family (gan_jax/families): 'gan' (networks g and d, the sections below), 'rbm' (config.rbm), 'dbn'
  # (config.dbn), 'vae' (config.vae), 'autoencoder' (config.autoencoder), 'ppgn' (config.ppgn), 'pix2pix'
  # (config.pix2pix, image-to-image translation), 'cyclegan' (config.cyclegan, unpaired translation), 'lapgan'
  # (config.lapgan, a Laplacian pyramid of GANs), 'srgan' (config.srgan, super-resolution) or 'progan'
  # (config.progan, Progressive GAN), 'stackgan' (config.stackgan, text -> image).
  config.model = 'gan'

  config.gen = ml_collections.ConfigDict()
  config.gen.name = 'mlp'
  config.gen.hidden = (128, 128)
  config.gen.latent_dim = 256
  config.gen.latent_dist = 'normal'
  config.gen.init_gain = 0.8  # Orthogonal initialisation scale of the paper.
  # The MLPs' kernel initialisation: 'orthogonal' (gain init_gain) or 'normal' (N(0, init_std^2), PacGAN's).
  config.gen.init = 'orthogonal'
  config.gen.init_std = 0.02
  # The MLP generator's normalisation after each hidden layer: 'none' or 'batch' (PacGAN). gen.norm is the
  # convolutional networks'.
  config.gen.mlp_norm = 'none'
  config.gen.base_channels = 64  # Convolutional generators.
  config.gen.norm = 'batch'
  # 'conv' networks: one width per layer, the dense layer's first (the Stacked MNIST G of Metz et al. 2017).
  config.gen.widths = (64, 32, 16, 8)
  config.gen.kernel_size = 3
  config.gen.ema_decay = 0.0  # > 0 keeps a moving average of G's weights for sampling and evaluation.

  config.disc = ml_collections.ConfigDict()
  config.disc.name = 'mlp'
  config.disc.hidden = (128,)
  config.disc.input_scale = 0.25  # The paper scales D's input by 1/4.
  config.disc.init_gain = 0.8
  config.disc.init = 'orthogonal'
  config.disc.init_std = 0.02
  # >= 2: the MLP discriminator's hidden layers are linear maxout layers of this many pieces (PacGAN's D); 0: ReLU.
  config.disc.maxout_pieces = 0
  # Packing (PacGAN, Lin et al. 2018): D judges m samples at once, all real or all generated, concatenated as
  # features of a vector ([B, d] -> [B/m, m*d]) or channels of an image ([B, H, W, C] -> [B/m, H, W, m*C]).
  # train.batch_size counts samples: it must be divisible by m. 1: off.
  config.disc.pack = 1
  config.disc.base_channels = 64
  config.disc.norm = 'batch'
  config.disc.widths = (2, 4, 8)  # 'conv': one stride-2 convolution per width (D = 1/4 of G's widths).
  config.disc.kernel_size = 3
  config.disc.leaky_slope = 0.3  # 'conv' only; DCGAN keeps its 0.2.
  # Minibatch discrimination (Salimans et al. 2016) on D's features: its B kernels (0: off) of dimension C.
  config.disc.minibatch_kernels = 0
  config.disc.minibatch_kernel_dim = 5
  # Which examples each is compared with: 'global' (the whole batch, on any number of devices) or 'device' (its
  # device's share only, as per-GPU minibatches; under parallel.mode=mesh).
  config.disc.minibatch_scope = 'global'

  # Conditional GAN (Mirza & Osindero 2014): G and D see the class label of each example.
  config.cond = ml_collections.ConfigDict()
  config.cond.enabled = False
  # How D sees the label: one-hot channels or features ('concat'), the projection discriminator's inner product
  # (Miyato & Koyama 2018, 'projection'), or not at all ('none': AC-GAN, whose D predicts it instead).
  config.cond.disc = 'concat'

  # InfoGAN (Chen et al. 2016): latent codes beside z, and Q's head on D's features.
  config.info = ml_collections.ConfigDict()
  config.info.categories = 0  # Values of the one categorical code (0: none).
  config.info.continuous = 0  # Continuous codes, each U(-1, 1).
  # Their weights are the objective terms loss.d/g.info_categorical (the paper's lambda, 1 for discrete codes) and
  # loss.d/g.info_continuous (smaller, 0.1: a differential entropy is on another scale).

  # Semi-supervised GAN (Salimans et al. 2016): D is a K+1-class classifier trained on a few labels per class.
  config.semi = ml_collections.ConfigDict()
  config.semi.labels_per_class = 0  # 0: off.
  # The labelled examples' loss is the D term loss.d.supervised; loss.d.adversarial=0 trains D on them alone (the
  # supervised baseline the semi-supervised GAN is judged by).
  config.semi.test_split = 'test'  # Where the class head's accuracy is measured.

  config.loss = ml_collections.ConfigDict()
  config.loss.name = 'minimax'
  config.loss.label_smoothing = 0.0  # One-sided: real targets become 1 - label_smoothing.
  config.loss.feature_layer = -1  # The hidden layer of D feature matching matches; -1: the last, under the logit.
  # Each player's objective: the weights of its terms (gan_jax/objectives.py; 0: off).
  config.loss.d = ml_collections.ConfigDict()
  config.loss.d.adversarial = 1.0  # The D loss of the pair loss.name.
  config.loss.d.gradient_penalty = 0.0  # WGAN-GP's lambda (10 in the paper).
  config.loss.d.r1 = 0.0  # R1's gamma (Mescheder et al. 2018): gamma/2 E||grad D(x)||^2 on real data.
  config.loss.d.r2 = 0.0  # R2's gamma: the same on generated samples.
  config.loss.d.aux_classifier = 0.0  # AC-GAN (Odena et al. 2017): D's class loss on real and fake; needs cond.
  config.loss.d.info_categorical = 0.0  # InfoGAN's lambda for the categorical code; needs info.categories.
  config.loss.d.info_continuous = 0.0  # And for the continuous codes; needs info.continuous.
  config.loss.d.supervised = 0.0  # Semi-supervised GAN: the labelled examples' class loss; needs semi.
  config.loss.d.historical_averaging = 0.0  # ||theta - mean of past theta||^2 (Salimans et al. 2016).
  config.loss.g = ml_collections.ConfigDict()
  config.loss.g.adversarial = 1.0  # The G loss of the pair loss.name.
  config.loss.g.feature_matching = 0.0  # Match the batch mean of D's hidden layer loss.feature_layer.
  config.loss.g.aux_classifier = 0.0  # AC-GAN: G's samples classified as drawn.
  config.loss.g.info_categorical = 0.0
  config.loss.g.info_continuous = 0.0
  config.loss.g.historical_averaging = 0.0

  config.unroll = ml_collections.ConfigDict()
  config.unroll.steps = 10
  config.unroll.second_order = True
  config.unroll.remat = False
  # The unrolled D steps and the G step see the real batch and noise of the (first) D step.
  config.unroll.same_minibatch = True
  # Whether the k-step loop is unrolled is the backend's choice (gan_jax/platform.py), not a config field.

  config.data = ml_collections.ConfigDict()
  config.data.name = 'ring'
  config.data.num_modes = 8
  config.data.radius = 2.0
  config.data.std = 0.02
  config.data.grid_size = 5
  config.data.spacing = 2.0
  config.data.mean = 4.0
  # The mixtures' training set: 0 draws fresh points every step; N > 0 draws N points once (from a fixed key, the
  # same for every run) and serves them in epoch-shuffled batches, as a finite dataset (PacGAN's 100,000).
  config.data.num_train_points = 0
  # Image datasets (read through TFDS from data_dir; '' means TFDS's default, ~/tensorflow_datasets).
  config.data.data_dir = ''
  config.data.split = 'train'
  config.data.resolution = 32
  config.data.channels = 1
  config.data.resize = 'resize'  # Or 'pad' (e.g. mnist's 28x28 centred in 32x32).
  # How image batches reach the step: 'in_memory' holds the split on every device and gathers each batch there;
  # 'stream' reads it with tf.data from TFDS, shuffled per epoch from the seed, and feeds each call its batches
  # (gan_jax/data/streaming.py; not with stacked datasets, semi.labels_per_class or virtual batch norm); 'auto'
  # streams when the split at data.resolution (uint8) exceeds a quarter of one device's free memory
  # (gan_jax.data.IN_MEMORY_FRACTION; 2 GiB where JAX and the host report none).
  config.data.pipeline = 'auto'
  # 'stream' only: the encoded examples its shuffle buffer holds (host memory), so a split up to this size is
  # read in a uniform random order each epoch; a larger one in a buffer-shuffled order of shuffled files.
  config.data.shuffle_buffer = 65_536
  # Image pixels made binary, in {-1, 1} (an RBM's or a Bernoulli decoder's {0, 1}): 'none', 'threshold' (at
  # middle grey, fixed) or 'sample' (each pixel on with its intensity as probability, drawn afresh every step).
  config.data.binarize = 'none'

  config.optim = ml_collections.ConfigDict()
  for player in ('g', 'd'):
    opt = ml_collections.ConfigDict()
    opt.name = 'adam'
    opt.learning_rate = 1e-4
    opt.b1 = 0.5
    opt.b2 = 0.999
    opt.eps = 1e-8
    # Differentiating through Adam needs eps_root > 0: d sqrt(v) / dv is infinite at v = 0.
    opt.eps_root = 1e-16
    opt.decay = 0.9  # RMSProp only.
    opt.momentum = 0.0  # SGD and RMSProp.
    opt.clip_params = 0.0  # > 0 keeps every parameter in [-clip, clip] after each update (WGAN).
    # L2 weight decay added to the gradient of every weight matrix (not the biases), before the optimizer.
    opt.weight_decay = 0.0
    config.optim[player] = opt

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 512
  config.train.num_steps = 25_000
  config.train.n_critic = 1
  config.train.update_order = 'simultaneous'
  # Training steps per compiled call (a lax.scan over steps); benchmarks/steps_per_call.py chose it.
  config.train.steps_per_call = 100
  config.train.log_every_steps = 500
  config.train.eval_every_steps = 5000
  config.train.checkpoint_every_steps = 5000
  config.train.keep_checkpoints = 3
  # Virtual batch norm (gen.norm or disc.norm 'virtual_batch'): the reference batch, drawn once at the start.
  config.train.reference_batch_size = 64

  # Experience replay: a fraction of D's fake batch comes from a buffer of past fakes (0: off)...
  config.replay = ml_collections.ConfigDict()
  config.replay.fraction = 0.0
  config.replay.capacity = 10_000
  # ... and every swap_every steps (0: never), each player trains swap_steps steps against an older copy of its
  # opponent (taken about swap_every steps earlier).
  config.replay.swap_every = 0
  config.replay.swap_steps = 0

  config.eval = ml_collections.ConfigDict()
  config.eval.num_samples = 2500
  # A mode counts as covered when at least this many of the samples lie within 3 std of it (VEEGAN, PacGAN).
  config.eval.min_samples_per_mode = 20
  config.eval.plot = True
  config.eval.grid_rows = 8  # Image samples: a grid_rows x grid_rows grid from fixed latents.
  # The FID Inception weights (a .pth or .npz; see README): enables FID, KID and IS on image datasets.
  config.eval.inception_weights = ''
  # Likelihood-based families (rbm, vae) measure on this split of data.name.
  config.eval.test_split = 'test'

  config.parallel = ml_collections.ConfigDict()
  config.parallel.mode = 'single'
  # mesh: shard the state (parameters, optimizer states, EMA) over this many devices of a second mesh axis 'model'
  # (FSDP-style), the batch over all devices; 1 replicates the state on every device.
  config.parallel.model_shards = 1
  # Multi-host (a TPU pod, a GPU cluster): join the processes with `jax.distributed.initialize` before training.
  config.parallel.distributed = False
  # Where process 0 listens ('host:port'), how many processes, and this one's index. The defaults ('', 0, -1)
  # let JAX detect them from the cluster (TPU pods, SLURM, Open MPI); elsewhere give all three.
  config.parallel.coordinator_address = ''
  config.parallel.num_processes = 0
  config.parallel.process_id = -1
  return config


def set_adam(config: ml_collections.ConfigDict, learning_rate: float | None = None, *, b1: float | None = None,
             b2: float | None = None, eps: float | None = None, eps_root: float | None = None,
             names: Iterable[str] | None = None) -> ml_collections.ConfigDict:
  """Sets Adam's hyperparameters in the sections of `config.optim`: the one place the configs set them.

  Args:
    config: the config to change (in place).
    learning_rate, b1, b2, eps, eps_root: the values to set; those left None keep their values.
    names: the sections to set (e.g. ('d_a', 'd_b')); None: every section.

  Returns:
    `config`.
  """
  values = {'learning_rate': learning_rate, 'b1': b1, 'b2': b2, 'eps': eps, 'eps_root': eps_root}
  for name in config.optim.keys() if names is None else names:
    for field, value in values.items():
      if value is not None:
        config.optim[name][field] = value
  return config


def dcgan_config() -> ml_collections.ConfigDict:
  """DCGAN defaults (Radford et al. 2016) on the offline digits: the base of every image experiment."""
  config = base_config()
  config.gen.name = config.disc.name = 'dcgan'
  config.gen.latent_dim = 100
  config.gen.latent_dist = 'uniform'  # The DCGAN paper draws z from U(-1, 1).
  config.data.name = 'digits'
  config.data.resolution = 16  # The digits are 8x8: 16x16 keeps every detail and trains in minutes on a CPU.
  config.data.channels = 1
  config.loss.name = 'non_saturating'
  config.unroll.steps = 0
  set_adam(config, 2e-4)
  config.train.batch_size = 64
  config.train.num_steps = 5000
  config.train.update_order = 'alternating'  # D first, then G against the updated D, as in the reference code.
  # One step per call: XLA's CPU backend runs convolutions inside a loop (a scan over steps) about 20x slower, and
  # a DCGAN step is long enough that dispatch does not matter.
  config.train.steps_per_call = 1
  config.train.log_every_steps = 100
  config.train.eval_every_steps = 1000
  config.train.checkpoint_every_steps = 1000
  config.eval.num_samples = 2000
  return config


def rbm_config() -> ml_collections.ConfigDict:
  """A Bernoulli RBM on binarised 28x28 MNIST (Salakhutdinov & Murray 2008: 500 hidden units, CD-k), measured by
  annealed importance sampling with their 14,500 temperatures and 100 chains."""
  config = base_config()
  config.model = 'rbm'
  config.rbm = ml_collections.ConfigDict()
  config.rbm.num_hidden = 500
  config.rbm.gibbs_steps = 1  # CD-k's k; the chain is one lax.scan, so compile time does not grow with it.
  config.rbm.persistent = False  # PCD (Tieleman 2008): the negative chains continue from step to step.
  config.rbm.init_std = 0.01  # W ~ N(0, 0.01^2), zero biases (Hinton's practical guide).
  config.rbm.ais_temperatures = 14_500
  config.rbm.ais_chains = 100
  config.rbm.sample_gibbs_steps = 1000  # Gibbs steps from base-rate noise to the pictured samples.
  config.data.name = 'mnist'
  config.data.resolution = 28
  config.data.binarize = 'sample'
  config.optim = ml_collections.ConfigDict({'rbm': _rbm_optimizer(config)})
  config.train.batch_size = 100
  config.train.num_steps = 20_000
  config.train.log_every_steps = 500
  config.train.eval_every_steps = 20_000
  config.train.checkpoint_every_steps = 5000
  config.eval.num_samples = 10_000
  return config


def _rbm_optimizer(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """SGD with momentum on the batch-mean CD gradient plus an L2 cost on W: the update of Hinton & Salakhutdinov's
  rbm.m (weight cost 2e-4, final momentum 0.9; its rate 0.1 with momentum 0.5 first, here 0.05 throughout)."""
  rbm_optim = ml_collections.ConfigDict(config.optim.g.to_dict())
  rbm_optim.name = 'sgd'
  rbm_optim.learning_rate = 0.05
  rbm_optim.momentum = 0.9
  rbm_optim.weight_decay = 2e-4
  return rbm_optim


def dbn_config() -> ml_collections.ConfigDict:
  """A deep belief net (Hinton, Osindero & Teh 2006) on binarised 28x28 MNIST: two RBMs of 500 hidden units
  (784-500-500) trained greedily by CD-1, 20,000 steps each, with the RBM family's optimizer (one config.optim.rbm
  section, each layer its own state of it); evaluated by samples, a linear probe of the top features and a
  classifier fine-tuned from the DBN's weights against the same classifier from a random initialisation."""
  config = base_config()
  config.model = 'dbn'
  config.dbn = ml_collections.ConfigDict()
  # The hidden layers' widths, bottom first; each is one RBM. The paper's 500-500-2000 (with the labels beside the
  # 2000 units) takes about three times as long on a 2-core CPU: 500-500 trains both layers in about 5 minutes.
  config.dbn.hidden = (500, 500)
  # Layer l trains steps [sum(layer_steps[:l]), sum(layer_steps[:l+1])); the top layer goes on to train.num_steps.
  config.dbn.layer_steps = (20_000, 20_000)
  config.dbn.gibbs_steps = 1  # CD-k's k, for every layer.
  config.dbn.init_std = 0.01  # W ~ N(0, 0.01^2), zero biases (Hinton's practical guide).
  config.dbn.sample_gibbs_steps = 1000  # Gibbs steps in the top RBM before the down-pass of the pictured samples.
  # The classifier fine-tuned from the DBN (sigmoid layers of its W and c, a new softmax layer) and its randomly
  # initialised twin: Adam steps on the training split (0: not measured), their batch and learning rate.
  config.dbn.finetune_steps = 5000
  config.dbn.finetune_batch_size = 100
  config.dbn.finetune_learning_rate = 1e-3
  config.data.name = 'mnist'
  config.data.resolution = 28
  config.data.binarize = 'sample'
  config.optim = ml_collections.ConfigDict({'rbm': _rbm_optimizer(config)})
  config.train.batch_size = 100
  config.train.num_steps = 40_000
  config.train.log_every_steps = 500
  config.train.eval_every_steps = 40_000
  config.train.checkpoint_every_steps = 5000
  config.eval.num_samples = 10_000
  return config


def vae_config() -> ml_collections.ConfigDict:
  """A variational autoencoder (Kingma & Welling 2014) on dynamically binarised 28x28 MNIST, in Burda et al.
  (2016)'s one-stochastic-layer setting: 50 Gaussian latents, two hidden layers of 200 tanh units in the encoder and
  in the Bernoulli decoder, Adam (1e-3, beta (0.9, 0.999), eps 1e-4) on both networks, batch 100; test
  log-likelihood by importance weighting with 5,000 samples."""
  config = base_config()
  config.model = 'vae'
  config.vae = ml_collections.ConfigDict()
  config.vae.latent_dim = 50
  config.vae.hidden = (200, 200)  # The encoder's widths; the decoder mirrors them.
  config.vae.iw_samples = 5000  # k of the importance-weighted test log-likelihood.
  config.vae.iw_chunk = 500  # Samples decoded at once: memory grows with it, not with iw_samples.
  config.data.name = 'mnist'
  config.data.resolution = 28
  config.data.binarize = 'sample'
  vae_optim = ml_collections.ConfigDict(config.optim.g.to_dict())
  vae_optim.learning_rate = 1e-3
  vae_optim.b1 = 0.9
  vae_optim.b2 = 0.999
  vae_optim.eps = 1e-4
  vae_optim.eps_root = 0.0  # Nothing differentiates through this Adam.
  # Burda et al. anneal the rate, 1e-3 * 10^(-i/7) for 3^i epochs (i = 0..7, 3,280 epochs in all); a fixed rate over
  # a budget a 2-core CPU affords stands in for it.
  config.optim = ml_collections.ConfigDict({'encoder': vae_optim,
                                            'decoder': vae_optim.copy_and_resolve_references()})
  config.train.batch_size = 100
  # 555 epochs of the 9,003 offline training digits, about 4 minutes on a busy 2-core CPU. The test bound levels off
  # by then (measured with k = 500: -97.0 nats at 20k steps, -95.6 at 50k, -95.5 at 60k).
  config.train.num_steps = 50_000
  config.train.log_every_steps = 500
  config.train.eval_every_steps = 50_000
  config.train.checkpoint_every_steps = 5000
  config.eval.num_samples = 10_000  # The whole test split (997 offline digits).
  return config


def autoencoder_config() -> ml_collections.ConfigDict:
  """A one-layer autoencoder on grey 28x28 MNIST in [0, 1]: 64 sigmoid code units, a linear decoder to pixel logits,
  the Bernoulli cross-entropy of the grey levels, Adam 1e-3 on both networks, batch 100; no sparsity penalty and no
  corruption (the `sparse` and `denoising` variants of experiments/autoencoder_mnist.py add them)."""
  config = base_config()
  config.model = 'autoencoder'
  config.autoencoder = ml_collections.ConfigDict()
  config.autoencoder.code_dim = 64
  config.autoencoder.architecture = 'mlp'  # Or 'conv': stride-2 convolutions, then a dense layer to the code.
  config.autoencoder.hidden = ()  # 'mlp': the encoder's hidden widths before the code; the decoder mirrors them.
  config.autoencoder.conv_channels = (32, 64)  # 'conv': each 4x4 stride-2 convolution's channels; mirrored too.
  config.autoencoder.sparsity_target = 0.05  # rho, in (0, 1); read only when sparsity_weight > 0.
  config.autoencoder.sparsity_weight = 0.0  # beta of beta * sum_j KL(rho || rho_hat_j); 0 turns it off.
  config.autoencoder.corruption = 'none'  # 'none', 'mask' (a fraction set to 0) or 'gaussian' (N(0, level^2) added).
  config.autoencoder.corruption_level = 0.0  # The masked fraction (< 1), or the Gaussian noise's std.
  config.autoencoder.reconstruction = 'cross_entropy'  # Or 'squared' (squared error of sigmoid(logits)).
  # Stacked autoencoders: the greedy pre-training steps of each layer of the encoder (the hidden layers, then the
  # code), one one-layer autoencoder of the previous layer's codes each, before the stack fine-tunes end to end until
  # train.num_steps; () trains the whole autoencoder from the start.
  config.autoencoder.pretrain_steps = ()
  config.data.name = 'mnist'
  config.data.resolution = 28
  config.data.binarize = 'none'  # Grey levels: the cross-entropy takes targets in [0, 1].
  ae_optim = ml_collections.ConfigDict(config.optim.g.to_dict())
  ae_optim.learning_rate = 1e-3
  ae_optim.b1 = 0.9
  ae_optim.b2 = 0.999
  ae_optim.eps = 1e-8
  ae_optim.eps_root = 0.0  # Nothing differentiates through this Adam.
  config.optim = ml_collections.ConfigDict({'encoder': ae_optim,
                                            'decoder': ae_optim.copy_and_resolve_references()})
  config.train.batch_size = 100
  # 333 epochs of the 9,003 offline training digits: about 1.5 minutes of training on a busy 2-core CPU, plus the
  # probes. The plain model's test cross-entropy was still falling at 10,000 steps (76.9 nats per image).
  config.train.num_steps = 30_000
  config.train.log_every_steps = 1000
  config.train.eval_every_steps = 30_000
  config.train.checkpoint_every_steps = 5000
  # The whole test split (997 offline digits); the linear probes fit on the first min(5,000, num_samples) training
  # images.
  config.eval.num_samples = 10_000
  return config


def family_defaults(model: str) -> ml_collections.ConfigDict:
  """The schema's defaults for a run of `config.model=model`: its family's config (which holds the family's own
  section), or `base_config()` for GANs and unknown names. A resume compares a field added to the schema since the
  run began (`autoencoder.pretrain_steps`, ...) with these."""
  families = {'rbm': rbm_config, 'dbn': dbn_config, 'vae': vae_config, 'autoencoder': autoencoder_config,
              'ppgn': ppgn_config, 'pix2pix': pix2pix_config, 'cyclegan': cyclegan_config,
              'lapgan': lapgan_config, 'srgan': srgan_config, 'progan': progan_config,
              'stackgan': stackgan_config}
  return families.get(model, base_config)()


def cyclegan_config() -> ml_collections.ConfigDict:
  """CycleGAN (Zhu et al. 2017) on emoji_styles, OpenMoji <-> Noto at 64x64, in the paper's setting: ResNet
  generators (6 residual blocks, the paper's choice for 128x128), 70x70 PatchGANs, instance norm without scale and
  bias (the authors' code), the least-squares GAN loss, cycle loss lambda = 10, identity loss 0.5 lambda, a
  50-image pool per discriminator, Adam 2e-4, beta (0.5, 0.999), batch 1, 200 epochs: the rate constant for 100,
  then decaying linearly to 0 over the last 100.
  A 2-core CPU cannot run this: experiments/cyclegan_emoji.py is the sized-down experiment."""
  config = base_config()
  config.model = 'cyclegan'
  config.cyclegan = ml_collections.ConfigDict()
  config.cyclegan.reverse = False  # Domain A is the dataset's first feature (emoji_styles: openmoji), B its second.
  config.cyclegan.n_blocks = 6  # Residual blocks of the generators, at a quarter of the resolution.
  config.cyclegan.gen_channels = 64  # The generators' first width (64, 128, 256).
  config.cyclegan.disc_channels = 64
  config.cyclegan.patch = 70  # The discriminators' patch: 1, 16, 70 or 286 (see pix2pix_config).
  # Both networks' (image_to_image.NORMS): the authors' InstanceNorm2d has no scale and bias (pix2pix's 'instance'
  # has them).
  config.cyclegan.norm = 'instance_no_affine'
  config.cyclegan.adversarial_weight = 1.0  # lambda_adv: 0 leaves G to the cycle and identity terms (an ablation).
  config.cyclegan.cycle_weight = 10.0  # lambda.
  config.cyclegan.identity_weight = 0.5  # lambda_identity: the identity term weighs lambda_identity * lambda.
  config.cyclegan.pool_size = 50  # Generated images each discriminator's pool keeps (0: no pool).
  config.cyclegan.unroll_steps = 0  # k > 0: G's adversarial term at both discriminators unrolled k updates ahead.
  config.loss.name = 'least_squares'  # The only one the family takes: the paper's.
  template = config.optim.g.to_dict()
  config.optim = ml_collections.ConfigDict()
  for name in ('g_ab', 'g_ba', 'd_a', 'd_b'):
    section = ml_collections.ConfigDict(template)
    # The paper's schedule, per update (its code steps it per epoch): constant, then linear to 0 at the last step.
    section.decay_start_step = 100 * 1217
    section.decay_steps = 100 * 1217
    config.optim[name] = section
  set_adam(config, 2e-4, b1=0.5, eps_root=0.0)  # eps_root 0: nothing differentiates through this Adam.
  config.data.name = 'emoji_styles'
  config.data.resolution = 64
  config.data.channels = 3
  config.data.pipeline = 'in_memory'
  config.train.batch_size = 1
  config.train.num_steps = 200 * 1217
  config.train.steps_per_call = 1  # As pix2pix: XLA's CPU backend runs convolutions in a loop far slower.
  config.train.log_every_steps = 1217
  config.train.eval_every_steps = 1217 * 10
  config.train.checkpoint_every_steps = 1217 * 10
  config.eval.grid_rows = 8
  config.eval.num_samples = 160  # The whole test split.
  return config


def decay_in_second_half(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Every network's rate constant for the first half of `train.num_steps`, then linear to 0 at the last step (the
  schedule of CycleGAN and pix2pix, for an experiment of any length)."""
  start = config.train.num_steps // 2
  for section in config.optim.values():
    section.decay_start_step = start
    section.decay_steps = config.train.num_steps - start
  return config


def image_to_image_smoke(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The loop and evaluation of the image-to-image experiments' `smoke` variants (pix2pix, CycleGAN): 20 steps,
  logged every 10, evaluated and saved at the end, on 8 test examples pictured in 4 rows."""
  config.train.num_steps = 20
  config.train.log_every_steps = 10
  config.train.eval_every_steps = 20
  config.train.checkpoint_every_steps = 20
  config.eval.num_samples = 8
  config.eval.grid_rows = 4
  return config


def cyclegan_smoke(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The CycleGAN experiments' `smoke` variant: one residual block, widths 4, the 16x16 PatchGAN, the shared
  image-to-image smoke loop."""
  config.cyclegan.n_blocks = 1
  config.cyclegan.gen_channels = 4
  config.cyclegan.disc_channels = 4
  config.cyclegan.patch = 16
  return image_to_image_smoke(config)


def cyclegan_cpu_config() -> ml_collections.ConfigDict:
  """`cyclegan_config` sized for a 2-core CPU, the CycleGAN experiments' common base: 32x32 (a step costs a quarter
  of a 64x64 one), 4 residual blocks at 8x8 (the paper: 6 at 32x32, for 128x128 images) and a quarter of the widths
  (16, 32, 64); 5,000 steps, logged every 250, evaluated every 2,500 and saved every 1,000."""
  config = cyclegan_config()
  config.data.resolution = 32
  config.cyclegan.n_blocks = 4
  config.cyclegan.gen_channels = 16
  config.cyclegan.disc_channels = 16
  config.train.num_steps = 5000
  config.train.log_every_steps = 250
  config.train.eval_every_steps = 2500
  config.train.checkpoint_every_steps = 1000
  return config


def ppgn_config() -> ml_collections.ConfigDict:
  """PPGN-h (Nguyen et al. 2017) on grey 28x28 MNIST: E, the encoder of h and the condition p(y|x), is the shipped
  mnist classifier (frozen; h its 128 ReLU features); G (DCGAN's generator, width 32) learns x from h, D (DCGAN's
  discriminator) judges G(E(x)) against x, and R (an MLP) denoises h; the sampler climbs log p(h) + log p(y = c | G(h))
  in h (gan_jax/models/ppgn.py). Each network has its Adam; batch 64."""
  config = dcgan_config()
  config.model = 'ppgn'
  config.data.name = 'mnist'
  config.data.resolution = 28  # The shipped classifiers' resolution: G's output is what E reads.
  config.gen.base_channels = config.disc.base_channels = 32
  config.ppgn = ml_collections.ConfigDict()
  # G's loss: image_weight * mean (G(E(x)) - x)^2 + feature_weight * mean (E(G(E(x))) - E(x))^2 + adversarial_weight *
  # the loss.name G loss. The paper's (Dosovitskiy & Brox's) 2e-6, 0.01 and 100 weigh sums over 227x227x3 pixels and
  # 4096 fc6 units; these weigh means over 784 pixels and 128 units.
  config.ppgn.image_weight = 1.0
  config.ppgn.feature_weight = 0.1
  config.ppgn.adversarial_weight = 0.01
  config.ppgn.dae_hidden = (256, 128, 64, 128, 256)  # R's hidden widths: the paper's 7-layer shape.
  config.ppgn.dae_noise_std = 1.0  # sigma of R's training noise N(0, sigma^2), in units of h.
  # The sampler (gan_jax/models/ppgn.py): the multipliers of the prior, the condition and the noise. The released
  # code's (1e-5, 1, 1e-17) rescale every step to a mean |step| of 1, so only their ratios carry over. eps3 here is
  # the noise of a Langevin step whose drift is the prior term: R(h) - h ~ sigma^2 d log p(h) / dh makes
  # eps1 (R(h) - h) a step of size 2 eps1 sigma^2, whose noise is sigma sqrt(2 eps1) = 0.45. With the paper's
  # near-zero noise the chains settle, and fewer samples are of their class by a pixel-space judge (swept with
  # benchmarks/ppgn_sampler.py).
  config.ppgn.eps1 = 0.1
  config.ppgn.eps2 = 1.0
  config.ppgn.eps3 = 0.45
  config.ppgn.h_max = 30.0  # The chain's codes stay in [0, h_max] (ReLU features; the released code's fc6 range).
  config.ppgn.chain_steps = 200
  config.ppgn.record_every = 10  # Frames of the chains kept for the mixing measure and the pictures.
  config.ppgn.chain_start = 'noise'  # h_0 ~ N(0, I) ('noise') or E(x) of random test images ('real').
  config.ppgn.samples_per_class = 20  # Chains per class in each evaluation.
  dae_optim = ml_collections.ConfigDict(config.optim.g.to_dict())
  dae_optim.learning_rate = 1e-3
  dae_optim.b1 = 0.9
  dae_optim.eps_root = 0.0  # Nothing differentiates through this Adam.
  config.optim.dae = dae_optim
  config.train.num_steps = 6000
  config.train.log_every_steps = 100
  config.train.eval_every_steps = 6000
  config.train.checkpoint_every_steps = 1000
  return config


def pix2pix_config() -> ml_collections.ConfigDict:
  """pix2pix (Isola et al. 2017) on satellite_maps, image -> map, in the paper's setting: a U-Net generator taking
  256x256 down to 1x1 (C64 ... C512, 8 stride-2 layers, dropout 0.5 as its noise), the 70x70 PatchGAN judging
  (input, output) pairs, instance normalisation (the paper's batch norm at batch 1), random jitter (286 -> 256 crops)
  and mirroring; D's loss halved, G's the non-saturating cGAN loss + 100 L1; Adam 2e-4, beta (0.5, 0.999), batch 1,
  200 epochs (the paper's maps: 1,096 pairs for 200 epochs at batch 1; here 296 training tiles). A 2-core CPU cannot
  run this: experiments/pix2pix_maps.py is the sized-down experiment."""
  config = base_config()
  config.model = 'pix2pix'
  config.pix2pix = ml_collections.ConfigDict()
  # Which feature of each pair is translated into which: '<source>_to_<target>' of the dataset's two features
  # (satellite_maps: 'image_to_map' or 'map_to_image').
  config.pix2pix.direction = 'image_to_map'
  config.pix2pix.depth = 8  # The U-Net's stride-2 layers: data.resolution must be divisible by 2^depth.
  config.pix2pix.gen_channels = 64  # Its first layer's width; the widths double up to 8x.
  config.pix2pix.dropout_rate = 0.5  # On its first 3 decoder layers, in training and evaluation: G's only noise.
  # The discriminator's patch (receptive field) in pixels: 1 (PixelGAN), 16, 70 (the paper's default) or 286.
  config.pix2pix.patch = 70
  config.pix2pix.disc_channels = 64
  # Whether D sees the input with the output (the cGAN) or the output alone (the paper's 'GAN' ablation).
  config.pix2pix.conditional = True
  config.pix2pix.norm = 'instance'  # 'instance', 'instance_no_affine', 'batch' or 'none', in both networks.
  # The paper's random jitter: each pair resized up by 286/256, cropped back at a random offset and mirrored at
  # random (one crop and flip for both images), on device in the step.
  config.pix2pix.jitter = True
  config.loss.name = 'non_saturating'
  # "We divide the objective by 2 while optimizing D, which slows down the rate at which D learns relative to G."
  config.loss.d.adversarial = 0.5
  config.loss.g.adversarial = 1.0
  config.loss.g.l1 = 100.0  # lambda.
  set_adam(config, 2e-4, b1=0.5, eps_root=0.0)  # eps_root 0: nothing differentiates through this Adam.
  config.data.name = 'satellite_maps'
  config.data.resolution = 256
  config.data.channels = 3
  config.data.pipeline = 'in_memory'
  config.train.batch_size = 1
  config.train.num_steps = 200 * 296
  # One step per call: XLA's CPU backend runs convolutions inside a loop about 20x slower (see dcgan_config).
  config.train.steps_per_call = 1
  config.train.log_every_steps = 296
  config.train.eval_every_steps = 296 * 10
  config.train.checkpoint_every_steps = 296 * 10
  config.eval.grid_rows = 8  # Test tiles pictured, one (input, output, target) row each.
  return config


def lapgan_config() -> ml_collections.ConfigDict:
  """LAPGAN (Denton et al. 2015) on Fashion-MNIST, 28 -> 14 -> 7: a Laplacian pyramid of GANs, each level's
  generator drawing the band-pass residual for the upsampled coarser image, the coarsest an unconditional GAN; the
  levels trained independently on the pyramids of the same real batches (gan_jax/families/lapgan.py). The paper's
  CIFAR-10 networks are 3 stride-1 convolutions of 128 channels per level G and 2 convolutions + a linear logit per
  level D; these are narrower, for a CPU. Non-saturating loss, Adam 2e-4 / 0.5, batch 64."""
  config = dcgan_config()
  config.model = 'lapgan'
  config.lapgan = ml_collections.ConfigDict()
  # The pyramid's image sides, finest first: the first is data.resolution, each the one before halved; the coarsest
  # at least 4 pixels (gan_jax.models.lapgan.MIN_SIZE).
  config.lapgan.sizes = (28, 14, 7)
  config.lapgan.upsample = 'bilinear'  # Or 'nearest'; the downsampling is 2x2 average pooling.
  config.lapgan.latent_dim = 100  # The coarsest G's z ~ U(-1, 1); finer levels draw one U(-1, 1) noise plane.
  # The coarsest G: conv.ConvGenerator's dense map, then each up-convolution. Its dense layer holds most of the
  # parameters at little compute, as DCGAN's does.
  config.lapgan.coarse_gen_widths = (128, 64)
  config.lapgan.coarse_disc_widths = (32, 64)  # The coarsest D: conv.ConvDiscriminator's stride-2 convolutions.
  # Each finer level's G: gen_layers convolutions of gen_width channels at the level's full size, where a CPU's
  # time goes (2 x 32 at 28x28 costs about as much as DCGAN's G at width 32).
  config.lapgan.gen_width = 32
  config.lapgan.gen_layers = 2
  config.lapgan.disc_widths = (32, 64)  # Each finer level's D: conv.ConvDiscriminator's widths.
  config.lapgan.kernel_size = 3
  config.lapgan.norm = 'batch'  # 'batch' or 'none', in every network (never on a D's first layer).
  config.lapgan.disc_input = 'sum'  # A level's D sees h + l ('sum', the paper's) or (h + l, l) ('concat').
  # Paired datasets (emoji_styles): the feature read as the image set ('' for single-image datasets).
  config.lapgan.feature = ''
  # The paper's person-free check: a sample counts as a real-class object when the classifier's largest class
  # probability exceeds this.
  config.lapgan.accept_threshold = 0.9
  config.data.name = 'fashion_mnist'
  config.data.resolution = 28
  # optim.g trains every level's G, optim.d every level's D; eps_root 0: nothing differentiates through this Adam.
  set_adam(config, eps_root=0.0)
  config.train.num_steps = 5000
  config.eval.num_samples = 2000
  return config


def lapgan_smoke(config: ml_collections.ConfigDict, batch_size: int, num_samples: int) -> ml_collections.ConfigDict:
  """The LAPGAN experiments' `smoke` variant: widths 4-8, one convolution per level, 8 latents, 4 steps logged every
  2, evaluated and saved at the end on `num_samples` samples pictured in 4 rows."""
  c = config.lapgan
  c.coarse_gen_widths, c.coarse_disc_widths, c.disc_widths = (8, 4), (4, 8), (4, 8)
  c.gen_width, c.gen_layers, c.latent_dim = 4, 1, 8
  config.train.batch_size = batch_size
  config.train.num_steps = config.train.eval_every_steps = config.train.checkpoint_every_steps = 4
  config.train.log_every_steps = 2
  config.eval.num_samples = num_samples
  config.eval.grid_rows = 4
  return config


def srgan_config() -> ml_collections.ConfigDict:
  """SRGAN (Ledig et al. 2017) x4 on photos' 96x96 crops (24x24 LR) in the paper's setting: SRResNet with 16
  residual blocks of 64 channels, the VGG-style discriminator (64 ... 512, dense 1024), G's objective the VGG54
  content loss + 10^-3 x the non-saturating adversarial loss, 2 x 10^5 steps initialised from a trained SRResNet
  (srgan.init_from: the workdir of a run of this config with adversarial_weight 0 and content 'mse', the paper's
  10^6 steps; the paper's rate drop to 1e-5 after the first 10^5 is not here: constant), Adam 1e-4, beta1 0.9,
  batch 16. 'vgg54' needs srgan.vgg_weights (gan_jax/models/vgg19.py says how to make the
  file). A 2-core CPU cannot run this: experiments/srgan_photos.py is the sized-down experiment."""
  config = base_config()
  config.model = 'srgan'
  config.srgan = ml_collections.ConfigDict()
  config.srgan.scale = 4  # A power of 2: each sub-pixel block doubles the image.
  config.srgan.num_blocks = 16  # G's residual blocks (B).
  config.srgan.channels = 64  # G's width.
  config.srgan.disc_channels = 64  # D's first width; pairs of layers double it (64, 64, 128, 128, ..., 512).
  config.srgan.disc_dense = 1024
  # G's content loss: 'mse' (pixels), 'vgg54' or 'vgg22' (VGG19 relu5_4 / relu2_2 features).
  config.srgan.content = 'vgg54'
  config.srgan.vgg_weights = ''  # The VGG19 .npz (python -m gan_jax.models.vgg19 --from_torch ... --out ...).
  config.srgan.vgg_scale = 1 / 12.75  # The paper rescales the VGG features by 1/12.75.
  config.srgan.adversarial_weight = 1e-3  # 0: SRResNet alone (no discriminator).
  # The workdir of an srgan run (SRResNet: adversarial_weight 0) whose G this run starts from; '' starts afresh.
  config.srgan.init_from = ''
  config.srgan.flip = True  # Random left-right flips of the HR crops.
  config.loss.name = 'non_saturating'
  set_adam(config, 1e-4, b1=0.9, eps_root=0.0)  # eps_root 0: nothing differentiates through this Adam.
  config.data.name = 'photos'
  config.data.resolution = 96
  config.data.channels = 3
  config.data.pipeline = 'in_memory'
  config.train.batch_size = 16
  config.train.num_steps = 200_000
  config.train.steps_per_call = 1  # As pix2pix: XLA's CPU backend runs convolutions in a loop far slower.
  config.train.log_every_steps = 1000
  config.train.eval_every_steps = 50_000
  config.train.checkpoint_every_steps = 10_000
  config.eval.num_samples = 167  # photos' whole test split.
  config.eval.grid_rows = 6
  return config


def progan_config() -> ml_collections.ConfigDict:
  """Progressive GAN (Karras et al. 2018) on Fashion-MNIST at 32x32, in the paper's setting: G and D grow
  4 -> 8 -> 16 -> 32, each new block faded in over 800k real images and then stabilised for 800k more; 512 feature
  maps per block, the latent of 512 normalised, equalised learning rate, pixel-wise feature normalisation in G, the
  minibatch standard deviation (groups of 4) in D's last block; WGAN-GP (lambda 10) plus the drift term
  (epsilon_drift 1e-3) with one D step per G step; Adam 1e-3, beta (0, 0.99), eps 1e-8, both optimizers reset at each
  phase change (the released code's reset_opt_for_new_lod); batch 16; G's weights averaged with decay 0.999 for
  sampling. A 2-core CPU cannot run this: experiments/progan_fashion_mnist.py is the sized-down experiment."""
  config = base_config()
  config.model = 'progan'
  config.progan = ml_collections.ConfigDict()
  # The resolutions G and D grow through: from 4, doubling each time, to data.resolution.
  config.progan.resolutions = (4, 8, 16, 32)
  # False: the networks of the last resolution (every block) train from step 0, without growing or fading: the
  # non-progressive baseline of the same architecture.
  config.progan.grow = True
  # Real images shown to D during each fade-in and each stabilisation (train.batch_size per step): one phase lasts
  # images_per_phase / batch_size steps; the last stabilisation goes on to train.num_steps.
  config.progan.images_per_phase = 800_000
  config.progan.widths = (512, 512, 512, 512)  # Feature maps of each resolution's block, G's and D's.
  config.progan.latent_dim = 512
  config.progan.mbstd_group_size = 4  # 0: no minibatch standard deviation.
  # At each phase change, both optimizers start afresh (the released code), or (False) the carried parameters keep
  # their optimizer state and its step count, the new ones start at zero moments.
  config.progan.reset_optimizer = True
  # Paired datasets (emoji_styles): the feature read as the image set ('' for single-image datasets).
  config.progan.feature = ''
  config.gen.ema_decay = 0.999
  config.loss.name = 'wasserstein'
  config.loss.d.gradient_penalty = 10.0
  config.loss.d.drift = 1e-3
  config.unroll.steps = 0
  set_adam(config, 1e-3, b1=0.0, b2=0.99, eps=1e-8, eps_root=0.0)  # eps_root 0: nothing differentiates through it.
  config.data.name = 'fashion_mnist'
  config.data.resolution = 32
  config.data.resize = 'resize'  # 28 -> 32 bilinearly, as the shipped classifier's images were made.
  config.train.batch_size = 16
  config.train.num_steps = 7 * 800_000 // 16
  # One step per call: XLA's CPU backend runs convolutions inside a loop about 20x slower (see dcgan_config).
  config.train.steps_per_call = 1
  config.train.log_every_steps = 1000
  config.train.eval_every_steps = 800_000 // 16  # The end of every phase.
  config.train.checkpoint_every_steps = 10_000
  config.eval.num_samples = 2000
  return config


def stackgan_config() -> ml_collections.ConfigDict:
  """StackGAN (Zhang et al. 2017) in the paper's setting on captioned_mnist: stage I draws 64x64 from the caption's
  conditioning augmentation (N_g = 128, KL weight lambda = 1) and z (N_z = 100) through upsampling blocks from 4x4
  (1024 ... 64 channels); stage II takes stage I's image down to 16x16 (128, 256, 512), joins its own conditioning
  augmentation, 4 residual blocks, and draws 256x256; the discriminators compress the text to N_d = 128 and join it
  at 4x4; matching-aware D; Adam 2e-4, beta1 0.5, batch 64; stage I trained first, then stage II with stage I fixed
  (the paper: 600 epochs each, the rate halved every 100, which is not here: constant). The paper conditions on
  Reed et al.'s 1024-dimensional char-CNN-RNN embedding; here a small word-level encoder trained on the captions
  (stackgan.text_encoder). A 2-core CPU cannot run this, and the captioned sets are 64x64:
  experiments/stackgan_mnist.py is the sized-down experiment (32 -> 64)."""
  config = base_config()
  config.model = 'stackgan'
  config.stackgan = ml_collections.ConfigDict()
  # The trained caption encoder's .npz (gan_jax.models.text_encoder.save), frozen; and the fingerprint of its
  # vocabulary, which must be the captions': a run is bound to it (a resume under another is refused).
  config.stackgan.text_encoder = ''
  config.stackgan.vocabulary = ''
  # The encoder's features standardised over every caption of the grammar (mean 0, std 1 each; folded into its last
  # layer, `text_encoder.standardized`): the shipped encoders' features have std ~0.06, and with them as they are the
  # conditioning augmentation's unit noise buried the caption (measured: README's StackGAN section).
  config.stackgan.standardize_text = True
  config.stackgan.caption_length = 16  # Token ids per caption in the dataset (gan_jax.data.captions.MAX_TOKENS).
  # The matching-aware D's mismatched captions: 'rolled' (the paper's: the batch's other captions) or 'one_attribute'
  # (each image's own caption with one attribute changed; the grammar's captioned sets only).
  config.stackgan.mismatch = 'rolled'
  # 2: stage I for stage1_steps, then stage II (stage I fixed) to train.num_steps; 1: stage I alone.
  config.stackgan.stages = 2
  config.stackgan.stage1_steps = 600 * 10_000 // 64
  config.stackgan.sizes = (64, 256)  # Stage I's side, stage II's (its double, data.resolution).
  # False: the ablation, c = the embedding's projection (no noise, no KL: loss.g.kl must be 0).
  config.stackgan.conditioning_augmentation = True
  config.stackgan.condition_dim = 128  # N_g.
  config.stackgan.latent_dim = 100  # N_z, stage I's z ~ N(0, I).
  config.stackgan.text_dim = 128  # N_d, the text's size in each D.
  config.stackgan.gen_widths = (1024, 512, 256, 128, 64)  # Stage I's 4x4 map, then each upsampling block.
  config.stackgan.disc_widths = (64, 128, 256, 512)  # Stage I's D: one down-sampling block per halving to 4x4.
  # Stage II's G: the encoder's first convolution, then each down-sampling block (the last is the joint map's
  # width); residual blocks; upsampling blocks to stage II's side.
  config.stackgan.stage2_down_widths = (128, 256, 512)
  config.stackgan.residual_blocks = 4
  config.stackgan.stage2_up_widths = (256, 128, 64, 32)
  config.stackgan.stage2_disc_widths = (64, 128, 256, 512, 1024, 2048)
  config.loss.name = 'non_saturating'
  config.loss.d.adversarial = 0.0
  config.loss.d.matching_aware = 1.0
  config.loss.g.kl = 1.0  # lambda.
  config.unroll.steps = 0
  # optim.g trains each stage's G (with its conditioning augmentation), optim.d each D; eps_root 0: nothing
  # differentiates through this Adam.
  set_adam(config, 2e-4, b1=0.5, eps_root=0.0)
  config.data.name = 'captioned_mnist'
  config.data.resolution = 256
  config.data.channels = 3
  config.data.pipeline = 'in_memory'
  config.train.batch_size = 64
  config.train.num_steps = 2 * config.stackgan.stage1_steps
  config.train.steps_per_call = 1  # As pix2pix: XLA's CPU backend runs convolutions in a loop far slower.
  config.train.log_every_steps = 500
  config.train.eval_every_steps = 10_000
  config.train.checkpoint_every_steps = 5000
  config.eval.num_samples = 1000
  return config


def progan_cpu_config(data_name: str, resolutions: tuple[int, ...], widths: tuple[int, ...]) -> ml_collections.ConfigDict:
  """`progan_config` sized for a 2-core CPU, the Progressive GAN experiments' common base: `data_name` grown through
  `resolutions` (the last is data.resolution) with `widths` instead of 512 each, a 64-dimensional latent, 32,000
  images per phase instead of 800,000 at batch 32 (phases of 1,000 steps), so 2 len(resolutions) - 1 phases; logged
  every 250 steps, evaluated and saved at every phase's end."""
  config = progan_config()
  config.data.name = data_name
  config.data.resolution = resolutions[-1]
  config.progan.resolutions = resolutions
  config.progan.widths = widths
  config.progan.latent_dim = 64
  config.train.batch_size = 32
  config.progan.images_per_phase = 32_000
  config.train.num_steps = (2 * len(resolutions) - 1) * 1000
  config.gen.ema_decay = 0.99  # A horizon of 100 steps: phases here are 1,000 steps, not the paper's 50,000.
  config.train.log_every_steps = 250
  config.train.eval_every_steps = 1000  # The end of every phase.
  config.train.checkpoint_every_steps = 1000
  return config


def progan_short(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The Progressive GAN experiments' `short` variant, the schedule whose 3-seed comparison fits a 2-core CPU's
  session: a quarter of the images per phase (8,000: 250 steps at batch 32), each phase still evaluated and saved at
  its end; composes with `fixed` (`:fixed+short`)."""
  steps = 250
  config.progan.images_per_phase = steps * config.train.batch_size
  config.train.num_steps = (2 * len(config.progan.resolutions) - 1) * steps
  config.train.log_every_steps = 50
  config.train.eval_every_steps = config.train.checkpoint_every_steps = steps
  return config


def progan_fixed(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The Progressive GAN experiments' `fixed` variant, the non-progressive baseline: the final G and D trained at
  data.resolution from step 0 (no growing, no fade-in), for as many images as the progressive run."""
  config.progan.grow = False
  return config


def stackgan_cpu_config() -> ml_collections.ConfigDict:
  """`stackgan_config` sized for a 2-core CPU, the StackGAN experiments' common base: stage I 32x32, stage II 64x64
  (the paper: 64 and 256); N_g 16, N_z 32, N_d 32 (the paper: 128, 100, 128); widths 1/16 to 1/8 of the paper's,
  stage II's encoder halving 32 to 16 (the paper: 64 to 16) and two upsampling blocks to 64, with 2 residual blocks
  (the paper: 4)."""
  config = stackgan_config()
  config.data.resolution = 64
  c = config.stackgan
  c.sizes = (32, 64)
  c.condition_dim, c.latent_dim, c.text_dim = 16, 32, 32
  c.gen_widths, c.disc_widths = (128, 64, 32, 16), (16, 32, 64)
  c.stage2_down_widths, c.residual_blocks, c.stage2_up_widths = (16, 32), 2, (32, 16)
  c.stage2_disc_widths = (16, 32, 64, 64)
  return config


def stackgan_stage1_only(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The StackGAN experiments' `stage1_only` variant: stage I alone, for its `stage1_steps`."""
  config.stackgan.stages = 1
  config.train.num_steps = config.stackgan.stage1_steps
  return config


def stackgan_smoke(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The StackGAN experiments' `smoke` variant: 16 -> 32 (the 64x64 images read at 32), widths 4-8, batch 8, 6 steps
  of stage I and 6 of stage II, each evaluated and saved on 16 samples."""
  config = smoke(config)
  config.data.resolution = 32
  c = config.stackgan
  c.sizes = (16, 32)
  c.gen_widths, c.disc_widths = (8, 8, 4), (4, 8)
  c.stage2_down_widths, c.residual_blocks, c.stage2_up_widths, c.stage2_disc_widths = (4, 8), 1, (8, 4), (4, 8, 8)
  c.condition_dim = c.latent_dim = c.text_dim = 4
  config.train.batch_size = 8
  c.stage1_steps = 6
  config.train.num_steps = 12
  config.train.steps_per_call = 1
  config.train.log_every_steps = config.train.eval_every_steps = config.train.checkpoint_every_steps = 6
  config.eval.num_samples = 16
  config.eval.grid_rows = 2
  return config


def pacgan_config() -> ml_collections.ConfigDict:
  """PacGAN's 2-D grid protocol (Lin et al. 2018; its repository's synthetic_data_experiments configs).

  The 5x5 grid {-4, -2, 0, 2, 4}^2, std 0.05, a fixed training set of 100,000 points; G: z in R^2 ~ N(0, I) ->
  4 x (FC 400, BN, ReLU) -> 2; D: 3 x linear maxout (200 units, 5 pieces) -> 1; N(0, 0.02) kernels, zero biases;
  Adam(1e-4, b1 0.8) for both, simultaneous updates (ALI's algorithm, which PacGAN's code uses), the non-saturating
  G loss, batch 100, 400 epochs (400,000 steps); evaluated on 2,500 samples, a mode covered from one sample on.
  """
  config = base_config()
  config.data.name = 'grid'
  config.data.grid_size = 5
  config.data.spacing = 2.0
  config.data.std = 0.05
  config.data.num_train_points = 100_000
  config.gen.latent_dim = 2
  config.gen.hidden = (400,) * 4
  config.gen.mlp_norm = 'batch'
  config.disc.hidden = (200,) * 3
  config.disc.maxout_pieces = 5
  config.disc.input_scale = 1.0
  for player in ('gen', 'disc'):
    config[player].init = 'normal'
    config[player].init_std = 0.02
  config.loss.name = 'non_saturating'
  config.unroll.steps = 0
  set_adam(config, 1e-4, b1=0.8)
  config.train.batch_size = 100
  config.train.num_steps = 400_000
  config.train.log_every_steps = 1000
  config.train.eval_every_steps = 20_000
  config.train.checkpoint_every_steps = 20_000
  config.eval.num_samples = 2500
  config.eval.min_samples_per_mode = 1
  return config


def pack(m: int) -> 'Variant':
  """The variant that packs m samples per D input at PacGAN's batch of 100 packed inputs (100 m samples)."""
  def variant(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    config.disc.pack = m
    config.train.batch_size *= m
    return config
  return variant


def require(ok: bool, field: str, message: str) -> None:
  """Raises `ConfigError('config.<field>: <message>')` unless `ok`.

  Args:
    ok: whether the value is acceptable.
    field: the field's dotted path below `config`, e.g. 'train.batch_size'.
    message: what was given and what is accepted.
  """
  if not ok:
    raise ConfigError(f'config.{field}: {message}')


def choice(value: Any, field: str, accepted: Iterable[Any]) -> None:
  """Requires `value` (of `config.<field>`) to be one of `accepted`, listed in the error in their given order."""
  accepted = tuple(accepted)
  require(value in accepted, field, f'got {value!r}; accepted values: {", ".join(map(str, accepted))}')


def int_at_least(value: Any, field: str, minimum: int = 1) -> None:
  """Requires `value` (of `config.<field>`) to be an integer (not a bool) >= `minimum`."""
  require(isinstance(value, int) and not isinstance(value, bool) and value >= minimum, field,
          f'got {value!r}; must be an integer >= {minimum}')


def smoke(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The `:smoke` variant of an experiment: the same system, small and short enough for CI."""
  config.train.batch_size = 64
  config.train.num_steps = 40
  config.train.steps_per_call = 10
  config.train.log_every_steps = 10
  config.train.eval_every_steps = 20
  config.train.checkpoint_every_steps = 20
  config.eval.num_samples = 500
  config.eval.min_samples_per_mode = 4
  return config


Variant = Callable[[ml_collections.ConfigDict], ml_collections.ConfigDict]


def least_squares(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """LSGAN (Mao et al. 2017, a=0, b=c=1)."""
  config.loss.name = 'least_squares'
  return config


def hinge(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The hinge loss (Lim & Ye 2017; Miyato et al. 2018)."""
  config.loss.name = 'hinge'
  return config


def wgan_gp(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """WGAN-GP (Gulrajani et al. 2017): lambda 10, n_critic 5, Adam 1e-4 with betas (0.5, 0.9), no batch norm in
  the critic (the penalty needs per-example critic values)."""
  config.loss.name = 'wasserstein'
  config.loss.d.gradient_penalty = 10.0
  config.disc.norm = 'layer'
  config.train.n_critic = 5
  set_adam(config, 1e-4, b1=0.5, b2=0.9)
  return config


# The loss family as variants of an image experiment (`--config experiments/dcgan_mnist.py:hinge`); the DCGAN
# itself (non-saturating loss) is the experiment without a variant.
LOSS_VARIANTS: dict[str, Variant] = {'least_squares': least_squares, 'hinge': hinge, 'wgan_gp': wgan_gp}


def with_smoke_variants(variants: dict[str, Variant]) -> dict[str, Variant]:
  """`variants`, `smoke`, and `<name>_smoke` for each: every variant gets its CI size."""
  smoked = {f'{name}_smoke': (lambda c, v=variant: smoke(v(c))) for name, variant in variants.items()}
  return {**variants, 'smoke': smoke, **smoked}


def select_variant(config: ml_collections.ConfigDict, variant: str | None,
                   variants: dict[str, Variant]) -> ml_collections.ConfigDict:
  """The variant `variant` (the `:name` of `--config file.py:name`) of an experiment's full `config`.

  Every experiment's `get_config` ends with this, so that a mistyped variant (`:smokee`) stops the program instead of
  silently starting the full run. Variants compose with '+', applied left to right: `:fashion_mnist+no_ca` is
  `no_ca(fashion_mnist(config))`.

  Args:
    config: the full experiment.
    variant: the name after the colon; None or '' for the full experiment.
    variants: the experiment's variants by name, each a function of the full config, e.g. `{'smoke': smoke}`.

  Returns:
    `config` itself, or each named variant applied to it in turn.

  Raises:
    ConfigError: for a name not in `variants` (checked before any is applied), listing those that are.
  """
  if not variant:
    return config
  names = variant.split('+')
  for name in names:
    if name not in variants:
      raise ConfigError(f'unknown variant {name!r}; this experiment has: {", ".join(variants)} '
                        "(or none, for the full run; several joined by '+' apply left to right)")
  for name in names:
    config = variants[name](config)
  return config
