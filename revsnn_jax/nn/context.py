"""The model interface: what one network step sees of the time loop.

A model is any ``flax.nnx.Module`` with a method ``step(self, x, ctx) -> logits`` that computes **one
timestep** and routes its stateful and recomputable layers through the :class:`StepContext` ``ctx``:

* ``ctx.neuron(layer, x)``: a :class:`~revsnn_jax.nn.layers.Neuron` layer on input ``x``; the context hands it
  its potential and collects the new one (keyed by the layer's path in the model);
* ``ctx.bn_neuron(bn, layer, h, residual=None)``: :class:`~revsnn_jax.nn.layers.BatchNorm` of ``h`` (plus a
  shortcut ``residual``) into a neuron layer, the usual conv -> BN -> neuron block; in the low-memory loops the
  pair is recomputed from ``h`` in the backward instead of stored;
* ``ctx.bn(bn, h)``: a BatchNorm that feeds no neuron directly (a shortcut branch);
* ``ctx.conv(conv, x)``: a convolution whose output a backward may replay instead of recompute;
* ``ctx.linear(linear, x)``: a linear layer (``nnx.Linear``), which the online methods train at a presynaptic
  trace.

Everything else (pooling, sums, reshapes) is ordinary code. A convolution called directly instead of through
``ctx.conv`` is still correct under every strategy; it is just recomputed where it could be replayed (and trained at
its instantaneous input by OTTT), as is a linear layer called directly.
Optional attributes used for input checks: ``in_channels`` and ``downsample`` (the factor by which height and
width must be divisible). ``docs/models.md`` has a complete example.

The context runs a step in one of five modes, set by :mod:`revsnn_jax.nn.network` for the chosen strategy:
``apply`` (an ordinary step), ``record`` (also records every ``ctx.conv`` output), ``replay`` (reads them),
``keep`` (also returns each exactly reversible neuron's kept bits) and ``rebuild`` (recomputes the step from its
input and those bits, and recovers the previous potentials instead of taking them). Training methods that step
a model differently subclass :class:`StepContext` (:class:`revsnn_jax.methods.online.OnlineContext` traces
``ctx.conv``/``ctx.linear``; :class:`revsnn_jax.methods.dsr.RatesContext` runs each neuron over all ``T`` steps
at once); this module imports none of them.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from revsnn_jax import bitpack, neurons
from revsnn_jax.errors import InputError
from revsnn_jax.nn.conv import conv_replay
from revsnn_jax.nn.layers import batch_norm
from revsnn_jax.remat import remat
from revsnn_jax.strategies import check_neuron

MODES = ("apply", "record", "replay", "keep", "rebuild")


def module_paths(model: nnx.Module) -> dict[int, str]:
    """``id(module) -> "path.to.it"`` for every submodule of ``model`` (the keys of potentials and statistics)."""
    return {id(node): ".".join(map(str, path)) for path, node in nnx.iter_graph(model)
            if isinstance(node, nnx.Module)}


class StepContext:
    """Hands each neuron layer its potential and collects new potentials, BatchNorm statistics and records.

    Args:
      model: the merged model (for its module paths).
      vs: ``{neuron path: potential}`` before the step (``None``: every neuron starts at zero, used to discover
        the state's shapes); in ``rebuild`` mode the potentials *after* the step.
      train: BatchNorm in training mode (batch statistics) or evaluation mode (running averages).
      mode: one of ``MODES``.
      neuron_grad: how neurons are differentiated (``autodiff``, ``closed_form``, ``paper``).
      remat: recompute BatchNorm + neuron from the convolution output in the backward (low-memory loops).
      record: in ``replay``/``rebuild``: ``{"convs": [...], "kept": {...}}`` as recorded.
      rebuild_noise: relative perturbation of rebuilt neuron inputs (robustness test of exact reversal).
    """

    def __init__(self, model: nnx.Module, vs, train: bool, mode: str = "apply", neuron_grad: str = "autodiff",
                 remat: bool = False, record=None, rebuild_noise: float = 0.0):
        if mode not in MODES:
            raise InputError(f"unknown context mode {mode!r}; valid: {', '.join(MODES)}")
        self.vs, self.train, self.mode, self.neuron_grad, self.remat = vs, train, mode, neuron_grad, remat
        self.record_in, self.rebuild_noise = record, rebuild_noise
        self._paths = module_paths(model)
        self.new_vs, self.stats, self.kept, self.convs = {}, {}, {}, []

    def path(self, module: nnx.Module) -> str:
        try:
            return self._paths[id(module)]
        except KeyError:
            raise InputError(f"{type(module).__name__} is not a submodule of the model being stepped") from None

    # --- convolutions -------------------------------------------------------------------------------------------

    def conv(self, layer, x):
        """``layer(x)`` (an ``nnx.Conv`` built by :func:`revsnn_jax.nn.conv`, or any bias-free
        convolution module with ``strides``, ``padding`` and its kernel as ``weight()`` or ``kernel``), or its
        replayed output.

        The convolution must be bias-free (add a bias after this call): a replayed output is a stored value, so a
        bias inside it would get no gradient."""
        self._check_conv(layer)
        if self.mode == "replay":
            h = conv_replay(x, conv_kernel(layer), self.record_in["convs"][len(self.convs)], layer.strides,
                            layer.padding)
        else:
            h = layer(x)
        self.convs.append(h)
        return h

    def _check_conv(self, layer) -> None:
        if isinstance(layer, nnx.Conv) and layer.bias is not None:
            raise InputError(f"ctx.conv takes a bias-free convolution (use_bias=False); {self.path(layer)} has a "
                             "bias, which a replayed convolution would not train: add it after ctx.conv")

    def linear(self, layer, x):
        """``layer(x)`` for an ``nnx.Linear`` (the online methods' context trains it at a presynaptic trace)."""
        return layer(x)

    # --- BatchNorm ------------------------------------------------------------------------------------------

    def bn(self, layer, h):
        """A BatchNorm whose output feeds no neuron directly (a shortcut branch)."""
        y, stats = layer(h, self.train)
        self._put(self.stats, self.path(layer), stats, "BatchNorm")
        return y

    # --- neurons --------------------------------------------------------------------------------------------

    def neuron(self, layer, x):
        """The neuron ``layer`` on input ``x`` (no BatchNorm before it)."""
        return self._fire(layer, lambda x: (x, None), (x,), x)

    def bn_neuron(self, bn, layer, h, residual=None):
        """BatchNorm of ``h``, plus ``residual`` if given, into the neuron ``layer``."""
        train, eps = self.train, bn.eps

        def normalize(scale, bias, mean, var, h, residual):
            x, stats = batch_norm(h, scale, bias, None if train else (mean, var), eps)
            return (x if residual is None else x + residual), stats

        y, stats = self._fire(layer, normalize, (bn.scale[...], bn.bias[...], bn.mean[...], bn.var[...], h, residual),
                              h)
        self._put(self.stats, self.path(bn), stats, "BatchNorm")
        return y

    def conv_bn_neuron(self, conv, bn, layer, x):
        return self.bn_neuron(bn, layer, self.conv(conv, x))

    def _fire(self, layer, make_input: Callable, inputs: tuple, like):
        """``make_input(*inputs) -> (x, stats)`` then the neuron (whose state is shaped ``like``); returns ``y``
        (and ``stats`` if not None)."""
        path, neuron, theta = self.path(layer), layer.params, layer.theta_value()
        v = self._potential(path, like)
        if self.mode in ("keep", "rebuild"):
            check_neuron("reverse", neuron, f"{path} ({neurons.neuron_kind(neuron)})")
        if self.mode == "keep":
            x, stats = make_input(*inputs)
            y, v_next, code = neuron.keep(theta, x, v)
            self._put(self.kept, path, bitpack.pack(code, neuron.keep_bits), "neuron")
        elif self.mode == "rebuild":
            x, stats = make_input(*inputs)
            x = self._perturb(x)
            code = bitpack.unpack(self._packed(path), neuron.keep_bits, like.shape[-1])
            y, v_next = neuron.rebuild(theta, x, code, v)   # v_next: V^{t-1} here
        else:
            # The packed bits, not the unpacked code, go into f: what a rematerialised f saves is what it is given.
            packed = self._packed(path) if self.mode == "replay" and self.record_in["kept"] is not None else None
            step = neurons.step_fn(neuron, self.neuron_grad)
            width = like.shape[-1]

            def f(theta, v, packed, *inputs):
                x, stats = make_input(*inputs)
                if packed is None:
                    y, v_next = step(theta, x, v)
                else:
                    y, v_next = neuron.replay(theta, x, bitpack.unpack(packed, neuron.keep_bits, width), v)
                return y, v_next, stats

            y, v_next, stats = (remat(f) if self.remat else f)(theta, v, packed, *inputs)
        if v_next is not None:
            self._put(self.new_vs, path, v_next, "neuron")
        return y if stats is None else (y, stats)

    def _potential(self, path, like):
        if self.vs is None:
            return jnp.zeros(like.shape, like.dtype)
        if path not in self.vs:
            raise InputError(f"no potential for neuron {path}: the state was made for another model")
        return self.vs[path]

    def _packed(self, path):
        """This neuron's packed bits, as the step's ``keep`` stored them."""
        if path not in self.record_in["kept"]:
            raise InputError(f"no kept bits for neuron {path}: they were made by another model")
        return self.record_in["kept"][path]

    def _perturb(self, x):
        if not self.rebuild_noise:
            return x
        noise = jax.random.uniform(jax.random.key(x.size), x.shape, x.dtype, -1.0, 1.0)
        return x + self.rebuild_noise * jnp.abs(x) * noise

    @staticmethod
    def _put(table: dict, path: str, value, what: str):
        if path in table:
            raise InputError(f"{what} {path} was called twice in one step; give each call its own layer")
        table[path] = value


def conv_kernel(layer) -> jax.Array:
    """A convolution module's kernel as it convolves: ``weight()`` (e.g. a standardised kernel) or ``kernel``."""
    return layer.weight() if hasattr(layer, "weight") else layer.kernel[...]
