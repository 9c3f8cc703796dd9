"""NIR export: :func:`to_nir` lowers a trained VGG or ResNet (or a :class:`~revsnn_jax.nir.importer.NIRNetwork`) to a
``nir.NIRGraph`` (the mapping: :mod:`revsnn_jax.nir`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from flax import nnx

from revsnn_jax import neurons
from revsnn_jax.errors import InputError
from revsnn_jax.nn.context import module_paths
from revsnn_jax.nn.conv import explicit_padding
from revsnn_jax.nn.layers import BatchNorm, Neuron
from revsnn_jax.nn.resnet import BasicBlock, Bottleneck, SpikingResNet
from revsnn_jax.nn.vgg import SpikingVGG

DEFAULT_DT = 1e-4
"""Seconds per timestep written by default: the step SpikingJelly's NIR importer assumes by default
(``import_from_nir(graph, dt=1e-4)``). Any other simulator must be given the ``dt`` stored in the metadata."""

SUPPORTED_NODES = ("Input", "Output", "Conv2d", "Affine", "Linear", "Scale", "SumPool2d", "AvgPool2d", "Flatten",
                   "LIF")
"""The NIR node types :func:`from_nir` reads (and :func:`to_nir` writes a subset of)."""


def _nir():
    try:
        import nir
    except ImportError:
        raise InputError('NIR export and import need the optional package nir: pip install "revsnn_jax[nir]"') \
            from None
    return nir


def _f32(a) -> np.ndarray:
    return np.asarray(a, np.float32)


# --- export ---------------------------------------------------------------------------------------------------

class _Graph:
    """Nodes and edges being built, with each node's output shape (channels-first, no batch axis)."""

    def __init__(self, nir, exact_threshold: bool = False):
        self.nir, self.nodes, self.edges, self.shapes = nir, {}, [], {}
        self.exact_threshold = exact_threshold

    def add(self, name: str, node, shape: tuple[int, ...], *sources: str) -> str:
        if name in self.nodes:
            raise InputError(f"two layers export to the NIR node name {name!r}")
        self.nodes[name] = node
        self.shapes[name] = tuple(int(d) for d in shape)
        self.edges += [(s, name) for s in sources]
        return name


def _symmetric(kernel_hwio: np.ndarray, pads) -> tuple[np.ndarray, tuple[int, int]]:
    """NIR pads symmetrically only. A padding ``(lo, hi)`` with ``lo != hi`` (flax's 'SAME' at stride 2 on an even
    size is ``(0, 1)``) becomes the symmetric ``max(lo, hi)`` with the kernel grown by zero taps on the side that
    pads less: every window then covers the same inputs with the same weights, so the output is the same."""
    k, sym = kernel_hwio, []
    for axis, (lo, hi) in enumerate(pads):
        p = max(lo, hi)
        widths = [(0, 0)] * 4
        widths[axis] = (p - lo, p - hi)
        k = np.pad(k, widths)
        sym.append(p)
    return k, tuple(sym)


