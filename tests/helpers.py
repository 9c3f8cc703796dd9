"""Shared test helpers: tiny models and batches, and a tree comparison (imported by the test modules)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from revsnn_jax import nn


def tiny_model(name: str = "vgg_tiny", neuron=None, *, in_channels: int = 3, num_classes: int = 10, seed: int = 0,
               dtype=jnp.float32):
    """``(graphdef, params, batch_stats)`` of a registered model (default: the paper's neuron), its floating
    leaves cast to ``dtype``."""
    kwargs = {} if neuron is None else {"neuron": neuron}
    graphdef, params, stats = nn.split(nn.create_model(name, num_classes=num_classes, in_channels=in_channels,
                                                       seed=seed, **kwargs))
    cast = lambda tree: jax.tree.map(lambda a: a.astype(dtype), tree)   # noqa: E731
    return graphdef, cast(params), cast(stats)


def images(batch: int, size: int = 8, channels: int = 3, *, seed: int = 1, scale: float = 1.0, timesteps=None,
           dtype=jnp.float32):
    """N(0, scale^2) inputs ``[B, H, W, C]``, or frames ``[T, B, H, W, C]`` with ``timesteps``."""
    shape = (batch, size, size, channels) if timesteps is None else (timesteps, batch, size, size, channels)
    return scale * jax.random.normal(jax.random.key(seed), shape, dtype)


def assert_trees_close(actual, desired, *, rtol: float, atol: float = 0.0) -> None:
    """Every leaf of ``actual`` close to ``desired``'s (same structure), naming the leaf that is not."""
    flat_a, tree_a = jax.tree_util.tree_flatten_with_path(actual)
    flat_d, tree_d = jax.tree_util.tree_flatten_with_path(desired)
    assert tree_a == tree_d, (tree_a, tree_d)
    for (path, a), (_, d) in zip(flat_a, flat_d):
        np.testing.assert_allclose(np.asarray(a), np.asarray(d), rtol=rtol, atol=atol,
                                   err_msg=jax.tree_util.keystr(path))
