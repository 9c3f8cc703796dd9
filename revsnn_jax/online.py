"""Online training through time (OTTT, Xiao et al. 2022) and SLTT: the pure pieces (JAX only).

OTTT replaces BPTT's backward by a loss at every step and no gradient across steps:

* the state a step starts from (membrane potentials) is ``stop_gradient``-ed, so nothing flows to earlier steps;
* the weight gradient of a traced layer at step ``t`` takes the **presynaptic trace**
  ``a[t] = lam * a[t-1] + x[t]`` in place of its input ``x[t]`` (:func:`traced_matmul`, :func:`traced_conv`:
  forward on ``x``, input gradient as usual, weight gradient at ``a``). ``lam`` is the neurons' leak
  ``1 - 1/tau``; ``lam = 0`` is SLTT's rule (the instantaneous input);
* the loss of step ``t`` is ``((1 - mix) CE(o[t], y) + mix MSE(o[t], onehot(y))) / T`` (:func:`step_loss`), and
  OTTT_A sums the ``T`` per-step gradients for one optimizer step (:func:`accumulate`).

Why the trace: if a postsynaptic potential leaks by a constant ``lam`` and its reset is not differentiated,
``d u[t] / dW = sum_{tau <= t} lam^(t - tau) x[tau] = a[t]``, so for one hidden layer with a trace on its input
the online gradient equals BPTT's with the reset detached (``tests/test_online.py`` checks it). What OTTT drops
is every other path through time. Memory is constant in ``T``: a step's working set plus each layer's potential
and trace.

These are the pieces a model's step uses; wiring them into the flax models and ``revsnn train`` (issue 14's
training mode, VGG(sWS), RevOTTT) is not done yet.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax


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


def traced_conv(x: jax.Array, w: jax.Array, a: jax.Array, strides=(1, 1), padding="SAME") -> jax.Array:
    """An NHWC/HWIO convolution of ``x`` whose weight gradient is taken at the trace ``a`` (shaped like ``x``)."""
    conv = _traced_conv(tuple(strides), padding)
    return conv(x, w, a)


def _conv(x, w, strides, padding):
    return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))


@functools.lru_cache(maxsize=None)
def _traced_conv(strides, padding):
    """One custom_vjp per (strides, padding), made once."""
    @jax.custom_vjp
    def conv(x, w, a):
        return _conv(x, w, strides, padding)

    def fwd(x, w, a):
        return _conv(x, w, strides, padding), (x, w, a)

    def bwd(res, g):
        x, w, a = res
        _, vjp_x = jax.vjp(lambda x_: _conv(x_, w, strides, padding), x)
        _, vjp_w = jax.vjp(lambda w_: _conv(a, w_, strides, padding), w)
        return vjp_x(g)[0], vjp_w(g)[0], jnp.zeros_like(a)

    conv.defvjp(fwd, bwd)
    return conv


def step_loss(logits: jax.Array, labels: jax.Array, timesteps: int, mix: float = 0.0) -> jax.Array:
    """OTTT's loss of one step: ``((1 - mix) CE + mix MSE(logits, onehot)) / T``, CE and MSE means over the
    batch (and classes for MSE)."""
    logp = jax.nn.log_softmax(logits)
    onehot = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    ce = -jnp.mean(jnp.sum(onehot * logp, -1))
    mse = jnp.mean(jnp.square(logits - onehot))
    return ((1 - mix) * ce + mix * mse) / timesteps


def accumulate(step: Callable, params, state, inputs, labels, *, mix: float = 0.0):
    """OTTT_A: the sum over ``t`` of each step's loss gradient, with no gradient across steps.

    Args:
      step: ``(params, x_t, state) -> (logits_t, new_state)``; it uses :func:`traced_matmul` /
        :func:`traced_conv` with traces it keeps in ``state`` (updated with :func:`trace` from forward values).
      params: the parameters (any pytree).
      state: the state before the first step (potentials, traces); it is never differentiated.
      inputs: ``[T, ...]``, one input per step.
      labels: int ``[B]``.
      mix: the MSE share of the loss.

    Returns:
      ``(total loss, summed gradients, logits [T, B, K], final state)``. Memory does not grow with ``T``: one
      ``lax.scan`` whose carry is the state and the gradient sum.
    """
    timesteps = inputs.shape[0]

    def body(carry, x_t):
        state, total, grads = carry
        state = lax.stop_gradient(state)

        def loss(p):
            logits, new_state = step(p, x_t, state)
            return step_loss(logits, labels, timesteps, mix), (logits, new_state)

        (value, (logits, new_state)), g = jax.value_and_grad(loss, has_aux=True)(params)
        return (new_state, total + value, jax.tree.map(jnp.add, grads, g)), logits

    zeros = jax.tree.map(jnp.zeros_like, params)
    (state, total, grads), logits = lax.scan(body, (state, jnp.zeros((), inputs.dtype), zeros), inputs)
    return total, grads, logits, state