def _conv_node(g: _Graph, conv: nnx.Conv, bn: BatchNorm | None, in_scale: float, in_shape, path: str):
    """A Conv2d node for ``conv`` (then ``bn`` folded in, running statistics; the input scaled by ``in_scale``)."""
    c, h, w = in_shape
    kernel = np.asarray(conv.kernel[...], np.float64)
    if conv.kernel_dilation not in (None, 1, (1, 1)) or conv.feature_group_count != 1:
        raise InputError(f"{path}: dilated or grouped convolutions are not exported")
    strides = (conv.strides,) * 2 if isinstance(conv.strides, int) else tuple(conv.strides)
    pads = tuple(explicit_padding(conv.padding, size, kernel.shape[i], strides[i]) for i, size in enumerate((h, w))) \
        if isinstance(conv.padding, str) else tuple(tuple(p) for p in conv.padding)
    bias = np.zeros(kernel.shape[-1]) if conv.bias is None else np.asarray(conv.bias[...], np.float64)
    if bn is not None:   # y = (h - mean) * scale / sqrt(var + eps) + bias, with h = conv(x) + b
        s = np.asarray(bn.scale[...], np.float64) / np.sqrt(np.asarray(bn.var[...], np.float64) + bn.eps)
        kernel = kernel * s
        bias = (bias - np.asarray(bn.mean[...], np.float64)) * s + np.asarray(bn.bias[...], np.float64)
    kernel, sym = _symmetric(kernel * in_scale, pads)
    out_hw = tuple((size + 2 * p - k) // st + 1 for size, p, k, st in zip((h, w), sym, kernel.shape[:2], strides))
    node = g.nir.Conv2d(input_shape=(h, w), weight=_f32(kernel.transpose(3, 2, 0, 1)), stride=strides,
                        padding=sym, dilation=(1, 1), groups=1, bias=_f32(bias))
    return node, (kernel.shape[-1], *out_hw)


def _lif_node(nir, layer: Neuron, shape, dt: float, path: str, r: float = 1.0, v_leak: float | None = None,
              exact_threshold: bool = False):
    p = layer.params
    if getattr(p, "no_nir", None):
        raise InputError(f"{path}: {p.no_nir}")
    if not hasattr(p, "nir_leak"):
        exported = ", ".join(k for k, cls in neurons.NEURONS.items() if hasattr(cls, "nir_leak"))
        raise InputError(f"{path}: no NIR mapping for neuron {neurons.neuron_kind(p)!r} (exported: {exported})")
    k = p.nir_leak(layer.theta_value())
    if p.soft_reset:
        raise InputError(f"{path}: a soft reset (V - V_th after a spike) has no NIR equivalent: NIR's LIF resets to "
                         "the constant v_reset")
    if not p.decay_input:   # v += k (v_leak - v) + I  is NIR's  v += k (v_leak - v + r I)  with r = 1/k
        r = r / k

    def full(value):
        return np.full(shape, value, np.float32)

    threshold = p.v_threshold if exact_threshold else strict_threshold(p.v_threshold)
    return nir.LIF(tau=full(dt / k), r=full(r), v_leak=full(p.v_reset if v_leak is None else v_leak),
                     v_threshold=full(threshold), v_reset=full(p.v_reset))


def strict_threshold(v_threshold: float) -> np.float32:
    """The NIR threshold of a neuron that fires at ``v >= v_threshold``: the largest float32 below it, so that
    NIR's ``v > v_th`` fires for exactly the same float32 potentials (a potential landing on the threshold is
    not rare: measured once in 11.5 M spikes of a ResNet-19, and every later layer then differs)."""
    return np.nextafter(np.float32(v_threshold), np.float32(-np.inf))


def inclusive_threshold(v_threshold) -> float:
    """The inverse of :func:`strict_threshold`: the ``v >= `` threshold that fires like NIR's ``v > v_threshold``
    on float32 potentials."""
    return float(np.nextafter(np.float32(v_threshold), np.float32(np.inf)))


def _neuron(g, layer, paths, dt, shape, *sources) -> str:
    path = paths[id(layer)]
    return g.add(path, _lif_node(g.nir, layer, shape, dt, path, exact_threshold=g.exact_threshold), shape, *sources)


def _conv(g, conv, bn, paths, shape, src, in_scale=1.0):
    node, shape = _conv_node(g, conv, bn, in_scale, shape, paths[id(conv)])
    return g.add(paths[id(conv)], node, shape, src), shape


def _pool(g, name, src, shape, size) -> tuple[str, tuple]:
    c, h, w = shape
    node = g.nir.SumPool2d(kernel_size=np.array(size), stride=np.array(size), padding=np.array([0, 0]))
    shape = (c, h // size[0], w // size[1])
    return g.add(name, node, shape, src), shape


def _readout(g, head: nnx.Linear, paths, src, shape, scale) -> str:
    """The head: the global average of the last spike maps (SumPool2d, its 1/(H W) folded into the weights), a
    Flatten (trivial order: the map is 1x1 by then) and the linear layer as an Affine."""
    c, h, w = shape
    if h * w > 1:
        src, shape = _pool(g, "global_pool", src, shape, (h, w))
        scale = scale / (h * w)
    src = g.add("flatten", g.nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0), (c,), src)
    kernel = np.asarray(head.kernel[...], np.float64) * scale
    bias = np.zeros(kernel.shape[1]) if head.bias is None else np.asarray(head.bias[...], np.float64)
    return g.add(paths[id(head)], g.nir.Affine(weight=_f32(kernel.T), bias=_f32(bias)), (kernel.shape[1],), src)


def _export_vgg(g, model: SpikingVGG, paths, dt, shape) -> str:
    src, scale, i, pools = "input", 1.0, 0, 0
    for item in model.layout:
        if item == "M":
            pools += 1
            src, shape = _pool(g, f"pool{pools}", src, shape, (2, 2))
            scale /= 4
            continue
        src, shape = _conv(g, model.convs[i], model.bns[i], paths, shape, src, scale)
        src, scale = _neuron(g, model.neurons[i], paths, dt, shape, src), 1.0
        i += 1
    return _readout(g, model.head, paths, src, shape, scale)


def _export_resnet(g, model: SpikingResNet, paths, dt, shape) -> str:
    if getattr(model, "hidden", None) is not None:
        raise InputError("no NIR export yet for a ResNet with a spiking linear layer before its head "
                         "(resnet19_nd): only the convolutional ResNets export")
    src, shape = _conv(g, model.stem_conv, model.stem_bn, paths, shape, "input")
    src = _neuron(g, model.stem_neuron, paths, dt, shape, src)
    for block in model.blocks:
        if isinstance(block, BasicBlock):
            chain = [(block.conv1, block.bn1, block.neuron1), (block.conv2, block.bn2, block.neuron2)]
        elif isinstance(block, Bottleneck):
            chain = [(block.conv1, block.bn1, block.neuron1), (block.conv2, block.bn2, block.neuron2),
                     (block.conv3, block.bn3, block.neuron3)]
        else:
            raise InputError(f"{paths[id(block)]}: no NIR export for blocks of type {type(block).__name__}")
        x, h, in_shape = src, src, shape
        for conv, bn, neuron in chain[:-1]:
            h, shape = _conv(g, conv, bn, paths, shape, h)
            h = _neuron(g, neuron, paths, dt, shape, h)
        conv, bn, neuron = chain[-1]
        h, shape = _conv(g, conv, bn, paths, shape, h)
        if block.shortcut is None:
            shortcut = x
        else:
            shortcut, short_shape = _conv(g, block.shortcut.conv, block.shortcut.bn, paths, in_shape, x)
            if short_shape != shape:
                raise InputError(f"{paths[id(block)]}: shortcut shape {short_shape} differs from {shape}")
        src = _neuron(g, neuron, paths, dt, shape, h, shortcut)   # two edges into one node: summed
    return _readout(g, model.head, paths, src, shape, 1.0)


def to_nir(model: nnx.Module, batch_stats=None, input_shape=None, *, dt: float = DEFAULT_DT, train: bool = False,
           timesteps: int | None = None, encoding: str = "direct", exact_threshold: bool = False):
    """The NIR graph of ``model`` in evaluation mode.

    Args:
      model: a ``SpikingVGG``, ``SpikingResNet`` (any registered variant) or :class:`NIRNetwork`, with ``lif`` or
        ``plif`` neurons.
      batch_stats: the running BatchNorm statistics to fold (an ``nnx.State``, e.g. from a checkpoint); ``None``:
        the model's own.
      input_shape: one sample ``(H, W, C)`` in this library's layout (NIR's ``Input`` is written ``(C, H, W)``);
        optional for a :class:`NIRNetwork`, which knows its own.
      dt: seconds per timestep: sets ``tau = dt / k`` of every LIF node, recorded in the metadata.
      train: ``True`` is refused: training-mode BatchNorm normalises each timestep by its own batch's statistics,
        which no time-invariant NIR node expresses.
      timesteps, encoding: recorded in the metadata (how the network was run: ``direct`` = the same input at every
        step; ``frames`` = one input per step).
      exact_threshold: write each LIF's ``v_threshold`` as it is, for simulators that compare in float64; by
        default it is the largest float32 below it (:func:`strict_threshold`), so that NIR's ``v > v_th`` fires for
        exactly the potentials our ``v >= V_th`` fires for in float32.

    Returns:
      A type-checked ``nir.NIRGraph``. Raises InputError, naming the layer, for anything without an exact mapping.
    """
    nir = _nir()
    if train:
        raise InputError("BatchNorm in training mode normalises every timestep with that batch's own statistics; NIR "
                         "nodes are fixed in time and batch-independent, so only the evaluation-mode network "
                         "(running statistics, folded into the convolutions) is exported: pass train=False")
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise InputError(f"dt must be a finite number of seconds > 0, got {dt!r}")
    if batch_stats is not None:
        graphdef, params, _ = nnx.split(model, nnx.Param, nnx.BatchStat)
        model = nnx.merge(graphdef, params, batch_stats, copy=True)
    if hasattr(model, "to_nir"):   # a network read from NIR writes itself back
        if input_shape is not None and tuple(input_shape) != model.input_hwc:
            raise InputError(f"this {type(model).__name__} takes inputs {model.input_hwc}, not {tuple(input_shape)}")
        return model.to_nir(dt, timesteps, encoding, exact_threshold=exact_threshold)
    if not isinstance(model, (SpikingVGG, SpikingResNet)):
        raise InputError(f"no NIR export for models of type {type(model).__name__} (exported: SpikingVGG, "
                         "SpikingResNet, NIRNetwork)")
    if input_shape is None or len(tuple(input_shape)) != 3:
        raise InputError(f"input_shape must be one sample's (H, W, C), got {input_shape!r}")
    h, w, c = (int(d) for d in input_shape)
    if c != model.in_channels:
        raise InputError(f"{type(model).__name__} takes {model.in_channels} input channels; input_shape {input_shape} "
                         f"has {c} (input_shape is (H, W, C))")
    if h % model.downsample or w % model.downsample:
        raise InputError(f"{type(model).__name__} downsamples by {model.downsample}: height and width must be "
                         f"multiples of it, got {h}x{w}")
    g, paths = _Graph(nir, exact_threshold), module_paths(model)
    g.add("input", nir.Input(input_type={"input": np.array([c, h, w])}), (c, h, w))
    export = _export_vgg if isinstance(model, SpikingVGG) else _export_resnet
    last = export(g, model, paths, float(dt), (c, h, w))
    g.add("output", nir.Output(output_type={"output": np.array(g.shapes[last])}), g.shapes[last], last)
    return nir.NIRGraph(nodes=g.nodes, edges=g.edges, metadata=_metadata(dt, timesteps, encoding, exact_threshold))


def _metadata(dt, timesteps, encoding, exact_threshold: bool = False) -> dict[str, Any]:
    from revsnn_jax import __version__
    meta = {"source": f"revsnn_jax {__version__}", "dt": float(dt), "reset": "zero", "spike": "v >= v_threshold",
            "threshold": "as trained (v > v_threshold: differs from v >= only where v lands on it)" if exact_threshold
            else "largest float32 below the trained one (v > it fires where v >= the trained one does, in float32)",
            "v_initial": 0.0, "readout": "mean over timesteps of the output node", "encoding": encoding,
            "layout": "CHW"}
    if timesteps is not None:
        meta["timesteps"] = int(timesteps)
    return meta


# --- import ---------------------------------------------------------------------------------------------------
