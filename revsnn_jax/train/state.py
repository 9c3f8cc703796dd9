"""A run's model, state and compiled steps: what :func:`revsnn_jax.train.train_and_evaluate` trains, and what a
dry run compiles or an export reads back, without data.

A run's state is ``{"params", "batch_stats", "opt_state", "step"}``: what a checkpoint holds. Features that
change the update keep their state in ``opt_state`` (dynamic sparse training: its masks).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
from typing import Callable

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from revsnn_jax import compiled, data, planner
from revsnn_jax.errors import InputError
from revsnn_jax.methods.sparse import SparseState, project
from revsnn_jax.nn import create_model, network, split
from revsnn_jax.planner import parse_bytes
from revsnn_jax.train import checkpoints
from revsnn_jax.train.config import TrainConfig
from revsnn_jax.train.parallel import check_batch_size, data_mesh, replicate
from revsnn_jax.train.step import make_eval_step, make_loss, make_optimizer, make_train_step


def model_for(cfg: TrainConfig, input_shape, num_classes: int):
    """``(graphdef, params, batch_stats)`` of the config's model, checked against its input shape."""
    model = create_model(cfg.model, num_classes=num_classes, in_channels=input_shape[-1],
                         neuron=cfg.neuron_params(), seed=cfg.seed)
    network.check_inputs(model, jax.ShapeDtypeStruct((cfg.batch_size, *input_shape), jnp.float32), cfg.timesteps,
                         "direct", cfg.model)
    return split(model)


def initial_state(params, batch_stats, optimizer) -> dict:
    """``{"params", "batch_stats", "opt_state", "step"}`` at step 0. The parameters start pruned to the optimizer's
    masks where it trains sparse (:func:`revsnn_jax.methods.sparse.project`; unchanged otherwise)."""
    opt_state = optimizer.init(params)
    return {"params": project(params, opt_state), "batch_stats": batch_stats, "opt_state": opt_state,
            "step": jnp.zeros((), jnp.int32)}


def build(cfg: TrainConfig, ds: data.Dataset, mesh: Mesh):
    """``(graphdef, initial state replicated on mesh, optimizer, steps per epoch)`` of a resolved config."""
    steps_per_epoch = data.steps_per_epoch(len(ds.train_labels), cfg.batch_size)
    if steps_per_epoch == 0:
        raise InputError(f"batch size {cfg.batch_size} is larger than the training set ({len(ds.train_labels)})")
    graphdef, params, batch_stats = model_for(cfg, ds.input_shape, ds.num_classes)
    optimizer = make_optimizer(cfg, steps_per_epoch)
    state = replicate(initial_state(params, batch_stats, optimizer), mesh)
    return graphdef, state, optimizer, steps_per_epoch


def jit_steps(graphdef, optimizer, cfg: TrainConfig, mesh: Mesh):
    """The jitted train and eval steps with data-parallel shardings (outputs replicated; the state donated)."""
    replicated = NamedSharding(mesh, PartitionSpec())
    train_step = make_train_step(graphdef, optimizer, timesteps=cfg.timesteps, strategy=cfg.strategy_value(),
                                 encoding=cfg.encoding, bn_momentum=cfg.bn_momentum, on_nonfinite=cfg.on_nonfinite,
                                 method=cfg.method_value())
    eval_step = make_eval_step(graphdef, timesteps=cfg.timesteps, encoding=cfg.encoding)
    return (jax.jit(train_step, donate_argnums=(0, 1, 2), out_shardings=replicated),
            jax.jit(eval_step, out_shardings=replicated))


def run_step(train_step, state: dict, images, labels):
    """One training step on a run's state dict (see :func:`build`): ``(new state, metrics)``."""
    params, batch_stats, opt_state, metrics = train_step(state["params"], state["batch_stats"], state["opt_state"],
                                                         images, labels)
    return {"params": params, "batch_stats": batch_stats, "opt_state": opt_state, "step": state["step"] + 1}, metrics


