"""How gradients flow through the time loop: one frozen :class:`Strategy` value, parsed and validated once.

A strategy is two independent choices and their options:

* the **loop** (:mod:`revsnn_jax.time_loop`): what the forward keeps and what the backward recomputes;
* the **neuron gradient**: how a step's VJP differentiates the neuron (autodiff through the surrogate spike, or
  the neuron's closed-form VJP; the same numbers either way, or the paper's Eq. 11-12, which are not the gradient).

==========  =====================================================================================================
loop        what it does
==========  =====================================================================================================
bptt        plain autodiff through ``lax.scan``: every step's residuals of every layer are stored (the reference)
checkpoint  ``jax.checkpoint`` of each step: every step's potentials are stored, the rest is recomputed
anchored    one ``custom_vjp`` over the loop keeps the potentials at every ``k``-th step (anchors, ``k`` =
            ``ceil(sqrt T)``); the backward recomputes a segment forward from its anchor and takes one step VJP per
            timestep. Options: ``low_memory`` (keep no segment: recompute from the anchor at every step),
            ``keep_convs`` (record the segment's convolution outputs; the step VJP replays them), ``binomial``
            (``S`` slots placed by the optimal binomial schedule of :mod:`revsnn_jax.schedules` instead of every
            k steps: low_memory's memory at its default ``S``, a fraction of its recomputation)
reverse     time reversal: the forward keeps the final potentials and a few bits per neuron and step; the backward
            walks t = T..1, rebuilds step t from its input and those bits, recovers ``V^{t-1}`` from ``V^t``
            exactly and takes the step's VJP on what it rebuilt (convolutions replayed). Needs a neuron with an
            exact inverse (``exact_rev``); checks itself end to end (the recovered ``V^0`` must equal the real one).
            Option ``segmented``: keep the potentials every k steps instead of the bits, and regenerate one
            segment's bits at a time by recomputing it (memory flat in T, one more forward per step)
==========  =====================================================================================================

Labels name a strategy: ``LOOP[+OPTION...]`` with options ``closed_form``, ``paper_grad``, ``low_memory``,
``keep_convs``, ``binomial`` (anchored) and ``segmented`` (reverse). The paper's names are aliases that keep committed
results and commands working:

========================  =================================  ===================================================
alias (paper)             canonical label                    why the new name
========================  =================================  ===================================================
``reversible``            ``anchored``                       nothing is inverted: it is anchored checkpointing
``inverse_grad``          ``anchored+closed_form``           the same loop with the neuron's closed-form VJP
``inverse_grad_paper``    ``anchored+paper_grad``            the same with Eq. 11-12 (not the gradient)
========================  =================================  ===================================================

``reversible+low_memory`` and the like work too (the alias replaces the loop part). Adding a strategy means one
entry in ``LOOPS`` (or an option here) and its loop in :mod:`revsnn_jax.time_loop`.
"""

from __future__ import annotations

import dataclasses

import jax

from revsnn_jax.errors import InputError

LOOPS = {
    "bptt": "plain autodiff through the scan; every step's residuals stored (the reference)",
    "checkpoint": "jax.checkpoint of each step; every step's potentials stored, the rest recomputed",
    "anchored": "potentials kept every k-th step; segments recomputed from their anchors in the backward",
    "reverse": "time reversal: a few bits per neuron and step kept; each step rebuilt and V^{t-1} recovered exactly",
}
NEURON_GRADS = {"autodiff": "", "closed_form": "closed_form", "paper": "paper_grad"}   # value -> label option
SEGMENTS = {"keep": "", "recompute": "low_memory", "replay": "keep_convs", "binomial": "binomial",
            "segmented": "segmented"}                                                  # value -> label option
