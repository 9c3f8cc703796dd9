"""Checkpoint schedules for reversing the time loop: which potentials to keep, and what to recompute, given ``s``
slots. Pure Python and numpy: a schedule is computed once per (T, s) at trace time and handed to
:mod:`revsnn_jax.time_loop` as small integer tables, which ``lax`` loops walk (nothing is unrolled over T).

The **binomial** schedule (Griewank 1992, *revolve*) is optimal for a known T: with ``s`` slots it reverses up to
:math:`\\binom{s+r}{s}` steps recomputing each step at most ``r`` times, so the recomputation grows like
:math:`\\log T` for a fixed memory instead of :math:`\\sqrt T` (``anchored+low_memory``). Positions count states:
state ``p`` is the potentials before step ``p`` (state 0 is ``v0``, always available).

The cost model is the time loop's, not the classical one: the forward pass runs all T steps anyway (the outputs
are needed) and may store states into slots as it passes them, free. So two optimal costs are computed:

``reverse_cost(n, s)``  forward steps to take the VJPs of ``n`` steps backwards, starting from a loaded state, with
                        ``s`` free slots: 0 if ``n == 1``; :math:`n(n-1)/2` if ``s == 0``; otherwise the least over
                        the first split ``j`` of ``j + reverse_cost(n - j, s - 1) + reverse_cost(j, s)`` (advance
                        ``j`` steps and store; reverse the rest with one slot fewer; then the first ``j``).
``backward_cost(n, s)`` the same after the forward pass stored its states free: the least over ``j`` of
                        ``backward_cost(n - j, s - 1) + reverse_cost(j, s)``.

Both are dynamic programmes over every split point (vectorised over ``j``): exact optima of this family of
schedules, which contains the binomial one. ``tests/test_schedules.py`` checks them against a brute-force
recursion, against Griewank's closed form, and by simulating the tables (every VJP gets the right state, never
more than ``s`` slots). We compute the schedule ourselves rather than take it from ``checkpoint_schedules`` or
``pyrevolve``: their cost model charges the first forward sweep, which here is free, the tables are 60 lines, and
the core stays free of dependencies.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np


def default_slots(timesteps: int) -> int:
    """The slots ``anchored+low_memory`` keeps at T (its anchors: ``ceil(T / ceil(sqrt T)) - 1``), so that the
    binomial schedule holds the same memory by default."""
    k = max(1, math.ceil(math.sqrt(timesteps)))
    n = -(-timesteps // k)
    return n - 1


@functools.lru_cache(maxsize=64)
def _tables(timesteps: int, slots: int):
    """``(reverse_cost, reverse_split, backward_cost, backward_split)``, each ``[slots + 1, T + 1]`` (index n)."""
    T = timesteps
    big = np.iinfo(np.int64).max // 4
    rc = np.full((slots + 1, T + 1), big, np.int64)
    rj = np.zeros((slots + 1, T + 1), np.int64)
    ls = np.arange(T + 1)
    rc[0] = ls * (ls - 1) // 2
    rc[:, 1] = 0
    for s in range(1, slots + 1):
        for n in range(2, T + 1):
            j = np.arange(1, n)
            cost = j + rc[s - 1, n - j] + rc[s, j]
            best = int(np.argmin(cost))
            rc[s, n], rj[s, n] = cost[best], j[best]
    bc, bj = rc.copy(), np.zeros_like(rj)
    for s in range(1, slots + 1):
        for n in range(2, T + 1):
            j = np.arange(1, n)
            cost = bc[s - 1, n - j] + rc[s, j]
            best = int(np.argmin(cost))
            bc[s, n], bj[s, n] = cost[best], j[best]
    for a in (rc, rj, bc, bj):
        a.setflags(write=False)
    return rc, rj, bc, bj


def reverse_cost(length: int, slots: int) -> int:
    """Least forward steps to reverse ``length`` steps from a loaded state with ``slots`` free slots."""
    return int(_tables(length, slots)[0][slots, length])


def backward_cost(timesteps: int, slots: int) -> int:
    """Least forward steps the backward of the time loop recomputes (the forward pass having stored its slots)."""
    return int(_tables(timesteps, slots)[2][slots, timesteps])


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A reversal schedule as integer tables (numpy, read-only), for ``T`` steps and ``slots`` slots.

    Attributes:
      forward_store: ``[T]``: the slot the forward pass writes state ``t`` into before step ``t``, or -1.
      source: ``[T]``: for the VJP of step ``t``, the slot its episode starts from (-1: ``v0``).
      source_pos: ``[T]``: the state that slot holds.
      stores: ``[T]``: how many states the episode stores on its way to ``t``.
      store_pos, store_slot: ``[T, max(1, slots)]``: where (state) and into which slot, in order.
      recomputed: forward steps the backward runs in all (besides one inside each step's VJP).
    """

    timesteps: int
    slots: int
    forward_store: np.ndarray
    source: np.ndarray
    source_pos: np.ndarray
    stores: np.ndarray
    store_pos: np.ndarray
    store_slot: np.ndarray
    recomputed: int


