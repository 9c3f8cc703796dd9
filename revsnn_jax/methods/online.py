"""Online training through time (OTTT, Xiao et al. 2022) and SLTT: the pure pieces (JAX only).

OTTT replaces BPTT's backward by a loss at every step and no gradient across steps:

* the state a step starts from (membrane potentials) is ``stop_gradient``-ed, so nothing flows to earlier steps;
* the weight gradient of a traced layer at step ``t`` takes the **presynaptic trace**
  ``a[t] = lam * a[t-1] + x[t]`` in place of its input ``x[t]`` (``traced_matmul`` here,
  ``conv_traced``: forward on ``x``, input gradient as usual, weight gradient at ``a``).
  ``lam`` is the neurons' ``trace_decay`` (their leak ``1 - 1/tau``; :func:`default_trace_decay`); ``lam = 0``
  is SLTT's rule (the instantaneous input);
* the loss of step ``t`` is ``((1 - mix) CE(o[t], y) + mix MSE(o[t], onehot(y))) / T`` (:func:`step_loss`), and
  OTTT_A sums the ``T`` per-step gradients for one optimizer step (:func:`accumulate`).

Why the trace: if a postsynaptic potential leaks by a constant ``lam`` and its reset is not differentiated,
``d u[t] / dW = sum_{tau <= t} lam^(t - tau) x[tau] = a[t]``, so for one hidden layer with a trace on its input
the online gradient equals BPTT's with the reset detached (``tests/test_online.py`` checks it). What OTTT drops
is every other path through time. Memory is constant in ``T``: a step's working set plus each layer's potential
and trace.

The pure pieces come first; then the method on the flax models: :class:`OnlineContext` (a step context that
traces every ``ctx.conv``/``ctx.linear``), :func:`make_online_step` and :func:`loss_and_grads`, which
``revsnn train --method ottt|sltt`` trains with.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from revsnn_jax.errors import InputError
from revsnn_jax.methods.method import Method
from revsnn_jax.nn import network
from revsnn_jax.nn.context import StepContext, conv_kernel
from revsnn_jax.nn.conv import conv_traced
from revsnn_jax.nn.layers import add_bias


def trace(a: jax.Array, x: jax.Array, lam: float) -> jax.Array:
    """``lam * a + x``: the presynaptic trace after input ``x`` (start from ``a = 0``)."""
    return lam * a + x


@jax.custom_vjp
def traced_matmul(x: jax.Array, w: jax.Array, a: jax.Array) -> jax.Array:
    """``x @ w`` whose weight gradient is taken at the trace ``a`` (same shape as ``x``): ``a^T g``, summed over
    every leading axis. The input gradient is ``g w^T``; ``a`` gets no gradient."""
    return x @ w


def _matmul_fwd(x, w, a):
    return x @ w, (w, a)


def _matmul_bwd(res, g):
    w, a = res
    gw = jnp.tensordot(a, g, axes=(tuple(range(a.ndim - 1)), tuple(range(g.ndim - 1))))
    return g @ w.T, gw.astype(w.dtype), jnp.zeros_like(a)


traced_matmul.defvjp(_matmul_fwd, _matmul_bwd)


def step_loss(logits: jax.Array, labels: jax.Array, timesteps: int, mix: float = 0.0) -> jax.Array:
    """OTTT's loss of one step: ``((1 - mix) CE + mix MSE(logits, onehot)) / T``, CE and MSE means over the
    batch (and classes for MSE)."""
    logp = jax.nn.log_softmax(logits)
    onehot = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    ce = -jnp.mean(jnp.sum(onehot * logp, -1))
    mse = jnp.mean(jnp.square(logits - onehot))
    return ((1 - mix) * ce + mix * mse) / timesteps


class Online(NamedTuple):
    """What :func:`accumulate` returns."""
    loss: jax.Array          # the sum of the per-step losses
    grads: Any               # the sum of the per-step gradients (OTTT_A's gradient)
    logits: jax.Array        # [T, B, K]
    state: Any               # the state after the last step
    aux: Any                 # the step's aux output, stacked over T (None without)
    params: Any              # the parameters after the last step (changed only with ``update``)
    update_state: Any        # ``update``'s state after the last step


def accumulate(step: Callable, params, state, inputs, labels, *, mix: float = 0.0, timesteps: int | None = None,
               has_aux: bool = False, update: Callable | None = None, update_state=None) -> Online:
    """OTTT's online gradient: a loss at every step and no gradient across steps, in one ``lax.scan``.

    Args:
      step: ``(params, x_t, state) -> (logits_t, new_state)`` (or ``(logits_t, new_state, aux_t)`` with
        ``has_aux``); it uses ``traced_matmul`` / ``conv_traced`` with traces it keeps
        in ``state`` (updated with :func:`trace` from forward values).
      params: the parameters (any pytree).
      state: the state before the first step (potentials, traces); it is never differentiated.
      inputs: ``[T, ...]``, one input per step, or (with ``timesteps``) one input fed at every step.
      labels: int ``[B]``.
      mix: the MSE share of the loss.
      update: OTTT_O: ``(grads, update_state, params) -> (params, update_state)`` applied after every step (an
        optimizer step), so step ``t + 1`` runs with the parameters step ``t`` left. Without it the parameters
        stay fixed and the gradients are summed (OTTT_A).

    Memory does not grow with ``T``: the scan's carry is the state, the gradient sum (and the parameters).
    """
    sequence = timesteps is None
    timesteps = inputs.shape[0] if sequence else timesteps

    def body(carry, x_t):
        params, upd, state, total, grads = carry
        state = lax.stop_gradient(state)
        x_t = x_t if sequence else inputs

        def loss(p):
            out = step(p, x_t, state)
            logits, new_state, aux = out if has_aux else (*out, None)
            return step_loss(logits, labels, timesteps, mix), (logits, new_state, aux)

        (value, (logits, new_state, aux)), g = jax.value_and_grad(loss, has_aux=True)(params)
        if update is not None:
            params, upd = update(g, upd, params)
        total = total + value.astype(total.dtype)
        return (params, upd, new_state, total, jax.tree.map(jnp.add, grads, g)), (logits, aux)

    zeros = jax.tree.map(jnp.zeros_like, params)
    carry = (params, update_state, state, jnp.zeros((), jnp.result_type(float)), zeros)
    (params, upd, state, total, grads), (logits, aux) = lax.scan(body, carry, inputs if sequence else None,
                                                                 length=timesteps)
    return Online(total, grads, logits, state, aux, params, upd)


def default_trace_decay(neuron) -> float:
    """OTTT's trace decay for a neuron: its ``trace_decay`` attribute. That is its :func:`leak`, except for the
    paper's reversible neurons (RevOTTT), whose carry ``(1 - Y)(1 - 1/tau) + alpha`` depends on the neuron and the
    step: there no decay (0, the instantaneous input, SLTT's rule) came closest to BPTT's gradient of the same
    objective in every measured setting (``experiments/online_cosine.py``, ``docs/training_methods.md``)."""
    return float(neuron.trace_decay)


def leak(neuron) -> float:
    """The factor by which a neuron's potential carries to the next step with its reset not differentiated:
    OTTT's trace decay. ``1 - 1/tau`` for the LIF family (PLIF: at its initial tau) and the paper's reversible
    neurons (for which it is one of RevOTTT's choices, see ``docs/training_methods.md``), ``exp(-dt/tau)`` for
    DSR's LIF, 1 for DSR's IF."""
    if hasattr(neuron, "decay"):
        return float(neuron.decay)
    if hasattr(neuron, "tau"):
        return 1.0 - 1.0 / neuron.tau
    return 1.0


# --- the method on flax models ------------------------------------------------------------------------------------

class OnlineContext(StepContext):
    """A step context whose ``ctx.conv`` and ``ctx.linear`` take their weight gradients at presynaptic traces,
    which it hands out and collects like potentials (keyed by layer path); neurons step as in ``apply``.

    Args:
      traces: ``{layer path: trace}`` before the step (None: zeros).
      decay: the traces' decay (None or 0: no traces, SLTT).
      trace_input: whether a layer reading the step's input ``step_input`` itself is traced too (OTTT's general
        form) or not (its code).
    """

    def __init__(self, model: nnx.Module, vs, train: bool, *, traces, decay: float | None, trace_input: bool,
                 step_input):
        super().__init__(model, vs, train)
        self.traces, self.decay, self.trace_input, self.step_input = traces, decay, trace_input, step_input
        self.new_traces = {}

    def conv(self, layer, x):
        self._check_conv(layer)
        a = self._trace(layer, x)
        h = layer(x) if a is None else conv_traced(x, conv_kernel(layer), a, layer.strides, layer.padding)
        self.convs.append(h)
        return h

    def linear(self, layer, x):
        a = self._trace(layer, x)
        if a is None:
            return layer(x)
        y = traced_matmul(x, layer.kernel[...], a)
        return y if layer.bias is None else add_bias(y, layer.bias[...])

    def _trace(self, layer, x):
        """The presynaptic trace of ``x`` for ``layer`` (None where the layer is not traced)."""
        if not self.decay or (x is self.step_input and not self.trace_input):
            return None   # decay 0: the trace is the input itself, the ordinary weight gradient
        path = self.path(layer)
        old = jnp.zeros_like(x) if self.traces is None else self.traces.get(path)
        if old is None:
            raise InputError(f"no trace for layer {path}: the state was made for another model")
        a = trace(old, jax.lax.stop_gradient(x), self.decay)
        self._put(self.new_traces, path, a, "layer")
        return a


def make_online_step(graphdef, *, train: bool, decay: float | None, trace_input: bool = False):
    """OTTT's (``decay``: the traces' decay) or SLTT's (``decay=None``) network step: ``step(params, consts, x,
    state) -> (logits, new_state, BN statistics)`` with ``state = {"v": potentials, "a": traces}`` (None for
    zeros). ``trace_input``: trace the layer that reads the step's input too (OTTT's general form); the
    reference code does not."""

    def step(params, consts, x, state):
        model = nnx.merge(graphdef, params, consts)
        ctx = OnlineContext(model, state["v"], train, traces=state["a"], decay=decay, trace_input=trace_input,
                            step_input=x)
        logits = model.step(x, ctx)
        return logits, {"v": ctx.new_vs, "a": ctx.new_traces}, ctx.stats

    return step


def online_state(graphdef, params, batch_stats, x_t, *, decay: float | None, trace_input: bool = False):
    """Zeros shaped like the online step's state (potentials and traces) for one step's input ``x_t``."""
    step = make_online_step(graphdef, train=True, decay=decay, trace_input=trace_input)
    shapes = jax.eval_shape(lambda p, s, x: step(p, s, x, {"v": None, "a": None})[1], params, batch_stats, x_t)
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def run(method: Method, graphdef, params, batch_stats, inputs, labels, *, timesteps: int, encoding: str = "direct",
        update=None, update_state=None) -> Online:
    """The online methods' pass over a batch (:func:`accumulate`): per-step losses, gradients summed (or, with
    ``update``, applied after every step: OTTT_O); ``aux`` holds the per-step BatchNorm statistics."""
    model_step = make_online_step(graphdef, train=True, decay=method.decay, trace_input=method.trace_input)
    network.check_inputs(nnx.merge(graphdef, params, batch_stats), inputs, timesteps, encoding)
    frames = encoding == "frames"
    x0 = inputs[0] if frames else inputs
    state = online_state(graphdef, params, batch_stats, x0, decay=method.decay, trace_input=method.trace_input)
    return accumulate(lambda p, x, s: model_step(p, batch_stats, x, s), params, state, inputs, labels,
                      mix=method.loss_mix, timesteps=None if frames else timesteps, has_aux=True, update=update,
                      update_state=update_state)


def loss_and_grads(method: Method, graphdef, params, batch_stats, inputs, labels, *, timesteps: int,
                   encoding: str = "direct", **unused):
    """``((loss, (logits averaged over T, per-step BN statistics)), summed gradients)``: OTTT_A / SLTT."""
    out = run(method, graphdef, params, batch_stats, inputs, labels, timesteps=timesteps, encoding=encoding)
    return (out.loss, (out.logits.mean(0), out.aux)), out.grads
