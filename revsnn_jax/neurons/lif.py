"""The plain leaky integrate-and-fire neuron (hard reset) and its learnable-time-constant variant, PLIF.

.. math::

   M = V^{t-1} + k\\,(X^t - (V^{t-1} - V_{reset})), \\quad S = H(M - V_{th}), \\quad V^t = (1 - S) M + S V_{reset}

with :math:`k = 1/\\tau` (LIF) or :math:`k = \\mathrm{sigmoid}(w)`, :math:`w` learnable, one per layer (PLIF:
Fang et al., *Incorporating Learnable Membrane Time Constant to Enhance Learning of Spiking Neural Networks*,
ICCV 2021; :math:`w` starts at :math:`-\\ln(\\tau_0 - 1)` so that :math:`1/\\tau = 1/\\tau_0`). This is
SpikingJelly's ``LIFNode`` / ``ParametricLIFNode`` with ``decay_input=True`` and a hard reset. The output is the
binary spike :math:`S`.

Two switches give the other common forms: ``decay_input=False`` charges :math:`M = V^{t-1} - k (V^{t-1} -
V_{reset}) + X^t` (the input is not scaled by :math:`k`), and ``soft_reset=True`` resets by subtraction,
:math:`V^t = M - S V_{th}`. OTTT's and SLTT's neuron is ``LIFParams(decay_input=False, soft_reset=True)``: with a
soft reset whose spike is not differentiated, :math:`\\partial V^t / \\partial V^{t-1} = 1 - k` is one constant
for every neuron, which is what makes OTTT's presynaptic trace exact (:mod:`revsnn_jax.methods.online`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from revsnn_jax.errors import InputError
from revsnn_jax.neurons.base import check_state
from revsnn_jax.surrogate import DEFAULT_SUPPORT, check_surrogate, spike, surrogate_grad
from revsnn_jax.surrogate import of as surrogate_of


def _charge(k, p, x, v):
    """The potential before firing: ``v + k (x - (v - v_reset))``, or ``v - k (v - v_reset) + x`` without input
    decay."""
    return v + k * (x - (v - p.v_reset)) if p.decay_input else v - k * (v - p.v_reset) + x


def _lif(k, p, x, v):
    m = _charge(k, p, x, v)
    s = spike(m - p.v_threshold, *surrogate_of(p))
    return s, (m - s * p.v_threshold if p.soft_reset else (1 - s) * m + s * p.v_reset)


def _lif_vjp(k, p, x, v, gy, gv):
    """``(gk, gx, gv_prev)`` of :func:`_lif`; ``gk`` is the per-element cotangent of ``k``."""
    m = _charge(k, p, x, v)
    s = (m >= p.v_threshold).astype(m.dtype)
    if p.soft_reset:
        gs, gm = gy - gv * p.v_threshold, gv
    else:
        gs, gm = gy + gv * (p.v_reset - m), gv * (1 - s)
    gm = gm + gs * surrogate_grad(m - p.v_threshold, *surrogate_of(p))
    if p.decay_input:
        return gm * (x - v + p.v_reset), gm * k, gm * (1 - k)
    return gm * (p.v_reset - v), gm, gm * (1 - k)


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class LIFParams:
    """Hyperparameters of the plain LIF neuron (hard reset), the BPTT baseline. Static (a pytree with no leaves).

    Attributes:
      tau: membrane time constant, ``> 0`` (``k = 1/tau``).
      v_threshold, v_reset: :math:`V_{th}`, :math:`V_{reset}`.
      surrogate, surrogate_width, surrogate_support: see :mod:`revsnn_jax.surrogate`.
      decay_input: scale the input by ``k`` (True, the default) or add it as it is.
      soft_reset: reset by subtracting ``v_threshold`` (True) instead of to ``v_reset``.
    """

    tau: float = 2.0
    v_threshold: float = 1.0
    v_reset: float = 0.0
    surrogate: str = "paper"
    surrogate_width: float = 2.0
    surrogate_support: float = DEFAULT_SUPPORT
    decay_input: bool = True
    soft_reset: bool = False
    kind: ClassVar[str] = "lif"

    def __post_init__(self):
        if not self.tau > 0:
            raise InputError(f"tau must be > 0, got {self.tau}")
        check_surrogate(self.surrogate, self.surrogate_width, self.surrogate_support)

    @property
    def trace_decay(self) -> float:
        """The trace decay OTTT uses for this neuron, its leak ``1 - 1/tau`` (the reset not differentiated)."""
        return 1.0 - 1.0 / self.tau

    def nir_leak(self, theta) -> float:
        """``k`` of NIR's LIF (``tau = dt / k``): ``1/tau``."""
        return 1.0 / self.tau

    def init_theta(self, width: int):
        return None

    def check_width(self, width: int, name: str = "layer") -> None:
        pass

    def step(self, theta, x, v):
        return _lif(1.0 / self.tau, self, x, v)

    def step_vjp(self, theta, x, v, gy, gv):
        _, gx, gvp = _lif_vjp(1.0 / self.tau, self, x, v, gy, gv)
        return None, gx, gvp


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class PLIFParams:
    """Hyperparameters of the parametric LIF neuron (Fang et al., 2021): LIF with a learnable time constant.

    ``theta = {"w": scalar}`` per layer, :math:`1/\\tau = \\mathrm{sigmoid}(w)`; ``tau`` is its initial value
    (``> 1``, since a sigmoid stays below 1). Other attributes as :class:`LIFParams`.
    """

    tau: float = 2.0
    v_threshold: float = 1.0
    v_reset: float = 0.0
    surrogate: str = "paper"
    surrogate_width: float = 2.0
    surrogate_support: float = DEFAULT_SUPPORT
    decay_input: bool = True
    soft_reset: bool = False
    kind: ClassVar[str] = "plif"

    def __post_init__(self):
        if not self.tau > 1:
            raise InputError(f"PLIF's initial tau must be > 1 (1/tau = sigmoid(w) < 1), got {self.tau}")
        check_surrogate(self.surrogate, self.surrogate_width, self.surrogate_support)

    @property
    def trace_decay(self) -> float:
        """The trace decay OTTT uses for this neuron, its leak ``1 - 1/tau`` at the initial ``tau``."""
        return 1.0 - 1.0 / self.tau

    def nir_leak(self, theta) -> float:
        """``k`` of NIR's LIF (``tau = dt / k``): the learned ``sigmoid(w)``."""
        return float(jax.nn.sigmoid(theta["w"]))

    def init_theta(self, width: int):
        return {"w": jnp.asarray(-math.log(self.tau - 1.0), jnp.float32)}

    def check_width(self, width: int, name: str = "layer") -> None:
        pass

    def step(self, theta, x, v):
        return _lif(jax.nn.sigmoid(theta["w"]).astype(x.dtype), self, x, v)

    def step_vjp(self, theta, x, v, gy, gv):
        k = jax.nn.sigmoid(theta["w"]).astype(x.dtype)
        gk, gx, gvp = _lif_vjp(k, self, x, v, gy, gv)
        gw = (jnp.sum(gk) * k * (1 - k)).astype(theta["w"].dtype)
        return {"w": gw}, gx, gvp


def lif_step(p: LIFParams, x: jax.Array, v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One step of the plain LIF neuron with hard reset (the baseline).

    Args:
      p: :class:`LIFParams`.
      x: input :math:`X^t`, shape ``[..., D]``, floating.
      v: :math:`V^{t-1}`, same shape and dtype.

    Returns:
      ``(s, v_next)``: the binary spikes :math:`S` (in ``x.dtype``) and :math:`V^t`.
    """
    check_state(x, v)
    return lif_step_unchecked(p, x, v)


def lif_step_unchecked(p: LIFParams, x: jax.Array, v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """:func:`lif_step` without the input checks (for loops that checked once)."""
    return p.step(None, x, v)