@functools.lru_cache(maxsize=64)
def binomial(timesteps: int, slots: int) -> Schedule:
    """The optimal schedule for ``timesteps`` steps with ``slots`` slots (see the module docstring)."""
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be an integer >= 1, got {timesteps!r}")
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 0:
        raise ValueError(f"slots must be an integer >= 0, got {slots!r}")
    slots = min(slots, timesteps - 1)      # more slots than states to keep are never used
    T, width = timesteps, max(1, slots)
    rc, rj, bc, bj = _tables(T, slots)
    forward_store = np.full(T, -1, np.int32)
    source, source_pos, stores = (np.zeros(T, np.int32) for _ in range(3))
    store_pos, store_slot = np.zeros((T, width), np.int32), np.zeros((T, width), np.int32)
    pending: list[tuple[int, int]] = []     # stores made since the episode's load
    slot_of = {0: -1}                       # state -> slot holding it (v0: -1)
    count = [0]

    def vjp(t: int, loaded: int) -> None:
        source[t], source_pos[t], stores[t] = slot_of[loaded], loaded, len(pending)
        for m, (pos, slot) in enumerate(pending):
            store_pos[t, m], store_slot[t, m] = pos, slot
        count[0] += t - loaded              # the episode walks loaded -> stores -> t
        pending.clear()

    def reverse(n: int, p: int, s: int, loaded: int) -> None:
        """Steps p .. p+n-1 backwards; state p is current (reached from ``loaded`` through ``pending``)."""
        if n == 1:
            return vjp(p, loaded)
        if s == 0:
            vjp(p + n - 1, loaded)
            for t in range(p + n - 2, p - 1, -1):
                vjp(t, p)
            return
        j = int(rj[s, n])
        slot = slots - s
        pending.append((p + j, slot))
        slot_of[p + j] = slot
        reverse(n - j, p + j, s - 1, loaded)
        del slot_of[p + j]
        reverse(j, p, s, p)

    def first(n: int, p: int, s: int) -> None:
        """The forward pass reached state p (stored in a slot, or v0) for free."""
        if n == 1 or s == 0:
            return reverse(n, p, s, p)
        j = int(bj[s, n])
        slot = slots - s
        forward_store[p + j] = slot
        slot_of[p + j] = slot
        first(n - j, p + j, s - 1)
        del slot_of[p + j]
        reverse(j, p, s, p)

    first(T, 0, slots)
    assert count[0] == bc[slots, T], (count[0], bc[slots, T])
    tables = [forward_store, source, source_pos, stores, store_pos, store_slot]
    for a in tables:
        a.setflags(write=False)
    return Schedule(T, slots, *tables, recomputed=count[0])
