"""The reversible LIF neuron of the paper, as pure functions (Eq. 1-12).

Notation (Lei et al., *Towards Zero Memory Footprint Spiking Neural Network Training*, 2023): ``x`` is the
neuron input :math:`X^t`, ``v`` the membrane potential :math:`V^{t-1}` carried from the previous step, ``y`` the
output :math:`Y^t`, ``v_next`` :math:`V^t`. All functions act elementwise on arrays of any leading shape; the
reversible neuron splits the **last** axis into ``groups`` equal, contiguous groups
:math:`X = [X_1 | X_2 | \\dots | X_n]` (the paper uses :math:`n = 2`).

Reversible LIF, :math:`n = 2` (Eq. 1-6), with :math:`H` the Heaviside step (surrogate gradient in backward):

.. math::

   M_1 &= V_1^{t-1} + (X_1 - V_1^{t-1})/\\tau                                  && \\text{(Eq. 1)} \\\\
   Y_1 &= H(M_1 - V_{th}) + \\beta X_2                                          && \\text{(Eq. 2)} \\\\
   V_1^t &= (1 - Y_1) M_1 + Y_1 V_{reset} + \\alpha V_1^{t-1}                     && \\text{(Eq. 3)} \\\\
   M_2 &= V_2^{t-1} + (Y_1 - V_2^{t-1})/\\tau                                  && \\text{(Eq. 4)} \\\\
   Y_2 &= H(M_2 - V_{th}) + \\beta X_1                                          && \\text{(Eq. 5)} \\\\
   V_2^t &= (1 - Y_2) M_2 + Y_2 V_{reset} + \\alpha V_2^{t-1}                     && \\text{(Eq. 6)}

(The paper's text writes :math:`V_2^{t-1}` in Eq. 1; its equation and its inverse use :math:`V_1^{t-1}`.)
:math:`Y` is real-valued, not a binary spike. For :math:`n` groups the chain is cyclic: group 1 integrates
:math:`X_1`, group :math:`k > 1` integrates :math:`Y_{k-1}`, and :math:`Y_k` carries :math:`\\beta X_{k+1}`
(:math:`Y_n` carries :math:`\\beta X_1`); :math:`n = 2` is exactly Eq. 1-6.

The inverse (Eq. 7-10) runs the groups backwards. With :math:`I_k` the input of group :math:`k`
(:math:`I_k = Y_{k-1}` for :math:`k > 1`, known from the output; :math:`I_1 = X_1`, recovered by group :math:`n`):

.. math::

   V_k^{t-1} &= \\frac{V_k^t - (1 - Y_k) I_k/\\tau - Y_k V_{reset}}{(1 - Y_k)(1 - 1/\\tau) + \\alpha}
      && \\text{(Eq. 7, 9)} \\\\
   X_{k+1} &= (Y_k - H(M_k - V_{th}))/\\beta  && \\text{(Eq. 8, 10)}

The denominator of Eq. 7/9 gets arbitrarily close to zero because :math:`Y` is real-valued, so the inverse
amplifies rounding error without bound (``docs/reversal.md``), and where it is zero (e.g. :math:`Y = 1.3` at
:math:`\tau = 2, \alpha = 0.15`) :math:`V^{t-1}` does not enter :math:`V^t` at all. So this neuron's inverse is
not exact (``exact_inverse = False``): the exact strategies train it by anchored checkpointing, and
:mod:`revsnn_jax.neurons.exact_rev_lif` is the variant whose inverse is exact.

The chain over groups is sequential. Whole-array steps (:func:`rev_lif_step`, :func:`rev_step_with_residuals`,
:func:`rev_step_vjp`) unroll it for a few groups and run it as a ``lax.scan`` over a stacked groups axis for
more than ``SCAN_GROUPS_ABOVE`` (the paper ablates up to 144 groups); the functions on lists of groups
(``*_groups``) are the unrolled form.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple, Sequence

import jax
import jax.numpy as jnp
from jax import lax

from revsnn_jax.errors import InputError
from revsnn_jax.neurons import base
from revsnn_jax.neurons.base import SCAN_GROUPS_ABOVE, check_state
from revsnn_jax.surrogate import DEFAULT_SUPPORT, check_surrogate, heaviside, spike, surrogate_grad
from revsnn_jax.surrogate import of as surrogate_of


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class RevLIFParams:
    """Hyperparameters of the reversible LIF neuron (Eq. 1-6). Static, like :class:`LIFParams`.

    Attributes:
      tau: membrane time constant :math:`\\tau`.
      v_threshold: :math:`V_{th}`.
      v_reset: :math:`V_{reset}`.
      alpha: :math:`\\alpha`, the weight of :math:`V^{t-1}` kept in :math:`V^t` (paper: 0.1-0.2).
      beta: :math:`\\beta`, the weight of the passed-through input in :math:`Y`; must be non-zero (the inverse
        divides by it).
      groups: :math:`n \\ge 2`, the number of groups along the last axis.
      surrogate, surrogate_width, surrogate_support: see :mod:`revsnn_jax.surrogate`.

    The methods are the neuron interface (:mod:`revsnn_jax.neurons.base`); ``keep``/``rebuild``/``replay`` give
    the paper's Eq. 7-10 inverse to the time-reversing loop for *measuring* it (``run_neuron(...,
    v_recovery="inverse")``): it is not exact (``exact_inverse = False``), so no network strategy uses it.
    """

    tau: float = 2.0
    v_threshold: float = 1.0
    v_reset: float = 0.0
    alpha: float = 0.15
    beta: float = 1.0
    groups: int = 2
    surrogate: str = "paper"
    surrogate_width: float = 2.0
    surrogate_support: float = DEFAULT_SUPPORT
    kind: ClassVar[str] = "rev"
    exact_inverse: ClassVar[bool] = False
    keep_bits: ClassVar[int] = 1
    trace_decay: ClassVar[float] = 0.0
    no_nir: ClassVar[str] = (
        "the reversible neuron (rev) has no NIR equivalent: its reset multiplies the potential by its real-valued "
        "output ((1 - Y) M with Y = S + beta X2, a product of two signals), and NIR's nodes are linear maps and "
        "neurons with a reset to a constant")

    def __post_init__(self):
        if not self.tau > 0:
            raise InputError(f"tau must be > 0, got {self.tau}")
        if self.beta == 0:
            raise InputError("beta must be non-zero: the inverse (Eq. 8, 10) divides by beta")
        if isinstance(self.groups, bool) or not isinstance(self.groups, int) or self.groups < 2:
            raise InputError(f"groups must be an integer >= 2 (one group cannot be inverted), got {self.groups!r}")
        check_surrogate(self.surrogate, self.surrogate_width, self.surrogate_support)

    def init_theta(self, width: int):
        return None

    def check_width(self, width: int, name: str = "layer") -> None:
        base.check_groups(self.groups, (width,), name)

    def step(self, theta, x, v):
        return rev_lif_step_unchecked(self, x, v)

    def step_vjp(self, theta, x, v, gy, gv):
        return (None, *rev_step_vjp(self, rev_step_with_residuals(self, x, v)[2], gy, gv))

    def step_with_residuals(self, theta, x, v):
        y, v_next, residuals = rev_step_with_residuals(self, x, v)
        return (y, v_next), residuals

    def vjp_from_residuals(self, theta, residuals, gy, gv):
        return (None, *rev_step_vjp(self, residuals, gy, gv))

    def paper_vjp_check(self) -> None:
        if self.groups != 2:
            raise InputError(f"the paper's gradient rule (Eq. 11-12) is defined for groups=2 only, got "
                             f"groups={self.groups}")

    def paper_vjp(self, theta, x, v, gy, gv):
        """Eq. 11-12 as the gradient rule (:func:`rev_vjp_groups_paper`): **not** the gradient."""
        f = rev_forward_groups(self, split_groups(self, x), split_groups(self, v))
        gx, gvp = rev_vjp_groups_paper(self, f.m, split_groups(self, gy))
        return None, merge_groups(gx), merge_groups(gvp)

    # The paper's inverse, for measuring it in the time-reversing loop (inexact).
    def keep(self, theta, x, v):
        f = rev_forward_groups(self, split_groups(self, x), split_groups(self, v))
        return merge_groups(f.y), merge_groups(f.v_next), (merge_groups(f.s) != 0).astype(jnp.int32)

    def rebuild(self, theta, x, code, v_next):
        """``(y, v_prev)``: Y from ``x`` and the kept spikes, then :math:`V^{t-1}` by Eq. 7/9 (inexact)."""
        xg, sg = split_groups(self, x), split_groups(self, (code & 1).astype(x.dtype))
        yg = [sg[k] + self.beta * xg[(k + 1) % self.groups] for k in range(self.groups)]
        vng = split_groups(self, v_next)
        vg = [_inverse_v(self, yg[k], vng[k], xg[0] if k == 0 else yg[k - 1]) for k in range(self.groups)]
        return merge_groups(yg), merge_groups(vg)

    def replay(self, theta, x, code, v_prev):
        return self.step(theta, x, v_prev)

    def canonical_state(self, v):
        return v

    # RevDSR: the rate mapping this project derives for the paper's neuron (DSR has none for it).
    def rates(self, xs):
        """The input's spike representation over the leading (time) axis: the mean."""
        return jnp.mean(xs, 0)

    def rate_map(self, r_in):
        """The output rate as a function of the input rate (``rev_rate_map``); the ``dsr`` method
        differentiates it."""
        return rev_rate_map(self, r_in)


