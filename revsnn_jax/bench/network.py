"""Whole-network measurements: compiled memory of a training step, gradient error, time, per-step FLOPs.

``temp_bytes`` is XLA's compiled memory analysis of the jitted training step (loss, gradients, SGD-momentum
update): deterministic, available on CPU, measured without running anything. On a GPU, :func:`measure_peak` also
runs one real step in a fresh process per configuration and reads the device's ``peak_bytes_in_use``.

A configuration is ``[NEURON[SETTINGS]:]STRATEGY[SCHEDULE]``: a strategy label of :mod:`revsnn_jax.strategies`
(aliases included), on the paper's neuron unless a neuron kind is given (``exact_rev:reverse``, ``lif:anchored``),
with optional neuron settings (``exact_rev[alpha=0.25,snap=false]:reverse``) and schedule settings
(``inverse_grad+binomial[slots=4]``, ``exact_rev:reverse+segmented[every=10]``). In place of a strategy a
training method of :mod:`revsnn_jax.methods` may be named: ``ottt`` (trace decay:
:func:`revsnn_jax.methods.online.default_trace_decay`), ``sltt``, ``dsr`` and
``dsr+low_memory`` (``lif[decay_input=false,soft_reset=true]:ottt``, ``dsr_lif:dsr``, ``rev:dsr``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import optax

from revsnn_jax import methods, neurons, nn, train
from revsnn_jax.bench import timing
from revsnn_jax.compiled import abstract, flops, memory_stats
from revsnn_jax.errors import InputError
from revsnn_jax.methods import METHODS, Method
from revsnn_jax.nn import network
from revsnn_jax.planner import recompute_forwards
from revsnn_jax.strategies import Strategy

NETWORK_CONFIGS = ("bptt", "checkpoint", "reversible", "inverse_grad", "reversible+low_memory",
                   "inverse_grad+low_memory", "inverse_grad+binomial", "reversible+keep_convs",
                   "inverse_grad+keep_convs", "lif:bptt", "lif:anchored", "lif:anchored+low_memory", "exact_rev:bptt",
                   "exact_rev:reverse", "exact_rev:reverse+segmented")
_RESNET_T = (1, 2, 4, 6, 8, 10)   # every other T: a ResNet-101 compile takes minutes on 2 CPU cores
GRID = {"vgg19": range(1, 21), "vgg11": range(1, 21), "resnet19": _RESNET_T, "vgg13": range(1, 21),
        "vgg16": range(1, 21), "resnet34": _RESNET_T, "resnet50": _RESNET_T, "resnet101": _RESNET_T}
GRID_CONFIGS = ("bptt", "inverse_grad", "inverse_grad+low_memory", "exact_rev:reverse")
TIME_CONFIGS = ("bptt", "checkpoint", "reversible", "inverse_grad", "inverse_grad+keep_convs", "exact_rev:reverse")
TIME_GRID = {"vgg11": (4, 6, 8), "vgg13": (4, 6, 8), "vgg16": (4, 6, 8), "vgg19": (4, 6, 8)}


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """A benchmark configuration: its label, the strategy value and the neuron every layer uses."""

    label: str
    strategy: Strategy
    neuron: object
    method: Method = Method()

    @classmethod
    def parse(cls, label: str, anchor_every: int | None = None) -> "NetworkConfig":
        kind, _, strategy_label = label.rpartition(":")
        kind, _, settings = (kind or "rev").partition("[")
        if kind not in neurons.NEURONS:
            raise InputError(f"unknown neuron {kind!r} in configuration {label!r}; valid neurons: "
                             f"{', '.join(neurons.NEURONS)}")
        try:
            neuron = neurons.NEURONS[kind](**(_settings(settings.rstrip("]"), label) if settings else {}))
        except TypeError as e:
            raise InputError(f"configuration {label!r}: {e}") from None
        strategy_label, schedule = _schedule_settings(strategy_label, label)
        anchor_every = schedule.get("every", anchor_every)
        name, _, refinement = strategy_label.partition("+")
        method = name if name in METHODS and name != "exact" else "exact"   # a method may stand for the strategy
        if method == "exact":
            try:
                anchored = Strategy.parse(strategy_label).loop == "anchored"
            except InputError as e:
                raise InputError(f"unknown configuration {label!r}: {e}") from None
        elif schedule:
            raise InputError(f"configuration {label!r}: method {name} has no schedule settings")
        elif refinement not in ("", "low_memory") or (refinement and method != "dsr"):
            raise InputError(f"configuration {label!r}: method {name} takes no {refinement!r} (only dsr+low_memory)")
        try:
            if method == "exact":
                resolved = methods.resolve(neuron, strategy=strategy_label,
                                           anchor_every=anchor_every if anchored or "every" in schedule else None,
                                           anchor_slots=schedule.get("slots"), fix=f"write exact_rev:{strategy_label}")
            else:
                resolved = methods.resolve(neuron, method=method, low_memory=bool(refinement))
        except InputError as e:
            raise InputError(f"configuration {label!r}: {e}") from None
        return cls(label, resolved.strategy, resolved.neuron, resolved.method)


def _schedule_settings(strategy_label: str, label: str) -> tuple[str, dict]:
    """``inverse_grad+binomial[slots=4]`` -> ``("inverse_grad+binomial", {"slots": 4})`` (also ``every=K``, the
    spacing of anchored and segmented reverse; the planner's labels read back this way)."""
    if not strategy_label.endswith("]"):
        return strategy_label, {}
    strategy_label, _, text = strategy_label[:-1].partition("[")
    values = _settings(text, label)
    unknown = sorted(set(values) - {"slots", "every"})
    if unknown or not all(isinstance(v, int) and not isinstance(v, bool) for v in values.values()):
        raise InputError(f"configuration {label!r}: a strategy takes [slots=N] (binomial) or [every=K] (anchored, "
                         "segmented reverse), integers")
    return strategy_label, values


def _settings(text: str, label: str) -> dict:
    """``alpha=0.25,snap=false`` -> ``{"alpha": 0.25, "snap": False}``."""
    out = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"configuration {label!r}: neuron settings are name=value, got {item!r}")
        low = value.strip().lower()
        try:
            out[key.strip()] = True if low == "true" else False if low == "false" else \
                int(value) if value.strip().lstrip("-").isdigit() else float(value)
        except ValueError:
            raise InputError(f"configuration {label!r}: {key.strip()}={value!r} is not a number "
                             f"or true/false") from None
    return out


