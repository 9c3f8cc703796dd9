"""An exactly reversible LIF neuron: the paper's group structure, a spike-gated reset, fixed-point arithmetic.

The paper's neuron (:mod:`revsnn_jax.neurons.rev_lif`) cannot be inverted exactly: its reset is gated by the
real-valued :math:`Y`, so :math:`V^t = c\\,V^{t-1} + d` with :math:`c = (1 - Y)(1 - 1/\\tau) + \\alpha`, which is
zero for some :math:`Y` (then :math:`V^{t-1}` is simply gone) and tiny near it (then rounding error is amplified
without bound). This variant changes exactly what stands in the way and keeps the rest:

* the reset is gated by the binary spike :math:`S`, not by :math:`Y`;
* :math:`1/\\tau`, :math:`\\alpha` and :math:`\\beta` are dyadic (:math:`k/2^j`, :math:`j \\le 6`), and the
  potential is held in fixed point (``frac_bits`` = :math:`F` fractional bits, 16 by default), so every product
  is a shift and every step is integer arithmetic;
* the few low bits that a right shift drops are kept (a leaky neuron loses information about :math:`V^{t-1}`
  every step; keeping exactly that information makes the inverse exact by construction).

Per group :math:`k = 1..n` (cyclic chain as in the paper: group 1 integrates :math:`X_1`, group :math:`k > 1`
integrates :math:`Y_{k-1}`, and :math:`Y_k` passes :math:`\\beta X_{k+1}` through; :math:`\\lfloor\\cdot\\rfloor`
is an arithmetic right shift on integers in units of :math:`2^{-F}`, :math:`a = 1/\\tau`):

.. math::

   \\hat X &= \\mathrm{clip}(\\mathrm{round}(2^F X), \\pm 2^F x_{max}) \\\\
   M_k &= V_k + \\lfloor a (I_k - V_k) \\rfloor, \\qquad S_k = [M_k \\ge V_{th}] \\\\
   V_k^t &= (1 - S_k) M_k + S_k V_{reset} + \\lfloor \\alpha V_k \\rfloor \\\\
   Y_k &= S_k + \\lfloor \\beta \\hat X_{k+1} \\rfloor

**Inverse.** Write :math:`V = 2^L q + r` with :math:`L = \\max(\\log_2` of the denominators of :math:`a` and
:math:`\\alpha)` and :math:`r = V \\bmod 2^L`. Given :math:`V^t`, the input :math:`I_k`, :math:`S_k` and :math:`r`:

* :math:`S = 1`: :math:`\\lfloor\\alpha V\\rfloor = V^t - V_{reset}` fixes :math:`\\alpha V` up to its dropped
  low bits, which are those of :math:`\\alpha r`; dividing by :math:`\\alpha`'s numerator is exact;
* :math:`S = 0`: :math:`V^t = C q + K(r, I)` with the integer :math:`C = 2^L (1 - a + \\alpha) > 0`, so
  :math:`q = (V^t - K)/C` is an exact integer division.

**Kept per neuron and step** (``keep_bits`` = :math:`1 + L + 1`, packed as bit planes by the caller): the spike
:math:`S`, the :math:`L` bits :math:`r`, and (``snap=True``) the parity of :math:`\\hat X`. The parity lets a
*recomputed* input that differs from the forward's by rounding (another convolution algorithm, another fusion)
be snapped back to the forward's :math:`\\hat X`: any error below half a unit (:math:`2^{-F-1}`) is corrected,
and errors never accumulate across layers, since each layer's output is rebuilt exactly. At the defaults
(:math:`\\tau = 2`, :math:`\\alpha = 1/8`): 5 bits per neuron and step.

**Range.** The potential is carried as a float (so autodiff and every other strategy treat it as usual) that
holds the fixed-point value exactly; this needs :math:`|V| < 2^{24 - F}` in float32 (256 at :math:`F = 16`). With
:math:`c_0 = 1 - a + \\alpha < 1` the potential is bounded by about :math:`a I_{max} / (a - \\alpha)`, which is
checked when the parameters are made (``x_max``, the input clip, sets :math:`I_{max}`); inputs beyond
:math:`\\pm x_{max}` saturate (their gradient is zero there) and the inverse stays exact. :math:`\\alpha = a`
(:math:`c_0 = 1`) is allowed but unbounded below threshold (an integrator): exactness then holds while
:math:`|V|` stays in range, and the time-reversing loop's end-to-end check reports when it does not.

**Gradient** (:meth:`ExactRevLIFParams.step_vjp`): the surrogate derivative at :math:`M - V_{th}`, the shifts
and the rounding of the input differentiated as their real-valued counterparts (straight-through), zero where
the input is clipped:

.. math::

   \\tilde Y_k = \\bar Y_k + a \\bar M_{k+1},\\;\\;
   \\bar M_k = \\bar V_k^t (1 - S_k) + (\\tilde Y_k + \\bar V_k^t (V_{reset} - M_k))\\,\\sigma'(M_k - V_{th}),\\;\\;
   \\bar V_k^{t-1} = \\alpha \\bar V_k^t + (1 - a) \\bar M_k,\\;\\;
   \\bar X_{k+1} \\mathrel{+}= \\beta \\tilde Y_k,\\;\\; \\bar X_1 \\mathrel{+}= a \\bar M_1
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from revsnn_jax.errors import InputError
from revsnn_jax.neurons import base
from revsnn_jax.surrogate import DEFAULT_SUPPORT, check_surrogate, surrogate_grad
from revsnn_jax.surrogate import of as surrogate_of

MAX_DENOMINATOR_BITS = 6
"""Dyadic constants are ``k / 2^j`` with ``j`` at most this (keeps every integer product inside int32)."""
FLOAT32_EXACT = 2 ** 24   # integers below this are exact in float32 (the potential is carried as a float)


class FixedPoint(NamedTuple):
    """The integer constants of one :class:`ExactRevLIFParams` (derived, never set by hand)."""

    one: int          # 2^F
    a_num: int        # 1/tau = a_num / 2^a_bits
    a_bits: int
    alpha_num: int    # alpha = alpha_num / 2^alpha_bits
    alpha_bits: int
    beta_num: int     # beta = beta_num / 2^beta_bits
    beta_bits: int
    v_threshold: int
    v_reset: int
    x_max: int        # input clip, in units of 2^-F
    low_bits: int     # L: bits of V kept per step
    divisor: int      # C = 2^L (1 - a + alpha)


def dyadic(value: float, name: str, *, allow_zero: bool = False, allow_negative: bool = False) -> tuple[int, int]:
    """``(k, j)`` with ``value == k / 2^j`` and ``j <= MAX_DENOMINATOR_BITS`` minimal; InputError naming the
    nearest valid values otherwise."""
    if value == 0 and not allow_zero:
        raise InputError(f"{name} must be non-zero")
    if value < 0 and not allow_negative:
        raise InputError(f"{name} must be positive, got {value}")
    for j in range(MAX_DENOMINATOR_BITS + 1):
        k = value * 2 ** j
        if abs(k - round(k)) < 1e-9:
            return int(round(k)), j
    step = 2.0 ** -MAX_DENOMINATOR_BITS
    lo, hi = math.floor(value / step) * step, math.ceil(value / step) * step
    raise InputError(f"{name}={value} is not a dyadic fraction k/2^j (j <= {MAX_DENOMINATOR_BITS}), which the exact "
                     f"neuron's shift arithmetic needs; nearest valid values: {lo:g} and {hi:g}")


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class ExactRevLIFParams:
    """Hyperparameters of the exactly reversible LIF neuron (see the module docstring for its equations).

    Attributes:
      tau: membrane time constant; ``1/tau`` must be dyadic (tau = 2, 4, 8, 4/3, 8/5, ...).
      v_threshold, v_reset: multiples of ``2^-frac_bits``.
      alpha: weight of :math:`V^{t-1}` kept in :math:`V^t`, dyadic, ``0 < alpha <= 1/tau`` (default 1/8, near the
        paper's 0.1-0.2).
      beta: weight of the passed-through input in :math:`Y`, dyadic; 0 makes the output the binary spike.
      groups: :math:`n \\ge 1` groups along the last axis (the paper's cyclic chain; 1 group integrates its own
        input).
      frac_bits: :math:`F`, fractional bits of the fixed-point potential (4..20).
      x_max: inputs are clipped to ``[-x_max, x_max]`` (a multiple of ``2^-frac_bits``).
      snap: keep one parity bit of each quantised input, so that a recomputed input within half a unit of the
        forward's is snapped back (needed wherever recomputation is not bit-identical, e.g. GPU convolutions).
      surrogate, surrogate_width, surrogate_support: see :mod:`revsnn_jax.surrogate`.
    """

    tau: float = 2.0
    v_threshold: float = 1.0
    v_reset: float = 0.0
    alpha: float = 0.125
    beta: float = 1.0
    groups: int = 2
    frac_bits: int = 16
    x_max: float = 32.0
    snap: bool = True
    surrogate: str = "paper"
    surrogate_width: float = 2.0
    surrogate_support: float = DEFAULT_SUPPORT
    kind: ClassVar[str] = "exact_rev"
    exact_inverse: ClassVar[bool] = True
    trace_decay: ClassVar[float] = 0.0   # RevOTTT's measured best, as for the paper's neuron
    no_nir: ClassVar[str] = (
        "the exactly reversible neuron (exact_rev) has no NIR equivalent: it steps in fixed point (shifts that "
        "round down, a reset that keeps alpha V) where NIR's LIF is real-valued with a reset to a constant")

    def __post_init__(self):
        check_surrogate(self.surrogate, self.surrogate_width, self.surrogate_support)
        base.check_groups_value(self.groups)
        if isinstance(self.frac_bits, bool) or not isinstance(self.frac_bits, int) or not 4 <= self.frac_bits <= 20:
            raise InputError(f"frac_bits must be an integer in 4..20, got {self.frac_bits!r}")
        if not self.tau > 0:
            raise InputError(f"tau must be > 0, got {self.tau}")
        a_num, a_bits = dyadic(1.0 / self.tau, "1/tau")
        if a_num > 2 ** a_bits:
            raise InputError(f"tau must be >= 1, got {self.tau}")
        alpha_num, alpha_bits = dyadic(self.alpha, "alpha")
        beta_num, beta_bits = dyadic(self.beta, "beta", allow_zero=True, allow_negative=True)
        a, alpha = a_num / 2 ** a_bits, alpha_num / 2 ** alpha_bits
        if alpha > a:
            raise InputError(f"alpha={self.alpha} must be <= 1/tau ({a:g}): with 1 - 1/tau + alpha > 1 the potential "
                             "grows without bound below threshold")
        one = 2 ** self.frac_bits
        fixed = {}
        for name in ("v_threshold", "v_reset", "x_max"):
            q = getattr(self, name) * one
            if abs(q - round(q)) > 1e-9:
                raise InputError(f"{name}={getattr(self, name)} is not a multiple of 2^-{self.frac_bits}")
            fixed[name] = int(round(q))
        if fixed["x_max"] <= 0:
            raise InputError(f"x_max must be > 0, got {self.x_max}")
        low_bits = max(a_bits, alpha_bits)
        divisor = 2 ** low_bits - a_num * 2 ** (low_bits - a_bits) + alpha_num * 2 ** (low_bits - alpha_bits)
        fx = FixedPoint(one, a_num, a_bits, alpha_num, alpha_bits, beta_num, beta_bits, fixed["v_threshold"],
                        fixed["v_reset"], fixed["x_max"], low_bits, divisor)
        object.__setattr__(self, "_fx", fx)
        self._check_range()

    @property
    def fixed_point(self) -> FixedPoint:
        return self._fx

    @property
    def keep_bits(self) -> int:
        """How many bits per neuron and step are kept (the spike, ``low_bits`` of V, the input parity with ``snap``)."""
        return 1 + self._fx.low_bits + int(self.snap)

    def potential_bound(self) -> float | None:
        """An upper bound on :math:`|V|` (units of 1) reachable from :math:`V = 0`, or None if unbounded."""
        fx = self._fx
        a, alpha = fx.a_num / 2 ** fx.a_bits, fx.alpha_num / 2 ** fx.alpha_bits
        if alpha >= a:
            return None
        i_max = max(fx.x_max, fx.one + abs(fx.beta_num) * fx.x_max / 2 ** fx.beta_bits)
        quiet = (a * i_max + 2) / (a - alpha)               # floors cost at most one unit each per step
        spiking = (abs(fx.v_reset) + 1) / (1 - alpha)
        return (max(quiet, spiking, abs(fx.v_threshold)) + 1) / fx.one

    def _check_range(self):
        bound = self.potential_bound()
        if bound is None:
            return
        fx = self._fx
        if bound * fx.one >= FLOAT32_EXACT:
            largest = self.x_max * FLOAT32_EXACT / (bound * fx.one)
            raise InputError(f"with tau={self.tau}, alpha={self.alpha}, x_max={self.x_max}, frac_bits={self.frac_bits} "
                             f"the potential can reach {bound:.0f}, beyond the {FLOAT32_EXACT // fx.one} that a "
                             "float32 "
                             f"holds exactly at this precision: lower x_max (below {largest:.3g}) or frac_bits")
        i_bound = bound * fx.one + max(fx.x_max, fx.one + abs(fx.beta_num) * fx.x_max)
        if max(fx.a_num, fx.alpha_num, abs(fx.beta_num)) * i_bound >= 2 ** 31:
            raise InputError("x_max and frac_bits are too large for int32 arithmetic; lower one of them")

    # --- the neuron interface ---------------------------------------------------------------------------------

    def init_theta(self, width: int):
        return None

    def check_width(self, width: int, name: str = "layer") -> None:
        base.check_groups(self.groups, (width,), name)

    def step(self, theta, x, v):
        return _step(self, x, v)

    def step_vjp(self, theta, x, v, gy, gv):
        xq, inside = quantize(self, x)
        f = _forward(self, _split(self, xq), _split(self, to_fixed(self, v)))
        gx, gvp = _vjp(self, base.merge(f.m), base.merge(f.s), gy, gv)
        return None, jnp.where(inside, gx, 0), gvp

    def keep(self, theta, x, v):
        xq, _ = quantize(self, x)
        vq = to_fixed(self, v)
        f = _forward(self, _split(self, xq), _split(self, vq))
        fx = self._fx
        code = base.merge(f.s).astype(jnp.int32) | ((vq & (2 ** fx.low_bits - 1)) << 1)
        if self.snap:
            code = code | ((xq & 1) << (1 + fx.low_bits))
        return from_fixed(self, base.merge(f.y), x.dtype), from_fixed(self, base.merge(f.v_next), x.dtype), code

    def rebuild(self, theta, x, code, v_next):
        xq, _ = snap(self, x, code)
        s, r = self._spikes_and_low_bits(code)
        vq_prev, yq = _inverse(self, xq, s, r, to_fixed(self, v_next))
        return from_fixed(self, yq, x.dtype), from_fixed(self, vq_prev, x.dtype)

    def replay(self, theta, x, code, v_prev):
        return _replay(self, x, code, v_prev)

    def canonical_state(self, v):
        return from_fixed(self, to_fixed(self, v), v.dtype)

    def _spikes_and_low_bits(self, code):
        return (code & 1) != 0, ((code >> 1) & (2 ** self._fx.low_bits - 1)).astype(jnp.int32)


# --- fixed point -----------------------------------------------------------------------------------------------

def to_fixed(p: ExactRevLIFParams, v: jax.Array) -> jax.Array:
    """A potential (on the grid, as the neuron keeps it) as int32 units of ``2^-frac_bits``."""
    return jnp.round(v * p.fixed_point.one).astype(jnp.int32)


def from_fixed(p: ExactRevLIFParams, q: jax.Array, dtype) -> jax.Array:
    """int32 units back to a float (exact while ``|q| < 2^24`` in float32)."""
    return q.astype(dtype) * (1.0 / p.fixed_point.one)


def quantize(p: ExactRevLIFParams, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(round(2^F x) clipped to +-x_max, inside)``; ``inside`` marks inputs the clip left alone."""
    fx = p.fixed_point
    u = x * fx.one
    inside = jnp.abs(u) <= fx.x_max
    return jnp.round(jnp.clip(u, -fx.x_max, fx.x_max)).astype(jnp.int32), inside


def snap(p: ExactRevLIFParams, x: jax.Array, code: jax.Array) -> tuple[jax.Array, jax.Array]:
    """:func:`quantize` of a recomputed input, moved to the neighbour whose parity the forward kept where the parity
    differs: the forward's quantised input whenever ``x`` is within half a unit of the forward's."""
    q, inside = quantize(p, x)
    if not p.snap:
        return q, inside
    fx = p.fixed_point
    kept = (code >> (1 + fx.low_bits)) & 1
    u = jnp.clip(x * fx.one, -fx.x_max, fx.x_max)
    moved = q + jnp.where(u >= q.astype(u.dtype), 1, -1).astype(jnp.int32)
    return jnp.clip(jnp.where((q & 1) != kept, moved, q), -fx.x_max, fx.x_max), inside


def _split(p: ExactRevLIFParams, a):
    return base.split(p.groups, a)


class _Forward(NamedTuple):
    m: list | jax.Array        # int32 groups (lists of slices, or stacked for many groups)
    s: list | jax.Array        # bool
    y: list | jax.Array        # int32
    v_next: list | jax.Array   # int32


def _group(p: ExactRevLIFParams, inp, v, x_next, s=None):
    """One group on integers: ``(m, s, y, v_next)``; ``s`` given (replay) or from the threshold (forward)."""
    fx = p.fixed_point
    m = v + ((fx.a_num * (inp - v)) >> fx.a_bits)
    if s is None:
        s = m >= fx.v_threshold
    kept = (fx.alpha_num * v) >> fx.alpha_bits
    v_next = jnp.where(s, fx.v_reset + kept, m + kept)
    y = s.astype(jnp.int32) * fx.one + ((fx.beta_num * x_next) >> fx.beta_bits)
    return m, s, y, v_next


def _forward(p: ExactRevLIFParams, xq, vq) -> _Forward:
    """The chain of groups on integers (sequential: group k+1 integrates ``Y_k``)."""
    def group(inp, v_and_next):
        m, s, y, vn = _group(p, inp, *v_and_next)
        return y, (m, s, y, vn)

    _, outs = base.group_chain(group, xq[0], (vq, base.next_group(xq)), p.groups)
    return _Forward(*outs)


# Which group an element belongs to matters only where a value crosses groups (an input passed through, an output
# integrated by the next group); those parts are computed per group slice. Everything aligned with V is computed on
# whole arrays, elementwise, so that XLA can update the carried potentials in place (one copy of them instead of
# two during the backward).

def _inputs(p: ExactRevLIFParams, xq, s):
    """Every group's output ``Y`` and integrated input ``I`` (whole arrays) from the inputs and the spikes alone."""
    fx = p.fixed_point
    xg = _split(p, xq)
    yg = base.gmap(lambda s, x_next: s.astype(jnp.int32) * fx.one + ((fx.beta_num * x_next) >> fx.beta_bits),
                   _split(p, s), base.next_group(xg))
    inp = [xg[0]] + yg[:-1] if isinstance(yg, list) else jnp.concatenate([xg[:1], yg[:-1]], axis=0)
    return base.merge(yg), base.merge(inp)   # I_1 = X_1, I_k = Y_{k-1}


POISON = -(2 ** 30)
"""What the inverse returns for a potential it cannot have come from (a quotient that is not exact): far outside
any reachable value, so that the time-reversing loop's end-to-end check cannot miss it."""


def _exact_quotient(a, d: int):
    """``a / d`` for integers ``a`` that ``d`` should divide exactly (``|a / d| < 2^24``), as a float division
    rounded to the nearest integer (exact there, and it fuses with its neighbours where an integer floor division
    does not), and whether the division was exact. Rounding alone would absorb a small error in ``a`` (an input
    rebuilt one unit off): the check makes such an error visible instead."""
    if d == 1:
        return a, True
    q = jnp.round(a.astype(jnp.float32) / d).astype(jnp.int32)
    return q, q * d == a


def _inverse(p: ExactRevLIFParams, xq, s, r, vn):
    """``(V^{t-1}, Y)`` as integers from the inputs, the kept spikes and low bits, and ``V^t`` (whole arrays)."""
    fx = p.fixed_point
    y, inp = _inputs(p, xq, s)
    dropped = (fx.alpha_num * r) & (2 ** fx.alpha_bits - 1)          # the bits of alpha V the shift dropped
    v_spiked, exact_spiked = _exact_quotient((vn - fx.v_reset) * 2 ** fx.alpha_bits + dropped, fx.alpha_num)
    known = r + ((fx.a_num * (inp - r)) >> fx.a_bits) + ((fx.alpha_num * r) >> fx.alpha_bits)
    q, exact_quiet = _exact_quotient(vn - known, fx.divisor)
    v = jnp.where(s, v_spiked, q * 2 ** fx.low_bits + r)
    return jnp.where(jnp.where(s, exact_spiked, exact_quiet), v, POISON), y


def _vjp(p: ExactRevLIFParams, m, s, gy, gvn):
    """The closed-form VJP, whole arrays in and out: ``(gx, gv_prev)`` (see the module docstring; before the
    input clip). Only the cotangent of M runs through the chain of groups."""
    fx = p.fixed_point
    a = fx.a_num / 2 ** fx.a_bits
    alpha = fx.alpha_num / 2 ** fx.alpha_bits
    beta = fx.beta_num / 2 ** fx.beta_bits
    mf = from_fixed(p, m, gy.dtype)
    sg = surrogate_grad(mf - fx.v_threshold / fx.one, *surrogate_of(p))
    local = gvn * (1 - s.astype(gy.dtype)) + (gy + gvn * (fx.v_reset / fx.one - mf)) * sg   # gM without the chain

    def group(to_input, per_group):     # group k+1 integrates Y_k: a gM_{k+1} flows into Y_k
        local_k, sg_k, gy_k = per_group
        gm = local_k + sg_k * to_input
        return a * gm, (gm, beta * (gy_k + to_input))

    to_x1, (gm, to_next_x) = base.group_chain(group, jnp.zeros_like(_split(p, gy)[0]),
                                              (_split(p, local), _split(p, sg), _split(p, gy)), p.groups,
                                              reverse=True)
    gx = base.prev_group(to_next_x)     # Y_k passes X_{k+1} through
    gx = [gx[0] + to_x1] + gx[1:] if isinstance(gx, list) else gx.at[0].add(to_x1)
    return base.merge(gx), alpha * gvn + (1 - a) * base.merge(gm)


@jax.custom_vjp
def _step_impl(p, x, v):
    xq, _ = quantize(p, x)
    f = _forward(p, _split(p, xq), _split(p, to_fixed(p, v)))
    return from_fixed(p, base.merge(f.y), x.dtype), from_fixed(p, base.merge(f.v_next), x.dtype)


def _step(p, x, v):
    return _step_impl(p, x, v)


def _step_fwd(p, x, v):
    return _step_impl(p, x, v), (p, x, v)


def _step_bwd(residuals, cotangents):
    p, x, v = residuals
    _, gx, gv = p.step_vjp(None, x, v, *cotangents)
    return None, gx, gv


_step_impl.defvjp(_step_fwd, _step_bwd)


def _replay_values(p, x, code, v_prev):
    """The forward's exact values from a recomputed input: spikes from ``code``, no chain (whole arrays)."""
    xq, inside = snap(p, x, code)
    s, _ = p._spikes_and_low_bits(code)
    y, inp = _inputs(p, xq, s)
    v = to_fixed(p, v_prev)
    fx = p.fixed_point
    m = v + ((fx.a_num * (inp - v)) >> fx.a_bits)
    vn = jnp.where(s, fx.v_reset, m) + ((fx.alpha_num * v) >> fx.alpha_bits)
    return y, vn, m, s, inside


@jax.custom_vjp
def _replay_impl(p, x, code, v_prev):
    y, vn, _, _, _ = _replay_values(p, x, code, v_prev)
    return from_fixed(p, y, x.dtype), from_fixed(p, vn, x.dtype)


def _replay(p, x, code, v_prev):
    return _replay_impl(p, x, code, v_prev)


def _replay_fwd(p, x, code, v_prev):
    y, vn, m, s, inside = _replay_values(p, x, code, v_prev)
    return (from_fixed(p, y, x.dtype), from_fixed(p, vn, x.dtype)), (p, m, s, inside)


def _replay_bwd(residuals, cotangents):
    p, m, s, inside = residuals
    gx, gv = _vjp(p, m, s, *cotangents)
    return None, jnp.where(inside, gx, 0), None, gv


_replay_impl.defvjp(_replay_fwd, _replay_bwd)


def exact_rev_lif_step(p: ExactRevLIFParams, x: jax.Array, v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One step of the exactly reversible neuron: ``(y, v_next)``, both on the fixed-point grid.

    Args:
      p: :class:`ExactRevLIFParams`.
      x: :math:`X^t`, ``[..., D]`` with ``D`` divisible by ``p.groups``, floating.
      v: :math:`V^{t-1}`, same shape and dtype (quantised to the grid if it is not on it).
    """
    base.check_state(x, v)
    base.check_groups(p.groups, jnp.shape(x))
    return p.step(None, x, v)


def exact_rev_lif_inverse(p: ExactRevLIFParams, x: jax.Array, code: jax.Array, v_next: jax.Array) -> jax.Array:
    """:math:`V^{t-1}`, bit for bit, from the step's input ``x`` (or a recomputation of it within half a unit),
    the ``code`` that :meth:`ExactRevLIFParams.keep` returned, and :math:`V^t`."""
    base.check_state(x, v_next, "x", "v_next")
    base.check_groups(p.groups, jnp.shape(x))
    return p.rebuild(None, x, code, v_next)[1]
