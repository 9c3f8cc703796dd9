"""Spiking VGG for CIFAR-sized input: (conv3x3 -> BatchNorm -> neuron) blocks, 2x2 average pooling, a linear head.

Variants are ``partial`` aliases in ``revsnn_jax.nn.models``; ``cfg`` lists conv widths and ``"M"`` for pools.
"""

from __future__ import annotations

from typing import Sequence

from flax import nnx

from revsnn_jax.nn.layers import DEFAULT_NEURON, BatchNorm, Neuron, WSConv, add_bias, avg_pool, conv
from revsnn_jax.nn.context import StepContext

VGG_CFGS = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}


class SpikingVGG(nnx.Module):
    """One timestep of a spiking VGG; the time loop lives in :func:`revsnn_jax.nn.network.forward`."""

    def __init__(self, cfg: Sequence[int | str], *, num_classes: int = 10, in_channels: int = 3,
                 neuron=DEFAULT_NEURON, rngs: nnx.Rngs):
        convs, bns, layers = [], [], []
        c = in_channels
        for item in cfg:
            if item == "M":
                continue
            name = f"conv{len(convs) + 1}"
            convs.append(conv(c, item, 3, 1, rngs))
            bns.append(BatchNorm(item))
            layers.append(Neuron(neuron, item, name))
            c = item
        self.layout = tuple(cfg)
        self.convs, self.bns, self.neurons = nnx.List(convs), nnx.List(bns), nnx.List(layers)
        self.head = nnx.Linear(c, num_classes, rngs=rngs)
        self.in_channels = in_channels
        self.downsample = 2 ** sum(1 for item in cfg if item == "M")

    def step(self, x, ctx: StepContext):
        i = 0
        for item in self.layout:
            if item == "M":
                x = avg_pool(x)
                continue
            x = ctx.conv_bn_neuron(self.convs[i], self.bns[i], self.neurons[i], x)
            i += 1
        return ctx.linear(self.head, x.mean((1, 2)))


# OTTT's VGG(sWS) ("online_spiking_vgg11_ws", cfg "A"): no pooling after the last two convolutions.
VGG_WS_CFG = (64, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512)


class SpikingVGGWS(nnx.Module):
    """OTTT's VGG(sWS): (sWS conv + bias -> neuron -> x ``scale``) blocks, 2x2 average pooling, global average
    pooling and a linear head; no BatchNorm. ``scale`` is the constant 2.74 of OTTT's code (its origin is not
    documented there). The head starts at N(0, 0.01) with a zero bias, as in that code."""

    def __init__(self, cfg: Sequence[int | str] = VGG_WS_CFG, *, num_classes: int = 10, in_channels: int = 3,
                 neuron=DEFAULT_NEURON, scale: float = 2.74, rngs: nnx.Rngs):
        convs, layers = [], []
        c = in_channels
        for item in cfg:
            if item == "M":
                continue
            convs.append(WSConv(c, item, 3, 1, rngs))
            layers.append(Neuron(neuron, item, f"conv{len(convs)}"))
            c = item
        self.layout, self.scale = tuple(cfg), scale
        self.convs, self.neurons = nnx.List(convs), nnx.List(layers)
        self.head = nnx.Linear(c, num_classes, kernel_init=nnx.initializers.normal(0.01), rngs=rngs)
        self.in_channels = in_channels
        self.downsample = 2 ** sum(1 for item in cfg if item == "M")

    def step(self, x, ctx: StepContext):
        i = 0
        for item in self.layout:
            if item == "M":
                x = avg_pool(x)
                continue
            conv = self.convs[i]
            x = self.scale * ctx.neuron(self.neurons[i], add_bias(ctx.conv(conv, x), conv.bias[...]))
            i += 1
        return ctx.linear(self.head, x.mean((1, 2)))
