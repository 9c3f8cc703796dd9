"""SIGKILL at random points, then ``--resume``: does every run end bit-identical to an uninterrupted one?

Command (writes ``docs/results/kill_resume.{csv,json}``)::

    python experiments/kill_resume.py --trials 10 --seed 0 --out docs/results

One uninterrupted ``revsnn train`` (vgg_tiny on digits, T=2, batch 64, 6 epochs of 22 steps) is the reference;
it also measures when training starts (the "compiled" line on stderr, after imports, data and compilation).
Each trial starts the same command and sends SIGKILL at a random moment of its own training: ``u`` seconds after
its "compiled" line, ``u`` drawn uniformly from [-2 s, the reference's training time] (seeded: trial ``i`` draws
from ``numpy.random.default_rng([seed, i])``; start-up takes most of a tiny run's wall time, so times counted from
the start would mostly kill before training). It records what the kill left
(complete checkpoints, half-written checkpoint folders, metric lines, the lock file), then runs the same command
with ``--resume`` to the end and compares the final checkpoint (every array of params, BatchNorm statistics,
optimizer state and step) and the metric records (timing fields aside) with the reference's. SIGKILL gives the
run no chance to clean up: it tests what is on disk at any instant. Expected: every trial ``identical``, about
20 s per trial on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import jax
import numpy as np

FLAGS = ["--model", "vgg_tiny", "--batch-size", "64", "--timesteps", "2", "--epochs", "6", "--no-progress"]
TIMING = ("epoch_seconds", "images_per_second")


def _train(workdir: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "revsnn_jax.cli", "train", *FLAGS, "--workdir", workdir, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _watch(proc: subprocess.Popen, compiled: threading.Event) -> None:
    for line in proc.stderr:
        if line.startswith("compiled in"):
            compiled.set()


def _final(workdir: str):
    from revsnn_jax import data, train
    from revsnn_jax.train import checkpoints
    cfg = train.TrainConfig(model="vgg_tiny", batch_size=64, timesteps=2, epochs=6).resolved()
    _, like, _, _ = train.build(cfg, data.load(cfg.dataset), train.data_mesh())
    state, meta = checkpoints.restore(workdir, like, notice=lambda m: None)
    records = [{k: v for k, v in r.items() if k not in TIMING} for r in train.read_metrics(workdir)]
    return [np.asarray(a) for a in jax.tree.leaves(state)], records, meta["epochs_done"]


def _left_behind(workdir: str) -> dict:
    ckpt = os.path.join(workdir, "checkpoints")
    names = os.listdir(ckpt) if os.path.isdir(ckpt) else []
    metrics = os.path.join(workdir, "metrics.jsonl")
    lines = open(metrics).read().count("\n") if os.path.exists(metrics) else 0
    return {"complete_checkpoints": ",".join(sorted(n for n in names if n.isdigit())),
            "partial_checkpoints": sum(not n.isdigit() for n in names), "metric_lines": lines,
            "lock_file_left": os.path.exists(os.path.join(workdir, ".lock"))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/results")
    args = parser.parse_args(argv)
    scratch = tempfile.mkdtemp(prefix="kill_resume_")
    try:
        ref_dir = os.path.join(scratch, "reference")
        t0 = time.perf_counter()
        proc = _train(ref_dir)
        err, training_at = [], None
        for line in proc.stderr:   # stderr line by line, as it comes
            err.append(line)
            if training_at is None and line.startswith("compiled in"):
                training_at = time.perf_counter() - t0
        proc.wait()
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or training_at is None:
            raise SystemExit("the reference run failed:\n" + "".join(err))
        ref_state, ref_records, _ = _final(ref_dir)
        print(f"reference: {wall:.1f} s, training from {training_at:.1f} s", file=sys.stderr, flush=True)
        rows = []
        for trial in range(args.trials):
            offset = float(np.random.default_rng([args.seed, trial]).uniform(-2.0, wall - training_at))
            workdir = os.path.join(scratch, f"trial{trial}")
            proc = _train(workdir)
            compiled = threading.Event()
            started = time.perf_counter()
            threading.Thread(target=_watch, args=(proc, compiled), daemon=True).start()
            if offset >= 0:
                compiled.wait(600)
                time.sleep(offset)
            else:   # before the "compiled" line: during compilation (or earlier, if compiling is fast)
                time.sleep(max(training_at + offset, 0.5))
            kill_at = time.perf_counter() - started
            finished_first = proc.poll() is not None
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            left = _left_behind(workdir) if os.path.isdir(workdir) else {"complete_checkpoints": "", "metric_lines": 0,
                                                                         "partial_checkpoints": 0,
                                                                         "lock_file_left": False}
            resumed = _train(workdir, "--resume")
            _, err = resumed.communicate()
            state, records, epochs = _final(workdir) if resumed.returncode == 0 else (None, None, None)
            identical = (state is not None and len(state) == len(ref_state)
                         and all(np.array_equal(a, b) for a, b in zip(state, ref_state)) and records == ref_records)
            notices = [line for line in err.splitlines() if line.startswith(("resuming", "no checkpoint", "dropped",
                                                                             "recovered", "checkpoint"))]
            rows.append({"trial": trial, "offset_from_training_start_s": round(offset, 2),
                         "kill_after_s": round(kill_at, 2), "finished_before_kill": finished_first,
                         **left, "resume_exit": resumed.returncode, "resume_notices": " | ".join(notices),
                         "epochs_done": epochs, "identical": identical})
            print(f"trial {trial}: killed {offset:+.1f} s from training start ({kill_at:.1f} s), left {left}; "
                  f"resumed -> identical={identical}",
                  file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "kill_resume.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = {"trials": len(rows), "identical": sum(r["identical"] for r in rows),
               "killed_mid_run": sum(not r["finished_before_kill"] for r in rows)}
    with open(os.path.join(args.out, "kill_resume.json"), "w") as f:
        json.dump({"command": "python experiments/kill_resume.py " + " ".join(argv or sys.argv[1:]),
                   "jax": jax.__version__, "reference_wall_seconds": round(wall, 1),
                   "reference_training_from_seconds": round(training_at, 1), "flags": FLAGS,
                   "summary": summary, "rows": rows}, f, indent=1)
        f.write("\n")
    print(json.dumps(summary))
    return 0 if summary["identical"] == summary["trials"] else 1


if __name__ == "__main__":
    sys.exit(main())
