"""A whole spiking network over time: one ``lax.scan`` whose body is the network step, the strategy one value.

:func:`make_step` turns a model (its ``graphdef``; the model interface is in :mod:`revsnn_jax.nn.context`) into
the :class:`~revsnn_jax.time_loop.Step` the time loop needs for every strategy, and :func:`forward` runs it.
Every strategy works with every neuron, except ``reverse``, which needs neurons with an exact inverse
(``exact_rev``). What each strategy keeps and recomputes: the table in :mod:`revsnn_jax.strategies` (the one
place it is written).

Logits are averaged over T. Inputs: static images ``[B, H, W, C]`` fed at every step (``encoding="direct"``)
or event frames ``[T, B, H, W, C]`` (``encoding="frames"``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from revsnn_jax import time_loop
from revsnn_jax.errors import InputError
from revsnn_jax.nn.context import StepContext
from revsnn_jax.nn.layers import BatchNorm
from revsnn_jax.strategies import Strategy, as_strategy

ENCODINGS = ("direct", "frames")


def split(model: nnx.Module):
    """``(graphdef, params, batch_stats)`` of a model."""
    return nnx.split(model, nnx.Param, nnx.BatchStat)


def check_inputs(model: nnx.Module, inputs, timesteps: int, encoding: str, name: str | None = None) -> None:
    """Raises InputError for inputs the model cannot take (uses ``model.in_channels``/``downsample`` if set)."""
    name = name or type(model).__name__
    if encoding not in ENCODINGS:
        raise InputError(f"unknown encoding {encoding!r}; valid: {', '.join(ENCODINGS)}")
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise InputError(f"timesteps must be an integer >= 1, got {timesteps!r}")
    want = 4 if encoding == "direct" else 5
    if jnp.ndim(inputs) != want:
        layout = "[B, H, W, C]" if encoding == "direct" else "[T, B, H, W, C]"
        raise InputError(f"encoding={encoding!r} takes inputs {layout}, got shape {jnp.shape(inputs)}")
    if encoding == "frames" and inputs.shape[0] != timesteps:
        raise InputError(f"event frames have {inputs.shape[0]} timesteps but timesteps={timesteps}")
    h, w, c = inputs.shape[-3:]
    cin = getattr(model, "in_channels", None)
    if cin is not None and c != cin:
        raise InputError(f"{name} takes {cin} input channels, got {c} (shape {jnp.shape(inputs)})")
    d = getattr(model, "downsample", 1)
    if h % d or w % d:
        raise InputError(f"{name} downsamples by {d}: input height and width must be multiples of {d}, got {h}x{w}")


def make_step(graphdef, *, train: bool, strategy: Strategy | str = "bptt") -> time_loop.Step:
    """The time loop's step of a model: ``params`` = its parameters, ``consts`` = its batch statistics, ``vs`` =
    ``{neuron path: potential}``, ``out`` = logits, ``aux`` = ``{BatchNorm path: (mean, var)}``."""
    strategy = as_strategy(strategy)
    remat = strategy.loop in ("anchored", "reverse")   # what these loops' step VJPs store: conv inputs and outputs

    def run(params, consts, x, vs, mode, record=None):
        model = nnx.merge(graphdef, params, consts)
        ctx = StepContext(model, vs, train, mode, strategy.neuron_grad, remat and mode in ("apply", "replay"),
                          record, strategy.rebuild_noise)
        logits = model.step(x, ctx)
        return ctx, logits

    def apply(params, consts, x, vs):
        ctx, logits = run(params, consts, x, vs, "apply")
        return (logits, ctx.new_vs), ctx.stats

    def record(params, consts, x, vs):
        ctx, _ = run(params, consts, x, vs, "record")
        return ctx.new_vs, {"convs": ctx.convs, "kept": None}

    def replay(params, consts, x, vs, rec):
        ctx, logits = run(params, consts, x, vs, "replay", rec)
        return (logits, ctx.new_vs), ctx.stats

    def keep(params, consts, x, vs):
        ctx, logits = run(params, consts, x, vs, "keep")
        return (logits, ctx.new_vs), ctx.stats, ctx.kept

    def rebuild(params, consts, x, vs_next, kept):
        ctx, _ = run(params, consts, x, vs_next, "rebuild", {"convs": None, "kept": kept})
        return ctx.new_vs, {"convs": ctx.convs, "kept": kept}

    return time_loop.Step(apply=apply, record=record, replay=replay, keep=keep, rebuild=rebuild)


def repeat_frames(images, timesteps: int):
    """A static image batch ``[B, H, W, C]`` as ``T`` identical frames ``[T, B, H, W, C]`` (a broadcast)."""
    return jnp.broadcast_to(images[None], (timesteps,) + images.shape)


def network_inputs(images, encoding: str, timesteps: int):
    """A batch as the network takes it: ``direct`` images as they are; for ``frames``, ``[T, B, ...]`` frames
    as they are, or a static image batch ``[B, H, W, C]`` repeated as T identical frames."""
    if encoding == "frames" and images.ndim == 4:
        return repeat_frames(images, timesteps)
    return images


def potential_shapes(graphdef, params, batch_stats, x_t):
    """``{neuron path: jax.ShapeDtypeStruct}`` of every neuron layer's potential for one step's input ``x_t``."""
    apply = make_step(graphdef, train=True).apply
    return jax.eval_shape(lambda p, s, x: apply(p, s, x, None)[0][1], params, batch_stats, x_t)


def initial_potentials(graphdef, params, batch_stats, x_t):
    """Zeros shaped like every neuron layer's potential for one step's input ``x_t``: ``{path: zeros}``."""
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), potential_shapes(graphdef, params, batch_stats, x_t))


def forward(graphdef, params, batch_stats, inputs, *, timesteps: int, strategy: Strategy | str = "bptt",
            train: bool = True, encoding: str = "direct"):
    """Runs the network for ``timesteps`` steps. Returns ``(logits averaged over T, per-step BN statistics)``.

    ``strategy`` is a :class:`~revsnn_jax.strategies.Strategy` or its label (``"anchored+closed_form"``,
    ``"inverse_grad+low_memory"``, ``"reverse"``, ...). Gradients are the same under every exact strategy. The
    statistics are ``{BatchNorm path: (mean, var)}`` stacked over T; pass them to :func:`update_batch_stats` after
    a training step.
    """
    strategy = as_strategy(strategy)
    model = nnx.merge(graphdef, params, batch_stats)
    check_inputs(model, inputs, timesteps, encoding)
    sequence = encoding == "frames"
    x0 = inputs[0] if sequence else inputs
    v0 = potential_shapes(graphdef, params, batch_stats, x0)   # zeros, made where the loop needs them
    outs, stats, _ = time_loop.run_time_loop(make_step(graphdef, train=train, strategy=strategy), params,
                                             batch_stats, inputs, v0, timesteps=timesteps, sequence_input=sequence,
                                             strategy=strategy)
    return outs.mean(0), stats


def update_batch_stats(graphdef, params, batch_stats, stats, momentum: float = 0.9):
    """Running averages updated once from the per-step statistics (averaged over T); returns new batch_stats.
    Pure: ``batch_stats`` is left as it was (the model is merged from copies of its variables)."""
    model = nnx.merge(graphdef, params, batch_stats, copy=True)
    by_path = {".".join(map(str, path)): node for path, node in nnx.iter_graph(model) if isinstance(node, BatchNorm)}
    for path, (mean, var) in stats.items():
        if path not in by_path:
            raise InputError(f"statistics for {path!r}, which is not a BatchNorm of this model")
        bn = by_path[path]
        bn.mean[...] = momentum * bn.mean[...] + (1 - momentum) * mean.mean(0)
        bn.var[...] = momentum * bn.var[...] + (1 - momentum) * var.mean(0)
    return nnx.state(model, nnx.BatchStat)

