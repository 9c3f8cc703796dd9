"""What every loop of :mod:`revsnn_jax.time_loop` shares: the :class:`Step` interface, the loop's static settings,
and the ``custom_vjp`` plumbing (which inputs are differentiated, cotangent accumulators)."""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import CustomVJPPrimal, SymbolicZero

from revsnn_jax.remat import after


@dataclasses.dataclass(frozen=True)
class Step:
    """What the time loop needs from one timestep. Only ``apply`` is required; each other field enables a loop.

    Attributes:
      apply: ``(params, consts, x_t, vs) -> ((out, vs_next), aux)``, the step (every loop).
      record: ``(params, consts, x_t, vs) -> (vs_next, record)``: ``apply``'s forward, also returning what
        ``replay`` may read instead of recomputing (``anchored`` with ``segment="replay"``).
      replay: ``(params, consts, x_t, vs, record) -> ((out, vs_next), aux)``, equal to ``apply`` in value and
        gradient but reading ``record`` (``anchored`` + replay, and ``reverse``).
      keep: ``(params, consts, x_t, vs) -> ((out, vs_next), aux, kept)``: ``apply`` that also returns what the
        backward of ``reverse`` needs to invert the step (``reverse``).
      rebuild: ``(params, consts, x_t, vs_next, kept) -> (vs, record)``: the step rebuilt from its input and the
        kept bits, ``vs`` recovered from ``vs_next`` (``reverse``).
      canonical_state: ``vs -> vs`` as the step's neurons represent it (their grid); default: unchanged.
      exact: whether ``rebuild`` is exact, hence checked end to end; False only to measure an inexact inverse.
    """

    apply: Callable
    record: Callable | None = None
    replay: Callable | None = None
    keep: Callable | None = None
    rebuild: Callable | None = None
    canonical_state: Callable | None = None
    exact: bool = True


def default_anchor_every(timesteps: int) -> int:
    """:math:`\\lceil\\sqrt T\\rceil`: minimises anchors (:math:`T/k`) plus one segment (:math:`k`) of stored V."""
    return max(1, math.ceil(math.sqrt(timesteps)))


@dataclasses.dataclass(frozen=True)
class Loop:
    step: Step
    timesteps: int
    sequence_input: bool
    anchor_every: int
    segment: str
    zero_state: tuple | None = None   # (treedef, ((shape, dtype), ...)) when v0 is zeros given by its shapes
    tie_input: bool = False           # see input_at
    slots: int = 0                    # the binomial schedule's slots


def initial_state(cfg: Loop, v0):
    """``v0``, or the zeros it stands for (made where needed instead of kept alive through the whole loop)."""
    if cfg.zero_state is None:
        return v0
    treedef, leaves = cfg.zero_state
    return jax.tree.unflatten(treedef, [jnp.zeros(shape, dtype) for shape, dtype in leaves])


