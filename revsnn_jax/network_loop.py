"""The time loop of a whole network: one ``lax.scan`` over timesteps whose body is the network step.

``step_fn(params, consts, x_t, vs) -> ((out_t, vs_next), aux_t)`` is a pure function: ``params`` are
differentiated, ``consts`` are not (running statistics, say), ``vs`` is the pytree of every neuron layer's membrane
potential, ``aux_t`` is returned but never differentiated (per-step batch statistics). :func:`run_time_loop`
runs it for ``T`` steps under one of three gradient rules:

``plain``      autodiff through the scan: every step's residuals of every layer are stored (BPTT).
``remat``      ``jax.checkpoint`` of the step: every step's ``vs`` is stored, the rest recomputed.
``anchored``   one ``jax.custom_vjp`` over the whole loop. The forward keeps only ``vs`` at the start of every
               ``k``-step segment (anchors); the backward recomputes one segment of ``vs`` forward from its anchor,
               then walks it backwards taking one ``jax.vjp`` of the network step per timestep. Memory:
               ``ceil(T/k) - 1`` anchors plus ``k - 1`` kept potentials plus one step's working set, instead of
               ``T`` steps of residuals; gradients equal BPTT's to rounding. ``k`` defaults to ``ceil(sqrt(T))``.
               ``low_memory`` keeps no segment (recomputes from the anchor at every step). ``replay`` (a pair
               of functions, below) keeps what the segment's recompute computed besides the potentials (the
               convolution outputs of a network) and hands it to the per-step VJP, which then runs no convolution
               forward again: one forward pass less per step, for a second record of the segment.

Pure JAX: imports nothing from Flax.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax

from revsnn_jax.strategies import default_anchor_every

LOOP_MODES = ("plain", "remat", "anchored")


@dataclasses.dataclass(frozen=True)
class _Loop:
    step_fn: Callable
    timesteps: int
    sequence_input: bool
    anchor_every: int
    low_memory: bool = False
    replay: tuple[Callable, Callable] | None = None


def _input_at(cfg: _Loop, inputs, t):
    return jax.tree.map(lambda a: a[t], inputs) if cfg.sequence_input else inputs


def run_time_loop(step_fn: Callable, params: Any, consts: Any, inputs: Any, v0: Any, *, timesteps: int,
                  sequence_input: bool, mode: str = "plain", anchor_every: int | None = None,
                  low_memory: bool = False, replay: tuple[Callable, Callable] | None = None):
    """Runs ``step_fn`` for ``timesteps`` steps. Returns ``(outs, auxs, v_last)`` with outs/auxs stacked on T.

    Args:
      inputs: a pytree; ``inputs[t]`` at step t when ``sequence_input`` (time-major), else the same every step
        (direct encoding of a static image).
      mode: one of :data:`LOOP_MODES`.
      anchor_every: ``k`` for ``anchored`` (default ``ceil(sqrt(T))``).
      low_memory: for ``anchored``, recompute each step's potentials from the segment's anchor instead of keeping
        the segment: ``k - 1`` fewer copies of the potentials for ``(k - 1)/2`` extra network steps per step.
      replay: for ``anchored`` without ``low_memory``: ``(record_fn, replay_fn)`` with
        ``record_fn(params, consts, x_t, vs) -> (vs_next, record)`` (the step's forward, also returning what the
        backward may reuse) and ``replay_fn(params, consts, x_t, vs, record)``, equal to ``step_fn`` in value and
        gradient but reading ``record`` instead of recomputing it.
    """
    if mode not in LOOP_MODES:
        raise ValueError(f"unknown loop mode {mode!r}; valid: {', '.join(LOOP_MODES)}")
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got {timesteps}")
    k = default_anchor_every(timesteps) if anchor_every is None else anchor_every
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"anchor_every must be a positive integer, got {anchor_every!r}")
    if replay is not None and (mode != "anchored" or low_memory):
        raise ValueError("replay applies to the anchored loop without low_memory")
    cfg = _Loop(step_fn, timesteps, sequence_input, k, low_memory, replay)
    if mode == "anchored":
        return _anchored_loop(cfg, params, consts, inputs, v0)

    def body(vs, t):
        (out, vs_next), aux = step_fn(params, consts, _input_at(cfg, inputs, t), vs)
        return vs_next, (out, aux)

    if mode == "remat":
        body = jax.checkpoint(body)
    v_last, (outs, auxs) = lax.scan(body, v0, jnp.arange(timesteps))
    return outs, auxs, v_last


def segment_plan(timesteps: int, anchor_every: int) -> tuple[int, int]:
    """``(n, k)``: ``n`` segments of ``k`` steps covering T with under ``n`` padding steps (``k <= anchor_every``)."""
    n = -(-timesteps // anchor_every)
    return n, -(-timesteps // n)


def _on_real_step(cfg: _Loop, t, fn: Callable, padding_value: Callable):
    """``fn()`` on a step ``t < T``; on a padding step past T (the end of the last segment) nothing runs and the
    result is ``padding_value()``. A ``lax.cond``, so padding costs no network step; no cond without padding."""
    n, k = segment_plan(cfg.timesteps, cfg.anchor_every)
    if n * k == cfg.timesteps:
        return fn()
    return lax.cond(t < cfg.timesteps, fn, padding_value)


def _zeros_like_result(fn: Callable):
    """Zeros shaped like ``fn()``'s result, without running it."""
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(fn))