def rev_rate_map(p: RevLIFParams, r_in):
    """The rate of each group's output ``Y_k`` as a function of the input rates, for the paper's neuron ``p``.

    The neuron's groups chain (``I_1 = X_1``, ``I_k = Y_{k-1}``; ``Y_k = S_k + beta X_{k+1}``), so with ``f`` the
    firing rate of one group for a constant input rate, ``r(Y_k) = f(r(I_k)) + beta r(X_{k+1})``. ``f`` is the
    clamp ``clamp((r - c) / w, 0, 1)`` fitted in ``docs/training_methods.md`` for the neuron's ``tau``, ``alpha``
    and threshold (:func:`rev_rate_fit`)."""
    c, w = rev_rate_fit(p)
    xg = split_groups(p, r_in)
    n = len(xg)
    yg, inp = [], xg[0]
    for k in range(n):
        y = jnp.clip((inp - c) / w, 0.0, 1.0) + p.beta * xg[(k + 1) % n]
        yg.append(y)
        inp = y
    return merge_groups(yg)


def rev_rate_fit(p: RevLIFParams) -> tuple[float, float]:
    """``(c, w)`` of the clamp ``clamp((r - c) / w, 0, 1)`` that one group of the reversible neuron follows for a
    constant input ``r`` (Eq. 1-3 with ``Y = S``), from the two fixed points of its dynamics (``a = 1/tau``):

    * onset: without spikes ``V = M + alpha V`` and ``M = (1 - a) V + a r``, so ``M* = a r / (1 - (1 - a) /
      (1 - alpha))``; the neuron starts firing where ``M* = V_th``: ``c = tau V_th (1 - (1 - a) / (1 - alpha))``
      (0 if ``alpha >= a``: the potential then grows without bound and any positive input fires);
    * saturation: firing every step, ``V* = V_reset / (1 - alpha)`` and ``M = (1 - a) V* + a r >= V_th`` from
      ``r = tau (V_th - (1 - a) V*)``, so ``w`` is that minus ``c``.

    Between the two the simulated rate is a staircase (``tests/test_dsr.py`` measures the clamp against it)."""
    a = 1.0 / p.tau
    c = max(p.tau * p.v_threshold * (1 - (1 - a) / (1 - p.alpha)), 0.0) if p.alpha < a else 0.0
    top = p.tau * (p.v_threshold - (1 - a) * p.v_reset / (1 - p.alpha))
    if not top > c:
        raise InputError(f"the reversible neuron (tau={p.tau}, alpha={p.alpha}, v_threshold={p.v_threshold}, "
                         f"v_reset={p.v_reset}) has no rising firing rate to map")
    return c, top - c