def split_labels(text: str) -> list[str]:
    """Comma-separated configuration labels; commas inside ``[...]`` belong to neuron settings."""
    labels, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            labels.append(current)
            current = ""
        else:
            current += ch
    return [label for label in labels + [current] if label]


def parse_configs(labels: Sequence[str], anchor_every: int | None = None) -> list[NetworkConfig]:
    """Every label parsed up front, so that a typo fails before anything is measured."""
    return [NetworkConfig.parse(label, anchor_every) for label in labels]


def _model(model_name: str, neuron, input_size: int, channels: int, num_classes: int, batch_size: int,
           timesteps: int, frames: bool = False):
    """The model and its abstract input: images ``[B, H, W, C]``, or event frames ``[T, B, H, W, C]``."""
    model = nn.create_model(model_name, num_classes=num_classes, in_channels=channels, neuron=neuron)
    shape = (batch_size, input_size, input_size, channels)
    images = jax.ShapeDtypeStruct((timesteps, *shape) if frames else shape, jnp.float32)
    nn.check_inputs(model, images, timesteps, "frames" if frames else "direct", model_name)
    return model, images


def train_step_for(model_name: str, config: NetworkConfig, *, timesteps: int, batch_size: int, input_size: int = 32,
                   channels: int | None = None, num_classes: int = 10, donate: bool = True, frames: bool = False):
    """``(jitted train step, its abstract arguments, (model, optimizer))`` for one configuration (SGD+momentum).

    ``frames``: event-frame input ``[T, B, H, W, C]`` (``channels`` default 2, ON/OFF) instead of a static image
    (default 3 channels). ``donate=False`` keeps the state buffers valid after a call, for timing the same state
    repeatedly."""
    channels = channels or (2 if frames else 3)
    model, images = _model(model_name, config.neuron, input_size, channels, num_classes, batch_size, timesteps,
                           frames)
    graphdef, params, batch_stats = nn.split(model)
    optimizer = optax.sgd(0.1, momentum=0.9)
    step = train.make_train_step(graphdef, optimizer, timesteps=timesteps, strategy=config.strategy,
                                 encoding="frames" if frames else "direct", method=config.method)
    args = (abstract(params), abstract(batch_stats), jax.eval_shape(optimizer.init, params), images,
            jax.ShapeDtypeStruct((batch_size,), jnp.int32))
    return jax.jit(step, donate_argnums=(0, 1, 2) if donate else ()), args, (model, optimizer)


