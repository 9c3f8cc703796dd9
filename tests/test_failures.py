"""Training that fails loudly and loses nothing: divergence, one writer per workdir, damaged checkpoints, early
checks, signals. A tiny run throughout: vgg_tiny on digits, 5 steps per epoch, 3 epochs (the two newest
checkpoints kept are 2 and 3)."""

import dataclasses
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import chex
import jax
import numpy as np
import pytest

from revsnn_jax import cli, data, train
from revsnn_jax.train import checkpoints, rundir
from revsnn_jax.errors import InputError

TINY = train.TrainConfig(model="vgg_tiny", batch_size=256, epochs=3, timesteps=2)
TINY_FLAGS = ["--model", "vgg_tiny", "--batch-size", "256", "--epochs", "3", "--timesteps", "2", "--no-progress"]
TIMING = ("epoch_seconds", "images_per_second")


def _strict_lines(path) -> list[dict]:
    """Every line of a file as standard JSON (NaN/Infinity rejected, unlike json.loads' default)."""
    def reject(name):
        raise ValueError(f"non-standard JSON constant {name}")
    with open(path) as f:
        return [json.loads(line, parse_constant=reject) for line in f if line.strip()]


def _records(workdir) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in train.read_metrics(str(workdir))]


def _state(workdir) -> dict:
    cfg = TINY.resolved()
    _, like, _, _ = train.build(cfg, data.load(cfg.dataset), train.data_mesh())
    state, _ = checkpoints.restore(str(workdir), like, notice=lambda m: None)
    return state


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted TINY run: its workdir, epoch records and final state."""
    workdir = tmp_path_factory.mktemp("reference") / "run"
    summary = train.train_and_evaluate(TINY, str(workdir), progress=False, log=io.StringIO())
    assert summary["status"] == "completed"
    return {"workdir": workdir, "records": _records(workdir), "state": _state(workdir)}


def _copy(reference, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(reference["workdir"], target)
    return target


def _poison(monkeypatch, epoch: int, batch: int):
    """Batch ``batch`` of epoch ``epoch`` (0-based) gets NaN images: a non-finite loss at that step."""
    original = data.train_batches

    def batches(ds, batch_size, seed, e, augment, start=0, **kwargs):
        for b, (images, labels) in enumerate(original(ds, batch_size, seed, e, augment, start, **kwargs)):
            yield (images * np.nan if (e, b) == (epoch, batch) else images), labels

    monkeypatch.setattr(data, "train_batches", batches)


# --- divergence ----------------------------------------------------------------------------------------------

def test_divergence_stops_keeps_the_last_finite_checkpoint_and_resumes_exactly(reference, tmp_path, monkeypatch):
    workdir = tmp_path / "run"
    _poison(monkeypatch, epoch=1, batch=2)
    log = io.StringIO()
    summary = train.train_and_evaluate(TINY, str(workdir), progress=False, log=log)
    assert summary["status"] == "diverged" and summary["epochs_done"] == 1
    assert summary["diverged_at"] == {"epoch": 2, "step": 8, "where": "training", "loss": None}
    assert "training diverged: step 8 (epoch 2) had a non-finite loss or gradient; the checkpoint of epoch 1 " \
           "stays the newest" in log.getvalue()
    assert checkpoints.steps(str(workdir)) == [1]
    lines = _strict_lines(workdir / "metrics.jsonl")   # standard JSON throughout
    assert [r.get("event") for r in lines] == [None, "diverged"]
    assert _records(workdir) == reference["records"][:1]
    monkeypatch.undo()   # the bad input fixed: the resumed run ends exactly where the uninterrupted one did
    resumed = train.train_and_evaluate(TINY, str(workdir), resume=True, progress=False, log=io.StringIO())
    assert resumed["status"] == "completed"
    assert _records(workdir) == reference["records"]
    chex.assert_trees_all_equal(_state(workdir), reference["state"])
    assert [r.get("event") for r in _strict_lines(workdir / "metrics.jsonl")] == [None, "diverged", None, None]


@pytest.mark.slow   # 10 s; non-finite steps: test_divergence_stops_keeps_the_last_finite_checkpoint_and_resumes_exactly
def test_skip_step_leaves_the_state_unchanged_for_that_batch_and_counts_it(reference, tmp_path, monkeypatch):
    skip = dataclasses.replace(TINY, on_nonfinite="skip-step")
    _poison(monkeypatch, epoch=0, batch=1)
    summary = train.train_and_evaluate(skip, str(tmp_path / "skip"), progress=False, log=io.StringIO())
    assert summary["status"] == "completed" and summary["skipped_steps"] == 1
    records = _records(tmp_path / "skip")
    assert [r["skipped_steps"] for r in records] == [1, 0, 0]
    assert all(np.isfinite(r["train_loss"]) and np.isfinite(r["test_loss"]) for r in records)
    state = _state(tmp_path / "skip")
    assert bool(train.all_finite(state)) and int(state["step"]) == 15
    # the skipped step changed nothing: the optimizer's own step count (in its schedule state) is one behind
    assert [int(c) for c in jax.tree.leaves(state["opt_state"]) if np.ndim(c) == 0] == [14]
    monkeypatch.undo()
    # with every step finite, skip-step is the same run as stop, bit for bit (the select keeps the new values)
    clean = train.train_and_evaluate(skip, str(tmp_path / "clean"), progress=False, log=io.StringIO())
    assert clean["skipped_steps"] == 0
    assert [{k: v for k, v in r.items() if k != "skipped_steps"} for r in _records(tmp_path / "clean")] == \
        reference["records"]
    chex.assert_trees_all_equal(_state(tmp_path / "clean"), reference["state"])


def test_cli_divergence_exits_3_with_valid_json_and_plot_refuses(tmp_path, capsys):
    workdir = str(tmp_path / "run")
    rc = cli.main(["train", *TINY_FLAGS, "--learning-rate", "1e6", "--json", "--workdir", workdir])
    out, err = capsys.readouterr()
    assert rc == 3
    summary = json.loads(out.strip().splitlines()[-1], parse_constant=lambda c: pytest.fail(c))
    assert summary["status"] == "diverged" and summary["epochs_done"] == 0
    assert "training diverged:" in err and "lower --learning-rate" in err and "Traceback" not in err
    assert checkpoints.steps(workdir) == []   # nothing non-finite was saved
    assert all(r.get("event") == "diverged" for r in _strict_lines(os.path.join(workdir, "metrics.jsonl")))
    assert cli.main(["plot", workdir]) == 2
    assert "no finished epoch" in capsys.readouterr().err


# --- one writer per workdir ----------------------------------------------------------------------------------

def test_a_second_run_is_refused_at_once_and_a_stale_lock_is_recovered(tmp_path, monkeypatch):
    workdir = tmp_path / "run"
    workdir.mkdir()
    held = rundir.Lock(str(workdir)).acquire()
    loaded = []
    monkeypatch.setattr(data, "load", lambda *a: loaded.append(a) or pytest.fail("data loaded"))
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=f"is in use by process {os.getpid()} on .*; wait for it"):
        train.train_and_evaluate(TINY, str(workdir), progress=False, log=io.StringIO())
    assert time.perf_counter() - t0 < 5 and not loaded
    assert os.listdir(workdir) == [".lock"]   # the holder's lock is untouched
    held.release()
    assert os.listdir(workdir) == []
    monkeypatch.undo()
    # a lock file left by a killed process (no fcntl lock behind it): taken over, and said
    (workdir / ".lock").write_text(json.dumps({"pid": 4_000_000, "host": "h", "started": "then"}))
    log = io.StringIO()
    summary = train.train_and_evaluate(dataclasses.replace(TINY, epochs=1), str(workdir), progress=False, log=log)
    assert summary["status"] == "completed"
    assert "recovered the lock of" in log.getvalue() and "process 4000000 on h (since then)" in log.getvalue()
    assert not (workdir / ".lock").exists()


def test_a_kill_before_the_first_checkpoint_never_repeats_an_epoch(reference, tmp_path):
    workdir = _copy(reference, tmp_path)
    shutil.rmtree(workdir / "checkpoints")   # killed after epoch 1's metric line, before its save
    lines = (workdir / "metrics.jsonl").read_text().splitlines(keepends=True)
    (workdir / "metrics.jsonl").write_text(lines[0])
    log = io.StringIO()
    train.train_and_evaluate(TINY, str(workdir), resume=True, progress=False, log=log)
    assert "dropped 1 line(s) of metrics.jsonl beyond the checkpoint (epoch 0)" in log.getvalue()
    assert _records(workdir) == reference["records"]
    chex.assert_trees_all_equal(_state(workdir), reference["state"])


def test_truncating_metrics_keeps_each_checkpointed_epoch_once_and_every_event(tmp_path):
    lines = [{"epoch": 1, "x": 1}, {"epoch": 1, "x": 2}, {"epoch": 2, "x": 3}, {"event": "diverged", "epoch": 3},
             {"epoch": 3, "x": 4}]
    text = "".join(json.dumps(r) + "\n" for r in lines) + '{"epoch": 4, "x"'   # and a line cut mid-write
    (tmp_path / "metrics.jsonl").write_text(text)
    assert rundir.truncate_metrics(str(tmp_path), 2) == 2
    assert _strict_lines(tmp_path / "metrics.jsonl") == [lines[0], lines[2], lines[3]]
    assert rundir.truncate_metrics(str(tmp_path), 2) == 0
    assert rundir.dumps({"a": float("nan"), "b": [float("inf"), 1.5]}) == '{"a": null, "b": [null, 1.5]}'


# --- damaged checkpoints -------------------------------------------------------------------------------------

def _truncate_largest_data_file(ckpt):
    files = [os.path.join(r, f) for r, _, fs in os.walk(ckpt / "state") for f in fs]
    with open(max(files, key=os.path.getsize), "r+b") as f:
        f.truncate(100)


def _truncate_meta(ckpt):
    path = ckpt / "meta" / "metadata"
    path.write_text(path.read_text()[:100])


DAMAGE = {"truncated data file": _truncate_largest_data_file, "truncated metadata": _truncate_meta,
          "missing state": lambda ckpt: shutil.rmtree(ckpt / "state")}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_newest_checkpoint_is_reported_and_the_previous_one_resumes(reference, tmp_path, damage):
    workdir = _copy(reference, tmp_path)
    DAMAGE[damage](workdir / "checkpoints" / "3")
    log = io.StringIO()
    summary = train.train_and_evaluate(TINY, str(workdir), resume=True, progress=False, log=log)
    notices = [line for line in log.getvalue().splitlines() if "checkpoint" in line]
    assert notices[0].startswith(f"checkpoint {workdir}/checkpoints/3 cannot be read (")
    assert notices[0].endswith(f"moved to {workdir}/damaged_checkpoints/3")
    assert notices[1] == "resuming from checkpoint 2 (epoch 2), the newest that reads"
    assert summary["status"] == "completed" and (workdir / "damaged_checkpoints" / "3").is_dir()
    assert _records(workdir) == reference["records"]
    chex.assert_trees_all_equal(_state(workdir), reference["state"])


def test_no_readable_checkpoint_is_an_error_not_a_silent_restart(reference, tmp_path):
    workdir = _copy(reference, tmp_path)
    for step in (2, 3):
        _truncate_meta(workdir / "checkpoints" / str(step))
    with pytest.raises(InputError, match="holds checkpoints that cannot be read; pass --resume"):
        train.train_and_evaluate(TINY, str(workdir), progress=False, log=io.StringIO())
    with pytest.raises(InputError, match="no checkpoint in .* can be read .*3 \\(JSONDecodeError.*; 2 \\(JSON"):
        train.train_and_evaluate(TINY, str(workdir), resume=True, progress=False, log=io.StringIO())
    assert sorted(os.listdir(workdir / "damaged_checkpoints")) == ["2", "3"]   # kept for inspection


# --- checks before work; finished runs -----------------------------------------------------------------------

def _config_file(tmp_path, text):
    path = tmp_path / "cfg.py"
    path.write_text(text)
    return ["--config", str(path)]


BAD = {
    "workdir is a file": (lambda p: ["--workdir", str(p / "file")], "workdir '{p}/file' is a file, not a folder"),
    "workdir under a file": (lambda p: ["--workdir", str(p / "file" / "run")], "'{p}/file' is a file, not a folder"),
    "workdir not creatable": (lambda p: ["--workdir", "/proc/revsnn/run"], "cannot be created"),
    "epochs a string": (lambda p: _config_file(p, "def get_config():\n    return {'epochs': '2'}\n"),
                        "epochs must be an int or None, got '2' (str)"),
    "batch size a float": (lambda p: _config_file(p, "def get_config():\n    return {'batch_size': 1.5}\n"),
                           "batch_size must be an int or None, got 1.5 (float)"),
    "get_config returns a list": (lambda p: _config_file(p, "def get_config():\n    return [1]\n"),
                                  "get_config() must return a dict of TrainConfig fields, got list"),
    "config is a folder": (lambda p: ["--config", str(p)], "is a folder; pass a Python file"),
    "anchor_every 0": (lambda p: ["--anchor-every", "0"], "anchor_every must be a positive integer, got 0"),
    "bn_momentum 5": (lambda p: ["--bn-momentum", "5"], "bn_momentum must be in [0, 1), got 5.0"),
    "batch larger than the data": (lambda p: ["--batch-size", "5000"],
                                   "batch size 5000 is larger than the training set (1437)"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_workdir_or_config_is_one_line_before_any_work_creating_nothing(tmp_path, capsys, monkeypatch, case):
    (tmp_path / "file").write_text("")
    flags, message = BAD[case]
    argv = flags(tmp_path)
    if "--workdir" not in argv:
        argv += ["--workdir", str(tmp_path / "run")]
    monkeypatch.setattr(data, "load", lambda *a: pytest.fail("data loaded"))
    before = sorted(os.listdir(tmp_path))
    assert cli.main(["train", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("revsnn: error: ") and message.format(p=tmp_path) in err
    assert sorted(os.listdir(tmp_path)) == before and not os.path.exists("/proc/revsnn")


def test_resuming_a_finished_run_trains_nothing_and_rewrites_nothing(reference, tmp_path):
    workdir = _copy(reference, tmp_path)
    before = {p: (workdir / p).read_bytes() for p in ("config.json", "metrics.jsonl")}
    log = io.StringIO()
    summary = train.train_and_evaluate(dataclasses.replace(TINY, strategy="bptt"), str(workdir), resume=True,
                                       progress=False, log=log)
    assert summary["status"] == "completed"
    assert summary["test_accuracy"] == reference["records"][-1]["test_accuracy"]
    assert "already finished its 3 epochs; nothing to train (config.json unchanged)" in log.getvalue()
    assert {p: (workdir / p).read_bytes() for p in before} == before
    assert json.loads(before["config.json"])["strategy"] == "inverse_grad"


# --- signals -------------------------------------------------------------------------------------------------

def test_ctrl_c_prints_the_resume_command_and_exits_130(tmp_path, capsys, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(train, "train_and_evaluate", interrupted)
    workdir = str(tmp_path / "run")
    assert cli.main(["train", *TINY_FLAGS, "--workdir", workdir, "--json"]) == 130
    out, err = capsys.readouterr()
    again = f"revsnn train {' '.join(TINY_FLAGS)} --workdir {workdir} --json --resume"
    assert err == f"revsnn: interrupted before the first checkpoint; continue with: {again}\n"
    assert json.loads(out) == {"status": "interrupted", "signal": "SIGINT", "epochs_done": 0, "workdir": workdir,
                               "resume_command": again}


@pytest.mark.slow   # 22 s (a subprocess); Ctrl-C and resume in-process: test_interrupt_* here
def test_sigterm_saves_ends_with_the_resume_command_and_the_resume_is_exact(reference, tmp_path):
    workdir = tmp_path / "run"
    command = [sys.executable, "-m", "revsnn_jax.cli", "train", *TINY_FLAGS, "--workdir", str(workdir)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (workdir / "checkpoints" / "1").is_dir() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert "Traceback" not in err, err
    if proc.returncode == 0:   # it finished before the signal landed: nothing to resume (rare; still checked)
        chex.assert_trees_all_equal(_state(workdir), reference["state"])
        return
    assert proc.returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("revsnn: terminated after epoch ") and last.endswith(" --resume")
    assert "(its checkpoint is saved); continue with: revsnn train " in last
    again = subprocess.run([sys.executable, "-m", "revsnn_jax.cli", *last.split("continue with: revsnn ")[1].split()],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    assert "resuming" in again.stderr and "epoch 3/3" in again.stderr
    assert _records(workdir) == reference["records"]
    chex.assert_trees_all_equal(_state(workdir), reference["state"])
