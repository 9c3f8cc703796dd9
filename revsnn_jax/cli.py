"""The ``revsnn`` command.

``revsnn bench neuron-memory``  compiled memory of one neuron layer per strategy, T = 1..32
``revsnn bench neuron-grad``    gradient error of each strategy against BPTT (float32 / float64)
``revsnn bench neuron-time``    backward FLOPs per step and backward time ratios
``revsnn bench memory``         compiled memory of one training step of a whole network, per strategy;
                                ``--grid`` runs the paper's Fig. 5 grid and writes CSV + PNG
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from typing import Sequence


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _write(rows: list[dict], out: str | None, name: str, meta: dict) -> None:
    if not out:
        return
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, name + ".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump({**meta, "rows": rows}, f, indent=1)
        f.write("\n")


def _table(rows: list[dict], columns: Sequence[str]) -> str:
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(str(r[c]).ljust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(lines)


def _meta(args: argparse.Namespace) -> dict:
    import jax
    return {"command": "revsnn " + " ".join(sys.argv[1:]), "jax": jax.__version__,
            "backend": jax.default_backend(), "device": str(jax.devices()[0].device_kind)}


def _neuron_params(args: argparse.Namespace):
    from revsnn_jax.neurons import RevLIFParams
    return RevLIFParams(tau=args.tau, alpha=args.alpha, beta=args.beta, groups=args.groups,
                        surrogate=args.surrogate)


def cmd_neuron_memory(args: argparse.Namespace) -> int:
    from revsnn_jax import bench
    rows = bench.neuron_memory(args.timesteps, args.batch_size, args.width)
    by_t = {}
    for r in rows:
        by_t.setdefault(r["timesteps"], {})[r["config"]] = r["temp_bytes"]
    table = [{"T": t, **{c: f"{b / 2**20:.2f}" for c, b in cols.items()},
              "bptt/inverse_grad": f"{cols['rev/bptt'] / cols['rev/inverse_grad']:.1f}x"} for t, cols in by_t.items()]
    meta = {**_meta(args), "unit": "bytes", "what": "XLA temp bytes of one neuron layer forward+backward, float32 "
            f"[T, {args.batch_size}, {args.width}]; inputs and outputs excluded"}
    _write(rows, args.out, "neuron_memory", meta)
    if args.json:
        print(json.dumps({**meta, "rows": rows}))
    else:
        print(f"temp MiB, one neuron layer, batch {args.batch_size}, width {args.width}, float32")
        print(_table(table, list(table[0])))
    return 0


def cmd_neuron_grad(args: argparse.Namespace) -> int:
    import jax
    import jax.numpy as jnp
    from revsnn_jax import bench
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    rows = bench.neuron_gradient_error(args.timesteps, args.batch_size, args.width, jnp.dtype(args.dtype),
                                       args.scale, args.seed, _neuron_params(args))
    for r in rows:
        for k in ("relative_error", "cosine", "max_abs_error"):
            r[k] = float(f"{r[k]:.3e}") if k != "cosine" else round(r[k], 9)
    meta = {**_meta(args), "what": "gradient of a random linear loss on (ys, v_last) w.r.t. (xs, v0) vs rev/bptt"}
    _write(rows, args.out, f"neuron_gradients_{args.dtype}", meta)
    if args.json:
        print(json.dumps({**meta, "rows": rows}))
    else:
        print(_table(rows, ["config", "timesteps", "dtype", "relative_error", "cosine", "max_abs_error"]))
    return 0


def cmd_neuron_time(args: argparse.Namespace) -> int:
    from revsnn_jax import bench
    p = _neuron_params(args)
    step_flops = bench.backward_step_flops(p, args.batch_size, args.width)
    times = bench.backward_times(args.timesteps[0], args.batch_size, args.width, args.repeats, p=p)
    ref_b, ref_fb = times["rev/reversible"]["backward_s"], sum(times["rev/bptt"].values())
    rows = []
    for label, t in times.items():
        rows.append({"config": label, "backward_flops_per_step": step_flops.get(label, ""),
                     "backward_vs_reversible": round(t["backward_s"] / ref_b, 3),
                     "step_vs_bptt": round((t["forward_s"] + t["backward_s"]) / ref_fb, 3)})
    meta = {**_meta(args), "timesteps": args.timesteps[0], "batch_size": args.batch_size, "width": args.width,
            "what": "backward FLOPs of one timestep (XLA cost analysis); median backward time relative to "
                    "rev/reversible and forward+backward time relative to rev/bptt, interleaved in one run"}
    _write(rows, args.out, "neuron_backward", meta)
    if args.json:
        print(json.dumps({**meta, "rows": rows}))
    else:
        print(_table(rows, list(rows[0])))
        ig, rv = step_flops["rev/inverse_grad"], step_flops["rev/reversible"]
        print(f"inverse_grad backward FLOPs per step: {1 - ig / rv:.1%} below reversible (paper: 23%)")
    return 0


def cmd_memory(args: argparse.Namespace) -> int:
    from revsnn_jax import bench_models
    if args.grid:
        return _memory_grid(args)
    configs = tuple(args.configs.split(",")) if args.configs else bench_models.NETWORK_CONFIGS
    out = bench_models.network_memory(args.model, timesteps=args.timesteps, batch_size=args.batch_size,
                                      configs=configs, input_size=args.input_size, anchor_every=args.anchor_every)
    if args.peak:
        for label, r in out["results"].items():
            r["peak_bytes_in_use"] = bench_models.measure_peak(args.model, label, timesteps=args.timesteps,
                                                               batch_size=args.batch_size,
                                                               input_size=args.input_size)
    meta = _meta(args)
    if args.out:
        rows = [{"model": out["model"], "timesteps": out["timesteps"], "batch_size": out["batch_size"],
                 "config": label, **r} for label, r in out["results"].items()]
        _write(rows, args.out, f"memory_{args.model}_T{args.timesteps}_B{args.batch_size}", meta)
    if args.json:
        print(json.dumps(out))
    else:
        base = out["results"].get("bptt", {}).get("temp_bytes")
        print(f"{args.model}, T={args.timesteps}, batch {args.batch_size}: temp MiB of one training step")
        for label, r in out["results"].items():
            ratio = f"  bptt/this = {base / r['temp_bytes']:.1f}x" if base and r["temp_bytes"] else ""
            print(f"  {label:26s} {r['temp_bytes'] / 2**20:10.0f}{ratio}")
    return 0


def cmd_network_check(args: argparse.Namespace) -> int:
    """Gradient error of every strategy against bptt, and training-step time ratios, on one whole network."""
    from revsnn_jax import bench_models
    errors = bench_models.network_gradient_error(args.model, timesteps=args.timesteps, batch_size=args.batch_size,
                                                 input_size=args.input_size)
    times = bench_models.network_step_times(args.model, timesteps=args.timesteps, batch_size=args.batch_size,
                                            input_size=args.input_size, repeats=args.repeats)
    rows = [{"model": args.model, "timesteps": args.timesteps, "batch_size": args.batch_size, "config": label,
             "relative_error": float(f"{errors[label]['relative_error']:.3e}") if label in errors else 0.0,
             "cosine": round(errors[label]["cosine"], 9) if label in errors else 1.0,
             "step_time_vs_bptt": round(t / times["bptt"], 3)} for label, t in times.items()]
    meta = {**_meta(args), "what": "float32 parameter gradients vs bptt (BatchNorm in training mode) and median "
            "training-step time relative to bptt, interleaved in one run"}
    _write(rows, args.out, f"network_check_{args.model}_T{args.timesteps}_B{args.batch_size}", meta)
    if args.json:
        print(json.dumps({**meta, "rows": rows}))
    else:
        print(_table(rows, ["config", "relative_error", "cosine", "step_time_vs_bptt"]))
    return 0


def _memory_grid(args: argparse.Namespace) -> int:
    """Fig. 5: memory vs T for every model of the grid; resumable (rows already in the CSV are kept)."""
    from revsnn_jax import bench_models
    out_dir = args.out or "docs/results"
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "memory_grid.csv")
    done = {}
    if os.path.exists(path):
        with open(path) as f:
            for r in csv.DictReader(f):
                done[(r["model"], int(r["timesteps"]), r["config"])] = r
    fields = ["model", "timesteps", "batch_size", "config", "temp_bytes", "argument_bytes", "output_bytes"]
    models = args.grid_models.split(",") if args.grid_models else list(bench_models.GRID)
    todo = [(m, t, c) for m in models for t in bench_models.GRID[m] for c in bench_models.GRID_CONFIGS
            if (m, t, c) not in done]
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if not done:
            writer.writeheader()
        for i, (m, t, c) in enumerate(todo):
            r = bench_models.network_memory(m, timesteps=t, batch_size=args.batch_size, configs=(c,))["results"][c]
            row = {"model": m, "timesteps": t, "batch_size": args.batch_size, "config": c, **r}
            writer.writerow(row)
            f.flush()
            done[(m, t, c)] = row
            print(f"[{i + 1}/{len(todo)}] {m} T={t} {c}: {r['temp_bytes'] / 2**20:.0f} MiB", file=sys.stderr,
                  flush=True)
    _plot_grid(list(done.values()), os.path.join(out_dir, "memory_grid.png"))
    with open(os.path.join(out_dir, "memory_grid.json"), "w") as f:
        json.dump({**_meta(args), "unit": "bytes", "what": "XLA temp bytes of one training step (loss, gradients, "
                   "SGD update), CIFAR input 32x32x3"}, f, indent=1)
    print(f"wrote {path} and memory_grid.png")
    return 0


def _plot_grid(rows: list[dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, axes = plt.subplots(2, (len(models) + 1) // 2, figsize=(4 * ((len(models) + 1) // 2), 7), squeeze=False)
    for ax, m in zip(axes.ravel(), models):
        for c in dict.fromkeys(r["config"] for r in rows):
            pts = sorted((int(r["timesteps"]), int(r["temp_bytes"]) / 2**30) for r in rows
                         if r["model"] == m and r["config"] == c)
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=3, label=c)
        ax.set_title(m)
        ax.set_xlabel("timesteps T")
        ax.set_ylabel("GiB (XLA temp)")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(models):]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=8)
    fig.suptitle("Memory of one training step, batch 128, 32x32 input (cf. paper Fig. 5)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="revsnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="benchmarks (memory, gradient error, time)")
    bench_sub = bench.add_subparsers(dest="what", required=True)

    def common(p, timesteps, batch, width):
        p.add_argument("--timesteps", type=_ints, default=timesteps, help="comma-separated T values")
        p.add_argument("--batch-size", type=int, default=batch)
        p.add_argument("--width", type=int, default=width, help="neurons per sample (last axis)")
        p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
        p.add_argument("--out", default=None, help="also write CSV and JSON into this folder")

    def neuron(p):
        p.add_argument("--tau", type=float, default=2.0)
        p.add_argument("--alpha", type=float, default=0.15)
        p.add_argument("--beta", type=float, default=1.0)
        p.add_argument("--groups", type=int, default=2)
        p.add_argument("--surrogate", default="paper", choices=("paper", "atan", "sigmoid"))

    p = bench_sub.add_parser("neuron-memory", help="compiled temp bytes of one neuron layer per strategy")
    common(p, (1, 2, 4, 8, 16, 32), 32, 1024)
    p.set_defaults(func=cmd_neuron_memory)
    p = bench_sub.add_parser("neuron-grad", help="gradient error of each strategy against bptt")
    common(p, (4, 10, 20, 32), 16, 256)
    neuron(p)
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--scale", type=float, default=1.0, help="inputs are N(0, scale^2)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_neuron_grad)
    p = bench_sub.add_parser("neuron-time", help="backward FLOPs per step and time ratios")
    common(p, (8,), 64, 1024)
    neuron(p)
    p.add_argument("--repeats", type=int, default=20)
    p.set_defaults(func=cmd_neuron_time)

    from revsnn_jax.bench_models import NETWORK_CONFIGS
    from revsnn_jax.nn.models import MODELS
    p = bench_sub.add_parser("memory", help="compiled memory of one whole-network training step per strategy")
    p.add_argument("--model", default="vgg19", help=f"one of: {', '.join(MODELS)}")
    p.add_argument("--timesteps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--input-size", type=int, default=32, help="height and width of the (square) input")
    p.add_argument("--configs", default=None, help=f"comma-separated subset of: {', '.join(NETWORK_CONFIGS)}")
    p.add_argument("--anchor-every", type=int, default=None, help="steps between kept potentials (default sqrt(T))")
    p.add_argument("--peak", action="store_true", help="also run one real step per config and report the device's "
                   "peak_bytes_in_use (GPU; null on CPU)")
    p.add_argument("--grid", action="store_true", help="the Fig. 5 grid: VGG-11..19 x T=1..20, ResNet-19..101 x "
                   "T=1,2,4,6,8,10 (resumable; writes memory_grid.csv/png into --out, default docs/results)")
    p.add_argument("--grid-models", default=None, help="comma-separated subset of the grid's models")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", default=None, help="also write CSV and JSON into this folder")
    p.set_defaults(func=cmd_memory)

    p = bench_sub.add_parser("network-check", help="whole-network gradient error vs bptt and step-time ratios")
    p.add_argument("--model", default="vgg11", help=f"one of: {', '.join(MODELS)}")
    p.add_argument("--timesteps", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", default=None, help="also write CSV and JSON into this folder")
    p.set_defaults(func=cmd_network_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as e:   # bad input: one line, no trace
        print(f"revsnn: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
