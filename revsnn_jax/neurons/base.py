"""The neuron interface: what the time loops and the network layers need from a spiking neuron.

A neuron type is a frozen, hashable dataclass of hyperparameters, registered as a static pytree (so it passes
through ``jax.jit`` as an ordinary argument), with these methods. ``theta`` is the layer's learnable parameters
(a pytree, or None for neurons without any); ``x`` the neuron input :math:`X^t`, ``v`` the potential
:math:`V^{t-1}`, both ``[..., C]`` with channels last.

=================================  ==================================================================================
``kind``                           class attribute: the neuron's name in :data:`revsnn_jax.neurons.NEURONS`
``init_theta(width)``              learnable parameters of one layer of ``width`` channels, or None
``check_width(width, name)``       raises :class:`~revsnn_jax.errors.InputError` for a width it cannot take
``step(theta, x, v)``              one timestep, ``(y, v_next)``; differentiable (surrogate spike in the backward)
``step_vjp(theta, x, v, gy, gv)``  the VJP of ``step`` in closed form: ``(g_theta, gx, gv_prev)``
=================================  ==================================================================================

Optionally ``step_with_residuals(theta, x, v) -> ((y, v_next), residuals)`` and ``vjp_from_residuals(theta,
residuals, gy, gv)``: the closed form from what the forward saved (the paper's neuron saves ``M`` and ``Y``), so the
backward does not recompute the step.

That is all a neuron needs for every strategy except ``reverse``. The time-reversing loop
(:mod:`revsnn_jax.time_loop`) also needs an inverse, which only a neuron with an **exact** inverse may offer
(:class:`~revsnn_jax.neurons.ExactRevLIFParams`):

====================================  ===============================================================================
``exact_inverse``                     class attribute, True: ``rebuild`` recovers ``V^{t-1}`` bit for bit
``keep_bits``                         how many bits per neuron and step the forward keeps for the inverse
``keep(theta, x, v)``                 ``step``'s forward, also returning ``code``: an int32 array shaped like ``x``
                                      whose low ``keep_bits`` bits are what the inverse needs
``rebuild(theta, x, code, v_next)``   ``(y, v_prev)`` from a recomputed input (which may differ from the forward's
                                      by rounding), the kept code and ``V^t``: no ``V^{t-1}`` needed
``replay(theta, x, code, v_prev)``    equal to ``step(theta, x, v_prev)`` in value and gradient, reading ``code``
                                      so that a recomputed ``x`` gives the forward's exact values
``canonical_state(v)``                ``v`` as the neuron represents it (its fixed-point grid)
====================================  ===============================================================================

Capabilities are optional attributes; code above the core asks a neuron for them, never for its name:

=====================================  ==========================================================================
``exact_inverse``                      the inverse above is exact (``has_exact_inverse``): ``reverse``
``trace_decay``                        the online methods' default trace decay (OTTT: the neuron's leak)
``rates(xs)`` + ``mapping_vjp`` or     a spike-rate mapping, given as its VJP or as the mapping itself: the
``rate_map(r)``                        ``dsr`` method (``has_rate_mapping``)
``nir_leak(theta)`` / ``no_nir``       NIR export: the LIF leak ``k`` (``tau = dt / k``), or why there is no
                                       NIR form (:mod:`revsnn_jax.nir`)
=====================================  ==========================================================================

:func:`~revsnn_jax.neurons.closed_form` turns ``step_vjp`` into the gradient rule of ``step`` (a
``jax.custom_vjp``): the strategies' ``closed_form`` neuron gradient. Adding a neuron means writing one such class
and one registry entry (``docs/extending.md``).
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import lax

from revsnn_jax.errors import InputError
from revsnn_jax.strategies import check_neuron

SCAN_GROUPS_ABOVE = 8
"""Above this many groups, a neuron's chain of groups runs as a ``lax.scan`` over a stacked groups axis. Unrolled,
XLA fuses the chain and recomputes it for every consumer: one layer's gradient ([64, 8, 8, 144], CPU) took 1.8 ms
at 2 groups, 17 ms at 36, 175 ms (and an 80 s compile) at 144. As a scan it takes about the same time for any
number of groups; for a few groups the unrolled chain is as fast and fuses with its neighbours."""


def check_state(x: jax.Array, v: jax.Array, name_x: str = "x", name_v: str = "v") -> None:
    """Raises InputError unless ``x`` and ``v`` are floating arrays of the same shape and dtype."""
    for name, a in ((name_x, x), (name_v, v)):
        if not jnp.issubdtype(jnp.result_type(a), jnp.floating):
            raise InputError(f"{name} must have a floating dtype, got {jnp.result_type(a)}")
    if jnp.shape(x) != jnp.shape(v):
        raise InputError(f"{name_x} and {name_v} must have the same shape, got {jnp.shape(x)} and {jnp.shape(v)}")
    if jnp.result_type(x) != jnp.result_type(v):
        raise InputError(f"{name_x} and {name_v} must have the same dtype, got {jnp.result_type(x)} and "
                         f"{jnp.result_type(v)}")


def check_groups(groups: int, shape: Sequence[int], name: str | None = None) -> None:
    """Raises InputError unless the last axis of ``shape`` splits into ``groups`` equal groups."""
    if len(shape) == 0:
        raise InputError("a neuron with groups needs at least one axis to split into groups, got a scalar")
    if shape[-1] % groups:
        where = f"the width of {name}" if name else "the last axis"
        raise InputError(f"groups={groups} does not divide {where} ({shape[-1]})")


def check_groups_value(groups) -> None:
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise InputError(f"groups must be a positive integer, got {groups!r}")


def stack_groups(groups: int, a: jax.Array) -> jax.Array:
    """``[..., D] -> [groups, ..., D/groups]``: group ``k`` (channels ``k D/n .. (k+1) D/n``) at index ``k``."""
    return jnp.moveaxis(a.reshape(a.shape[:-1] + (groups, a.shape[-1] // groups)), -2, 0)


def unstack_groups(a: jax.Array) -> jax.Array:
    """Inverse of :func:`stack_groups`."""
    a = jnp.moveaxis(a, 0, -2)
    return a.reshape(a.shape[:-2] + (a.shape[-2] * a.shape[-1],))


# Groups in one of two forms (same arithmetic): a list of per-group slices of the last axis for up to
# SCAN_GROUPS_ABOVE groups (elementwise work on slices fuses with its neighbours), a stacked array [n, ...] above.

def split(groups: int, a: jax.Array):
    """``a [..., D]`` as groups: a list of ``groups`` slices, or stacked ``[groups, ..., D/groups]`` for many."""
    return jnp.split(a, groups, axis=-1) if groups <= SCAN_GROUPS_ABOVE else stack_groups(groups, a)


def merge(parts) -> jax.Array:
    """Inverse of :func:`split`."""
    return jnp.concatenate(parts, axis=-1) if isinstance(parts, list) else unstack_groups(parts)


def next_group(parts):
    """Group ``k`` holds what group ``k+1`` held (cyclic): ``X_{k+1}`` at ``k``."""
    return parts[1:] + parts[:1] if isinstance(parts, list) else jnp.roll(parts, -1, axis=0)


def prev_group(parts):
    """Group ``k`` holds what group ``k-1`` held (cyclic)."""
    return parts[-1:] + parts[:-1] if isinstance(parts, list) else jnp.roll(parts, 1, axis=0)


def gmap(fn: Callable, *parts):
    """``fn`` applied to every group: per slice for a list (results as tuples of lists), once for stacked."""
    if not isinstance(parts[0], list):
        return fn(*parts)
    outs = [fn(*args) for args in zip(*parts)]
    return tuple(map(list, zip(*outs))) if isinstance(outs[0], tuple) else outs


def group_chain(fn: Callable, init, per_group, groups: int, reverse: bool = False):
    """``lax.scan(fn, init, per_group, reverse=reverse)`` over groups: a Python loop over slices (lists, results as
    lists) for up to ``SCAN_GROUPS_ABOVE`` groups, a scan over the stacked axis above (see there for why)."""
    if groups > SCAN_GROUPS_ABOVE:
        return lax.scan(fn, init, per_group, reverse=reverse)
    outs = [None] * groups
    carry = init
    for k in (reversed(range(groups)) if reverse else range(groups)):
        carry, outs[k] = fn(carry, jax.tree.map(lambda a: a[k], per_group, is_leaf=lambda a: isinstance(a, list)))
    return carry, (tuple(map(list, zip(*outs))) if isinstance(outs[0], tuple) else outs)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _with_rule(neuron, rule: str, theta, x, v):
    return neuron.step(theta, x, v)


def _with_rule_fwd(neuron, rule, theta, x, v):
    if rule == "step_vjp" and hasattr(neuron, "step_with_residuals"):   # the closed form from saved (M, Y)
        out, residuals = neuron.step_with_residuals(theta, x, v)
        return out, (theta, residuals)
    return neuron.step(theta, x, v), (theta, x, v)


def _with_rule_bwd(neuron, rule, residuals, cotangents):
    if rule == "step_vjp" and hasattr(neuron, "step_with_residuals"):
        theta, saved = residuals
        return neuron.vjp_from_residuals(theta, saved, *cotangents)
    return getattr(neuron, rule)(*residuals, *cotangents)


_with_rule.defvjp(_with_rule_fwd, _with_rule_bwd)


def closed_form(neuron, theta, x, v):
    """``neuron.step(theta, x, v)`` whose VJP is ``neuron.step_vjp`` (the ``closed_form`` neuron gradient)."""
    return _with_rule(neuron, "step_vjp", theta, x, v)


def step_fn(neuron, neuron_grad: str = "autodiff") -> Callable:
    """``(theta, x, v) -> (y, v_next)`` for a neuron under a neuron-gradient rule of
    :class:`~revsnn_jax.strategies.Strategy`: ``autodiff`` (its ``step``), ``closed_form`` (its ``step_vjp``) or
    ``paper`` (its ``paper_vjp``, the paper's Eq. 11-12; only the paper's neuron has one)."""
    if neuron_grad == "autodiff":
        return neuron.step
    if neuron_grad == "closed_form":
        return functools.partial(closed_form, neuron)
    if neuron_grad == "paper":
        check_neuron("anchored+paper_grad", neuron)
        return functools.partial(_with_rule, neuron, "paper_vjp")
    raise InputError(f"unknown neuron gradient {neuron_grad!r}; valid: autodiff, closed_form, paper")


def has_exact_inverse(neuron) -> bool:
    """Whether ``neuron`` offers the exact inverse the ``reverse`` strategy needs."""
    return bool(getattr(neuron, "exact_inverse", False))
