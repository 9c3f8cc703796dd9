"""Choosing a strategy for a memory budget: compile the candidate schedules (no data, no training), measure each
one's memory, and pick the one with the least recomputation that fits.

What is measured is whatever ``measure(strategy)`` returns: the compiled memory of a training step (XLA's memory
analysis, temp plus arguments) on the backend it runs on. ``revsnn plan`` measures a model's step
(:func:`revsnn_jax.bench.planning.network_plan`); ``revsnn train --strategy auto --memory-budget`` measures the
run's own step (:func:`revsnn_jax.train.plan_run`). Compiles are cached on disk per (what, schedule), so a
second plan of the same shapes compiles nothing.

The cost a plan minimises is ``forward_steps``: the forward steps one training step's backward runs per timestep,
counting the step forward inside a rematerialised VJP (not for ``bptt``, whose VJP reads stored residuals, nor
for the loops that replay recorded convolutions). Memory breaks ties.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Callable, Sequence

from revsnn_jax import schedules
from revsnn_jax.errors import InputError
from revsnn_jax.strategies import Strategy
from revsnn_jax.time_loop import default_anchor_every, segment_plan

MARGIN = 0.1
"""The share of the budget a plan leaves free by default (allocator fragmentation, what XLA's analysis does not
see: the runtime, the input pipeline's buffers)."""
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6, "mib": 2**20,
          "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12, "tib": 2**40}


def parse_bytes(text: str | int) -> int:
    """``"4GiB"`` -> 4294967296 (also ``4G``, ``512MiB``, ``1.5GB``, plain bytes)."""
    if isinstance(text, int) and not isinstance(text, bool) and text > 0:
        return text
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS or float(m.group(1)) <= 0:
        raise InputError(f"a memory size is a positive number with an optional unit (4GiB, 512MiB, 2GB), got "
                         f"{text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def recompute_forwards(strategy: Strategy, timesteps: int) -> float:
    """Forward steps the backward recomputes per timestep, besides the one inside each step's VJP: 0 for bptt and
    checkpoint, ``(k-1)/k`` for the anchored segment recompute (``(k-1)/2`` with low_memory), the binomial
    schedule's total over T, 1 for reverse (the rebuild), 2 for segmented reverse (the segment's recompute too)."""
    if strategy.loop in ("bptt", "checkpoint"):
        return 0.0
    if strategy.loop == "reverse":
        return 2.0 if strategy.segment == "segmented" else 1.0
    if strategy.segment == "binomial":
        slots = schedules.default_slots(timesteps) if strategy.anchor_slots is None else strategy.anchor_slots
        return schedules.binomial(timesteps, slots).recomputed / timesteps
    n, k = segment_plan(timesteps, strategy.anchor_every or default_anchor_every(timesteps))
    return (k - 1) / 2 if strategy.segment == "recompute" else (k - 1) / k


def forward_steps(strategy: Strategy, timesteps: int) -> float:
    """:func:`recompute_forwards` plus the step forward a rematerialised VJP runs (none for bptt's stored
    residuals, nor where the VJP replays recorded convolutions: keep_convs and reverse)."""
    remat = strategy.loop != "bptt" and strategy.segment != "replay" and strategy.loop != "reverse"
    return recompute_forwards(strategy, timesteps) + remat


def candidates(neuron, timesteps: int) -> list[Strategy]:
    """The schedules a plan compares for ``neuron`` at T: bptt, checkpoint, anchored (kept, low_memory,
    keep_convs), binomial over a range of slot counts, and reverse and segmented reverse where the neuron has an
    exact inverse. The neuron gradient is the closed form where the neuron has one (the same numbers, faster)."""
    grad = "closed_form" if hasattr(neuron, "step_vjp") else "autodiff"
    out = [Strategy("bptt"), Strategy("checkpoint", grad)]
    if timesteps > 1:
        out += [Strategy("anchored", grad, segment=s) for s in ("replay", "keep", "recompute")]
        default = schedules.default_slots(timesteps)
        for slots in sorted({1, 2, max(1, default // 2), default, 2 * default, 4 * default}):
            if 1 <= slots < timesteps:
                out.append(Strategy("anchored", grad, segment="binomial", anchor_slots=slots))
    if getattr(neuron, "exact_inverse", False):
        out += [Strategy("reverse"), Strategy("reverse", segment="segmented")]
    return out


def describe(strategy: Strategy) -> str:
    """The label with its slot count, e.g. ``anchored+closed_form+binomial[slots=4]``."""
    return strategy.label + (f"[slots={strategy.anchor_slots}]" if strategy.anchor_slots is not None else "")


@dataclasses.dataclass(frozen=True)
class Plan:
    """The candidates measured, the Pareto front and the choice (``None`` when nothing fits)."""

    budget: int
    margin: float
    rows: list[dict]
    chosen: dict | None

    def as_json(self) -> dict:
        c = self.chosen or {}
        return {"config": c.get("config"), "strategy": c.get("label"), "anchor_slots": c.get("anchor_slots"),
                "temp_bytes": c.get("temp_bytes"), "total_bytes": c.get("total_bytes"), "budget_bytes": self.budget,
                "margin": self.margin, "candidates": self.rows}


def make_plan(strategies: Sequence[Strategy], measure: Callable[[Strategy], dict], timesteps: int, budget: int, *,
              margin: float = MARGIN, progress: Callable[[str], None] | None = None) -> Plan:
    """Measures every strategy (``measure`` returns ``{"temp_bytes", "argument_bytes"}``), marks the Pareto front
    of (memory, forward steps) and chooses the fewest forward steps among those whose temp plus argument bytes fit
    in ``budget * (1 - margin)``; a failing compile is reported in its row, not fatal."""
    if not 0 <= margin < 1:
        raise InputError(f"the margin is a share of the budget in [0, 1), got {margin}")
    rows = []
    for strategy in strategies:
        row = {"config": describe(strategy), "label": strategy.label, "anchor_slots": strategy.anchor_slots,
               "forward_steps": round(forward_steps(strategy, timesteps), 3)}
        try:
            stats = measure(strategy)
        except Exception as e:   # noqa: BLE001 - one candidate that does not compile must not end the plan
            row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        else:
            row.update(temp_bytes=int(stats["temp_bytes"]),
                       total_bytes=int(stats["temp_bytes"]) + int(stats.get("argument_bytes", 0)))
        rows.append(row)
        if progress:
            progress(f"{row['config']}: " + (row["error"] if "error" in row else
                                             f"{row['total_bytes'] / 2**20:,.0f} MiB, "
                                             f"{row['forward_steps']} forward steps per step"))
    measured = [r for r in rows if "error" not in r]
    for r in measured:
        r["pareto"] = not any(o is not r and o["total_bytes"] <= r["total_bytes"] and
                              o["forward_steps"] <= r["forward_steps"] and
                              (o["total_bytes"], o["forward_steps"]) != (r["total_bytes"], r["forward_steps"])
                              for o in measured)
        r["fits"] = r["total_bytes"] <= budget * (1 - margin)
    fitting = sorted((r for r in measured if r["fits"]), key=lambda r: (r["forward_steps"], r["total_bytes"]))
    return Plan(budget, margin, rows, fitting[0] if fitting else None)


def require_choice(plan: Plan) -> dict:
    """The chosen row, or a one-line InputError naming the least memory any candidate reached."""
    if plan.chosen is not None:
        return plan.chosen
    measured = [r for r in plan.rows if "error" not in r]
    if not measured:
        raise InputError("no candidate schedule compiled: " + "; ".join(f"{r['config']}: {r['error']}"
                                                                        for r in plan.rows))
    least = min(measured, key=lambda r: r["total_bytes"])
    raise InputError(f"no exact schedule fits in {plan.budget / 2**20:,.0f} MiB with a {plan.margin:.0%} margin: the "
                     f"least memory reachable is {least['total_bytes'] / 2**20:,.0f} MiB ({least['config']}); raise "
                     "the budget or lower the batch size, T or the input size")


def strategy_of(row: dict) -> Strategy:
    """The strategy a plan row names."""
    return Strategy.parse(row["label"], anchor_slots=row.get("anchor_slots"))


def cache_path() -> str:
    """Where compiled memory figures are cached: ``plans/memory.json`` in the data directory
    (``$REVSNN_DATA_DIR``, else ``~/.cache/revsnn_jax``)."""
    from revsnn_jax.data.cache import default_data_dir
    return os.path.join(default_data_dir(), "plans", "memory.json")


def backend_key() -> str:
    """What a compiled figure depends on besides the program: the jax version, the backend, the device count."""
    import jax
    return f"jax {jax.__version__}|{jax.default_backend()}|{jax.device_count()} devices"


class MemoryCache:
    """Compiled memory by key in a JSON file (compiling is what makes a plan slow; the numbers are deterministic for
    a given jax version and backend, which every key includes)."""

    def __init__(self, path: str | None = "default"):
        path = cache_path() if path == "default" else path
        self.path = path
        self.values: dict = {}
        if path and os.path.isfile(path):
            try:
                with open(path) as f:
                    self.values = json.load(f)
            except (OSError, ValueError):
                self.values = {}   # a damaged cache is rebuilt, never trusted

    def measure(self, key: str, compute: Callable[[], dict]) -> dict:
        if key not in self.values:
            self.values[key] = compute()
            if self.path:
                os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
                tmp = f"{self.path}.{os.getpid()}.tmp"
                with open(tmp, "w") as f:
                    json.dump(self.values, f, indent=0, sort_keys=True)
                os.replace(tmp, self.path)
        return self.values[key]
