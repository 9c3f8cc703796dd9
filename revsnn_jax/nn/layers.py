"""Thin flax.nnx layers for one timestep of a spiking network. The neuron math lives in the pure core.

Every layer is called once per timestep inside the network's time loop, so nothing here mutates state: batch
statistics and membrane potentials are returned, and the loop decides what to keep.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from revsnn_jax import neurons
from revsnn_jax.neurons import LIFParams, RevLIFParams
from revsnn_jax.nn.conv import conv2d


class BatchNorm(nnx.Module):
    """Per-timestep batch normalisation over all axes but the last.

    In training it normalises with the statistics of the current timestep's batch and returns them (never
    differentiated) so the caller can update the running averages once per training step; in evaluation it uses
    the running averages. The backward of a reversible loop recomputes the batch statistics of a step as part of
    the normalisation it differentiates, but never updates the running ones.
    """

    def __init__(self, features: int, *, eps: float = 1e-5):
        self.eps = eps
        self.scale = nnx.Param(jnp.ones((features,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((features,), jnp.float32))
        self.mean = nnx.BatchStat(jnp.zeros((features,), jnp.float32))
        self.var = nnx.BatchStat(jnp.ones((features,), jnp.float32))

    def __call__(self, h: jax.Array, train: bool):
        running = None if train else (self.mean[...], self.var[...])
        return batch_norm(h, self.scale[...], self.bias[...], running, self.eps)


def batch_norm(h, scale, bias, running=None, eps: float = 1e-5):
    """Normalises over all axes but the last with the batch statistics (``running=None``) or ``(mean, var)``.

    Returns ``(y, (mean, var))``; the statistics are never differentiated.
    """
    channels = (1,) * (h.ndim - 1) + (-1,)
    if running is None:
        axes = tuple(range(h.ndim - 1))
        mean = jnp.mean(h, axes)
        var = jnp.mean(jnp.square(h - mean.reshape(channels)), axes)
    else:
        mean, var = running
    y = (h - mean.reshape(channels)) * (lax.rsqrt(var + eps) * scale).reshape(channels) + bias.reshape(channels)
    return y, (lax.stop_gradient(mean), lax.stop_gradient(var))


def conv(cin: int, cout: int, kernel: int, stride: int, rngs: nnx.Rngs) -> nnx.Conv:
    """A bias-free convolution (BatchNorm follows) with the loop-friendly gradient of :func:`conv2d`."""
    return nnx.Conv(cin, cout, (kernel, kernel), strides=stride, padding="SAME", use_bias=False,
                    kernel_init=nnx.initializers.kaiming_normal(), conv_general_dilated=conv2d, rngs=rngs)


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class NeuronSpec:
    """Which neuron a model uses: ``kind`` is ``"rev"`` (reversible LIF) or ``"lif"`` (plain LIF baseline)."""

    kind: str = "rev"
    params: LIFParams | RevLIFParams = RevLIFParams()

    def __post_init__(self):
        if self.kind not in ("rev", "lif"):
            raise ValueError(f"unknown neuron {self.kind!r}; valid neurons: rev, lif")
        want = RevLIFParams if self.kind == "rev" else LIFParams
        if not isinstance(self.params, want):
            raise ValueError(f"neuron {self.kind!r} takes {want.__name__}, got {type(self.params).__name__}")


class Neuron(nnx.Module):
    """One layer of spiking neurons over the channel axis (the reversible neuron's groups split channels)."""

    def __init__(self, spec: NeuronSpec, channels: int, name: str = "neuron"):
        if spec.kind == "rev" and channels % spec.params.groups:
            raise ValueError(f"groups={spec.params.groups} does not divide the width of {name} ({channels})")
        self.spec = spec

    def __call__(self, x: jax.Array, v: jax.Array, closed_form: bool = False):
        if self.spec.kind == "lif":
            return neurons.lif_step_unchecked(self.spec.params, x, v)
        if closed_form:
            return rev_lif_step_closed_form(self.spec.params, x, v)
        return neurons.rev_lif_step_unchecked(self.spec.params, x, v)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def rev_lif_step_closed_form(p: RevLIFParams, x, v):
    """:func:`revsnn_jax.neurons.rev_lif_step` whose VJP is the closed form (``inverse_grad`` inside a network)."""
    return neurons.rev_lif_step_unchecked(p, x, v)


def _closed_form_fwd(p, x, v):
    y, v_next, residuals = neurons.rev_step_with_residuals(p, x, v)
    return (y, v_next), residuals


def _closed_form_bwd(p, residuals, cotangents):
    return neurons.rev_step_vjp(p, residuals, *cotangents)


rev_lif_step_closed_form.defvjp(_closed_form_fwd, _closed_form_bwd)


def avg_pool(x: jax.Array, size: int = 2) -> jax.Array:
    b, h, w, c = x.shape
    return x.reshape(b, h // size, size, w // size, size, c).mean((2, 4))
