"""Models for the NIR checks (tests/test_nir.py and experiments/nir_roundtrip.py)."""

import jax.numpy as jnp
import numpy as np
from flax import nnx

from revsnn_jax.nn.layers import BatchNorm


def randomize_batch_norm(model, seed: int, bias_mean: float = 0.6) -> None:
    """Running statistics and affine parameters far from their initial values (so that folding them is really
    tested), with a mean shift of ``bias_mean`` that drives the neurons to spike."""
    rng = np.random.default_rng(seed)
    for _, node in nnx.iter_graph(model):
        if isinstance(node, BatchNorm):
            n = node.mean[...].shape[0]
            node.mean[...] = jnp.asarray(rng.normal(0, 0.3, n), jnp.float32)
            node.var[...] = jnp.asarray(rng.uniform(0.3, 2.0, n), jnp.float32)
            node.scale[...] = jnp.asarray(rng.uniform(0.5, 1.5, n), jnp.float32)
            node.bias[...] = jnp.asarray(rng.normal(bias_mean, 0.3, n), jnp.float32)
