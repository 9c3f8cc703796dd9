"""A whole spiking network over time: one ``lax.scan`` whose body is the network step, strategy by one argument.

============== ==================================================================================================
strategy       time loop (:mod:`revsnn_jax.network_loop`)
============== ==================================================================================================
bptt           plain autodiff: every layer's residuals at every step are stored
checkpoint     ``jax.checkpoint`` of the network step: every step's potentials are stored
reversible     one ``custom_vjp`` over the loop: potentials at every ``k``-th step, a segment recomputed forward
               in the backward, one ``jax.vjp`` of the network step per timestep (exact)
inverse_grad   as ``reversible``, with the neuron's closed-form VJP in place of autodiff through the neuron
============== ==================================================================================================

At network scale ``inverse_grad`` and ``reversible`` take the same time (the neuron is under 1% of a step's VJP,
``revsnn bench step``); what removes the backward's second forward is ``keep_convs`` (below), at some memory.

Logits are averaged over T. Inputs: static images ``[B, H, W, C]`` fed at every step (``encoding="direct"``)
or event frames ``[T, B, H, W, C]`` (``encoding="frames"``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from revsnn_jax import network_loop
from revsnn_jax.nn.state import StepState

STRATEGIES = ("bptt", "checkpoint", "reversible", "inverse_grad")
ENCODINGS = ("direct", "frames")
_LOOP = {"bptt": ("plain", False), "checkpoint": ("remat", False), "reversible": ("anchored", False),
         "inverse_grad": ("anchored", True)}  # (loop mode, closed-form neuron VJP)


def split(model: nnx.Module):
    """``(graphdef, params, batch_stats)`` of a model."""
    return nnx.split(model, nnx.Param, nnx.BatchStat)


def check_inputs(model: nnx.Module, inputs: jax.Array, timesteps: int, encoding: str, name: str = "model") -> None:
    """Raises ValueError for inputs the model cannot take."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; valid: {', '.join(ENCODINGS)}")
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got {timesteps}")
    want = 4 if encoding == "direct" else 5
    if jnp.ndim(inputs) != want:
        layout = "[B, H, W, C]" if encoding == "direct" else "[T, B, H, W, C]"
        raise ValueError(f"encoding={encoding!r} takes inputs {layout}, got shape {jnp.shape(inputs)}")
    if encoding == "frames" and inputs.shape[0] != timesteps:
        raise ValueError(f"event frames have {inputs.shape[0]} timesteps but timesteps={timesteps}")
    h, w, c = inputs.shape[-3:]
    cin = _in_channels(model)
    if c != cin:
        raise ValueError(f"{name} takes {cin} input channels, got {c} (shape {jnp.shape(inputs)})")
    d = model.downsample
    if h % d or w % d:
        raise ValueError(f"{name} downsamples by {d}: input height and width must be multiples of {d}, got {h}x{w}")


def _in_channels(model) -> int:
    first = model.convs[0] if hasattr(model, "convs") else model.stem_conv
    return first.in_features


def _step_fn(graphdef, train: bool, closed_form: bool, remat: bool = False):
    """The network step; with ``convs`` (a record of its convolution outputs) it replays them instead."""
    def step(params, consts, x, vs, convs=None):
        model = nnx.merge(graphdef, params, consts)
        state = StepState(vs, train, closed_form, remat, replay=convs)
        logits = model.step(x, state)
        return (logits, state.new_vs), state.stats
    return step


def _record_fn(graphdef, train: bool, closed_form: bool):
    def record(params, consts, x, vs):
        state = StepState(vs, train, closed_form)
        nnx.merge(graphdef, params, consts).step(x, state)
        return state.new_vs, state.convs
    return record


def initial_potentials(graphdef, params, batch_stats, x_t):
    """Zeros shaped like every neuron layer's potential for one step's input ``x_t``."""
    shapes = jax.eval_shape(lambda p, s, x: _step_fn(graphdef, True, False)(p, s, x, None)[0][1],
                            params, batch_stats, x_t)
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def forward(graphdef, params, batch_stats, inputs, *, timesteps: int, strategy: str = "bptt", train: bool = True,
            encoding: str = "direct", anchor_every: int | None = None, low_memory: bool = False,
            keep_convs: bool = False):
    """Runs the network for ``timesteps`` steps. Returns ``(logits averaged over T, per-step BN statistics)``.

    ``low_memory`` and ``keep_convs`` tune ``reversible``/``inverse_grad`` (:mod:`revsnn_jax.network_loop`):
    ``low_memory`` keeps no recomputed segment (least memory, most recompute); ``keep_convs`` also keeps the
    segment's convolution outputs, so the backward runs no convolution forward a second time (fastest, most
    memory of the three). Gradients are the same in every case.

    The statistics are a list (BatchNorm call order) of ``(mean, var)`` stacked over T; pass them to
    :func:`update_batch_stats` after a training step.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; valid strategies: {', '.join(STRATEGIES)}")
    mode, closed_form = _LOOP[strategy]
    if (low_memory or keep_convs) and mode != "anchored":
        raise ValueError(f"low_memory and keep_convs apply to reversible and inverse_grad, not {strategy!r}")
    if low_memory and keep_convs:
        raise ValueError("choose one of low_memory (least memory) and keep_convs (least time)")
    model = nnx.merge(graphdef, params, batch_stats)
    check_inputs(model, inputs, timesteps, encoding, type(model).__name__)
    if strategy in ("reversible", "inverse_grad"):
        kinds = {n.spec.kind for _, n in nnx.iter_graph(model) if hasattr(n, "spec")}
        if kinds != {"rev"}:
            raise ValueError(f"strategy {strategy!r} needs the reversible neuron; this model uses "
                             f"{', '.join(sorted(kinds))}")
    sequence = encoding == "frames"
    x0 = inputs[0] if sequence else inputs
    v0 = initial_potentials(graphdef, params, batch_stats, x0)
    step = _step_fn(graphdef, train, closed_form, remat=mode == "anchored")
    outs, stats, _ = network_loop.run_time_loop(
        step, params, batch_stats, inputs, v0, timesteps=timesteps, sequence_input=sequence, mode=mode,
        anchor_every=anchor_every, low_memory=low_memory,
        replay=(_record_fn(graphdef, train, closed_form), step) if keep_convs else None)
    return outs.mean(0), stats


def update_batch_stats(graphdef, params, batch_stats, stats, momentum: float = 0.9):
    """Running averages updated once from the per-step statistics (averaged over T); returns new batch_stats."""
    model = nnx.merge(graphdef, params, batch_stats)
    for bn, (mean, var) in zip(model.batchnorms(), stats, strict=True):
        bn.mean[...] = momentum * bn.mean[...] + (1 - momentum) * mean.mean(0)
        bn.var[...] = momentum * bn.var[...] + (1 - momentum) * var.mean(0)
    return nnx.state(model, nnx.BatchStat)
