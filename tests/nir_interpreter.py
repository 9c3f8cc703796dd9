"""An independent NIR interpreter (numpy) for the tests, written from NIR 1.0's documented node semantics, not from
the exporter: channels-first tensors without a batch axis (a batch axis is added here in front), the edges into a
node summed, LIF stepped by forward Euler of tau dv/dt = (v_leak - v) + r I with a spike where v > v_threshold and
then v = v_reset, Conv2d as torch's cross-correlation with symmetric zero padding, SumPool2d/AvgPool2d windows,
Flatten of the axes start_dim..end_dim (indices without the batch axis) in C order.
"""

from __future__ import annotations

import numpy as np


def _conv2d(x, weight, bias, stride, padding):
    b, c, h, w = x.shape
    o, ci, kh, kw = weight.shape
    assert ci == c, (weight.shape, x.shape)
    ph, pw = padding
    sh, sw = stride
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    out = np.zeros((b, o, ho, wo), x.dtype)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]   # [B, C, Ho, Wo]
            out += np.einsum("bchw,oc->bohw", patch, weight[:, :, i, j])
    return out + bias.reshape(1, -1, 1, 1)


def _pool(x, kernel, stride, average):
    b, c, h, w = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((b, c, ho, wo), x.dtype)
    for i in range(kh):
        for j in range(kw):
            out += x[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
    return out / (kh * kw) if average else out


def _pair(v):
    return tuple(int(a) for a in np.broadcast_to(np.asarray(v), (2,)))


def _order(nodes, edges):
    srcs = {n: [s for s, d in edges if d == n] for n in nodes}
    order, done = [], set()
    while len(order) < len(nodes):
        ready = [n for n in nodes if n not in done and all(s in done for s in srcs[n])]
        assert ready, "cycle"
        order += ready
        done |= set(ready)
    return order, srcs


def run(graph, inputs, dt: float, dtype=np.float32, potentials: dict | None = None):
    """Runs ``graph`` on ``inputs`` ``[T, B, *input shape]`` (channels-first). Returns ``(outputs [T, B, ...],
    {LIF node: spikes [T, B, ...]})``; a dict given as ``potentials`` receives each LIF node's potentials before
    the threshold (``[T, B, ...]``)."""
    nodes = graph.nodes
    order, srcs = _order(list(nodes), [(str(s), str(d)) for s, d in graph.edges])
    state, spikes, outs = {}, {n: [] for n in nodes if type(nodes[n]).__name__ == "LIF"}, []
    for x_t in inputs:
        x_t = np.asarray(x_t, dtype)
        val = {}
        for name in order:
            node, kind = nodes[name], type(nodes[name]).__name__
            if kind == "Input":
                val[name] = x_t
                continue
            h = sum(val[s] for s in srcs[name])
            if kind == "Output":
                outs.append(h)
                val[name] = h
            elif kind == "Conv2d":
                assert int(node.groups) == 1 and _pair(node.dilation) == (1, 1)
                val[name] = _conv2d(h, np.asarray(node.weight, dtype), np.asarray(node.bias, dtype),
                                    _pair(node.stride), _pair(node.padding))
            elif kind in ("SumPool2d", "AvgPool2d"):
                assert _pair(node.padding) == (0, 0)
                val[name] = _pool(h, _pair(node.kernel_size), _pair(node.stride), kind == "AvgPool2d")
            elif kind == "Flatten":
                nd = h.ndim - 1
                start, end = node.start_dim % nd, node.end_dim % nd
                val[name] = h.reshape(h.shape[:1 + start] + (-1,) + h.shape[2 + end:])
            elif kind == "Affine":
                val[name] = h @ np.asarray(node.weight, dtype).T + np.asarray(node.bias, dtype)
            elif kind == "Linear":
                val[name] = h @ np.asarray(node.weight, dtype).T
            elif kind == "Scale":
                val[name] = h * np.asarray(node.scale, dtype)
            elif kind == "LIF":
                tau, r = np.asarray(node.tau, dtype), np.asarray(node.r, dtype)
                v_leak, v_th = np.asarray(node.v_leak, dtype), np.asarray(node.v_threshold, dtype)
                v_reset = np.asarray(node.v_reset, dtype)
                v = state.get(name, np.zeros_like(h))
                v = v + (dtype(dt) / tau) * (v_leak - v + r * h)
                if potentials is not None:
                    potentials.setdefault(name, []).append(v)
                z = (v > v_th).astype(dtype)
                state[name] = np.where(z > 0, v_reset, v)
                spikes[name].append(z)
                val[name] = z
            else:
                raise NotImplementedError(kind)
    return np.stack(outs), {n: np.stack(s) for n, s in spikes.items()}
