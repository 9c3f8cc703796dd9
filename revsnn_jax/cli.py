"""The ``revsnn`` command: argument parsing over :mod:`revsnn_jax.train` and :mod:`revsnn_jax.bench`.

``revsnn train``                trains a spiking network (default: offline digits, the paper's neuron, inverse_grad)
``revsnn prepare DATASET``      raw event recordings (or CIFAR's official archive) into a cache training reads
``revsnn plot WORKDIR``         loss/accuracy curves of a run as PNG
``revsnn export WORKDIR``       the run's network as a NIR graph (``--nir FILE``; ``--check`` reads it back)
``revsnn bench neuron-memory``  compiled memory of one neuron layer per strategy, T = 1..32
``revsnn bench neuron-grad``    gradient error of each strategy against BPTT (float32 / float64)
``revsnn bench neuron-time``    backward FLOPs per step and backward time ratios of one neuron layer
``revsnn bench memory``         compiled memory of one training step of a whole network, per configuration;
                                several ``--timesteps`` give memory vs T (CSV + PNG); ``--grid``: the Fig. 5 grid
``revsnn bench time``           forward/backward time ratios and per-step FLOPs of a whole network per configuration;
                                ``--grid``: the Fig. 6 grid (VGG-11..19 x T=4,6,8)
``revsnn bench step``           one network step's pieces timed apart: where the backward's time goes
``revsnn bench network-check``  whole-network gradient error vs BPTT and training-step time ratios

Strategies by what they do (``revsnn train --help`` lists them): ``bptt``, ``checkpoint``, ``anchored``
(alias ``reversible``), ``anchored+closed_form`` (alias ``inverse_grad``), ``+low_memory``, ``+keep_convs``,
``reverse`` (exact time reversal, with ``--neuron exact_rev``). Benchmark configurations are
``[NEURON:]STRATEGY``, e.g. ``exact_rev:reverse``, ``lif:anchored``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Sequence

from revsnn_jax.errors import InputError

_ARGV: list[str] = []   # the arguments main() was given, recorded in every result file


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _meta(**extra) -> dict:
    from revsnn_jax.bench import report
    return report.meta(_ARGV, **extra)


def _progress(message: str) -> None:
    from revsnn_jax.bench import report
    report.progress(message)


def _emit(args, rows: list[dict], name: str, info: dict, columns=None, header: str | None = None) -> None:
    """Writes the rows (``--out``) and prints them (``--json``: one JSON object; else a table)."""
    from revsnn_jax.bench import report
    report.write(rows, args.out, name, info)
    if args.json:
        print(json.dumps({**info, "rows": rows}))
        return
    if header:
        print(header)
    print(report.table(rows, columns))


# --- neuron settings: defined once, by the neuron types ------------------------------------------------------

def neuron_fields() -> dict[str, dataclasses.Field]:
    """Every neuron setting (the union of the neuron types' fields), by name."""
    from revsnn_jax import neurons
    fields = {}
    for cls in neurons.NEURONS.values():
        for f in dataclasses.fields(cls):
            fields.setdefault(f.name, f)
    return fields


def _field_type(f: dataclasses.Field):
    text = str(f.type)
    return _bool if "bool" in text else int if "int" in text else str if "str" in text else float


def add_neuron_flags(group, only: Sequence[str] | None = None, defaults: dict | None = None) -> None:
    """One flag per neuron setting (``--tau``, ``--alpha``, ...), help naming which neurons have it."""
    from revsnn_jax import neurons
    from revsnn_jax.surrogate import SURROGATES
    for name, f in neuron_fields().items():
        if only is not None and name not in only:
            continue
        owners = [k for k, cls in neurons.NEURONS.items() if name in {g.name for g in dataclasses.fields(cls)}]
        per = ", ".join(f"{k} {_default(k, name)}" for k in owners)
        kw = {"choices": SURROGATES} if name == "surrogate" else {}
        if defaults is not None:
            kw["default"] = defaults.get(name)
        group.add_argument("--" + name.replace("_", "-"), dest=name, type=_field_type(f), **kw,
                           help=f"default per neuron: {per}")


def _default(kind: str, name: str):
    from revsnn_jax import neurons
    return {f.name: f.default for f in dataclasses.fields(neurons.NEURONS[kind])}[name]


def _paper_neuron(args):
    """The paper's neuron with the ``--tau``/``--alpha``/... given to a neuron benchmark."""
    from revsnn_jax.neurons import RevLIFParams
    names = {f.name for f in dataclasses.fields(RevLIFParams)}
    return RevLIFParams(**{k: v for k, v in vars(args).items() if k in names and v is not None})


# --- neuron benchmarks ---------------------------------------------------------------------------------------

def cmd_neuron_memory(args) -> int:
    from revsnn_jax.bench import neuron
    rows = neuron.neuron_memory(args.timesteps, args.batch_size, args.width, progress=_progress)
    by_t = {}
    for r in rows:
        by_t.setdefault(r["timesteps"], {})[r["config"]] = r["temp_bytes"]
    table = [{"T": t, **{c: f"{b / 2**20:.2f}" for c, b in cols.items()}} for t, cols in by_t.items()]
    info = _meta(unit="bytes", what="XLA temp bytes of one neuron layer forward+backward, float32 "
                 f"[T, {args.batch_size}, {args.width}]; inputs and outputs excluded")
    from revsnn_jax.bench import report
    report.write(rows, args.out, "neuron_memory", info)
    if args.json:
        print(json.dumps({**info, "rows": rows}))
    else:
        print(f"temp MiB, one neuron layer, batch {args.batch_size}, width {args.width}, float32")
        print(report.table(table))
    return 0


def cmd_neuron_grad(args) -> int:
    import jax
    import jax.numpy as jnp

    from revsnn_jax.bench import neuron
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    rows = neuron.neuron_gradient_error(args.timesteps, args.batch_size, args.width, jnp.dtype(args.dtype),
                                        args.scale, args.seed, _paper_neuron(args))
    for r in rows:
        r.update(relative_error=float(f"{r['relative_error']:.3e}"), max_abs_error=float(f"{r['max_abs_error']:.3e}"),
                 cosine=round(r["cosine"], 9))
    info = _meta(what="gradient of a random linear loss on (ys, v_last) w.r.t. (xs, v0) vs plain autodiff (bptt) "
                      "of the same neuron")
    _emit(args, rows, f"neuron_gradients_{args.dtype}", info,
          ["config", "timesteps", "dtype", "relative_error", "cosine", "max_abs_error"])
    return 0


def cmd_neuron_time(args) -> int:
    from revsnn_jax.bench import neuron
    p = _paper_neuron(args)
    step_flops = neuron.backward_step_flops(p, args.batch_size, args.width)
    times = neuron.backward_times(args.timesteps, args.batch_size, args.width, args.repeats, rev=p)
    ref_b, ref_fb = times["rev/anchored"]["backward_s"], sum(times["rev/bptt"].values())
    rows = [{"config": label, "rule_flops": int(step_flops[label]["rule"]),
             "backward_flops_per_step": int(step_flops[label]["per_step"]),
             "backward_vs_rev_anchored": round(t["backward_s"] / ref_b, 3),
             "step_vs_rev_bptt": round((t["forward_s"] + t["backward_s"]) / ref_fb, 3)} for label, t in times.items()]
    info = _meta(timesteps=args.timesteps, batch_size=args.batch_size, width=args.width,
                 what="FLOPs of the neuron's backward rule from saved residuals (rule_flops) and of everything each "
                      "backward runs per timestep (XLA cost analysis); median backward "
                      "time relative to rev/anchored and forward+backward time relative to rev/bptt, interleaved")
    _emit(args, rows, "neuron_backward", info)
    if not args.json:
        ig, rv = step_flops["rev/anchored+closed_form"], step_flops["rev/anchored"]
        print(f"closed-form rule: {1 - ig['rule'] / rv['rule']:.1%} fewer FLOPs than autodiff's transpose; anchored "
              f"backward per step: {1 - ig['per_step'] / rv['per_step']:.1%} fewer (paper: 23% less time)")
    return 0


# --- network benchmarks --------------------------------------------------------------------------------------

def _grid_conflicts(args, names: Sequence[str]) -> None:
    given = [n for n in names if getattr(args, n.replace("-", "_")) is not None]
    if args.grid and given:
        raise InputError(f"--grid runs its own models, timesteps and configurations; drop "
                         f"{', '.join('--' + n for n in given)} (or use --grid-models to pick models)")


def _configs(args, default) -> tuple[str, ...]:
    from revsnn_jax.bench import network
    labels = tuple(network.split_labels(args.configs)) if args.configs else tuple(default)
    network.parse_configs(labels)   # every label checked before anything is measured
    return labels


def cmd_memory(args) -> int:
    from revsnn_jax.bench import network, plots
    _grid_conflicts(args, ("model", "timesteps", "configs", "buffers"))
    if args.grid:
        return _memory_grid(args)
    model, timesteps, batch = args.model or "vgg19", args.timesteps or (20,), args.batch_size
    configs = _configs(args, network.NETWORK_CONFIGS)
    rows, out, buffers = [], None, {}
    for t in timesteps:
        out = network.network_memory(model, timesteps=t, batch_size=batch, configs=configs,
                                     input_size=args.input_size, anchor_every=args.anchor_every, progress=_progress,
                                     frames=args.frames)
        for label, r in out["results"].items():
            if args.peak:
                r["peak_bytes_in_use"] = network.measure_peak(model, label, timesteps=t, batch_size=batch,
                                                              input_size=args.input_size, frames=args.frames)
            rows.append({"model": model, "timesteps": t, "batch_size": batch, "config": label, **r})
            if args.buffers:
                buffers[f"{label} T={t}"] = network.largest_buffers(model, label, timesteps=t, batch_size=batch,
                                                                    input_size=args.input_size, top=args.buffers,
                                                                    frames=args.frames)
    base = {(r["timesteps"]): r["temp_bytes"] for r in rows if r["config"] == "bptt"}
    limit, _ = device_memory()
    for r in rows:
        r["mib"] = round(r["temp_bytes"] / 2**20, 1)
        r["fits_here"] = None if limit is None else bool(r["temp_bytes"] + r.get("argument_bytes", 0) <= limit)
        if base.get(r["timesteps"]) and r["temp_bytes"]:
            r["bptt_over_this"] = round(base[r["timesteps"]] / r["temp_bytes"], 2)
    name = f"memory_{model}_T{'-'.join(map(str, timesteps))}_B{batch}"
    channels = 2 if args.frames else 3
    if args.frames:
        name += f"_frames{args.input_size}"
    info = _meta(unit="bytes", what="XLA temp bytes of one training step (loss, gradients, SGD-momentum update), "
                 + (f"event frames [T, B, {args.input_size}, {args.input_size}, 2]" if args.frames else
                    f"input {args.input_size}x{args.input_size}x{channels}"))
    if len(timesteps) == 1:   # the documented JSON object: {model, timesteps, batch_size, input_shape, results}
        info = {**info, **out}
    if buffers:
        info["largest_buffers"] = buffers
    _emit(args, rows, name, info, ["timesteps", "config", "mib", "bptt_over_this"],
          header=f"{model}, batch {batch}: temp MiB of one training step")
    for key, entries in ({} if args.json else buffers).items():
        print(f"\n{key}: largest temp buffers by shape (count x MiB each = MiB)")
        for b in entries:
            print(f"  {b['shape']:<44} {b['count']:>4} x {b['bytes_each'] / 2**20:9.2f} = {b['bytes'] / 2**20:9.1f}")
    if args.out and len(timesteps) > 1:
        limit, where = device_memory()
        plots.memory_vs_t(rows, os.path.join(args.out, name + ".png"),
                          f"{model}, batch {batch}: one training step's memory vs T", limit_bytes=limit,
                          limit_label=where)
    return 0


def device_memory() -> tuple[int | None, str]:
    """``(bytes, what)``: the memory a step can use here: the accelerator's limit, or the host's RAM on CPU."""
    import jax
    stats = jax.devices()[0].memory_stats() or {}
    if stats.get("bytes_limit"):
        return int(stats["bytes_limit"]), f"{jax.devices()[0].device_kind} memory"
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's RAM"
    except (ValueError, OSError, AttributeError):
        return None, ""


def _memory_grid(args) -> int:
    """Fig. 5: memory vs T for every model of the grid; resumable (rows already in the CSV are kept)."""
    from revsnn_jax.bench import grids, network, plots
    out = args.out or "docs/results"
    table = grids.ResumableCSV(os.path.join(out, "memory_grid.csv"), ("model", "timesteps", "config"))
    models = args.grid_models.split(",") if args.grid_models else list(network.GRID)
    unknown = [m for m in models if m not in network.GRID]
    if unknown:
        raise InputError(f"--grid-models: {', '.join(unknown)} not in the grid ({', '.join(network.GRID)})")
    cells = [{"model": m, "timesteps": t, "config": c} for m in models for t in network.GRID[m]
             for c in network.GRID_CONFIGS]

    def measure(cell):
        r = network.network_memory(cell["model"], timesteps=cell["timesteps"], batch_size=args.batch_size,
                                   configs=(cell["config"],))["results"][cell["config"]]
        return [{**cell, "batch_size": args.batch_size, **r}]

    grids.sweep(table, cells, measure, _progress)
    plots.memory_grid(table.rows, os.path.join(out, "memory_grid.png"),
                      f"Memory of one training step, batch {args.batch_size}, 32x32 input (cf. paper Fig. 5)")
    complete = [m for m in network.GRID if all(table.done({"model": m, "timesteps": t, "config": c})
                                               for t in network.GRID[m] for c in network.GRID_CONFIGS)]
    with open(os.path.join(out, "memory_grid.json"), "w") as f:
        json.dump({**_meta(), "command": f"revsnn bench memory --grid --batch-size {args.batch_size} --out {out}",
                   "unit": "bytes", "what": "XLA temp bytes of one training step (loss, gradients, SGD update), "
                   "CIFAR input 32x32x3", "batch_size": args.batch_size, "complete_models": complete,
                   "missing_models": [m for m in network.GRID if m not in complete],
                   "note": "resumable: re-running the command fills in the missing rows"}, f, indent=1)
        f.write("\n")
    print(f"wrote {table.path} and memory_grid.png")
    return 0


TIME_WHAT = ("median forward (jax.vjp of the loss) and backward (the VJP applied) time of one iteration per "
             "configuration, interleaved in one run; ratios against bptt and reversible (anchored); step = forward + "
             "backward. Per-step FLOPs (XLA cost analysis) of each configuration's own programs: step_vjp_flops (the "
             "VJP it takes per timestep) and step_forward_flops (its recompute: a step forward, or the rebuild); "
             "backward FLOPs per step = step_vjp_flops + recompute_forwards * step_forward_flops")


def time_rows(model: str, timesteps: int, batch_size: int, repeats: int, seconds: bool, configs,
              progress=None) -> list[dict]:
    """One row per configuration: time ratios (and seconds where ``seconds``) plus per-step FLOPs."""
    from revsnn_jax.bench import network
    res = network.network_phase_times(model, timesteps=timesteps, batch_size=batch_size, repeats=repeats,
                                      configs=configs, progress=progress)
    step = {label: r["forward_s"] + r["backward_s"] for label, r in res.items()}
    rows = []
    for label, r in res.items():
        row = {"model": model, "timesteps": timesteps, "batch_size": batch_size, "config": label,
               "forward_vs_bptt": round(r["forward_s"] / res["bptt"]["forward_s"], 3),
               "backward_vs_bptt": round(r["backward_s"] / res["bptt"]["backward_s"], 3),
               "backward_vs_reversible": round(r["backward_s"] / res["reversible"]["backward_s"], 3),
               "step_vs_bptt": round(step[label] / step["bptt"], 3),
               "step_vjp_flops": int(r["step_vjp_flops"]), "step_forward_flops": int(r["step_forward_flops"]),
               "recompute_forwards": round(r["recompute_forwards"], 3)}
        if seconds:
            row.update(forward_s=round(r["forward_s"], 5), backward_s=round(r["backward_s"], 5))
        rows.append(row)
    return rows


def cmd_time(args) -> int:
    import jax

    from revsnn_jax.bench import network
    seconds = jax.default_backend() != "cpu"   # CPU seconds are not comparable across machines: ratios only
    _grid_conflicts(args, ("model", "timesteps", "configs"))
    configs = _configs(args, network.TIME_CONFIGS)
    missing = [c for c in ("bptt", "reversible") if c not in configs]
    if missing:
        raise InputError(f"--configs must include {' and '.join(missing)} (the ratios are taken against them)")
    if args.grid:
        return _time_grid(args, seconds, configs)
    model, timesteps = args.model or "vgg11", args.timesteps or 4
    rows = time_rows(model, timesteps, args.batch_size, args.repeats, seconds, configs, _progress)
    info = _meta(what=TIME_WHAT, repeats=args.repeats, model=model, timesteps=timesteps, batch_size=args.batch_size)
    _emit(args, rows, f"time_{model}_T{timesteps}_B{args.batch_size}", info,
          [c for c in rows[0] if c not in ("model", "timesteps", "batch_size")],
          header=f"{model}, T={timesteps}, batch {args.batch_size} ({jax.default_backend()})")
    return 0


def _time_grid(args, seconds: bool, configs) -> int:
    """Fig. 6 counterpart: time ratios for VGG-11/13/16/19 x T=4,6,8 (resumable, like the memory grid)."""
    from revsnn_jax.bench import grids, network, plots
    out = args.out or "docs/results"
    table = grids.ResumableCSV(os.path.join(out, "time_grid.csv"), ("model", "timesteps"))
    models = args.grid_models.split(",") if args.grid_models else list(network.TIME_GRID)
    cells = [{"model": m, "timesteps": t} for m in models for t in network.TIME_GRID[m]]
    grids.sweep(table, cells, lambda c: time_rows(c["model"], c["timesteps"], args.batch_size, args.repeats,
                                                  seconds, configs, _progress), _progress)
    plots.time_grid(table.rows, os.path.join(out, "time_grid.png"),
                    f"Whole-network training-step time / BPTT, batch {args.batch_size} (cf. paper Fig. 6)")
    with open(os.path.join(out, "time_grid.json"), "w") as f:
        json.dump({**_meta(), "command": f"revsnn bench time --grid --batch-size {args.batch_size} --repeats "
                   f"{args.repeats} --out {out}", "batch_size": args.batch_size, "repeats": args.repeats,
                   "what": TIME_WHAT}, f, indent=1)
        f.write("\n")
    print(f"wrote {table.path} and time_grid.png")
    return 0


STEP_WHAT = ("median time of one network step's forward and of its VJP variants (jax.vjp of the step, applied; "
             "what the backward runs per timestep) and of the exact neuron's rebuild, interleaved in one run, "
             "relative to the VJP with the neuron differentiated by autodiff; FLOPs from XLA cost analysis. "
             "backward_vs_forward is (VJP - forward) / forward")


def cmd_step(args) -> int:
    import jax

    from revsnn_jax.bench import network
    res = network.step_anatomy(args.model, batch_size=args.batch_size, repeats=args.repeats, progress=_progress)
    base = res["vjp_reversible"]["seconds"]
    rows = []
    for part, r in res.items():
        row = {"model": args.model, "batch_size": args.batch_size, "part": part,
               "time_vs_vjp_reversible": round(r["seconds"] / base, 3), "flops": int(r["flops"])}
        if jax.default_backend() != "cpu":
            row["seconds"] = round(r["seconds"], 6)
        rows.append(row)
    t = {part: r["seconds"] for part, r in res.items()}
    summary = {
        "closed_form_vjp_vs_autodiff": round(t["vjp_inverse_grad"] / t["vjp_reversible"], 3),
        "lif_vjp_vs_reversible_neuron": round(t["vjp_lif"] / t["vjp_reversible"], 3),
        "conv_forward_share_of_vjp": round(1 - t["vjp_inverse_grad_replayed"] / t["vjp_inverse_grad"], 3),
        "backward_vs_forward": round((t["vjp_reversible"] - t["forward"]) / t["forward"], 3),
        "exact_reverse_step_vs_anchored_step": round((t["rebuild_exact_rev"] + t["vjp_exact_rev_replayed"])
                                                     / (t["forward"] + t["vjp_reversible"]), 3),
    }
    info = _meta(what=STEP_WHAT, repeats=args.repeats, summary=summary)
    _emit(args, rows, f"step_anatomy_{args.model}_B{args.batch_size}", info,
          [c for c in rows[0] if c not in ("model", "batch_size")],
          header=f"{args.model}, one step, batch {args.batch_size} ({jax.default_backend()})")
    if not args.json:
        for k, v in summary.items():
            print(f"{k}: {v}")
    return 0


def cmd_network_check(args) -> int:
    """Gradient error of every configuration against BPTT, and training-step time ratios, on one network."""
    from revsnn_jax.bench import network
    configs = _configs(args, network.NETWORK_CONFIGS)
    errors = network.network_gradient_error(args.model, timesteps=args.timesteps, batch_size=args.batch_size,
                                            input_size=args.input_size, configs=configs, progress=_progress)
    times = network.network_step_times(args.model, timesteps=args.timesteps, batch_size=args.batch_size,
                                       input_size=args.input_size, repeats=args.repeats, configs=configs,
                                       progress=_progress)
    rows = [{"model": args.model, "timesteps": args.timesteps, "batch_size": args.batch_size, "config": label,
             "relative_error": float(f"{errors[label]['relative_error']:.3e}") if label in errors else 0.0,
             "cosine": round(errors[label]["cosine"], 9) if label in errors else 1.0,
             "step_time_vs_bptt": round(t / times["bptt"], 3) if "bptt" in times else ""}
            for label, t in times.items()]
    info = _meta(what="float32 parameter gradients vs bptt of the same network and neuron (BatchNorm in training "
                      "mode) and median training-step time relative to bptt, interleaved in one run")
    _emit(args, rows, f"network_check_{args.model}_T{args.timesteps}_B{args.batch_size}", info,
          ["config", "relative_error", "cosine", "step_time_vs_bptt"])
    return 0


# --- training ------------------------------------------------------------------------------------------------

EXIT_CODES = {"completed": 0, "input_error": 2, "diverged": 3, "interrupted": 130, "terminated": 143}
"""``revsnn train``'s exit status: 0 completed, 2 bad input (one line on stderr), 3 diverged, 130 interrupted
(SIGINT, Ctrl-C), 143 terminated (SIGTERM); 1 is an unexpected error (a bug: it keeps its traceback)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the run is, so that it unwinds like Ctrl-C (checkpoint writes finish first)."""


def _on_sigterm(signum, frame):
    raise Terminated()


def cmd_train(args) -> int:
    import shlex
    import signal

    from revsnn_jax import checkpoints, train
    from revsnn_jax import workdir as rundir
    values = train_config_values(args)
    if args.dry_run:
        result = train.dry_run(train.TrainConfig(**values))
        if args.json:
            print(json.dumps(result))
        else:
            how = result["strategy"] if result["method"] == "exact" else f"method {result['method']}"
            print(f"{result['model']} on {result['dataset']}, T={result['timesteps']}, {how}, batch "
                  f"{result['batch_size']}: one training step compiles; XLA temp "
                  f"{result['temp_bytes'] / 2**20:.1f} MiB, {result['parameters']:,} parameters")
        return 0
    config = train.TrainConfig(**values)
    path = args.workdir or _default_workdir(values)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        result = train.train_and_evaluate(config, path, resume=getattr(args, "resume", False),
                                          progress=not args.no_progress)
    except KeyboardInterrupt as e:
        status = "terminated" if isinstance(e, Terminated) else "interrupted"
        meta = checkpoints.latest_meta(path) if os.path.isdir(path) else None
        done = meta["epochs_done"] if meta else 0
        again = ["revsnn", *(a for a in _ARGV if a != "--resume"), "--resume"]
        if args.workdir is None:
            again += ["--workdir", path]
        again = shlex.join(again)
        saved = f"after epoch {done} (its checkpoint is saved)" if done else "before the first checkpoint"
        print(f"revsnn: {status} {saved}; continue with: {again}", file=sys.stderr, flush=True)
        if args.json:
            print(rundir.dumps({"status": "interrupted", "signal": "SIGTERM" if status == "terminated" else
                                 "SIGINT", "epochs_done": done, "workdir": path, "resume_command": again}))
        return EXIT_CODES[status]
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.json:
        print(rundir.dumps(result))
    elif result["status"] == "completed":
        print(f"test accuracy {result['test_accuracy']:.4f} (train {result['train_accuracy']:.4f}) after "
              f"{result['epochs']} epochs, {result['wall_seconds']:.0f} s; metrics in {result['workdir']}")
    return EXIT_CODES[result["status"]]


def train_config_values(args: argparse.Namespace) -> dict:
    """TrainConfig fields: its defaults, then ``--config FILE``'s ``get_config()``, then flags given explicitly."""
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
    if os.path.isdir(path):
        raise InputError(f"config file {path!r} is a folder; pass a Python file (see experiments/configs/)")
    if not os.path.isfile(path):
        raise InputError(f"config file {path!r} does not exist")
    spec = importlib.util.spec_from_file_location("_revsnn_config", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:   # the user's file: name it and the problem on one line
        line = f" (line {e.lineno})" if isinstance(e, SyntaxError) else ""
        raise InputError(f"config file {path!r} fails to load{line}: {type(e).__name__}: {e}") from None
    if not callable(getattr(module, "get_config", None)):
        raise InputError(f"config file {path!r} has no get_config() function")
    values = module.get_config()
    if not isinstance(values, dict):
        raise InputError(f"config file {path!r}: get_config() must return a dict of TrainConfig fields, got "
                         f"{type(values).__name__}")
    unknown = sorted(set(values) - fields)
    if unknown:
        raise InputError(f"config file {path!r} sets unknown fields {', '.join(unknown)}; valid fields: "
                         f"{', '.join(sorted(fields))}")
    return values


def _default_workdir(values: dict) -> str:
    from revsnn_jax.train import TrainConfig
    cfg = TrainConfig(**values).resolved()
    strategy = cfg.strategy.replace("+", "-")
    return os.path.join("runs", f"{cfg.dataset}-{cfg.model}-{strategy}-T{cfg.timesteps}-seed{cfg.seed}")


def cmd_prepare(args) -> int:
    from revsnn_jax import event_datasets
    say = lambda m: print(m, file=sys.stderr, flush=True)   # noqa: E731
    data_dir = args.data_dir or event_datasets.default_data_dir()
    if args.dataset in event_datasets.CIFAR_ARCHIVES or args.dataset == "tiny_imagenet":
        given = [f for f in ("timesteps", "by", "size", "split", "dtype") if getattr(args, f) is not None]
        if given or args.binary or args.sort:
            raise InputError(f"{args.dataset} is stored as images: --{', --'.join(given) or 'binary/--sort'} "
                             "does not apply")
        if args.dataset == "tiny_imagenet":
            from revsnn_jax import tiny_imagenet
            root = tiny_imagenet.prepare(args.raw, data_dir, progress=not args.no_progress, say=say)
        else:
            root = event_datasets.prepare_cifar(args.dataset, args.raw, data_dir, progress=not args.no_progress,
                                                say=say)
    else:
        from revsnn_jax.data import DATASETS
        d = event_datasets.FrameSettings()
        size = args.size if args.size is not None else DATASETS[args.dataset].frame_size
        fs = event_datasets.FrameSettings(timesteps=args.timesteps or d.timesteps, by=args.by or d.by, size=size,
                                          binary=args.binary, split=args.split, dtype=args.dtype or d.dtype,
                                          sort=args.sort)
        root = event_datasets.prepare_events(args.dataset, args.raw, data_dir, fs, progress=not args.no_progress,
                                             say=say)
    from revsnn_jax import prepared
    settings, splits = prepared.read(root)
    sizes = {k: len(v[1]) for k, v in splits.items()}
    if args.json:
        print(json.dumps({"cache": root, "settings": settings, "sizes": sizes,
                          "disk_bytes": prepared.disk_bytes(settings)}))
    else:
        print(f"prepared {args.dataset} in {root}: " + ", ".join(f"{n} {k}" for k, n in sizes.items())
              + f" samples, {prepared.disk_bytes(settings) / 2**20:.1f} MiB")
    return 0


def cmd_plot(args) -> int:
    from revsnn_jax.bench import plots
    from revsnn_jax.train import read_metrics
    records = read_metrics(args.workdir)
    if not records:
        raise InputError(f"{os.path.join(args.workdir, 'metrics.jsonl')} has no finished epoch to plot")
    out = args.out or os.path.join(args.workdir, "curves.png")
    plots.curves({args.label or os.path.basename(os.path.normpath(args.workdir)): records}, out)
    print(f"wrote {out}")
    return 0


EXPORT_CHECK_FAILED = 4
"""``revsnn export --check``'s exit status when the graph read back differs from the run's model."""


def cmd_export(args) -> int:
    import numpy as np

    from revsnn_jax import train
    from revsnn_jax import nir as rnir
    from revsnn_jax import workdir as rundir
    nir = rnir._nir()   # a missing optional package is reported before anything is loaded
    path = args.nir or os.path.join(args.workdir, "model.nir")
    if os.path.isdir(path) or (os.path.exists(path) and not args.force):
        raise InputError(f"{path} exists; pass --force to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {path}: {folder} is not a folder")
    dt = rnir.DEFAULT_DT if args.dt is None else args.dt
    cfg, model, meta = train.load_trained(args.workdir)
    graph = rnir.to_nir(model, input_shape=cfg.input_shape(), dt=dt, timesteps=cfg.timesteps,
                        encoding=cfg.encoding)
    tmp = path + ".tmp"
    nir.write(tmp, graph)
    os.replace(tmp, path)   # a complete file or none
    report = {"nir": path, "workdir": args.workdir, "epochs_done": meta.get("epochs_done"), "model": cfg.model,
              "neuron": cfg.neuron, "dt": dt, "timesteps": cfg.timesteps, "encoding": cfg.encoding,
              "nodes": len(graph.nodes), "edges": len(graph.edges)}
    status = 0
    if args.check:
        read = nir.read(path)
        diffs = rnir.compare_graphs(graph, read)
        image = np.random.default_rng(0).normal(0.0, 1.0, (8, *cfg.input_shape())).astype(np.float32)
        frames = np.random.default_rng(0).normal(0.0, 1.0, (cfg.timesteps, *image.shape)).astype(np.float32) \
            if cfg.encoding == "frames" else np.broadcast_to(image, (cfg.timesteps, *image.shape))
        runs = rnir.compare_runs(model, rnir.from_nir(read), frames)
        first = runs["first_difference"]
        close = runs["max_logit_error"] <= 1e-5 * max(runs["max_logit"], 1.0)
        ok = not diffs and (close or first["rounding"])
        report.update(fields_differing=len(diffs), differing=diffs[:10], **runs, check="passed" if ok else "failed")
        status = 0 if ok else EXPORT_CHECK_FAILED
    if args.json:
        print(rundir.dumps(report))
    else:
        print(f"wrote {path}: {report['nodes']} nodes, {report['edges']} edges ({cfg.model}, {cfg.neuron} neurons, "
              f"epoch {report['epochs_done']}, dt={dt})")
        if args.check:
            print(f"check {report['check']}: read back with {report['fields_differing']} differing fields; logits of "
                  f"the graph run here vs the run's model on random inputs: max error {report['max_logit_error']:.2e}"
                  f" (max |logit| {report['max_logit']:.3g})")
            print(f"  spikes: {report['spikes_mismatched']:,} of {report['spikes_compared']:,} differ")
            first = report["first_difference"]
            if first:
                why = ("float32 rounding at the threshold; later spikes follow from it" if first["rounding"] else
                       "not rounding: the graph computes something else")
                print(f"  first difference: {first['node']} at step {first['step']}, potential "
                      f"{first['margin']:.2e} from its threshold ({why})")
            for line in report["differing"]:
                print(f"  differs: {line}")
    return status


def add_train_parser(sub) -> None:
    """``revsnn train``: every flag defaults to TrainConfig (SUPPRESS keeps "not given" apart from a default, so
    a ``--config`` file's values are overridden only by flags actually given)."""
    from revsnn_jax import data, train
    from revsnn_jax.nn import MODELS
    from revsnn_jax.strategies import ALIASES, choices
    d = train.TrainConfig()
    p = sub.add_parser("train", help="train a spiking network", argument_default=argparse.SUPPRESS, description=(
                           "Train a spiking network with one of the gradient strategies. With no flags: the "
                           "offline digits dataset (scikit-learn), vgg_digits, T=4, the paper's reversible neuron, "
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
    g.add_argument("--on-nonfinite", dest="on_nonfinite", choices=train.ON_NONFINITE, help="a step with a "
                   "non-finite loss or gradient: stop (exit 3, the last finite checkpoint stays the newest) or "
                   f"skip-step (no update for that batch; counted per epoch) (default {d.on_nonfinite})")
    g = p.add_argument_group("data")
    g.add_argument("--dataset", choices=tuple(data.DATASETS), help=f"(default {d.dataset})")
    g.add_argument("--data-dir", dest="data_dir", help="where revsnn prepare put the data (event datasets, CIFAR "
                   "from its archive; default $REVSNN_DATA_DIR or ~/.cache/revsnn_jax), or a tfds data_dir holding "
                   "CIFAR in array_record format")
    g.add_argument("--batch-size", dest="batch_size", type=int, help="global batch size, divisible by the number "
                   "of devices (default per dataset: " + _per_dataset("batch_size") + ")")
    g.add_argument("--augment", action=argparse.BooleanOptionalAction, help="random crop + flip (default: on for "
                   "CIFAR, off for digits)")
    g.add_argument("--augment-ops", dest="augment_ops", help="what --augment applies, comma-separated from "
                   "crop,flip,roll (default per dataset; event frames move alike in every step)")
    g.add_argument("--frame-size", dest="frame_size", type=int, help="event data: the prepared cache's square "
                   "frame size (default: the sensor's; 16 for event_digits, 32 for nmnist)")
    g.add_argument("--frame-binning", dest="frame_binning", choices=("count", "time"), help="event data: the "
                   f"cache's binning (default {d.frame_binning})")
    g.add_argument("--frame-binary", dest="frame_binary", action="store_true", help="event data: the cache with "
                   "counts clipped to 0/1")
    g.add_argument("--split", help="event data: cifar10_dvs's split, 9:1 (default) or tebn")
    g.add_argument("--encoding", choices=("direct", "frames"), help="direct: a static image at every step; frames: "
                   "[T, B, H, W, C] (static images are repeated as T frames) (default: the dataset's)")
    g = p.add_argument_group("model")
    g.add_argument("--model", help=f"one of: {', '.join(MODELS)} (default per dataset: " + _per_dataset("model")
                   + ")")
    g.add_argument("--timesteps", type=int, help=f"T (default {d.timesteps})")
    aliases = ", ".join(f"{a} = {c}" for a, c in ALIASES.items())
    g.add_argument("--strategy", choices=choices(), metavar="STRATEGY", help=f"gradient strategy, one of: "
                   f"{', '.join(choices())} (default {d.strategy}). The paper's names are aliases: {aliases}. "
                   "reverse needs --neuron exact_rev")
    g.add_argument("--anchor-every", dest="anchor_every", type=int, help="steps between stored potentials for the "
                   "anchored strategies (default ceil(sqrt(T)))")
    g.add_argument("--low-memory", dest="low_memory", action="store_true", help="anchored: recompute segments "
                   "instead of buffering them (less memory, more time)")
    g.add_argument("--keep-convs", dest="keep_convs", action="store_true", help="anchored: keep each recomputed "
                   "segment's conv outputs so the backward runs no convolution forward again (faster, more memory)")
    g.add_argument("--bn-momentum", dest="bn_momentum", type=float, help=f"(default {d.bn_momentum})")
    g = p.add_argument_group("training method (revsnn_jax.nn.methods)")
    g.add_argument("--method", choices=train.METHODS, help="exact: BPTT's gradient by --strategy; ottt: online "
                   "training through time (per-step losses, presynaptic traces, memory flat in T); sltt: the same "
                   "without traces; dsr: differentiation on spike representation (--neuron dsr_if, dsr_lif or rev) "
                   f"(default {d.method})")
    g.add_argument("--ottt-trace-decay", dest="ottt_trace_decay", type=float, help="the traces' decay lambda "
                   "(default: the neurons' leak, 1 - 1/tau; 0 for the reversible neurons, measured closest to BPTT)")
    g.add_argument("--ottt-trace-input", dest="ottt_trace_input", action="store_true", help="trace the first "
                   "layer's input too (OTTT's general form; the reference code does not)")
    g.add_argument("--online-loss-mix", dest="online_loss_mix", type=float, help="MSE share of the per-step loss "
                   f"of ottt/sltt (OTTT: 0.001 DVS-Gesture, 0.05 CIFAR) (default {d.online_loss_mix})")
    g.add_argument("--online-update", dest="online_update", action="store_true", help="ottt/sltt: an optimizer "
                   "step after every timestep (OTTT_O) instead of one per batch (OTTT_A)")
    g = p.add_argument_group("neuron")
    g.add_argument("--neuron", choices=train.NEURONS, help="rev: the paper's reversible LIF; exact_rev: exactly "
                   "reversible LIF (fixed point); lif: plain LIF; plif: LIF with learnable tau; dsr_if, dsr_lif: DSR's "
                   "neurons (trainable threshold) "
                   f"(default {d.neuron})")
    add_neuron_flags(g)
    g = p.add_argument_group("dspike surrogate (--surrogate dspike; --surrogate-width is its initial temperature b, "
                             "default 3; --surrogate-support its half-width h, default 0.5)")
    g.add_argument("--dspike-search-every", dest="dspike_search_every", type=int, help="search the temperature every "
                   "N epochs, at the start of the epoch (default 1; 0: keep b fixed)")
    g.add_argument("--dspike-step", dest="dspike_step", type=float, help="the search compares b - step, b, b + step "
                   f"(default {d.dspike_step})")
    g.add_argument("--dspike-floor", dest="dspike_floor", type=float, help=f"b never goes below this (default "
                   f"{d.dspike_floor})")
    g.add_argument("--dspike-eps", dest="dspike_eps", type=float, help="finite-difference step on the first layer's "
                   f"weights (default {d.dspike_eps})")
    g.add_argument("--dspike-layer", dest="dspike_layer", help="the parameter whose gradients are compared, e.g. "
                   "convs.0.kernel (default: the convolution kernel that reads the input)")
    g = p.add_argument_group("dynamic sparse training (ND, drop-and-grow; revsnn_jax.sparse)")
    g.add_argument("--sparse-final-density", dest="sparse_final_density", type=float, help="train sparse, ending "
                   "with this share of non-zero conv/linear weights, e.g. 0.1 for 90%% sparsity (default: dense)")
    g.add_argument("--sparse-initial-density", dest="sparse_initial_density", type=float, help="density at the "
                   f"start, by magnitude (default {d.sparse_initial_density})")
    g.add_argument("--sparse-start-epoch", dest="sparse_start_epoch", type=int, help="first topology update "
                   f"(default {d.sparse_start_epoch})")
    g.add_argument("--sparse-end-epoch", dest="sparse_end_epoch", type=int, help="last topology update; the "
                   "masks are fixed after it (default: 3/4 of the epochs)")
    g.add_argument("--sparse-every", dest="sparse_every", type=int, help="optimizer steps between topology updates "
                   "(default: one epoch)")
    g.add_argument("--sparse-exchange-ratio", dest="sparse_exchange_ratio", type=float, help="share of each layer's "
                   f"active weights dropped and regrown at the first update, cosine-decayed (default "
                   f"{d.sparse_exchange_ratio})")
    g.add_argument("--sparse-dense-first", dest="sparse_dense_first", action="store_true", help="keep the first "
                   "layer dense")
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
    from revsnn_jax.data import DATASETS
    return ", ".join(f"{k} {getattr(v, field)}" for k, v in DATASETS.items())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="revsnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    from revsnn_jax.event_datasets import CIFAR_ARCHIVES, DTYPES, EVENT_DATASETS
    p = sub.add_parser("prepare", help="raw event recordings or CIFAR's archive into a cache that training reads",
                       description="Converts raw data once into a cache under --data-dir that revsnn train reads "
                       "(memory-mapped). Idempotent and resumable: run it again after an interruption and it "
                       "continues; a cache built with other settings is never overwritten. Event recordings "
                       "become T frames of ON/OFF counts; the module revsnn_jax.event_datasets lists each "
                       "dataset's raw layout and split.")
    p.add_argument("dataset", choices=tuple(EVENT_DATASETS) + tuple(CIFAR_ARCHIVES) + ("tiny_imagenet",))
    p.add_argument("--raw", default=None, help="the raw folder (event data; tiny-imagenet-200/ unpacked) or "
                   "archive (cifar-10-python.tar.gz, cifar-100-python.tar.gz); event_digits takes none")
    p.add_argument("--data-dir", dest="data_dir", default=None, help="where the cache goes (default "
                   "$REVSNN_DATA_DIR or ~/.cache/revsnn_jax)")
    p.add_argument("--timesteps", type=_positive, default=None, help="frames per sample (default 20)")
    p.add_argument("--by", choices=("count", "time"), default=None, help="equal event counts per frame (the "
                   "last takes the remainder; default) or equal durations")
    p.add_argument("--size", type=_positive, default=None, help="square frame size: sensor pixels are summed "
                   "into size x size bins (default: the sensor's; 16 for event_digits, 32 for nmnist)")
    p.add_argument("--binary", action="store_true", help="clip counts to 0/1")
    p.add_argument("--split", default=None, help="cifar10_dvs: 9:1 (default) or tebn")
    p.add_argument("--dtype", choices=DTYPES, default=None, help="stored counts (default uint16; a count that "
                   "does not fit is an error)")
    p.add_argument("--sort", action="store_true", help="sort each recording's events by time first (default: "
                   "an unsorted recording is an error naming the file)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_prepare)
    p = sub.add_parser("plot", help="loss/accuracy curves of a training run as PNG")
    p.add_argument("workdir", help="a --workdir of revsnn train (reads its metrics.jsonl)")
    p.add_argument("--out", default=None, help="PNG path (default WORKDIR/curves.png)")
    p.add_argument("--label", default=None, help="legend label (default: the workdir's name)")
    p.set_defaults(func=cmd_plot)
    p = sub.add_parser("export", help="write a trained run's network as a NIR graph (pip install revsnn_jax[nir])",
                       description="Writes the network of a training run (its newest checkpoint, evaluation mode) as "
                       "a NIR graph with nir.write. Exit status: 0 written (and checked), 2 bad input, "
                       f"{EXPORT_CHECK_FAILED} the check found a difference. docs/nir.md lists what maps to what.")
    p.add_argument("workdir", help="a --workdir of revsnn train")
    p.add_argument("--nir", default=None, metavar="FILE", help="the file to write (default WORKDIR/model.nir)")
    p.add_argument("--dt", type=float, default=None, help="seconds per timestep, sets every LIF node's tau = dt / k "
                   "and is recorded in the metadata (default 1e-4)")
    p.add_argument("--check", action="store_true", help="read the file back (nir.read), compare it field by field "
                   "and run it here against the run's model on random inputs")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_export)
    bench = sub.add_parser("bench", help="benchmarks (memory, gradient error, time)")
    bench_sub = bench.add_subparsers(dest="what", required=True)

    def outputs(p):
        p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
        p.add_argument("--out", default=None, help="also write CSV and JSON into this folder")

    def layer(p, timesteps, batch, width, many=True):
        p.add_argument("--timesteps", type=_ints if many else _positive, default=timesteps,
                       help="comma-separated T values" if many else "T")
        p.add_argument("--batch-size", type=_positive, default=batch)
        p.add_argument("--width", type=_positive, default=width, help="neurons per sample (last axis)")
        outputs(p)

    def paper_neuron(p):
        add_neuron_flags(p.add_argument_group("the paper's neuron"),
                         only=("tau", "v_threshold", "v_reset", "alpha", "beta", "groups", "surrogate",
                               "surrogate_width"), defaults={})

    p = bench_sub.add_parser("neuron-memory", help="compiled temp bytes of one neuron layer per strategy")
    layer(p, (1, 2, 4, 8, 16, 32), 32, 1024)
    p.set_defaults(func=cmd_neuron_memory)
    p = bench_sub.add_parser("neuron-grad", help="gradient error of each strategy against bptt")
    layer(p, (4, 10, 20, 32), 16, 256)
    paper_neuron(p)
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--scale", type=float, default=1.0, help="inputs are N(0, scale^2)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_neuron_grad)
    p = bench_sub.add_parser("neuron-time", help="backward FLOPs per step and time ratios")
    layer(p, 8, 64, 1024, many=False)
    paper_neuron(p)
    p.add_argument("--repeats", type=_positive, default=20)
    p.set_defaults(func=cmd_neuron_time)

    from revsnn_jax.bench.network import NETWORK_CONFIGS
    from revsnn_jax.nn.models import MODELS
    model_help = f"one of: {', '.join(MODELS)}"
    configs_help = ("comma-separated [NEURON[settings]:]STRATEGY labels (e.g. bptt,inverse_grad,exact_rev:reverse); "
                    "a training method may stand for the strategy: ottt, sltt, dsr, dsr+low_memory "
                    "(e.g. dsr_lif:dsr)")
    p = bench_sub.add_parser("memory", help="compiled memory of one whole-network training step per configuration")
    p.add_argument("--model", default=None, help=model_help + " (default vgg19)")
    p.add_argument("--timesteps", type=_ints, default=None, help="T, or comma-separated T values for memory vs T "
                   "(default 20)")
    p.add_argument("--batch-size", type=_positive, default=128)
    p.add_argument("--input-size", type=_positive, default=32, help="height and width of the (square) input")
    p.add_argument("--frames", action="store_true", help="event-frame input [T, B, H, W, 2] (a new frame every "
                   "step, as event data) instead of one static 3-channel image")
    p.add_argument("--configs", default=None, help=configs_help + f"; default: {', '.join(NETWORK_CONFIGS)}")
    p.add_argument("--anchor-every", type=_positive, default=None, help="steps between kept potentials for the "
                   "anchored configurations (default sqrt(T))")
    p.add_argument("--peak", action="store_true", help="also run one real step per config and report the device's "
                   "peak_bytes_in_use (GPU; null on CPU)")
    p.add_argument("--buffers", type=_positive, default=None, metavar="N", help="also list the N largest buffers "
                   "(by shape) of each step's temp memory, from XLA's buffer assignment (one more compile each)")
    p.add_argument("--grid", action="store_true", help="the Fig. 5 grid: VGG-11..19 x T=1..20, ResNet-19..101 x "
                   "T=1,2,4,6,8,10 (resumable; writes memory_grid.csv/png into --out, default docs/results)")
    p.add_argument("--grid-models", default=None, help="comma-separated subset of the grid's models")
    outputs(p)
    p.set_defaults(func=cmd_memory)

    p = bench_sub.add_parser("time", help="forward/backward time ratios and per-step FLOPs of a whole network")
    p.add_argument("--model", default=None, help=model_help + " (default vgg11)")
    p.add_argument("--timesteps", type=_positive, default=None, help="T (default 4)")
    p.add_argument("--batch-size", type=_positive, default=16)
    p.add_argument("--configs", default=None, help=configs_help + " (must include bptt and reversible)")
    p.add_argument("--repeats", type=_positive, default=5, help="timed repeats per configuration (after one warm-up)")
    p.add_argument("--grid", action="store_true", help="the Fig. 6 grid: VGG-11/13/16/19 x T=4,6,8 (resumable; "
                   "writes time_grid.csv/png/json into --out, default docs/results)")
    p.add_argument("--grid-models", default=None, help="comma-separated subset of the grid's models")
    outputs(p)
    p.set_defaults(func=cmd_time)

    p = bench_sub.add_parser("step", help="one network step's pieces timed apart (where the backward's time goes)")
    p.add_argument("--model", default="vgg11", help=model_help)
    p.add_argument("--batch-size", type=_positive, default=16)
    p.add_argument("--repeats", type=_positive, default=20, help="timed repeats per part (after two warm-ups)")
    outputs(p)
    p.set_defaults(func=cmd_step)

    p = bench_sub.add_parser("network-check", help="whole-network gradient error vs bptt and step-time ratios")
    p.add_argument("--model", default="vgg11", help=model_help)
    p.add_argument("--timesteps", type=_positive, default=8)
    p.add_argument("--batch-size", type=_positive, default=8)
    p.add_argument("--input-size", type=_positive, default=32)
    p.add_argument("--configs", default=None, help=configs_help)
    p.add_argument("--repeats", type=_positive, default=3)
    outputs(p)
    p.set_defaults(func=cmd_network_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    global _ARGV
    _ARGV = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(_ARGV)
    try:
        return args.func(args)
    except InputError as e:   # bad input: one line, no trace (other errors keep their traceback: they are bugs)
        print(f"revsnn: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
