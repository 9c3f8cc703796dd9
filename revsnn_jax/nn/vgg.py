"""Spiking VGG for CIFAR-sized input: (conv3x3 -> BatchNorm -> neuron) blocks, 2x2 average pooling, a linear head.

Variants are ``partial`` aliases in :mod:`revsnn_jax.nn.models`; ``cfg`` lists conv widths and ``"M"`` for pools.
"""

from __future__ import annotations

from typing import Sequence

from flax import nnx

from revsnn_jax.nn.layers import DEFAULT_NEURON, BatchNorm, Neuron, avg_pool, conv
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
        return self.head(x.mean((1, 2)))