def network_memory(model_name: str, *, timesteps: int, batch_size: int, configs: Sequence[str] = NETWORK_CONFIGS,
                   input_size: int = 32, anchor_every: int | None = None,
                   progress: Callable[[str], None] | None = None, frames: bool = False) -> dict:
    """Compiled memory of one training step per configuration, as the ``revsnn bench memory`` JSON object
    (``frames``: event-frame input ``[T, B, H, W, 2]``)."""
    results = {}
    for cfg in parse_configs(configs, anchor_every):
        step, args, _ = train_step_for(model_name, cfg, timesteps=timesteps, batch_size=batch_size,
                                       input_size=input_size, frames=frames)
        results[cfg.label] = memory_stats(step.lower(*args).compile())
        if progress:
            progress(f"{model_name} T={timesteps} B={batch_size} {cfg.label}: "
                     f"{results[cfg.label]['temp_bytes'] / 2**20:.0f} MiB")
    return {"model": model_name, "timesteps": timesteps, "batch_size": batch_size,
            "input_shape": [input_size, input_size, 2 if frames else 3], "encoding": "frames" if frames else "direct",
            "results": results}


def measure_peak(model_name: str, label: str, *, timesteps: int, batch_size: int, input_size: int = 32,
                 frames: bool = False) -> int | None:
    """Device ``peak_bytes_in_use`` after one real training step, measured in a fresh process (the counter never
    resets). ``None`` where the backend reports no memory statistics (CPU)."""
    code = ("import json,sys; from revsnn_jax.bench.network import _peak_in_this_process as f; "
            f"print(json.dumps(f({model_name!r}, {label!r}, {timesteps}, {batch_size}, {input_size}, {frames})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _peak_in_this_process(model_name, label, timesteps, batch_size, input_size, frames=False):
    step, args, (model, optimizer) = train_step_for(model_name, NetworkConfig.parse(label), timesteps=timesteps,
                                                    batch_size=batch_size, input_size=input_size, frames=frames)
    _, params, batch_stats = nn.split(model)
    images, labels = random_batch(args)
    jax.block_until_ready(step(params, batch_stats, optimizer.init(params), images, labels))
    stats = jax.devices()[0].memory_stats()
    return None if not stats else int(stats.get("peak_bytes_in_use", 0))


def largest_buffers(model_name: str, label: str, *, timesteps: int, batch_size: int, input_size: int = 32,
                    top: int = 10, frames: bool = False) -> list[dict]:
    """What the training step's temp allocation holds, by buffer shape, largest total first:
    ``{"shape", "count", "bytes_each", "bytes"}``, at most ``top`` entries.

    Read from XLA's own buffer assignment (``--xla_dump_to`` in a fresh process, so that the flag takes effect):
    the values placed in the preallocated temp buffer, one slot per distinct (offset, size, shape), counted per
    shape. Slots whose byte ranges overlap are never live together, so ``bytes`` over-counts a shape that reuses
    space; ``count`` says how many distinct places the step keeps such a buffer in."""
    with tempfile.TemporaryDirectory() as dump:
        code = ("from revsnn_jax.bench.network import train_step_for, NetworkConfig; "
                f"step, args, _ = train_step_for({model_name!r}, NetworkConfig.parse({label!r}), "
                f"timesteps={timesteps}, batch_size={batch_size}, input_size={input_size}, frames={frames}); "
                "step.lower(*args).compile()")
        env = {**os.environ, "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") +
                                           f" --xla_dump_to={dump} --xla_dump_hlo_as_text").strip()}
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        reports = [os.path.join(dump, f) for f in os.listdir(dump) if f.endswith("-buffer-assignment.txt")]
        slots = max((_temp_slots(open(r).read()) for r in reports), key=lambda s: sum(b for b, _ in s),
                    default=[])
    by_shape: dict[str, list[int]] = {}
    for size, shape in slots:
        by_shape.setdefault(shape, []).append(size)
    rows = [{"shape": shape, "count": len(sizes), "bytes_each": max(sizes), "bytes": sum(sizes)}
            for shape, sizes in by_shape.items()]
    return sorted(rows, key=lambda r: -r["bytes"])[:top]


