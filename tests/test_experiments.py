"""Every experiment config passes a dry run (build the model, compile one step on a tiny batch); the scripts run."""

import glob
import json
import os
import subprocess
import sys

import pytest

from revsnn_jax import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "experiments", "configs", "*.py")))


def test_there_are_configs_for_the_paper_rows():
    names = {os.path.basename(p) for p in CONFIGS}
    assert {"cifar10_resnet18_T4.py", "cifar100_resnet18_T4.py", "digits_default.py"} <= names


# A dry run compiles a paper-sized model (12-30 s each here): only the offline configs' dry runs are in the default
# tier, every other config's in the slow tier (which CI runs too); every config still resolves below by default.
FAST_DRY_RUNS = {"digits_default.py", "event_digits_T20.py"}


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_every_config_resolves(path):
    values = train.load_config_file(path)
    cfg = train.TrainConfig(**values).resolved()
    assert cfg.model == values["model"] and cfg.dataset == values["dataset"]


@pytest.mark.parametrize("path", [p if os.path.basename(p) in FAST_DRY_RUNS else pytest.param(p, marks=pytest.mark.slow)
                                  for p in CONFIGS], ids=os.path.basename)
def test_config_dry_run(path):
    values = train.load_config_file(path)
    doc = open(path).read()
    assert f"--config experiments/configs/{os.path.basename(path)}" in doc, "docstring must carry its command"
    assert "Expected" in doc
    cfg = train.TrainConfig(**{**values, "batch_size": 2})
    out = train.dry_run(cfg)
    assert out["model"] == values["model"] and out["dataset"] == values["dataset"]
    assert out["temp_bytes"] > 0 and out["parameters"] > 0


def _script(name, *args, tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", name), *args, "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow   # 19 s (a subprocess running a sweep)
def test_ablation_script_writes_its_results(tmp_path):
    proc = _script("ablation.py", "--param", "groups", "--values", "2,4", "--seeds", "0", "--epochs", "1",
                   tmp_path=tmp_path)
    out = json.loads((tmp_path / "ablation_groups.json").read_text())
    assert [s["groups"] for s in out["summary"]] == [2, 4] and out["model"] == "vgg_digits144"
    assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in out["rows"])
    assert (tmp_path / "ablation_groups.png").read_bytes()[:4] == b"\x89PNG"
    assert "groups=4:" in proc.stdout


@pytest.mark.slow   # 19 s (a subprocess running training)
def test_digits_strategies_script_writes_its_results(tmp_path):
    _script("digits_strategies.py", "--seeds", "0", "--strategies", "inverse_grad", "--epochs", "1",
            tmp_path=tmp_path)
    out = json.loads((tmp_path / "digits_strategies.json").read_text())
    assert list(out["summary"]) == ["inverse_grad"] and out["rows"][0]["epochs"] == 1
    assert (tmp_path / "digits_runs" / "inverse_grad-seed0.jsonl").exists()


@pytest.mark.slow   # 71 s: the GPU script's smoke run (it runs for real only on a GPU)
def test_gpu_check_runs_on_cpu_with_small_shapes(tmp_path):
    _script("gpu_check.py", "--smoke", tmp_path=tmp_path)
    out = json.loads((tmp_path / "gpu_check.json").read_text())
    rows = {r["config"]: r for r in out["rows"]}
    assert set(rows) == {"bptt", "inverse_grad", "exact_rev:reverse"}
    assert all(r["temp_bytes"] > 0 and r["step_seconds_median"] > 0 and r["params_finite_after_steps"]
               for r in rows.values())
    assert rows["exact_rev:reverse"]["peak_bytes_in_use"] is None or out["backend"] != "cpu"
    check = {r["snap"]: r for r in out["exactness"]}
    assert check[True]["v0_check_passed"] and check[True]["cosine"] >= 0.99999