def _inverse_v(p: RevLIFParams, y, v_next, inp):
    """Eq. 7, 9: :math:`V^{t-1}` of one group from its output, :math:`V^t` and its input."""
    return (v_next - (1 - y) * inp / p.tau - y * p.v_reset) / ((1 - y) * (1 - 1 / p.tau) + p.alpha)


def check_groups(p: RevLIFParams, shape: Sequence[int]) -> None:
    """Raises InputError unless the last axis of ``shape`` splits into ``p.groups`` equal groups."""
    base.check_groups(p.groups, shape)


def split_groups(p: RevLIFParams, a: jax.Array) -> list[jax.Array]:
    return jnp.split(a, p.groups, axis=-1)


def merge_groups(parts: Sequence[jax.Array]) -> jax.Array:
    return jnp.concatenate(parts, axis=-1)


# ---------------------------------------------------------------------------------------------------------------
# Reversible LIF, on lists of groups (the strategies use these directly)


class GroupForward(NamedTuple):
    """What one forward step computes, as lists with one entry per group."""

    m: list[jax.Array]
    s: list[jax.Array]
    y: list[jax.Array]
    v_next: list[jax.Array]


def _group_forward(p: RevLIFParams, inp, v, x_next, spike_fn):
    """One group of Eq. 1-6: integrates ``inp``, passes ``x_next`` through. Returns ``(m, s, y, v_next)``."""
    m = v + (inp - v) / p.tau                        # Eq. 1, 4
    s = spike_fn(m - p.v_threshold)
    y = s + p.beta * x_next                          # Eq. 2, 5
    vn = (1 - y) * m + y * p.v_reset + p.alpha * v   # Eq. 3, 6
    return m, s, y, vn


