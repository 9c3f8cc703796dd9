"""How gradients flow through the time loop of a spiking neuron: one argument selects the strategy.

=====================  ==========================================================================================
strategy               what the backward pass does
=====================  ==========================================================================================
``bptt``               plain autodiff through ``lax.scan``; every step's residuals are stored (the reference)
``checkpoint``         ``jax.checkpoint`` of the step: stores the carried ``V`` per step, recomputes the rest
``reversible``         conventional reversible backward: reconstructs each step's input from its output, then
                       re-runs the step under ``jax.vjp``
``inverse_grad``       the paper's idea (Sec. 4) done exactly: reconstructs as above and takes the local
                       derivatives in closed form from quantities the reconstruction already has, without
                       re-running the step (:func:`revsnn_jax.neurons.rev_vjp_groups`); matches ``bptt``
``inverse_grad_paper`` the paper's Eq. 11-12 as written; not the gradient of the forward (measured deviation in
                       ``docs/reversal.md``); for comparison only
=====================  ==========================================================================================

The reversible strategies wrap the **whole** time loop in one ``jax.custom_vjp`` (a ``custom_vjp`` per step
inside a scan would still store every step's residuals). Their forward keeps, per neuron:

* the outputs ``ys`` (returned to the caller, who holds them anyway: in a network they are the next layer's
  input);
* the binary spikes :math:`S^t`, packed 8 per byte (1 bit per neuron per step): with them
  :math:`X_{k+1} = (Y_k - S_k)/\\beta` is recovered without recomputing a spike that rounding could flip;
* the membrane potential, by ``v_recovery``:

  - ``"anchored"`` (default): :math:`V` at every ``anchor_every``-th step (default :math:`\\lceil\\sqrt T\\rceil`).
    The backward recomputes one segment of :math:`V` forward from its anchor with the stored :math:`Y` (stable:
    the forward map contracts rounding error) and walks it backwards. Memory :math:`\\approx 2\\sqrt T` floats per
    neuron instead of :math:`O(T)`; gradients equal ``bptt``'s to rounding.
  - ``"inverse"``: only :math:`V^T`; the backward recovers :math:`V^{t-1}` with the paper's Eq. 7/9. :math:`O(1)`
    floats per neuron, but the division amplifies rounding error without bound, so gradients drift from
    ``bptt``'s in float32 beyond a few steps (``docs/reversal.md`` has the measurements).

Only first-order reverse mode is defined for the reversible strategies (no ``jax.jvp``, no higher order).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
from jax import lax

from revsnn_jax import neurons
from revsnn_jax.neurons import LIFParams, RevLIFParams

STRATEGIES = ("bptt", "checkpoint", "reversible", "inverse_grad", "inverse_grad_paper")
REVERSIBLE_STRATEGIES = ("reversible", "inverse_grad", "inverse_grad_paper")
V_RECOVERIES = ("anchored", "inverse")


def default_anchor_every(timesteps: int) -> int:
    """:math:`\\lceil\\sqrt T\\rceil`: minimises anchors (:math:`T/k`) plus one segment (:math:`k`) of stored V."""
    return max(1, math.ceil(math.sqrt(timesteps)))


def run_neuron(p: LIFParams | RevLIFParams, xs: jax.Array, v0: jax.Array, strategy: str = "bptt", *,
               v_recovery: str = "anchored", anchor_every: int | None = None) -> tuple[jax.Array, jax.Array]:
    """Runs a neuron over ``T`` timesteps with ``lax.scan``; ``strategy`` picks the gradient rule.

    Args:
      p: :class:`~revsnn_jax.neurons.RevLIFParams` or :class:`~revsnn_jax.neurons.LIFParams` (the latter
        supports ``bptt`` and ``checkpoint`` only: it has no inverse).
      xs: inputs, time-major ``[T, ..., D]``, floating, ``T >= 1``.
      v0: initial membrane potential ``[..., D]``, same dtype.
      strategy: one of :data:`STRATEGIES`.
      v_recovery: for the reversible strategies, how :math:`V^{t-1}` is recovered: one of :data:`V_RECOVERIES`.
      anchor_every: for ``v_recovery="anchored"``, steps between stored potentials (default
        :func:`default_anchor_every`).

    Returns:
      ``(ys, v_last)``: outputs ``[T, ..., D]`` (spikes for LIF, :math:`Y` for the reversible neuron) and
      :math:`V^T`.

    Examples:
      >>> p = RevLIFParams()
      >>> xs = jax.random.normal(jax.random.key(0), (8, 4, 16))
      >>> ys, v = run_neuron(p, xs, jnp.zeros((4, 16)), strategy="inverse_grad")
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; valid strategies: {', '.join(STRATEGIES)}")
    if v_recovery not in V_RECOVERIES:
        raise ValueError(f"unknown v_recovery {v_recovery!r}; valid: {', '.join(V_RECOVERIES)}")
    if jnp.ndim(xs) < 1 or jnp.shape(xs)[0] == 0:
        raise ValueError(f"xs must be time-major [T, ..., D] with T >= 1, got shape {jnp.shape(xs)}")
    timesteps = jnp.shape(xs)[0]
    neurons.check_state(xs[0], v0, "xs[t]", "v0")
    if anchor_every is None:
        anchor_every = default_anchor_every(timesteps)
    if isinstance(anchor_every, bool) or not isinstance(anchor_every, int) or anchor_every < 1:
        raise ValueError(f"anchor_every must be a positive integer, got {anchor_every!r}")

    if isinstance(p, LIFParams):
        if strategy in REVERSIBLE_STRATEGIES:
            raise ValueError(f"strategy {strategy!r} needs the reversible neuron (RevLIFParams); the plain LIF "
                             "neuron supports 'bptt' and 'checkpoint'")
        step = lambda v, x: neurons.lif_step_unchecked(p, x, v)[::-1]  # noqa: E731
    elif isinstance(p, RevLIFParams):
        neurons.check_groups(p, jnp.shape(v0))
        if strategy == "inverse_grad_paper" and p.groups != 2:
            raise ValueError(f"the paper's gradient rule (Eq. 11-12) is defined for groups=2 only, got "
                             f"groups={p.groups}")
        step = lambda v, x: neurons.rev_lif_step_unchecked(p, x, v)[::-1]  # noqa: E731
    else:
        raise ValueError(f"p must be LIFParams or RevLIFParams, got {type(p).__name__}")

    if strategy == "bptt":
        v_last, ys = lax.scan(step, v0, xs)
        return ys, v_last
    if strategy == "checkpoint":
        v_last, ys = lax.scan(jax.checkpoint(step), v0, xs)
        return ys, v_last
    cfg = _Reversal(p, strategy, v_recovery, anchor_every)
    return _reversible_scan(cfg, xs, v0)


