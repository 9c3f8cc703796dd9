"""The time loop: one ``lax.scan`` over timesteps of a step function, with the gradient rule a strategy chooses.

Pure JAX (imports nothing from Flax) and generic: a **step** is any pure function

``apply(params, consts, x_t, vs) -> ((out_t, vs_next), aux_t)``

``params`` are differentiated, ``consts`` are not (running statistics, say), ``vs`` is the pytree of every
neuron's state (the potentials), ``aux_t`` is returned but never differentiated (per-step batch statistics). A
whole network's step is one such function (:mod:`revsnn_jax.nn.network` builds it from a flax model); so is one
neuron layer's (:func:`revsnn_jax.neuron_loop.run_neuron`); so is any step a user writes.

:func:`run_time_loop` runs it for ``T`` steps under a :class:`~revsnn_jax.strategies.Strategy`:

==============  ====================================================================================================
``bptt``        autodiff through the scan: every step's residuals are stored.
``checkpoint``  ``jax.checkpoint`` of the step: every step's ``vs`` is stored, the rest recomputed.
``anchored``    one ``jax.custom_vjp`` over the whole loop. The forward keeps only ``vs`` at the start of every
                ``k``-step segment (anchors); the backward recomputes one segment of ``vs`` forward from its anchor,
                then walks it backwards taking one ``jax.vjp`` of the step per timestep. Memory: ``ceil(T/k) - 1``
                anchors plus ``k - 1`` kept potentials plus one step's working set, instead of ``T`` steps of
                residuals; gradients equal BPTT's to rounding. ``segment="recompute"`` keeps no segment (recomputes
                from the anchor at every step); ``segment="replay"`` keeps what the segment's recompute computed
                besides the potentials (a network's convolution outputs: :attr:`Step.record`) and hands it to the
                per-step VJP (:attr:`Step.replay`), which then runs no convolution forward again.
                ``segment="binomial"`` places ``S`` kept potentials by the optimal binomial schedule
                (:mod:`revsnn_jax.schedules`; module :mod:`~revsnn_jax.time_loop.binomial`): memory flat in T for a
                fixed ``S``, recomputation growing like ``log T``.
``reverse``     one ``jax.custom_vjp`` that walks time back. The forward keeps ``vs`` at the end and, per step,
                what :attr:`Step.keep` returns (a few packed bits per neuron). The backward carries ``vs^t`` from
                ``t = T`` down: :attr:`Step.rebuild` recomputes step ``t`` from its input and the kept bits and
                recovers ``vs^{t-1}`` exactly; :attr:`Step.replay` is then differentiated at ``vs^{t-1}``, reading
                what the rebuild recorded. No anchors, no segments, one forward per step in the backward. At
                ``t = 0`` the recovered ``vs^0`` must equal the real one bit for bit; if it does not, every
                gradient of the call is NaN and a warning says so (never a silent wrong gradient).
                ``segment="segmented"`` keeps ``vs`` every ``k`` steps instead of the bits, and regenerates one
                segment's bits at a time by recomputing it forward from its start: one more forward per step, memory
                flat in T (bit-identical gradients).
==============  ====================================================================================================

Each loop lives in its own module (``anchored``, ``binomial``, ``reverse``; ``common`` holds :class:`Step` and the
``custom_vjp`` plumbing they share).

Gradients are taken with respect to ``params``, ``inputs`` and ``v0`` only where they are asked for
(``custom_vjp`` with symbolic zeros): data inputs that nobody differentiates cost no cotangent buffer.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax

from revsnn_jax import schedules
from revsnn_jax.errors import InputError
from revsnn_jax.strategies import Strategy, as_strategy
from revsnn_jax.time_loop.anchored import anchored_loop, segment_plan
from revsnn_jax.time_loop.binomial import binomial_loop
from revsnn_jax.time_loop.common import Loop, Step, default_anchor_every, initial_state, input_at
from revsnn_jax.time_loop.reverse import default_segment_length, reverse_loop, segmented_reverse_loop

__all__ = ["Step", "run_time_loop", "default_anchor_every", "segment_plan"]

def run_time_loop(step: Step | Callable, params: Any, consts: Any, inputs: Any, v0: Any, *, timesteps: int,
                  sequence_input: bool, strategy: Strategy | str = "bptt"):
    """Runs ``step`` for ``timesteps`` steps. Returns ``(outs, auxs, v_last)``, outs/auxs stacked on T.

    Args:
      step: a :class:`Step`, or a plain ``apply`` function (then only bptt/checkpoint/anchored without replay).
      v0: the initial state, or its shapes (a pytree of ``jax.ShapeDtypeStruct``) for zeros: then the loops make
        the zeros where they need them instead of keeping a copy of the initial state alive (no gradient for it).
      inputs: a pytree; ``inputs[t]`` at step t when ``sequence_input`` (time-major), else the same every step
        (direct encoding of a static image).
      strategy: a :class:`~revsnn_jax.strategies.Strategy` or its label. Its loop and loop options apply here;
        its neuron gradient is the step's business (the step was built with it).

    Example (a toy step; any pure function of this signature works)::

        def apply(w, _, x, v):
            v = 0.5 * v + x @ w
            return (jnp.tanh(v), v), None

        outs, _, v_last = run_time_loop(apply, w, None, xs, jnp.zeros(4), timesteps=8, sequence_input=True,
                                        strategy="anchored")
    """
    step = step if isinstance(step, Step) else Step(apply=step)
    strategy = as_strategy(strategy)
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise InputError(f"timesteps must be an integer >= 1, got {timesteps!r}")
    needs = {"replay": ("record", "replay")} if strategy.segment == "replay" else {}
    if strategy.loop == "reverse":
        needs = {"reverse": ("keep", "rebuild", "replay")}
    for what, names in needs.items():
        missing = [n for n in names if getattr(step, n) is None]
        if missing:
            raise InputError(f"strategy {strategy.label!r} needs a step with {', '.join(missing)} "
                             f"(see revsnn_jax.time_loop.Step); this one has only apply")
    leaves, treedef = jax.tree.flatten(v0)
    zero_state = None
    if leaves and all(isinstance(a, jax.ShapeDtypeStruct) for a in leaves):
        zero_state, v0 = (treedef, tuple((a.shape, jnp.dtype(a.dtype)) for a in leaves)), None
    k = strategy.anchor_every
    if k is None:
        k = default_segment_length(step, params, consts, inputs, v0, zero_state, timesteps, sequence_input) \
            if strategy.segment == "segmented" else default_anchor_every(timesteps)
    slots = schedules.default_slots(timesteps) if strategy.anchor_slots is None else strategy.anchor_slots
    cfg = Loop(step, timesteps, sequence_input, k, strategy.segment, zero_state,
               tie_input=strategy.loop == "anchored", slots=slots)
    if strategy.segment == "binomial":
        return binomial_loop(cfg, params, consts, inputs, v0)
    if strategy.loop == "anchored":
        return anchored_loop(cfg, params, consts, inputs, v0)
    if strategy.segment == "segmented":
        return segmented_reverse_loop(cfg, params, consts, inputs, v0)
    if strategy.loop == "reverse":
        return reverse_loop(cfg, params, consts, inputs, v0)

    def body(vs, t):
        (out, vs_next), aux = step.apply(params, consts, input_at(cfg, inputs, t), vs)
        return vs_next, (out, aux)

    if strategy.loop == "checkpoint":
        body = jax.checkpoint(body)
    v_last, (outs, auxs) = lax.scan(body, initial_state(cfg, v0), jnp.arange(timesteps))
    return outs, auxs, v_last

