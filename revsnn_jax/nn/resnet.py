"""Spiking ResNets for CIFAR-sized input (3x3 stem, no max-pool): basic and bottleneck blocks.

A block adds its shortcut before its last neuron (the spiking ResNet of Zheng et al., 2021, used for ResNet-19).
Variants are ``partial`` aliases in ``revsnn_jax.nn.models``; ``resnet19`` is tdBN's layout (128-channel stem,
stage strides 1-2-2), ``resnet19_nd`` the one the lottery-ticket SNN code and ND compare on (64-channel stem,
three stride-2 stages, a 256-wide spiking linear layer before the head).
"""

from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
from flax import nnx

from revsnn_jax.nn.layers import DEFAULT_NEURON, BatchNorm, Neuron, add_bias, conv
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
            x = ctx.neuron(self.hidden_neuron, ctx.linear(self.hidden, x))
        return ctx.linear(self.head, x)



class PreActBlock(nnx.Module):
    """DSR's pre-activation block: ``h = S(BN(x))``; ``conv2(S(BN(conv1(h))))`` plus the shortcut **of h** (the
    spikes, not ``x``): the identity, or a 1x1 convolution where the shape changes. Convolutions have biases."""

    def __init__(self, cin: int, width: int, stride: int, neuron, rngs: nnx.Rngs, name: str):
        self.bn1, self.neuron1 = BatchNorm(cin), Neuron(neuron, cin, f"{name}.neuron1")
        self.conv1, self.bias1 = conv(cin, width, 3, stride, rngs), nnx.Param(jnp.zeros((width,), jnp.float32))
        self.bn2, self.neuron2 = BatchNorm(width), Neuron(neuron, width, f"{name}.neuron2")
        self.conv2, self.bias2 = conv(width, width, 3, 1, rngs), nnx.Param(jnp.zeros((width,), jnp.float32))
        self.shortcut = conv(cin, width, 1, stride, rngs) if stride != 1 or cin != width else None
        self.shortcut_bias = None if self.shortcut is None else nnx.Param(jnp.zeros((width,), jnp.float32))

    def __call__(self, x, ctx: StepContext):
        h = ctx.bn_neuron(self.bn1, self.neuron1, x)
        out = add_bias(ctx.conv(self.conv1, h), self.bias1[...])
        out = add_bias(ctx.conv(self.conv2, ctx.bn_neuron(self.bn2, self.neuron2, out)), self.bias2[...])
        shortcut = h if self.shortcut is None else add_bias(ctx.conv(self.shortcut, h), self.shortcut_bias[...])
        return out + shortcut


class PreActResNet(nnx.Module):
    """One timestep of DSR's PreAct-ResNet (``qymeng94/DSR``, ``cifar/modules/preresnet.py``): a bias-free 3x3
    stem with no neuron, pre-activation blocks, then BN -> neuron -> global average pool -> neuron -> linear ->
    BN -> neuron. Its logits are the last neurons' outputs (firing rates once averaged over ``T``). The global pool
    is DSR's 4x4 average pool at 32x32 input."""

    def __init__(self, layers: Sequence[int], widths: Sequence[int], *, num_classes: int = 10, in_channels: int = 3,
                 neuron=DEFAULT_NEURON, rngs: nnx.Rngs):
        if len(layers) != len(widths):
            raise InputError(f"layers {tuple(layers)} and widths {tuple(widths)} must have the same length")
        self.stem = conv(in_channels, widths[0], 3, 1, rngs)
        blocks, c = [], widths[0]
        for s, (n, w) in enumerate(zip(layers, widths)):
            for b in range(n):
                blocks.append(PreActBlock(c, w, 2 if s and not b else 1, neuron, rngs, f"stage{s + 1}.block{b + 1}"))
                c = w
        self.blocks = nnx.List(blocks)
        self.bn, self.neuron = BatchNorm(c), Neuron(neuron, c, "final")
        self.pool_neuron = Neuron(neuron, c, "pool")
        self.head = nnx.Linear(c, num_classes, bias_init=nnx.initializers.zeros, rngs=rngs)
        self.head_bn, self.head_neuron = BatchNorm(num_classes), Neuron(neuron, num_classes, "head")
        self.in_channels = in_channels
        self.downsample = 2 ** (len(widths) - 1)

    def step(self, x, ctx: StepContext):
        x = ctx.conv(self.stem, x)
        for block in self.blocks:
            x = block(x, ctx)
        x = ctx.bn_neuron(self.bn, self.neuron, x).mean((1, 2))
        x = ctx.neuron(self.pool_neuron, x)
        return ctx.bn_neuron(self.head_bn, self.head_neuron, ctx.linear(self.head, x))
