"""Benchmarks: neuron-level and network-level measurements, one interleaved timer, reports, resumable grids, plots.

=================  ============================================================================================
module             what
=================  ============================================================================================
``neuron``         one neuron layer over time: memory, gradient error vs BPTT, per-step FLOPs, time
``network``        whole networks: training-step memory (and GPU peak), gradient error, time, per-step FLOPs
``timing``         the interleaved timer every timing uses
``report``         rows to a table, CSV and JSON (with the command that made them)
``grids``          resumable sweeps (one CSV row per finished cell)
``plots``          every figure
=================  ============================================================================================

XLA's compiled-executable helpers (memory, FLOPs) are in :mod:`revsnn_jax.compiled`, shared with training.
"""

from revsnn_jax.bench.neuron import gradient_error, problem
from revsnn_jax.compiled import flops, memory_stats

__all__ = ["flops", "gradient_error", "memory_stats", "problem"]
