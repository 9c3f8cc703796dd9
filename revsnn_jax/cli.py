"""The ``revsnn`` command.

``revsnn train``                trains a spiking network (default: offline digits, reversible neuron, inverse_grad)
``revsnn plot WORKDIR``         loss/accuracy curves of a run as PNG
``revsnn bench neuron-memory``  compiled memory of one neuron layer per strategy, T = 1..32
``revsnn bench neuron-grad``    gradient error of each strategy against BPTT (float32 / float64)
``revsnn bench neuron-time``    backward FLOPs per step and backward time ratios
``revsnn bench memory``         compiled memory of one training step of a whole network, per strategy;
                                ``--grid`` runs the paper's Fig. 5 grid and writes CSV + PNG
``revsnn bench time``           forward/backward time ratios and per-step FLOPs of a whole network per strategy;
                                ``--grid`` runs the Fig. 6 grid (VGG-11..19 x T=4,6,8) and writes CSV + PNG
``revsnn bench step``           one network step's forward and VJP variants timed apart (neuron rule, replayed
                                convolutions, plain LIF): where the reversible backward's time goes
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


def time_rows(model: str, timesteps: int, batch_size: int, repeats: int, seconds: bool) -> list[dict]:
    """One row per strategy: time ratios (and absolute seconds where ``seconds``) plus per-step FLOPs."""
    from revsnn_jax import bench_models
    res = bench_models.network_phase_times(model, timesteps=timesteps, batch_size=batch_size, repeats=repeats)
    step = {label: r["forward_s"] + r["backward_s"] for label, r in res.items()}
    rows = []
    for label, r in res.items():
        row = {"model": model, "timesteps": timesteps, "batch_size": batch_size, "config": label,
               "forward_vs_bptt": round(r["forward_s"] / res["bptt"]["forward_s"], 3),
               "backward_vs_bptt": round(r["backward_s"] / res["bptt"]["backward_s"], 3),
               "backward_vs_reversible": round(r["backward_s"] / res["reversible"]["backward_s"], 3),
               "step_vs_bptt": round(step[label] / step["bptt"], 3),
               "step_vjp_flops": int(r["step_vjp_flops"]), "step_forward_flops": int(r["step_forward_flops"])}
        if seconds:
            row.update(forward_s=round(r["forward_s"], 5), backward_s=round(r["backward_s"], 5))
        rows.append(row)
    return rows


def cmd_time(args: argparse.Namespace) -> int:
    import jax
    seconds = jax.default_backend() != "cpu"   # CPU seconds are not comparable across machines: ratios only
    if args.grid:
        return _time_grid(args, seconds)
    rows = time_rows(args.model, args.timesteps, args.batch_size, args.repeats, seconds)
    meta = {**_meta(args), "what": TIME_WHAT, "repeats": args.repeats}
    _write(rows, args.out, f"time_{args.model}_T{args.timesteps}_B{args.batch_size}", meta)
    if args.json:
        print(json.dumps({**meta, "model": args.model, "timesteps": args.timesteps, "batch_size": args.batch_size,
                          "rows": rows}))
    else:
        print(f"{args.model}, T={args.timesteps}, batch {args.batch_size} ({meta['backend']})")
        print(_table(rows, [c for c in rows[0] if c not in ("model", "timesteps", "batch_size")]))
    return 0


TIME_WHAT = ("median forward (jax.vjp of the loss) and backward (the VJP applied) time of one iteration per "
             "strategy, interleaved in one run; ratios against bptt and reversible; step = forward + backward. "
             "FLOPs (XLA cost analysis) of one network step's VJP (its forward recompute included) and forward")


def _time_grid(args: argparse.Namespace, seconds: bool) -> int:
    """Fig. 6 counterpart: time ratios for VGG-11/13/16/19 x T=4,6,8 (resumable, like the memory grid)."""
    from revsnn_jax import bench_models
    out_dir = args.out or "docs/results"
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "time_grid.csv")
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            rows = list(csv.DictReader(f))
    done = {(r["model"], int(r["timesteps"])) for r in rows}
    models = args.grid_models.split(",") if args.grid_models else list(bench_models.TIME_GRID)
    todo = [(m, t) for m in models for t in bench_models.TIME_GRID[m] if (m, t) not in done]
    for i, (m, t) in enumerate(todo):
        new = time_rows(m, t, args.batch_size, args.repeats, seconds)
        rows += [{k: str(v) for k, v in r.items()} for r in new]
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        ig = next(r for r in new if r["config"] == "inverse_grad")
        print(f"[{i + 1}/{len(todo)}] {m} T={t}: inverse_grad backward {ig['backward_vs_reversible']}x "
              f"reversible, step {ig['step_vs_bptt']}x bptt", file=sys.stderr, flush=True)
    _plot_time_grid(rows, os.path.join(out_dir, "time_grid.png"), args.batch_size)
    with open(os.path.join(out_dir, "time_grid.json"), "w") as f:
        json.dump({**_meta(args), "batch_size": args.batch_size, "repeats": args.repeats, "what": TIME_WHAT},
                  f, indent=1)
        f.write("\n")
    print(f"wrote {path} and time_grid.png")
    return 0


def _plot_time_grid(rows: list[dict], path: str, batch_size: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax_b, ax_s) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"inverse_grad": "-", "inverse_grad+keep_convs": "--", "checkpoint": ":"}
    for i, m in enumerate(dict.fromkeys(r["model"] for r in rows)):
        for c, ls in styles.items():
            pts = sorted((int(r["timesteps"]), float(r["backward_vs_reversible"]), float(r["step_vs_bptt"]))
                         for r in rows if r["model"] == m and r["config"] == c)
            if not pts:
                continue
            t, b, s = zip(*pts)
            if c != "checkpoint":
                ax_b.plot(t, b, color=f"C{i}", ls=ls, marker="o", ms=3, label=f"{m} {c}")
            ax_s.plot(t, s, color=f"C{i}", ls=ls, marker="o", ms=3, label=f"{m} {c}")
    ax_b.axhline(1.0, color="k", lw=0.8)
    ax_b.set_title("backward time / reversible")
    ax_s.axhline(1.0, color="k", lw=0.8)
    ax_s.set_title("training-step time (fwd+bwd) / bptt")
    for ax in (ax_b, ax_s):
        ax.set_xlabel("timesteps T")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Whole-network time ratios, batch {batch_size} (cf. paper Fig. 6)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cmd_step(args: argparse.Namespace) -> int:
    """One network step's forward and VJP variants timed apart: where the reversible backward's time goes."""
    import jax

    from revsnn_jax import bench_models
    res = bench_models.step_anatomy(args.model, batch_size=args.batch_size, repeats=args.repeats)
    base = res["vjp_reversible"]["seconds"]
    seconds = jax.default_backend() != "cpu"
    rows = []
    for part, r in res.items():
        row = {"model": args.model, "batch_size": args.batch_size, "part": part,
               "time_vs_vjp_reversible": round(r["seconds"] / base, 3), "flops": int(r["flops"])}
        if seconds:
            row["seconds"] = round(r["seconds"], 6)
        rows.append(row)
    t = {part: r["seconds"] for part, r in res.items()}
    summary = {
        "closed_form_vjp_vs_autodiff": round(t["vjp_inverse_grad"] / t["vjp_reversible"], 3),
        "lif_vjp_vs_reversible_neuron": round(t["vjp_lif"] / t["vjp_reversible"], 3),
        "conv_forward_share_of_vjp": round(1 - t["vjp_inverse_grad_replayed"] / t["vjp_inverse_grad"], 3),
        "backward_vs_forward": round((t["vjp_reversible"] - t["forward"]) / t["forward"], 3),
    }
    meta = {**_meta(args), "what": STEP_WHAT, "repeats": args.repeats, "summary": summary}
    _write(rows, args.out, f"step_anatomy_{args.model}_B{args.batch_size}", meta)
    if args.json:
        print(json.dumps({**meta, "rows": rows}))
    else:
        print(f"{args.model}, one step, batch {args.batch_size} ({meta['backend']})")
        print(_table(rows, [c for c in rows[0] if c not in ("model", "batch_size")]))
        for k, v in summary.items():
            print(f"{k}: {v}")
    return 0


STEP_WHAT = ("median time of one network step's forward and of its VJP variants (jax.vjp of the step, applied; "
             "what the reversible strategies run per timestep in the backward), interleaved in one run, relative to "
             "the VJP with the neuron differentiated by autodiff; FLOPs from XLA cost analysis. backward_vs_forward "
             "is (VJP - forward) / forward")


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
    complete = [m for m in bench_models.GRID if all((m, t, c) in done for t in bench_models.GRID[m]
                                                   for c in bench_models.GRID_CONFIGS)]
    with open(os.path.join(out_dir, "memory_grid.json"), "w") as f:
        # The rows may come from several resumed runs: name the command that makes (or completes) them all.
        command = f"revsnn bench memory --grid --batch-size {args.batch_size} --out {out_dir}"
        json.dump({**_meta(args), "command": command, "unit": "bytes", "what": "XLA temp bytes of one training "
                   "step (loss, gradients, SGD update), CIFAR input 32x32x3", "batch_size": args.batch_size,
                   "complete_models": complete, "missing_models": [m for m in bench_models.GRID if m not in complete],
                   "note": "resumable: re-running the command fills in the missing rows"}, f, indent=1)
        f.write("\n")
    print(f"wrote {path} and memory_grid.png")
    return 0


def _family_and_depth(model: str) -> tuple[bool, int]:
    """Sort key for grid models: VGGs, then ResNets, each by depth."""
    family = model.rstrip("0123456789")
    return family == "resnet", int(model[len(family):] or 0)


def _plot_grid(rows: list[dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    models = sorted(dict.fromkeys(r["model"] for r in rows), key=_family_and_depth)
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


def cmd_train(args: argparse.Namespace) -> int:
    from revsnn_jax import train
    values = train_config_values(args)
    if args.dry_run:
        result = train.dry_run(train.TrainConfig(**values))
        if args.json:
            print(json.dumps(result))
        else:
            print(f"{result['model']} on {result['dataset']}, T={result['timesteps']}, {result['strategy']}, batch "
                  f"{result['batch_size']}: one training step compiles; XLA temp "
                  f"{result['temp_bytes'] / 2**20:.1f} MiB, {result['parameters']:,} parameters")
        return 0
    result = train.train_and_evaluate(train.TrainConfig(**values), args.workdir or _default_workdir(values),
                                      resume=getattr(args, "resume", False), progress=not args.no_progress)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"test accuracy {result['test_accuracy']:.4f} (train {result['train_accuracy']:.4f}) after "
              f"{result['epochs']} epochs, {result['wall_seconds']:.0f} s; metrics in {result['workdir']}")
    return 0


def train_config_values(args: argparse.Namespace) -> dict:
    """TrainConfig fields: its defaults, then ``--config FILE``'s ``get_config()``, then flags given explicitly."""
    import dataclasses
    from revsnn_jax.train import TrainConfig
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {}
    if getattr(args, "config", None):
        values.update(load_config_file(args.config, fields))
    values.update({k: v for k, v in vars(args).items() if k in fields})
    return values


