"""DSR (Meng et al., CVPR 2022) on flax models: the network runs once on all ``T`` steps folded into the batch, each
neuron layer over time with the gradient of its spike-rate mapping (``sequence``).

A model written batch-agnostically (its ``step`` treats the leading axis as the batch) works unchanged:
:class:`RatesContext` hands the step ``[T * B, ...]``, unfolds every neuron's input to ``[T, B, ...]`` and folds
its output back. BatchNorm normalises over all ``T * B`` rows, as DSR's code does. The neurons need a rate mapping
(``has_rate_mapping``: DSR's IF/LIF, and the paper's reversible neuron as RevDSR).
"""

from __future__ import annotations

import jax
import optax
from flax import nnx

from revsnn_jax.methods.method import Method
from revsnn_jax.neurons import dsr
from revsnn_jax.nn import network
from revsnn_jax.nn.context import StepContext
from revsnn_jax.remat import remat


class RatesContext(StepContext):
    """A step context for DSR's folded step: every neuron runs over the ``T`` steps folded into the batch axis with
    the rate-mapping backward; no potentials are carried. ``remat``: recompute each BatchNorm + neuron from its
    input in the backward instead of storing the normalised input."""

    def __init__(self, model: nnx.Module, train: bool, *, timesteps: int, remat: bool = False):
        super().__init__(model, None, train, remat=remat)
        self.timesteps = timesteps

    def _fire(self, layer, make_input, inputs, like):
        self.path(layer)   # a submodule of the stepped model
        neuron, steps = layer.params, self.timesteps

        def fire(theta, *inputs):
            x, stats = make_input(*inputs)
            return dsr.sequence(neuron, theta, x.reshape((steps, -1) + x.shape[1:])).reshape(x.shape), stats

        y, stats = (remat(fire) if self.remat else fire)(layer.theta_value(), *inputs)
        return y if stats is None else (y, stats)


def rates_forward(graphdef, params, batch_stats, inputs, *, timesteps: int, train: bool = True,
                  encoding: str = "direct", remat: bool = False):
    """DSR's forward: the network once on all ``T`` steps folded into the batch (``[T * B, ...]``). Returns
    ``(logits averaged over T, {BatchNorm path: (mean, var)}`` with a leading axis of 1)."""
    model = nnx.merge(graphdef, params, batch_stats)
    network.check_inputs(model, inputs, timesteps, encoding)
    x = inputs if encoding == "frames" else network.repeat_frames(inputs, timesteps)
    ctx = RatesContext(model, train, timesteps=timesteps, remat=remat)
    out = model.step(x.reshape((-1,) + x.shape[2:]), ctx)
    logits = out.reshape((timesteps, -1) + out.shape[1:]).mean(0)
    return logits, jax.tree.map(lambda a: a[None], ctx.stats)


def loss_and_grads(method: Method, graphdef, params, batch_stats, inputs, labels, *, timesteps: int,
                   encoding: str = "direct", **unused):
    """``((mean cross-entropy, (logits averaged over T, BN statistics)), gradients)`` through the rate mappings."""

    def loss(params):
        logits, stats = rates_forward(graphdef, params, batch_stats, inputs, timesteps=timesteps, encoding=encoding,
                                      remat=method.low_memory)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), (logits, stats)

    return jax.value_and_grad(loss, has_aux=True)(params)
