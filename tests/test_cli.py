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