def input_at(cfg: Loop, inputs, t):
    if cfg.sequence_input:
        return jax.tree.map(lambda a: a[t], inputs)
    if not cfg.tie_input:
        return inputs
    # The same input at every step, tied to t (0 * t is not folded: it would be NaN for t = inf): otherwise XLA hoists
    # what is computed from it (a whole first layer) out of the loops and keeps it alive across them. Measured on
    # VGG-19, T=20, B=128: anchored 1,877 -> 1,845 MiB, +low_memory 1,286 -> 1,264; but BPTT 16,168 -> 17,382 (it
    # stores that layer T times) and reverse +20 MiB, so only the anchored loop ties.
    return jax.tree.map(lambda a: a + 0 * jnp.asarray(t, a.dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a,
                        inputs)



def unwrap(tree):
    """``(values, perturbed)`` of a tree of ``CustomVJPPrimal`` leaves (``symbolic_zeros=True``)."""
    is_primal = lambda a: isinstance(a, CustomVJPPrimal)   # noqa: E731
    values = jax.tree.map(lambda a: a.value, tree, is_leaf=is_primal)
    perturbed = any(a.perturbed for a in jax.tree.leaves(tree, is_leaf=is_primal))
    return values, perturbed


def instantiate(tree):
    """Cotangents with symbolic zeros made into zero arrays."""
    return jax.tree.map(lambda c: jnp.zeros(c.aval.shape, c.aval.dtype) if isinstance(c, SymbolicZero) else c,
                        tree, is_leaf=lambda c: isinstance(c, SymbolicZero))


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class Wrt:
    """Which of (params, inputs, v0) the caller differentiates."""

    params: bool
    inputs: bool
    v0: bool


def unwrap_args(params, consts, inputs, v0):
    """A ``custom_vjp`` forward's arguments as values, and which of them the caller differentiates:
    ``(wrt, params, consts, inputs, v0)``."""
    (params, wp), (consts, _), (inputs, wi), (v0, wv) = map(unwrap, (params, consts, inputs, v0))
    return Wrt(wp, wi, wv), params, consts, inputs, v0


def step_vjp(cfg: Loop, wrt: Wrt, fn: Callable, params, x, vs, g_out, g_vs):
    """``(g_params, g_x, g_vs_prev)`` of ``fn(params, x, vs) -> ((out, vs_next), aux)``; ``g_x`` is None unless the
    inputs are differentiated."""
    if wrt.inputs:
        _, vjp, _ = jax.vjp(fn, params, x, vs, has_aux=True)
        return vjp((g_out, g_vs))
    _, vjp, _ = jax.vjp(lambda p, v: fn(p, x, v), params, vs, has_aux=True)
    g_p, g_v = vjp((g_out, g_vs))
    return g_p, None, g_v


def accumulate(cfg: Loop, wrt: Wrt, g_inputs, g_x, t):
    """The inputs' cotangent: written in place at step t (sequence inputs), or summed over steps (static input)."""
    if not wrt.inputs:
        return g_inputs
    if cfg.sequence_input:
        return jax.tree.map(lambda acc, g: lax.dynamic_update_index_in_dim(acc, g, t, 0), g_inputs, g_x)
    return jax.tree.map(jnp.add, g_inputs, g_x)


def accumulators(tree, cotangent):
    """Zeros to accumulate cotangents into, tied to ``cotangent``: otherwise XLA makes them before the forward loop
    and holds them through it (measured: a whole [T, ...] input cotangent during the forward)."""
    return after(zeros(tree), cotangent) if tree is not None else None


def input_carry(wrt: Wrt, inputs, cotangent):
    return accumulators(inputs, cotangent) if wrt.inputs else None


def zeros(tree):
    return jax.tree.map(jnp.zeros_like, tree)


def loop_cotangents(wrt: Wrt, g_params, g_inputs, g_v0):
    return (g_params if wrt.params else None, None, g_inputs if wrt.inputs else None,
            g_v0 if wrt.v0 else None)   # v0 given as shapes is None here, and so is its cotangent



def write_slot(slots, index, vs, when=True):
    """``slots[index] = vs`` where ``when`` (else unchanged: the slot is rewritten with its own value, so every step
    runs the same code)."""
    i = jnp.maximum(index, 0)
    return jax.tree.map(lambda s, v: lax.dynamic_update_index_in_dim(s, jnp.where(when, v, s[i]), i, 0), slots, vs)


def read_slot(slots, index, v0):
    """``slots[index]``, or ``v0`` where ``index < 0``."""
    return jax.tree.map(lambda v, s: jnp.where(index < 0, v, s[jnp.maximum(index, 0)]), v0, slots)


def forward_with_slots(cfg: Loop, params, consts, inputs, v0, store, count: int):
    """The plain forward scan that also writes state ``t`` (before step ``t``) into slot ``store[t]`` where that is
    ``>= 0``, of ``count`` slots. Returns ``(outs, auxs, v_last, slots)`` (slots None when ``count == 0``)."""
    store = jnp.asarray(store)
    v0 = initial_state(cfg, v0)
    slots = jax.tree.map(lambda v: jnp.zeros((count,) + v.shape, v.dtype), v0) if count else None

    def body(carry, t):
        vs, slots = carry
        if slots is not None:
            slots = write_slot(slots, store[t], vs, store[t] >= 0)
        (out, vs_next), aux = cfg.step.apply(params, consts, input_at(cfg, inputs, t), vs)
        return (vs_next, slots), (out, aux)

    (v_last, slots), (outs, auxs) = lax.scan(body, (v0, slots), jnp.arange(cfg.timesteps))
    return outs, auxs, v_last, slots
