"""Training methods: how a whole network's gradient is computed, one value next to the strategy.

==========  ===========================================================================================================
method      gradient
==========  ===========================================================================================================
``exact``   BPTT's gradient, computed by the chosen strategy (:mod:`revsnn_jax.strategies`): ``bptt``, the paper's
            ``inverse_grad``/``reversible`` with its low-memory loops, ``reverse``
``ottt``    online training through time (Xiao et al., NeurIPS 2022): a loss at every step, no gradient across
            steps, weight gradients at presynaptic traces (:mod:`revsnn_jax.online`); memory constant in ``T``
``sltt``    the same without traces (Meng et al., ICCV 2023): each step's instantaneous input
``dsr``     differentiation on spike representation (Meng et al., CVPR 2022): the network runs once over all ``T``
            steps folded into the batch, each neuron with the gradient of its rate mapping
            (:mod:`revsnn_jax.neurons.dsr`)
==========  ===========================================================================================================

The online methods use the loss ``((1 - mix) CE + mix MSE(onehot)) / T`` at every step; ``exact`` and ``dsr``
the cross-entropy of the logits averaged over ``T``. ``online_update`` (OTTT_O) takes an optimizer step after
every timestep instead of one per batch (OTTT_A); :func:`revsnn_jax.train.make_train_step` does that.
"""

from __future__ import annotations

import dataclasses

import jax
import optax
from flax import nnx

from revsnn_jax import online
from revsnn_jax.errors import InputError
from revsnn_jax.nn import network
from revsnn_jax.strategies import Strategy, as_strategy

METHODS = ("exact", "ottt", "sltt", "dsr")


@dataclasses.dataclass(frozen=True)
class Method:
    """A training method and its settings.

    Attributes:
      name: one of :data:`METHODS`.
      trace_decay: ``ottt``: the traces' decay ``lambda`` (OTTT: the neurons' leak, :func:`revsnn_jax.online.leak`;
        the caller resolves it). Ignored otherwise.
      trace_input: ``ottt``: also trace the input of the first layer (the paper's general form, exact for one
        hidden layer); the reference code feeds it the raw input.
      loss_mix: ``ottt``/``sltt``: the MSE share of the per-step loss (OTTT: 0.001 on DVS-Gesture, 0.05 on CIFAR).
      online_update: ``ottt``/``sltt``: an optimizer step after every timestep (OTTT_O).
      low_memory: ``dsr``: recompute each BatchNorm + neuron in the backward instead of storing its input.
    """

    name: str = "exact"
    trace_decay: float | None = None
    trace_input: bool = False
    loss_mix: float = 0.0
    online_update: bool = False
    low_memory: bool = False

    def __post_init__(self):
        if self.name not in METHODS:
            raise InputError(f"unknown method {self.name!r}; valid methods: {', '.join(METHODS)}")
        online_method = self.name in ("ottt", "sltt")
        if not online_method and (self.trace_input or self.loss_mix or self.online_update):
            raise InputError(f"trace_input, loss_mix and online_update belong to ottt and sltt, not {self.name}")
        if self.name == "sltt" and self.trace_input:
            raise InputError("sltt has no traces: trace_input belongs to ottt")
        if self.name != "ottt" and self.trace_decay is not None:
            raise InputError(f"trace_decay belongs to ottt, not {self.name}")
        if self.name == "ottt" and self.trace_decay is not None and not 0 <= self.trace_decay <= 1:
            raise InputError(f"trace_decay must be in [0, 1], got {self.trace_decay}")
        if not 0 <= self.loss_mix <= 1:
            raise InputError(f"loss_mix must be in [0, 1], got {self.loss_mix}")
        if self.low_memory and self.name != "dsr":
            raise InputError("Method.low_memory is dsr's; the exact method takes it from the strategy")

    @property
    def online(self) -> bool:
        return self.name in ("ottt", "sltt")

    @property
    def decay(self) -> float | None:
        """The traces' decay of the online step (None: no traces)."""
        if self.name != "ottt":
            return None
        if self.trace_decay is None:
            raise InputError("ottt needs trace_decay (revsnn_jax.online.default_trace_decay(neuron) gives the default)")
        return self.trace_decay


def as_method(method: Method | str) -> Method:
    return method if isinstance(method, Method) else Method(method)


def online_run(method: Method, graphdef, params, batch_stats, inputs, labels, *, timesteps: int,
               encoding: str = "direct", update=None, update_state=None) -> online.Online:
    """The online methods' pass over a batch (:func:`revsnn_jax.online.accumulate`): per-step losses, gradients
    summed (or, with ``update``, applied after every step); ``aux`` holds the per-step BatchNorm statistics."""
    model_step = network.make_online_step(graphdef, train=True, decay=method.decay, trace_input=method.trace_input)
    network.check_inputs(nnx.merge(graphdef, params, batch_stats), inputs, timesteps, encoding)
    frames = encoding == "frames"
    x0 = inputs[0] if frames else inputs
    state = network.online_state(graphdef, params, batch_stats, x0, decay=method.decay,
                                 trace_input=method.trace_input)
    return online.accumulate(lambda p, x, s: model_step(p, batch_stats, x, s), params, state, inputs, labels,
                             mix=method.loss_mix, timesteps=None if frames else timesteps, has_aux=True,
                             update=update, update_state=update_state)


def loss_and_grads(method: Method | str, graphdef, params, batch_stats, inputs, labels, *, timesteps: int,
                   strategy: Strategy | str = "inverse_grad", encoding: str = "direct"):
    """``((loss, (logits averaged over T, per-step BN statistics)), parameter gradients)`` under ``method``
    (OTTT_A for the online methods; OTTT_O needs the optimizer: :func:`revsnn_jax.train.make_train_step`)."""
    method = as_method(method)
    if method.online:
        out = online_run(method, graphdef, params, batch_stats, inputs, labels, timesteps=timesteps,
                         encoding=encoding)
        return (out.loss, (out.logits.mean(0), out.aux)), out.grads

    def loss(params):
        if method.name == "dsr":
            logits, stats = network.rates_forward(graphdef, params, batch_stats, inputs, timesteps=timesteps,
                                                  encoding=encoding, remat=method.low_memory)
        else:
            logits, stats = network.forward(graphdef, params, batch_stats, inputs, timesteps=timesteps,
                                            strategy=as_strategy(strategy), encoding=encoding)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), (logits, stats)

    return jax.value_and_grad(loss, has_aux=True)(params)
