"""Measurements of the neuron core: compiled memory, gradient error against BPTT, backward FLOPs and time.

Memory comes from XLA's compiled memory analysis (deterministic, works on CPU). FLOPs come from XLA's
``cost_analysis`` of **one step** of each backward (XLA counts a loop body once, whatever its trip count).
Times are medians of interleaved repeats in one process and are reported as ratios.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from revsnn_jax import neurons, strategies
from revsnn_jax.neurons import LIFParams, RevLIFParams


@dataclasses.dataclass(frozen=True)
class NeuronConfig:
    """One column of the neuron benchmarks: a neuron, a strategy and how V is recovered."""

    label: str
    neuron: str          # "lif" or "rev"
    strategy: str
    v_recovery: str = "anchored"


NEURON_CONFIGS = (
    NeuronConfig("lif/bptt", "lif", "bptt"),
    NeuronConfig("rev/bptt", "rev", "bptt"),
    NeuronConfig("rev/checkpoint", "rev", "checkpoint"),
    NeuronConfig("rev/reversible", "rev", "reversible"),
    NeuronConfig("rev/inverse_grad", "rev", "inverse_grad"),
    NeuronConfig("rev/reversible+inverse", "rev", "reversible", "inverse"),
    NeuronConfig("rev/inverse_grad+inverse", "rev", "inverse_grad", "inverse"),
    NeuronConfig("rev/inverse_grad_paper", "rev", "inverse_grad_paper"),
)


def config_by_label(label: str) -> NeuronConfig:
    for c in NEURON_CONFIGS:
        if c.label == label:
            return c
    raise ValueError(f"unknown configuration {label!r}; valid: {', '.join(c.label for c in NEURON_CONFIGS)}")


def memory_stats(compiled) -> dict[str, int]:
    """``temp``/``argument``/``output`` bytes of a compiled executable (XLA memory analysis)."""
    m = compiled.memory_analysis()
    return {"temp_bytes": int(m.temp_size_in_bytes), "argument_bytes": int(m.argument_size_in_bytes),
            "output_bytes": int(m.output_size_in_bytes)}


def flops(compiled) -> float:
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):   # older jax returns one dict per computation
        cost = cost[0]
    return float(cost.get("flops", 0.0))


def _params(cfg: NeuronConfig, rev: RevLIFParams):
    return LIFParams(rev.tau, rev.v_threshold, rev.v_reset, rev.surrogate, rev.surrogate_width) \
        if cfg.neuron == "lif" else rev


def neuron_vjp(cfg: NeuronConfig, p: RevLIFParams = RevLIFParams()) -> Callable:
    """``f(xs, v0, gys, gv) -> (ys, v_last, gxs, gv0)``: a neuron layer's forward and backward together.

    The outputs are returned, so XLA counts them as output bytes for every strategy; ``temp_bytes`` is what a
    strategy needs *beyond* its inputs and outputs, which is what the paper's neuron-memory figures count.
    """
    neuron = _params(cfg, p)

    def f(xs, v0, gys, gv):
        (ys, v_last), vjp = jax.vjp(
            lambda a, b: strategies.run_neuron(neuron, a, b, cfg.strategy, v_recovery=cfg.v_recovery), xs, v0)
        return ys, v_last, *vjp((gys, gv))

    return f


def neuron_memory(timesteps: Sequence[int] = (1, 2, 4, 8, 16, 32), batch: int = 32, width: int = 1024,
                  configs: Sequence[NeuronConfig] = NEURON_CONFIGS) -> list[dict]:
    """Compiled temp bytes of one neuron layer's forward+backward, float32 ``[T, batch, width]``."""
    rows = []
    for t in timesteps:
        xs = jax.ShapeDtypeStruct((t, batch, width), jnp.float32)
        v = jax.ShapeDtypeStruct((batch, width), jnp.float32)
        for cfg in configs:
            compiled = jax.jit(neuron_vjp(cfg)).lower(xs, v, xs, v).compile()
            rows.append({"config": cfg.label, "timesteps": t, "batch": batch, "width": width,
                         **memory_stats(compiled)})
    return rows


def _problem(timesteps, batch, width, dtype, scale, seed):
    keys = jax.random.split(jax.random.key(seed), 4)
    xs = scale * jax.random.normal(keys[0], (timesteps, batch, width), dtype)
    v0 = 0.1 * jax.random.normal(keys[1], (batch, width), dtype)
    wy = jax.random.normal(keys[2], (timesteps, batch, width), dtype)
    wv = jax.random.normal(keys[3], (batch, width), dtype)
    return xs, v0, wy, wv


def neuron_gradients(cfg: NeuronConfig, p: RevLIFParams, xs, v0, wy, wv):
    """Gradients of a random linear loss on ``(ys, v_last)`` w.r.t. ``(xs, v0)``, jitted."""
    neuron = _params(cfg, p)

    def loss(xs, v0):
        ys, v_last = strategies.run_neuron(neuron, xs, v0, cfg.strategy, v_recovery=cfg.v_recovery)
        return jnp.sum(ys * wy) + jnp.sum(v_last * wv)

    return jax.jit(jax.grad(loss, (0, 1)))(xs, v0)


