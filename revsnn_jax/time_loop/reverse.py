"""The time-reversing loop: a few bits per neuron and step kept; the backward rebuilds each step and recovers the
potentials before it exactly. Segmented: the potentials kept every k steps instead, one segment's bits regenerated
at a time by recomputing it."""

from __future__ import annotations

import functools
import math
import warnings

import jax
import jax.numpy as jnp
from jax import lax

from revsnn_jax.remat import after
from revsnn_jax.time_loop.anchored import segment_plan
from revsnn_jax.time_loop.common import (Loop, accumulate, accumulators, loop_cotangents, forward_with_slots,
                                         initial_state, input_at, input_carry, instantiate, read_slot, step_vjp,
                                         unwrap_args)


def _reverse_forward(cfg: Loop, params, consts, inputs, v0):
    def body(vs, t):
        (out, vs_next), aux, kept = cfg.step.keep(params, consts, input_at(cfg, inputs, t), vs)
        return vs_next, (out, aux, kept)

    v_last, (outs, auxs, kept) = lax.scan(body, initial_state(cfg, v0), jnp.arange(cfg.timesteps))
    return outs, auxs, v_last, kept


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def reverse_loop(cfg: Loop, params, consts, inputs, v0):
    outs, auxs, v_last, _ = _reverse_forward(cfg, params, consts, inputs, v0)
    return outs, auxs, v_last


def _reverse_fwd(cfg: Loop, params, consts, inputs, v0):
    wrt, params, consts, inputs, v0 = unwrap_args(params, consts, inputs, v0)
    outs, auxs, v_last, kept = _reverse_forward(cfg, params, consts, inputs, v0)
    return (outs, auxs, v_last), (wrt, params, consts, inputs, v0, v_last, kept)


def _reverse_bwd(cfg: Loop, saved, cotangents):
    """Walks t = T..1. Software-pipelined: step t's potentials ``vs^{t-1}`` and record arrive in the loop carry
    (rebuilt by the previous iteration), its VJP is taken, and only then is step ``t-1`` rebuilt from ``vs^{t-1}``.
    Reading the potentials from the carry keeps XLA from fusing their recovery into the VJP (which would keep
    ``vs^t`` alive and copy the loop state), and rebuilding after the VJP lets ``vs^{t-2}`` overwrite ``vs^{t-1}``."""
    wrt, params, consts, inputs, v0, v_last, kept = saved
    g_outs, _, g_vlast = cotangents
    g_outs, g_vlast = instantiate(g_outs), instantiate(g_vlast)

    def rebuild(t, vs):
        return cfg.step.rebuild(params, consts, input_at(cfg, inputs, t), vs, jax.tree.map(lambda a: a[t], kept))

    def body(carry, t):
        vs_prev, record, g_vs, g_params, g_inputs = carry      # vs_prev = vs^{t-1}: step t's potentials before it
        x = input_at(cfg, inputs, t)
        fn = lambda p, x, v: cfg.step.replay(p, consts, x, v, record)   # noqa: E731
        g_p, g_x, g_v = step_vjp(cfg, wrt, fn, params, x, vs_prev, jax.tree.map(lambda g: g[t], g_outs), g_vs)
        later = after(vs_prev, g_v)                             # the rebuild of step t-1 waits for this VJP
        vs_before, record_before = lax.cond(t > 0, lambda: rebuild(jnp.maximum(t - 1, 0), later),
                                            lambda: (later, record))
        per_step = wrt.inputs and cfg.sequence_input   # a sequence input's cotangent: one scan output per step
        g_inputs = g_inputs if per_step else accumulate(cfg, wrt, g_inputs, g_x, t)
        return (vs_before, record_before, g_v, jax.tree.map(jnp.add, g_params, g_p), g_inputs), \
            (g_x if per_step else None)

    vs_prev, record = rebuild(cfg.timesteps - 1, v_last)
    carry = (vs_prev, record, g_vlast, accumulators(params, (v_last, g_outs)),
             input_carry(wrt, inputs, (v_last, g_outs)) if not cfg.sequence_input else None)
    (v0_rebuilt, _, g_v0, g_params, g_inputs), g_xs = lax.scan(body, carry, jnp.arange(cfg.timesteps),
                                                                reverse=True)
    if wrt.inputs and cfg.sequence_input:
        g_inputs = g_xs
    result = loop_cotangents(wrt, g_params, g_inputs, g_v0)
    if not cfg.step.exact:
        return result
    return _checked(cfg, result, v0_rebuilt, v0)


