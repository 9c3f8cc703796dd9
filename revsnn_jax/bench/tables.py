"""The rows of the ``revsnn bench`` commands: measurements from :mod:`~revsnn_jax.bench.neuron` and
:mod:`~revsnn_jax.bench.network` with their derived columns (ratios, MiB, what fits this machine), and the
resumable Fig. 5/6 grids. Each function returns ``(rows, info)`` (``info``: what the JSON file records beside the
rows); the command line prints and writes them (:mod:`revsnn_jax.bench.report`).
"""

from __future__ import annotations

import json
import os
from typing import Callable, Sequence

from revsnn_jax.bench import grids, network, neuron, plots
from revsnn_jax.errors import InputError

Progress = Callable[[str], None] | None

TIME_WHAT = ("median forward (jax.vjp of the loss) and backward (the VJP applied) time of one iteration per "
             "configuration, interleaved in one run; ratios against bptt and reversible (anchored); step = forward + "
             "backward. Per-step FLOPs (XLA cost analysis) of each configuration's own programs: step_vjp_flops (the "
             "VJP it takes per timestep) and step_forward_flops (its recompute: a step forward, or the rebuild); "
             "backward FLOPs per step = step_vjp_flops + recompute_forwards * step_forward_flops")
STEP_WHAT = ("median time of one network step's forward and of its VJP variants (jax.vjp of the step, applied; "
             "what the backward runs per timestep) and of the exact neuron's rebuild, interleaved in one run, "
             "relative to the VJP with the neuron differentiated by autodiff; FLOPs from XLA cost analysis. "
             "backward_vs_forward is (VJP - forward) / forward")


# --- one neuron layer ------------------------------------------------------------------------------------------

def neuron_memory(timesteps, batch_size: int, width: int, progress: Progress = None):
    """``(rows, info, table)``: temp bytes per (T, configuration), and MiB as a T x configuration table."""
    rows = neuron.neuron_memory(timesteps, batch_size, width, progress=progress)
    by_t = {}
    for r in rows:
        by_t.setdefault(r["timesteps"], {})[r["config"]] = r["temp_bytes"]
    table = [{"T": t, **{c: f"{b / 2**20:.2f}" for c, b in cols.items()}} for t, cols in by_t.items()]
    info = {"unit": "bytes", "what": "XLA temp bytes of one neuron layer forward+backward, float32 "
            f"[T, {batch_size}, {width}]; inputs and outputs excluded"}
    return rows, info, table


def neuron_gradients(timesteps, batch_size: int, width: int, dtype, scale: float, seed: int, paper_neuron):
    rows = neuron.neuron_gradient_error(timesteps, batch_size, width, dtype, scale, seed, paper_neuron)
    for r in rows:
        r.update(relative_error=float(f"{r['relative_error']:.3e}"), max_abs_error=float(f"{r['max_abs_error']:.3e}"),
                 cosine=round(r["cosine"], 9))
    info = {"what": "gradient of a random linear loss on (ys, v_last) w.r.t. (xs, v0) vs plain autodiff (bptt) of "
                    "the same neuron"}
    return rows, info


def neuron_times(timesteps: int, batch_size: int, width: int, repeats: int, paper_neuron):
    """``(rows, info, summary)``: backward FLOPs per step and time ratios of one neuron layer."""
    step_flops = neuron.backward_step_flops(paper_neuron, batch_size, width)
    times = neuron.backward_times(timesteps, batch_size, width, repeats, rev=paper_neuron)
    ref_b, ref_fb = times["rev/anchored"]["backward_s"], sum(times["rev/bptt"].values())
    rows = [{"config": label, "rule_flops": int(step_flops[label]["rule"]),
             "backward_flops_per_step": int(step_flops[label]["per_step"]),
             "backward_vs_rev_anchored": round(t["backward_s"] / ref_b, 3),
             "step_vs_rev_bptt": round((t["forward_s"] + t["backward_s"]) / ref_fb, 3)} for label, t in times.items()]
    info = {"timesteps": timesteps, "batch_size": batch_size, "width": width,
            "what": "FLOPs of the neuron's backward rule from saved residuals (rule_flops) and of everything each "
                    "backward runs per timestep (XLA cost analysis); median backward time relative to rev/anchored "
                    "and forward+backward time relative to rev/bptt, interleaved"}
    ig, rv = step_flops["rev/anchored+closed_form"], step_flops["rev/anchored"]
    summary = (f"closed-form rule: {1 - ig['rule'] / rv['rule']:.1%} fewer FLOPs than autodiff's transpose; anchored "
               f"backward per step: {1 - ig['per_step'] / rv['per_step']:.1%} fewer (paper: 23% less time)")
    return rows, info, summary


# --- whole networks --------------------------------------------------------------------------------------------

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


