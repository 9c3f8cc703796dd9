"""One interleaved timer for every benchmark: configurations take turns, medians are reported.

Wall-clock seconds on a shared CPU drift with load; taking turns inside each round makes every configuration see
the same drift, so ratios of medians measured in one call are meaningful even where the seconds are not.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import jax


def interleaved(runs: dict[str, Callable[[], dict[str, float]]], repeats: int, warmup: int = 1,
                progress: Callable[[str], None] | None = None) -> dict[str, dict[str, float]]:
    """``{label: run}`` where ``run()`` does one iteration and returns its phases' seconds; returns each phase's
    median per label. Labels take turns within every round; the first ``warmup`` rounds are not counted."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    samples: dict[str, dict[str, list]] = {label: {} for label in runs}
    for r in range(warmup + repeats):
        for label, run in runs.items():
            phases = run()
            if r >= warmup:
                for phase, seconds in phases.items():
                    samples[label].setdefault(phase, []).append(seconds)
        if progress:
            progress(f"round {r + 1}/{warmup + repeats}")
    return {label: {phase: statistics.median(v) for phase, v in s.items()} for label, s in samples.items()}


def call(fn: Callable, *args) -> Callable[[], dict[str, float]]:
    """A run that times one call of ``fn(*args)``: ``{"seconds": ...}``."""
    def run():
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        return {"seconds": time.perf_counter() - t0}
    return run


def forward_backward(fwd: Callable, bwd: Callable, args: tuple, cotangent) -> Callable[[], dict[str, float]]:
    """A run that times ``fwd(*args) -> (out, vjp_fn)`` and ``bwd(vjp_fn, cotangent)`` apart:
    ``{"forward_s", "backward_s"}``."""
    def run():
        t0 = time.perf_counter()
        _, vjp_fn = jax.block_until_ready(fwd(*args))
        t1 = time.perf_counter()
        jax.block_until_ready(bwd(vjp_fn, cotangent))
        return {"forward_s": t1 - t0, "backward_s": time.perf_counter() - t1}
    return run
