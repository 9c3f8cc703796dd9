"""Offline accuracy check: the README's default run (digits, vgg_digits, T=4) under several strategies.

Commands (each writes ``docs/results/<name>.{csv,json,png}`` and each run's ``metrics.jsonl``)::

    python experiments/digits_strategies.py --seeds 0,1,2 --out docs/results
    python experiments/digits_strategies.py --neuron exact_rev --strategies bptt,reverse --seeds 0,1,2 \
        --name digits_exact_rev --out docs/results
    python experiments/digits_strategies.py --dataset event_digits --timesteps 20 --seeds 0,1,2 \
        --name event_digits --out docs/results

The last one is the offline event-data check: event_digits (saccade streams of the digits, 20 frames binned by
event count, 16x16), vgg_events, 20 epochs; expected about 90 % test accuracy, about 3-4 minutes per run.

Each (strategy, seed) pair is one ``revsnn train`` run with the defaults (SGD + momentum 0.9, lr 0.1 cosine,
30 epochs, batch 64), the same seed for both strategies. Expected on a 2-core CPU: test accuracy about 97-98%
for both, equal within a fraction of a point, about a minute per run. The two strategies compute the same
gradients up to float32 rounding (``revsnn bench network-check``), so runs drift apart only through rounding.
"""

from __future__ import annotations

import argparse
import dataclasses
import csv
import json
import os
import shutil
import statistics
import sys
import tempfile

from revsnn_jax import train
from revsnn_jax.bench import plots


def config_field(text: str):
    """``"surrogate=dspike"`` -> ``("surrogate", "dspike")``, the value typed as TrainConfig declares it."""
    name, _, value = text.partition("=")
    fields = {f.name: str(f.type) for f in dataclasses.fields(train.TrainConfig)}
    if name not in fields or not value:
        raise SystemExit(f"--set {text!r}: not FIELD=VALUE with a TrainConfig field")
    kind = fields[name]
    return name, (value == "true" if "bool" in kind else int(value) if "int" in kind else
                  float(value) if "float" in kind else value)


def extra_columns(records: list[dict]) -> dict:
    """What a training method adds to a run's row: Dspike's final temperature and the search's time, the sparse
    masks' final density."""
    out = {}
    if "density" in records[-1]:
        out["final_density"] = records[-1]["density"]
    if "surrogate_temperature" in records[-1]:
        out["final_temperature"] = records[-1]["surrogate_temperature"]
        out["search_seconds_total"] = round(sum(r.get("dspike_search", {}).get("seconds", 0) for r in records), 1)
    return out