def _spike_fn(p: RevLIFParams, spike_fn):
    return (lambda z: spike(z, *surrogate_of(p))) if spike_fn is None else spike_fn


def rev_forward_groups(p: RevLIFParams, xg: Sequence[jax.Array], vg: Sequence[jax.Array],
                       spike_fn=None) -> GroupForward:
    """Eq. 1-6 for ``n`` groups. ``spike_fn(z)`` defaults to the surrogate spike of ``p``."""
    spike_fn = _spike_fn(p, spike_fn)
    n = p.groups
    ms, ss, ys, vns = [], [], [], []
    inp = xg[0]
    for k in range(n):
        m, s, y, vn = _group_forward(p, inp, vg[k], xg[(k + 1) % n], spike_fn)
        ms.append(m), ss.append(s), ys.append(y), vns.append(vn)
        inp = y
    return GroupForward(ms, ss, ys, vns)


def rev_inverse_groups(p: RevLIFParams, yg: Sequence[jax.Array], vng: Sequence[jax.Array],
                       sg: Sequence[jax.Array] | None = None):
    """Eq. 7-10 for ``n`` groups. Returns lists ``(x, v_prev, m, s)``.

    With ``sg`` (the stored binary spikes) the spike is taken from it instead of recomputed as
    :math:`H(M - V_{th})`, which makes :math:`X` independent of errors in the recovered :math:`V`.
    """
    n = p.groups
    xg, vg, mg, s_out = [None] * n, [None] * n, [None] * n, [None] * n

    def one_group(k, inp):
        y = yg[k]
        v = _inverse_v(p, y, vng[k], inp)
        m = v + (inp - v) / p.tau
        s = heaviside(m - p.v_threshold) if sg is None else sg[k]
        vg[k], mg[k], s_out[k] = v, m, s
        xg[(k + 1) % n] = (y - s) / p.beta                                                   # Eq. 8, 10

    for k in reversed(range(1, n)):   # group k integrates Y_{k-1}, which is known
        one_group(k, yg[k - 1])
    one_group(0, xg[0])               # group 1 integrates X_1, recovered by group n just above
    return xg, vg, mg, s_out


def rev_vjp_groups(p: RevLIFParams, mg, yg, gyg, gvng):
    """Exact VJP of one step (Eq. 1-6) from quantities the inverse already has: M, Y and the cotangents.

    For group :math:`k = n, \\dots, 1` with :math:`a = 1/\\tau`, :math:`s_k = \\sigma'(M_k - V_{th})` and
    :math:`c_k` the cotangent that group :math:`k+1` sends to its input :math:`Y_k` (:math:`a\\,\\bar M_{k+1}`;
    zero for :math:`k = n`):

    .. math::

       \\tilde Y_k &= \\bar Y_k + c_k + \\bar V_k^t (V_{reset} - M_k) \\\\
       \\bar M_k &= \\bar V_k^t (1 - Y_k) + \\tilde Y_k s_k \\\\
       \\bar V_k^{t-1} &= \\alpha \\bar V_k^t + (1 - a) \\bar M_k \\\\
       \\bar X_{k+1} &\\mathrel{+}= \\beta \\tilde Y_k, \\qquad \\bar X_1 \\mathrel{+}= a \\bar M_1

    Returns lists ``(gx, gv_prev)``.
    """
    n = p.groups
    gx = [jnp.zeros_like(g) for g in gyg]
    gv = [None] * n
    to_input = 0.0
    for k in reversed(range(n)):
        gv[k], to_next_x, to_input = _group_vjp(p, mg[k], yg[k], gyg[k], gvng[k], to_input)
        gx[(k + 1) % n] = gx[(k + 1) % n] + to_next_x
    gx[0] = gx[0] + to_input
    return gx, gv


