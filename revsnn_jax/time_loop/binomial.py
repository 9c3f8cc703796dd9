"""The anchored loop with the binomial schedule: ``S`` kept potentials placed where
:func:`revsnn_jax.schedules.binomial` says, instead of every k steps.

The schedule arrives as integer tables; nothing is unrolled over T. The forward is one ``lax.scan`` over the
steps that writes state ``t`` into slot ``forward_store[t]`` of an ``[S, ...]`` buffer as it passes (a select, so
every step runs the same code). The backward is one reversed ``lax.scan`` over the steps; the iteration for step
``t`` is one *episode* of the schedule: load the source slot (or ``v0``), walk forward storing the states the
table lists into their slots (a ``fori_loop`` over the stores, each a ``fori_loop`` of forward steps with traced
bounds), walk on to state ``t``, and take step ``t``'s VJP there.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from revsnn_jax import schedules
from revsnn_jax.time_loop.common import (Loop, accumulate, accumulators, loop_cotangents, forward_with_slots,
                                         initial_state, input_at, input_carry, instantiate, read_slot, step_vjp,
                                         unwrap_args, write_slot)


def _schedule(cfg: Loop) -> schedules.Schedule:
    return schedules.binomial(cfg.timesteps, cfg.slots)


def _forward(cfg: Loop, params, consts, inputs, v0):
    schedule = _schedule(cfg)
    return forward_with_slots(cfg, params, consts, inputs, v0, schedule.forward_store, schedule.slots)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def binomial_loop(cfg: Loop, params, consts, inputs, v0):
    outs, auxs, v_last, _ = _forward(cfg, params, consts, inputs, v0)
    return outs, auxs, v_last


def _fwd(cfg: Loop, params, consts, inputs, v0):
    wrt, params, consts, inputs, v0 = unwrap_args(params, consts, inputs, v0)
    outs, auxs, v_last, slots = _forward(cfg, params, consts, inputs, v0)
    return (outs, auxs, v_last), (wrt, params, consts, inputs, v0, slots, v_last)


def _bwd(cfg: Loop, saved, cts):
    wrt, params, consts, inputs, v0, slots, v_last = saved    # v_last only to order the accumulators' zeros
    schedule = _schedule(cfg)
    source, source_pos, stores, store_pos, store_slot = (jnp.asarray(a) for a in (
        schedule.source, schedule.source_pos, schedule.stores, schedule.store_pos, schedule.store_slot))
    v0 = initial_state(cfg, v0)
    g_outs, _, g_vlast = cts          # aux outputs are never differentiated
    g_outs, g_vlast = instantiate(g_outs), instantiate(g_vlast)

    def advance(vs, start, stop):
        """State ``stop`` from state ``start`` (``stop - start`` forward steps; traced bounds)."""
        start, stop = jnp.asarray(start, jnp.int32), jnp.asarray(stop, jnp.int32)
        return lax.fori_loop(start, stop, lambda s, vs: cfg.step.apply(params, consts, input_at(cfg, inputs, s),
                                                                        vs)[0][1], vs)

    def episode(carry, t):
        g_vs, g_params, g_inputs, slots = carry
        if slots is None:
            vs, pos = v0, 0
        else:
            vs = read_slot(slots, source[t], v0)
            pos = source_pos[t]

            def store(m, state):
                vs, pos, slots = state
                vs = advance(vs, pos, store_pos[t, m])
                return vs, store_pos[t, m], write_slot(slots, store_slot[t, m], vs)

            vs, pos, slots = lax.fori_loop(0, stores[t], store, (vs, pos, slots))
        vs = advance(vs, pos, t)
        fn = lambda p, x, v: cfg.step.apply(p, consts, x, v)   # noqa: E731
        g_p, g_x, g_v = step_vjp(cfg, wrt, fn, params, input_at(cfg, inputs, t), vs,
                                 jax.tree.map(lambda g: g[t], g_outs), g_vs)
        return (g_v, jax.tree.map(jnp.add, g_params, g_p), accumulate(cfg, wrt, g_inputs, g_x, t), slots), None

    carry = (g_vlast, accumulators(params, (v_last, g_outs)), input_carry(wrt, inputs, (v_last, g_outs)), slots)
    g_v0, g_params, g_inputs, _ = lax.scan(episode, carry, jnp.arange(cfg.timesteps), reverse=True)[0]
    return loop_cotangents(wrt, g_params, g_inputs, g_v0)


binomial_loop.defvjp(_fwd, _bwd, symbolic_zeros=True)
