"""Measurements of one neuron layer over time: compiled memory, gradient error against BPTT, FLOPs and time.

Memory comes from XLA's compiled memory analysis (deterministic, works on CPU). FLOPs come from XLA's cost analysis
of the per-timestep programs each backward runs, compiled alone (XLA counts a loop body once, whatever its trip
count). Times are medians of interleaved repeats in one process and are reported as ratios.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from revsnn_jax import neurons
from revsnn_jax.bench import timing
from revsnn_jax.compiled import flops, memory_stats
from revsnn_jax.errors import InputError
from revsnn_jax.neuron_loop import neuron_step, run_neuron
from revsnn_jax.strategies import Strategy


@dataclasses.dataclass(frozen=True)
class NeuronConfig:
    """One column of the neuron benchmarks: a neuron kind, a strategy label and how V is recovered."""

    label: str
    neuron: str          # a key of revsnn_jax.neurons.NEURONS
    strategy: str
    v_recovery: str = "anchored"


NEURON_CONFIGS = (
    NeuronConfig("lif/bptt", "lif", "bptt"),
    NeuronConfig("lif/anchored", "lif", "anchored"),
    NeuronConfig("rev/bptt", "rev", "bptt"),
    NeuronConfig("rev/checkpoint", "rev", "checkpoint"),
    NeuronConfig("rev/anchored", "rev", "anchored"),
    NeuronConfig("rev/anchored+closed_form", "rev", "anchored+closed_form"),
    NeuronConfig("rev/paper_inverse", "rev", "anchored", "inverse"),
    NeuronConfig("rev/paper_inverse+closed_form", "rev", "anchored+closed_form", "inverse"),
    NeuronConfig("rev/anchored+paper_grad", "rev", "anchored+paper_grad"),
    NeuronConfig("exact_rev/bptt", "exact_rev", "bptt"),
    NeuronConfig("exact_rev/reverse", "exact_rev", "reverse"),
)
"""``rev/paper_inverse``: the paper's own scheme, only ``V^T`` kept and each ``V^{t-1}`` recovered by Eq. 7/9 (the
time-reversing loop with an inexact inverse); ``exact_rev/reverse``: the same loop with the exact neuron."""


def config_by_label(label: str) -> NeuronConfig:
    for c in NEURON_CONFIGS:
        if c.label == label:
            return c
    raise InputError(f"unknown configuration {label!r}; valid: {', '.join(c.label for c in NEURON_CONFIGS)}")


def neuron_params(cfg: NeuronConfig, rev: neurons.RevLIFParams = neurons.RevLIFParams()):
    """The config's neuron, sharing what it can with the paper neuron's settings ``rev`` (tau, threshold, reset,
    surrogate; alpha, beta and groups where the neuron has them)."""
    cls = neurons.NEURONS[cfg.neuron]
    names = {f.name for f in dataclasses.fields(cls)}
    shared = {k: v for k, v in dataclasses.asdict(rev).items() if k in names}
    if cfg.neuron == "exact_rev":   # its defaults are dyadic; the paper's alpha=0.15 is not
        shared.pop("alpha", None)
    return cls(**shared)


def _run(cfg: NeuronConfig, p):
    return lambda xs, v0: run_neuron(p, xs, v0, cfg.strategy, v_recovery=cfg.v_recovery)


def neuron_vjp(cfg: NeuronConfig, rev: neurons.RevLIFParams = neurons.RevLIFParams()) -> Callable:
    """``f(xs, v0, gys, gv) -> (ys, v_last, gxs, gv0)``: a neuron layer's forward and backward together.

    The outputs are returned, so XLA counts them as output bytes for every strategy; ``temp_bytes`` is what a
    strategy needs *beyond* its inputs and outputs, which is what the paper's neuron-memory figures count.
    """
    run = _run(cfg, neuron_params(cfg, rev))

    def f(xs, v0, gys, gv):
        (ys, v_last), vjp = jax.vjp(run, xs, v0)
        return ys, v_last, *vjp((gys, gv))

    return f


def neuron_memory(timesteps: Sequence[int] = (1, 2, 4, 8, 16, 32), batch: int = 32, width: int = 1024,
                  configs: Sequence[NeuronConfig] = NEURON_CONFIGS, progress=None) -> list[dict]:
    """Compiled temp bytes of one neuron layer's forward+backward, float32 ``[T, batch, width]``."""
    rows = []
    for t in timesteps:
        xs = jax.ShapeDtypeStruct((t, batch, width), jnp.float32)
        v = jax.ShapeDtypeStruct((batch, width), jnp.float32)
        for cfg in configs:
            compiled = jax.jit(neuron_vjp(cfg)).lower(xs, v, xs, v).compile()
            rows.append({"config": cfg.label, "timesteps": t, "batch": batch, "width": width,
                         **memory_stats(compiled)})
        if progress:
            progress(f"T={t}: {len(configs)} configurations compiled")
    return rows


def problem(timesteps, batch, width, dtype, scale=1.0, seed=0):
    """``(xs, v0, wy, wv)``: inputs N(0, scale^2), a small random V^0 and the weights of a random linear loss."""
    keys = jax.random.split(jax.random.key(seed), 4)
    xs = scale * jax.random.normal(keys[0], (timesteps, batch, width), dtype)
    v0 = 0.1 * jax.random.normal(keys[1], (batch, width), dtype)
    wy = jax.random.normal(keys[2], (timesteps, batch, width), dtype)
    wv = jax.random.normal(keys[3], (batch, width), dtype)
    return xs, v0, wy, wv


