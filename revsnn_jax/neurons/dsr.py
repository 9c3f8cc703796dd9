"""DSR's neurons (Meng et al., *Training High-Performance Low-Latency Spiking Neural Networks by Differentiation on
Spike Representation*, CVPR 2022): IF and LIF whose backward is the gradient of a **spike-rate mapping**.

Forward, for ``t = 1..T`` from ``V_0 = 0`` (``V_th`` trainable per layer, ``f`` the firing fraction):

* IF: ``V = V + x_t``; ``s_t = V_th * H(V - f V_th)``; ``V = V - s_t``; the output is ``s_t`` (amplitude
  ``V_th``);
* LIF: ``V = b V + (1 - b) x_t`` with ``b = exp(-dt / tau)``; ``s_t = V_th * H(V - f V_th)``; ``V = V - s_t``;
  the output is ``s_t / dt``.

With ``f = 1/2`` the IF neuron rounds: its firing rate is within ``V_th / (2T)`` of ``clamp(mean_t x_t, 0, V_th)``.
DSR trains through that mapping instead of through time (:func:`sequence`, the ``dsr`` method): with ``R`` the
input's rate (IF: the mean over ``t``; LIF: the weighted mean with ``w_t = exp(-(T - t) dt / tau)``) and ``g_t``
the output cotangents,

* IF: ``G = sum_t g_t``, ``dL/dx_t = G / T * 1[0 <= R <= V_th]`` for every ``t``, ``dL/dV_th =
  scale * sum G * 1[R > V_th]``;
* LIF: ``G = T sum_t w_t g_t / sum_t w_t``, ``dL/dx_t = G / (tau T) * 1[0 < R < V_th tau / dt]``,
  ``dL/dV_th = scale * sum G * 1[R > V_th tau / dt]``.

These are the rules of the authors' code (``qymeng94/DSR``, ``cifar/modules/neuron.py``), boundaries included.
``threshold_grad_scale`` is the ``scale``: 1 for IF, ``dt`` for LIF by default. For LIF the mapping's own
derivative in saturation is ``1/dt``, so the code's ``dt`` shrinks it by ``dt^2``; the authors say on the
repository's issue #2 that the unscaled gradient drove the thresholds to zero. Before every forward the
threshold is projected to ``V_th >= threshold_bound`` (the projection passes gradients straight through).

Stepped one timestep at a time (any other method) these neurons are ordinary neurons with a surrogate spike.

The paper's reversible neuron has no rate mapping in DSR; :func:`revsnn_jax.neurons.rev_lif.rev_rate_map` is the
one this project derives for it (RevDSR), with the measurements in ``docs/training_methods.md``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax import lax

from revsnn_jax.errors import InputError
from revsnn_jax.neurons.rev_lif import rev_rate_fit, rev_rate_map   # noqa: F401  (RevDSR's mapping; older home)
from revsnn_jax.surrogate import DEFAULT_SUPPORT, check_surrogate, spike
from revsnn_jax.surrogate import of as surrogate_of


def _check(p) -> None:
    if not p.v_threshold > p.threshold_bound >= 0:
        raise InputError(f"v_threshold ({p.v_threshold}) must be > threshold_bound ({p.threshold_bound}) >= 0")
    if not 0 < p.firing_fraction <= 1:
        raise InputError(f"firing_fraction must be in (0, 1], got {p.firing_fraction}")
    if not p.threshold_grad_scale >= 0:
        raise InputError(f"threshold_grad_scale must be >= 0, got {p.threshold_grad_scale}")
    check_surrogate(p.surrogate, p.surrogate_width, p.surrogate_support)


def _threshold(p, theta, dtype):
    """The projected threshold ``max(V_th, bound)``; the gradient passes straight through the projection."""
    v_th = theta["v_th"].astype(dtype)
    return v_th + lax.stop_gradient(jnp.maximum(v_th, p.threshold_bound) - v_th)


class _TrainedThreshold:
    """What DSR's two neurons share: one trainable threshold per layer, any width, the VJP by autodiff."""

    def __post_init__(self):
        _check(self)

    def init_theta(self, width: int):
        return {"v_th": jnp.asarray(self.v_threshold, jnp.float32)}

    def check_width(self, width: int, name: str = "layer") -> None:
        pass

    def step_vjp(self, theta, x, v, gy, gv):
        _, vjp = jax.vjp(self.step, theta, x, v)
        return vjp((gy, gv))


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class DSRIFParams(_TrainedThreshold):
    """DSR's IF neuron. ``theta = {"v_th": scalar}`` per layer, starting at ``v_threshold``.

    Attributes:
      v_threshold: the initial threshold (also the spike amplitude).
      firing_fraction: a spike fires at ``V >= firing_fraction * V_th`` (DSR's alpha; 1/2 rounds).
      threshold_bound: the threshold is projected to at least this.
      threshold_grad_scale: the factor on the threshold's mapping gradient.
      surrogate, surrogate_width, surrogate_support: the spike's surrogate when stepped one timestep at a time.
    """

    v_threshold: float = 1.0
    firing_fraction: float = 0.5
    threshold_bound: float = 0.01
    threshold_grad_scale: float = 1.0
    surrogate: str = "sigmoid"
    surrogate_width: float = 4.0
    surrogate_support: float = DEFAULT_SUPPORT
    kind: ClassVar[str] = "dsr_if"
    trace_decay: ClassVar[float] = 1.0   # an IF neuron does not leak

    def step(self, theta, x, v):
        v_th = _threshold(self, theta, x.dtype)
        m = v + x
        s = v_th * spike(m - self.firing_fraction * v_th, *surrogate_of(self))
        return s, m - s

    def rates(self, xs):
        """The input's spike representation over the leading (time) axis: the mean."""
        return jnp.mean(xs, 0)

    def mapping_vjp(self, v_th, r, gs):
        """``(dL/dx_t, dL/dV_th)`` from the input rate ``r`` and the output cotangents ``gs`` (``[T, ...]``)."""
        timesteps = gs.shape[0]
        g = jnp.sum(gs, 0)
        gx = g / timesteps * ((r >= 0) & (r <= v_th)).astype(g.dtype)
        gth = self.threshold_grad_scale * jnp.sum(g * (r > v_th).astype(g.dtype))
        return jnp.broadcast_to(gx[None], gs.shape), gth


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class DSRLIFParams(_TrainedThreshold):
    """DSR's LIF neuron (its default): ``V = b V + (1 - b) x``, ``b = exp(-dt / tau)``; output ``s / dt``.

    Attributes as :class:`DSRIFParams`, plus ``tau`` and ``dt``; ``threshold_grad_scale`` defaults to ``dt`` as
    in the authors' code.
    """

    v_threshold: float = 0.3
    firing_fraction: float = 0.3
    threshold_bound: float = 0.0005
    threshold_grad_scale: float = 0.05
    tau: float = 1.0
    dt: float = 0.05
    surrogate: str = "sigmoid"
    surrogate_width: float = 4.0
    surrogate_support: float = DEFAULT_SUPPORT
    kind: ClassVar[str] = "dsr_lif"

    def __post_init__(self):
        super().__post_init__()
        if not (self.tau > 0 and self.dt > 0):
            raise InputError(f"tau and dt must be > 0, got tau={self.tau}, dt={self.dt}")

    @property
    def decay(self) -> float:
        return math.exp(-self.dt / self.tau)

    @property
    def trace_decay(self) -> float:
        """The trace decay OTTT uses for this neuron, its leak ``exp(-dt / tau)``."""
        return self.decay

    def step(self, theta, x, v):
        v_th = _threshold(self, theta, x.dtype)
        m = self.decay * v + (1 - self.decay) * x
        s = v_th * spike(m - self.firing_fraction * v_th, *surrogate_of(self))
        return s / self.dt, m - s

    def weights(self, timesteps: int, dtype=jnp.float32):
        """``w_t = exp(-(T - t) dt / tau)`` for ``t = 1..T``."""
        t = jnp.arange(1, timesteps + 1, dtype=dtype)
        return jnp.exp(-(timesteps - t) * self.dt / self.tau)

    def rates(self, xs):
        """The input's spike representation: the mean over the leading axis weighted by :meth:`weights`."""
        w = self.weights(xs.shape[0], xs.dtype)
        return jnp.tensordot(w, xs, 1) / jnp.sum(w)

    def mapping_vjp(self, v_th, r, gs):
        timesteps = gs.shape[0]
        w = self.weights(timesteps, gs.dtype)
        g = timesteps * jnp.tensordot(w, gs, 1) / jnp.sum(w)
        top = v_th * self.tau / self.dt
        gx = g / (self.tau * timesteps) * ((r > 0) & (r < top)).astype(g.dtype)
        gth = self.threshold_grad_scale * jnp.sum(g * (r > top).astype(g.dtype))
        return jnp.broadcast_to(gx[None], gs.shape), gth


