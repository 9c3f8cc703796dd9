"""Dynamic sparse training: drop-and-grow masks with a decreasing number of non-zero weights (ND, GraNet form).

Huang et al.'s ND ("Neurogenesis Dynamics-inspired SNN training", arXiv:2304.12214) prunes and regrows weights
during training while the number of non-zero weights decreases to a final density. It has no public code; this is
the published algorithm of that shape with code (GraNet, Liu et al. 2021), every constant a setting:

* **Parametrisation.** Every convolution and linear kernel (parameters with two or more axes; optionally not the
  first layer) is a dense array with zeros where its boolean mask is off. The forward uses the dense array, so
  the gradient at pruned positions is the true dense gradient, which growth needs (a forward that multiplied by
  the mask would zero it and growth would silently never happen). After every optimizer step ``W == W * M``, and
  the optimizer's moments are zero where ``M == 0`` (gradients are masked before the optimizer).
* **Schedule.** Updates at steps ``t0, t0 + dT, ..., <= t1``. Update ``k`` of ``n = (t1 - t0) / dT`` targets the
  global sparsity ``s_k = (1 - d_i) + (d_i - d_f)(1 - (1 - k/n)^3)`` (Zhu and Gupta's cubic schedule), from
  ``1 - d_i`` to ``1 - d_f``. After ``t1`` the masks are fixed.
* **Update.** (1) Global magnitude pruning: of all masked weights, the ``round((1 - s_k) N)`` largest ``|w|``
  among the active ones stay. (2) Per layer, drop the ``n_l = ceil(r a_l)`` smallest-``|w|`` active weights and
  grow as many inactive ones (inactive before the drop) with the largest ``|dL/dW|`` of the current batch (dense
  gradient); grown weights start at 0. ``n_l`` is capped by the layer's inactive count, so drops equal grows and
  the density after an update is the scheduled one. The exchange ratio ``r`` decays from ``r0`` to ``r_min`` on a
  cosine over ``[t0, t1]``. Ties: the lower flat index wins (stable sort).
* **Start.** The masks begin at density ``d_i`` by global magnitude pruning of the initial weights.

Sparse training is an optax wrapper (:func:`dynamic_sparsity`, in the manner of ``optax.masked``): it takes the
dense gradient, runs the topology update on update steps (a ``lax.cond`` on its own step counter), masks the
gradient for the optimizer it wraps, zeroes that optimizer's moments and the weights where the masks are off, and
keeps the masks and the counter in its state (:class:`SparseState`, inside ``opt_state``); the weights are
projected onto the masks after each update (:func:`project`). The training step's signature is the same as dense
training's: no extra compile, no host sync and no second gradient. Memory: one
boolean per weight; the gradient is the one the step computes anyway. Masks do not reduce activation memory (dense
kernels), so every strategy's memory is as dense.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from revsnn_jax.errors import InputError
from revsnn_jax.nn.params import first_layer, param_paths


@dataclasses.dataclass(frozen=True)
class SparseSchedule:
    """Settings of dynamic sparse training (see the module docstring); steps are optimizer steps.

    Attributes:
      initial_density, final_density: ``d_i`` and ``d_f`` (fractions of masked weights that are non-zero).
      start, end: ``t0`` and ``t1``; every: ``dT``.
      exchange_ratio, min_exchange_ratio: ``r0`` and ``r_min``.
      dense_first: leave the first masked kernel (in parameter order) dense.
    """

    initial_density: float = 0.5
    final_density: float = 0.1
    start: int = 0
    end: int = 1000
    every: int = 100
    exchange_ratio: float = 0.5
    min_exchange_ratio: float = 0.005
    dense_first: bool = False

    def __post_init__(self):
        if not 0 < self.final_density <= self.initial_density <= 1:
            raise InputError(f"densities must satisfy 0 < final ({self.final_density}) <= initial "
                             f"({self.initial_density}) <= 1")
        if not 0 <= self.start <= self.end:
            raise InputError(f"sparse schedule: need 0 <= start ({self.start}) <= end ({self.end})")
        if self.every < 1:
            raise InputError(f"sparse update interval must be >= 1 step, got {self.every}")
        if not 0 <= self.min_exchange_ratio <= self.exchange_ratio < 1:
            raise InputError(f"exchange ratios must satisfy 0 <= min ({self.min_exchange_ratio}) <= "
                             f"initial ({self.exchange_ratio}) < 1")

    @property
    def updates(self) -> int:
        """``n``: the number of update intervals between ``t0`` and ``t1`` (updates ``k = 0..n``)."""
        return (self.end - self.start) // self.every

    def sparsity(self, k):
        """``s_k`` of update ``k`` (a number or a traced array)."""
        n = max(self.updates, 1)
        frac = jnp.clip(k / n, 0.0, 1.0) if isinstance(k, jax.Array) else min(max(k / n, 0.0), 1.0)
        di, df = self.initial_density, self.final_density
        return (1 - di) + (di - df) * (1 - (1 - frac) ** 3)

    def ratio(self, step):
        """The exchange ratio at ``step`` (cosine from ``r0`` at ``t0`` to ``r_min`` at ``t1``)."""
        span = max(self.end - self.start, 1)
        frac = jnp.clip((step - self.start) / span, 0.0, 1.0)
        r0, r1 = self.exchange_ratio, self.min_exchange_ratio
        return r1 + 0.5 * (r0 - r1) * (1 + jnp.cos(math.pi * frac))

    def is_update(self, step):
        return (step >= self.start) & (step <= self.start + self.updates * self.every) & \
            ((step - self.start) % self.every == 0)


# --- masks ----------------------------------------------------------------------------------------------------

def masked(params, schedule: SparseSchedule, in_channels: int | None = None):
    """A tree like ``params`` of bools: True at the kernels that carry a mask (two or more axes); with
    ``schedule.dense_first``, not at the convolution that reads the ``in_channels``-channel input."""
    leaves, treedef = jax.tree.flatten(params)
    flags = [leaf.ndim >= 2 for leaf in leaves]
    if schedule.dense_first:
        if in_channels is None:
            raise InputError("dense_first needs the model's input channels to find its first layer")
        first = list(param_paths(params)).index(first_layer(params, in_channels))
        flags[first] = False
    if not any(flags):
        raise InputError("sparse training needs convolution or linear kernels to mask; the model has none")
    return jax.tree.unflatten(treedef, flags)


def init_masks(params, schedule: SparseSchedule, in_channels: int | None = None):
    """Masks at density ``d_i`` by global magnitude pruning of ``params`` (non-masked leaves: a scalar True)."""
    which = masked(params, schedule, in_channels)
    full = jax.tree.map(lambda p, m: jnp.ones(p.shape if m else (), bool), params, which)
    keep = round(schedule.initial_density * count(params, which))
    return magnitude_prune(params, full, which, keep)


def count(params, which) -> int:
    return int(sum(p.size for p, m in zip(jax.tree.leaves(params), jax.tree.leaves(which)) if m))


def _mask_leaf(x: jax.Array, m: jax.Array) -> jax.Array:
    return jnp.where(m, x, jnp.zeros((), x.dtype))


def apply(params, masks):
    """``W * M`` (scalar True masks leave their parameter as it is)."""
    return jax.tree.map(_mask_leaf, params, masks)


def density(masks, which) -> jax.Array:
    """Fraction of masked weights that are active."""
    ms = [m for m, w in zip(jax.tree.leaves(masks), jax.tree.leaves(which)) if w]
    return sum(jnp.sum(m) for m in ms) / sum(m.size for m in ms)


def _ranks(key: jax.Array) -> jax.Array:
    """0 for the smallest ``key``, ties broken by lower index (stable)."""
    order = jnp.argsort(key, stable=True)
    return jnp.zeros(key.shape, jnp.int32).at[order].set(jnp.arange(key.size, dtype=jnp.int32))


def magnitude_prune(params, masks, which, keep):
    """Keeps the ``keep`` largest ``|w|`` among the active masked weights, globally (``keep`` may be traced)."""
    idx = [i for i, w in enumerate(jax.tree.leaves(which)) if w]
    p_leaves, m_leaves = jax.tree.leaves(params), jax.tree.leaves(masks)
    score = jnp.concatenate([jnp.where(m_leaves[i], jnp.abs(p_leaves[i]), -1.0).ravel().astype(jnp.float32)
                             for i in idx])
    kept = _ranks(-score) < keep
    kept &= score >= 0   # inactive weights never come back by pruning
    out, start = list(m_leaves), 0
    for i in idx:
        size = m_leaves[i].size
        out[i] = kept[start:start + size].reshape(m_leaves[i].shape)
        start += size
    return jax.tree.unflatten(jax.tree.structure(masks), out)


def drop_and_grow(w: jax.Array, m: jax.Array, g: jax.Array, ratio) -> jax.Array:
    """One layer's exchange: drop ``n = min(ceil(ratio * active), inactive)`` smallest-``|w|`` active weights and
    grow the ``n`` inactive ones with the largest ``|g|``; returns the new mask."""
    active = jnp.sum(m)
    n = jnp.minimum(jnp.ceil(ratio * active).astype(jnp.int32), m.size - active)
    flat_m = m.ravel()
    drop = flat_m & (_ranks(jnp.where(flat_m, jnp.abs(w.ravel()), jnp.inf)) < n)
    grow = ~flat_m & (_ranks(jnp.where(flat_m, jnp.inf, -jnp.abs(g.ravel()))) < n)
    return ((flat_m & ~drop) | grow).reshape(m.shape)


def update(params, masks, grads, step, schedule: SparseSchedule, which):
    """The topology update at ``step`` (an update step): magnitude pruning to ``s_k``, then drop-and-grow."""
    k = (step - schedule.start) // schedule.every
    keep = jnp.round((1 - schedule.sparsity(k)) * count(params, which)).astype(jnp.int32)
    masks = magnitude_prune(params, masks, which, keep)
    ratio = schedule.ratio(step)
    masks = jax.tree.map(lambda w, m, g, f: drop_and_grow(w, m, g, ratio) if f else m, params, masks, grads, which)
    return masks


class SparseState(NamedTuple):
    """The state of :func:`dynamic_sparsity`: the masks (a bool array per masked kernel, a scalar True for every
    other parameter), the number of optimizer steps taken and the wrapped optimizer's state."""
    masks: Any
    count: jax.Array
    inner: Any