class TrainSteps:
    """The jitted train and eval steps of a run. With the ``dspike`` surrogate and a temperature search, the
    training step depends on the current temperature (a static neuron setting): one compiled step is kept per
    temperature, and :meth:`search` runs the search at the start of every ``dspike_search_every``-th epoch."""

    def __init__(self, graphdef, optimizer, cfg: TrainConfig, mesh: Mesh):
        self.graphdef, self.optimizer, self.cfg, self.mesh = graphdef, optimizer, cfg, mesh
        self.temperature = cfg.surrogate_width if cfg.surrogate == "dspike" else None
        train_step, self.eval_step = jit_steps(graphdef, optimizer, cfg, mesh)
        self._train, self._used = {self.temperature: train_step}, set()
        self.settings, self._searcher = cfg.temperature_search(), None

    def train_step(self, state):
        """``(the training step at the current temperature, whether this is its first use, i.e. it compiles)``."""
        if self.temperature not in self._train:
            from revsnn_jax.methods.dspike import with_temperature
            graphdef = with_temperature(self.graphdef, state["params"], state["batch_stats"], self.temperature)
            self._train[self.temperature] = jit_steps(graphdef, self.optimizer, self.cfg, self.mesh)[0]
        first = self.temperature not in self._used
        self._used.add(self.temperature)
        return self._train[self.temperature], first

    def search(self, state, images, labels) -> dict:
        """Runs the temperature search on one batch and adopts its choice; returns its report."""
        from revsnn_jax.methods import dspike
        from revsnn_jax.nn.params import first_layer
        if self._searcher is None:
            cfg = self.cfg
            layer = self.settings.layer or first_layer(state["params"], cfg.input_shape()[-1])
            make = functools.partial(make_loss, timesteps=cfg.timesteps, strategy=cfg.strategy_value(),
                                     encoding=cfg.encoding)
            self._searcher = dspike.Searcher(self.graphdef, make, layer, self.settings)
        found = self._searcher.search(self.temperature, state["params"], state["batch_stats"], images, labels)
        self.temperature = found["temperature"]
        return {"layer": self._searcher.layer, **found}


def steps_per_epoch_unloaded(cfg: TrainConfig) -> int:
    """Steps per epoch from the registry's training-set size (1 if unknown): for builds without data."""
    size = data.DATASETS[cfg.dataset].train_size
    return max(data.steps_per_epoch(size, cfg.batch_size), 1) if size else 1


def dry_run(config: TrainConfig) -> dict:
    """Builds the model and compiles (does not run) one training step at the config's batch size, without loading
    data: checks a config end to end and reports XLA's compiled memory of the step (bytes). With a memory budget
    the plan runs first (:func:`plan_run`) and the result has it under ``"plan"``."""
    cfg, plan = config.resolved(), None
    if cfg.memory_budget is not None:
        cfg, plan = plan_run(cfg)
        cfg = dataclasses.replace(cfg, memory_budget=None)
    info = data.DATASETS[cfg.dataset]
    mesh = data_mesh()
    check_batch_size(cfg.batch_size, mesh)
    graphdef, params, batch_stats = model_for(cfg, cfg.input_shape(), info.num_classes)
    optimizer = make_optimizer(cfg, steps_per_epoch_unloaded(cfg))
    train_step, _ = jit_steps(graphdef, optimizer, cfg, mesh)
    state = jax.eval_shape(lambda p, b: initial_state(p, b, optimizer), params, batch_stats)
    executable = train_step.lower(state["params"], state["batch_stats"], state["opt_state"],
                                  jax.ShapeDtypeStruct(cfg.batch_shape(), jnp.float32),
                                  jax.ShapeDtypeStruct((cfg.batch_size,), jnp.int32)).compile()
    return {"model": cfg.model, "dataset": cfg.dataset, "timesteps": cfg.timesteps, "strategy": cfg.strategy,
            "method": cfg.method, "batch_size": cfg.batch_size, **compiled.memory_stats(executable),
            "parameters": int(sum(a.size for a in jax.tree.leaves(params))), **({"plan": plan} if plan else {})}