SEGMENT_LOOPS = {"recompute": "anchored", "replay": "anchored", "binomial": "anchored", "segmented": "reverse"}
ALIASES = {"reversible": "anchored", "inverse_grad": "anchored+closed_form",
           "inverse_grad_paper": "anchored+paper_grad"}


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class Strategy:
    """A gradient strategy for the time loop (hashable and static under ``jax.jit``).

    Attributes:
      loop: one of ``LOOPS``.
      neuron_grad: ``"autodiff"``, ``"closed_form"`` or ``"paper"`` (Eq. 11-12; not the gradient).
      anchor_every: for ``anchored``, steps per segment ``k`` (default ``ceil(sqrt T)``); for ``reverse`` +
        ``segmented``, the same (default: the k that minimises kept potentials plus one segment's bits).
      segment: for ``anchored``: ``"keep"`` the recomputed segment (default), ``"recompute"`` it per step
        (``low_memory``: least memory), ``"replay"`` its recorded convolution outputs (``keep_convs``: least
        time) or place the kept potentials by the ``"binomial"`` schedule; for ``reverse``: ``"keep"`` every
        step's bits (default) or ``"segmented"``.
      anchor_slots: for ``anchored+binomial``, the potentials kept (default
        :func:`revsnn_jax.schedules.default_slots`: as many as ``low_memory`` keeps).
      rebuild_noise: for ``reverse``, testing only: perturbs every rebuilt neuron input by this relative amount
        (a few float32 ulps), as a recomputation on other hardware might, to show that the reversal stays exact.
    """

    loop: str = "bptt"
    neuron_grad: str = "autodiff"
    anchor_every: int | None = None
    segment: str = "keep"
    rebuild_noise: float = 0.0
    anchor_slots: int | None = None

    def __post_init__(self):
        if self.loop not in LOOPS:
            raise InputError(f"unknown loop {self.loop!r}; valid loops: {', '.join(LOOPS)}")
        if self.neuron_grad not in NEURON_GRADS:
            raise InputError(f"unknown neuron_grad {self.neuron_grad!r}; valid: {', '.join(NEURON_GRADS)}")
        if self.segment not in SEGMENTS:
            raise InputError(f"unknown segment {self.segment!r}; valid: {', '.join(SEGMENTS)}")
        if self.anchor_every is not None:
            if isinstance(self.anchor_every, bool) or not isinstance(self.anchor_every, int) or self.anchor_every < 1:
                raise InputError(f"anchor_every must be a positive integer, got {self.anchor_every!r}")
            if self.loop != "anchored" and self.segment != "segmented":
                raise InputError(f"anchor_every applies to the anchored loop and reverse+segmented, not "
                                 f"{self.label!r}")
            if self.segment == "binomial":
                raise InputError("anchor_every does not apply to the binomial schedule (it places anchor_slots "
                                 "itself)")
        if self.segment != "keep" and self.loop != SEGMENT_LOOPS[self.segment]:
            raise InputError(f"{SEGMENTS[self.segment]} applies to the {SEGMENT_LOOPS[self.segment]} loop, not "
                             f"{self.loop!r}")
        if self.anchor_slots is not None:
            if isinstance(self.anchor_slots, bool) or not isinstance(self.anchor_slots, int) or self.anchor_slots < 0:
                raise InputError(f"anchor_slots must be an integer >= 0, got {self.anchor_slots!r}")
            if self.segment != "binomial":
                raise InputError(f"anchor_slots applies to the binomial schedule (anchored+binomial), not "
                                 f"{self.label!r}")
        if self.rebuild_noise and self.loop != "reverse":
            raise InputError("rebuild_noise applies to the reverse loop only")
        if not self.rebuild_noise >= 0:
            raise InputError(f"rebuild_noise must be >= 0, got {self.rebuild_noise}")

    @property
    def label(self) -> str:
        """The canonical label, e.g. ``anchored+closed_form+low_memory``."""
        parts = [self.loop, NEURON_GRADS[self.neuron_grad], SEGMENTS[self.segment]]
        return "+".join(p for p in parts if p)

    @property
    def low_memory(self) -> bool:
        return self.segment == "recompute"

    @property
    def keep_convs(self) -> bool:
        return self.segment == "replay"

    @classmethod
    def parse(cls, label: str, *, anchor_every: int | None = None, low_memory: bool = False,
              keep_convs: bool = False, anchor_slots: int | None = None) -> "Strategy":
        """A strategy from a label (canonical or alias, options in any order); the keyword arguments are the
        separate flags of ``revsnn train`` (``--anchor-every``, ``--low-memory``, ``--keep-convs``,
        ``--anchor-slots``)."""
        if not isinstance(label, str) or not label:
            raise InputError(f"a strategy label must be a non-empty string, got {label!r}")
        head, *options = label.split("+")
        if head in ALIASES:
            head, *implied = ALIASES[head].split("+")
            options = implied + options
        if head not in LOOPS:
            raise InputError(f"unknown strategy {label!r}; valid strategies: {', '.join(choices())}")
        grads = {v: k for k, v in NEURON_GRADS.items() if v}
        segments = {v: k for k, v in SEGMENTS.items() if v}
        fields = {"loop": head}
        for option in options + (["low_memory"] if low_memory else []) + (["keep_convs"] if keep_convs else []):
            key = "neuron_grad" if option in grads else "segment" if option in segments else None
            if key is None:
                raise InputError(f"unknown option {option!r} in strategy {label!r}; valid options: "
                                 f"{', '.join(list(grads) + list(segments))}")
            value = grads.get(option, segments.get(option))
            if fields.get(key, value) != value:
                raise InputError(f"strategy {label!r}: choose one of "
                                 + (" and ".join(grads) if key == "neuron_grad" else
                                    "low_memory (least memory), binomial (as little, faster) and keep_convs "
                                    "(least time)"))
            fields[key] = value
        try:
            return cls(**fields, anchor_every=anchor_every, anchor_slots=anchor_slots)
        except InputError as e:
            raise InputError(f"invalid strategy {label!r}: {e}") from None


