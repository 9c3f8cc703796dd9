"""Fig. 7 counterpart at CPU scale: test accuracy vs the reversible neuron's ``alpha`` and ``groups`` on digits.

Commands (each writes ``docs/results/ablation_<param>.{csv,json,png}``)::

    python experiments/ablation.py --param alpha --values 0.05,0.1,0.2,0.4,0.6,0.8 --seeds 0,1,2 --epochs 15
    python experiments/ablation.py --param groups --values 2,4,8,16,36,72,144 --seeds 0,1,2 --epochs 15
    python experiments/ablation.py --param alpha --values 0.0625,0.125,0.25,0.5 --neuron exact_rev \
        --strategy reverse --seeds 0,1,2 --epochs 15 --name ablation_alpha_exact_rev

``alpha`` runs use ``vgg_digits`` (groups 2); ``groups`` runs use ``vgg_digits144`` (every layer 144 wide, so
every value divides it, as the paper widens its layers to 144). Everything else is the ``revsnn train`` default
(inverse_grad, T=4, SGD). Reported: mean and standard deviation over seeds of the final test accuracy. Paper-scale
versions (CIFAR-100) are ``experiments/configs/ablation_cifar100_*.py``.

Resumable: each finished run is appended to the CSV at once, and runs already there are skipped, so an interrupted
sweep continues where it stopped. The groups form a sequential chain in the neuron; above
``revsnn_jax.neurons.SCAN_GROUPS_ABOVE`` (8) it runs as a ``lax.scan``, so a run costs about the same for any
number of groups (before that change, unrolled: ~8 minutes per run at 72 groups, ~30 at 144).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile

from revsnn_jax import train
from revsnn_jax.bench import plots

MODEL = {"alpha": "vgg_digits", "groups": "vgg_digits144"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--param", choices=tuple(MODEL), required=True)
    parser.add_argument("--values", required=True, help="comma-separated values of --param")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--neuron", default="rev", help="a revsnn train --neuron (default: the paper's, rev)")
    parser.add_argument("--strategy", default="inverse_grad", help="a revsnn train --strategy")
    parser.add_argument("--name", default=None, help="base name of the result files (default ablation_PARAM)")
    parser.add_argument("--out", default="docs/results")
    args = parser.parse_args(argv)
    cast = float if args.param == "alpha" else int
    values = [cast(v) for v in args.values.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    os.makedirs(args.out, exist_ok=True)
    name = os.path.join(args.out, args.name or f"ablation_{args.param}")
    fields = [args.param, "seed", "epochs", "test_accuracy", "train_accuracy"]
    rows = []
    if os.path.exists(name + ".csv"):
        with open(name + ".csv") as f:
            rows = [{**r, args.param: cast(r[args.param]), "seed": int(r["seed"]), "epochs": int(r["epochs"]),
                     "test_accuracy": float(r["test_accuracy"]), "train_accuracy": float(r["train_accuracy"])}
                    for r in csv.DictReader(f)]
    done = {(r[args.param], r["seed"]) for r in rows if r["epochs"] == args.epochs}
    with tempfile.TemporaryDirectory() as scratch, open(name + ".csv", "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if not rows:
            writer.writeheader()
        for value in values:
            for seed in seeds:
                if (value, seed) in done:
                    continue
                cfg = train.TrainConfig(model=MODEL[args.param], epochs=args.epochs, seed=seed, neuron=args.neuron,
                                        strategy=args.strategy, **{args.param: value})
                print(f"== {args.param}={value}, seed {seed}", file=sys.stderr, flush=True)
                r = train.train_and_evaluate(cfg, os.path.join(scratch, f"{value}-{seed}"), progress=False)
                row = {args.param: value, "seed": seed, "epochs": args.epochs, "test_accuracy": r["test_accuracy"],
                       "train_accuracy": r["train_accuracy"]}
                writer.writerow(row)
                f.flush()
                rows.append(row)
    rows = [r for r in rows if r[args.param] in values and r["seed"] in seeds and r["epochs"] == args.epochs]
    summary = []
    for value in values:
        accs = [r["test_accuracy"] for r in rows if r[args.param] == value]
        summary.append({args.param: value, "mean": statistics.mean(accs),
                        "std": statistics.stdev(accs) if len(accs) > 1 else 0.0, "seeds": len(accs)})
    with open(name + ".json", "w") as f:
        json.dump({"command": "python experiments/ablation.py " + " ".join(argv or sys.argv[1:]),
                   "model": MODEL[args.param], "neuron": args.neuron, "strategy": args.strategy,
                   "epochs": args.epochs, "summary": summary, "rows": rows}, f, indent=1)
        f.write("\n")
    plots.ablation(summary, args.param, name + ".png",
                   f"digits, {MODEL[args.param]}, T=4, {args.epochs} epochs, {args.neuron}/{args.strategy} "
                   "(cf. Fig. 7)")
    for s in summary:
        print(f"{args.param}={s[args.param]}: {100 * s['mean']:.2f} +- {100 * s['std']:.2f} % "
              f"({s['seeds']} seeds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
