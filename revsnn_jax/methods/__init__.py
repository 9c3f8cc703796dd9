"""Training methods: how a whole network's gradient is computed (:class:`Method`, one value next to the strategy),
and the methods that change which gradient is used or which weights exist.

==============  ================================================================================================
module          what
==============  ================================================================================================
``method``      the :class:`Method` value (``exact``, ``ottt``, ``sltt``, ``dsr``) and its settings
``exact``       BPTT's gradient by a strategy (:mod:`revsnn_jax.strategies`): the loss and its gradient
``online``      OTTT and SLTT: traces, the traced matmul, per-step losses, the online step and its context
``dsr``         DSR: the folded forward and its step context (the neurons' rate mappings are in
                ``revsnn_jax.neurons.dsr``)
``dspike``      the Dspike surrogate's temperature search (any method)
``sparse``      dynamic sparse training as an optax wrapper (any method)
``resolve``     the one resolver of (neuron, strategy, method): every combination rule
==============  ================================================================================================

Adding a gradient method is one module with ``loss_and_grads(method, graphdef, params, batch_stats, inputs,
labels, *, timesteps, strategy, encoding)`` and one entry in :data:`GRADIENTS` (plus its name in
``METHODS``).
"""

from __future__ import annotations

from revsnn_jax.methods import dsr, exact, online
from revsnn_jax.methods.method import METHODS, Method, as_method
from revsnn_jax.methods.resolve import Resolved, resolve
from revsnn_jax.strategies import Strategy

GRADIENTS = {"exact": exact.loss_and_grads, "ottt": online.loss_and_grads, "sltt": online.loss_and_grads,
             "dsr": dsr.loss_and_grads}
"""Method name -> ``loss_and_grads``: the registry of gradient methods."""


def loss_and_grads(method: Method | str, graphdef, params, batch_stats, inputs, labels, *, timesteps: int,
                   strategy: Strategy | str = "inverse_grad", encoding: str = "direct"):
    """``((loss, (logits averaged over T, per-step BN statistics)), parameter gradients)`` under ``method``
    (OTTT_A for the online methods; OTTT_O needs the optimizer: :func:`revsnn_jax.train.make_train_step`)."""
    method = as_method(method)
    return GRADIENTS[method.name](method, graphdef, params, batch_stats, inputs, labels, timesteps=timesteps,
                                  strategy=strategy, encoding=encoding)


def online_run(method: Method, graphdef, params, batch_stats, inputs, labels, **kwargs):
    """The older name of :func:`revsnn_jax.methods.online.run`."""
    return online.run(method, graphdef, params, batch_stats, inputs, labels, **kwargs)


__all__ = ["GRADIENTS", "METHODS", "Method", "Resolved", "as_method", "loss_and_grads", "online_run", "resolve"]
