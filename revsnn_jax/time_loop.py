"""The time loop: one ``lax.scan`` over timesteps of a step function, with the gradient rule a strategy chooses.

Pure JAX (imports nothing from Flax) and generic: a **step** is any pure function

``apply(params, consts, x_t, vs) -> ((out_t, vs_next), aux_t)``

``params`` are differentiated, ``consts`` are not (running statistics, say), ``vs`` is the pytree of every
neuron's state (the potentials), ``aux_t`` is returned but never differentiated (per-step batch statistics). A
whole network's step is one such function (:mod:`revsnn_jax.nn.network` builds it from a flax model); so is one
neuron layer's (:func:`revsnn_jax.neuron_loop.run_neuron`); so is any step a user writes.

:func:`run_time_loop` runs it for ``T`` steps under a :class:`~revsnn_jax.strategies.Strategy`:

``bptt``        autodiff through the scan: every step's residuals are stored.
``checkpoint``  ``jax.checkpoint`` of the step: every step's ``vs`` is stored, the rest recomputed.
``anchored``    one ``jax.custom_vjp`` over the whole loop. The forward keeps only ``vs`` at the start of every
                ``k``-step segment (anchors); the backward recomputes one segment of ``vs`` forward from its anchor,
                then walks it backwards taking one ``jax.vjp`` of the step per timestep. Memory: ``ceil(T/k) - 1``
                anchors plus ``k - 1`` kept potentials plus one step's working set, instead of ``T`` steps of
                residuals; gradients equal BPTT's to rounding. ``segment="recompute"`` keeps no segment (recomputes
                from the anchor at every step); ``segment="replay"`` keeps what the segment's recompute computed
                besides the potentials (a network's convolution outputs: :attr:`Step.record`) and hands it to the
                per-step VJP (:attr:`Step.replay`), which then runs no convolution forward again.
``reverse``     one ``jax.custom_vjp`` that walks time back. The forward keeps ``vs`` at the end and, per step,
                what :attr:`Step.keep` returns (a few packed bits per neuron). The backward carries ``vs^t`` from
                ``t = T`` down: :attr:`Step.rebuild` recomputes step ``t`` from its input and the kept bits and
                recovers ``vs^{t-1}`` exactly; :attr:`Step.replay` is then differentiated at ``vs^{t-1}``, reading
                what the rebuild recorded. No anchors, no segments, one forward per step in the backward. At
                ``t = 0`` the recovered ``vs^0`` must equal the real one bit for bit; if it does not, every
                gradient of the call is NaN and a warning says so (never a silent wrong gradient).

Gradients are taken with respect to ``params``, ``inputs`` and ``v0`` only where they are asked for
(``custom_vjp`` with symbolic zeros): data inputs that nobody differentiates cost no cotangent buffer.
"""

from __future__ import annotations


import dataclasses
import functools
import math
import warnings
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import CustomVJPPrimal, SymbolicZero

from revsnn_jax.errors import InputError
from revsnn_jax.remat import after
from revsnn_jax.strategies import Strategy, as_strategy


@dataclasses.dataclass(frozen=True)
class Step:
    """What the time loop needs from one timestep. Only ``apply`` is required; each other field enables a loop.

    Attributes:
      apply: ``(params, consts, x_t, vs) -> ((out, vs_next), aux)``, the step (every loop).
      record: ``(params, consts, x_t, vs) -> (vs_next, record)``: ``apply``'s forward, also returning what
        ``replay`` may read instead of recomputing (``anchored`` with ``segment="replay"``).
      replay: ``(params, consts, x_t, vs, record) -> ((out, vs_next), aux)``, equal to ``apply`` in value and
        gradient but reading ``record`` (``anchored`` + replay, and ``reverse``).
      keep: ``(params, consts, x_t, vs) -> ((out, vs_next), aux, kept)``: ``apply`` that also returns what the
        backward of ``reverse`` needs to invert the step (``reverse``).
      rebuild: ``(params, consts, x_t, vs_next, kept) -> (vs, record)``: the step rebuilt from its input and the
        kept bits, ``vs`` recovered from ``vs_next`` (``reverse``).
      canonical_state: ``vs -> vs`` as the step's neurons represent it (their grid); default: unchanged.
      exact: whether ``rebuild`` is exact, hence checked end to end; False only to measure an inexact inverse.
    """

    apply: Callable
    record: Callable | None = None
    replay: Callable | None = None
    keep: Callable | None = None
    rebuild: Callable | None = None
    canonical_state: Callable | None = None
    exact: bool = True