def gradient_error(grads, reference) -> dict[str, float]:
    """Relative error ``|g - r| / |r|``, cosine, and max abs error over all leaves flattened together."""
    g = jnp.concatenate([jnp.ravel(a) for a in jax.tree.leaves(grads)])
    r = jnp.concatenate([jnp.ravel(a) for a in jax.tree.leaves(reference)])
    rn = jnp.linalg.norm(r)
    return {"relative_error": float(jnp.linalg.norm(g - r) / rn),
            "cosine": float(jnp.dot(g, r) / (jnp.linalg.norm(g) * rn)),
            "max_abs_error": float(jnp.max(jnp.abs(g - r)))}


def neuron_gradient_error(timesteps: Sequence[int] = (4, 10, 20, 32), batch: int = 16, width: int = 256,
                          dtype=jnp.float32, scale: float = 1.0, seed: int = 0, p: RevLIFParams = RevLIFParams(),
                          configs: Sequence[NeuronConfig] = NEURON_CONFIGS) -> list[dict]:
    """Each configuration's gradient error against ``rev/bptt`` (plain autodiff of the same forward)."""
    rows = []
    reference_cfg = config_by_label("rev/bptt")
    for t in timesteps:
        problem = _problem(t, batch, width, dtype, scale, seed)
        reference = neuron_gradients(reference_cfg, p, *problem)
        for cfg in configs:
            if cfg.neuron != "rev" or cfg is reference_cfg:
                continue
            rows.append({"config": cfg.label, "timesteps": t, "dtype": jnp.dtype(dtype).name, "alpha": p.alpha,
                         "scale": scale, **gradient_error(neuron_gradients(cfg, p, *problem), reference)})
    return rows


def backward_step_flops(p: RevLIFParams = RevLIFParams(), batch: int = 64, width: int = 1024) -> dict[str, float]:
    """FLOPs of one timestep of each backward, from XLA's cost analysis of that step compiled alone.

    ``bptt``: transpose of the step from its stored residuals. Reversible, anchored: recompute of V for one
    step plus reconstruction plus the local VJP. ``+inverse``: Eq. 7-10 plus the local VJP.
    """
    a = jax.ShapeDtypeStruct((batch, width), jnp.float32)
    # bptt's residuals are made outside the measured computation: the transpose is compiled alone.
    _, bptt_vjp = jax.vjp(lambda x, v: neurons.rev_lif_step(p, x, v), jnp.zeros(a.shape), jnp.zeros(a.shape))
    out = {"rev/bptt": flops(jax.jit(lambda f, gy, gv: f((gy, gv))).lower(bptt_vjp, a, a).compile())}
    for strategy in strategies.REVERSIBLE_STRATEGIES:
        def anchored(v, y, s, gy, gv, strategy=strategy):
            return strategies.recompute_v_step(p, v, y, s), strategies.backward_step(p, strategy, v, y, s, gy, gv)

        def inverse(vn, y, s, gy, gv, strategy=strategy):
            return strategies.inverse_backward_step(p, strategy, vn, y, s, gy, gv)

        out[f"rev/{strategy}"] = flops(jax.jit(anchored).lower(a, a, a, a, a).compile())
        out[f"rev/{strategy}+inverse"] = flops(jax.jit(inverse).lower(a, a, a, a, a).compile())
    return out


def backward_times(timesteps: int = 8, batch: int = 64, width: int = 1024, repeats: int = 20, warmup: int = 3,
                   p: RevLIFParams = RevLIFParams(),
                   configs: Sequence[NeuronConfig] = NEURON_CONFIGS) -> dict[str, dict[str, float]]:
    """Median wall time of the forward and of the backward alone for each configuration, interleaved.

    Returns ``{label: {"forward_s": ..., "backward_s": ...}}``; compare only ratios within one call.
    """
    xs, v0, wy, wv = _problem(timesteps, batch, width, jnp.float32, 1.0, 0)
    fns = {}
    for cfg in configs:
        neuron = _params(cfg, p)
        fwd = jax.jit(lambda xs, v0, neuron=neuron, cfg=cfg: jax.vjp(
            lambda a, b: strategies.run_neuron(neuron, a, b, cfg.strategy, v_recovery=cfg.v_recovery), xs, v0))
        bwd = jax.jit(lambda vjp, gys, gv: vjp((gys, gv)))
        fns[cfg.label] = (fwd, bwd)
    samples = {label: {"forward_s": [], "backward_s": []} for label in fns}
    for r in range(warmup + repeats):
        for label, (fwd, bwd) in fns.items():
            t0 = time.perf_counter()
            (_, vjp) = jax.block_until_ready(fwd(xs, v0))
            t1 = time.perf_counter()
            jax.block_until_ready(bwd(vjp, wy, wv))
            t2 = time.perf_counter()
            if r >= warmup:
                samples[label]["forward_s"].append(t1 - t0)
                samples[label]["backward_s"].append(t2 - t1)
    return {label: {k: statistics.median(v) for k, v in s.items()} for label, s in samples.items()}


__all__ = ["NeuronConfig", "NEURON_CONFIGS", "config_by_label", "memory_stats", "flops", "neuron_vjp",
           "neuron_memory", "neuron_gradients", "gradient_error", "neuron_gradient_error", "backward_step_flops",
           "backward_times"]