def _temp_slots(text: str) -> list[tuple[int, str]]:
    """(size, shape) of each distinct slot of the ``preallocated-temp`` allocation in an XLA buffer assignment."""
    slots, inside = set(), False
    for line in text.splitlines():
        if line.startswith("allocation "):
            inside = "preallocated-temp" in line
        elif inside and line.startswith(" value: "):
            m = re.match(r" value: <\d+ \S+ @\d+> \(size=(\d+),offset=(\d+)\): (.*)$", line)
            if m:
                slots.add((int(m.group(2)), int(m.group(1)), re.sub(r"\{[^}]*\}", "", m.group(3))))
    return [(size, shape) for _, size, shape in slots]


def random_batch(args, seed: int = 0):
    """Images N(0, 1) and labels for a training step's abstract arguments ``args``."""
    key = jax.random.key(seed)
    images = jax.random.normal(key, args[3].shape, jnp.float32)
    labels = jax.random.randint(jax.random.fold_in(key, 1), args[4].shape, 0, 10)
    return images, labels


def network_gradient_error(model_name: str, *, timesteps: int, batch_size: int, input_size: int = 32,
                           configs: Sequence[str] = NETWORK_CONFIGS,
                           progress: Callable[[str], None] | None = None) -> dict[str, dict[str, float]]:
    """Parameter gradients of each configuration against BPTT of the same network and neuron (float32,
    BatchNorm in training mode)."""
    from revsnn_jax.bench.neuron import gradient_error

    images = jax.random.normal(jax.random.key(0), (batch_size, input_size, input_size, 3), jnp.float32)
    labels = jnp.arange(batch_size) % 10
    models, references, out = {}, {}, {}

    def grads(cfg, strategy):
        kind = cfg.neuron
        if kind not in models:
            models[kind] = nn.split(_model(model_name, cfg.neuron, input_size, 3, 10, batch_size, timesteps)[0])
        graphdef, params, batch_stats = models[kind]
        loss = train.make_loss(graphdef, timesteps=timesteps, strategy=strategy)
        return jax.jit(jax.grad(lambda p: loss(p, batch_stats, images, labels)[0]))(params)

    for cfg in parse_configs(configs):
        if cfg.strategy.loop == "bptt":
            continue
        if cfg.neuron not in references:
            references[cfg.neuron] = grads(cfg, "bptt")
        out[cfg.label] = gradient_error(grads(cfg, cfg.strategy), references[cfg.neuron])
        if progress:
            progress(f"{model_name} T={timesteps}: {cfg.label} gradient relative error "
                     f"{out[cfg.label]['relative_error']:.2e}")
    return out


def network_step_times(model_name: str, *, timesteps: int, batch_size: int, input_size: int = 32,
                       configs: Sequence[str] = NETWORK_CONFIGS, repeats: int = 5, warmup: int = 1,
                       progress: Callable[[str], None] | None = None) -> dict:
    """Median wall time of one training step per configuration, interleaved in one process (ratios only)."""
    runs = {}
    for cfg in parse_configs(configs):
        step, args, (model, optimizer) = train_step_for(model_name, cfg, timesteps=timesteps, batch_size=batch_size,
                                                        input_size=input_size, donate=False)
        _, params, batch_stats = nn.split(model)
        runs[cfg.label] = timing.call(step, params, batch_stats, optimizer.init(params), *random_batch(args))
        if progress:
            progress(f"{model_name} T={timesteps}: {cfg.label} training step ready")
    return {label: t["seconds"] for label, t in timing.interleaved(runs, repeats, warmup, progress).items()}


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def step_flops(graphdef, params, batch_stats, images, strategy: Strategy) -> dict[str, float]:
    """XLA FLOPs of the two per-timestep programs a strategy's backward runs, each compiled alone:
    ``step_forward_flops`` (the recompute: one step forward, or the rebuild for reverse) and ``step_vjp_flops``
    (the step's VJP as that strategy takes it: the transpose alone for bptt, from stored residuals; forward and
    backward with remat for checkpoint and anchored; reading recorded convolutions for keep_convs and reverse).
    Backward FLOPs per step = ``step_vjp_flops + recompute_forwards * step_forward_flops``."""
    step = network.make_step(graphdef, train=True, strategy=strategy)
    vs = network.initial_potentials(graphdef, params, batch_stats, images)

    def fwd(p, v):
        return step.apply(p, batch_stats, images, v)[0]

    cts = jax.tree.map(lambda s: jnp.ones(s.shape, s.dtype), jax.eval_shape(fwd, params, vs))
    forward = flops(jax.jit(fwd).lower(params, vs).compile())
    if strategy.loop == "bptt":
        _, vjp_fn = jax.vjp(fwd, params, vs)
        vjp = flops(jax.jit(lambda f, ct: f(ct)).lower(vjp_fn, cts).compile())
    elif strategy.loop == "reverse":
        kept = jax.jit(lambda p, v: step.keep(p, batch_stats, images, v)[2])(params, vs)
        forward = flops(jax.jit(lambda p, v, k: step.rebuild(p, batch_stats, images, v, k)).lower(
            params, vs, kept).compile())
        record = jax.jit(lambda p, v, k: step.rebuild(p, batch_stats, images, v, k)[1])(params, vs, kept)
        vjp = flops(jax.jit(lambda p, v, r, ct: jax.vjp(lambda p, v: step.replay(p, batch_stats, images, v, r)[0],
                                                        p, v)[1](ct)).lower(params, vs, record, cts).compile())
    elif strategy.segment == "replay":
        record = jax.jit(lambda p, v: step.record(p, batch_stats, images, v)[1])(params, vs)
        vjp = flops(jax.jit(lambda p, v, r, ct: jax.vjp(lambda p, v: step.replay(p, batch_stats, images, v, r)[0],
                                                        p, v)[1](ct)).lower(params, vs, record, cts).compile())
    else:
        vjp = flops(jax.jit(lambda p, v, ct: jax.vjp(fwd, p, v)[1](ct)).lower(params, vs, cts).compile())
    return {"step_forward_flops": forward, "step_vjp_flops": vjp}