def _run(neuron, theta, xs):
    """The neuron's forward over ``xs`` ``[T, ...]`` from zero potential: outputs ``[T, ...]``."""
    def body(v, x):
        y, v = neuron.step(theta, x, v)
        return v, y
    return lax.scan(body, jnp.zeros_like(xs[0]), xs)[1]


def sequence(neuron, theta, xs):
    """The neuron over all ``T`` steps of ``xs`` (``[T, ...]``) with DSR's backward: the gradient of the rate
    mapping, the same for every step. What the backward keeps is the input's rate, one value per neuron.

    A neuron has a rate mapping (:func:`has_rate_mapping`) if it gives its VJP (``rates`` and ``mapping_vjp``:
    :class:`DSRIFParams`, :class:`DSRLIFParams`, the authors' rules) or the mapping itself (``rates`` and
    ``rate_map``, differentiated here: the paper's reversible neuron, RevDSR). Raises InputError for any other."""
    if hasattr(neuron, "mapping_vjp"):
        return _dsr_sequence(neuron, theta, xs)
    if hasattr(neuron, "rate_map"):
        return _mapped_run(neuron, theta, xs)
    raise InputError(f"the dsr method needs a neuron with a rate mapping (rates, and mapping_vjp or rate_map), not "
                     f"{getattr(neuron, 'kind', type(neuron).__name__)}")