def dynamic_sparsity(inner: optax.GradientTransformation, schedule: SparseSchedule,
                     in_channels: int | None = None) -> optax.GradientTransformation:
    """``inner`` trained sparse under ``schedule``: a ``GradientTransformation`` whose ``init(params)`` prunes to
    the initial density by magnitude (the wrapped state starts from the pruned parameters; start training from
    :func:`project` of them) and whose ``update(grads, state, params)`` takes the **dense** gradient (growth
    needs it), runs the topology update on update steps, then ``inner``'s update on the masked gradient, and zeroes
    ``inner``'s moments where the masks are off. As with optax's projections, the weights are projected after the
    update is applied: ``params = project(optax.apply_updates(params, updates), state)`` zeroes the pruned ones
    (:func:`project`; the training step of :mod:`revsnn_jax.train` does it for every optimizer). Projecting after
    the sum, rather than folding ``-p`` into the update, keeps the active weights' arithmetic exactly that of dense
    training (a select before the add changes how XLA fuses it, by one ulp). ``in_channels``: the model's input
    channels, for ``schedule.dense_first``."""

    def init_fn(params):
        masks = init_masks(params, schedule, in_channels)
        return SparseState(masks, jnp.zeros((), jnp.int32), inner.init(apply(params, masks)))

    def update_fn(grads, state, params=None):
        if params is None:
            raise InputError("dynamic sparse training needs the parameters: call update(grads, state, params)")
        which = masked(params, schedule, in_channels)
        masks = lax.cond(schedule.is_update(state.count),
                         lambda: update(params, state.masks, grads, state.count, schedule, which),
                         lambda: state.masks)
        updates, inner_state = inner.update(apply(grads, masks), state.inner, params)
        inner_state = optax.tree_utils.tree_map_params(inner, _mask_leaf, inner_state, masks,
                                                       transform_non_params=lambda s, *_: s)
        return updates, SparseState(masks, state.count + 1, inner_state)

    return optax.GradientTransformation(init_fn, update_fn)


def _states(opt_state) -> list[SparseState]:
    return [s for s in jax.tree.leaves(opt_state, is_leaf=lambda s: isinstance(s, SparseState))
            if isinstance(s, SparseState)]


def masks_of(opt_state):
    """The masks of a :func:`dynamic_sparsity` state inside ``opt_state`` (None for a dense optimizer)."""
    found = _states(opt_state)
    return found[0].masks if found else None


def project(params, opt_state):
    """``params`` pruned to the masks in ``opt_state`` (unchanged for a dense optimizer): the projection after every
    update, and the parameters a sparse run starts from."""
    masks = masks_of(opt_state)
    return params if masks is None else apply(params, masks)


def current_density(opt_state) -> float | None:
    """The share of masked weights that are active in ``opt_state``'s masks (None for a dense optimizer)."""
    masks = masks_of(opt_state)
    if masks is None:
        return None
    ms = [m for m in jax.tree.leaves(masks) if m.ndim]
    return float(sum(jnp.sum(m) for m in ms) / sum(m.size for m in ms))
