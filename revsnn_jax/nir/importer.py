"""NIR import: :func:`from_nir` builds a trainable :class:`NIRNetwork`, an ordinary model of this library, from a
NIR graph made anywhere (the nodes it reads: ``SUPPORTED_NODES``)."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

from revsnn_jax import neurons
from revsnn_jax.errors import InputError
from revsnn_jax.nn.context import StepContext
from revsnn_jax.nn.conv import conv2d
from revsnn_jax.nn.layers import Neuron
from revsnn_jax.nir.export import SUPPORTED_NODES, _f32, _lif_node, _metadata, _nir, inclusive_threshold


def _scalar(node, field: str, name: str) -> float:
    values = np.asarray(getattr(node, field), np.float64)
    if values.size == 0:
        raise InputError(f"NIR node {name!r}: {field} is empty")
    if not np.all(values == values.flat[0]):
        raise InputError(f"NIR node {name!r}: {field} varies across neurons ({values.min()} .. {values.max()}); "
                         "neurons here have one value per layer")
    return float(values.flat[0])


def _article(word: str) -> str:
    """``an`` before a vowel sound of a node type's name (an IF, an I, an LIF, a CubaLIF), ``a`` otherwise."""
    return "an" if word[:1] in "AEIOU" or word in ("LIF", "LI") else "a"


def _on_cycles(pending, sources) -> list[str]:
    """Of the nodes left unordered, those on a cycle: the ones downstream of a cycle (that feed none back) are
    dropped one by one."""
    left = set(pending)
    while True:
        feeding = {s for n in left for s in sources[n] if s in left}
        if feeding >= left:
            return sorted(left)
        left &= feeding


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
            raise InputError(f"the NIR graph has a cycle through {', '.join(_on_cycles(pending, sources))}: recurrent "
                             "graphs are not supported")
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
                raise InputError(f"NIR node {name!r} is {_article(kind)} {kind}, which has no counterpart here "
                                 f"(supported: {', '.join(SUPPORTED_NODES)})")
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

    def to_nir(self, dt: float, timesteps: int | None, encoding: str, exact_threshold: bool = False):
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
                node = _lif_node(nir, layer, shape, dt, name, r=r, v_leak=v_leak, exact_threshold=exact_threshold)
                if dt == self.dt:   # the time constant as read, not recomputed through k (no rounding)
                    node.tau = np.full(shape, tau, np.float32)
                nodes[name] = node
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=_metadata(dt, timesteps, encoding, exact_threshold))


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
    for node types or settings with no counterpart here (listed in ``SUPPORTED_NODES``).
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
    v_initial = (graph.metadata or {}).get("v_initial", 0.0)
    if not np.all(np.asarray(v_initial, np.float64) == 0.0):
        raise InputError(f"the graph's metadata starts its neurons at v_initial={v_initial!r}; every neuron here "
                         "starts at 0 (NIR has no initial-state field to import), so it would run differently")
    return NIRNetwork(graph, dt)