def as_strategy(strategy: "Strategy | str") -> Strategy:
    """``strategy`` itself, or the :class:`Strategy` its label names."""
    return strategy if isinstance(strategy, Strategy) else Strategy.parse(strategy)


STRATEGIES = {s.label: s for s in (
    Strategy("bptt"), Strategy("checkpoint"), Strategy("anchored"), Strategy("anchored", "closed_form"),
    Strategy("anchored", segment="recompute"), Strategy("anchored", "closed_form", segment="recompute"),
    Strategy("anchored", segment="replay"), Strategy("anchored", "closed_form", segment="replay"),
    Strategy("anchored", segment="binomial"), Strategy("anchored", "closed_form", segment="binomial"),
    Strategy("anchored", "paper"), Strategy("reverse"), Strategy("reverse", segment="segmented"))}
"""Every named strategy, by canonical label (the one definition; ``ALIASES`` adds the paper's names)."""


def choices() -> list[str]:
    """Labels accepted on the command line: the loops, their common combinations and the aliases."""
    return list(STRATEGIES) + list(ALIASES)


def check_neuron(strategy: "Strategy | str", neuron, where: str | None = None, fix: str | None = None) -> None:
    """Raises InputError where ``strategy`` cannot train ``neuron``: the one place for these rules. The ``reverse``
    loop needs an exact inverse (the neuron's ``exact_inverse``); the paper's gradient rule needs a neuron that
    defines it (``paper_vjp``). ``where`` names the neuron in the message (default: its kind); ``fix`` says what to
    do instead."""
    strategy = as_strategy(strategy)
    kind = getattr(neuron, "kind", type(neuron).__name__)
    if strategy.loop == "reverse" and not getattr(neuron, "exact_inverse", False):
        raise InputError(f"strategy 'reverse' needs a neuron with an exact inverse (exact_rev); {where or kind} has "
                         "none" + (f" ({fix})" if fix else ""))
    if strategy.neuron_grad == "paper":
        if not hasattr(neuron, "paper_vjp"):
            raise InputError(f"the paper's gradient rule (Eq. 11-12) is defined for the paper's neuron (rev) only, "
                             f"not {kind}")
        neuron.paper_vjp_check()
