"""The memory planner: sizes, the Pareto front and the choice on made-up figures; ``revsnn plan`` on a real model
(the chosen configuration's compiled memory fits the budget, the second plan compiles nothing); ``revsnn train
--strategy auto --memory-budget`` on digits and event frames."""

import json

import pytest

from revsnn_jax import ExactRevLIFParams, RevLIFParams, Strategy, cli, planner, train
from revsnn_jax.bench.network import NetworkConfig, train_step_for
from revsnn_jax.compiled import memory_stats
from revsnn_jax.errors import InputError


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("REVSNN_DATA_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("text,size", [("4GiB", 4 * 2**30), ("512MiB", 512 * 2**20), ("2GB", 2 * 10**9),
                                       ("1.5 g", int(1.5 * 2**30)), ("1000", 1000), (7, 7)])
def test_sizes(text, size):
    assert planner.parse_bytes(text) == size


@pytest.mark.parametrize("text", ["", "4XB", "-1GiB", "0", "GiB", True])
def test_bad_sizes_are_one_line_errors(text):
    with pytest.raises(InputError, match="a memory size is a positive number"):
        planner.parse_bytes(text)


def fake_measure(table):
    return lambda strategy: {"temp_bytes": table[planner.describe(strategy)], "argument_bytes": 10}


def test_plan_marks_the_pareto_front_and_picks_the_fewest_forward_steps_that_fit():
    strategies = [Strategy("bptt"), Strategy("anchored", "closed_form"),
                  Strategy("anchored", "closed_form", segment="recompute"),
                  Strategy("anchored", "closed_form", segment="binomial", anchor_slots=3)]
    table = {"bptt": 1000, "anchored+closed_form": 300, "anchored+closed_form+low_memory": 200,
             "anchored+closed_form+binomial[slots=3]": 190}
    plan = planner.make_plan(strategies, fake_measure(table), 20, budget=400, margin=0.1)
    rows = {r["config"]: r for r in plan.rows}
    assert plan.chosen["config"] == "anchored+closed_form"        # 310 <= 360: fits, fewest forward steps
    assert not rows["anchored+closed_form+low_memory"]["pareto"]   # binomial: less memory and fewer steps
    assert rows["bptt"]["pareto"] and rows["anchored+closed_form+binomial[slots=3]"]["pareto"]
    tight = planner.make_plan(strategies, fake_measure(table), 20, budget=250, margin=0.1)
    assert tight.chosen["config"] == "anchored+closed_form+binomial[slots=3]"
    with pytest.raises(InputError, match=r"least memory reachable is 0 MiB \(anchored\+closed_form\+binomial"):
        planner.require_choice(planner.make_plan(strategies, fake_measure(table), 20, budget=100))
    assert planner.strategy_of(tight.chosen) == strategies[3]


def test_candidates_follow_the_neuron():
    plain = {s.label for s in planner.candidates(RevLIFParams(), 50)}
    exact = {s.label for s in planner.candidates(ExactRevLIFParams(), 50)}
    assert "reverse" not in plain and {"reverse", "reverse+segmented"} <= exact
    slots = [s.anchor_slots for s in planner.candidates(RevLIFParams(), 50) if s.segment == "binomial"]
    assert slots == sorted(set(slots)) and 6 in slots                   # 6: low_memory's anchors at T=50


@pytest.mark.slow   # 16 s: eleven compiles; the choice itself is checked on made-up figures above
def test_revsnn_plan_picks_a_configuration_that_fits_and_caches_its_compiles(capsys, cache_dir):
    argv = ["plan", "--model", "vgg_tiny", "--timesteps", "12", "--batch-size", "8", "--input-size", "8",
            "--frames", "--budget", "3MiB", "--json"]
    assert cli.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["config"] is not None and result["total_bytes"] <= 3 * 2**20
    # compiled independently: the chosen configuration's memory is what the plan says, within the budget
    strategy = Strategy.parse(result["strategy"], anchor_slots=result["anchor_slots"])
    step, args, _ = train_step_for("vgg_tiny", NetworkConfig(result["strategy"], strategy, RevLIFParams()),
                                   timesteps=12, batch_size=8, input_size=8, frames=True)
    stats = memory_stats(step.lower(*args).compile())
    assert stats["temp_bytes"] + stats["argument_bytes"] == result["total_bytes"] <= 3 * 2**20
    fitting = [r for r in result["candidates"] if r.get("fits")]
    assert result["config"] == min(fitting, key=lambda r: (r["forward_steps"], r["total_bytes"]))["config"]
    assert (cache_dir / "plans" / "memory.json").is_file()
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["planning_seconds"] < result["planning_seconds"]


@pytest.mark.slow   # 10 s; the message itself is checked on made-up figures above
def test_revsnn_plan_says_when_nothing_fits(capsys):
    assert cli.main(["plan", "--model", "vgg_tiny", "--timesteps", "4", "--batch-size", "8", "--input-size", "8",
                     "--budget", "10KiB"]) == 2
    assert "least memory reachable is" in capsys.readouterr().err


@pytest.mark.slow   # 15-25 s each: a plan of eleven compiles, then an epoch
@pytest.mark.parametrize("dataset,budget", [("digits", "24MiB"), ("event_digits", "64MiB")])
def test_train_auto_chooses_a_schedule_within_the_budget_and_records_it(tmp_path, dataset, budget):
    cfg = train.TrainConfig(dataset=dataset, model="vgg_tiny", batch_size=256, epochs=1, timesteps=4,
                            strategy="auto", memory_budget=budget)
    summary = train.train_and_evaluate(cfg, str(tmp_path / "run"), progress=False)
    assert summary["status"] == "completed"
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    plan = json.loads((tmp_path / "run" / "plan.json").read_text())
    assert saved["strategy"] == plan["strategy"] != "auto" and saved["memory_budget"] == budget
    assert plan["total_bytes"] <= planner.parse_bytes(budget)
    measured = train.dry_run(train.TrainConfig(**{**saved, "memory_budget": None}))
    assert measured["temp_bytes"] + measured["argument_bytes"] == plan["total_bytes"]


@pytest.mark.parametrize("changes,message", [
    ({"strategy": "auto"}, "give --memory-budget"),
    ({"strategy": "auto", "memory_budget": "1GiB", "low_memory": True}, "chooses low_memory itself"),
    ({"strategy": "auto", "memory_budget": "1GiB", "method": "ottt", "neuron": "lif"}, "plans the exact method"),
    ({"memory_budget": "lots"}, "a memory size is"),
    ({"strategy": "inverse_grad", "anchor_slots": 3}, "anchor_slots applies to the binomial schedule"),
])
def test_bad_budget_settings_are_one_line_errors(changes, message):
    with pytest.raises(InputError, match=message):
        train.TrainConfig(**changes).resolved()


def test_a_named_strategy_over_the_budget_is_an_error_before_training(tmp_path):
    cfg = train.TrainConfig(model="vgg_tiny", batch_size=64, timesteps=4, strategy="bptt", memory_budget="1MiB")
    with pytest.raises(InputError, match="strategy 'bptt' needs .* MiB .*try --strategy auto"):
        train.train_and_evaluate(cfg, str(tmp_path / "run"), progress=False)
    assert not (tmp_path / "run").exists()