def network_phase_times(model_name: str, *, timesteps: int, batch_size: int, input_size: int = 32,
                        configs: Sequence[str] = TIME_CONFIGS, repeats: int = 5, warmup: int = 1,
                        progress: Callable[[str], None] | None = None, frames: bool = False,
                        limit_bytes: int | None = None) -> dict:
    """Forward and backward time of one training iteration per configuration, interleaved (medians), and each
    configuration's own per-step FLOPs (:func:`step_flops`).

    The forward is ``jax.vjp`` of the loss (it stores what the strategy keeps); the backward applies the returned
    VJP to the loss cotangent: two separately jitted programs, so the two phases are timed apart. ``frames``: event
    frames ``[T, B, H, W, 2]`` instead of a static image. A configuration whose training step compiles to more than
    ``limit_bytes`` (temp plus arguments) is not run: its entry is ``{"skipped": reason}``."""
    shape = (batch_size, input_size, input_size, 2 if frames else 3)
    images = jax.random.normal(jax.random.key(0), ((timesteps,) + shape) if frames else shape, jnp.float32)
    labels = jnp.arange(batch_size) % 10
    encoding = "frames" if frames else "direct"
    bwd = jax.jit(lambda vjp_fn, ct: vjp_fn(ct))
    runs, per_step, skipped = {}, {}, {}
    for cfg in parse_configs(configs):
        if limit_bytes is not None:
            step, args, _ = train_step_for(model_name, cfg, timesteps=timesteps, batch_size=batch_size,
                                           input_size=input_size, frames=frames)
            stats = memory_stats(step.lower(*args).compile())
            need = stats["temp_bytes"] + stats["argument_bytes"]
            if need > limit_bytes:
                skipped[cfg.label] = {"skipped": f"needs {_size(need)}, more than the {_size(limit_bytes)} here"}
                if progress:
                    progress(f"{model_name} T={timesteps}: {cfg.label} skipped: {skipped[cfg.label]['skipped']}")
                continue
        model, _ = _model(model_name, cfg.neuron, input_size, shape[-1], 10, batch_size, timesteps, frames)
        graphdef, params, batch_stats = nn.split(model)
        loss = train.make_loss(graphdef, timesteps=timesteps, strategy=cfg.strategy, encoding=encoding)
        fwd = jax.jit(lambda p, loss=loss, s=batch_stats: jax.vjp(lambda p: loss(p, s, images, labels)[0], p))
        runs[cfg.label] = timing.forward_backward(fwd, bwd, (params,), jnp.ones((), jnp.float32))
        per_step[cfg.label] = {**step_flops(graphdef, params, batch_stats, images[0] if frames else images,
                                            cfg.strategy),
                               "recompute_forwards": recompute_forwards(cfg.strategy, timesteps)}
        if progress:
            progress(f"{model_name} T={timesteps}: {cfg.label} compiled")
    times = timing.interleaved(runs, repeats, warmup, progress) if runs else {}
    return {label: skipped.get(label) or {**times[label], **per_step[label]} for label in configs
            if label in runs or label in skipped}