def _group_vjp(p: RevLIFParams, m, y, gy, gvn, to_input):
    """One group of :func:`rev_vjp_groups`: ``(gv_prev, cotangent of the passed-through input, cotangent of the
    integrated input)``."""
    a = 1.0 / p.tau
    sg = surrogate_grad(m - p.v_threshold, *surrogate_of(p))
    gy_total = gy + to_input + gvn * (p.v_reset - m)
    gm = gvn * (1 - y) + gy_total * sg
    return p.alpha * gvn + (1 - a) * gm, p.beta * gy_total, a * gm


def rev_vjp_groups_paper(p: RevLIFParams, mg, gyg):
    """The paper's Eq. 11-12, as we read them (``groups=2`` only). **Not** the exact gradient.

    .. math::

       \\bar X_1 = \\bar Y_1 \\left(\\tfrac{s_1}{\\tau}(1 + \\tfrac{s_2}{\\tau}) + \\beta\\right), \\qquad
       \\bar X_2 = \\bar Y_2 (s_2 + \\beta), \\qquad \\bar V^{t-1} = 0

    Eq. 11 is the column sum of :math:`\\partial Y/\\partial X_1` with every path through :math:`V` dropped; the same
    sum for :math:`X_2` is :math:`\\beta(1 + s_2/\\tau)`, not Eq. 12's :math:`s_2 + \\beta`. The paper gives no rule
    for the cotangent of :math:`V`, so none flows. Offered to measure the paper's rule, never as a default.
    """
    if p.groups != 2:
        raise InputError(f"the paper's gradient rule (Eq. 11-12) is defined for groups=2 only, got groups={p.groups}")
    s1, s2 = (surrogate_grad(m - p.v_threshold, *surrogate_of(p)) for m in mg)
    gx1 = gyg[0] * (s1 / p.tau * (1 + s2 / p.tau) + p.beta)
    gx2 = gyg[1] * (s2 + p.beta)
    return [gx1, gx2], [jnp.zeros_like(gx1), jnp.zeros_like(gx2)]


# ---------------------------------------------------------------------------------------------------------------
# Reversible LIF, public array API