def plan_run(config: TrainConfig, progress: Callable[[str], None] | None = None) -> tuple[TrainConfig, dict]:
    """A config with a ``memory_budget``: with ``strategy="auto"``, the same config with the fastest exact schedule
    whose compiled training step fits (:mod:`revsnn_jax.planner`; strategy and anchor_slots filled in); with a named
    strategy, the config itself once its step is found to fit. Returns it with the plan's JSON object. Compiles
    the run's own step (optimizer, method, shapes), no data; figures are cached. InputError when nothing fits."""
    cfg = config.resolved()
    budget = parse_bytes(cfg.memory_budget)
    auto = cfg.strategy == "auto"
    store = planner.MemoryCache()

    def measure(strategy):
        c = dataclasses.replace(cfg, strategy=strategy.label, anchor_slots=strategy.anchor_slots,
                                memory_budget=None) if auto else dataclasses.replace(cfg, memory_budget=None)
        fields = {k: v for k, v in dataclasses.asdict(c).items() if k != "data_dir"}
        return store.measure(json.dumps(fields, sort_keys=True) + "|" + planner.backend_key(), lambda: dry_run(c))

    strategies = planner.candidates(cfg.neuron_params(), cfg.timesteps) if auto else [cfg.strategy_value()]
    plan = planner.make_plan(strategies, measure, cfg.timesteps, budget, progress=progress)
    if not auto and plan.chosen is None and "error" not in plan.rows[0]:
        raise InputError(f"strategy {cfg.strategy!r} needs {plan.rows[0]['total_bytes'] / 2**20:,.0f} MiB for one "
                         f"training step, more than --memory-budget {cfg.memory_budget} less a "
                         f"{plan.margin:.0%} margin; try --strategy auto")
    row = planner.require_choice(plan)
    if auto:
        cfg = dataclasses.replace(cfg, strategy=row["label"], anchor_slots=row["anchor_slots"])
    return cfg, plan.as_json()


def read_config(workdir: str) -> TrainConfig:
    """The resolved config of a training run, from its ``config.json``."""
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        raise InputError(f"{workdir} is not a training run: it has no config.json")
    try:
        with open(path) as f:
            values = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"{path} cannot be read: {e}") from None
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - fields) if isinstance(values, dict) else None
    if unknown is None or unknown:
        raise InputError(f"{path} is not a config of this version (unknown fields: {unknown})")
    return TrainConfig(**values).resolved()


def load_trained(workdir: str, notice: Callable[[str], None] | None = None):
    """``(resolved config, model, checkpoint meta)`` of a training run: its ``config.json`` and the newest
    checkpoint that reads (parameters and running statistics), without loading its data or changing anything on
    disk (a damaged newer checkpoint is skipped with a notice, not moved)."""
    cfg = read_config(workdir)
    info = data.DATASETS[cfg.dataset]
    mesh = data_mesh()
    graphdef, params, batch_stats = model_for(cfg, cfg.input_shape(), info.num_classes)
    optimizer = make_optimizer(cfg, steps_per_epoch_unloaded(cfg))
    like = replicate(initial_state(params, batch_stats, optimizer), mesh)
    state, meta = restore(workdir, like, checkpoints.latest_meta(workdir),
                          notice or (lambda m: print(m, file=sys.stderr)), quarantine=False)
    return cfg, nnx.merge(graphdef, state["params"], state["batch_stats"]), meta


STATE_FORMAT = 2
"""The layout of the checkpointed state, recorded in every checkpoint's meta. 1 (no entry; before 0.3): dynamic
sparse training kept its masks beside the optimizer state (``state["masks"]``), not inside it; :func:`restore`
converts such checkpoints."""


def restore(workdir: str, like: dict, meta: dict | None, notice: Callable[[str], None], *, quarantine: bool = True):
    """``(state, meta)`` of the newest checkpoint that reads (:func:`revsnn_jax.train.checkpoints.restore`), a
    checkpoint of the older layout converted (``meta``: the newest checkpoint's, which says its layout)."""
    sparse = like["opt_state"]
    if meta is None or meta.get("state_format", 1) >= STATE_FORMAT or not isinstance(sparse, SparseState):
        return checkpoints.restore(workdir, like, notice, quarantine=quarantine)
    old_like = {"params": like["params"], "batch_stats": like["batch_stats"], "opt_state": sparse.inner,
                "masks": sparse.masks, "step": like["step"]}
    old, meta = checkpoints.restore(workdir, old_like, notice, quarantine=quarantine)
    notice(f"converted the checkpoint of epoch {meta.get('epochs_done')} (sparse masks beside the optimizer state, "
           "as before 0.3) to this version's layout")
    return {"params": old["params"], "batch_stats": old["batch_stats"], "step": old["step"],
            "opt_state": SparseState(old["masks"], jnp.copy(old["step"]), old["opt_state"])}, meta   # own buffer
