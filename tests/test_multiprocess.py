"""Two processes on 127.0.0.1 (CPU collectives over gloo) through ``revsnn train``: equal to one process with the same
global batch, one writer, a refused mismatch, the loss of a process ending the other within 60 s, and an exact
resume of both."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from revsnn_jax.train.distributed import free_port

TINY = ["--model", "vgg_tiny", "--timesteps", "2", "--batch-size", "64", "--no-progress", "--json"]


def launch(workdir, args, n=2, resume=False, port=None):
    """``n`` processes of one run; returns the Popen objects (stdout and stderr captured)."""
    port = port or free_port()
    env = {**os.environ, "XLA_FLAGS": ""}   # one CPU device per process
    return [subprocess.Popen([sys.executable, "-m", "revsnn_jax.cli", "train", "--workdir", str(workdir), *args,
                              *(["--resume"] if resume else []), "--coordinator-address", f"127.0.0.1:{port}",
                              "--num-processes", str(n), "--process-id", str(i)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for i in range(n)]


def finish(procs, timeout=300):
    outs = [p.communicate(timeout=timeout) for p in procs]
    return [p.returncode for p in procs], [o for o, _ in outs], [e for _, e in outs]


def single(workdir, args, devices=1):
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    run = subprocess.run([sys.executable, "-m", "revsnn_jax.cli", "train", "--workdir", str(workdir), *args],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def records(workdir):
    return [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]


def close(a, b, rel):
    return abs(a - b) <= rel * abs(b)


@pytest.mark.slow   # 35 s; the default tier keeps the 2-process smoke test below
def test_two_processes_train_as_one_process_with_the_same_global_batch(tmp_path):
    args = TINY + ["--epochs", "2"]
    compare_with_one_process(tmp_path, args)


@pytest.mark.slow   # ~40 s each
@pytest.mark.parametrize("extra", [["--strategy", "inverse_grad", "--low-memory"], ["--dataset", "event_digits"]])
def test_two_processes_equal_one_process_low_memory_and_event_frames(tmp_path, monkeypatch, extra):
    monkeypatch.setenv("REVSNN_DATA_DIR", str(tmp_path / "data"))   # process 0 prepares the cache, then the other
    compare_with_one_process(tmp_path, TINY + ["--epochs", "1", *extra])


def compare_with_one_process(tmp_path, args):
    epochs = int(args[args.index("--epochs") + 1])
    codes, outs, errs = finish(launch(tmp_path / "two", args))
    assert codes == [0, 0], errs
    summary = json.loads(outs[0].strip().splitlines()[-1])
    assert outs[1].strip() == ""                                   # process 0 writes the summary
    assert f"epoch 1/{epochs}" in errs[0] and "epoch 1/" not in errs[1]   # and speaks for the run
    two = records(tmp_path / "two")
    assert [r["epoch"] for r in two] == list(range(1, epochs + 1))   # each epoch once
    assert json.loads((tmp_path / "two" / "config.json").read_text())["epochs"] == epochs
    assert not (tmp_path / "two" / ".lock").exists()
    # one process over two devices: the same program, the same arithmetic
    same = single(tmp_path / "one2", args, devices=2)
    for a, b in zip(two, records(tmp_path / "one2")):
        for key in ("train_loss", "test_loss", "train_accuracy", "test_accuracy"):
            assert close(a[key], b[key], 1e-5), (key, a, b)
    assert same["test_accuracy"] == summary["test_accuracy"]
    # one process on one device: the same batches; the sums are added in another order (float32), which spiking
    # thresholds amplify over the steps: the same accuracy here, losses within 1e-3
    one = single(tmp_path / "one", args)
    assert one["test_accuracy"] == summary["test_accuracy"]
    for a, b in zip(two, records(tmp_path / "one")):
        assert close(a["train_loss"], b["train_loss"], 1e-3) and close(a["test_loss"], b["test_loss"], 1e-3)


def test_processes_with_different_configurations_are_refused(tmp_path):
    port = free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "revsnn_jax.cli", "train", "--workdir", str(tmp_path / "w"),
                               *TINY, "--epochs", "1", "--learning-rate", lr, "--coordinator-address",
                               f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, lr in enumerate(("0.1", "0.2"))]
    codes, _, errs = finish(procs, timeout=300)
    assert codes == [2, 2]
    assert all("different configurations: process(es) 1 differ from process 0" in e for e in errs), errs
    assert not (tmp_path / "w").exists()


def wait_for_epoch(workdir, epoch, procs, timeout=300):
    path = os.path.join(workdir, "metrics.jsonl")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path) and sum(1 for _ in open(path)) >= epoch:
            return
        assert all(p.poll() is None for p in procs), "a process ended early"
        time.sleep(0.2)
    raise AssertionError(f"no epoch {epoch} within {timeout} s")


@pytest.mark.slow   # ~70 s each: three 2-process runs
@pytest.mark.parametrize("victim,extra", [(1, []), (0, []),   # process 0 also hosts the coordinator
                                          (1, ["--dataset", "event_digits", "--low-memory"])])
def test_losing_a_process_stops_the_other_within_a_minute_and_resume_is_exact(tmp_path, monkeypatch, victim, extra):
    monkeypatch.setenv("REVSNN_DATA_DIR", str(tmp_path / "data"))
    args = TINY + ["--epochs", "3", *extra]
    codes, outs, errs = finish(launch(tmp_path / "whole", args))
    assert codes == [0, 0], errs
    whole = json.loads(outs[0].strip().splitlines()[-1])

    procs = launch(tmp_path / "cut", args)
    wait_for_epoch(tmp_path / "cut", 1, procs)
    other = subprocess.run([sys.executable, "-m", "revsnn_jax.cli", "train", "--workdir", str(tmp_path / "cut"),
                            *args, "--resume"], capture_output=True, text=True, timeout=300)
    assert other.returncode == 2 and "is in use by" in other.stderr   # the run's lock refuses another run
    procs[victim].send_signal(signal.SIGKILL)
    start = time.monotonic()
    survivor = procs[1 - victim]
    survivor.wait(timeout=120)
    stopped_after = time.monotonic() - start
    assert stopped_after < 60 and survivor.returncode != 0, (stopped_after, survivor.returncode)
    print(f"process {1 - victim} stopped {stopped_after:.1f} s after process {victim} was killed, "
          f"exit status {survivor.returncode}")
    err = survivor.stderr.read()
    if victim == 1:   # process 0 names what happened; without its coordinator process 1 is ended by JAX
        assert "another process of this run stopped or failed" in err and "--resume" in err, err[-2000:]
    procs[victim].communicate()

    codes, outs, errs = finish(launch(tmp_path / "cut", args, resume=True))
    assert codes == [0, 0], errs
    resumed = json.loads(outs[0].strip().splitlines()[-1])
    assert f"{resumed['test_loss']:.6f}" == f"{whole['test_loss']:.6f}"
    assert [r["epoch"] for r in records(tmp_path / "cut") if "epoch" in r and "event" not in r] == [1, 2, 3]


def stopped_by_sigterm(workdir, args, which):
    """A two-process run sent SIGTERM (to process ``which``) after its first epoch: both must stop with exit 143.
    Returns their stdouts."""
    procs = launch(workdir, args)
    wait_for_epoch(workdir, 1, procs)
    procs[which].send_signal(signal.SIGTERM)
    codes, outs, errs = finish(procs, timeout=120)
    assert codes == [143, 143], errs
    return outs


@pytest.mark.slow   # ~50 s
def test_sigterm_to_one_process_stops_both_at_the_same_step_and_both_resume(tmp_path):
    args = TINY + ["--epochs", "3"]
    outs = stopped_by_sigterm(tmp_path / "w", args, which=1)
    states = [json.loads(o.strip().splitlines()[-1]) for o in outs]
    assert states[0]["status"] == states[1]["status"] == "interrupted"
    assert states[0]["epochs_done"] == states[1]["epochs_done"] >= 1
    codes, outs, errs = finish(launch(tmp_path / "w", args, resume=True))
    assert codes == [0, 0], errs
    assert [r["epoch"] for r in records(tmp_path / "w")] == [1, 2, 3]


@pytest.mark.slow   # ~40 s
def test_a_two_process_checkpoint_resumes_in_one_process(tmp_path):
    """The parameters are replicated, so another process count reads the checkpoint: two processes stopped after an
    epoch, one process finishes the run (same global batch, the same data order)."""
    args = TINY + ["--epochs", "3"]
    stopped_by_sigterm(tmp_path / "w", args, which=0)
    summary = single(tmp_path / "w", args + ["--resume"])
    assert summary["status"] == "completed"
    assert [r["epoch"] for r in records(tmp_path / "w")] == [1, 2, 3]