def neuron_gradients(cfg: NeuronConfig, rev, xs, v0, wy, wv):
    """Gradients of a random linear loss on ``(ys, v_last)`` w.r.t. ``(xs, v0)``, jitted."""
    run = _run(cfg, neuron_params(cfg, rev))

    def loss(xs, v0):
        ys, v_last = run(xs, v0)
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
                          dtype=jnp.float32, scale: float = 1.0, seed: int = 0,
                          rev: neurons.RevLIFParams = neurons.RevLIFParams(),
                          configs: Sequence[NeuronConfig] = NEURON_CONFIGS) -> list[dict]:
    """Each configuration's gradient error against plain autodiff (``bptt``) of the same neuron."""
    rows = []
    for t in timesteps:
        prob = problem(t, batch, width, dtype, scale, seed)
        refs = {}
        for cfg in configs:
            if cfg.strategy == "bptt":
                continue
            if cfg.neuron not in refs:
                refs[cfg.neuron] = neuron_gradients(NeuronConfig("", cfg.neuron, "bptt"), rev, *prob)
            rows.append({"config": cfg.label, "timesteps": t, "dtype": jnp.dtype(dtype).name, "scale": scale,
                         **gradient_error(neuron_gradients(cfg, rev, *prob), refs[cfg.neuron])})
    return rows


def backward_step_flops(rev: neurons.RevLIFParams = neurons.RevLIFParams(), batch: int = 64, width: int = 1024,
                        configs: Sequence[NeuronConfig] = NEURON_CONFIGS) -> dict[str, dict[str, float]]:
    """Per configuration, FLOPs (XLA cost analysis, each program compiled alone) of:

    ``rule``: the neuron's backward rule for one step from the residuals its forward saved (``jax.vjp``'s function
    applied): the transpose of autodiff, or the closed form.
    ``per_step``: everything the configuration's backward runs per timestep. ``bptt``: the rule. ``checkpoint``:
    the step's forward plus the rule. ``anchored``: one forward (the segment recompute), the forward inside the
    step's VJP, the rule. Time-reversing loops (``reverse``, ``paper_inverse``): the rebuild (inverse), the replayed
    step's forward, the rule.
    """
    a = jax.ShapeDtypeStruct((batch, width), jnp.float32)
    zeros = jnp.zeros(a.shape, a.dtype)
    out = {}
    for cfg in configs:
        p = neuron_params(cfg, rev)
        strategy = Strategy.parse(cfg.strategy)
        loop = "reverse" if cfg.v_recovery == "inverse" else strategy.loop
        step = neuron_step(p, strategy.neuron_grad)
        theta = p.init_theta(width)

        def vjp(fn, x, v, gy, gv):
            return jax.vjp(lambda x, v: fn(x, v)[0], x, v)[1]((gy, gv))

        apply = lambda x, v: step.apply(theta, None, x, v)   # noqa: E731
        _, f = jax.vjp(lambda x, v: apply(x, v)[0], zeros, zeros)
        rule = flops(jax.jit(lambda f, gy, gv: f((gy, gv))).lower(f, a, a).compile())
        if loop == "bptt":
            per_step = rule
        elif loop == "checkpoint":
            per_step = flops(jax.jit(lambda x, v, gy, gv: vjp(apply, x, v, gy, gv)).lower(a, a, a, a).compile())
        elif loop == "anchored":
            def anchored(x, v, gy, gv):
                return apply(x, v)[0][1], vjp(apply, x, v, gy, gv)
            per_step = flops(jax.jit(anchored).lower(a, a, a, a).compile())
        else:
            code = jax.eval_shape(lambda x, v: step.keep(theta, None, x, v)[2], a, a)   # the packed bits

            def reverse(x, v_next, code, gy, gv):
                v, rec = step.rebuild(theta, None, x, v_next, code)
                return v, vjp(lambda x, v: step.replay(theta, None, x, v, rec), x, v, gy, gv)
            per_step = flops(jax.jit(reverse).lower(a, a, code, a, a).compile())
        out[cfg.label] = {"rule": rule, "per_step": per_step}
    return out


def backward_times(timesteps: int = 8, batch: int = 64, width: int = 1024, repeats: int = 20, warmup: int = 3,
                   rev: neurons.RevLIFParams = neurons.RevLIFParams(),
                   configs: Sequence[NeuronConfig] = NEURON_CONFIGS) -> dict[str, dict[str, float]]:
    """Median wall time of the forward and of the backward alone for each configuration, interleaved.

    Returns ``{label: {"forward_s": ..., "backward_s": ...}}``; compare only ratios within one call.
    """
    xs, v0, wy, wv = problem(timesteps, batch, width, jnp.float32, 1.0, 0)
    bwd = jax.jit(lambda vjp_fn, ct: vjp_fn(ct))
    runs = {}
    for cfg in configs:
        run = _run(cfg, neuron_params(cfg, rev))
        fwd = jax.jit(lambda xs, v0, run=run: jax.vjp(run, xs, v0))
        runs[cfg.label] = timing.forward_backward(fwd, bwd, (xs, v0), (wy, wv))
    return timing.interleaved(runs, repeats, warmup)
