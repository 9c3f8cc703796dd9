"""Thin flax.nnx layers for one timestep of a spiking network. The neuron math lives in the pure core.

Every layer is called once per timestep inside the network's time loop, so nothing here mutates state: batch
statistics and membrane potentials are returned through the :class:`~revsnn_jax.nn.context.StepContext`, and
the loop decides what to keep.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from revsnn_jax import neurons
from revsnn_jax.errors import InputError
from revsnn_jax.neurons import RevLIFParams
from revsnn_jax.nn.conv import conv2d


class BatchNorm(nnx.Module):
    """Per-timestep batch normalisation over all axes but the last.

    In training it normalises with the statistics of the current timestep's batch and returns them (never
    differentiated) so the caller can update the running averages once per training step; in evaluation it uses
    the running averages. A backward that recomputes a step recomputes its batch statistics as part of the
    normalisation it differentiates, but never updates the running ones.
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
    """A bias-free convolution (BatchNorm follows) with the loop-friendly gradient of ``conv2d``."""
    return nnx.Conv(cin, cout, (kernel, kernel), strides=stride, padding="SAME", use_bias=False,
                    kernel_init=nnx.initializers.kaiming_normal(), conv_general_dilated=conv2d, rngs=rngs)


def standardize(kernel: jax.Array, gain: jax.Array, eps: float = 1e-4) -> jax.Array:
    """Scaled weight standardisation (sWS) of an HWIO (or ``[in, out]``) kernel, per output channel ``o``:
    ``gain[o] (W[..., o] - mean) / sqrt(var N + eps)`` with ``N`` the fan-in and ``var`` the **unbiased** variance
    (divides by ``N - 1``), as OTTT's code computes it. With gain 1 each output channel then has mean 0 and
    squared norm ``(N - 1)/N * var / (var + eps/N)``."""
    axes = tuple(range(kernel.ndim - 1))
    fan_in = math.prod(kernel.shape[:-1])
    mean = jnp.mean(kernel, axes, keepdims=True)
    var = jnp.sum(jnp.square(kernel - mean), axes, keepdims=True) / (fan_in - 1)
    return gain.reshape((1,) * (kernel.ndim - 1) + (-1,)) * (kernel - mean) * lax.rsqrt(var * fan_in + eps)


def add_bias(y: jax.Array, bias: jax.Array) -> jax.Array:
    """``y + bias`` over the last axis (explicit broadcasting)."""
    return y + bias.reshape((1,) * (y.ndim - 1) + (-1,))


class WSConv(nnx.Module):
    """A 3x3 (or ``kernel``) convolution with scaled weight standardisation (:func:`standardize`), a learnable
    gain per output channel and a bias, as OTTT's VGG(sWS) uses in place of BatchNorm. Called, it is bias-free
    (so ``ctx.conv`` can replay or trace it); add :attr:`bias` after it."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, rngs: nnx.Rngs):
        if kernel * kernel * cin < 2:
            raise InputError(f"weight standardisation needs a fan-in of at least 2, got {kernel}x{kernel}x{cin}")
        init = nnx.initializers.variance_scaling(2.0, "fan_out", "normal")
        self.kernel = nnx.Param(init(rngs.params(), (kernel, kernel, cin, cout), jnp.float32))
        self.gain = nnx.Param(jnp.ones((cout,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((cout,), jnp.float32))
        self.strides, self.padding = (stride, stride), "SAME"

    def weight(self) -> jax.Array:
        return standardize(self.kernel[...], self.gain[...])

    def __call__(self, x: jax.Array) -> jax.Array:
        return conv2d(x, self.weight(), self.strides, self.padding)


class Neuron(nnx.Module):
    """One layer of spiking neurons over the channel axis: any neuron type of :mod:`revsnn_jax.neurons`.

    ``neuron`` is the neuron's params (static); its learnable parameters, if any (PLIF's ``w``), are an
    ``nnx.Param`` here. Called through :meth:`revsnn_jax.nn.context.StepContext.neuron` (or ``bn_neuron``),
    which hands it its potential.
    """

    def __init__(self, neuron, channels: int, name: str = "neuron"):
        if not hasattr(neuron, "step"):
            raise InputError(f"{name}: {type(neuron).__name__} is not a neuron's params (valid: "
                             f"{', '.join(c.__name__ for c in neurons.NEURONS.values())})")
        neuron.check_width(channels, name)
        self.params = neuron
        theta = neuron.init_theta(channels)
        # One array-valued Param per leaf of the neuron's parameter tree (flax reads arrays the same way in every
        # version since 0.12.0; a Param holding a dict does not), rebuilt into the tree on use.
        leaves, self.theta_tree = jax.tree.flatten(theta)
        self.theta = None if theta is None else nnx.List([nnx.Param(leaf) for leaf in leaves])

    def theta_value(self):
        return None if self.theta is None else jax.tree.unflatten(self.theta_tree, [p[...] for p in self.theta])


def NeuronSpec(kind: str = "rev", params=None):   # noqa: N802 (kept under its old, class-like name)
    """The params of the neuron named ``kind`` (a key of :data:`revsnn_jax.neurons.NEURONS`), checked against
    ``params`` if given. A documented alias kept from 0.1: models take neuron params directly, and
    ``neurons.NEURONS[kind]()`` builds them from a name."""
    if kind not in neurons.NEURONS:
        raise InputError(f"unknown neuron {kind!r}; valid neurons: {', '.join(neurons.NEURONS)}")
    want = neurons.NEURONS[kind]
    if params is None:
        return want()
    if not isinstance(params, want):
        raise InputError(f"neuron {kind!r} takes {want.__name__}, got {type(params).__name__}")
    return params


DEFAULT_NEURON = RevLIFParams()


def avg_pool(x: jax.Array, size: int = 2) -> jax.Array:
    b, h, w, c = x.shape
    return x.reshape(b, h // size, size, w // size, size, c).mean((2, 4))
