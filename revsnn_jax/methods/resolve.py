"""The one resolver of (neuron, strategy, method): which combinations train, and the defaults one choice sets for
another. Training (:meth:`revsnn_jax.train.TrainConfig.resolved`) and the benchmarks
(:class:`revsnn_jax.bench.network.NetworkConfig`) both call :func:`resolve`; no other place repeats its rules.

==========================================  ========================================================================
rule                                        where it comes from
==========================================  ========================================================================
``reverse`` needs an exact inverse;         the neuron's capabilities (:func:`revsnn_jax.strategies.check_neuron`)
``paper_grad`` the paper's neuron
a method other than ``exact`` computes its  the strategy's refinements (``strategy``, ``anchor_every``,
own gradient                                ``keep_convs``; ``low_memory`` except for ``dsr``) are refused
the online settings belong to ottt/sltt     ``ottt_*`` to ``ottt``, ``online_*`` to both
``dsr`` needs a rate mapping                ``has_rate_mapping``
OTTT's trace decay                          the neuron's ``trace_decay`` unless given
==========================================  ========================================================================
"""

from __future__ import annotations

import dataclasses

from revsnn_jax.errors import InputError
from revsnn_jax.methods.method import METHODS, Method
from revsnn_jax.neurons import NEURONS, neuron_kind
from revsnn_jax.neurons.dsr import has_rate_mapping
from revsnn_jax.strategies import Strategy, check_neuron

DEFAULT_STRATEGY = "inverse_grad"
ONLINE_SETTINGS = {"ottt_trace_decay": None, "ottt_trace_input": False, "online_loss_mix": 0.0,
                   "online_update": False}
"""The online methods' settings (as :class:`revsnn_jax.train.TrainConfig` names them) and their defaults."""


@dataclasses.dataclass(frozen=True)
class Resolved:
    """A combination that trains: the neuron's params, the strategy (for methods other than ``exact``, whose
    gradient ignores it, ``bptt``: what their forward runs) and the method with its settings filled in."""

    neuron: object
    strategy: Strategy
    method: Method


def resolve(neuron, *, strategy: str | None = None, method: str = "exact", anchor_every: int | None = None,
            low_memory: bool = False, keep_convs: bool = False, anchor_slots: int | None = None,
            ottt_trace_decay: float | None = None,
            ottt_trace_input: bool = False, online_loss_mix: float = 0.0, online_update: bool = False,
            fix: str | None = None) -> Resolved:
    """Checks a (neuron, strategy, method) combination and fills its defaults; raises InputError naming the
    setting at fault. ``strategy=None`` means not given (the default, ``inverse_grad``, for ``exact``); ``fix``
    says how to get an exact inverse in this caller's terms."""
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    online = {"ottt_trace_decay": ottt_trace_decay, "ottt_trace_input": ottt_trace_input,
              "online_loss_mix": online_loss_mix, "online_update": online_update}
    given = [k for k, v in online.items() if v != ONLINE_SETTINGS[k]
             and (method not in ("ottt", "sltt") or (k.startswith("ottt_") and method != "ottt"))]
    if given:
        raise InputError(f"{', '.join(given)} set the online methods (--method ottt/sltt); this run's method is "
                         f"{method!r}")
    if method == "exact":
        parsed = Strategy.parse(strategy or DEFAULT_STRATEGY, anchor_every=anchor_every, low_memory=low_memory,
                                keep_convs=keep_convs, anchor_slots=anchor_slots)
        check_neuron(parsed, neuron, f"neuron {neuron_kind(neuron)!r}", fix)
        return Resolved(neuron, parsed, Method())
    unused = [k for k, v in (("strategy", strategy not in (None, DEFAULT_STRATEGY)), ("anchor_every", anchor_every),
                             ("anchor_slots", anchor_slots is not None),
                             ("keep_convs", keep_convs), ("low_memory", low_memory and method != "dsr")) if v]
    if unused:
        raise InputError(f"{', '.join(unused)} refine the exact method's strategy; --method {method} computes its "
                         "own gradient (dsr takes --low-memory)")
    if method == "dsr" and not has_rate_mapping(neuron):
        mapped = ", ".join(k for k, cls in NEURONS.items() if has_rate_mapping(cls))
        raise InputError(f"--method dsr needs a neuron with a rate mapping ({mapped}), not "
                         f"{neuron_kind(neuron)!r}")
    decay = ottt_trace_decay
    if method == "ottt" and decay is None:
        decay = float(neuron.trace_decay)
    return Resolved(neuron, Strategy("bptt"), Method(method, trace_decay=decay, trace_input=ottt_trace_input,
                                                     loss_mix=online_loss_mix, online_update=online_update,
                                                     low_memory=low_memory and method == "dsr"))