def _forward(cfg: _Loop, params, consts, inputs, v0):
    """``n`` segments of ``k`` steps (the last may end in padding). Returns the anchors too: the potentials at the
    start of segments ``1 .. n-1`` (segment 0 starts from ``v0``), stacked."""
    n, k = segment_plan(cfg.timesteps, cfg.anchor_every)

    def segment(carry, j):
        vs, anchors = carry
        if anchors is not None:   # slot j-1 <- start of segment j (slot 0 briefly holds v0, then is overwritten)
            anchors = jax.tree.map(lambda a, v: lax.dynamic_update_index_in_dim(a, v, jnp.maximum(j - 1, 0), 0),
                                   anchors, vs)

        def body(vs, i):
            t = j * k + i

            def real():
                (out, vs_next), aux = cfg.step_fn(params, consts, _input_at(cfg, inputs, t), vs)
                return vs_next, (out, aux)

            return _on_real_step(cfg, t, real, lambda: (vs, _zeros_like_result(real)[1]))

        vs, (outs, auxs) = lax.scan(body, vs, jnp.arange(k))
        return (vs, anchors), (outs, auxs)

    anchors = jax.tree.map(lambda v: jnp.zeros((n - 1,) + v.shape, v.dtype), v0) if n > 1 else None
    (v_last, anchors), (outs, auxs) = lax.scan(segment, (v0, anchors), jnp.arange(n))
    first_t = lambda a: a.reshape((n * k,) + a.shape[2:])[:cfg.timesteps]  # noqa: E731
    return first_t(outs), jax.tree.map(first_t, auxs), v_last, anchors


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _anchored_loop(cfg: _Loop, params, consts, inputs, v0):
    outs, auxs, v_last, _ = _forward(cfg, params, consts, inputs, v0)
    return outs, auxs, v_last


def _anchored_fwd(cfg: _Loop, params, consts, inputs, v0):
    outs, auxs, v_last, anchors = _forward(cfg, params, consts, inputs, v0)
    return (outs, auxs, v_last), (params, consts, inputs, v0, anchors)


def _anchored_bwd(cfg: _Loop, saved, cotangents):
    params, consts, inputs, v0, anchors = saved
    g_outs, _, g_vlast = cotangents          # aux outputs are never differentiated
    n, k = segment_plan(cfg.timesteps, cfg.anchor_every)
    zeros = lambda tree: jax.tree.map(jnp.zeros_like, tree)  # noqa: E731

    def step_forward(t, vs):
        return cfg.step_fn(params, consts, _input_at(cfg, inputs, t), vs)[0][1]

    def step_backward(carry, t, vs_prev, record=None):
        """The VJP of step ``t`` (``t < T``) accumulated into ``carry``."""
        g_vs, g_params, g_inputs = carry
        if record is None:
            step = lambda p, x, v: cfg.step_fn(p, consts, x, v)   # noqa: E731
        else:
            step = lambda p, x, v: cfg.replay[1](p, consts, x, v, record)   # noqa: E731
        _, vjp, _ = jax.vjp(step, params, _input_at(cfg, inputs, t), vs_prev, has_aux=True)
        g_p, g_x, g_v = vjp((jax.tree.map(lambda g: g[t], g_outs), g_vs))
        g_params = jax.tree.map(jnp.add, g_params, g_p)
        if cfg.sequence_input:
            g_inputs = jax.tree.map(lambda acc, g: lax.dynamic_update_index_in_dim(acc, g, t, 0), g_inputs, g_x)
        else:
            g_inputs = jax.tree.map(jnp.add, g_inputs, g_x)
        return g_v, g_params, g_inputs

    def pick(first, rest, i):
        """``first`` if ``i == 0`` else ``rest[i - 1]``: a select inside the loop body, so the first element is not
        stored twice."""
        return jax.tree.map(lambda f, r: jnp.where(i == 0, f, r[jnp.maximum(i - 1, 0)]), first, rest)

    def segment(carry, j):
        """Steps of segment j backwards. The potentials before step ``jk+i`` are recomputed forward from the
        anchor: once for the whole segment (``k - 1`` copies kept), or per step (``low_memory``: none kept,
        ``i`` extra forward steps)."""
        anchor = v0 if anchors is None else pick(v0, anchors, j)
        start = j * k
        if cfg.replay is not None:
            def record(vs, i):   # a padding step records too (unused): a cond here costs a copy of the records
                t = jnp.minimum(start + i, cfg.timesteps - 1)
                vs_next, rec = cfg.replay[0](params, consts, _input_at(cfg, inputs, t), vs)
                return vs_next, (vs, rec)

            _, (kept, records) = lax.scan(record, anchor, jnp.arange(k))   # potentials before, record of, each step

            def backward(carry, i):
                at = lambda a: a[i]   # noqa: E731
                return step_backward(carry, start + i, jax.tree.map(at, kept), jax.tree.map(at, records))
        elif cfg.low_memory or k == 1:
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

    carry = (g_vlast, zeros(params), zeros(inputs))
    g_v0, g_params, g_inputs = lax.scan(segment, carry, jnp.arange(n), reverse=True)[0]
    return g_params, zeros(consts), g_inputs, g_v0


_anchored_loop.defvjp(_anchored_fwd, _anchored_bwd)
