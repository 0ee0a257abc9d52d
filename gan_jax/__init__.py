"""gan_jax: generative adversarial networks as pure JAX functions."""
