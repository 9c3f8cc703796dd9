"""The ``exact`` method: BPTT's gradient of the mean cross-entropy of the logits averaged over ``T``, computed by
the chosen strategy (:mod:`revsnn_jax.strategies`; every exact strategy gives the same gradient)."""

from __future__ import annotations

import jax
import optax

from revsnn_jax.methods.method import Method
from revsnn_jax.nn import network
from revsnn_jax.strategies import Strategy, as_strategy


def make_loss(graphdef, *, timesteps: int, strategy: Strategy | str, encoding: str = "direct", train: bool = True):
    """``loss(params, batch_stats, inputs, labels) -> (mean cross-entropy, (logits, per-step BN statistics))``;
    static images are repeated as frames where ``encoding="frames"``."""
    strategy = as_strategy(strategy)

    def loss(params, batch_stats, inputs, labels):
        logits, stats = network.forward(graphdef, params, batch_stats,
                                        network.network_inputs(inputs, encoding, timesteps), timesteps=timesteps,
                                        strategy=strategy, train=train, encoding=encoding)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), (logits, stats)

    return loss


def loss_and_grads(method: Method, graphdef, params, batch_stats, inputs, labels, *, timesteps: int,
                   strategy: Strategy | str = "inverse_grad", encoding: str = "direct"):
    """``((loss, (logits, per-step BN statistics)), parameter gradients)`` of the mean cross-entropy."""
    loss = make_loss(graphdef, timesteps=timesteps, strategy=strategy, encoding=encoding)
    return jax.value_and_grad(lambda p: loss(p, batch_stats, inputs, labels), has_aux=True)(params)