def _checked(cfg: Loop, cotangents, v0_rebuilt, v0):
    """The end-to-end check of an exact reversal: NaN gradients (and a warning) unless the rebuilt ``V^0`` equals
    the forward's bit for bit."""
    wrong, total = _mismatches(cfg, v0_rebuilt, v0)
    return _nan_unless(wrong, total, cotangents)


def _mismatches(cfg: Loop, rebuilt, v0):
    """``(potentials of rebuilt that differ from v0, all potentials)``."""
    if cfg.zero_state is None:
        canonical = cfg.step.canonical_state or (lambda vs: vs)
        wrong = sum(jnp.sum(a != b) for a, b in zip(jax.tree.leaves(rebuilt), jax.tree.leaves(canonical(v0))))
    else:   # compared with zero directly: a zeros array here would be merged with the forward's and kept alive
        wrong = sum(jnp.sum(a != 0) for a in jax.tree.leaves(rebuilt))
    return wrong, sum(a.size for a in jax.tree.leaves(rebuilt))


def _nan_unless(wrong, total, cotangents):
    exact = wrong == 0
    lax.cond(exact, lambda: None, lambda: jax.debug.callback(_warn_inexact, wrong, total))
    return jax.tree.map(lambda g: jnp.where(exact, g, jnp.nan).astype(g.dtype), cotangents)


def _warn_inexact(wrong, total):
    warnings.warn(f"reversal lost exactness: the rebuilt V^0 differs from the forward's in {int(wrong)} of "
                  f"{int(total)} potentials, so this step's gradients are NaN. Likely causes: a recomputed neuron "
                  "input more than half a fixed-point unit off the forward's (turn snap on, raise x_max headroom or "
                  "lower frac_bits), or a potential outside the exact range (alpha = 1/tau is unbounded)",
                  RuntimeWarning, stacklevel=1)


reverse_loop.defvjp(_reverse_fwd, _reverse_bwd, symbolic_zeros=True)



# --- segmented ---------------------------------------------------------------------------------------------------

def default_segment_length(step, params, consts, inputs, v0, zero_state, timesteps: int, sequence_input: bool) -> int:
    """The k that minimises what ``reverse+segmented`` keeps: ``ceil(T/k) - 1`` states plus one segment's ``k``
    steps of bits (sizes read from the step's shapes, nothing run)."""
    if v0 is None:
        treedef, leaves = zero_state
        v0 = jax.tree.unflatten(treedef, [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in leaves])
    x = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), inputs) if sequence_input else inputs
    kept = jax.eval_shape(lambda p, c, x, v: step.keep(p, c, x, v)[2], params, consts, x, v0)
    size = lambda tree: sum(math.prod(a.shape) * jnp.dtype(a.dtype).itemsize for a in jax.tree.leaves(tree))  # noqa
    state, bits = size(v0), max(1, size(kept))
    return min(range(1, timesteps + 1), key=lambda k: (segment_plan(timesteps, k)[0] - 1) * state
               + segment_plan(timesteps, k)[1] * bits)


