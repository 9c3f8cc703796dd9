import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import chex
import numpy as np
import pytest

from revsnn_jax import data, train
from revsnn_jax.train import checkpoints

# A small, fast run: vgg_tiny on digits, 5 steps per epoch.
TINY = train.TrainConfig(model="vgg_tiny", batch_size=256, epochs=2, timesteps=2)


def _final_state(cfg: train.TrainConfig, workdir) -> dict:
    cfg = cfg.resolved()
    _, like, _, _ = train.build(cfg, data.load(cfg.dataset), train.data_mesh())
    state, _ = checkpoints.restore(str(workdir), like)
    return state


def _records(workdir) -> list[dict]:
    timing = ("epoch_seconds", "images_per_second")
    return [{k: v for k, v in r.items() if k not in timing} for r in train.read_metrics(str(workdir))]


def test_defaults_are_the_offline_digits_run():
    cfg = train.TrainConfig().resolved()
    assert (cfg.dataset, cfg.model, cfg.strategy, cfg.neuron, cfg.timesteps) == \
        ("digits", "vgg_digits", "inverse_grad", "rev", 4)
    assert (cfg.epochs, cfg.batch_size, cfg.learning_rate, cfg.optimizer) == (30, 64, 0.1, "sgd")
    cifar = train.TrainConfig(dataset="cifar10", optimizer="adamw").resolved()
    assert (cifar.model, cifar.batch_size, cifar.learning_rate) == ("resnet18", 128, 1e-3)


@pytest.mark.parametrize("field,value,message", [
    ("dataset", "mnist", "unknown dataset 'mnist'; valid datasets: digits, cifar10, cifar100"),
    ("model", "vgg7", "unknown model 'vgg7'; valid models: vgg11,"),
    ("strategy", "adjoint", "unknown strategy 'adjoint'; valid strategies: bptt, checkpoint, anchored"),
    ("alpha", 0.15, "neuron 'lif' has no setting alpha"),
    ("optimizer", "lamb", "unknown optimizer 'lamb'; valid optimizers: sgd, adamw"),
    ("epochs", 0, "epochs must be >= 1"),
    ("groups", 1, "groups must be an integer >= 2"),
])
def test_bad_config_values_are_named(field, value, message):
    neuron = {"neuron": "lif"} if field == "alpha" else {}
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        dataclasses.replace(train.TrainConfig(), **{field: value}, **neuron).resolved()


def test_only_the_reverse_strategy_needs_a_particular_neuron():
    with pytest.raises(ValueError, match=r"needs a neuron with an exact inverse .* \(use --neuron exact_rev"):
        train.TrainConfig(neuron="lif", strategy="reverse").resolved()
    for neuron in ("lif", "plif", "rev", "exact_rev"):   # every anchored strategy works with every neuron
        cfg = train.TrainConfig(neuron=neuron, strategy="inverse_grad+low_memory").resolved()
        assert cfg.neuron_spec().kind == neuron and cfg.strategy_value().label == "anchored+closed_form+low_memory"
    exact = train.TrainConfig(neuron="exact_rev", strategy="reverse").resolved()
    assert (exact.alpha, exact.groups, exact.frac_bits) == (0.125, 2, 16)   # the neuron's own defaults
    assert train.TrainConfig().resolved().alpha == 0.15


