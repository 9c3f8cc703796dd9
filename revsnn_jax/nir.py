"""Export trained networks to the Neuromorphic Intermediate Representation (NIR) and run NIR graphs here.

Needs the optional package ``nir`` (``pip install "revsnn_jax[nir]"``); nothing else in the library imports this
module. ``docs/nir.md`` has the mapping in full; in short:

* :func:`to_nir` lowers a :class:`~revsnn_jax.nn.vgg.SpikingVGG`, a :class:`~revsnn_jax.nn.resnet.SpikingResNet`
  or a :class:`NIRNetwork` with ``lif`` or ``plif`` neurons, in evaluation mode, to a flat ``nir.NIRGraph`` of
  ``Input, Conv2d, LIF, SumPool2d, Flatten, Affine, Output``. Tensors are channels-first without a batch axis
  (NIR's layout); convolution kernels HWIO -> OIHW; BatchNorm (running statistics) folded into the convolution
  before it; 2x2 average pooling and the head's global average as ``SumPool2d`` with the ``1/k^2`` folded into
  the next layer's weights; a residual block's shortcut as a second edge into its last LIF node (NIR sums the
  edges into a node). Node names are the layers' paths in the model (``convs.0``, ``blocks.1.neuron2``).
* :func:`from_nir` builds a trainable :class:`NIRNetwork` (an ordinary model of this library: every gradient
  strategy works with it) from a graph of ``Input, Output, Conv2d, Affine, Linear, Scale, SumPool2d, AvgPool2d,
  Flatten, LIF`` nodes, wherever it was made.

**The LIF discretisation.** NIR's LIF is continuous: :math:`\\tau\\dot v = (v_{leak} - v) + R I`, a spike when
:math:`v > v_{th}`, then :math:`v \\leftarrow v_{reset}`. One forward-Euler step of length ``dt`` is
:math:`v \\leftarrow v + (dt/\\tau)(v_{leak} - v + R I)`. This library's LIF (:mod:`revsnn_jax.neurons.lif`) is
:math:`M = V + k(X - (V - V_{reset}))` with a hard reset to :math:`V_{reset}`, so it is that Euler step exactly with
``tau = dt / k`` (``k = 1/tau`` of LIF, ``sigmoid(w)`` of PLIF), ``r = 1`` and ``v_leak = v_reset``. The graph's
metadata records ``dt``, the reset (``"zero"``: to ``v_reset``, not subtractive), the readout (the mean over time
of the output node) and the input encoding; a simulator must step with the same ``dt``. Spikes fire at
:math:`M \\ge V_{th}` here and at :math:`v > v_{th}` in NIR, so the exported threshold is the largest float32
below :math:`V_{th}` (:func:`strict_threshold`; the import undoes it): the two conditions then agree on every
float32 potential, including one that lands exactly on the threshold, which does happen (once in 11.5 M spikes of
a ResNet-19, enough to change every later layer).

**Not exportable, with the reason in the error:** the reversible neurons (``rev``: the reset multiplies the
potential by the real-valued output, :math:`(1 - Y) M` with :math:`Y = S + \\beta X_2`, a product of two signals;
``exact_rev``: fixed-point shifts that drop and keep low bits), BatchNorm in training mode (per-timestep batch
statistics), models of other classes.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

from revsnn_jax import neurons
from revsnn_jax.errors import InputError
from revsnn_jax.nn.context import StepContext, module_paths
from revsnn_jax.nn.conv import conv2d, explicit_padding
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

    def __init__(self, nir):
        self.nir, self.nodes, self.edges, self.shapes = nir, {}, [], {}

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


def _lif_node(nir, layer: Neuron, shape, dt: float, path: str, r: float = 1.0, v_leak: float | None = None):
    p = layer.params
    kind = neurons.neuron_kind(p)
    if kind == "lif":
        k = 1.0 / p.tau
    elif kind == "plif":
        k = float(jax.nn.sigmoid(layer.theta_value()["w"]))
    elif kind == "rev":
        raise InputError(f"{path}: the reversible neuron (rev) has no NIR equivalent: its reset multiplies the "
                         "potential by its real-valued output ((1 - Y) M with Y = S + beta X2, a product of two "
                         "signals), and NIR's nodes are linear maps and neurons with a reset to a constant")
    elif kind == "exact_rev":
        raise InputError(f"{path}: the exactly reversible neuron (exact_rev) has no NIR equivalent: it steps in "
                         "fixed point (shifts that round down, a reset that keeps alpha V) where NIR's LIF is "
                         "real-valued with a reset to a constant")
    else:
        raise InputError(f"{path}: no NIR mapping for neuron {kind!r} (exported: lif, plif)")
    if p.soft_reset:
        raise InputError(f"{path}: a soft reset (V - V_th after a spike) has no NIR equivalent: NIR's LIF resets to "
                         "the constant v_reset")
    if not p.decay_input:   # v += k (v_leak - v) + I  is NIR's  v += k (v_leak - v + r I)  with r = 1/k
        r = r / k

    def full(value):
        return np.full(shape, value, np.float32)

    return nir.LIF(tau=full(dt / k), r=full(r), v_leak=full(p.v_reset if v_leak is None else v_leak),
                     v_threshold=full(strict_threshold(p.v_threshold)), v_reset=full(p.v_reset))


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
    return g.add(path, _lif_node(g.nir, layer, shape, dt, path), shape, *sources)


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
           timesteps: int | None = None, encoding: str = "direct"):
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
    if isinstance(model, NIRNetwork):
        if input_shape is not None and tuple(input_shape) != model.input_hwc:
            raise InputError(f"this NIRNetwork takes inputs {model.input_hwc}, not {tuple(input_shape)}")
        return model.to_nir(dt, timesteps, encoding)
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
    g, paths = _Graph(nir), module_paths(model)
    g.add("input", nir.Input(input_type={"input": np.array([c, h, w])}), (c, h, w))
    export = _export_vgg if isinstance(model, SpikingVGG) else _export_resnet
    last = export(g, model, paths, float(dt), (c, h, w))
    g.add("output", nir.Output(output_type={"output": np.array(g.shapes[last])}), g.shapes[last], last)
    return nir.NIRGraph(nodes=g.nodes, edges=g.edges, metadata=_metadata(dt, timesteps, encoding))


def _metadata(dt, timesteps, encoding) -> dict[str, Any]:
    from revsnn_jax import __version__
    meta = {"source": f"revsnn_jax {__version__}", "dt": float(dt), "reset": "zero", "spike": "v >= v_threshold",
            "readout": "mean over timesteps of the output node", "encoding": encoding, "layout": "CHW"}
    if timesteps is not None:
        meta["timesteps"] = int(timesteps)
    return meta


# --- import ---------------------------------------------------------------------------------------------------

def _scalar(node, field: str, name: str) -> float:
    values = np.asarray(getattr(node, field), np.float64)
    if values.size == 0:
        raise InputError(f"NIR node {name!r}: {field} is empty")
    if not np.all(values == values.flat[0]):
        raise InputError(f"NIR node {name!r}: {field} varies across neurons ({values.min()} .. {values.max()}); "
                         "neurons here have one value per layer")
    return float(values.flat[0])


def _order(graph) -> list[str]:
    """The nodes in an order where every node comes after its sources; InputError for a cycle."""
    sources = {n: [] for n in graph.nodes}
    for s, d in graph.edges:
        sources[str(d)].append(str(s))
    done, order = set(), []
    pending = list(graph.nodes)
    while pending:
        ready = [n for n in pending if all(s in done for s in sources[n])]
        if not ready:
            raise InputError(f"the NIR graph has a cycle through {', '.join(sorted(pending))}: recurrent graphs are "
                             "not supported")
        for n in ready:
            done.add(n)
            order.append(n)
        pending = [n for n in pending if n not in done]
    return order


def _hwc(shape) -> tuple[int, ...]:
    shape = tuple(int(d) for d in shape)
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape


class NIRNetwork(nnx.Module):
    """A network read from a NIR graph: one timestep per :meth:`step`, like every model of this library.

    Built by :func:`from_nir`. Inputs are NHWC (``[B, H, W, C]`` for a graph whose Input is ``(C, H, W)``;
    ``[B, 1, 1, N]`` for an Input ``(N,)``); Flatten reorders to NIR's channels-first order before it flattens,
    so the graph's Affine weights apply as they are. The output is the output node's value at each step (averaged
    over T by :func:`revsnn_jax.nn.network.forward`). Convolution, Affine, Linear and Scale parameters are
    trainable ``nnx.Param``; each LIF node is a ``lif`` :class:`~revsnn_jax.nn.layers.Neuron` with
    ``tau = tau_nir / dt`` and its input ``r I + (v_leak - v_reset)``.
    """

    def __init__(self, graph, dt: float, *, rngs: nnx.Rngs | None = None):
        rngs = rngs or nnx.Rngs(0)
        order = _order(graph)
        inputs = [n for n in order if type(graph.nodes[n]).__name__ == "Input"]
        outputs = [n for n in order if type(graph.nodes[n]).__name__ == "Output"]
        if len(inputs) != 1 or len(outputs) != 1:
            raise InputError(f"a NIR graph with one Input and one Output node is supported; this one has "
                             f"{len(inputs)} Input and {len(outputs)} Output nodes")
        sources = {n: [] for n in order}
        for s, d in graph.edges:
            sources[str(d)].append(str(s))
        self.dt, self.metadata = float(dt), dict(getattr(graph, "metadata", None) or {})
        plan, layers, shapes = [], [], {}
        for name in order:
            node = graph.nodes[name]
            kind = type(node).__name__
            if kind not in SUPPORTED_NODES:
                raise InputError(f"NIR node {name!r} is a {kind}, which has no counterpart here (supported: "
                                 f"{', '.join(SUPPORTED_NODES)})")
            if kind == "Input":
                shape = tuple(int(d) for d in np.asarray(node.input_type["input"]).reshape(-1))
                if len(shape) not in (1, 3):
                    raise InputError(f"NIR Input {name!r} has shape {shape}; (C, H, W) or (N,) is supported")
                shapes[name] = shape
                plan.append((kind, name, (), None))
                continue
            if not sources[name]:
                raise InputError(f"NIR node {name!r} has no incoming edge")
            ins = [shapes[s] for s in sources[name]]
            if any(s != ins[0] for s in ins):
                raise InputError(f"NIR node {name!r} sums inputs of different shapes {ins}")
            shape, static, layer = self._build(kind, name, node, ins[0], rngs)
            shapes[name] = shape
            index = None
            if layer is not None:
                index = len(layers)
                layers.append(layer)
            plan.append((kind, name, tuple(sources[name]), (index, static)))
        self.layers = nnx.List(layers)
        self.plan = tuple(plan)
        self.shapes = shapes
        self.input_shape = shapes[inputs[0]]
        self.input_hwc = _hwc(self.input_shape) if len(self.input_shape) == 3 else (1, 1, self.input_shape[0])
        self.in_channels, self.downsample = self.input_hwc[-1], 1
        self.output_name = outputs[0]

    def _build(self, kind, name, node, shape, rngs):
        """``(output shape, static settings, module or None)`` of one node."""
        if kind == "Output":
            return shape, None, None
        if kind == "Conv2d":
            return self._conv(name, node, shape, rngs)
        if kind in ("Affine", "Linear"):
            weight = np.asarray(node.weight, np.float32)
            if len(shape) != 1 or weight.ndim != 2 or weight.shape[1] != shape[0]:
                raise InputError(f"NIR {kind} {name!r}: weight {weight.shape} does not apply to inputs of shape "
                                 f"{shape} (a Flatten must come first)")
            layer = _Dense(weight, np.asarray(node.bias, np.float32) if kind == "Affine" else None)
            return (weight.shape[0],), None, layer
        if kind == "Scale":
            scale = np.asarray(node.scale, np.float32)
            if scale.shape != shape:
                raise InputError(f"NIR Scale {name!r}: scale {scale.shape} for inputs {shape}")
            return shape, None, _Scale(scale.transpose(1, 2, 0) if scale.ndim == 3 else scale)
        if kind in ("SumPool2d", "AvgPool2d"):
            k, s, p = (tuple(int(v) for v in np.broadcast_to(np.asarray(getattr(node, f)), (2,)))
                       for f in ("kernel_size", "stride", "padding"))
            if len(shape) != 3 or any(p):
                raise InputError(f"NIR {kind} {name!r}: padded pooling or pooling of non-image inputs {shape} is "
                                 "not supported")
            out = (shape[0], (shape[1] - k[0]) // s[0] + 1, (shape[2] - k[1]) // s[1] + 1)
            return out, (k, s, kind == "AvgPool2d"), None
        if kind == "Flatten":
            start, end = int(node.start_dim), int(node.end_dim)
            n = len(shape)
            if (start % n if n else 0) != 0 or end % n != n - 1:
                raise InputError(f"NIR Flatten {name!r}: start_dim={start}, end_dim={end} on {shape}; only a flatten "
                                 "of every axis (start_dim=0, end_dim=-1) is supported")
            return (int(np.prod(shape)),), None, None
        if kind == "LIF":
            tau = _scalar(node, "tau", name)
            # k = dt / tau as a float32 simulator computes it (tau is stored in float32)
            k = float(np.float32(self.dt) / np.float32(tau))
            params = neurons.LIFParams(tau=1.0 / k,
                                       v_threshold=inclusive_threshold(_scalar(node, "v_threshold", name)),
                                       v_reset=_scalar(node, "v_reset", name))
            width = shape[0] if len(shape) == 3 else shape[-1]
            node_shape = tuple(int(d) for d in np.shape(node.tau))
            if node_shape != shape:
                raise InputError(f"NIR LIF {name!r} has shape {node_shape}; its input has shape {shape}")
            static = (_scalar(node, "r", name), _scalar(node, "v_leak", name), tau)
            return shape, static, Neuron(params, width, name)
        raise AssertionError(kind)

    def _conv(self, name, node, shape, rngs):
        weight = np.asarray(node.weight, np.float32)
        if len(shape) != 3 or weight.ndim != 4 or weight.shape[1] != shape[0]:
            raise InputError(f"NIR Conv2d {name!r}: weight {weight.shape} does not apply to inputs of shape {shape}")
        if int(node.groups) != 1 or tuple(np.broadcast_to(np.asarray(node.dilation), (2,))) != (1, 1):
            raise InputError(f"NIR Conv2d {name!r}: groups={node.groups}, dilation={node.dilation}; only groups=1 "
                             "and dilation=1 are supported")
        kh, kw = weight.shape[2:]
        stride = tuple(int(v) for v in np.broadcast_to(np.asarray(node.stride), (2,)))
        padding = node.padding
        if isinstance(padding, str) or (isinstance(padding, np.ndarray) and padding.dtype.kind in "SUO"):
            padding = str(padding if isinstance(padding, str) else padding.item())
            padding = padding.decode() if isinstance(padding, bytes) else padding
            if padding == "valid":
                pads = (0, 0)
            elif padding == "same" and stride == (1, 1) and kh % 2 and kw % 2:
                pads = (kh // 2, kw // 2)
            else:
                raise InputError(f"NIR Conv2d {name!r}: padding {padding!r} with kernel {kh}x{kw}, stride {stride} "
                                 "(supported: integers, 'valid', 'same' at stride 1 with odd kernels)")
        else:
            pads = tuple(int(v) for v in np.broadcast_to(np.asarray(padding), (2,)))
        out = (weight.shape[0], (shape[1] + 2 * pads[0] - kh) // stride[0] + 1,
               (shape[2] + 2 * pads[1] - kw) // stride[1] + 1)
        if min(out[1:]) < 1:
            raise InputError(f"NIR Conv2d {name!r}: kernel {kh}x{kw} does not fit inputs {shape}")
        conv = nnx.Conv(shape[0], weight.shape[0], (kh, kw), strides=stride, padding=tuple((p, p) for p in pads),
                        use_bias=False, kernel_init=nnx.initializers.zeros, conv_general_dilated=conv2d,
                        rngs=rngs)
        conv.kernel[...] = jnp.asarray(weight.transpose(2, 3, 1, 0))
        bias = np.asarray(node.bias, np.float32) if node.bias is not None else np.zeros(weight.shape[0], np.float32)
        return out, None, _Conv(conv, bias)

    def step(self, x, ctx: StepContext):
        want = self.input_hwc
        if tuple(x.shape[1:]) != want:
            raise InputError(f"this NIR network takes inputs [B, {', '.join(map(str, want))}], got {tuple(x.shape)}")
        values = {}
        for kind, name, srcs, extra in self.plan:
            if kind == "Input":
                values[name] = x if len(self.input_shape) == 3 else x.reshape(x.shape[0], -1)
                continue
            h = values[srcs[0]]
            for s in srcs[1:]:
                h = h + values[s]
            index, static = extra
            layer = None if index is None else self.layers[index]
            if kind == "Conv2d":
                h = ctx.conv(layer.conv, h) + layer.bias[...].reshape(1, 1, 1, -1)
            elif kind in ("Affine", "Linear", "Scale"):
                h = layer(h)
            elif kind in ("SumPool2d", "AvgPool2d"):
                (kh, kw), (sh, sw), average = static
                h = lax.reduce_window(h, 0.0, lax.add, (1, kh, kw, 1), (1, sh, sw, 1), "VALID")
                h = h / (kh * kw) if average else h
            elif kind == "Flatten":
                h = (h.transpose(0, 3, 1, 2) if h.ndim == 4 else h).reshape(h.shape[0], -1)   # NIR: (C, H, W) order
            elif kind == "LIF":
                r, v_leak, _ = static
                drive = h if r == 1.0 else r * h
                offset = v_leak - layer.params.v_reset
                h = ctx.neuron(layer, drive if offset == 0.0 else drive + offset)
            values[name] = h
        return values[self.output_name]

    def node_names(self) -> dict[str, str]:
        """``{layer path in this model: NIR node name}`` of the LIF nodes."""
        return {f"layers.{extra[0]}": name for kind, name, _, extra in self.plan if kind == "LIF"}

    def to_nir(self, dt: float, timesteps: int | None, encoding: str):
        """This network as a NIR graph again (node names and edges as read; LIF ``tau`` for the given ``dt``)."""
        nir = _nir()
        nodes, edges = {}, []
        for kind, name, srcs, extra in self.plan:
            edges += [(s, name) for s in srcs]
            shape = self.shapes[name]
            if kind == "Input":
                nodes[name] = nir.Input(input_type={"input": np.array(shape)})
                continue
            index, static = extra
            layer = None if index is None else self.layers[index]
            if kind == "Output":
                nodes[name] = nir.Output(output_type={"output": np.array(shape)})
            elif kind == "Conv2d":
                conv = layer.conv
                nodes[name] = nir.Conv2d(input_shape=tuple(self.shapes[srcs[0]][1:]),
                                         weight=_f32(np.asarray(conv.kernel[...]).transpose(3, 2, 0, 1)),
                                         stride=tuple(conv.strides), padding=tuple(p[0] for p in conv.padding),
                                         dilation=(1, 1), groups=1, bias=_f32(layer.bias[...]))
            elif kind in ("Affine", "Linear"):
                weight = _f32(np.asarray(layer.kernel[...]).T)
                nodes[name] = nir.Affine(weight=weight, bias=_f32(layer.bias[...])) if layer.bias is not None \
                    else nir.Linear(weight=weight)
            elif kind == "Scale":
                scale = np.asarray(layer.scale[...])
                nodes[name] = nir.Scale(scale=_f32(scale.transpose(2, 0, 1) if scale.ndim == 3 else scale))
            elif kind in ("SumPool2d", "AvgPool2d"):
                k, s, average = static
                cls = nir.AvgPool2d if average else nir.SumPool2d
                nodes[name] = cls(kernel_size=np.array(k), stride=np.array(s), padding=np.array([0, 0]))
            elif kind == "Flatten":
                nodes[name] = nir.Flatten(input_type={"input": np.array(self.shapes[srcs[0]])}, start_dim=0)
            elif kind == "LIF":
                r, v_leak, tau = static
                node = _lif_node(nir, layer, shape, dt, name, r=r, v_leak=v_leak)
                if dt == self.dt:   # the time constant as read, not recomputed through k (no rounding)
                    node.tau = np.full(shape, tau, np.float32)
                nodes[name] = node
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=_metadata(dt, timesteps, encoding))


class _Conv(nnx.Module):
    def __init__(self, conv: nnx.Conv, bias: np.ndarray):
        self.conv, self.bias = conv, nnx.Param(jnp.asarray(bias))


class _Dense(nnx.Module):
    def __init__(self, weight: np.ndarray, bias: np.ndarray | None):
        self.kernel = nnx.Param(jnp.asarray(weight.T))
        self.bias = None if bias is None else nnx.Param(jnp.asarray(bias))

    def __call__(self, x):
        y = x @ self.kernel[...]
        return y if self.bias is None else y + self.bias[...].reshape(1, -1)


class _Scale(nnx.Module):
    def __init__(self, scale: np.ndarray):
        self.scale = nnx.Param(jnp.asarray(scale))

    def __call__(self, x):
        return x * self.scale[...][None]


def from_nir(graph, *, dt: float | None = None) -> NIRNetwork:
    """A trainable :class:`NIRNetwork` from a ``nir.NIRGraph`` (or the path of a file ``nir.write`` made).

    ``dt``: the seconds per timestep the graph's LIF time constants assume; default: the graph's
    ``metadata["dt"]`` (written by :func:`to_nir`). NIR itself stores no time step, so a graph from elsewhere
    without one needs ``dt`` (SpikingJelly's and snnTorch's exports use 1e-4). Raises InputError, naming the node,
    for node types or settings with no counterpart here (listed in :data:`SUPPORTED_NODES`).
    """
    nir = _nir()
    if isinstance(graph, (str, bytes)) or hasattr(graph, "__fspath__"):
        graph = nir.read(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise InputError(f"from_nir takes a nir.NIRGraph or a file path, got {type(graph).__name__}")
    if dt is None:
        dt = (graph.metadata or {}).get("dt")
        if dt is None:
            raise InputError("the graph records no dt (NIR itself has no time step): pass dt=..., the seconds per "
                             "step its LIF time constants assume")
        dt = float(np.asarray(dt))
    if not (math.isfinite(dt) and dt > 0):
        raise InputError(f"dt must be a finite number of seconds > 0, got {dt!r}")
    return NIRNetwork(graph, dt)


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
    names = model.node_names() if isinstance(model, NIRNetwork) else {}
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
    names = model.node_names() if isinstance(model, NIRNetwork) else {}
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
