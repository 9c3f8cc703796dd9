import json

import pytest

from revsnn_jax import cli


def test_bench_neuron_memory_json(capsys, tmp_path):
    assert cli.main(["bench", "neuron-memory", "--timesteps", "2,8", "--batch-size", "2", "--width", "64",
                     "--json", "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    labels = {r["config"] for r in out["rows"]}
    assert {"rev/bptt", "rev/reversible", "rev/inverse_grad"} <= labels
    assert {r["timesteps"] for r in out["rows"]} == {2, 8}
    assert all(r["temp_bytes"] >= 0 for r in out["rows"])
    assert (tmp_path / "neuron_memory.csv").read_text().startswith("config,timesteps")


def test_bench_neuron_grad_table(capsys):
    assert cli.main(["bench", "neuron-grad", "--timesteps", "3", "--batch-size", "2", "--width", "16"]) == 0
    text = capsys.readouterr().out
    assert "rev/inverse_grad " in text and "relative_error" in text


def test_bad_flag_values_exit_with_a_message(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "neuron-memory", "--timesteps", "0,4"])
    assert "positive integers" in capsys.readouterr().err
    assert cli.main(["bench", "neuron-grad", "--groups", "3", "--width", "16", "--timesteps", "2"]) == 2
    assert "groups=3 does not divide the last axis (16)" in capsys.readouterr().err


def test_bench_memory_json_has_the_documented_shape(capsys):
    assert cli.main(["bench", "memory", "--model", "vgg_tiny", "--timesteps", "3", "--batch-size", "2",
                     "--input-size", "8", "--configs", "bptt,inverse_grad+low_memory", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
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


def test_bench_network_check_table(capsys, tmp_path):
    assert cli.main(["bench", "network-check", "--model", "vgg_tiny", "--timesteps", "2", "--batch-size", "2",
                     "--input-size", "8", "--repeats", "1", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "inverse_grad+low_memory" in text and "step_time_vs_bptt" in text
    assert (tmp_path / "network_check_vgg_tiny_T2_B2.csv").exists()