@dataclasses.dataclass(frozen=True)
class _Reversal:
    params: RevLIFParams
    strategy: str
    v_recovery: str
    anchor_every: int


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass
class _Saved:
    """What a reversible forward keeps: outputs, packed spike bits, anchors (or None) and V^T."""

    ys: jax.Array
    bits: jax.Array
    anchors: jax.Array | None
    v_last: jax.Array

    def tree_flatten(self):
        return (self.ys, self.bits, self.anchors, self.v_last), None

    @classmethod
    def tree_unflatten(cls, _, children):
        return cls(*children)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _reversible_scan(cfg: _Reversal, xs, v0):
    ys, v_last = _reversible_fwd(cfg, xs, v0)[0]
    return ys, v_last


def _reversible_fwd(cfg: _Reversal, xs, v0):
    p, k = cfg.params, cfg.anchor_every
    timesteps = xs.shape[0]

    def step(v, x):
        f = neurons.rev_forward_groups(p, neurons.split_groups(p, x), neurons.split_groups(p, v))
        bits = jnp.packbits(neurons.merge_groups(f.s) != 0, axis=-1)
        return neurons.merge_groups(f.v_next), (neurons.merge_groups(f.y), bits)

    if cfg.v_recovery == "inverse":
        v_last, (ys, bits) = lax.scan(step, v0, xs)
        anchors = None
    else:
        def body(carry, inp):
            v, anchors = carry
            t, x = inp
            anchors = lax.cond(t % k == 0, lambda a: lax.dynamic_update_index_in_dim(a, v, t // k, 0),
                               lambda a: a, anchors)
            v_next, out = step(v, x)
            return (v_next, anchors), out

        anchors = jnp.zeros((-(-timesteps // k),) + v0.shape, v0.dtype)
        (v_last, anchors), (ys, bits) = lax.scan(body, (v0, anchors), (jnp.arange(timesteps), xs))
    return (ys, v_last), _Saved(ys, bits, anchors, v_last)


def inputs_from_outputs(p: RevLIFParams, yg, sg):
    """:math:`X_{k+1} = (Y_k - S_k)/\\beta` (Eq. 8, 10 with the stored spike instead of a recomputed one)."""
    xg = [None] * p.groups
    for g in range(p.groups):
        xg[(g + 1) % p.groups] = (yg[g] - sg[g]) / p.beta
    return xg


def membranes(p: RevLIFParams, vg, xg, yg):
    """:math:`M_k` (Eq. 1, 4) from :math:`V^{t-1}`, the input :math:`X_1` and the outputs :math:`Y_{k-1}`."""
    return [vg[g] + ((xg[0] if g == 0 else yg[g - 1]) - vg[g]) / p.tau for g in range(p.groups)]


def local_vjp(p: RevLIFParams, strategy: str, vg, xg, yg, mg, gy, gv):
    """One step's VJP in a reversible backward, from reconstructed quantities (lists of groups).

    ``reversible`` re-runs the step under ``jax.vjp``; ``inverse_grad`` uses the closed form
    (:func:`~revsnn_jax.neurons.rev_vjp_groups`); ``inverse_grad_paper`` uses Eq. 11-12. Returns merged
    ``(gx, gv_prev)``.
    """
    if strategy == "reversible":
        _, vjp = jax.vjp(lambda x, v: neurons.rev_lif_step_unchecked(p, x, v), neurons.merge_groups(xg),
                         neurons.merge_groups(vg))
        return vjp((gy, gv))
    if strategy == "inverse_grad":
        gx, gvp = neurons.rev_vjp_groups(p, mg, yg, neurons.split_groups(p, gy), neurons.split_groups(p, gv))
    elif strategy == "inverse_grad_paper":
        gx, gvp = neurons.rev_vjp_groups_paper(p, mg, neurons.split_groups(p, gy))
    else:
        raise ValueError(f"strategy {strategy!r} has no reversible backward; valid: {', '.join(REVERSIBLE_STRATEGIES)}")
    return neurons.merge_groups(gx), neurons.merge_groups(gvp)


def backward_step(p: RevLIFParams, strategy: str, v_prev, y, spikes, gy, gv):
    """One step of a reversible backward once :math:`V^{t-1}` is known (``v_recovery="anchored"``).

    Args:
      v_prev: :math:`V^{t-1}`; y: :math:`Y^t`; spikes: :math:`S^t` as 0/1 in the dtype of ``y``;
      gy, gv: cotangents of :math:`Y^t` and :math:`V^t`. All ``[..., D]``.

    Returns:
      ``(gx, gv_prev)``.
    """
    split = lambda a: neurons.split_groups(p, a)  # noqa: E731
    yg, vg = split(y), split(v_prev)
    xg = inputs_from_outputs(p, yg, split(spikes))
    return local_vjp(p, strategy, vg, xg, yg, membranes(p, vg, xg, yg), gy, gv)


def inverse_backward_step(p: RevLIFParams, strategy: str, v_next, y, spikes, gy, gv):
    """One step of a reversible backward with ``v_recovery="inverse"``: Eq. 7-10 give :math:`X^t`,
    :math:`V^{t-1}` and :math:`M`, then the local VJP. Returns ``(gx, gv_prev, v_prev)``."""
    split = lambda a: neurons.split_groups(p, a)  # noqa: E731
    yg = split(y)
    xg, vg, mg, _ = neurons.rev_inverse_groups(p, yg, split(v_next), split(spikes))
    gx, gv_prev = local_vjp(p, strategy, vg, xg, yg, mg, gy, gv)
    return gx, gv_prev, neurons.merge_groups(vg)


def recompute_v_step(p: RevLIFParams, v_prev, y, spikes):
    """:math:`V^t` (Eq. 3, 6) from :math:`V^{t-1}` and the stored :math:`Y^t`, :math:`S^t` (no spike recomputed)."""
    split = lambda a: neurons.split_groups(p, a)  # noqa: E731
    yg, vg = split(y), split(v_prev)
    mg = membranes(p, vg, inputs_from_outputs(p, yg, split(spikes)), yg)
    return neurons.merge_groups([(1 - yg[g]) * mg[g] + yg[g] * p.v_reset + p.alpha * vg[g]
                                 for g in range(p.groups)])


def _reversible_bwd(cfg: _Reversal, saved: _Saved, cotangents):
    p, k = cfg.params, cfg.anchor_every
    gys, gv_last = cotangents
    timesteps, width = saved.ys.shape[0], saved.ys.shape[-1]

    def unpack(bits):
        return jnp.unpackbits(bits, axis=-1, count=width).astype(saved.ys.dtype)

    if cfg.v_recovery == "inverse":
        def body(carry, inp):
            v_next, gv = carry
            y, bits, gy = inp
            gx, gv_prev, v_prev = inverse_backward_step(p, cfg.strategy, v_next, y, unpack(bits), gy, gv)
            return (v_prev, gv_prev), gx

        (_, gv0), gxs = lax.scan(body, (saved.v_last, gv_last), (saved.ys, saved.bits, gys), reverse=True)
        return gxs, gv0

    def recompute_segment(j):
        """V before each step of segment j, recomputed forward from its anchor (stable: the forward contracts)."""
        def body(v, i):
            t = jnp.minimum(j * k + i, timesteps - 1)   # past T (last, short segment): values never read
            return recompute_v_step(p, v, saved.ys[t], unpack(saved.bits[t])), v

        return lax.scan(body, saved.anchors[j], jnp.arange(k))[1]

    def body(carry, inp):
        gv, segment = carry
        t, y, bits, gy = inp
        i = t % k
        segment = lax.cond((i == k - 1) | (t == timesteps - 1), lambda s: recompute_segment(t // k),
                           lambda s: s, segment)
        gx, gv_prev = backward_step(p, cfg.strategy, segment[i], y, unpack(bits), gy, gv)
        return (gv_prev, segment), gx

    segment0 = jnp.zeros((k,) + saved.v_last.shape, saved.v_last.dtype)
    (gv0, _), gxs = lax.scan(body, (gv_last, segment0), (jnp.arange(timesteps), saved.ys, saved.bits, gys),
                             reverse=True)
    return gxs, gv0


_reversible_scan.defvjp(_reversible_fwd, _reversible_bwd)