def step_anatomy(model_name: str, *, batch_size: int, input_size: int = 32, repeats: int = 20,
                 warmup: int = 2, progress: Callable[[str], None] | None = None) -> dict:
    """Where a step's backward time goes: one network step, its pieces timed apart, interleaved (median over
    ``repeats``; seconds on a GPU, ratios everywhere), with XLA FLOPs:

    ``forward``                    the step's forward (what the anchored recompute runs per step)
    ``vjp_reversible``             the step's VJP, the neuron differentiated by autodiff (``anchored``)
    ``vjp_inverse_grad``           the same with the neuron's closed-form VJP (``anchored+closed_form``)
    ``vjp_inverse_grad_replayed``  the same reading recorded convolution outputs (``keep_convs``): no conv forward
    ``vjp_lif``                    the step's VJP with the plain LIF neuron instead (how much the neuron weighs)
    ``rebuild_exact_rev``          the time-reversing loop's rebuild of a step (exact neuron): one forward
    ``vjp_exact_rev_replayed``     the VJP it then takes, reading the rebuilt convolutions
    """
    images = jax.random.normal(jax.random.key(0), (batch_size, input_size, input_size, 3), jnp.float32)

    def setup(neuron):
        model, _ = _model(model_name, neuron, input_size, 3, 10, batch_size, 1)
        graphdef, params, batch_stats = nn.split(model)
        vs = network.initial_potentials(graphdef, params, batch_stats, images)
        keys = jax.random.split(jax.random.key(1), len(vs))   # potentials as after a few steps: not all zero
        vs = {path: neuron.canonical_state(0.5 * jax.random.normal(k, v.shape, v.dtype))
              if hasattr(neuron, "canonical_state") else 0.5 * jax.random.normal(k, v.shape, v.dtype)
              for k, (path, v) in zip(keys, vs.items())}
        return graphdef, params, batch_stats, vs

    def vjp_of(fn):
        def run(params, vs, *record):
            out, vjp = jax.vjp(lambda p, v: fn(p, v, *record)[0], params, vs)
            return vjp(jax.tree.map(jnp.ones_like, out))
        return jax.jit(run)

    graphdef, params, stats, vs = setup(neurons.RevLIFParams())
    anchored = network.make_step(graphdef, train=True, strategy="anchored")
    closed = network.make_step(graphdef, train=True, strategy="anchored+closed_form+keep_convs")
    plain = network.make_step(graphdef, train=True, strategy="bptt")
    convs = jax.jit(lambda p, v: closed.record(p, stats, images, v)[1])(params, vs)
    lif_graphdef, lif_params, lif_stats, lif_vs = setup(neurons.LIFParams())
    lif = network.make_step(lif_graphdef, train=True, strategy="anchored")
    ex_graphdef, ex_params, ex_stats, ex_vs = setup(neurons.ExactRevLIFParams())
    ex = network.make_step(ex_graphdef, train=True, strategy="reverse")
    kept = jax.jit(lambda p, v: ex.keep(p, ex_stats, images, v)[2])(ex_params, ex_vs)
    rebuild = jax.jit(lambda p, v, k: ex.rebuild(p, ex_stats, images, v, k))
    ex_record = rebuild(ex_params, ex_vs, kept)[1]
    closed_vjp = vjp_of(lambda p, v: closed.apply(p, stats, images, v))
    runs = {
        "forward": (jax.jit(lambda p, v: plain.apply(p, stats, images, v)[0]), (params, vs)),
        "vjp_reversible": (vjp_of(lambda p, v: anchored.apply(p, stats, images, v)), (params, vs)),
        "vjp_inverse_grad": (closed_vjp, (params, vs)),
        "vjp_inverse_grad_replayed": (vjp_of(lambda p, v, r: closed.replay(p, stats, images, v, r)),
                                      (params, vs, convs)),
        "vjp_lif": (vjp_of(lambda p, v: lif.apply(p, lif_stats, images, v)), (lif_params, lif_vs)),
        "rebuild_exact_rev": (rebuild, (ex_params, ex_vs, kept)),
        "vjp_exact_rev_replayed": (vjp_of(lambda p, v, r: ex.replay(p, ex_stats, images, v, r)),
                                   (ex_params, ex_vs, ex_record)),
    }
    seconds = timing.interleaved({label: timing.call(fn, *args) for label, (fn, args) in runs.items()}, repeats,
                                 warmup, progress)
    return {label: {"seconds": seconds[label]["seconds"], "flops": flops(fn.lower(*args).compile())}
            for label, (fn, args) in runs.items()}
