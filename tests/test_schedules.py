"""The binomial checkpoint schedule: optimal against a brute-force search, equal to Griewank's closed form, and
valid when its tables are executed (every VJP gets the state it needs, never more than s slots)."""

from __future__ import annotations

import functools
import math

import pytest

from revsnn_jax import schedules


@functools.lru_cache(maxsize=None)
def brute_reverse(n: int, s: int) -> int:
    """Least forward steps to reverse n steps from a loaded state with s free slots, by trying every schedule of
    the recursive family: take the next VJP from the loaded state with no store, or store after any j steps."""
    if n == 1:
        return 0
    options = [(n - 1) + brute_reverse(n - 1, s)]          # no store: walk to the last step, then the rest
    if s:
        options += [j + brute_reverse(n - j, s - 1) + brute_reverse(j, s) for j in range(1, n)]
    return min(options)


@functools.lru_cache(maxsize=None)
def brute_backward(n: int, s: int) -> int:
    """The same when the forward pass walked past every state for free (it may store any of them)."""
    if n == 1:
        return 0
    options = [brute_reverse(n, s)]
    if s:
        options += [brute_backward(n - j, s - 1) + brute_reverse(j, s) for j in range(1, n)]
    return min(options)


def simulate(schedule: schedules.Schedule) -> int:
    """Executes the tables as the time loop does; returns the forward steps run. Asserts that each VJP of step t
    starts from state t, that a slot is only read after it was written with the state the table says, and that
    slots stay within range."""
    T, s = schedule.timesteps, schedule.slots
    slots: dict[int, int] = {}
    for t in range(T):                                   # the forward pass: stores are free
        slot = int(schedule.forward_store[t])
        if slot >= 0:
            assert 0 <= slot < s
            slots[slot] = t
    steps = 0
    for t in range(T - 1, -1, -1):
        src, pos = int(schedule.source[t]), int(schedule.source_pos[t])
        assert (pos == 0) if src < 0 else (slots.get(src) == pos), (t, src, pos, slots)
        for m in range(int(schedule.stores[t])):
            target, slot = int(schedule.store_pos[t, m]), int(schedule.store_slot[t, m])
            assert pos < target <= t and 0 <= slot < s
            steps += target - pos
            pos = slots[slot] = target
        assert pos <= t
        steps += t - pos
    return steps


@pytest.mark.parametrize("slots", range(0, 7))
def test_schedule_is_optimal_and_valid_for_every_small_case(slots):
    for T in range(1, 41):
        schedule = schedules.binomial(T, slots)
        assert simulate(schedule) == schedule.recomputed == brute_backward(T, min(slots, T - 1)), (T, slots)
        assert schedules.reverse_cost(T, slots) == brute_reverse(T, slots)


def test_reverse_cost_is_griewanks_closed_form():
    """Griewank's revolve with c checkpoints (the loaded state counts as one: c = s + 1) and at most r
    recomputations of a step reverses n steps in r*n - C(c+r, c+1) forward steps (first sweep included), where r is
    the least with C(c+r, c) >= n."""
    costs = schedules._tables(300, 7)[0]          # [s, n]: one table for every case
    for s in range(0, 8):
        c = s + 1
        for n in range(1, 300):
            r = next(r for r in range(n + 1) if math.comb(c + r, c) >= n)
            assert costs[s, n] == r * n - math.comb(c + r, c + 1), (n, s)


def test_more_slots_never_cost_more_and_default_matches_low_memory():
    costs = [schedules.backward_cost(200, s) for s in range(0, 20)]
    assert all(a >= b for a, b in zip(costs, costs[1:]))
    assert schedules.default_slots(200) == 13 and schedules.default_slots(20) == 3
    # at low_memory's anchor count the binomial schedule recomputes far less than low_memory's (k-1)/2 per step
    assert schedules.backward_cost(200, 13) / 200 < 1.5 < (15 - 1) / 2


def test_large_t_is_fast_and_not_recursive_in_t():
    schedule = schedules.binomial(1000, 31)
    assert simulate(schedule) == schedule.recomputed


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_arguments_are_one_line_errors(bad):
    with pytest.raises(ValueError, match="timesteps"):
        schedules.binomial(bad, 2)
    with pytest.raises(ValueError, match="slots"):
        schedules.binomial(5, -1)
