"""Whole-network measurements: compiled memory of one full training step (loss, gradients, optimizer update).

``temp_bytes`` is XLA's compiled memory analysis of the jitted training step: deterministic and available on
CPU, so memory is measured without running anything. On a GPU, :func:`measure_peak` also runs one real step in a
fresh process per configuration and reads the device's ``peak_bytes_in_use``.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Sequence

import jax
import jax.numpy as jnp
import optax

from revsnn_jax import nn, train
from revsnn_jax.bench import memory_stats

NETWORK_CONFIGS = ("bptt", "checkpoint", "reversible", "inverse_grad", "reversible+low_memory",
                   "inverse_grad+low_memory", "reversible+keep_convs", "inverse_grad+keep_convs")
_RESNET_T = (1, 2, 4, 6, 8, 10)   # every other T: a ResNet-101 compile takes minutes on 2 CPU cores
GRID = {"vgg19": range(1, 21), "vgg11": range(1, 21), "resnet19": _RESNET_T, "vgg13": range(1, 21),
        "vgg16": range(1, 21), "resnet34": _RESNET_T, "resnet50": _RESNET_T, "resnet101": _RESNET_T}
GRID_CONFIGS = ("bptt", "inverse_grad", "inverse_grad+low_memory")


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """A strategy plus at most one option of the anchored loop: ``inverse_grad+low_memory``, ``+keep_convs``."""

    strategy: str
    low_memory: bool = False
    keep_convs: bool = False

    @classmethod
    def parse(cls, label: str) -> "NetworkConfig":
        strategy, _, option = label.partition("+")
        if strategy not in nn.STRATEGIES or option not in ("", "low_memory", "keep_convs") or \
                (option and strategy not in ("reversible", "inverse_grad")):
            raise ValueError(f"unknown configuration {label!r}; valid: {', '.join(NETWORK_CONFIGS)}")
        return cls(strategy, option == "low_memory", option == "keep_convs")

    @property
    def options(self) -> dict:
        return {"low_memory": self.low_memory, "keep_convs": self.keep_convs}


def _shapes(tree):
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), tree)


def train_step_for(model_name: str, config: NetworkConfig, *, timesteps: int, batch_size: int, input_size: int = 32,
                   channels: int = 3, num_classes: int = 10, anchor_every: int | None = None,
                   neuron: nn.NeuronSpec = nn.NeuronSpec(), donate: bool = True):
    """``(jitted train step, its abstract arguments, (model, optimizer))`` for one configuration (SGD+momentum).

    ``donate=False`` keeps the state buffers valid after a call, for timing the same state repeatedly."""
    model = nn.create_model(model_name, num_classes=num_classes, in_channels=channels, neuron=neuron)
    graphdef, params, batch_stats = nn.split(model)
    images = jax.ShapeDtypeStruct((batch_size, input_size, input_size, channels), jnp.float32)
    nn.check_inputs(model, images, timesteps, "direct", model_name)
    optimizer = optax.sgd(0.1, momentum=0.9)
    step = train.make_train_step(graphdef, optimizer, timesteps=timesteps, strategy=config.strategy,
                                 anchor_every=anchor_every, **config.options)
    args = (_shapes(params), _shapes(batch_stats), jax.eval_shape(optimizer.init, params), images,
            jax.ShapeDtypeStruct((batch_size,), jnp.int32))
    return jax.jit(step, donate_argnums=(0, 1, 2) if donate else ()), args, (model, optimizer)


def network_memory(model_name: str, *, timesteps: int, batch_size: int, configs: Sequence[str] = NETWORK_CONFIGS,
                   input_size: int = 32, anchor_every: int | None = None) -> dict:
    """Compiled memory of one training step per configuration, as the ``revsnn bench memory`` JSON object."""
    results = {}
    for label in configs:
        step, args, _ = train_step_for(model_name, NetworkConfig.parse(label), timesteps=timesteps,
                                       batch_size=batch_size, input_size=input_size, anchor_every=anchor_every)
        results[label] = memory_stats(step.lower(*args).compile())
    return {"model": model_name, "timesteps": timesteps, "batch_size": batch_size,
            "input_shape": [input_size, input_size, 3], "results": results}


def measure_peak(model_name: str, label: str, *, timesteps: int, batch_size: int, input_size: int = 32) -> int | None:
    """Device ``peak_bytes_in_use`` after one real training step, measured in a fresh process (the counter never
    resets). ``None`` where the backend reports no memory statistics (CPU)."""
    code = ("import json,sys; from revsnn_jax.bench_models import _peak_in_this_process as f; "
            f"print(json.dumps(f({model_name!r}, {label!r}, {timesteps}, {batch_size}, {input_size})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _peak_in_this_process(model_name, label, timesteps, batch_size, input_size):
    step, args, (model, optimizer) = train_step_for(model_name, NetworkConfig.parse(label), timesteps=timesteps,
                                                    batch_size=batch_size, input_size=input_size)
    _, params, batch_stats = nn.split(model)
    key = jax.random.key(0)
    images = jax.random.normal(key, args[3].shape, jnp.float32)
    labels = jax.random.randint(key, args[4].shape, 0, 10)
    jax.block_until_ready(step(params, batch_stats, optimizer.init(params), images, labels))
    stats = jax.devices()[0].memory_stats()
    return None if not stats else int(stats.get("peak_bytes_in_use", 0))


def _real_batch(args, seed: int = 0):
    key = jax.random.key(seed)
    images = jax.random.normal(key, args[3].shape, jnp.float32)
    labels = jax.random.randint(jax.random.fold_in(key, 1), args[4].shape, 0, 10)
    return images, labels


def network_gradient_error(model_name: str, *, timesteps: int, batch_size: int, input_size: int = 32,
                           configs: Sequence[str] = NETWORK_CONFIGS[1:]) -> dict[str, dict[str, float]]:
    """Parameter gradients of each configuration against ``bptt`` (float32, BatchNorm in training mode)."""
    from revsnn_jax.bench import gradient_error
    from revsnn_jax.nn import network

    model = nn.create_model(model_name)
    graphdef, params, batch_stats = nn.split(model)
    images = jax.random.normal(jax.random.key(0), (batch_size, input_size, input_size, 3), jnp.float32)
    labels = jnp.arange(batch_size) % 10

    def grads(label):
        cfg = NetworkConfig.parse(label)

        def loss(params):
            logits, _ = network.forward(graphdef, params, batch_stats, images, timesteps=timesteps,
                                        strategy=cfg.strategy, **cfg.options)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        return jax.jit(jax.grad(loss))(params)

    reference = grads("bptt")
    return {label: gradient_error(grads(label), reference) for label in configs}


def network_step_times(model_name: str, *, timesteps: int, batch_size: int, input_size: int = 32,
                       configs: Sequence[str] = NETWORK_CONFIGS, repeats: int = 5, warmup: int = 1) -> dict:
    """Median wall time of one training step per configuration, interleaved in one process (ratios only)."""
    runs = {}
    for label in configs:
        step, args, (model, optimizer) = train_step_for(model_name, NetworkConfig.parse(label),
                                                        timesteps=timesteps, batch_size=batch_size,
                                                        input_size=input_size, donate=False)
        _, params, batch_stats = nn.split(model)
        runs[label] = (step, (params, batch_stats, optimizer.init(params), *_real_batch(args)))
    return _interleaved_medians(runs, repeats, warmup)


def _interleaved_medians(runs: dict, repeats: int, warmup: int) -> dict[str, float]:
    """``{label: (fn, args)}`` -> median seconds of ``fn(*args)`` per label, the labels taking turns each round."""
    import statistics
    import time

    samples = {label: [] for label in runs}
    for r in range(warmup + repeats):
        for label, (fn, args) in runs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*args))
            if r >= warmup:
                samples[label].append(time.perf_counter() - t0)
    return {label: statistics.median(s) for label, s in samples.items()}


TIME_CONFIGS = ("bptt", "checkpoint", "reversible", "inverse_grad", "inverse_grad+keep_convs")
TIME_GRID = {"vgg11": (4, 6, 8), "vgg13": (4, 6, 8), "vgg16": (4, 6, 8), "vgg19": (4, 6, 8)}


def network_phase_times(model_name: str, *, timesteps: int, batch_size: int, input_size: int = 32,
                        configs: Sequence[str] = TIME_CONFIGS, repeats: int = 5, warmup: int = 1) -> dict:
    """Forward and backward time of one training iteration per configuration, interleaved (medians).

    The forward is ``jax.vjp`` of the loss (it stores what the strategy keeps); the backward applies the returned
    VJP to the loss cotangent: two separately jitted programs, so the two phases are timed apart. Also reports
    per-timestep FLOPs (XLA cost analysis) of one network step's VJP (what the reversible strategies' backward
    runs once per step, its forward recompute included) and of one step's forward."""
    import statistics
    import time

    from revsnn_jax.nn import network

    model = nn.create_model(model_name)
    graphdef, params, batch_stats = nn.split(model)
    images = jax.random.normal(jax.random.key(0), (batch_size, input_size, input_size, 3), jnp.float32)
    nn.check_inputs(model, images, timesteps, "direct", model_name)
    labels = jnp.arange(batch_size) % 10
    one = jnp.ones((), jnp.float32)
    runs = {}
    for label in configs:
        cfg = NetworkConfig.parse(label)

        def loss(params, cfg=cfg):
            logits, _ = network.forward(graphdef, params, batch_stats, images, timesteps=timesteps,
                                        strategy=cfg.strategy, **cfg.options)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        fwd = jax.jit(lambda p, loss=loss: jax.vjp(loss, p))
        bwd = jax.jit(lambda vjp_fn, ct: vjp_fn(ct))
        _, vjp_fn = jax.block_until_ready(fwd(params))
        jax.block_until_ready(bwd(vjp_fn, one))
        runs[label] = (fwd, bwd)
    samples = {label: {"forward_s": [], "backward_s": []} for label in runs}
    for r in range(warmup + repeats):
        for label, (fwd, bwd) in runs.items():
            t0 = time.perf_counter()
            _, vjp_fn = jax.block_until_ready(fwd(params))
            t1 = time.perf_counter()
            jax.block_until_ready(bwd(vjp_fn, one))
            t2 = time.perf_counter()
            del vjp_fn
            if r >= warmup:
                samples[label]["forward_s"].append(t1 - t0)
                samples[label]["backward_s"].append(t2 - t1)
    out = {label: {k: statistics.median(v) for k, v in s.items()} for label, s in samples.items()}
    step_flops = _step_vjp_flops(graphdef, params, batch_stats, images)
    for label in out:
        out[label].update(step_flops.get(NetworkConfig.parse(label).strategy, {}))
    return out