def rev_lif_step(p: RevLIFParams, x: jax.Array, v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One step of the reversible LIF neuron (Eq. 1-6; ``groups`` generalises the split).

    Args:
      p: :class:`RevLIFParams`.
      x: :math:`X^t`, shape ``[..., D]`` with ``D`` divisible by ``p.groups``, floating.
      v: :math:`V^{t-1}`, same shape and dtype.

    Returns:
      ``(y, v_next)``: :math:`Y^t` (Eq. 2, 5) and :math:`V^t` (Eq. 3, 6), shaped like ``x``.

    Examples:
      >>> p = RevLIFParams()
      >>> y, v1 = rev_lif_step(p, jnp.ones((4, 8)), jnp.zeros((4, 8)))
    """
    check_state(x, v)
    check_groups(p, jnp.shape(x))
    return rev_lif_step_unchecked(p, x, v)


def rev_lif_step_unchecked(p: RevLIFParams, x: jax.Array, v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """:func:`rev_lif_step` without the input checks (for loops that checked once)."""
    y, v_next, _ = rev_step_with_residuals(p, x, v)
    return y, v_next


def rev_step_with_residuals(p: RevLIFParams, x: jax.Array, v: jax.Array):
    """One step on whole arrays, also returning what :func:`rev_step_vjp` needs: ``(y, v_next, residuals)``.

    The chain of groups is unrolled for up to ``SCAN_GROUPS_ABOVE`` groups and a ``lax.scan`` over a stacked
    groups axis above that; the arithmetic is the same (``_group_forward``).
    """
    if p.groups > SCAN_GROUPS_ABOVE:
        f = rev_forward_stacked(p, stack_groups(p, x), stack_groups(p, v))
        return unstack_groups(f.y), unstack_groups(f.v_next), (f.m, f.y)
    f = rev_forward_groups(p, split_groups(p, x), split_groups(p, v))
    return merge_groups(f.y), merge_groups(f.v_next), (f.m, f.y)


def rev_step_vjp(p: RevLIFParams, residuals, gy: jax.Array, gv_next: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The closed-form VJP of one step from :func:`rev_step_with_residuals`'s residuals: ``(gx, gv)``."""
    m, y = residuals
    if p.groups > SCAN_GROUPS_ABOVE:
        gx, gv = rev_vjp_stacked(p, m, y, stack_groups(p, gy), stack_groups(p, gv_next))
        return unstack_groups(gx), unstack_groups(gv)
    gx, gv = rev_vjp_groups(p, m, y, split_groups(p, gy), split_groups(p, gv_next))
    return merge_groups(gx), merge_groups(gv)


# ---------------------------------------------------------------------------------------------------------------
# Many groups: the chain as a scan over a stacked groups axis

def stack_groups(p: RevLIFParams, a: jax.Array) -> jax.Array:
    """``[..., D] -> [groups, ..., D/groups]``: group ``k`` (channels ``k D/n .. (k+1) D/n``) at index ``k``."""
    return base.stack_groups(p.groups, a)


unstack_groups = base.unstack_groups


def rev_forward_stacked(p: RevLIFParams, xs: jax.Array, vs: jax.Array, spike_fn=None) -> GroupForward:
    """:func:`rev_forward_groups` on stacked groups ``[n, ...]``; the fields of the result are stacked too."""
    spike_fn = _spike_fn(p, spike_fn)

    def group(inp, v_and_next):
        m, s, y, vn = _group_forward(p, inp, *v_and_next, spike_fn)
        return y, (m, s, y, vn)     # group k+1 integrates Y_k

    _, outs = lax.scan(group, xs[0], (vs, jnp.roll(xs, -1, axis=0)))
    return GroupForward(*outs)


def rev_vjp_stacked(p: RevLIFParams, ms: jax.Array, ys: jax.Array, gys: jax.Array, gvns: jax.Array):
    """:func:`rev_vjp_groups` on stacked groups (a reverse scan). Returns stacked ``(gx, gv_prev)``."""
    def group(to_input, per_group):
        gv, to_next_x, to_input = _group_vjp(p, *per_group, to_input)
        return to_input, (gv, to_next_x)

    to_input, (gvs, to_next_x) = lax.scan(group, jnp.zeros_like(gys[0]), (ms, ys, gys, gvns), reverse=True)
    gxs = jnp.roll(to_next_x, 1, axis=0)      # group k passes X_{k+1} through
    return gxs.at[0].add(to_input), gvs


def rev_lif_inverse(p: RevLIFParams, y: jax.Array, v_next: jax.Array,
                    spikes: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """Recovers :math:`X^t` and :math:`V^{t-1}` from :math:`Y^t` and :math:`V^t` (Eq. 7-10).

    Exact in exact arithmetic; in floating point the division of Eq. 7/9 amplifies rounding error, and a flipped
    recomputed spike makes :math:`X` wrong by :math:`1/\\beta` (``docs/reversal.md``). Passing the binary
    ``spikes`` :math:`S = H(M - V_{th})` of the step (1 bit per neuron) removes the flips.

    Args:
      p: :class:`RevLIFParams`.
      y: :math:`Y^t`, shape ``[..., D]``.
      v_next: :math:`V^t`, same shape and dtype.
      spikes: optional binary spikes of the step, same shape (any dtype; nonzero means a spike).

    Returns:
      ``(x, v_prev)``: :math:`X^t` and :math:`V^{t-1}`.
    """
    check_state(y, v_next, "y", "v_next")
    check_groups(p, jnp.shape(y))
    sg = None
    if spikes is not None:
        if jnp.shape(spikes) != jnp.shape(y):
            raise InputError(f"spikes must have the shape of y {jnp.shape(y)}, got {jnp.shape(spikes)}")
        sg = split_groups(p, (jnp.asarray(spikes) != 0).astype(jnp.result_type(y)))
    xg, vg, _, _ = rev_inverse_groups(p, split_groups(p, y), split_groups(p, v_next), sg)
    return merge_groups(xg), merge_groups(vg)


def rev_lif_step_vjp(p: RevLIFParams, x: jax.Array, v: jax.Array, gy: jax.Array,
                     gv_next: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The exact VJP of :func:`rev_lif_step` in closed form (see :func:`rev_vjp_groups`).

    Returns:
      ``(gx, gv)``: cotangents of ``x`` and ``v`` given cotangents ``gy`` of ``y`` and ``gv_next`` of ``v_next``.
    """
    check_state(x, v)
    check_state(gy, gv_next, "gy", "gv_next")
    check_groups(p, jnp.shape(x))
    return rev_step_vjp(p, rev_step_with_residuals(p, x, v)[2], gy, gv_next)