def default_anchor_every(timesteps: int) -> int:
    """:math:`\\lceil\\sqrt T\\rceil`: minimises anchors (:math:`T/k`) plus one segment (:math:`k`) of stored V."""
    return max(1, math.ceil(math.sqrt(timesteps)))


@dataclasses.dataclass(frozen=True)
class _Loop:
    step: Step
    timesteps: int
    sequence_input: bool
    anchor_every: int
    segment: str
    zero_state: tuple | None = None   # (treedef, ((shape, dtype), ...)) when v0 is zeros given by its shapes
    tie_input: bool = False           # see _input_at


def _initial_state(cfg: _Loop, v0):
    """``v0``, or the zeros it stands for (made where needed instead of kept alive through the whole loop)."""
    if cfg.zero_state is None:
        return v0
    treedef, leaves = cfg.zero_state
    return jax.tree.unflatten(treedef, [jnp.zeros(shape, dtype) for shape, dtype in leaves])


def _input_at(cfg: _Loop, inputs, t):
    if cfg.sequence_input:
        return jax.tree.map(lambda a: a[t], inputs)
    if not cfg.tie_input:
        return inputs
    # The same input at every step, tied to t (0 * t is not folded: it would be NaN for t = inf): otherwise XLA hoists
    # what is computed from it (a whole first layer) out of the loops and keeps it alive across them. Measured on
    # VGG-19, T=20, B=128: anchored 1,877 -> 1,845 MiB, +low_memory 1,286 -> 1,264; but BPTT 16,168 -> 17,382 (it
    # stores that layer T times) and reverse +20 MiB, so only the anchored loop ties.
    return jax.tree.map(lambda a: a + 0 * jnp.asarray(t, a.dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a,
                        inputs)


def run_time_loop(step: Step | Callable, params: Any, consts: Any, inputs: Any, v0: Any, *, timesteps: int,
                  sequence_input: bool, strategy: Strategy | str = "bptt"):
    """Runs ``step`` for ``timesteps`` steps. Returns ``(outs, auxs, v_last)``, outs/auxs stacked on T.

    Args:
      step: a :class:`Step`, or a plain ``apply`` function (then only bptt/checkpoint/anchored without replay).
      v0: the initial state, or its shapes (a pytree of ``jax.ShapeDtypeStruct``) for zeros: then the loops make
        the zeros where they need them instead of keeping a copy of the initial state alive (no gradient for it).
      inputs: a pytree; ``inputs[t]`` at step t when ``sequence_input`` (time-major), else the same every step
        (direct encoding of a static image).
      strategy: a :class:`~revsnn_jax.strategies.Strategy` or its label. Its loop and loop options apply here;
        its neuron gradient is the step's business (the step was built with it).

    Example (a toy step; any pure function of this signature works)::

        def apply(w, _, x, v):
            v = 0.5 * v + x @ w
            return (jnp.tanh(v), v), None

        outs, _, v_last = run_time_loop(apply, w, None, xs, jnp.zeros(4), timesteps=8, sequence_input=True,
                                        strategy="anchored")
    """
    step = step if isinstance(step, Step) else Step(apply=step)
    strategy = as_strategy(strategy)
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise InputError(f"timesteps must be an integer >= 1, got {timesteps!r}")
    needs = {"replay": ("record", "replay")} if strategy.segment == "replay" else {}
    if strategy.loop == "reverse":
        needs = {"reverse": ("keep", "rebuild", "replay")}
    for what, names in needs.items():
        missing = [n for n in names if getattr(step, n) is None]
        if missing:
            raise InputError(f"strategy {strategy.label!r} needs a step with {', '.join(missing)} "
                             f"(see revsnn_jax.time_loop.Step); this one has only apply")
    k = default_anchor_every(timesteps) if strategy.anchor_every is None else strategy.anchor_every
    leaves, treedef = jax.tree.flatten(v0)
    zero_state = None
    if leaves and all(isinstance(a, jax.ShapeDtypeStruct) for a in leaves):
        zero_state, v0 = (treedef, tuple((a.shape, jnp.dtype(a.dtype)) for a in leaves)), None
    cfg = _Loop(step, timesteps, sequence_input, k, strategy.segment, zero_state, tie_input=strategy.loop == "anchored")
    if strategy.loop == "anchored":
        return _anchored_loop(cfg, params, consts, inputs, v0)
    if strategy.loop == "reverse":
        return _reverse_loop(cfg, params, consts, inputs, v0)

    def body(vs, t):
        (out, vs_next), aux = step.apply(params, consts, _input_at(cfg, inputs, t), vs)
        return vs_next, (out, aux)

    if strategy.loop == "checkpoint":
        body = jax.checkpoint(body)
    v_last, (outs, auxs) = lax.scan(body, _initial_state(cfg, v0), jnp.arange(timesteps))
    return outs, auxs, v_last


# --- custom_vjp plumbing shared by the anchored and reverse loops -------------------------------------------------

def _unwrap(tree):
    """``(values, perturbed)`` of a tree of ``CustomVJPPrimal`` leaves (``symbolic_zeros=True``)."""
    is_primal = lambda a: isinstance(a, CustomVJPPrimal)   # noqa: E731
    values = jax.tree.map(lambda a: a.value, tree, is_leaf=is_primal)
    perturbed = any(a.perturbed for a in jax.tree.leaves(tree, is_leaf=is_primal))
    return values, perturbed


def _instantiate(tree):
    """Cotangents with symbolic zeros made into zero arrays."""
    return jax.tree.map(lambda c: jnp.zeros(c.aval.shape, c.aval.dtype) if isinstance(c, SymbolicZero) else c,
                        tree, is_leaf=lambda c: isinstance(c, SymbolicZero))


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class _Wrt:
    """Which of (params, inputs, v0) the caller differentiates."""

    params: bool
    inputs: bool
    v0: bool


def _step_vjp(cfg: _Loop, wrt: _Wrt, fn: Callable, params, x, vs, g_out, g_vs):
    """``(g_params, g_x, g_vs_prev)`` of ``fn(params, x, vs) -> ((out, vs_next), aux)``; ``g_x`` is None unless the
    inputs are differentiated."""
    if wrt.inputs:
        _, vjp, _ = jax.vjp(fn, params, x, vs, has_aux=True)
        return vjp((g_out, g_vs))
    _, vjp, _ = jax.vjp(lambda p, v: fn(p, x, v), params, vs, has_aux=True)
    g_p, g_v = vjp((g_out, g_vs))
    return g_p, None, g_v


def _accumulate(cfg: _Loop, wrt: _Wrt, g_inputs, g_x, t):
    """The inputs' cotangent: written in place at step t (sequence inputs), or summed over steps (static input)."""
    if not wrt.inputs:
        return g_inputs
    if cfg.sequence_input:
        return jax.tree.map(lambda acc, g: lax.dynamic_update_index_in_dim(acc, g, t, 0), g_inputs, g_x)
    return jax.tree.map(jnp.add, g_inputs, g_x)


def _accumulators(tree, cotangent):
    """Zeros to accumulate cotangents into, tied to ``cotangent``: otherwise XLA makes them before the forward loop
    and holds them through it (measured: a whole [T, ...] input cotangent during the forward)."""
    return after(_zeros(tree), cotangent) if tree is not None else None


def _input_carry(wrt: _Wrt, inputs, cotangent):
    return _accumulators(inputs, cotangent) if wrt.inputs else None


def _zeros(tree):
    return jax.tree.map(jnp.zeros_like, tree)


def _cotangents(wrt: _Wrt, g_params, g_inputs, g_v0):
    return (g_params if wrt.params else None, None, g_inputs if wrt.inputs else None,
            g_v0 if wrt.v0 else None)   # v0 given as shapes is None here, and so is its cotangent


# --- anchored --------------------------------------------------------------------------------------------------

def segment_plan(timesteps: int, anchor_every: int) -> tuple[int, int]:
    """``(n, k)``: ``n`` segments of ``k`` steps covering T with under ``n`` padding steps (``k <= anchor_every``)."""
    n = -(-timesteps // anchor_every)
    return n, -(-timesteps // n)


def _on_real_step(cfg: _Loop, t, fn: Callable, padding_value: Callable):
    """``fn()`` on a step ``t < T``; on a padding step past T (the end of the last segment) nothing runs and the
    result is ``padding_value()``. A ``lax.cond``, so padding costs no network step; no cond without padding."""
    n, k = segment_plan(cfg.timesteps, cfg.anchor_every)
    if n * k == cfg.timesteps:
        return fn()
    return lax.cond(t < cfg.timesteps, fn, padding_value)


def _zeros_like_result(fn: Callable):
    """Zeros shaped like ``fn()``'s result, without running it."""
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(fn))


def _anchored_forward(cfg: _Loop, params, consts, inputs, v0):
    """``n`` segments of ``k`` steps (the last may end in padding). Returns the anchors too: the potentials at the
    start of segments ``1 .. n-1`` (segment 0 starts from ``v0``), stacked. Each real step's outputs are written in
    place into ``[T, ...]`` buffers (stacked scan outputs of a padded plan would be sliced: a copy of all of them)."""
    n, k = segment_plan(cfg.timesteps, cfg.anchor_every)
    v0 = _initial_state(cfg, v0)

    def step_at(t, vs):
        (out, vs_next), aux = cfg.step.apply(params, consts, _input_at(cfg, inputs, t), vs)
        return vs_next, (out, aux)

    _, first = jax.eval_shape(lambda: step_at(0, v0))
    buffers = jax.tree.map(lambda s: jnp.zeros((cfg.timesteps,) + s.shape, s.dtype), first)

    def segment(carry, j):
        vs, anchors, buffers = carry
        if anchors is not None:   # slot j-1 <- start of segment j (slot 0 briefly holds v0, then is overwritten)
            anchors = jax.tree.map(lambda a, v: lax.dynamic_update_index_in_dim(a, v, jnp.maximum(j - 1, 0), 0),
                                   anchors, vs)

        def body(carry, i):
            t = j * k + i

            def real():
                vs, buffers = carry
                vs_next, result = step_at(t, vs)
                return vs_next, jax.tree.map(lambda b, r: lax.dynamic_update_index_in_dim(b, r, t, 0), buffers,
                                             result)

            return _on_real_step(cfg, t, real, lambda: carry), None

        (vs, buffers), _ = lax.scan(body, (vs, buffers), jnp.arange(k))
        return (vs, anchors, buffers), None

    anchors = jax.tree.map(lambda v: jnp.zeros((n - 1,) + v.shape, v.dtype), v0) if n > 1 else None
    (v_last, anchors, (outs, auxs)), _ = lax.scan(segment, (v0, anchors, buffers), jnp.arange(n))
    return outs, auxs, v_last, anchors


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _anchored_loop(cfg: _Loop, params, consts, inputs, v0):
    outs, auxs, v_last, _ = _anchored_forward(cfg, params, consts, inputs, v0)
    return outs, auxs, v_last


def _anchored_fwd(cfg: _Loop, params, consts, inputs, v0):
    (params, wp), (consts, _), (inputs, wi), (v0, wv) = map(_unwrap, (params, consts, inputs, v0))
    outs, auxs, v_last, anchors = _anchored_forward(cfg, params, consts, inputs, v0)
    return (outs, auxs, v_last), (_Wrt(wp, wi, wv), params, consts, inputs, v0, anchors, v_last)


def _anchored_bwd(cfg: _Loop, saved, cotangents):
    wrt, params, consts, inputs, v0, anchors, v_last = saved   # v_last only to order the accumulators' zeros
    v0 = _initial_state(cfg, v0)
    g_outs, _, g_vlast = cotangents          # aux outputs are never differentiated
    g_outs, g_vlast = _instantiate(g_outs), _instantiate(g_vlast)
    n, k = segment_plan(cfg.timesteps, cfg.anchor_every)

    def step_forward(t, vs):
        return cfg.step.apply(params, consts, _input_at(cfg, inputs, t), vs)[0][1]

    def step_backward(carry, t, vs_prev, record=None):
        """The VJP of step ``t`` (``t < T``) accumulated into ``carry``."""
        g_vs, g_params, g_inputs = carry
        if record is None:
            fn = lambda p, x, v: cfg.step.apply(p, consts, x, v)   # noqa: E731
        else:
            fn = lambda p, x, v: cfg.step.replay(p, consts, x, v, record)   # noqa: E731
        g_p, g_x, g_v = _step_vjp(cfg, wrt, fn, params, _input_at(cfg, inputs, t), vs_prev,
                                  jax.tree.map(lambda g: g[t], g_outs), g_vs)
        return g_v, jax.tree.map(jnp.add, g_params, g_p), _accumulate(cfg, wrt, g_inputs, g_x, t)

    def pick(first, rest, i):
        """``first`` if ``i == 0`` else ``rest[i - 1]``: a select inside the loop body, so the first element is not
        stored twice."""
        return jax.tree.map(lambda f, r: jnp.where(i == 0, f, r[jnp.maximum(i - 1, 0)]), first, rest)

    def segment(carry, j):
        """Steps of segment j backwards. The potentials before step ``jk+i`` are recomputed forward from the
        anchor: once for the whole segment (``k - 1`` copies kept), or per step (``recompute``: none kept,
        ``i`` extra forward steps)."""
        anchor = v0 if anchors is None else pick(v0, anchors, j)
        start = j * k
        if cfg.segment == "replay":
            def record(vs, i):   # a padding step records too (unused): a cond here costs a copy of the records
                t = jnp.minimum(start + i, cfg.timesteps - 1)
                vs_next, rec = cfg.step.record(params, consts, _input_at(cfg, inputs, t), vs)
                return vs_next, (vs, rec)

            _, (kept, records) = lax.scan(record, anchor, jnp.arange(k))   # potentials before, record of, each step

            def backward(carry, i):
                at = lambda a: a[i]   # noqa: E731
                return step_backward(carry, start + i, jax.tree.map(at, kept), jax.tree.map(at, records))
        elif cfg.segment == "recompute" or k == 1:
            def backward(carry, i):
                vs_prev = lax.fori_loop(0, i, lambda s, vs: step_forward(start + s, vs), anchor)
                return step_backward(carry, start + i, vs_prev)
        else:
            def recompute(vs, i):   # potentials before steps 1 .. k-1 (none needed past T)
                vs_next = _on_real_step(cfg, start + i + 1, lambda: step_forward(start + i, vs), lambda: vs)
                return vs_next, vs_next

            _, kept = lax.scan(recompute, anchor, jnp.arange(k - 1))

            def backward(carry, i):
                return step_backward(carry, start + i, pick(anchor, kept, i))

        def body(carry, i):
            return _on_real_step(cfg, start + i, lambda: backward(carry, i), lambda: carry), None

        return lax.scan(body, carry, jnp.arange(k), reverse=True)[0], None

    carry = (g_vlast, _accumulators(params, (v_last, g_outs)), _input_carry(wrt, inputs, (v_last, g_outs)))
    g_v0, g_params, g_inputs = lax.scan(segment, carry, jnp.arange(n), reverse=True)[0]
    return _cotangents(wrt, g_params, g_inputs, g_v0)


_anchored_loop.defvjp(_anchored_fwd, _anchored_bwd, symbolic_zeros=True)


# --- reverse ---------------------------------------------------------------------------------------------------

def _reverse_forward(cfg: _Loop, params, consts, inputs, v0):
    def body(vs, t):
        (out, vs_next), aux, kept = cfg.step.keep(params, consts, _input_at(cfg, inputs, t), vs)
        return vs_next, (out, aux, kept)

    v_last, (outs, auxs, kept) = lax.scan(body, _initial_state(cfg, v0), jnp.arange(cfg.timesteps))
    return outs, auxs, v_last, kept


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _reverse_loop(cfg: _Loop, params, consts, inputs, v0):
    outs, auxs, v_last, _ = _reverse_forward(cfg, params, consts, inputs, v0)
    return outs, auxs, v_last


def _reverse_fwd(cfg: _Loop, params, consts, inputs, v0):
    (params, wp), (consts, _), (inputs, wi), (v0, wv) = map(_unwrap, (params, consts, inputs, v0))
    outs, auxs, v_last, kept = _reverse_forward(cfg, params, consts, inputs, v0)
    return (outs, auxs, v_last), (_Wrt(wp, wi, wv), params, consts, inputs, v0, v_last, kept)


def _reverse_bwd(cfg: _Loop, saved, cotangents):
    """Walks t = T..1. Software-pipelined: step t's potentials ``vs^{t-1}`` and record arrive in the loop carry
    (rebuilt by the previous iteration), its VJP is taken, and only then is step ``t-1`` rebuilt from ``vs^{t-1}``.
    Reading the potentials from the carry keeps XLA from fusing their recovery into the VJP (which would keep
    ``vs^t`` alive and copy the loop state), and rebuilding after the VJP lets ``vs^{t-2}`` overwrite ``vs^{t-1}``."""
    wrt, params, consts, inputs, v0, v_last, kept = saved
    g_outs, _, g_vlast = cotangents
    g_outs, g_vlast = _instantiate(g_outs), _instantiate(g_vlast)

    def rebuild(t, vs):
        return cfg.step.rebuild(params, consts, _input_at(cfg, inputs, t), vs, jax.tree.map(lambda a: a[t], kept))

    def body(carry, t):
        vs_prev, record, g_vs, g_params, g_inputs = carry      # vs_prev = vs^{t-1}: step t's potentials before it
        x = _input_at(cfg, inputs, t)
        fn = lambda p, x, v: cfg.step.replay(p, consts, x, v, record)   # noqa: E731
        g_p, g_x, g_v = _step_vjp(cfg, wrt, fn, params, x, vs_prev, jax.tree.map(lambda g: g[t], g_outs), g_vs)
        later = after(vs_prev, g_v)                             # the rebuild of step t-1 waits for this VJP
        vs_before, record_before = lax.cond(t > 0, lambda: rebuild(jnp.maximum(t - 1, 0), later),
                                            lambda: (later, record))
        per_step = wrt.inputs and cfg.sequence_input   # a sequence input's cotangent: one scan output per step
        g_inputs = g_inputs if per_step else _accumulate(cfg, wrt, g_inputs, g_x, t)
        return (vs_before, record_before, g_v, jax.tree.map(jnp.add, g_params, g_p), g_inputs), \
            (g_x if per_step else None)

    vs_prev, record = rebuild(cfg.timesteps - 1, v_last)
    carry = (vs_prev, record, g_vlast, _accumulators(params, (v_last, g_outs)),
             _input_carry(wrt, inputs, (v_last, g_outs)) if not cfg.sequence_input else None)
    (v0_rebuilt, _, g_v0, g_params, g_inputs), g_xs = lax.scan(body, carry, jnp.arange(cfg.timesteps),
                                                                reverse=True)
    if wrt.inputs and cfg.sequence_input:
        g_inputs = g_xs
    cotangents = _cotangents(wrt, g_params, g_inputs, g_v0)
    if not cfg.step.exact:
        return cotangents
    return _checked(cfg, cotangents, v0_rebuilt, v0)


def _checked(cfg: _Loop, cotangents, v0_rebuilt, v0):
    """The end-to-end check of an exact reversal: NaN gradients (and a warning) unless the rebuilt ``V^0`` equals
    the forward's bit for bit."""
    if cfg.zero_state is None:
        canonical = cfg.step.canonical_state or (lambda vs: vs)
        wrong = sum(jnp.sum(a != b) for a, b in zip(jax.tree.leaves(v0_rebuilt), jax.tree.leaves(canonical(v0))))
    else:   # compared with zero directly: a zeros array here would be merged with the forward's and kept alive
        wrong = sum(jnp.sum(a != 0) for a in jax.tree.leaves(v0_rebuilt))
    total = sum(a.size for a in jax.tree.leaves(v0_rebuilt))
    exact = wrong == 0
    lax.cond(exact, lambda: None, lambda: jax.debug.callback(_warn_inexact, wrong, total))
    return jax.tree.map(lambda g: jnp.where(exact, g, jnp.nan).astype(g.dtype), cotangents)


def _warn_inexact(wrong, total):
    warnings.warn(f"reversal lost exactness: the rebuilt V^0 differs from the forward's in {int(wrong)} of "
                  f"{int(total)} potentials, so this step's gradients are NaN. Likely causes: a recomputed neuron "
                  "input more than half a fixed-point unit off the forward's (turn snap on, raise x_max headroom or "
                  "lower frac_bits), or a potential outside the exact range (alpha = 1/tau is unbounded)",
                  RuntimeWarning, stacklevel=1)


_reverse_loop.defvjp(_reverse_fwd, _reverse_bwd, symbolic_zeros=True)

