"""The Strategy value: one definition, labels by what they do, the paper's names as aliases, clear errors."""

import glob
import os
import re

import pytest

from revsnn_jax import ALIASES, STRATEGIES, Strategy
from revsnn_jax.strategies import as_strategy, choices

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_strategies_are_defined_once():
    definitions = []
    for path in glob.glob(os.path.join(ROOT, "revsnn_jax", "**", "*.py"), recursive=True):
        for line in open(path):
            if re.match(r"^\s*STRATEGIES\s*[:=]", line):
                definitions.append(path)
    assert [os.path.relpath(p, ROOT) for p in definitions] == [os.path.join("revsnn_jax", "strategies.py")]


@pytest.mark.parametrize("alias,canonical", [
    ("reversible", "anchored"), ("inverse_grad", "anchored+closed_form"),
    ("inverse_grad_paper", "anchored+paper_grad"), ("reversible+low_memory", "anchored+low_memory"),
    ("inverse_grad+keep_convs", "anchored+closed_form+keep_convs"), ("checkpoint", "checkpoint"),
    ("keep_convs+anchored", None)])
def test_the_papers_names_are_aliases_for_what_the_code_does(alias, canonical):
    if canonical is None:
        with pytest.raises(ValueError, match="unknown strategy 'keep_convs\\+anchored'"):
            Strategy.parse(alias)
        return
    assert Strategy.parse(alias).label == canonical
    assert Strategy.parse(canonical) == Strategy.parse(alias)
    assert as_strategy(alias) == as_strategy(Strategy.parse(alias))


def test_every_named_strategy_round_trips_through_its_label():
    for label, strategy in STRATEGIES.items():
        assert strategy.label == label and Strategy.parse(label) == strategy
    assert set(ALIASES) <= set(choices()) and set(STRATEGIES) <= set(choices())
    s = Strategy.parse("inverse_grad", anchor_every=3, low_memory=True)
    assert (s.loop, s.neuron_grad, s.segment, s.anchor_every, s.low_memory) == ("anchored", "closed_form",
                                                                                  "recompute", 3, True)
    assert hash(s) == hash(Strategy.parse("anchored+low_memory+closed_form", anchor_every=3))   # any option order


@pytest.mark.parametrize("make,message", [
    (lambda: Strategy.parse("bptt+low_memory"), "low_memory applies to the anchored loop, not 'bptt'"),
    (lambda: Strategy.parse("anchored+low_memory+keep_convs"), "choose one of low_memory"),
    (lambda: Strategy.parse("anchored+closed_form+paper_grad"), "choose one of closed_form and paper_grad"),
    (lambda: Strategy.parse("anchored+fast"), "unknown option 'fast'"),
    (lambda: Strategy.parse("reverse", anchor_every=2), "anchor_every applies to the anchored loop"),
    (lambda: Strategy("anchored", anchor_every=0), "anchor_every must be a positive integer"),
    (lambda: Strategy("bptt", rebuild_noise=0.1), "rebuild_noise applies to the reverse loop only"),
    (lambda: Strategy("adjoint"), "unknown loop 'adjoint'"),
])
def test_invalid_strategies_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()