def memory(model: str, timesteps: Sequence[int], batch_size: int, configs: Sequence[str], *, input_size: int,
           frames: bool, anchor_every: int | None, peak: bool, buffers: int | None, progress: Progress = None):
    """``(rows, info, name)`` of ``revsnn bench memory``: temp bytes per (T, configuration), MiB, BPTT's memory over
    each, whether it fits here; ``info["largest_buffers"]`` with ``buffers``."""
    rows, out, largest = [], None, {}
    shape = {"input_size": input_size, "frames": frames}
    for t in timesteps:
        out = network.network_memory(model, timesteps=t, batch_size=batch_size, configs=configs,
                                     anchor_every=anchor_every, progress=progress, **shape)
        for label, r in out["results"].items():
            if peak:
                r["peak_bytes_in_use"] = network.measure_peak(model, label, timesteps=t, batch_size=batch_size,
                                                              **shape)
            rows.append({"model": model, "timesteps": t, "batch_size": batch_size, "config": label, **r})
            if buffers:
                largest[f"{label} T={t}"] = network.largest_buffers(model, label, timesteps=t, batch_size=batch_size,
                                                                    top=buffers, **shape)
    base = {r["timesteps"]: r["temp_bytes"] for r in rows if r["config"] == "bptt"}
    limit, _ = device_memory()
    for r in rows:
        r["mib"] = round(r["temp_bytes"] / 2**20, 1)
        r["fits_here"] = None if limit is None else bool(r["temp_bytes"] + r.get("argument_bytes", 0) <= limit)
        if base.get(r["timesteps"]) and r["temp_bytes"]:
            r["bptt_over_this"] = round(base[r["timesteps"]] / r["temp_bytes"], 2)
    name = f"memory_{model}_T{'-'.join(map(str, timesteps))}_B{batch_size}" + (f"_frames{input_size}" if frames else "")
    info = {"unit": "bytes", "what": "XLA temp bytes of one training step (loss, gradients, SGD-momentum update), "
            + (f"event frames [T, B, {input_size}, {input_size}, 2]" if frames else
               f"input {input_size}x{input_size}x3")}
    if len(timesteps) == 1:   # the documented JSON object: {model, timesteps, batch_size, input_shape, results}
        info.update(out)
    if largest:
        info["largest_buffers"] = largest
    return rows, info, name


def memory_plot(rows: list[dict], path: str, model: str, batch_size: int) -> None:
    limit, where = device_memory()
    plots.memory_vs_t(rows, path, f"{model}, batch {batch_size}: one training step's memory vs T", limit_bytes=limit,
                      limit_label=where)


def memory_grid(out: str, batch_size: int, models: Sequence[str] | None, meta: dict, progress: Progress) -> str:
    """Fig. 5: memory vs T for every model of the grid, resumable (rows already in the CSV are kept); writes
    ``memory_grid.{csv,png,json}`` into ``out`` and returns the CSV's path."""
    table = grids.ResumableCSV(os.path.join(out, "memory_grid.csv"), ("model", "timesteps", "config"))
    models = list(models or network.GRID)
    unknown = [m for m in models if m not in network.GRID]
    if unknown:
        raise InputError(f"--grid-models: {', '.join(unknown)} not in the grid ({', '.join(network.GRID)})")
    cells = [{"model": m, "timesteps": t, "config": c} for m in models for t in network.GRID[m]
             for c in network.GRID_CONFIGS]

    def measure(cell):
        r = network.network_memory(cell["model"], timesteps=cell["timesteps"], batch_size=batch_size,
                                   configs=(cell["config"],))["results"][cell["config"]]
        return [{**cell, "batch_size": batch_size, **r}]

    grids.sweep(table, cells, measure, progress)
    plots.memory_grid(table.rows, os.path.join(out, "memory_grid.png"),
                      f"Memory of one training step, batch {batch_size}, 32x32 input (cf. paper Fig. 5)")
    complete = [m for m in network.GRID if all(table.done({"model": m, "timesteps": t, "config": c})
                                               for t in network.GRID[m] for c in network.GRID_CONFIGS)]
    _write_json(os.path.join(out, "memory_grid.json"), {
        **meta, "command": f"revsnn bench memory --grid --batch-size {batch_size} --out {out}", "unit": "bytes",
        "what": "XLA temp bytes of one training step (loss, gradients, SGD update), CIFAR input 32x32x3",
        "batch_size": batch_size, "complete_models": complete,
        "missing_models": [m for m in network.GRID if m not in complete],
        "note": "resumable: re-running the command fills in the missing rows"})
    return table.path


