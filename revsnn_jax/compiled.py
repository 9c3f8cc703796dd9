"""What XLA reports about a compiled executable: memory and FLOPs (used by training's dry run and the benchmarks).

Memory is XLA's compiled memory analysis: deterministic, available on CPU, and obtained without running
anything. FLOPs come from XLA's cost analysis, which counts a loop body once whatever its trip count, so compare
FLOPs only of loop-free programs (one timestep).
"""

from __future__ import annotations

import jax


def memory_stats(compiled) -> dict[str, int]:
    """``temp``/``argument``/``output`` bytes of a compiled executable (XLA memory analysis)."""
    m = compiled.memory_analysis()
    return {"temp_bytes": int(m.temp_size_in_bytes), "argument_bytes": int(m.argument_size_in_bytes),
            "output_bytes": int(m.output_size_in_bytes)}


def flops(compiled) -> float:
    """XLA's FLOP count of a compiled executable."""
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):   # older jax returns one dict per computation
        cost = cost[0]
    return float(cost.get("flops", 0.0))


def abstract(tree):
    """``jax.ShapeDtypeStruct`` leaves shaped like ``tree``'s (to compile without data)."""
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), tree)
