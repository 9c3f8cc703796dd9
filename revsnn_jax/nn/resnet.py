"""Spiking ResNets for CIFAR-sized input (3x3 stem, no max-pool): basic and bottleneck blocks.

A block adds its shortcut before its last neuron (the spiking ResNet of Zheng et al., 2021, used for ResNet-19).
Variants are ``partial`` aliases in :mod:`revsnn_jax.nn.models`; ``resnet19`` is tdBN's layout (128-channel stem,
stage strides 1-2-2), ``resnet19_nd`` the one the lottery-ticket SNN code and ND compare on (64-channel stem,
three stride-2 stages, a 256-wide spiking linear layer before the head).
"""

from __future__ import annotations

from typing import Sequence

from flax import nnx

from revsnn_jax.nn.layers import DEFAULT_NEURON, BatchNorm, Neuron, conv
from revsnn_jax.errors import InputError
from revsnn_jax.nn.context import StepContext


class BasicBlock(nnx.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int, neuron, rngs: nnx.Rngs, name: str):
        self.conv1, self.bn1 = conv(cin, width, 3, stride, rngs), BatchNorm(width)
        self.neuron1 = Neuron(neuron, width, f"{name}.neuron1")
        self.conv2, self.bn2 = conv(width, width, 3, 1, rngs), BatchNorm(width)
        self.shortcut = _Shortcut(cin, width, stride, rngs) if stride != 1 or cin != width else None
        self.neuron2 = Neuron(neuron, width, f"{name}.neuron2")

    def __call__(self, x, ctx: StepContext):
        h = ctx.conv_bn_neuron(self.conv1, self.bn1, self.neuron1, x)
        shortcut = x if self.shortcut is None else self.shortcut(x, ctx)
        return ctx.bn_neuron(self.bn2, self.neuron2, ctx.conv(self.conv2, h), residual=shortcut)



class Bottleneck(nnx.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int, neuron, rngs: nnx.Rngs, name: str):
        out = width * self.expansion
        self.conv1, self.bn1 = conv(cin, width, 1, 1, rngs), BatchNorm(width)
        self.neuron1 = Neuron(neuron, width, f"{name}.neuron1")
        self.conv2, self.bn2 = conv(width, width, 3, stride, rngs), BatchNorm(width)
        self.neuron2 = Neuron(neuron, width, f"{name}.neuron2")
        self.conv3, self.bn3 = conv(width, out, 1, 1, rngs), BatchNorm(out)
        self.shortcut = _Shortcut(cin, out, stride, rngs) if stride != 1 or cin != out else None
        self.neuron3 = Neuron(neuron, out, f"{name}.neuron3")

    def __call__(self, x, ctx: StepContext):
        h = ctx.conv_bn_neuron(self.conv1, self.bn1, self.neuron1, x)
        h = ctx.conv_bn_neuron(self.conv2, self.bn2, self.neuron2, h)
        shortcut = x if self.shortcut is None else self.shortcut(x, ctx)
        return ctx.bn_neuron(self.bn3, self.neuron3, ctx.conv(self.conv3, h), residual=shortcut)



class _Shortcut(nnx.Module):
    def __init__(self, cin: int, cout: int, stride: int, rngs: nnx.Rngs):
        self.conv, self.bn = conv(cin, cout, 1, stride, rngs), BatchNorm(cout)

    def __call__(self, x, ctx: StepContext):
        return ctx.bn(self.bn, ctx.conv(self.conv, x))


class SpikingResNet(nnx.Module):
    """One timestep of a spiking ResNet; the time loop lives in :func:`revsnn_jax.nn.network.forward`."""

    def __init__(self, block: type, layers: Sequence[int], widths: Sequence[int], *, num_classes: int = 10,
                 in_channels: int = 3, neuron=DEFAULT_NEURON, stem_width: int | None = None,
                 strides: Sequence[int] | None = None, hidden: int | None = None, rngs: nnx.Rngs):
        """``stem_width``: the stem's channels (default ``widths[0]``); ``strides``: each stage's first stride
        (default 1, 2, 2, ...); ``hidden``: a linear layer of this width and a neuron layer before the head."""
        strides = tuple(strides) if strides is not None else (1,) + (2,) * (len(widths) - 1)
        if not len(layers) == len(widths) == len(strides):
            raise InputError(f"layers {tuple(layers)}, widths {tuple(widths)} and strides {strides} must have the "
                             "same length")
        stem = stem_width or widths[0]
        self.stem_conv, self.stem_bn = conv(in_channels, stem, 3, 1, rngs), BatchNorm(stem)
        self.stem_neuron = Neuron(neuron, stem, "stem")
        blocks, c = [], stem
        for s, (n, w) in enumerate(zip(layers, widths)):
            for b in range(n):
                blocks.append(block(c, w, strides[s] if b == 0 else 1, neuron, rngs, f"stage{s + 1}.block{b + 1}"))
                c = w * block.expansion
        self.blocks = nnx.List(blocks)
        self.hidden = None if hidden is None else nnx.Linear(c, hidden, rngs=rngs)
        self.hidden_neuron = None if hidden is None else Neuron(neuron, hidden, "hidden")
        self.head = nnx.Linear(hidden or c, num_classes, rngs=rngs)
        self.in_channels = in_channels
        self.downsample = 2 ** sum(1 for st in strides if st == 2)

    def step(self, x, ctx: StepContext):
        x = ctx.conv_bn_neuron(self.stem_conv, self.stem_bn, self.stem_neuron, x)
        for block in self.blocks:
            x = block(x, ctx)
        x = x.mean((1, 2))
        if self.hidden is not None:
            x = ctx.neuron(self.hidden_neuron, self.hidden(x))
        return self.head(x)

