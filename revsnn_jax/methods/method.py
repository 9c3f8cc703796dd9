"""The training method: how a whole network's gradient is computed, one value next to the strategy.

==========  ===========================================================================================================
method      gradient
==========  ===========================================================================================================
``exact``   BPTT's gradient, computed by the chosen strategy (:mod:`revsnn_jax.strategies`): ``bptt``, the paper's
            ``inverse_grad``/``reversible`` with its low-memory loops, ``reverse`` (:mod:`revsnn_jax.methods.exact`)
``ottt``    online training through time (Xiao et al., NeurIPS 2022): a loss at every step, no gradient across
            steps, weight gradients at presynaptic traces (:mod:`revsnn_jax.methods.online`); memory constant in
            ``T``
``sltt``    the same without traces (Meng et al., ICCV 2023): each step's instantaneous input
``dsr``     differentiation on spike representation (Meng et al., CVPR 2022): the network runs once over all ``T``
            steps folded into the batch, each neuron with the gradient of its rate mapping
            (:mod:`revsnn_jax.methods.dsr`, ``revsnn_jax.neurons.dsr``)
==========  ===========================================================================================================

The online methods use the loss ``((1 - mix) CE + mix MSE(onehot)) / T`` at every step; ``exact`` and ``dsr``
the cross-entropy of the logits averaged over ``T``. ``online_update`` (OTTT_O) takes an optimizer step after
every timestep instead of one per batch (OTTT_A); :func:`revsnn_jax.train.make_train_step` does that.
"""

from __future__ import annotations

import dataclasses

from revsnn_jax.errors import InputError

METHODS = ("exact", "ottt", "sltt", "dsr")


@dataclasses.dataclass(frozen=True)
class Method:
    """A training method and its settings.

    Attributes:
      name: one of ``METHODS``.
      trace_decay: ``ottt``: the traces' decay ``lambda`` (default: the neuron's ``trace_decay``, filled by
        :func:`revsnn_jax.methods.resolve`). Ignored otherwise.
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
        """The decay of the online step's traces, or None where there are no traces."""
        if self.name != "ottt":
            return None
        if self.trace_decay is None:
            raise InputError("ottt needs trace_decay (the neuron's trace_decay attribute is the default)")
        return self.trace_decay


def as_method(method: Method | str) -> Method:
    """``method`` itself, or the :class:`Method` of that name with default settings."""
    return method if isinstance(method, Method) else Method(method)
