"""Figures for docs/memory_budget.md that are not one ``revsnn bench`` table: the compile time of the schedules at
T=20 and T=1000, and what ``revsnn plan`` chooses at a range of budgets.

Commands (CPU, 2 cores, a few minutes each)::

    python experiments/memory_budget.py compile-time --out docs/results/schedule_compile_time.json
    python experiments/memory_budget.py plans --out docs/results/plan_vgg_events16_T200_B64.json

``compile-time`` lowers and compiles one training step (vgg_events on 16x16x2 frames, batch 64) per configuration
and T, in this process, in turn; ``plans`` runs ``revsnn plan`` once (every candidate compiled, then cached) and
reads the choice at each budget from the same figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

COMPILE_CONFIGS = ("inverse_grad+low_memory", "inverse_grad+binomial", "inverse_grad+binomial[slots=4]",
                   "exact_rev:reverse", "exact_rev:reverse+segmented")
BUDGETS_MIB = (40, 50, 60, 80, 100, 150, 400, 2048)


def compile_time(timesteps=(20, 1000)) -> dict:
    from revsnn_jax.bench.network import NetworkConfig, train_step_for
    from revsnn_jax.compiled import memory_stats

    rows = []
    for label in COMPILE_CONFIGS:
        for t in timesteps:
            start = time.perf_counter()
            step, args, _ = train_step_for("vgg_events", NetworkConfig.parse(label), timesteps=t, batch_size=64,
                                           input_size=16, frames=True)
            compiled = step.lower(*args).compile()
            seconds = time.perf_counter() - start
            rows.append({"config": label, "timesteps": t, "compile_seconds": round(seconds, 2),
                         "temp_mib": round(memory_stats(compiled)["temp_bytes"] / 2**20, 1)})
            print(rows[-1], file=sys.stderr, flush=True)
    ratios = {label: round(next(r["compile_seconds"] for r in rows if r["config"] == label and r["timesteps"] ==
                                timesteps[-1]) /
                           next(r["compile_seconds"] for r in rows if r["config"] == label and r["timesteps"] ==
                                timesteps[0]), 2) for label in COMPILE_CONFIGS}
    return {"what": "seconds to trace, lower and compile one training step (vgg_events, 16x16x2 frames, batch 64)",
            "rows": rows, "ratio_T1000_over_T20": ratios}


def plans() -> dict:
    base = [sys.executable, "-m", "revsnn_jax.cli", "plan", "--model", "vgg_events", "--frames", "--input-size", "16",
            "--timesteps", "200", "--batch-size", "64", "--json"]
    out = {}
    for mib in BUDGETS_MIB:
        run = subprocess.run(base + ["--budget", f"{mib}MiB"], capture_output=True, text=True)
        result = json.loads(run.stdout) if run.stdout.strip() else None
        out[f"{mib}MiB"] = {"config": result and result["config"],
                            "total_mib": result and result["total_bytes"] and round(result["total_bytes"] / 2**20, 1),
                            "planning_seconds": result and result["planning_seconds"],
                            "error": run.stderr.strip().splitlines()[-1] if run.returncode else None}
        print(mib, out[f"{mib}MiB"], file=sys.stderr, flush=True)
        if result:
            candidates = result["candidates"]
    return {"what": "revsnn plan --model vgg_events --frames --input-size 16 --timesteps 200 --batch-size 64 "
                    "--budget B (10% margin): the choice at each budget; candidates as measured (MiB = temp plus "
                    "arguments: the 26 MiB of frames are arguments)",
            "choices": out, "candidates": candidates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("compile-time", "plans"))
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    result = compile_time() if args.what == "compile-time" else plans()
    result["command"] = f"python experiments/memory_budget.py {args.what} --out {args.out}"
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