def _plan(cfg: Loop):
    """``(n, k, store)``: n segments of k steps; the forward writes state ``j k`` into slot ``j - 1``."""
    n, k = segment_plan(cfg.timesteps, cfg.anchor_every)
    store = [t // k - 1 if t % k == 0 and t > 0 else -1 for t in range(cfg.timesteps)]
    return n, k, store


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def segmented_reverse_loop(cfg: Loop, params, consts, inputs, v0):
    n, _, store = _plan(cfg)
    return forward_with_slots(cfg, params, consts, inputs, v0, store, n - 1)[:3]


def _segmented_fwd(cfg: Loop, params, consts, inputs, v0):
    wrt, params, consts, inputs, v0 = unwrap_args(params, consts, inputs, v0)
    n, _, store = _plan(cfg)
    outs, auxs, v_last, anchors = forward_with_slots(cfg, params, consts, inputs, v0, store, n - 1)
    return (outs, auxs, v_last), (wrt, params, consts, inputs, v0, anchors, v_last)


def _segmented_bwd(cfg: Loop, saved, cts):
    """Segments last to first. Each recomputes its steps forward from its anchor with :attr:`Step.keep` (its bits,
    and the state at its end), then walks them back as ``reverse`` does: VJP of step t on the rebuilt potentials,
    then the rebuild of step t-1. The rebuilt start of every segment must equal its anchor (else NaN gradients)."""
    wrt, params, consts, inputs, v0, anchors, v_last = saved
    n, k, _ = _plan(cfg)
    T, padded = cfg.timesteps, n * k != cfg.timesteps
    g_outs, _, g_vlast = cts
    g_outs, g_vlast = instantiate(g_outs), instantiate(g_vlast)
    v0_given = v0
    v0 = initial_state(cfg, v0)

    def real(t, fn, otherwise):
        return lax.cond(t < T, fn, otherwise) if padded else fn()

    def keep(vs, t):
        fn = lambda: cfg.step.keep(params, consts, input_at(cfg, inputs, t), vs)   # noqa: E731
        (_, vs_next), _, kept = real(t, fn, lambda: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype),
                                                                  jax.eval_shape(fn)))
        return vs_next, kept

    def segment(carry, j):
        g_vs, g_params, g_inputs, wrong = carry
        start = j * k
        anchor = v0 if anchors is None else read_slot(anchors, j - 1, v0)
        vs_end, kept = lax.scan(lambda vs, i: keep(vs, start + i), anchor, jnp.arange(k))

        def rebuild(t, vs):
            return cfg.step.rebuild(params, consts, input_at(cfg, inputs, t), vs,
                                    jax.tree.map(lambda a: a[t - start], kept))

        def back(carry, i):
            t = start + i

            def step_back():
                vs_prev, record, g_vs, g_params, g_inputs = carry
                fn = lambda p, x, v: cfg.step.replay(p, consts, x, v, record)   # noqa: E731
                g_p, g_x, g_v = step_vjp(cfg, wrt, fn, params, input_at(cfg, inputs, t), vs_prev,
                                         jax.tree.map(lambda g: g[t], g_outs), g_vs)
                later = after(vs_prev, g_v)
                vs_before, record_before = lax.cond(i > 0, lambda: rebuild(jnp.maximum(t - 1, start), later),
                                                    lambda: (later, record))
                return (vs_before, record_before, g_v, jax.tree.map(jnp.add, g_params, g_p),
                        accumulate(cfg, wrt, g_inputs, g_x, t))

            return real(t, step_back, lambda: carry), None

        last = jnp.minimum(start + k, T) - 1
        vs_prev, record = rebuild(last, vs_end)
        walked = lax.scan(back, (vs_prev, record, g_vs, g_params, g_inputs), jnp.arange(k), reverse=True)[0]
        rebuilt_start, _, g_vs, g_params, g_inputs = walked
        miss = _mismatches(cfg, rebuilt_start, v0_given)[0] if anchors is None else \
            lax.cond(j == 0, lambda: _mismatches(cfg, rebuilt_start, v0_given)[0],
                     lambda: sum(jnp.sum(a != b) for a, b in zip(jax.tree.leaves(rebuilt_start),
                                                                 jax.tree.leaves(anchor))))
        return (g_vs, g_params, g_inputs, wrong + miss), None

    carry = (g_vlast, accumulators(params, (v_last, g_outs)), input_carry(wrt, inputs, (v_last, g_outs)),
             jnp.zeros((), jnp.int32))
    g_v0, g_params, g_inputs, wrong = lax.scan(segment, carry, jnp.arange(n), reverse=True)[0]
    result = loop_cotangents(wrt, g_params, g_inputs, g_v0)
    if not cfg.step.exact:
        return result
    return _nan_unless(wrong, sum(a.size for a in jax.tree.leaves(v0)) * n, result)


segmented_reverse_loop.defvjp(_segmented_fwd, _segmented_bwd, symbolic_zeros=True)