def has_rate_mapping(neuron) -> bool:
    """Whether :func:`sequence` (the ``dsr`` method) can train ``neuron``."""
    return hasattr(neuron, "rates") and (hasattr(neuron, "mapping_vjp") or hasattr(neuron, "rate_map"))


def _dsr_sequence(neuron, theta, xs):
    return _dsr_run(neuron, theta["v_th"], xs)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _dsr_run(neuron, v_th, xs):
    return _run(neuron, {"v_th": v_th}, xs)


def _dsr_fwd(neuron, v_th, xs):
    return _dsr_run(neuron, v_th, xs), (v_th, neuron.rates(xs))


def _dsr_bwd(neuron, res, gs):
    v_th, r = res
    gx, gth = neuron.mapping_vjp(jnp.maximum(v_th, neuron.threshold_bound).astype(r.dtype), r, gs)
    return gth.astype(v_th.dtype), gx


_dsr_run.defvjp(_dsr_fwd, _dsr_bwd)


# --- a neuron that gives its rate mapping (RevDSR): the mapping differentiated by autodiff --------------------

@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _mapped_run(neuron, theta, xs):
    return _run(neuron, theta, xs)


def _mapped_fwd(neuron, theta, xs):
    return _mapped_run(neuron, theta, xs), (theta, neuron.rates(xs))


def _mapped_bwd(neuron, res, gs):
    theta, r = res
    _, vjp = jax.vjp(neuron.rate_map, r)
    (g,) = vjp(jnp.sum(gs, 0) / gs.shape[0])
    return jax.tree.map(jnp.zeros_like, theta), jnp.broadcast_to(g[None], gs.shape)


_mapped_run.defvjp(_mapped_fwd, _mapped_bwd)
