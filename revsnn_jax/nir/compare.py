"""Checks of NIR exports: layer outputs of two models compared spike by spike, graphs compared field by field."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import nnx

from revsnn_jax.errors import InputError
from revsnn_jax.nn.context import StepContext
from revsnn_jax.nn.layers import Neuron


class _Recording(StepContext):
    """A step context that also keeps every neuron layer's output by path."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outputs = {}

    def _fire(self, layer, make_input, inputs, like):
        out = super()._fire(layer, make_input, inputs, like)
        self.outputs[self.path(layer)] = out[0] if isinstance(out, tuple) else out
        return out


def layer_outputs(model: nnx.Module, frames, *, with_potentials: bool = False):
    """Runs ``model`` in evaluation mode on ``frames [T, B, H, W, C]`` (one input per step) and returns ``(per-step
    outputs [T, B, ...], {node name: spikes [T, B, ...]})``, plus ``{node name: potentials after each step}`` with
    ``with_potentials``. Node names are :func:`to_nir`'s (the neuron layers' paths; a :class:`NIRNetwork`'s LIF
    node names), channels last: the spikes of every LIF node, to compare with another simulator of the graph."""
    names = model.node_names() if hasattr(model, "node_names") else {}
    vs, outs, spikes, potentials = None, [], {}, {}
    for x in frames:
        ctx = _Recording(model, vs, False)
        outs.append(np.asarray(model.step(jnp.asarray(x), ctx)))
        for path, y in ctx.outputs.items():
            spikes.setdefault(names.get(path, path), []).append(np.asarray(y))
            potentials.setdefault(names.get(path, path), []).append(np.asarray(ctx.new_vs[path]))
        vs = ctx.new_vs
    spikes = {p: np.stack(y) for p, y in spikes.items()}
    if with_potentials:
        return np.stack(outs), spikes, {p: np.stack(v) for p, v in potentials.items()}
    return np.stack(outs), spikes


def compare_runs(model: nnx.Module, other: nnx.Module, frames) -> dict[str, Any]:
    """Runs two networks of the same graph (e.g. a model and ``from_nir(to_nir(model))``) on ``frames`` and reports
    how they agree: ``max_logit_error`` (of the outputs averaged over T), ``max_logit``, ``spikes_compared``,
    ``spikes_mismatched`` and, if any differ, ``first_difference``: the node and step where the first spike differs
    and ``margin``, how far that neuron's potential was from its threshold on the side that did not fire. A
    margin at the level of float32 rounding (``rounding: true``: below ``1e-5 * max(1, |threshold|)``) means the
    two computations agree up to the order of their float32 sums, and the spikes after it differ because a
    spiking network amplifies one flipped spike, not because the mapping is wrong."""
    outs_a, spikes_a, vs_a = layer_outputs(model, frames, with_potentials=True)
    outs_b, spikes_b, vs_b = layer_outputs(other, frames, with_potentials=True)
    if set(spikes_a) != set(spikes_b):
        raise InputError(f"the two networks have different neuron nodes: {sorted(set(spikes_a) ^ set(spikes_b))}")
    report = {"max_logit_error": float(np.abs(outs_a.mean(0) - outs_b.mean(0)).max()),
              "max_logit": float(np.abs(outs_a.mean(0)).max()),
              "spikes_compared": int(sum(s.size for s in spikes_a.values())),
              "spikes_mismatched": int(sum(np.sum(spikes_a[n] != spikes_b[n]) for n in spikes_a)),
              "first_difference": None}
    thresholds = {p: layer.params.v_threshold for p, layer in _neuron_layers(model).items()}
    for t in range(len(frames)):
        for node in spikes_a:   # call order: every node after its sources
            differ = np.argwhere(spikes_a[node][t] != spikes_b[node][t])
            if len(differ):
                at = tuple(differ[0])
                quiet = vs_b if spikes_a[node][t][at] else vs_a   # the side that did not fire kept its potential
                threshold = thresholds[node]
                margin = float(threshold - quiet[node][t][at])
                report["first_difference"] = {"node": node, "step": t, "margin": margin,
                                              "rounding": abs(margin) < 1e-5 * max(1.0, abs(threshold))}
                return report
    return report


def _neuron_layers(model) -> dict[str, Neuron]:
    names = model.node_names() if hasattr(model, "node_names") else {}
    return {names.get(".".join(map(str, p)), ".".join(map(str, p))): n for p, n in nnx.iter_graph(model)
            if isinstance(n, Neuron)}


def graph_arrays(graph) -> dict[str, np.ndarray | str]:
    """Every field of a NIR graph as ``{"nodes.<name>.<field>": array or str, "edges": sorted edges}``: NIR nodes
    compare by identity, so graphs are compared through this (``revsnn export --check`` and the tests)."""
    out: dict[str, Any] = {"edges": np.array(sorted((str(s), str(d)) for s, d in graph.edges))}

    def walk(prefix, value):
        if isinstance(value, dict):
            for k in sorted(value):
                walk(f"{prefix}.{k}", value[k])
        elif isinstance(value, (str, bytes)):
            out[prefix] = value.decode() if isinstance(value, bytes) else value
        elif value is not None:
            out[prefix] = np.asarray(value)

    for name, node in graph.nodes.items():
        d = node.to_dict()
        walk(f"nodes.{name}", {k: v for k, v in d.items() if k != "metadata"})
    return out


def _text(value) -> np.ndarray | str:
    a = np.asarray(value)
    return a.astype(str) if a.dtype.kind in "SUO" else a


def compare_graphs(a, b) -> list[str]:
    """The fields in which two NIR graphs differ, one line each (empty: equal, every array bit for bit)."""
    fa, fb = graph_arrays(a), graph_arrays(b)
    diffs = [f"{k}: only in the first" for k in fa if k not in fb] + \
        [f"{k}: only in the second" for k in fb if k not in fa]
    for k in (k for k in fa if k in fb):
        x, y = _text(fa[k]), _text(fb[k])
        if np.shape(x) != np.shape(y):
            diffs.append(f"{k}: shape {np.shape(x)} != {np.shape(y)}")
        elif not np.array_equal(x, y):
            diffs.append(f"{k}: values differ")
    return diffs
