"""What one network step reads and returns besides activations: neuron potentials and batch statistics."""

from __future__ import annotations

import jax.numpy as jnp

from revsnn_jax.nn.conv import conv_replay
from revsnn_jax.nn.layers import batch_norm
from revsnn_jax.nn.remat import remat


class StepState:
    """Hands each neuron layer its potential in call order and collects the new potentials and BN statistics.

    ``vs=None`` starts every neuron at zero (used to discover the state's shapes). Every convolution's output is
    recorded in call order (``convs``); with ``replay`` (such a record) the convolutions are not run: each returns
    its recorded output with the convolution's gradients (:func:`revsnn_jax.nn.conv.conv_replay`).
    """

    def __init__(self, vs, train: bool, closed_form: bool, remat: bool = False, replay=None):
        self.vs, self.train, self.closed_form, self.remat, self.replay = vs, train, closed_form, remat, replay
        self.new_vs, self.stats, self.convs = [], [], []

    def conv(self, layer, x):
        """``layer(x)`` (an ``nnx.Conv`` built by :func:`revsnn_jax.nn.layers.conv`), or its replayed output."""
        if self.replay is None:
            h = layer(x)
        else:
            h = conv_replay(x, layer.kernel[...], self.replay[len(self.convs)], layer.strides, layer.padding)
        self.convs.append(h)
        return h

    def bn(self, layer, h):
        """A BatchNorm whose output feeds no neuron directly (a shortcut branch)."""
        y, stats = layer(h, self.train)
        self.stats.append(stats)
        return y

    def bn_neuron(self, bn, neuron, h, residual=None):
        """BatchNorm, plus ``residual`` if given, then the neuron. With ``remat`` the pair is rematerialised in
        the backward from the conv output ``h`` (:func:`revsnn_jax.nn.remat.remat`), so a step's backward keeps
        about two tensors per layer (conv input and output) instead of six."""
        v = jnp.zeros_like(h) if self.vs is None else self.vs[len(self.new_vs)]
        train, closed_form, eps = self.train, self.closed_form, bn.eps

        def f(scale, bias, mean, var, h, v, residual):
            x, stats = batch_norm(h, scale, bias, None if train else (mean, var), eps)
            if residual is not None:
                x = x + residual
            y, v_next = neuron(x, v, closed_form)
            return y, v_next, stats

        args = (bn.scale[...], bn.bias[...], bn.mean[...], bn.var[...], h, v, residual)
        y, v_next, stats = (remat(f) if self.remat else f)(*args)
        self.new_vs.append(v_next)
        self.stats.append(stats)
        return y

    def conv_bn_neuron(self, conv, bn, neuron, x):
        return self.bn_neuron(bn, neuron, self.conv(conv, x))
