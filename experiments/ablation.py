"""Fig. 7 counterpart at CPU scale: test accuracy vs the reversible neuron's ``alpha`` and ``groups`` on digits.

Commands (each writes ``docs/results/ablation_<param>.{csv,json,png}``)::

    python experiments/ablation.py --param alpha --values 0.05,0.1,0.2,0.4,0.6,0.8 --seeds 0,1,2 --epochs 15
    python experiments/ablation.py --param groups --values 2,4,8,16,36,72,144 --seeds 0,1,2 --epochs 15

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

MODEL = {"alpha": "vgg_digits", "groups": "vgg_digits144"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--param", choices=tuple(MODEL), required=True)
    parser.add_argument("--values", required=True, help="comma-separated values of --param")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--out", default="docs/results")
    args = parser.parse_args(argv)
    cast = float if args.param == "alpha" else int
    values = [cast(v) for v in args.values.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    os.makedirs(args.out, exist_ok=True)
    name = os.path.join(args.out, f"ablation_{args.param}")
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
                cfg = train.TrainConfig(model=MODEL[args.param], epochs=args.epochs, seed=seed,
                                        **{args.param: value})
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
                   "model": MODEL[args.param], "epochs": args.epochs, "summary": summary, "rows": rows}, f, indent=1)
        f.write("\n")
    _plot(summary, args.param, name + ".png", MODEL[args.param], args.epochs)
    for s in summary:
        print(f"{args.param}={s[args.param]}: {100 * s['mean']:.2f} +- {100 * s['std']:.2f} % "
              f"({s['seeds']} seeds)")
    return 0


def _plot(summary, param, path, model, epochs):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    x = [s[param] for s in summary]
    ax.errorbar(x, [100 * s["mean"] for s in summary], yerr=[100 * s["std"] for s in summary], marker="o",
                capsize=3)
    if param == "groups":
        ax.set_xscale("log", base=2)
    ax.set_xlabel(param)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"digits, {model}, T=4, {epochs} epochs (cf. Fig. 7)", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
