"""The anchored loop: potentials kept every k steps, segments recomputed from them in the backward."""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

from revsnn_jax.time_loop.common import (Loop, accumulate, accumulators, loop_cotangents, initial_state, input_at,
                                         input_carry, instantiate, step_vjp, unwrap_args)


def segment_plan(timesteps: int, anchor_every: int) -> tuple[int, int]:
    """``(n, k)``: ``n`` segments of ``k`` steps covering T with under ``n`` padding steps (``k <= anchor_every``)."""
    n = -(-timesteps // anchor_every)
    return n, -(-timesteps // n)


def _on_real_step(cfg: Loop, t, fn: Callable, padding_value: Callable):
    """``fn()`` on a step ``t < T``; on a padding step past T (the end of the last segment) nothing runs and the
    result is ``padding_value()``. A ``lax.cond``, so padding costs no network step; no cond without padding."""
    n, k = segment_plan(cfg.timesteps, cfg.anchor_every)
    if n * k == cfg.timesteps:
        return fn()
    return lax.cond(t < cfg.timesteps, fn, padding_value)


def _zeros_like_result(fn: Callable):
    """Zeros shaped like ``fn()``'s result, without running it."""
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(fn))


def _anchored_forward(cfg: Loop, params, consts, inputs, v0):
    """``n`` segments of ``k`` steps (the last may end in padding). Returns the anchors too: the potentials at the
    start of segments ``1 .. n-1`` (segment 0 starts from ``v0``), stacked. Each real step's outputs are written in
    place into ``[T, ...]`` buffers (stacked scan outputs of a padded plan would be sliced: a copy of all of them)."""
    n, k = segment_plan(cfg.timesteps, cfg.anchor_every)
    v0 = initial_state(cfg, v0)

    def step_at(t, vs):
        (out, vs_next), aux = cfg.step.apply(params, consts, input_at(cfg, inputs, t), vs)
        return vs_next, (out, aux)

    _, first = jax.eval_shape(lambda: step_at(0, v0))
    buffers = jax.tree.map(lambda s: jnp.zeros((cfg.timesteps,) + s.shape, s.dtype), first)

    def segment(carry, j):
        vs, anchors, buffers = carry
        if anchors is not None:   # slot j-1 <- start of segment j (slot 0 briefly holds v0, then is overwritten)
            anchors = jax.tree.map(lambda a, v: lax.dynamic_update_index_in_dim(a, v, jnp.maximum(j - 1, 0), 0),
                                   anchors, vs)

        def body(carry, i):
            t = j * k + i

            def real():
                vs, buffers = carry
                vs_next, result = step_at(t, vs)
                return vs_next, jax.tree.map(lambda b, r: lax.dynamic_update_index_in_dim(b, r, t, 0), buffers,
                                             result)

            return _on_real_step(cfg, t, real, lambda: carry), None

        (vs, buffers), _ = lax.scan(body, (vs, buffers), jnp.arange(k))
        return (vs, anchors, buffers), None

    anchors = jax.tree.map(lambda v: jnp.zeros((n - 1,) + v.shape, v.dtype), v0) if n > 1 else None
    (v_last, anchors, (outs, auxs)), _ = lax.scan(segment, (v0, anchors, buffers), jnp.arange(n))
    return outs, auxs, v_last, anchors


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def anchored_loop(cfg: Loop, params, consts, inputs, v0):
    outs, auxs, v_last, _ = _anchored_forward(cfg, params, consts, inputs, v0)
    return outs, auxs, v_last


def _anchored_fwd(cfg: Loop, params, consts, inputs, v0):
    wrt, params, consts, inputs, v0 = unwrap_args(params, consts, inputs, v0)
    outs, auxs, v_last, anchors = _anchored_forward(cfg, params, consts, inputs, v0)
    return (outs, auxs, v_last), (wrt, params, consts, inputs, v0, anchors, v_last)


def _anchored_bwd(cfg: Loop, saved, cotangents):
    wrt, params, consts, inputs, v0, anchors, v_last = saved   # v_last only to order the accumulators' zeros
    v0 = initial_state(cfg, v0)
    g_outs, _, g_vlast = cotangents          # aux outputs are never differentiated
    g_outs, g_vlast = instantiate(g_outs), instantiate(g_vlast)
    n, k = segment_plan(cfg.timesteps, cfg.anchor_every)

    def step_forward(t, vs):
        return cfg.step.apply(params, consts, input_at(cfg, inputs, t), vs)[0][1]

    def step_backward(carry, t, vs_prev, record=None):
        """The VJP of step ``t`` (``t < T``) accumulated into ``carry``."""
        g_vs, g_params, g_inputs = carry
        if record is None:
            fn = lambda p, x, v: cfg.step.apply(p, consts, x, v)   # noqa: E731
        else:
            fn = lambda p, x, v: cfg.step.replay(p, consts, x, v, record)   # noqa: E731
        g_p, g_x, g_v = step_vjp(cfg, wrt, fn, params, input_at(cfg, inputs, t), vs_prev,
                                  jax.tree.map(lambda g: g[t], g_outs), g_vs)
        return g_v, jax.tree.map(jnp.add, g_params, g_p), accumulate(cfg, wrt, g_inputs, g_x, t)

    def pick(first, rest, i):
        """``first`` if ``i == 0`` else ``rest[i - 1]``: a select inside the loop body, so the first element is not
        stored twice."""
        return jax.tree.map(lambda f, r: jnp.where(i == 0, f, r[jnp.maximum(i - 1, 0)]), first, rest)

    def segment(carry, j):
        """Steps of segment j backwards. The potentials before step ``jk+i`` are recomputed forward from the
        anchor: once for the whole segment (``k - 1`` copies kept), or per step (``recompute``: none kept,
        ``i`` extra forward steps)."""
        anchor = v0 if anchors is None else pick(v0, anchors, j)
        start = j * k
        if cfg.segment == "replay":
            def record(vs, i):   # a padding step records too (unused): a cond here costs a copy of the records
                t = jnp.minimum(start + i, cfg.timesteps - 1)
                vs_next, rec = cfg.step.record(params, consts, input_at(cfg, inputs, t), vs)
                return vs_next, (vs, rec)

            _, (kept, records) = lax.scan(record, anchor, jnp.arange(k))   # potentials before, record of, each step

            def backward(carry, i):
                at = lambda a: a[i]   # noqa: E731
                return step_backward(carry, start + i, jax.tree.map(at, kept), jax.tree.map(at, records))
        elif cfg.segment == "recompute" or k == 1:
            def backward(carry, i):
                vs_prev = lax.fori_loop(0, i, lambda s, vs: step_forward(start + s, vs), anchor)
                return step_backward(carry, start + i, vs_prev)
        else:
            def recompute(vs, i):   # potentials before steps 1 .. k-1 (none needed past T)
                vs_next = _on_real_step(cfg, start + i + 1, lambda: step_forward(start + i, vs), lambda: vs)
                return vs_next, vs_next

            _, kept = lax.scan(recompute, anchor, jnp.arange(k - 1))

            def backward(carry, i):
                return step_backward(carry, start + i, pick(anchor, kept, i))

        def body(carry, i):
            return _on_real_step(cfg, start + i, lambda: backward(carry, i), lambda: carry), None

        return lax.scan(body, carry, jnp.arange(k), reverse=True)[0], None

    carry = (g_vlast, accumulators(params, (v_last, g_outs)), input_carry(wrt, inputs, (v_last, g_outs)))
    g_v0, g_params, g_inputs = lax.scan(segment, carry, jnp.arange(n), reverse=True)[0]
    return loop_cotangents(wrt, g_params, g_inputs, g_v0)


anchored_loop.defvjp(_anchored_fwd, _anchored_bwd, symbolic_zeros=True)

