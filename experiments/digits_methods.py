"""Training methods side by side on digits: OTTT, SLTT, RevOTTT, DSR, RevDSR against BPTT of the same neurons.

Every system is ``revsnn train`` on digits (vgg_digits, T=4, SGD, 30 epochs, batch 64) with one method and
neuron; each is trained for each seed, and its one-step XLA temp memory is measured at T=4 and T=20 (dry run).

==========  =====================================================================================================
system      method, neuron
==========  =====================================================================================================
bptt        exact gradient by plain BPTT, OTTT's neuron (LIF without input decay, soft reset, sigmoid surrogate 4)
ottt        OTTT_A (per-step loss, traces with lambda = 1 - 1/tau = 0.5), OTTT's neuron
sltt        SLTT (no traces), OTTT's neuron
rev         exact gradient by the paper's inverse_grad (the project's default), the paper's neuron
revottt     OTTT_A with the paper's neuron (RevOTTT; trace decay: the default chosen in docs/training_methods.md)
dsr         DSR, DSR's IF neuron (threshold 1, firing fraction 1/2)
revdsr      DSR with the paper's neuron and the derived rate mapping (RevDSR)
==========  =====================================================================================================

``--systems revottt_trace`` runs RevOTTT with traces of decay ``1 - 1/tau = 0.5`` instead (not in the default list;
``--name digits_revottt_trace`` and ``--name event_digits_revottt_trace`` are the committed runs).

Commands (write ``docs/results/<name>.{csv,json,png}`` and each run's metrics)::

    python experiments/digits_methods.py --seeds 0,1,2 --out docs/results
    python experiments/digits_methods.py --dataset event_digits --timesteps 20 --memory-timesteps 20,50 \
        --seeds 0,1,2 --name event_digits_methods --out docs/results

The second is the same on event data: event_digits (saccade streams of the digits, 20 frames), vgg_events, 20
epochs.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile

from revsnn_jax import train
from revsnn_jax.bench import plots

OTTT_NEURON = {"neuron": "lif", "decay_input": False, "soft_reset": True, "surrogate": "sigmoid",
               "surrogate_width": 4.0}
SYSTEMS = {
    "bptt": {"method": "exact", "strategy": "bptt", **OTTT_NEURON},
    "ottt": {"method": "ottt", **OTTT_NEURON},
    "sltt": {"method": "sltt", **OTTT_NEURON},
    "rev": {"method": "exact", "strategy": "inverse_grad", "neuron": "rev"},
    "revottt": {"method": "ottt", "neuron": "rev"},
    "revottt_trace": {"method": "ottt", "neuron": "rev", "ottt_trace_decay": 0.5},
    "dsr": {"method": "dsr", "neuron": "dsr_if"},
    "revdsr": {"method": "dsr", "neuron": "rev"},
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--systems", default=",".join(s for s in SYSTEMS if s != "revottt_trace"))
    parser.add_argument("--epochs", type=int, default=None, help="default: the dataset's (digits 30)")
    parser.add_argument("--dataset", default="digits", help="a revsnn train --dataset (default digits)")
    parser.add_argument("--timesteps", type=int, default=4)
    parser.add_argument("--memory-timesteps", default="4,20", help="T of the dry-run memory columns")
    parser.add_argument("--name", default="digits_methods")
    parser.add_argument("--out", default="docs/results")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    systems = args.systems.split(",")
    memory_steps = [int(t) for t in args.memory_timesteps.split(",")]
    runs_dir = os.path.join(args.out, f"{args.name}_runs")
    os.makedirs(runs_dir, exist_ok=True)
    rows, curves = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        for system in systems:
            base = train.TrainConfig(dataset=args.dataset, timesteps=args.timesteps, epochs=args.epochs,
                                     **SYSTEMS[system])
            memory = {t: train.dry_run(dataclasses.replace(base, timesteps=t))["temp_bytes"] for t in memory_steps}
            for seed in seeds:
                cfg = dataclasses.replace(base, seed=seed)
                workdir = os.path.join(scratch, f"{system}-seed{seed}")
                print(f"== {system}, seed {seed}", file=sys.stderr, flush=True)
                result = train.train_and_evaluate(cfg, workdir, progress=False)
                shutil.copy(os.path.join(workdir, "metrics.jsonl"),
                            os.path.join(runs_dir, f"{system}-seed{seed}.jsonl"))
                records = train.read_metrics(workdir)
                rows.append({"system": system, "dataset": args.dataset, "timesteps": args.timesteps,
                             "method": cfg.method, "neuron": cfg.neuron, "seed": seed,
                             "epochs": result["epochs"], "test_accuracy": result["test_accuracy"],
                             "train_accuracy": result["train_accuracy"],
                             "epoch_seconds_median": statistics.median(r["epoch_seconds"] for r in records),
                             **{f"temp_bytes_T{t}": b for t, b in memory.items()}})
                if seed == seeds[0]:
                    curves[system] = records
    summary = {}
    for system in systems:
        mine = [r for r in rows if r["system"] == system]
        accs = [r["test_accuracy"] for r in mine]
        summary[system] = {"test_accuracy_mean": statistics.mean(accs),
                           "test_accuracy_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                           "epoch_seconds_median": statistics.median(r["epoch_seconds_median"] for r in mine),
                           **{k: v for k, v in mine[0].items() if k.startswith("temp_bytes")}}
    with open(os.path.join(args.out, args.name + ".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(args.out, args.name + ".json"), "w") as f:
        json.dump({"command": "python experiments/digits_methods.py " + " ".join(argv or sys.argv[1:]),
                   "what": f"revsnn train on {args.dataset} (its default model, T={args.timesteps}, SGD, defaults) per "
                           "system and seed; final-epoch test accuracy on the fixed test split; epoch seconds "
                           "measured in one run, "
                           "one system after another on the same CPU; temp_bytes_T*: XLA's compiled temp memory of "
                           "one training step at that T (dry run, the batch trained)",
                   "systems": SYSTEMS, "summary": summary, "rows": rows}, f, indent=1)
        f.write("\n")
    plots.curves(curves, os.path.join(args.out, args.name + ".png"),
                 title=f"{args.dataset}, T={args.timesteps}: training methods (seed {seeds[0]})")
    for system, s in summary.items():
        mem = ", ".join(f"T={t}: {s[f'temp_bytes_T{t}'] / 2**20:.1f} MiB" for t in memory_steps)
        print(f"{system:8s} test accuracy {100 * s['test_accuracy_mean']:.2f} +- {100 * s['test_accuracy_std']:.2f} %"
              f"  epoch {s['epoch_seconds_median']:.2f} s  temp {mem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