def test_groups_that_do_not_divide_a_layer_are_an_error_before_training(tmp_path):
    with pytest.raises(ValueError, match="groups=3 does not divide the width"):
        train.train_and_evaluate(dataclasses.replace(TINY, groups=3), str(tmp_path / "run"), progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow   # 41 s; test_failures resumes after every kind of stop and compares bit for bit by default
def test_same_seed_same_run_and_kill_resume_equals_uninterrupted(tmp_path):
    full = train.train_and_evaluate(TINY, str(tmp_path / "a"), progress=False)
    again = train.train_and_evaluate(TINY, str(tmp_path / "b"), progress=False)
    assert again["test_accuracy"] == full["test_accuracy"]
    assert full["epochs"] == 2 and 0.0 <= full["test_accuracy"] <= 1.0
    assert _records(tmp_path / "a") == _records(tmp_path / "b")
    state_a = _final_state(TINY, tmp_path / "a")
    chex.assert_trees_all_equal(state_a, _final_state(TINY, tmp_path / "b"))

    def kill_in_second_epoch(step, metrics):
        if step == 7:   # epoch 2 has begun (5 steps per epoch); its checkpoint does not exist yet
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train.train_and_evaluate(TINY, str(tmp_path / "c"), progress=False, on_step=kill_in_second_epoch)
    assert checkpoints.latest_meta(str(tmp_path / "c"))["epochs_done"] == 1
    resumed = train.train_and_evaluate(TINY, str(tmp_path / "c"), resume=True, progress=False)
    assert resumed["test_accuracy"] == full["test_accuracy"]
    assert _records(tmp_path / "c") == _records(tmp_path / "a")
    chex.assert_trees_all_equal(_final_state(TINY, tmp_path / "c"), state_a)
    assert int(state_a["step"]) == 10
    # the other seed gives another run (the test above is not vacuous)
    other = train.train_and_evaluate(dataclasses.replace(TINY, seed=1, epochs=1), str(tmp_path / "d"),
                                     progress=False)
    assert _records(tmp_path / "d")[0] != _records(tmp_path / "a")[0]
    assert other["seed"] == 1


def test_workdir_of_another_run_is_refused_and_left_untouched(tmp_path):
    workdir = tmp_path / "run"
    train.train_and_evaluate(dataclasses.replace(TINY, epochs=1), str(workdir), progress=False)
    before = {p: (workdir / p).read_bytes() for p in ("metrics.jsonl", "config.json")}
    listing = sorted(os.listdir(workdir / "checkpoints"))
    with pytest.raises(ValueError, match="already holds a checkpoint .*pass --resume"):
        train.train_and_evaluate(dataclasses.replace(TINY, epochs=1), str(workdir), progress=False)
    with pytest.raises(ValueError, match="different run.*model: checkpoint 'vgg_tiny', this run 'vgg_digits'"):
        train.train_and_evaluate(dataclasses.replace(TINY, epochs=1, model="vgg_digits"), str(workdir),
                                 resume=True, progress=False)
    assert {p: (workdir / p).read_bytes() for p in before} == before
    assert sorted(os.listdir(workdir / "checkpoints")) == listing


@pytest.mark.slow   # 14 s; the sharded step runs in every training test
def test_sharded_step_equals_single_device_step():
    """Four CPU devices (a fresh process: the device count is fixed when JAX starts)."""
    script = textwrap.dedent("""
        import json
        import jax, numpy as np
        from revsnn_jax import data, train
        cfg = train.TrainConfig(model="vgg_tiny", batch_size=16, epochs=1).resolved()
        ds = data.load("digits")
        x, y = ds.train_images[:16], ds.train_labels[:16]
        out = {}
        for n in (1, 4):
            mesh = train.data_mesh(jax.devices()[:n])
            g, state, opt, _ = train.build(cfg, ds, mesh)
            xs, ys = train.shard_batch(mesh, x, y)
            assert len(xs.sharding.device_set) == n
            grad_fn = jax.jit(lambda p, b, x, y: train.loss_and_grads(g, p, b, x, y, timesteps=cfg.timesteps,
                                                                      strategy=cfg.strategy))
            (loss, _), grads = grad_fn(state["params"], state["batch_stats"], xs, ys)
            step, _ = train.jit_steps(g, opt, cfg, mesh)
            params = step(state["params"], state["batch_stats"], state["opt_state"], xs, ys)[0]
            flat = lambda t: np.concatenate([np.ravel(np.asarray(a)) for a in jax.tree.leaves(t)])
            out[n] = (float(loss), flat(grads), flat(params))
        (l1, g1, p1), (l4, g4, p4) = out[1], out[4]
        try:
            train.check_batch_size(6, train.data_mesh())
            bad = None
        except ValueError as e:
            bad = str(e)
        print(json.dumps({"devices": len(jax.devices()), "loss": [l1, l4],
                          "grad_rel": float(np.linalg.norm(g1 - g4) / np.linalg.norm(g1)),
                          "param_max": float(np.max(np.abs(p1 - p4))), "bad": bad}))
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["devices"] == 4
    np.testing.assert_allclose(out["loss"][0], out["loss"][1], rtol=1e-6)
    assert out["grad_rel"] <= 1e-5   # float32 all-reduce sums in another order; measured 2e-6
    assert out["param_max"] <= 1e-6
    assert out["bad"] == "batch size 6 is not divisible by the number of devices (4); use a multiple of 4"


def test_eval_counts_every_test_example(tmp_path):
    cfg = dataclasses.replace(TINY, epochs=1).resolved()
    ds = data.load("digits")
    mesh = train.data_mesh()
    g, state, opt, _ = train.build(cfg, ds, mesh)
    _, eval_step = train.jit_steps(g, opt, cfg, mesh)
    full = train.evaluate(eval_step, state, ds.test_images, ds.test_labels, 256, mesh)   # 360 = 256 + 104 padded
    small = train.evaluate(eval_step, state, ds.test_images, ds.test_labels, 40, mesh)   # 9 full batches
    assert full["accuracy"] == pytest.approx(small["accuracy"], abs=1e-6)
    assert full["loss"] == pytest.approx(small["loss"], rel=1e-5)
    correct = full["accuracy"] * 360
    assert abs(correct - round(correct)) < 1e-3   # a count over exactly 360 examples
