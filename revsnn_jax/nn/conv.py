"""A 2-D convolution (NHWC, HWIO) whose gradients are ordinary convolutions in the standard layout.

XLA's CPU backend runs the weight-gradient convolution that autodiff emits (batch and feature dimensions
swapped) about 50x slower when it sits inside a rolled ``lax.scan`` (measured: a 3-conv spiking net, T=8, B=32,
36 s -> 1.2 s per training step with this convolution), which is where
every time loop of this project puts it. ``conv2d`` computes the same values with a ``custom_vjp`` whose
backward is two plain NHWC/HWIO convolutions over explicitly transposed operands; on GPU it costs nothing extra.
Drop-in for ``nnx.Conv(conv_general_dilated=...)``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from revsnn_jax.errors import InputError
from revsnn_jax.remat import after

_DN = ("NHWC", "HWIO", "NHWC")


def explicit_padding(padding, in_size, kernel, stride):
    if isinstance(padding, str):
        if padding.upper() == "VALID":
            return (0, 0)
        if padding.upper() == "SAME":
            out = -(-in_size // stride)
            total = max((out - 1) * stride + kernel - in_size, 0)
            return (total // 2, total - total // 2)
        raise InputError(f"unsupported padding {padding!r}; use 'SAME', 'VALID' or explicit pairs")
    return tuple(padding)


def _strides_and_pads(x, kernel, window_strides, padding):
    """Hashable ``((sh, sw), ((lo, hi), (lo, hi)))`` for NHWC ``x`` and an HWIO ``kernel``."""
    strides = (window_strides,) * 2 if isinstance(window_strides, int) else tuple(window_strides)
    pads = tuple(explicit_padding(padding, x.shape[1 + i], kernel.shape[i], strides[i]) for i in range(2)) \
        if isinstance(padding, str) else tuple(tuple(p) for p in padding)
    return strides, pads


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv(x, w, strides, padding):
    return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=_DN)


def _conv_fwd(x, w, strides, padding):
    return _conv(x, w, strides, padding), (x, w)


def _conv_bwd(strides, padding, res, g):
    # Without this XLA transposes x during the forward pass and holds the copy until here (revsnn_jax.remat).
    x, w = after(res, g)
    kh, kw = w.shape[:2]
    (sh, sw), ((plh, phh), (plw, phw)) = strides, padding
    # Input gradient: the output cotangent, dilated by the stride, convolved with the flipped kernel.
    w_flip = jnp.flip(w, (0, 1)).swapaxes(2, 3)
    pad_x = []
    for size, k, s, lo, hi, out in ((x.shape[1], kh, sh, plh, phh, g.shape[1]),
                                    (x.shape[2], kw, sw, plw, phw, g.shape[2])):
        dilated = (out - 1) * s + 1
        low = k - 1 - lo
        pad_x.append((low, size + k - 1 - low - dilated))
    gx = lax.conv_general_dilated(g, w_flip, (1, 1), pad_x, lhs_dilation=(sh, sw), dimension_numbers=_DN)
    # Weight gradient: channels of x as the batch, the batch as features, the cotangent as a dilated kernel.
    xt = x.transpose(3, 1, 2, 0)             # [Cin, H, W, B]
    gt = g.transpose(1, 2, 0, 3)             # [Ho, Wo, B, Cout]
    pad_w = []
    for size, k, s, lo, out in ((x.shape[1], kh, sh, plh, g.shape[1]), (x.shape[2], kw, sw, plw, g.shape[2])):
        dilated = (out - 1) * s + 1
        pad_w.append((lo, k - 1 + dilated - size - lo))
    gw = lax.conv_general_dilated(xt, gt, (1, 1), pad_w, rhs_dilation=(sh, sw), dimension_numbers=_DN)
    return gx, gw.transpose(1, 2, 0, 3)      # [KH, KW, Cin, Cout]


_conv.defvjp(_conv_fwd, _conv_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _replay(x, w, h, strides, padding):
    return h


def _replay_fwd(x, w, h, strides, padding):
    return h, (x, w)


def _replay_bwd(strides, padding, res, g):
    gx, gw = _conv_bwd(strides, padding, res, g)
    return gx, gw, jnp.zeros_like(g)


_replay.defvjp(_replay_fwd, _replay_bwd)


def conv_replay(x: jax.Array, kernel: jax.Array, h: jax.Array, window_strides, padding) -> jax.Array:
    """Returns ``h``, a stored value of ``conv2d(x, kernel, window_strides, padding)``, with that convolution's
    gradients with respect to ``x`` and ``kernel``: a backward that replays a recorded forward runs no forward
    convolution (``h`` itself gets no gradient)."""
    strides, pads = _strides_and_pads(x, kernel, window_strides, padding)
    if h.shape != jax.eval_shape(lambda: _conv(x, kernel, strides, pads)).shape:
        raise ValueError(f"recorded conv output has shape {h.shape}, the convolution gives another")
    return _replay(x, kernel, h, strides, pads)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _traced(x, w, a, strides, padding):
    return _conv(x, w, strides, padding)


def _traced_fwd(x, w, a, strides, padding):
    return _conv(x, w, strides, padding), (w, a)


def _traced_bwd(strides, padding, res, g):
    w, a = res
    # The input gradient does not read the input's values, so ``a`` stands in for it: one backward gives the
    # input gradient and the weight gradient at the trace.
    gx, gw = _conv_bwd(strides, padding, (a, w), g)
    return gx, gw, jnp.zeros_like(a)


_traced.defvjp(_traced_fwd, _traced_bwd)


def conv_traced(x: jax.Array, kernel: jax.Array, a: jax.Array, window_strides, padding) -> jax.Array:
    """``conv2d(x, kernel)`` whose **weight gradient is taken at** ``a`` (shaped like ``x``), OTTT's presynaptic
    trace; the input gradient is the convolution's own, ``a`` gets none. The forward keeps ``a`` and the kernel,
    not ``x`` (:mod:`revsnn_jax.methods.online`)."""
    if a.shape != x.shape:
        raise InputError(f"the trace has shape {a.shape}, the convolution's input {x.shape}")
    return _traced(x, kernel, a, *_strides_and_pads(x, kernel, window_strides, padding))


def conv2d(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None, dimension_numbers=None,
           feature_group_count=1, batch_group_count=1, precision=None, preferred_element_type=None, **kwargs):
    """``lax.conv_general_dilated`` for NHWC x HWIO, no dilation, one group; other uses fall back to it."""
    plain = (lhs.ndim == 4 and all(d in (None, 1) or tuple(d) == (1, 1) for d in (lhs_dilation, rhs_dilation))
             and feature_group_count == 1 and batch_group_count == 1 and preferred_element_type is None
             and kwargs.get("out_sharding") is None and precision is None
             and (dimension_numbers is None
                  or lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
                  == lax.conv_dimension_numbers(lhs.shape, rhs.shape, _DN)))
    if not plain:
        return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                        dimension_numbers, feature_group_count, batch_group_count, precision,
                                        preferred_element_type, **kwargs)
    return _conv(lhs, rhs, *_strides_and_pads(lhs, rhs, window_strides, padding))