def _step_vjp_flops(graphdef, params, batch_stats, images) -> dict:
    """FLOPs of one network step's forward and of its VJP, with the neuron differentiated by autodiff
    (``reversible``, ``bptt``) or by the closed form (``inverse_grad``)."""
    from revsnn_jax.bench import flops
    from revsnn_jax.nn import network

    vs = network.initial_potentials(graphdef, params, batch_stats, images)
    out = {}
    for strategy, closed_form in (("reversible", False), ("inverse_grad", True)):
        step = network._step_fn(graphdef, True, closed_form)
        fwd = lambda p, v, step=step: step(p, batch_stats, images, v)[0]   # noqa: E731
        primal = jax.eval_shape(fwd, params, vs)
        cts = jax.tree.map(lambda s: jnp.ones(s.shape, s.dtype), primal)
        vjp = jax.jit(lambda p, v, ct, fwd=fwd: jax.vjp(fwd, p, v)[1](ct))
        out[strategy] = {"step_vjp_flops": flops(vjp.lower(params, vs, cts).compile()),
                         "step_forward_flops": flops(jax.jit(fwd).lower(params, vs).compile())}
    out["bptt"] = out["checkpoint"] = dict(out["reversible"])
    return out


def step_anatomy(model_name: str, *, batch_size: int, input_size: int = 32, repeats: int = 20,
                 warmup: int = 2) -> dict:
    """Where the reversible strategies' backward time goes: one network step, its pieces timed apart.

    The backward of ``reversible``/``inverse_grad`` runs, per timestep, one step forward (the segment's recompute)
    and one step VJP (``jax.vjp`` of the step, its own forward included, applied). Timed here, interleaved, median
    over ``repeats`` (seconds on a GPU, ratios everywhere), with XLA FLOPs:

    ``forward``                    the step's forward (what the recompute runs per step)
    ``vjp_reversible``             the step's VJP, the neuron differentiated by autodiff
    ``vjp_inverse_grad``           the same with the neuron's closed-form VJP (Eq. 11-12, corrected)
    ``vjp_inverse_grad_replayed``  the same reading recorded convolution outputs (``keep_convs``): no conv forward
    ``vjp_lif``                    the step's VJP in the same network with the plain LIF neuron (a different,
                                   single-group neuron): how much the neuron's arithmetic weighs at all
    """
    from revsnn_jax.bench import flops
    from revsnn_jax.nn import network
    from revsnn_jax.nn.layers import NeuronSpec
    from revsnn_jax.neurons import LIFParams

    images = jax.random.normal(jax.random.key(0), (batch_size, input_size, input_size, 3), jnp.float32)

    def setup(neuron: NeuronSpec):
        model = nn.create_model(model_name, neuron=neuron)
        nn.check_inputs(model, images, 1, "direct", model_name)
        graphdef, params, batch_stats = nn.split(model)
        vs = network.initial_potentials(graphdef, params, batch_stats, images)
        keys = jax.random.split(jax.random.key(1), len(vs))   # potentials as after a few steps: not all zero
        vs = [0.5 * jax.random.normal(k, v.shape, v.dtype) for k, v in zip(keys, vs)]
        return graphdef, params, batch_stats, vs

    def vjp_of(step, batch_stats):
        def run(params, vs, *record):
            out, vjp = jax.vjp(lambda p, v: step(p, batch_stats, images, v, *record)[0], params, vs)
            return vjp(jax.tree.map(jnp.ones_like, out))
        return jax.jit(run)

    graphdef, params, batch_stats, vs = setup(NeuronSpec())
    record = jax.jit(network._record_fn(graphdef, True, True))
    convs = record(params, batch_stats, images, vs)[1]
    forward = jax.jit(lambda p, v: network._step_fn(graphdef, True, True)(p, batch_stats, images, v)[0])
    lif_graphdef, lif_params, lif_stats, lif_vs = setup(NeuronSpec("lif", LIFParams()))
    vjp_inverse_grad = vjp_of(network._step_fn(graphdef, True, True, remat=True), batch_stats)
    runs = {
        "forward": (forward, (params, vs)),
        "vjp_reversible": (vjp_of(network._step_fn(graphdef, True, False, remat=True), batch_stats), (params, vs)),
        "vjp_inverse_grad": (vjp_inverse_grad, (params, vs)),
        "vjp_inverse_grad_replayed": (vjp_inverse_grad, (params, vs, convs)),   # same step, given the record
        "vjp_lif": (vjp_of(network._step_fn(lif_graphdef, True, False, remat=True), lif_stats),
                    (lif_params, lif_vs)),
    }
    seconds = _interleaved_medians(runs, repeats, warmup)
    return {label: {"seconds": seconds[label], "flops": flops(fn.lower(*args).compile())}
            for label, (fn, args) in runs.items()}
