"""Figures a refactor must leave unchanged, printed as one JSON object (run it before and after; diff the files).

Everything goes through the ``revsnn`` command line, so the same script measures any version of the library:

* ``memory``: ``revsnn bench memory --model vgg19 --timesteps 20 --batch-size 128`` (XLA temp bytes of one
  training step per configuration; byte-identical is the bar);
* ``default_train``: ``revsnn train`` with its defaults (seed 0): the final test loss and accuracy;
* ``methods``: a short digits run (2 epochs) of each training method (exact, ottt, sltt, dsr, dspike, sparse):
  the per-epoch train and test losses.

Commands::

    python experiments/behaviour_check.py --out /tmp/after.json
    PYTHONPATH=/path/to/old/checkout python experiments/behaviour_check.py --out /tmp/before.json
    python experiments/behaviour_check.py --compare /tmp/before.json /tmp/after.json

``--skip memory,default_train`` leaves parts out (the VGG-19 compile takes a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

METHOD_RUNS = {
    "exact": [],
    "ottt": ["--method", "ottt", "--neuron", "lif", "--decay-input", "false", "--soft-reset", "true"],
    "sltt": ["--method", "sltt", "--neuron", "lif"],
    "dsr": ["--method", "dsr", "--neuron", "dsr_if"],
    "dspike": ["--surrogate", "dspike"],
    "sparse": ["--sparse-final-density", "0.2", "--sparse-every", "5"],
}


def revsnn(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "revsnn_jax.cli", *args, "--json"], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"revsnn {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def metrics(workdir: str) -> list[dict]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    keep = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "density", "surrogate_temperature")
    return [{k: r[k] for k in keep if k in r} for r in rows if "epoch" in r]


def measure(skip: set[str]) -> dict:
    result = {}
    if "memory" not in skip:
        out = revsnn("bench", "memory", "--model", "vgg19", "--timesteps", "20", "--batch-size", "128")
        result["memory"] = {label: r["temp_bytes"] for label, r in out["results"].items()}
    with tempfile.TemporaryDirectory() as tmp:
        if "default_train" not in skip:
            summary = revsnn("train", "--workdir", os.path.join(tmp, "default"), "--no-progress")
            result["default_train"] = {k: summary[k] for k in ("test_loss", "test_accuracy", "train_loss")}
        if "methods" not in skip:
            result["methods"] = {}
            for name, flags in METHOD_RUNS.items():
                workdir = os.path.join(tmp, name)
                revsnn("train", "--epochs", "2", "--workdir", workdir, "--no-progress", *flags)
                result["methods"][name] = metrics(workdir)
                print(f"{name}: {result['methods'][name][-1]}", file=sys.stderr, flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="write the JSON here (default: stdout only)")
    parser.add_argument("--skip", default="", help="comma-separated parts to leave out: memory, default_train, "
                        "methods")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), help="compare two saved results")
    args = parser.parse_args()
    if args.compare:
        with open(args.compare[0]) as f:
            before = json.load(f)
        with open(args.compare[1]) as f:
            after = json.load(f)
        same = {k: before.get(k) == after.get(k) for k in sorted(set(before) | set(after))}
        print(json.dumps(same))
        return 0 if all(same.values()) else 1
    result = measure({s.strip() for s in args.skip.split(",") if s.strip()})
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
