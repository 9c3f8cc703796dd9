"""Model registry: every variant is a ``partial`` of one class per family."""

from __future__ import annotations

import functools

from flax import nnx

from revsnn_jax.errors import InputError

from revsnn_jax.nn.layers import DEFAULT_NEURON
from revsnn_jax.nn.resnet import BasicBlock, Bottleneck, PreActResNet, SpikingResNet
from revsnn_jax.nn.vgg import VGG_CFGS, SpikingVGG, SpikingVGGWS

MODELS = {
    "vgg11": functools.partial(SpikingVGG, VGG_CFGS[11]),
    "vgg13": functools.partial(SpikingVGG, VGG_CFGS[13]),
    "vgg16": functools.partial(SpikingVGG, VGG_CFGS[16]),
    "vgg19": functools.partial(SpikingVGG, VGG_CFGS[19]),
    "resnet18": functools.partial(SpikingResNet, BasicBlock, (2, 2, 2, 2), (64, 128, 256, 512)),
    "resnet19": functools.partial(SpikingResNet, BasicBlock, (3, 3, 2), (128, 256, 512)),   # tdBN (Zheng 2021)
    # ND's ResNet-19 (the lottery-ticket SNN code's): 64-channel stem, stride-2 stages, FC-256 + neuron, head
    "resnet19_nd": functools.partial(SpikingResNet, BasicBlock, (3, 3, 2), (128, 256, 512), stem_width=64,
                                     strides=(2, 2, 2), hidden=256),
    "resnet34": functools.partial(SpikingResNet, BasicBlock, (3, 4, 6, 3), (64, 128, 256, 512)),
    "resnet50": functools.partial(SpikingResNet, Bottleneck, (3, 4, 6, 3), (64, 128, 256, 512)),
    "resnet101": functools.partial(SpikingResNet, Bottleneck, (3, 4, 23, 3), (64, 128, 256, 512)),
    # Every width a multiple of 144, for the groups ablation (Fig. 7: groups up to 144).
    "vgg11_w144": functools.partial(SpikingVGG, (144, "M", 288, "M", 576, 576, "M", 576, 576, "M", 576, 576, "M")),
    # Small models: for 8x8 digits and for tests.
    "vgg_digits": functools.partial(SpikingVGG, (32, 32, "M", 64, 64, "M")),
    "vgg_digits144": functools.partial(SpikingVGG, (144, "M", 144, "M")),
    "vgg_tiny": functools.partial(SpikingVGG, (8, "M", 16, "M")),
    # VGGSNN of Deng et al. 2022 (TET), the usual model for 48x48 DVS-CIFAR10 frames: four pools, 48 -> 3.
    "vggsnn": functools.partial(SpikingVGG, (64, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")),
    # For 34x34 event frames (N-MNIST, event digits): 34 -> 17 -> 8 -> 4.
    "vgg_events": functools.partial(SpikingVGG, (16, "M", 32, "M", 64, "M")),
    "resnet_tiny": functools.partial(SpikingResNet, BasicBlock, (1, 1), (8, 16)),
    # OTTT's VGG(sWS) (DVS128-Gesture, CIFAR) and a small one for digits and tests.
    "vgg11_ws": SpikingVGGWS,
    "vgg_ws_digits": functools.partial(SpikingVGGWS, (32, 32, "M", 64, 64, "M")),
    # DSR's PreAct-ResNet-18 (spikes on the identity shortcut, a BatchNorm + neuron after the head: rate logits).
    "preact_resnet18": functools.partial(PreActResNet, (2, 2, 2, 2), (64, 128, 256, 512)),
    "preact_resnet_tiny": functools.partial(PreActResNet, (1, 1), (8, 16)),
}


def create_model(name: str, *, num_classes: int = 10, in_channels: int = 3, neuron=DEFAULT_NEURON,
                 seed: int = 0) -> nnx.Module:
    """Builds a registered model with every neuron layer of type ``neuron`` (a neuron's params, e.g.
    ``LIFParams()``). Raises InputError for an unknown name (listing the valid ones)."""
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    return MODELS[name](num_classes=num_classes, in_channels=in_channels, neuron=neuron, rngs=nnx.Rngs(seed))
