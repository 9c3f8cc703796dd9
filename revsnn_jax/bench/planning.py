"""``revsnn plan``: the schedules of :mod:`revsnn_jax.planner` compiled for a model's training step (SGD with
momentum, as ``revsnn bench memory``), their memory and recomputation, and the choice for a budget."""

from __future__ import annotations

import time
from typing import Callable

import jax

from revsnn_jax import neurons, planner
from revsnn_jax.bench.network import NetworkConfig, train_step_for
from revsnn_jax.compiled import memory_stats
from revsnn_jax.errors import InputError
from revsnn_jax.nn.models import MODELS


def network_plan(model: str, *, timesteps: int, batch_size: int, budget: int, input_size: int = 32,
                 frames: bool = False, neuron: str = "rev", margin: float = planner.MARGIN,
                 cache: str | None = "default", progress: Callable[[str], None] | None = None) -> dict:
    """The plan's JSON object (:meth:`revsnn_jax.planner.Plan.as_json`) plus the shapes, the backend and the
    planning time; ``cache=None`` compiles everything again."""
    if neuron not in neurons.NEURONS:
        raise InputError(f"unknown neuron {neuron!r}; valid neurons: {', '.join(neurons.NEURONS)}")
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}; valid models: {', '.join(MODELS)}")
    store = planner.MemoryCache(cache)
    shape = f"{model}|T={timesteps}|B={batch_size}|{input_size}x{input_size}|{'frames' if frames else 'direct'}"

    def measure(strategy):
        label = f"{neuron}:{strategy.label}"
        key = f"{shape}|{label}|slots={strategy.anchor_slots}|{planner.backend_key()}"

        def compile_():
            cfg = NetworkConfig(label, strategy, neurons.NEURONS[neuron]())
            step, args, _ = train_step_for(model, cfg, timesteps=timesteps, batch_size=batch_size,
                                           input_size=input_size, frames=frames)
            return memory_stats(step.lower(*args).compile())
        return store.measure(key, compile_)

    start = time.perf_counter()
    plan = planner.make_plan(planner.candidates(neurons.NEURONS[neuron](), timesteps), measure, timesteps, budget,
                             margin=margin, progress=progress)
    return {"model": model, "timesteps": timesteps, "batch_size": batch_size, "input_size": input_size,
            "frames": frames, "neuron": neuron, "backend": jax.default_backend(), **plan.as_json(),
            "planning_seconds": round(time.perf_counter() - start, 1)}


def add_parser(sub, positive) -> None:
    """The ``revsnn plan`` subcommand."""
    p = sub.add_parser("plan", help="compile the candidate gradient schedules of a model's training step and pick "
                       "the fastest that fits a memory budget (no data, no training)")
    p.add_argument("--model", required=True, help="one of: " + ", ".join(MODELS))
    p.add_argument("--timesteps", type=positive, required=True, help="T")
    p.add_argument("--batch-size", type=positive, required=True)
    p.add_argument("--input-size", type=positive, default=32, help="height and width of the (square) input")
    p.add_argument("--frames", action="store_true", help="event-frame input [T, B, H, W, 2] instead of one static "
                   "3-channel image")
    p.add_argument("--neuron", default="rev", choices=tuple(neurons.NEURONS), help="every layer's neuron (reverse "
                   "and segmented reverse are candidates for exact_rev)")
    p.add_argument("--budget", required=True, type=planner.parse_bytes, help="memory for one training step: "
                   "4GiB, 512MiB, 2GB, ...")
    p.add_argument("--margin", type=float, default=planner.MARGIN, help="share of the budget left free "
                   f"(default {planner.MARGIN})")
    p.add_argument("--no-cache", action="store_true", help="compile every candidate again (the cache is "
                   "plans/memory.json in the data directory)")
    p.add_argument("--json", action="store_true", help='print {"config", "temp_bytes", "candidates", ...}')


def run(args, progress) -> dict:
    """Runs ``revsnn plan`` and prints its table (or JSON); returns the plan."""
    import json

    result = network_plan(args.model, timesteps=args.timesteps, batch_size=args.batch_size, budget=args.budget,
                          input_size=args.input_size, frames=args.frames, neuron=args.neuron, margin=args.margin,
                          cache=None if args.no_cache else "default", progress=progress)
    if args.json:
        print(json.dumps(result))
    else:
        print(table(result))
    planner.require_choice(planner.Plan(result["budget_bytes"], result["margin"], result["candidates"],
                                        next((r for r in result["candidates"] if r["config"] == result["config"]),
                                             None)))
    return result


def table(result: dict) -> str:
    """The plan as text: one row per candidate, the Pareto front and the choice marked."""
    lines = [f"{result['model']}, T={result['timesteps']}, batch {result['batch_size']}, "
             f"{result['input_size']}x{result['input_size']} {'frames' if result['frames'] else 'images'}, neuron "
             f"{result['neuron']} ({result['backend']}); budget {result['budget_bytes'] / 2**20:,.0f} MiB with a "
             f"{result['margin']:.0%} margin; planned in {result['planning_seconds']} s",
             f"{'config':46} {'MiB':>9} {'fwd/step':>9}  pareto  fits"]
    for r in result["candidates"]:
        mark = "->" if r["config"] == result["config"] else "  "
        if "error" in r:
            lines.append(f"{mark}{r['config']:44} {r['error']}")
            continue
        lines.append(f"{mark}{r['config']:44} {r['total_bytes'] / 2**20:9,.1f} {r['forward_steps']:9}  "
                     f"{'yes' if r['pareto'] else '':6}  {'yes' if r['fits'] else 'no'}")
    lines.append(f"chosen: {result['config']}" if result["config"] else "chosen: none fits")
    return "\n".join(lines)