def load_config_file(path: str, fields: set[str]) -> dict:
    """``get_config()`` of a Python config file (see ``experiments/``), checked against TrainConfig's fields."""
    import importlib.util
    if not os.path.isfile(path):
        raise ValueError(f"config file {path!r} does not exist")
    spec = importlib.util.spec_from_file_location("_revsnn_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ValueError(f"config file {path!r} has no get_config() function")
    values = dict(module.get_config())
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ValueError(f"config file {path!r} sets unknown fields {', '.join(unknown)}; valid fields: "
                         f"{', '.join(sorted(fields))}")
    return values


def _default_workdir(values: dict) -> str:
    from revsnn_jax.train import TrainConfig
    cfg = TrainConfig(**values).resolved()
    return os.path.join("runs", f"{cfg.dataset}-{cfg.model}-{cfg.strategy}-T{cfg.timesteps}-seed{cfg.seed}")


def cmd_plot(args: argparse.Namespace) -> int:
    from revsnn_jax.train import read_metrics
    records = read_metrics(args.workdir)
    if not records:
        raise ValueError(f"{args.workdir}/metrics.jsonl is empty")
    out = args.out or os.path.join(args.workdir, "curves.png")
    plot_curves({args.label or os.path.basename(os.path.normpath(args.workdir)): records}, out)
    print(f"wrote {out}")
    return 0


def plot_curves(runs: dict[str, list[dict]], path: str, title: str | None = None) -> None:
    """Loss and accuracy per epoch (train dashed, test solid) of one or more runs, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, (label, records) in enumerate(runs.items()):
        epochs = [r["epoch"] for r in records]
        color = f"C{i}"
        for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            ax.plot(epochs, [r[f"train_{key}"] for r in records], color=color, ls="--", label=f"{label} train")
            ax.plot(epochs, [r[f"test_{key}"] for r in records], color=color, label=f"{label} test")
    for ax, name in ((ax_loss, "cross-entropy loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    ax_loss.set_yscale("log")
    ax_acc.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_train_parser(sub) -> None:
    """``revsnn train``: every flag defaults to TrainConfig (SUPPRESS keeps "not given" apart from a default, so
    a ``--config`` file's values are overridden only by flags actually given)."""
    from revsnn_jax import data, train
    from revsnn_jax.nn import MODELS, STRATEGIES
    d = train.TrainConfig()
    p = sub.add_parser("train", help="train a spiking network", argument_default=argparse.SUPPRESS, description=(
                           "Train a spiking network with one of the gradient strategies. With no flags: the "
                           "offline digits dataset (scikit-learn), vgg_digits, T=4, reversible neuron, "
                           "inverse_grad. Progress goes to stderr; --json prints the final summary on stdout."))
    g = p.add_argument_group("run")
    g.add_argument("--config", help="a Python file whose get_config() returns TrainConfig fields (flags given "
                   "here override it); see experiments/")
    g.add_argument("--workdir", default=None, help="checkpoints, metrics.jsonl and config.json go here "
                   "(default: runs/DATASET-MODEL-STRATEGY-T<T>-seed<SEED>)")
    g.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --workdir")
    g.add_argument("--seed", type=int, help=f"model init, data order and augmentation (default {d.seed})")
    g.add_argument("--json", action="store_true", default=False, help="print the final summary as one JSON object")
    g.add_argument("--no-progress", action="store_true", default=False, help="no progress bar")
    g.add_argument("--dry-run", action="store_true", default=False, help="build the model and compile one "
                   "training step (no data, no training); print its compiled memory")
    g = p.add_argument_group("data")
    g.add_argument("--dataset", choices=data.DATASETS, help=f"(default {d.dataset})")
    g.add_argument("--data-dir", dest="data_dir", help="tfds data_dir holding prepared CIFAR (array_record)")
    g.add_argument("--batch-size", dest="batch_size", type=int, help="global batch size, divisible by the number "
                   "of devices (default per dataset: " + _per_dataset("batch_size") + ")")
    g.add_argument("--augment", action=argparse.BooleanOptionalAction, help="random crop + flip (default: on for "
                   "CIFAR, off for digits)")
    g = p.add_argument_group("model")
    g.add_argument("--model", help=f"one of: {', '.join(MODELS)} (default per dataset: " + _per_dataset("model")
                   + ")")
    g.add_argument("--timesteps", type=int, help=f"T (default {d.timesteps})")
    g.add_argument("--strategy", choices=STRATEGIES, help=f"gradient strategy (default {d.strategy})")
    g.add_argument("--anchor-every", dest="anchor_every", type=int, help="steps between stored potentials for "
                   "reversible/inverse_grad (default ceil(sqrt(T)))")
    g.add_argument("--low-memory", dest="low_memory", action="store_true", help="recompute segments instead of "
                   "buffering them (less memory, more time)")
    g.add_argument("--keep-convs", dest="keep_convs", action="store_true", help="keep each recomputed segment's "
                   "conv outputs so the backward runs no convolution forward again (faster, more memory)")
    g.add_argument("--bn-momentum", dest="bn_momentum", type=float, help=f"(default {d.bn_momentum})")
    g = p.add_argument_group("neuron")
    g.add_argument("--neuron", choices=train.NEURONS, help=f"rev: reversible LIF, lif: plain LIF (default "
                   f"{d.neuron})")
    g.add_argument("--tau", type=float, help=f"(default {d.tau})")
    g.add_argument("--v-threshold", dest="v_threshold", type=float, help=f"(default {d.v_threshold})")
    g.add_argument("--alpha", type=float, help=f"reversible neuron's alpha (default {d.alpha})")
    g.add_argument("--beta", type=float, help=f"reversible neuron's beta (default {d.beta})")
    g.add_argument("--groups", type=int, help=f"reversible neuron's groups (default {d.groups})")
    g.add_argument("--surrogate", choices=("paper", "atan", "sigmoid"), help=f"(default {d.surrogate})")
    g = p.add_argument_group("optimizer")
    g.add_argument("--optimizer", choices=train.OPTIMIZERS, help=f"cosine learning-rate schedule either way "
                   f"(default {d.optimizer})")
    g.add_argument("--learning-rate", "--lr", dest="learning_rate", type=float, help="peak learning rate "
                   "(default sgd 0.1, adamw 1e-3)")
    g.add_argument("--momentum", type=float, help=f"SGD momentum (default {d.momentum})")
    g.add_argument("--weight-decay", dest="weight_decay", type=float, help="decoupled (default sgd 5e-4, "
                   "adamw 1e-4)")
    g.add_argument("--epochs", type=int, help="(default per dataset: " + _per_dataset("epochs") + ")")
    p.set_defaults(func=cmd_train)


def _per_dataset(field: str) -> str:
    from revsnn_jax.train import DATASET_DEFAULTS
    return ", ".join(f"{k} {v[field]}" for k, v in DATASET_DEFAULTS.items())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="revsnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    p = sub.add_parser("plot", help="loss/accuracy curves of a training run as PNG")
    p.add_argument("workdir", help="a --workdir of revsnn train (reads its metrics.jsonl)")
    p.add_argument("--out", default=None, help="PNG path (default WORKDIR/curves.png)")
    p.add_argument("--label", default=None, help="legend label (default: the workdir's name)")
    p.set_defaults(func=cmd_plot)
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

    p = bench_sub.add_parser("time", help="forward/backward time ratios and per-step FLOPs of a whole network")
    p.add_argument("--model", default="vgg11", help=f"one of: {', '.join(MODELS)}")
    p.add_argument("--timesteps", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per strategy (after one warm-up)")
    p.add_argument("--grid", action="store_true", help="the Fig. 6 grid: VGG-11/13/16/19 x T=4,6,8 (resumable; "
                   "writes time_grid.csv/png/json into --out, default docs/results)")
    p.add_argument("--grid-models", default=None, help="comma-separated subset of the grid's models")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", default=None, help="also write CSV and JSON into this folder")
    p.set_defaults(func=cmd_time)

    p = bench_sub.add_parser("step", help="one network step's forward and VJP variants timed apart (where the "
                             "reversible backward's time goes)")
    p.add_argument("--model", default="vgg11", help=f"one of: {', '.join(MODELS)}")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=20, help="timed repeats per part (after two warm-ups)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", default=None, help="also write CSV and JSON into this folder")
    p.set_defaults(func=cmd_step)

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