def time_rows(model: str, timesteps: int, batch_size: int, repeats: int, seconds: bool, configs,
              progress: Progress = None, input_size: int = 32, frames: bool = False) -> list[dict]:
    """One row per configuration: time ratios (and seconds where ``seconds``) plus per-step FLOPs. A configuration
    whose compiled training step needs more memory than this machine has is skipped with a one-line message (its
    row says why)."""
    missing = [c for c in ("bptt", "reversible") if c not in configs]
    if missing:
        raise InputError(f"--configs must include {' and '.join(missing)} (the ratios are taken against them)")
    res = network.network_phase_times(model, timesteps=timesteps, batch_size=batch_size, repeats=repeats,
                                      configs=configs, progress=progress, input_size=input_size, frames=frames,
                                      limit_bytes=device_memory()[0])
    for reference in ("bptt", "reversible"):
        if "skipped" in res[reference]:
            raise InputError(f"{reference} {res[reference]['skipped']} (the ratios are taken against it): choose a "
                             "smaller --timesteps, --batch-size or --input-size")
    step = {label: r["forward_s"] + r["backward_s"] for label, r in res.items() if "skipped" not in r}
    rows = []
    for label, r in res.items():
        row = {"model": model, "timesteps": timesteps, "batch_size": batch_size, "config": label}
        if "skipped" in r:
            rows.append({**row, "skipped": r["skipped"]})
            continue
        row.update({"forward_vs_bptt": round(r["forward_s"] / res["bptt"]["forward_s"], 3),
                    "backward_vs_bptt": round(r["backward_s"] / res["bptt"]["backward_s"], 3),
                    "backward_vs_reversible": round(r["backward_s"] / res["reversible"]["backward_s"], 3),
                    "step_vs_bptt": round(step[label] / step["bptt"], 3),
                    "step_vjp_flops": int(r["step_vjp_flops"]), "step_forward_flops": int(r["step_forward_flops"]),
                    "recompute_forwards": round(r["recompute_forwards"], 3)})
        if seconds:
            row.update(forward_s=round(r["forward_s"], 5), backward_s=round(r["backward_s"], 5))
        rows.append(row)
    return rows


def time_grid(out: str, batch_size: int, repeats: int, seconds: bool, configs, models: Sequence[str] | None,
              meta: dict, progress: Progress) -> str:
    """Fig. 6 counterpart: time ratios for VGG-11/13/16/19 x T=4,6,8 (resumable, like the memory grid)."""
    table = grids.ResumableCSV(os.path.join(out, "time_grid.csv"), ("model", "timesteps"))
    cells = [{"model": m, "timesteps": t} for m in (models or network.TIME_GRID) for t in network.TIME_GRID[m]]
    grids.sweep(table, cells, lambda c: time_rows(c["model"], c["timesteps"], batch_size, repeats, seconds, configs,
                                                  progress), progress)
    plots.time_grid(table.rows, os.path.join(out, "time_grid.png"),
                    f"Whole-network training-step time / BPTT, batch {batch_size} (cf. paper Fig. 6)")
    _write_json(os.path.join(out, "time_grid.json"), {
        **meta, "command": f"revsnn bench time --grid --batch-size {batch_size} --repeats {repeats} --out {out}",
        "batch_size": batch_size, "repeats": repeats, "what": TIME_WHAT})
    return table.path


def step_anatomy(model: str, batch_size: int, repeats: int, seconds: bool, progress: Progress = None):
    """``(rows, summary)``: one network step's pieces timed apart, relative to the anatomy's reference VJP."""
    res = network.step_anatomy(model, batch_size=batch_size, repeats=repeats, progress=progress)
    base = res["vjp_reversible"]["seconds"]
    rows = []
    for part, r in res.items():
        row = {"model": model, "batch_size": batch_size, "part": part,
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
        "exact_reverse_step_vs_anchored_step": round((t["rebuild_exact_rev"] + t["vjp_exact_rev_replayed"])
                                                     / (t["forward"] + t["vjp_reversible"]), 3),
    }
    return rows, summary


def network_check(model: str, timesteps: int, batch_size: int, input_size: int, configs, repeats: int,
                  progress: Progress = None) -> list[dict]:
    """Gradient error of every configuration against BPTT, and training-step time ratios, on one network."""
    errors = network.network_gradient_error(model, timesteps=timesteps, batch_size=batch_size, input_size=input_size,
                                            configs=configs, progress=progress)
    times = network.network_step_times(model, timesteps=timesteps, batch_size=batch_size, input_size=input_size,
                                       repeats=repeats, configs=configs, progress=progress)
    return [{"model": model, "timesteps": timesteps, "batch_size": batch_size, "config": label,
             "relative_error": float(f"{errors[label]['relative_error']:.3e}") if label in errors else 0.0,
             "cosine": round(errors[label]["cosine"], 9) if label in errors else 1.0,
             "step_time_vs_bptt": round(t / times["bptt"], 3) if "bptt" in times else ""}
            for label, t in times.items()]


def _write_json(path: str, value: dict) -> None:
    with open(path, "w") as f:
        json.dump(value, f, indent=1)
        f.write("\n")
