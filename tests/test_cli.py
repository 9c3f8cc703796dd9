import json
import os
import re

import pytest

from revsnn_jax import cli
from revsnn_jax.errors import InputError


def test_bench_neuron_memory_json(capsys, tmp_path):
    assert cli.main(["bench", "neuron-memory", "--timesteps", "2,8", "--batch-size", "2", "--width", "64",
                     "--json", "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    labels = {r["config"] for r in out["rows"]}
    assert {"rev/bptt", "rev/anchored", "rev/anchored+closed_form", "exact_rev/reverse"} <= labels
    assert {r["timesteps"] for r in out["rows"]} == {2, 8}
    assert all(r["temp_bytes"] >= 0 for r in out["rows"])
    assert (tmp_path / "neuron_memory.csv").read_text().startswith("config,timesteps")


def test_bench_neuron_grad_table(capsys):
    assert cli.main(["bench", "neuron-grad", "--timesteps", "3", "--batch-size", "2", "--width", "16"]) == 0
    text = capsys.readouterr().out
    assert "rev/anchored+closed_form " in text and "exact_rev/reverse " in text and "relative_error" in text


def test_bad_flag_values_exit_with_a_message(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "neuron-memory", "--timesteps", "0,4"])
    assert "positive integers" in capsys.readouterr().err
    assert cli.main(["bench", "neuron-grad", "--groups", "3", "--width", "16", "--timesteps", "2"]) == 2
    assert "groups=3 does not divide the last axis (16)" in capsys.readouterr().err


def test_bench_memory_json_has_the_documented_shape(capsys):
    assert cli.main(["bench", "memory", "--model", "vgg_tiny", "--timesteps", "3", "--batch-size", "2",
                     "--input-size", "8", "--configs", "bptt,inverse_grad+low_memory", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    # progress: one stderr line per configuration as it is measured (stdout holds only the result)
    assert [line.split(": ")[0] for line in captured.err.splitlines()] == [
        "vgg_tiny T=3 B=2 bptt", "vgg_tiny T=3 B=2 inverse_grad+low_memory"]
    assert out["model"] == "vgg_tiny" and out["timesteps"] == 3 and out["batch_size"] == 2
    assert out["input_shape"] == [8, 8, 3]
    assert set(out["results"]) == {"bptt", "inverse_grad+low_memory"}
    assert set(out["results"]["bptt"]) == {"temp_bytes", "argument_bytes", "output_bytes"}
    assert out["results"]["bptt"]["temp_bytes"] > 0


def test_bench_memory_errors_name_the_problem(capsys):
    assert cli.main(["bench", "memory", "--model", "vgg12", "--timesteps", "2"]) == 2
    assert "unknown model 'vgg12'; valid models: vgg11" in capsys.readouterr().err
    assert cli.main(["bench", "memory", "--model", "vgg11", "--timesteps", "2", "--input-size", "8"]) == 2
    assert "downsamples by 32" in capsys.readouterr().err


@pytest.mark.slow   # 16 s; the same measurements: test_nn.py (gradients) and the other bench tests (CLI)
def test_bench_network_check_table(capsys, tmp_path):
    assert cli.main(["bench", "network-check", "--model", "vgg_tiny", "--timesteps", "2", "--batch-size", "2",
                     "--input-size", "8", "--repeats", "1", "--configs",
                     "bptt,inverse_grad+low_memory,exact_rev:bptt,exact_rev:reverse", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "inverse_grad+low_memory" in text and "exact_rev:reverse" in text and "step_time_vs_bptt" in text
    rows = json.loads((tmp_path / "network_check_vgg_tiny_T2_B2.json").read_text())["rows"]
    assert {r["config"]: r["cosine"] for r in rows}["exact_rev:reverse"] >= 0.99999
    assert (tmp_path / "network_check_vgg_tiny_T2_B2.csv").exists()


def test_train_cifar10_one_epoch_end_to_end_on_mock_data(capsys, tmp_path):
    import tensorflow_datasets as tfds
    workdir = tmp_path / "run"
    with tfds.testing.mock_data(num_examples=40, policy=tfds.testing.MockPolicy.USE_CODE):
        assert cli.main(["train", "--dataset", "cifar10", "--model", "vgg_tiny", "--timesteps", "2", "--epochs", "1",
                         "--batch-size", "16", "--workdir", str(workdir), "--json", "--no-progress"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert set(result) >= {"test_accuracy", "train_accuracy", "epochs", "strategy", "wall_seconds"}
    assert result["epochs"] == 1 and result["strategy"] == "inverse_grad" and result["dataset"] == "cifar10"
    assert 0.0 <= result["test_accuracy"] <= 1.0 and result["wall_seconds"] > 0
    (record,) = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert record["epoch"] == 1 and record["step"] == 2   # 40 // 16 full batches
    assert record["test_accuracy"] == result["test_accuracy"]
    assert "epoch 1/1: train loss" in captured.err
    assert json.loads((workdir / "config.json").read_text())["model"] == "vgg_tiny"
    assert os.listdir(workdir / "checkpoints") == ["1"]
    assert cli.main(["plot", str(workdir)]) == 0
    assert (workdir / "curves.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv,message", [
    (["--model", "vgg7"], "unknown model 'vgg7'; valid models: vgg11, vgg13"),
    (["--batch-size", "5000"], "batch size 5000 is larger than the training set (1437)"),
])
def test_train_bad_input_is_one_line(capsys, tmp_path, argv, message):
    assert cli.main(["train", "--workdir", str(tmp_path / "w"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("revsnn: error: ") and message in err and "Traceback" not in err


@pytest.mark.parametrize("flag,value", [("--dataset", "mnist"), ("--strategy", "adjoint")])
def test_train_unknown_choice_lists_valid_names(capsys, flag, value):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", flag, value])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"invalid choice: '{value}'" in err and ("cifar100" in err or "inverse_grad" in err)


def test_config_file_then_explicit_flags(tmp_path):
    path = tmp_path / "cfg.py"
    path.write_text('def get_config():\n    return {"model": "vgg_tiny", "epochs": 3, "alpha": 0.3}\n')
    args = cli.build_parser().parse_args(["train", "--config", str(path), "--epochs", "5"])
    values = cli.train_config_values(args)
    assert values == {"model": "vgg_tiny", "epochs": 5, "alpha": 0.3}
    args = cli.build_parser().parse_args(["train"])
    assert cli.train_config_values(args) == {}   # nothing given: TrainConfig's defaults apply
    path.write_text('def get_config():\n    return {"modle": "vgg_tiny"}\n')
    with pytest.raises(ValueError, match="unknown fields modle"):
        cli.train_config_values(cli.build_parser().parse_args(["train", "--config", str(path)]))


def test_train_help_covers_every_config_field(capsys):
    import dataclasses

    from revsnn_jax.train import TrainConfig
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = capsys.readouterr().out
    for field in dataclasses.fields(TrainConfig):
        assert "--" + field.name.replace("_", "-") in text, field.name


@pytest.mark.slow   # ~90 s of interleaved timing
def test_bench_time_json_reports_ratios_and_flops(capsys, tmp_path):
    assert cli.main(["bench", "time", "--model", "vgg_tiny", "--timesteps", "3", "--batch-size", "2",
                     "--repeats", "1", "--json", "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["config"]: r for r in out["rows"]}
    assert set(rows) == {"bptt", "checkpoint", "reversible", "inverse_grad", "inverse_grad+keep_convs",
                         "exact_rev:reverse"}
    assert rows["bptt"]["step_vs_bptt"] == 1.0 and rows["reversible"]["backward_vs_reversible"] == 1.0
    assert all(r["step_vs_bptt"] > 0 for r in rows.values())
    assert "backward_s" not in rows["bptt"]   # CPU: ratios only
    # the closed-form neuron VJP does less work than autodiff through the neuron
    assert 0 < rows["inverse_grad"]["step_vjp_flops"] < rows["reversible"]["step_vjp_flops"]
    assert (tmp_path / "time_vgg_tiny_T3_B2.csv").exists()


@pytest.mark.slow   # ~40 s of compiles and timing
def test_bench_time_on_event_frames_with_schedule_settings(capsys, tmp_path):
    assert cli.main(["bench", "time", "--model", "vgg_tiny", "--timesteps", "6", "--batch-size", "2", "--frames",
                     "--input-size", "8", "--configs", "bptt,reversible,inverse_grad+binomial[slots=1]",
                     "--repeats", "1", "--json", "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["config"]: r for r in out["rows"]}
    assert out["frames"] and out["input_size"] == 8
    # one slot at T=6: the optimal schedule recomputes 5 steps in all (tests/test_schedules.py checks the optimum)
    assert rows["inverse_grad+binomial[slots=1]"]["recompute_forwards"] == round(5 / 6, 3)
    assert (tmp_path / "time_vgg_tiny_frames8_T6_B2.csv").exists()


def test_bench_time_skips_what_does_not_fit_and_names_a_missing_reference(monkeypatch):
    from revsnn_jax.bench import network, tables
    res = network.network_phase_times("vgg_tiny", timesteps=2, batch_size=2, input_size=8, configs=("bptt",),
                                      limit_bytes=1)
    assert res["bptt"]["skipped"].startswith("needs ") and "MiB, more than the 0.0 MiB here" in res["bptt"]["skipped"]
    monkeypatch.setattr(tables, "device_memory", lambda: (1, "RAM"))
    with pytest.raises(InputError, match=r"bptt needs .* \(the ratios are taken against it\)"):
        tables.time_rows("vgg_tiny", 2, 2, 1, False, ("bptt", "reversible"), input_size=8)


@pytest.mark.slow   # 8 s; the same measurements and CLI path as the other bench tests
def test_bench_step_times_the_pieces_of_a_step_vjp(capsys, tmp_path):
    assert cli.main(["bench", "step", "--model", "vgg_tiny", "--batch-size", "2", "--repeats", "1", "--json",
                     "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["part"]: r for r in out["rows"]}
    assert set(rows) == {"forward", "vjp_reversible", "vjp_inverse_grad", "vjp_inverse_grad_replayed", "vjp_lif",
                         "rebuild_exact_rev", "vjp_exact_rev_replayed"}
    assert rows["vjp_reversible"]["time_vs_vjp_reversible"] == 1.0
    assert "seconds" not in rows["forward"]   # CPU: ratios only
    flops = {part: r["flops"] for part, r in rows.items()}
    # a VJP includes its forward; replaying the recorded convolutions removes their forward FLOPs
    assert 0 < flops["forward"] < flops["vjp_inverse_grad_replayed"] < flops["vjp_inverse_grad"]
    assert flops["vjp_inverse_grad"] < flops["vjp_reversible"]
    assert set(out["summary"]) == {"closed_form_vjp_vs_autodiff", "lif_vjp_vs_reversible_neuron",
                                   "conv_forward_share_of_vjp", "backward_vs_forward",
                                   "exact_reverse_step_vs_anchored_step"}
    assert 0 < flops["rebuild_exact_rev"] < flops["vjp_exact_rev_replayed"]
    assert json.loads((tmp_path / "step_anatomy_vgg_tiny_B2.json").read_text())["rows"] == out["rows"]


@pytest.mark.slow   # 10 s; bench memory: test_bench_memory_json_has_the_documented_shape
def test_bench_memory_over_several_t_writes_csv_and_a_plot(capsys, tmp_path):
    assert cli.main(["bench", "memory", "--model", "vgg_tiny", "--timesteps", "2,4", "--batch-size", "2",
                     "--input-size", "8", "--configs", "bptt,exact_rev:reverse", "--out", str(tmp_path)]) == 0
    assert "exact_rev:reverse" in capsys.readouterr().out
    info = json.loads((tmp_path / "memory_vgg_tiny_T2-4_B2.json").read_text())
    assert info["command"].startswith("revsnn bench memory --model vgg_tiny --timesteps 2,4")   # the argv given
    assert {(r["timesteps"], r["config"]) for r in info["rows"]} == {(2, "bptt"), (2, "exact_rev:reverse"),
                                                                     (4, "bptt"), (4, "exact_rev:reverse")}
    assert (tmp_path / "memory_vgg_tiny_T2-4_B2.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow   # ~65 s: two extra compiles in a fresh process
def test_bench_memory_lists_the_largest_buffers_from_xla(capsys, tmp_path):
    """BPTT keeps [T, B, ...] residuals; the time reversal keeps none of float size: only per-step tensors and
    the packed bits (uint8)."""
    assert cli.main(["bench", "memory", "--model", "vgg_tiny", "--timesteps", "5", "--batch-size", "2",
                     "--input-size", "8", "--configs", "bptt,exact_rev:reverse", "--buffers", "3",
                     "--out", str(tmp_path)]) == 0
    assert "largest temp buffers by shape" in capsys.readouterr().out
    buffers = json.loads((tmp_path / "memory_vgg_tiny_T5_B2.json").read_text())["largest_buffers"]
    assert [len(v) for v in buffers.values()] == [3, 3]
    assert buffers["bptt T=5"][0]["shape"].startswith("f32[5,2,")
    assert not any(b["shape"].startswith("f32[5,") for b in buffers["exact_rev:reverse T=5"])
    assert all([b["bytes"] for b in v] == sorted((b["bytes"] for b in v), reverse=True) for v in buffers.values())


@pytest.mark.parametrize("argv,message", [
    (["bench", "memory", "--configs", "bptt,foo"], "unknown configuration 'foo'"),
    (["bench", "memory", "--configs", "reverse"], "exact inverse .* has none \\(write exact_rev:reverse\\)"),
    (["bench", "memory", "--grid", "--model", "vgg11"], "--grid runs its own models"),
    (["bench", "time", "--configs", "bptt,checkpoint"], "--configs must include reversible"),
])
def test_benchmark_input_is_checked_before_anything_is_measured(capsys, argv, message):
    import time
    t0 = time.perf_counter()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err
    assert time.perf_counter() - t0 < 10


@pytest.mark.slow   # 9 s; the FLOP counts: test_strategies.py (closed form vs autodiff)
def test_bench_neuron_time_reports_rule_and_per_step_flops(capsys):
    assert cli.main(["bench", "neuron-time", "--timesteps", "4", "--batch-size", "2", "--width", "16",
                     "--repeats", "1", "--json"]) == 0
    rows = {r["config"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["rev/anchored+closed_form"]["rule_flops"] < rows["rev/anchored"]["rule_flops"]
    assert rows["rev/anchored"]["backward_vs_rev_anchored"] == 1.0


@pytest.mark.parametrize("argv", [["--neuron", "exact_rev", "--strategy", "reverse"],
                                  ["--neuron", "plif", "--strategy", "anchored+low_memory", "--encoding", "frames"]])
def test_train_new_neurons_strategies_and_encodings_end_to_end(capsys, tmp_path, argv):
    workdir = tmp_path / "run"
    assert cli.main(["train", "--model", "vgg_tiny", "--timesteps", "2", "--epochs", "1", "--batch-size", "256",
                     "--workdir", str(workdir), "--json", "--no-progress", *argv]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["strategy"] == argv[3] and 0.0 <= result["test_accuracy"] <= 1.0
    config = json.loads((workdir / "config.json").read_text())
    assert config["neuron"] == argv[1] and config["encoding"] == ("frames" if "frames" in argv else "direct")


def test_train_with_each_method_through_the_cli(capsys, tmp_path):
    """--method ottt/dsr end to end on the digits: the run records its method, and a resume with another method is
    refused (it would change the arithmetic of training)."""
    for method, neuron in (("ottt", "lif"), ("dsr", "dsr_if")):
        workdir = tmp_path / method
        assert cli.main(["train", "--method", method, "--neuron", neuron, "--model", "vgg_tiny", "--epochs", "1",
                         "--workdir", str(workdir), "--no-progress", "--json"]) == 0
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["method"] == method and summary["status"] == "completed" and summary["test_accuracy"] > 0.1
    assert cli.main(["train", "--method", "sltt", "--neuron", "lif", "--model", "vgg_tiny", "--epochs", "2",
                     "--workdir", str(tmp_path / "ottt"), "--resume", "--no-progress"]) == 2
    assert "method" in capsys.readouterr().err


def test_bench_memory_takes_methods_in_configuration_labels(capsys):
    assert cli.main(["bench", "memory", "--model", "vgg_tiny", "--timesteps", "2,6", "--batch-size", "2",
                     "--input-size", "8", "--configs", "lif[soft_reset=true,decay_input=false]:ottt,dsr_if:dsr",
                     "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    ottt = [r["temp_bytes"] for r in rows if r["config"] == "lif[soft_reset=true,decay_input=false]:ottt"]
    assert abs(ottt[1] / ottt[0] - 1) < 0.05                      # flat in T
    dsr = [r["temp_bytes"] for r in rows if r["config"] == "dsr_if:dsr"]
    assert dsr[1] > 2 * dsr[0]                                    # DSR keeps every step's conv/BN inputs
    assert cli.main(["bench", "memory", "--model", "vgg_tiny", "--configs", "lif:ottt+low_memory"]) == 2
    assert "only dsr+low_memory" in capsys.readouterr().err
