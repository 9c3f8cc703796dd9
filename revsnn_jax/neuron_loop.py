"""One neuron layer over time: :func:`run_neuron`, the time loop (:mod:`revsnn_jax.time_loop`) with a neuron step.

Every strategy of :mod:`revsnn_jax.strategies` applies; ``v_recovery="inverse"`` measures the paper's own idea
(keep only ``V^T`` and recover each ``V^{t-1}`` with Eq. 7/9): the time-reversing loop with the paper's inverse,
which is not exact, so it is never a default and never used in a network.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from revsnn_jax import bitpack, neurons, time_loop
from revsnn_jax.errors import InputError
from revsnn_jax.neurons import base
from revsnn_jax.strategies import Strategy, as_strategy, check_neuron

V_RECOVERIES = ("anchored", "inverse")


def neuron_step(p, neuron_grad: str = "autodiff") -> time_loop.Step:
    """The time loop's :class:`~revsnn_jax.time_loop.Step` of one neuron layer (``params`` = the neuron's
    ``theta``; no ``consts``; ``outs`` = the neuron's outputs)."""
    step = base.step_fn(p, neuron_grad)

    def apply(theta, _, x, v):
        return step(theta, x, v), None

    if not hasattr(p, "rebuild"):
        return time_loop.Step(apply=apply)

    def keep(theta, _, x, v):
        y, v_next, code = p.keep(theta, x, v)
        return (y, v_next), None, bitpack.pack(code, p.keep_bits)   # keep_bits per neuron and step, packed

    def rebuild(theta, _, x, v_next, packed):
        code = bitpack.unpack(packed, p.keep_bits, x.shape[-1])
        return p.rebuild(theta, x, code, v_next)[1], code

    def replay(theta, _, x, v, code):
        y_v = p.replay(theta, x, code, v) if p.exact_inverse else step(theta, x, v)
        return y_v, None

    return time_loop.Step(apply=apply, keep=keep, rebuild=rebuild, replay=replay,
                          canonical_state=p.canonical_state, exact=p.exact_inverse)


def run_neuron(p, xs: jax.Array, v0: jax.Array, strategy: Strategy | str = "bptt", *, v_recovery: str = "anchored",
               anchor_every: int | None = None, theta=None) -> tuple[jax.Array, jax.Array]:
    """Runs a neuron over ``T`` timesteps with ``lax.scan``; ``strategy`` picks the gradient rule.

    Args:
      p: a neuron's params (:data:`revsnn_jax.neurons.NEURONS`).
      xs: inputs, time-major ``[T, ..., D]``, floating, ``T >= 1``.
      v0: initial membrane potential ``[..., D]``, same dtype.
      strategy: a :class:`~revsnn_jax.strategies.Strategy` or label (``bptt``, ``checkpoint``, ``anchored``,
        ``anchored+closed_form``, ``reverse``, the paper's aliases ``reversible``/``inverse_grad``/...).
      v_recovery: ``"anchored"`` (the strategy as given) or ``"inverse"``: with an ``anchored`` strategy, run the
        time-reversing loop with the paper's Eq. 7/9 inverse instead (the paper's neuron only; inexact).
      anchor_every: steps between anchors for ``anchored`` (default ``ceil(sqrt T)``).
      theta: the neuron's learnable parameters (PLIF's ``{"w": ...}``), default ``p.init_theta``.

    Returns:
      ``(ys, v_last)``: outputs ``[T, ..., D]`` and :math:`V^T`.

    Examples:
      >>> p = RevLIFParams()
      >>> xs = jax.random.normal(jax.random.key(0), (8, 4, 16))
      >>> ys, v = run_neuron(p, xs, jnp.zeros((4, 16)), strategy="inverse_grad")
    """
    strategy = as_strategy(strategy)
    if anchor_every is not None:
        strategy = Strategy.parse(strategy.label, anchor_every=anchor_every) if strategy.loop == "anchored" else \
            dataclasses.replace(strategy, anchor_every=anchor_every)
    if strategy.keep_convs:
        raise InputError("keep_convs replays a network's convolution outputs; a neuron layer has none "
                         "(use it with revsnn_jax.nn.forward)")
    if v_recovery not in V_RECOVERIES:
        raise InputError(f"unknown v_recovery {v_recovery!r}; valid: {', '.join(V_RECOVERIES)}")
    if jnp.ndim(xs) < 1 or jnp.shape(xs)[0] == 0:
        raise InputError(f"xs must be time-major [T, ..., D] with T >= 1, got shape {jnp.shape(xs)}")
    neurons.check_state(xs[0], v0, "xs[t]", "v0")
    if not hasattr(p, "step"):
        valid = ", ".join(c.__name__ for c in neurons.NEURONS.values())
        raise InputError(f"p must be a neuron's params (one of {valid})"
                         f", got {type(p).__name__}")
    if hasattr(p, "groups"):
        base.check_groups(p.groups, jnp.shape(v0))
    if v_recovery == "inverse":
        if strategy.loop != "anchored" or strategy.segment != "keep":
            raise InputError("v_recovery='inverse' replaces the anchored loop (strategies reversible, inverse_grad)")
        if not hasattr(p, "rebuild") or p.exact_inverse:
            raise InputError("v_recovery='inverse' measures the paper's inverse (Eq. 7/9): it needs RevLIFParams")
        strategy = Strategy("reverse", strategy.neuron_grad)
    else:
        check_neuron(strategy, p)
    theta = p.init_theta(jnp.shape(v0)[-1]) if theta is None else theta
    ys, _, v_last = time_loop.run_time_loop(neuron_step(p, strategy.neuron_grad), theta, None, xs, v0,
                                            timesteps=jnp.shape(xs)[0], sequence_input=True, strategy=strategy)
    return ys, v_last
