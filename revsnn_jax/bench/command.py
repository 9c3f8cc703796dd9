"""``revsnn bench``: each subcommand calls its table function in :mod:`revsnn_jax.bench.tables`, then prints the
rows and writes them (CSV and JSON with ``--out``)."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Sequence

import jax

from revsnn_jax.bench import network, report, tables
from revsnn_jax.errors import InputError
from revsnn_jax.neurons import RevLIFParams


def _emit(args, meta: dict, rows: list[dict], name: str, info: dict, columns=None, header: str | None = None) -> None:
    """Writes the rows (``--out``) and prints them (``--json``: one JSON object; else a table)."""
    info = {**meta, **info}
    report.write(rows, args.out, name, info)
    if args.json:
        print(json.dumps({**info, "rows": rows}))
        return
    if header:
        print(header)
    print(report.table(rows, columns))


def _paper_neuron(args):
    """The paper's neuron with the ``--tau``/``--alpha``/... given to a neuron benchmark."""
    names = {f.name for f in dataclasses.fields(RevLIFParams)}
    return RevLIFParams(**{k: v for k, v in vars(args).items() if k in names and v is not None})


def _configs(args, default) -> tuple[str, ...]:
    labels = tuple(network.split_labels(args.configs)) if args.configs else tuple(default)
    network.parse_configs(labels)   # every label checked before anything is measured
    return labels


def _no_grid_conflicts(args, names: Sequence[str]) -> None:
    given = [n for n in names if getattr(args, n.replace("-", "_")) is not None]
    if args.grid and given:
        raise InputError(f"--grid runs its own models, timesteps and configurations; drop "
                         f"{', '.join('--' + n for n in given)} (or use --grid-models to pick models)")


def _seconds() -> bool:
    return jax.default_backend() != "cpu"   # CPU seconds are not comparable across machines: ratios only


def run(args, argv: Sequence[str]) -> int:
    """Every ``revsnn bench`` subcommand: its table function, then the rows printed and written (``argv``: the
    command line, recorded with the results)."""
    meta = report.meta(argv)
    what, progress = args.what, report.progress
    models = args.grid_models.split(",") if getattr(args, "grid_models", None) else None
    if what == "neuron-memory":
        rows, info, table = tables.neuron_memory(args.timesteps, args.batch_size, args.width, progress)
        report.write(rows, args.out, "neuron_memory", {**meta, **info})
        if args.json:
            print(json.dumps({**meta, **info, "rows": rows}))
        else:
            print(f"temp MiB, one neuron layer, batch {args.batch_size}, width {args.width}, float32")
            print(report.table(table))
    elif what == "neuron-grad":
        if args.dtype == "float64":
            jax.config.update("jax_enable_x64", True)
        rows, info = tables.neuron_gradients(args.timesteps, args.batch_size, args.width, jax.numpy.dtype(args.dtype),
                                             args.scale, args.seed, _paper_neuron(args))
        _emit(args, meta, rows, f"neuron_gradients_{args.dtype}", info,
              ["config", "timesteps", "dtype", "relative_error", "cosine", "max_abs_error"])
    elif what == "neuron-time":
        rows, info, summary = tables.neuron_times(args.timesteps, args.batch_size, args.width, args.repeats,
                                                  _paper_neuron(args))
        _emit(args, meta, rows, "neuron_backward", info)
        if not args.json:
            print(summary)
    elif what == "memory":
        _no_grid_conflicts(args, ("model", "timesteps", "configs", "buffers"))
        if args.grid:
            path = tables.memory_grid(args.out or "docs/results", args.batch_size, models, meta,
                                      progress)
            print(f"wrote {path} and memory_grid.png")
            return 0
        _bench_memory(args, meta, _configs(args, network.NETWORK_CONFIGS))
    elif what == "time":
        _no_grid_conflicts(args, ("model", "timesteps", "configs"))
        configs = _configs(args, network.TIME_CONFIGS)
        if args.grid:
            path = tables.time_grid(args.out or "docs/results", args.batch_size, args.repeats, _seconds(), configs,
                                    models, meta, progress)
            print(f"wrote {path} and time_grid.png")
            return 0
        model, timesteps = args.model or "vgg11", args.timesteps or 4
        rows = tables.time_rows(model, timesteps, args.batch_size, args.repeats, _seconds(), configs, progress,
                                input_size=args.input_size, frames=args.frames)
        info = {"what": tables.TIME_WHAT, "repeats": args.repeats, "model": model, "timesteps": timesteps,
                "batch_size": args.batch_size, "input_size": args.input_size, "frames": args.frames}
        shape = f"_frames{args.input_size}" if args.frames else "" if args.input_size == 32 else f"_{args.input_size}"
        _emit(args, meta, rows, f"time_{model}{shape}_T{timesteps}_B{args.batch_size}", info,
              list(dict.fromkeys(c for r in rows for c in r if c not in ("model", "timesteps", "batch_size"))),
              header=f"{model}, T={timesteps}, batch {args.batch_size} ({jax.default_backend()})")
    elif what == "step":
        rows, summary = tables.step_anatomy(args.model, args.batch_size, args.repeats, _seconds(), progress)
        _emit(args, meta, rows, f"step_anatomy_{args.model}_B{args.batch_size}",
              {"what": tables.STEP_WHAT, "repeats": args.repeats, "summary": summary},
              [c for c in rows[0] if c not in ("model", "batch_size")],
              header=f"{args.model}, one step, batch {args.batch_size} ({jax.default_backend()})")
        if not args.json:
            print("\n".join(f"{k}: {v}" for k, v in summary.items()))
    else:   # network-check
        rows = tables.network_check(args.model, args.timesteps, args.batch_size, args.input_size,
                                    _configs(args, network.NETWORK_CONFIGS), args.repeats, progress)
        info = {"what": "float32 parameter gradients vs bptt of the same network and neuron (BatchNorm in training "
                        "mode) and median training-step time relative to bptt, interleaved in one run"}
        _emit(args, meta, rows, f"network_check_{args.model}_T{args.timesteps}_B{args.batch_size}", info,
              ["config", "relative_error", "cosine", "step_time_vs_bptt"])
    return 0


def _bench_memory(args, meta: dict, configs) -> None:
    model, timesteps, batch = args.model or "vgg19", args.timesteps or (20,), args.batch_size
    rows, info, name = tables.memory(model, timesteps, batch, configs, input_size=args.input_size, frames=args.frames,
                                     anchor_every=args.anchor_every, peak=args.peak, buffers=args.buffers,
                                     progress=report.progress)
    _emit(args, meta, rows, name, info, ["timesteps", "config", "mib", "bptt_over_this"],
          header=f"{model}, batch {batch}: temp MiB of one training step")
    for key, entries in ({} if args.json else info.get("largest_buffers", {})).items():
        print(f"\n{key}: largest temp buffers by shape (count x MiB each = MiB)")
        for b in entries:
            print(f"  {b['shape']:<44} {b['count']:>4} x {b['bytes_each'] / 2**20:9.2f} = {b['bytes'] / 2**20:9.1f}")
    if args.out and len(timesteps) > 1:
        tables.memory_plot(rows, os.path.join(args.out, name + ".png"), model, batch)