def density_plot(curves: dict, path: str, title: str) -> None:
    """Density of the sparse masks and test accuracy per epoch, one line each per run."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for label, records in curves.items():
        epochs = [r["epoch"] for r in records]
        a.plot(epochs, [r["density"] for r in records], label=label)
        b.plot(epochs, [100 * r["test_accuracy"] for r in records], label=label)
    a.set(xlabel="epoch", ylabel="non-zero share of masked weights", title="density")
    b.set(xlabel="epoch", ylabel="test accuracy (%)", title="accuracy", ylim=(80, 100))
    b.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--strategies", default="bptt,inverse_grad")
    parser.add_argument("--epochs", type=int, default=None, help="default: the digits default (30)")
    parser.add_argument("--dataset", default="digits", help="a revsnn train --dataset (default digits)")
    parser.add_argument("--timesteps", type=int, default=None, help="T (default: revsnn train's, 4)")
    parser.add_argument("--neuron", default="rev", help="a revsnn train --neuron (default: the paper's, rev)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="another TrainConfig field for every run, e.g. surrogate=dspike (repeatable)")
    parser.add_argument("--name", default="digits_strategies", help="base name of the result files")
    parser.add_argument("--out", default="docs/results")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    strategies = args.strategies.split(",")
    runs_dir = os.path.join(args.out, "digits_runs" if args.neuron == "rev" else f"digits_runs_{args.neuron}")
    if args.dataset != "digits" or args.set:
        runs_dir = os.path.join(args.out, f"{args.name}_runs")
    extra = {"dataset": args.dataset} | ({"timesteps": args.timesteps} if args.timesteps else {}) | \
        dict(map(config_field, args.set))
    os.makedirs(runs_dir, exist_ok=True)
    rows, curves = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        for strategy in strategies:
            for seed in seeds:
                cfg = train.TrainConfig(strategy=strategy, seed=seed, epochs=args.epochs, neuron=args.neuron, **extra)
                workdir = os.path.join(scratch, f"{strategy}-seed{seed}")
                print(f"== {args.neuron} {strategy}, seed {seed}", file=sys.stderr, flush=True)
                result = train.train_and_evaluate(cfg, workdir, progress=False)
                kept = os.path.join(runs_dir, f"{strategy}-seed{seed}.jsonl")
                shutil.copy(os.path.join(workdir, "metrics.jsonl"), kept)
                if seed == seeds[0]:
                    memory = train.dry_run(cfg)
                rows.append({"dataset": args.dataset, "model": result.get("model", cfg.resolved().model),
                             "timesteps": cfg.timesteps, "temp_bytes": memory["temp_bytes"],
                             "neuron": args.neuron, **{k: result[k] for k in (
                    "strategy", "seed", "epochs", "test_accuracy", "train_accuracy", "test_loss", "wall_seconds")},
                    "epoch_seconds_median": statistics.median(r["epoch_seconds"] for r in train.read_metrics(workdir)),
                    **extra_columns(train.read_metrics(workdir))})
                if seed == seeds[0]:
                    curves[f"{strategy} (seed {seed})"] = train.read_metrics(workdir)
    summary = {}
    for strategy in strategies:
        accs = [r["test_accuracy"] for r in rows if r["strategy"] == strategy]
        summary[strategy] = {"test_accuracy_mean": statistics.mean(accs),
                             "test_accuracy_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                             "wall_seconds_max": max(r["wall_seconds"] for r in rows if r["strategy"] == strategy),
                             "epoch_seconds_median": statistics.median(r["epoch_seconds_median"] for r in rows
                                                                       if r["strategy"] == strategy),
                             "temp_bytes": next(r["temp_bytes"] for r in rows if r["strategy"] == strategy)}
        temps = [r["final_temperature"] for r in rows if r["strategy"] == strategy and "final_temperature" in r]
        if temps:
            summary[strategy]["final_temperatures"] = temps
    with open(os.path.join(args.out, args.name + ".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    meta = {"command": "python experiments/digits_strategies.py " + " ".join(argv or sys.argv[1:]),
            "what": f"revsnn train defaults ({args.dataset}, T={extra.get('timesteps', 4)}, SGD) with neuron "
                    f"{args.neuron}{' and ' + ', '.join(args.set) if args.set else ''}, per strategy and seed; "
                    "final-epoch test accuracy on the fixed 360-image test split; temp_bytes: XLA's compiled temp "
                    "memory of one training step (dry run, batch as trained)",
            "summary": summary, "rows": rows}
    with open(os.path.join(args.out, args.name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    if any("density" in r for rs in curves.values() for r in rs):
        density_plot(curves, os.path.join(args.out, args.name + "_density.png"), args.name)
    plots.curves(curves, os.path.join(args.out, args.name + ".png"),
                 title=f"{args.dataset}, T={extra.get('timesteps', 4)}, neuron {args.neuron}: "
                       f"{' vs '.join(strategies)} (same seed)")
    for strategy, s in summary.items():
        print(f"{strategy:14s} test accuracy {100 * s['test_accuracy_mean']:.2f} +- "
              f"{100 * s['test_accuracy_std']:.2f} %  (max {s['wall_seconds_max']:.0f} s per run, "
              f"{s['temp_bytes'] / 2**20:.1f} MiB temp)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
