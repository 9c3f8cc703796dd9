"""Training: loss on logits averaged over T, gradients by the chosen strategy, optax updates, data parallel.

:func:`train_and_evaluate` is the whole job behind ``revsnn train``: it loads the data, builds the model,
trains for ``config.epochs`` epochs with a checkpoint after each, evaluates on the test split every epoch, and
appends one JSON line per epoch to ``WORKDIR/metrics.jsonl``.

Data parallel: one jitted step over a 1-D device mesh with axis ``"data"``; the batch is sharded along it
(``NamedSharding(mesh, P("data"))``), params and optimizer state are replicated, and XLA inserts the gradient
all-reduce. The same code runs on 1 or N devices; on several hosts call ``jax.distributed.initialize()`` first
and every process loads its own slice of each global batch (see :func:`shard_batch`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import shutil
import sys
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from revsnn_jax import checkpoints, compiled, data, neurons, workdir as rundir
from revsnn_jax.errors import InputError
from revsnn_jax.nn import MODELS, create_model, methods, network, split
from revsnn_jax.nn.methods import METHODS, Method, as_method
from revsnn_jax.online import default_trace_decay
from revsnn_jax.strategies import Strategy, as_strategy

OPTIMIZERS = ("sgd", "adamw")
ON_NONFINITE = ("stop", "skip-step")
NEURONS = tuple(neurons.NEURONS)
OPTIMIZER_DEFAULTS = {"sgd": {"learning_rate": 0.1, "weight_decay": 5e-4},
                      "adamw": {"learning_rate": 1e-3, "weight_decay": 1e-4}}
DATASET_FIELDS = ("model", "epochs", "batch_size")   # filled from the dataset's registry entry when None
# Fields that may differ when resuming: they change neither the model nor the arithmetic of training
# (every exact strategy computes the same gradients).
RESUMABLE_CHANGES = ("data_dir", "strategy", "anchor_every", "low_memory", "keep_convs", "on_nonfinite")
NEURON_FIELDS = ("tau", "v_threshold", "v_reset", "alpha", "beta", "groups", "surrogate", "surrogate_width",
                 "surrogate_support", "frac_bits", "x_max", "snap", "decay_input", "soft_reset", "firing_fraction",
                 "threshold_bound", "threshold_grad_scale", "dt")
"""TrainConfig's neuron settings: the union of the neuron types' fields (a test keeps the two in step). ``None``
means the chosen neuron's own default; a setting the neuron does not have must stay ``None``."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. ``None`` means "the default for this dataset / optimizer / neuron".

    ``strategy`` is a label of :mod:`revsnn_jax.strategies` (the paper's aliases ``reversible``, ``inverse_grad``
    included); ``anchor_every``, ``low_memory`` and ``keep_convs`` refine it. ``method`` is the training method
    (:mod:`revsnn_jax.nn.methods`): ``exact`` (BPTT's gradient, by the strategy), ``ottt``, ``sltt`` or ``dsr``;
    ``ottt_trace_decay`` (default: :func:`revsnn_jax.online.default_trace_decay`), ``ottt_trace_input``,
    ``online_loss_mix`` and ``online_update`` (OTTT_O) refine the online methods, ``low_memory`` also applies to
    ``dsr``. ``encoding`` is how samples reach the network: ``direct`` (a static image at every step) or
    ``frames`` (``[T, B, H, W, C]``; a static-image dataset then feeds each image as T identical frames, through
    the frame path). Default: the dataset's own.
    ``augment_ops`` names what ``augment`` does, comma-separated (``crop,flip,roll``; default: the dataset's).
    Event datasets (``dvs_gesture``, ``cifar10_dvs``, ``nmnist``, ``event_digits``) read the cache prepared with
    ``timesteps``, ``frame_binning`` (``count``/``time``), ``frame_size`` (square; None = the sensor's),
    ``frame_binary`` and ``split`` (cifar10_dvs: ``9:1`` or ``tebn``); other datasets must leave these unset.
    ``on_nonfinite`` is what a training step with a non-finite loss or gradient does: ``stop`` the run (the last
    finite checkpoint stays the newest; status ``diverged``) or ``skip-step`` (leave params and optimizer state
    unchanged for that batch and count it).
    """

    dataset: str = "digits"
    model: str | None = None
    timesteps: int = 4
    strategy: str = "inverse_grad"
    method: str = "exact"
    ottt_trace_decay: float | None = None
    ottt_trace_input: bool = False
    online_loss_mix: float = 0.0
    online_update: bool = False
    anchor_every: int | None = None
    low_memory: bool = False
    keep_convs: bool = False
    encoding: str | None = None
    neuron: str = "rev"
    tau: float | None = None
    v_threshold: float | None = None
    v_reset: float | None = None
    alpha: float | None = None
    beta: float | None = None
    groups: int | None = None
    surrogate: str | None = None
    surrogate_width: float | None = None
    surrogate_support: float | None = None
    dspike_search_every: int | None = None
    dspike_step: float = 0.2
    dspike_floor: float = 0.2
    dspike_eps: float = 0.05
    dspike_layer: str | None = None
    sparse_final_density: float | None = None
    sparse_initial_density: float = 0.5
    sparse_start_epoch: int = 0
    sparse_end_epoch: int | None = None
    sparse_every: int | None = None
    sparse_exchange_ratio: float = 0.5
    sparse_dense_first: bool = False
    frac_bits: int | None = None
    x_max: float | None = None
    snap: bool | None = None
    decay_input: bool | None = None
    soft_reset: bool | None = None
    firing_fraction: float | None = None
    threshold_bound: float | None = None
    threshold_grad_scale: float | None = None
    dt: float | None = None
    optimizer: str = "sgd"
    learning_rate: float | None = None
    momentum: float = 0.9
    weight_decay: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    augment: bool | None = None
    augment_ops: str | None = None
    frame_size: int | None = None
    frame_binning: str = "count"
    frame_binary: bool = False
    split: str | None = None
    bn_momentum: float = 0.9
    seed: int = 0
    data_dir: str | None = None
    on_nonfinite: str = "stop"

    def resolved(self) -> "TrainConfig":
        """Checks names and fills the per-dataset, per-optimizer and per-neuron defaults. Raises InputError on
        bad input (before anything is loaded or compiled)."""
        _check_types(self)
        _check_choice("dataset", self.dataset, data.DATASETS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("neuron", self.neuron, NEURONS)
        _check_choice("on_nonfinite", self.on_nonfinite, ON_NONFINITE)
        _check_choice("method", self.method, METHODS)
        info = data.DATASETS[self.dataset]
        fill = {k: getattr(info, k) for k in DATASET_FIELDS if getattr(self, k) is None}
        fill.update({k: v for k, v in OPTIMIZER_DEFAULTS[self.optimizer].items() if getattr(self, k) is None})
        if self.encoding is None:
            fill["encoding"] = info.encoding
        if self.frame_size is None and info.frame_size is not None:
            fill["frame_size"] = info.frame_size
        if info.encoding == "frames":
            from revsnn_jax import event_datasets
            if self.encoding not in (None, "frames"):
                raise InputError(f"{self.dataset} holds event frames: encoding must be 'frames', got "
                                 f"{self.encoding!r}")
            dataclasses.replace(self, **fill).frame_settings().check(self.dataset,
                                                                     event_datasets.EVENT_DATASETS[self.dataset])
        else:
            given = [k for k in ("frame_size", "split") if getattr(self, k) is not None] + \
                [k for k, d in (("frame_binning", "count"), ("frame_binary", False)) if getattr(self, k) != d]
            if given:
                raise InputError(f"{', '.join(given)} only apply to event datasets, not {self.dataset}")
        if self.augment_ops is not None:
            ops = [o.strip() for o in self.augment_ops.split(",") if o.strip()]
            bad = [o for o in ops if o not in data.AUGMENTATIONS]
            if bad or not ops:
                raise InputError(f"augment_ops must list some of {', '.join(data.AUGMENTATIONS)}, got "
                                 f"{self.augment_ops!r}")
        neuron_cls = neurons.NEURONS[self.neuron]
        own = {f.name: f.default for f in dataclasses.fields(neuron_cls)}
        foreign = [k for k in NEURON_FIELDS if k not in own and getattr(self, k) is not None]
        if foreign:
            raise InputError(f"neuron {self.neuron!r} has no setting {', '.join(foreign)} (its settings: "
                             f"{', '.join(own)})")
        surrogate = self.surrogate or own["surrogate"]
        if surrogate == "dspike":
            from revsnn_jax.dspike import DEFAULT_TEMPERATURE
            if self.surrogate_width is None:
                fill["surrogate_width"] = DEFAULT_TEMPERATURE
            if self.dspike_search_every is None:
                fill["dspike_search_every"] = 1
        else:
            given = _changed(self, "dspike_")
            if given:
                raise InputError(f"{', '.join(given)} set the temperature search of the dspike surrogate; this run's "
                                 f"surrogate is {surrogate!r} (pass --surrogate dspike)")
        fill.update({k: v for k, v in own.items() if getattr(self, k) is None and k not in fill})
        cfg = dataclasses.replace(self, **fill)
        if cfg.dspike_search_every is not None and cfg.dspike_search_every < 0:
            raise InputError(f"dspike_search_every must be >= 0 (0: a fixed temperature), got "
                             f"{cfg.dspike_search_every}")
        cfg.temperature_search()   # checks its settings
        if cfg.sparse_final_density is None:
            given = _changed(cfg, "sparse_")
            if given:
                raise InputError(f"{', '.join(given)} set dynamic sparse training; give sparse_final_density "
                                 "(--sparse-final-density) to use it")
        else:
            end = cfg.sparse_end_epoch
            if end is not None and not cfg.sparse_start_epoch <= end <= cfg.epochs:
                raise InputError(f"sparse_end_epoch must be in [sparse_start_epoch, epochs] = "
                                 f"[{cfg.sparse_start_epoch}, {cfg.epochs}], got {end}")
            if not 0 <= cfg.sparse_start_epoch <= cfg.epochs:
                raise InputError(f"sparse_start_epoch must be in [0, epochs], got {cfg.sparse_start_epoch}")
            cfg.sparse_schedule(1)   # checks densities, ratios and the interval
        _check_choice("model", cfg.model, MODELS)
        _check_choice("encoding", cfg.encoding, network.ENCODINGS)
        for name in ("timesteps", "epochs", "batch_size"):
            if getattr(cfg, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(cfg, name)}")
        if not (math.isfinite(cfg.learning_rate) and cfg.learning_rate > 0):
            raise InputError(f"learning_rate must be a finite number > 0, got {cfg.learning_rate}")
        for name in ("bn_momentum", "momentum"):   # running averages: a factor >= 1 makes them grow without bound
            if not 0 <= getattr(cfg, name) < 1:
                raise InputError(f"{name} must be in [0, 1), got {getattr(cfg, name)}")
        if not (math.isfinite(cfg.weight_decay) and cfg.weight_decay >= 0):
            raise InputError(f"weight_decay must be a finite number >= 0, got {cfg.weight_decay}")
        if info.train_size is not None and cfg.batch_size > info.train_size:
            raise InputError(f"batch size {cfg.batch_size} is larger than the training set ({info.train_size})")
        strategy = cfg.strategy_value()
        neuron = cfg.neuron_params()
        if strategy.loop == "reverse" and not neurons.has_exact_inverse(neuron):
            raise InputError(f"strategy {cfg.strategy!r} reverses time exactly and needs --neuron exact_rev; "
                             f"neuron {cfg.neuron!r} has no exact inverse (use an anchored strategy with it)")
        if strategy.neuron_grad == "paper":
            neurons.step_fn(neuron, "paper")   # only the paper's neuron (groups=2) has Eq. 11-12
        _check_method(cfg)
        cfg.method_value()   # checks the method's settings
        return cfg

    def method_value(self) -> Method:
        """The :class:`~revsnn_jax.nn.methods.Method` of a resolved config (OTTT's trace decay filled from the
        neuron)."""
        decay = self.ottt_trace_decay
        if self.method == "ottt" and decay is None:
            decay = default_trace_decay(self.neuron_params())
        return Method(self.method, trace_decay=decay if self.method == "ottt" else None,
                      trace_input=self.ottt_trace_input, loss_mix=self.online_loss_mix,
                      online_update=self.online_update, low_memory=self.low_memory and self.method == "dsr")

    def temperature_search(self):
        """The :class:`~revsnn_jax.dspike.TemperatureSearch` of a resolved config with the ``dspike`` surrogate and
        ``dspike_search_every >= 1``; None otherwise (a fixed temperature)."""
        if self.surrogate != "dspike" or not self.dspike_search_every:
            return None
        from revsnn_jax.dspike import TemperatureSearch
        return TemperatureSearch(every=self.dspike_search_every, step=self.dspike_step, floor=self.dspike_floor,
                                 eps=self.dspike_eps, layer=self.dspike_layer)

    def sparse_schedule(self, steps_per_epoch: int):
        """The :class:`~revsnn_jax.sparse.SparseSchedule` of a resolved config in optimizer steps (None: dense).
        Updates run from ``sparse_start_epoch`` to ``sparse_end_epoch`` (default: three quarters of the epochs),
        every ``sparse_every`` steps (default: once per epoch)."""
        if self.sparse_final_density is None:
            return None
        from revsnn_jax.sparse import SparseSchedule
        end = self.sparse_end_epoch if self.sparse_end_epoch is not None else \
            max(self.sparse_start_epoch, round(0.75 * self.epochs))
        return SparseSchedule(initial_density=self.sparse_initial_density, final_density=self.sparse_final_density,
                              start=self.sparse_start_epoch * steps_per_epoch, end=end * steps_per_epoch,
                              every=self.sparse_every or steps_per_epoch, exchange_ratio=self.sparse_exchange_ratio,
                              dense_first=self.sparse_dense_first)

    def strategy_value(self) -> Strategy:
        """The :class:`~revsnn_jax.strategies.Strategy` this config names."""
        return Strategy.parse(self.strategy, anchor_every=self.anchor_every, low_memory=self.low_memory,
                              keep_convs=self.keep_convs)

    def neuron_params(self):
        """The neuron's params (resolved config): ``neurons.NEURONS[neuron]`` with this config's settings."""
        cls = neurons.NEURONS[self.neuron]
        return cls(**{f.name: getattr(self, f.name) for f in dataclasses.fields(cls)
                      if getattr(self, f.name, None) is not None})

    neuron_spec = neuron_params   # the older name

    def frame_settings(self):
        """The :class:`~revsnn_jax.event_datasets.FrameSettings` of an event dataset's cache (None otherwise)."""
        if data.DATASETS[self.dataset].encoding != "frames":
            return None
        from revsnn_jax.event_datasets import FrameSettings
        return FrameSettings(timesteps=self.timesteps, by=self.frame_binning, size=self.frame_size,
                             binary=self.frame_binary, split=self.split)

    def input_shape(self) -> tuple[int, int, int]:
        """One image's or frame's HWC shape, known without loading data."""
        info = data.DATASETS[self.dataset]
        if info.encoding == "frames" and self.frame_size is not None:
            return (self.frame_size, self.frame_size, info.input_shape[-1])
        return info.input_shape

    def batch_shape(self) -> tuple[int, ...]:
        """The shape of one training batch as the step takes it: ``[T, B, H, W, C]`` for event frames."""
        if data.DATASETS[self.dataset].encoding == "frames":
            return (self.timesteps, self.batch_size, *self.input_shape())
        return (self.batch_size, *self.input_shape())

    def augmentation(self, ds) -> tuple[str, ...]:
        if self.augment_ops is None:
            return ds.augmentation
        return tuple(o.strip() for o in self.augment_ops.split(",") if o.strip())


def _check_types(cfg: TrainConfig) -> None:
    """Every field has its declared type (an int where a float is declared is fine; a bool is never a number)."""
    for f in dataclasses.fields(cfg):
        value, declared = getattr(cfg, f.name), str(f.type)
        if value is None and "None" in declared:
            continue
        kind = next(k for k in ("bool", "int", "float", "str") if k in declared)
        ok = {"bool": isinstance(value, bool),
              "int": isinstance(value, int) and not isinstance(value, bool),
              "float": isinstance(value, (int, float)) and not isinstance(value, bool),
              "str": isinstance(value, str)}[kind]
        if not ok:
            raise InputError(f"{f.name} must be {'an' if kind == 'int' else 'a'} {kind}"
                             f"{' or None' if 'None' in declared else ''}, got {value!r} "
                             f"({type(value).__name__})")


def _changed(cfg: TrainConfig, prefix: str) -> list[str]:
    """The fields named ``prefix...`` that differ from their defaults (a method's settings given without it)."""
    return [f.name for f in dataclasses.fields(cfg) if f.name.startswith(prefix) and getattr(cfg, f.name) != f.default]


def _check_method(cfg: TrainConfig) -> None:
    """Refuses settings of one training method given to another, and combinations not built."""
    given = [k for k in _changed(cfg, "ottt_") + _changed(cfg, "online_") if cfg.method not in ("ottt", "sltt")
             or (k.startswith("ottt_") and cfg.method != "ottt")]
    if given:
        raise InputError(f"{', '.join(given)} set the online methods (--method ottt/sltt); this run's method is "
                         f"{cfg.method!r}")
    if cfg.method == "exact":
        return
    unused = [k for k, default in (("strategy", "inverse_grad"), ("anchor_every", None), ("keep_convs", False))
              if getattr(cfg, k) != default] + (["low_memory"] if cfg.low_memory and cfg.method != "dsr" else [])
    if unused:
        raise InputError(f"{', '.join(unused)} refine the exact method's strategy; --method {cfg.method} computes its "
                         "own gradient (dsr takes --low-memory)")
    if cfg.temperature_search() is not None:
        raise InputError(f"the dspike temperature search compares exact gradients; with --method {cfg.method} keep "
                         "the temperature fixed (--dspike-search-every 0)")
    if cfg.online_update and cfg.sparse_final_density is not None:
        raise InputError("online_update (OTTT_O) with dynamic sparse training is not built: the masks are updated "
                         "once per batch")
    if cfg.method == "dsr" and cfg.neuron not in ("dsr_if", "dsr_lif", "rev"):
        raise InputError(f"--method dsr needs a neuron with a rate mapping (dsr_if, dsr_lif or rev), not "
                         f"{cfg.neuron!r}")


def _check_choice(what: str, value, valid) -> None:
    if value not in valid:
        plural = what[:-1] + "ies" if what.endswith("y") else what + "s"
        raise InputError(f"unknown {what} {value!r}; valid {plural}: {', '.join(valid)}")


def make_optimizer(cfg: TrainConfig, total_steps: int) -> optax.GradientTransformation:
    """SGD with momentum (decoupled weight decay) or AdamW, both with a cosine learning-rate schedule."""
    if cfg.online_update:   # OTTT_O: an optimizer step per timestep
        total_steps *= cfg.timesteps
    schedule = optax.cosine_decay_schedule(cfg.learning_rate, decay_steps=max(total_steps, 1))
    if cfg.optimizer == "sgd":
        return optax.chain(optax.add_decayed_weights(cfg.weight_decay),
                           optax.sgd(schedule, momentum=cfg.momentum or None))
    return optax.adamw(schedule, weight_decay=cfg.weight_decay)


def network_inputs(images, encoding: str, timesteps: int):
    """A batch as the network takes it: ``direct`` images as they are; for ``frames``, ``[T, B, ...]`` frames
    as they are, or a static image batch ``[B, H, W, C]`` repeated as T identical frames."""
    if encoding == "frames" and images.ndim == 4:
        return jnp.broadcast_to(images[None], (timesteps,) + images.shape)
    return images


def make_loss(graphdef, *, timesteps: int, strategy: Strategy | str, encoding: str = "direct", train: bool = True):
    """``loss(params, batch_stats, inputs, labels) -> (mean cross-entropy, (logits, per-step BN statistics))``."""
    strategy = as_strategy(strategy)

    def loss(params, batch_stats, inputs, labels):
        logits, stats = network.forward(graphdef, params, batch_stats, network_inputs(inputs, encoding, timesteps),
                                        timesteps=timesteps, strategy=strategy, train=train, encoding=encoding)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), (logits, stats)

    return loss


def loss_and_grads(graphdef, params, batch_stats, inputs, labels, *, timesteps: int, strategy: Strategy | str,
                   encoding: str = "direct"):
    """``((loss, (logits, per-step BN statistics)), parameter gradients)`` of the mean cross-entropy."""
    loss = make_loss(graphdef, timesteps=timesteps, strategy=strategy, encoding=encoding)
    return jax.value_and_grad(loss, has_aux=True)(params, batch_stats, inputs, labels)


def make_train_step(graphdef, optimizer: optax.GradientTransformation, *, timesteps: int,
                    strategy: Strategy | str = "inverse_grad", encoding: str = "direct", bn_momentum: float = 0.9,
                    on_nonfinite: str = "stop", sparse=None, method: Method | str = "exact"):
    """A pure ``train_step(params, batch_stats, opt_state, inputs, labels) -> (params, batch_stats, opt_state,
    metrics)``; jit it once (with ``donate_argnums=(0, 1, 2)``).

    ``inputs``: images ``[B, H, W, C]`` (``encoding="direct"``: fed at every step) or frames ``[T, B, H, W, C]``;
    ``labels``: int ``[B]``; ``strategy``: a :class:`~revsnn_jax.strategies.Strategy` or its label.
    ``metrics["finite"]`` says whether the loss, every gradient and the updated state are finite (computed in the
    step: the caller reads it with the other metrics, no extra device sync). ``on_nonfinite="skip-step"`` also
    returns the state unchanged for a non-finite step; ``"stop"`` leaves the decision to the caller.

    Dynamic sparse training (:mod:`revsnn_jax.sparse`): ``sparse=(schedule, which)`` (a
    :class:`~revsnn_jax.sparse.SparseSchedule` and :func:`~revsnn_jax.sparse.masked`) makes it
    ``train_step(params, batch_stats, opt_state, masks, step, inputs, labels) -> (params, batch_stats, opt_state,
    masks, metrics)``, ``step`` the number of optimizer steps taken so far; ``metrics["density"]`` is the share of
    masked weights that are non-zero after the step.

    ``method`` (:mod:`revsnn_jax.nn.methods`): ``exact`` (the strategy's BPTT gradient), ``ottt``, ``sltt``,
    ``dsr``. With ``online_update`` (OTTT_O) the optimizer steps after every timestep; the reported loss is then
    the sum of the per-step losses as each step saw its parameters.
    """
    strategy = as_strategy(strategy)
    method = as_method(method)
    if method.online_update and sparse is not None:
        raise InputError("online_update (OTTT_O) with dynamic sparse training is not built")
    _check_choice("on_nonfinite", on_nonfinite, ON_NONFINITE)
    if sparse is not None:
        from revsnn_jax import sparse as sparse_lib
        schedule, which = sparse
        before_update, after_update = sparse_lib.make_sparse_update(optimizer, schedule, which)

    def optimizer_step(grads, opt_state, params):
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    def core(params, batch_stats, opt_state, masks, step, inputs, labels):
        inputs = network_inputs(inputs, encoding, timesteps)
        if method.online_update:
            out = methods.online_run(method, graphdef, params, batch_stats, inputs, labels, timesteps=timesteps,
                                     encoding=encoding, update=optimizer_step, update_state=opt_state)
            loss, logits, stats, grads = out.loss, out.logits.mean(0), out.aux, out.grads
            new_params, new_opt_state = out.params, out.update_state
        else:
            (loss, (logits, stats)), grads = methods.loss_and_grads(method, graphdef, params, batch_stats, inputs,
                                                                    labels, timesteps=timesteps, strategy=strategy,
                                                                    encoding=encoding)
            if sparse is not None:   # the dense gradient decides growth; the optimizer sees it masked
                grads, new_masks = before_update(params, masks, grads, step)
            new_params, new_opt_state = optimizer_step(grads, opt_state, params)
        metrics = {}
        if sparse is not None:
            new_params, new_opt_state = after_update(new_params, new_opt_state, new_masks)
            metrics["density"] = sparse_lib.density(new_masks, which)
        new_batch_stats = network.update_batch_stats(graphdef, new_params, batch_stats, stats, bn_momentum)
        finite = jnp.isfinite(loss) & all_finite((grads, new_params, new_batch_stats))
        metrics.update(loss=loss, accuracy=jnp.mean(jnp.argmax(logits, -1) == labels), finite=finite)
        new = (new_params, new_batch_stats, new_opt_state) + ((new_masks,) if sparse is not None else ())
        if on_nonfinite == "skip-step":
            old = (params, batch_stats, opt_state) + ((masks,) if sparse is not None else ())
            new = jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, old)
        return (*new, metrics)

    if sparse is not None:
        return core

    def train_step(params, batch_stats, opt_state, inputs, labels):
        return core(params, batch_stats, opt_state, None, None, inputs, labels)

    return train_step


def all_finite(tree) -> jax.Array:
    """A scalar bool: every element of every floating-point leaf of ``tree`` is finite."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def make_eval_step(graphdef, *, timesteps: int, encoding: str = "direct"):
    """A pure ``eval_step(params, batch_stats, inputs, labels, mask) -> {loss_sum, correct, count}`` (running
    BatchNorm statistics; rows with ``mask == 0`` are padding and not counted)."""

    def eval_step(params, batch_stats, inputs, labels, mask):
        logits, _ = network.forward(graphdef, params, batch_stats, network_inputs(inputs, encoding, timesteps),
                                    timesteps=timesteps, strategy="bptt", train=False, encoding=encoding)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        return {"loss_sum": jnp.sum(loss * mask), "correct": jnp.sum((jnp.argmax(logits, -1) == labels) * mask),
                "count": jnp.sum(mask)}

    return eval_step


# --- data parallel -------------------------------------------------------------------------------------------

def data_mesh(devices=None) -> Mesh:
    """A 1-D mesh with axis ``"data"`` over ``devices`` (default: all devices of all processes)."""
    return Mesh(np.asarray(jax.devices() if devices is None else devices), ("data",))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    n = mesh.devices.size
    if batch_size % n:
        raise InputError(f"batch size {batch_size} is not divisible by the number of devices ({n}); "
                         f"use a multiple of {n}")


def replicate(tree, mesh: Mesh):
    """``tree`` copied to every device of ``mesh``."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def shard_batch(mesh: Mesh, *arrays: np.ndarray):
    """Global arrays from this process's rows of each global batch, sharded along the ``data`` axis.

    With one process the rows are the whole batch; with several, process ``i`` passes the full global batch and
    only its ``i``-th slice is used (each process runs the same data pipeline, so every slice is known). Event
    frame batches (5-D, time-major ``[T, B, ...]``) are sharded along their batch axis, 1."""
    count, index = jax.process_count(), jax.process_index()
    out = []
    for a in arrays:
        axis = 1 if a.ndim == 5 else 0
        spec = PartitionSpec(None, "data") if axis else PartitionSpec("data")
        rows = a.shape[axis] // count
        local = lax_slice(a, axis, index * rows, (index + 1) * rows)
        out.append(jax.make_array_from_process_local_data(NamedSharding(mesh, spec), local, a.shape))
    return out


def lax_slice(a: np.ndarray, axis: int, start: int, stop: int) -> np.ndarray:
    return a[(slice(None),) * axis + (slice(start, stop),)]


def jit_steps(graphdef, optimizer, cfg: TrainConfig, mesh: Mesh, sparsity=None, params_like=None):
    """The jitted train and eval steps with data-parallel shardings (outputs replicated); with ``sparsity`` (a
    :class:`~revsnn_jax.sparse.SparseSchedule`; ``params_like``: the parameters' structure) the sparse step."""
    replicated = NamedSharding(mesh, PartitionSpec())
    if sparsity is not None:
        from revsnn_jax import sparse as sparse_lib
    sparse = None if sparsity is None else (sparsity, sparse_lib.masked(params_like, sparsity,
                                                                         cfg.input_shape()[-1]))
    train_step = make_train_step(graphdef, optimizer, timesteps=cfg.timesteps, strategy=cfg.strategy_value(),
                                 encoding=cfg.encoding, bn_momentum=cfg.bn_momentum, on_nonfinite=cfg.on_nonfinite,
                                 sparse=sparse, method=cfg.method_value())
    eval_step = make_eval_step(graphdef, timesteps=cfg.timesteps, encoding=cfg.encoding)
    donate = (0, 1, 2, 3) if sparse is not None else (0, 1, 2)
    return (jax.jit(train_step, donate_argnums=donate, out_shardings=replicated),
            jax.jit(eval_step, out_shardings=replicated))


def run_step(train_step, state: dict, images, labels):
    """One training step on a run's state dict (see :func:`build`): ``(new state, metrics)``."""
    if "masks" in state:
        params, batch_stats, opt_state, masks, metrics = train_step(
            state["params"], state["batch_stats"], state["opt_state"], state["masks"], state["step"], images, labels)
        return {"params": params, "batch_stats": batch_stats, "opt_state": opt_state, "masks": masks,
                "step": state["step"] + 1}, metrics
    params, batch_stats, opt_state, metrics = train_step(state["params"], state["batch_stats"], state["opt_state"],
                                                         images, labels)
    return {"params": params, "batch_stats": batch_stats, "opt_state": opt_state, "step": state["step"] + 1}, metrics


# --- the job -------------------------------------------------------------------------------------------------

def _model(cfg: TrainConfig, input_shape, num_classes: int):
    """``(graphdef, params, batch_stats)`` of the config's model, checked against its input shape."""
    model = create_model(cfg.model, num_classes=num_classes, in_channels=input_shape[-1],
                         neuron=cfg.neuron_params(), seed=cfg.seed)
    network.check_inputs(model, jax.ShapeDtypeStruct((cfg.batch_size, *input_shape), jnp.float32), cfg.timesteps,
                         "direct", cfg.model)
    return split(model)


def build(cfg: TrainConfig, ds: data.Dataset, mesh: Mesh):
    """``(graphdef, initial state replicated on mesh, optimizer, steps per epoch)`` of a resolved config.

    The state is ``{"params", "batch_stats", "opt_state", "step"}``: what a checkpoint holds."""
    steps_per_epoch = data.steps_per_epoch(len(ds.train_labels), cfg.batch_size)
    if steps_per_epoch == 0:
        raise InputError(f"batch size {cfg.batch_size} is larger than the training set ({len(ds.train_labels)})")
    graphdef, params, batch_stats = _model(cfg, ds.input_shape, ds.num_classes)
    optimizer = make_optimizer(cfg, steps_per_epoch * cfg.epochs)
    state = replicate(initial_state(cfg, params, batch_stats, optimizer, steps_per_epoch), mesh)
    return graphdef, state, optimizer, steps_per_epoch


def initial_state(cfg: TrainConfig, params, batch_stats, optimizer, steps_per_epoch: int) -> dict:
    """``{"params", "batch_stats", "opt_state", "step"}`` at step 0, plus ``"masks"`` for sparse training (the
    parameters then start pruned to the initial density)."""
    state = {"params": params, "batch_stats": batch_stats, "step": jnp.zeros((), jnp.int32)}
    schedule = cfg.sparse_schedule(steps_per_epoch)
    if schedule is not None:
        from revsnn_jax import sparse
        state["masks"] = sparse.init_masks(params, schedule, cfg.input_shape()[-1])
        state["params"] = params = sparse.apply(params, state["masks"])
    state["opt_state"] = optimizer.init(params)
    return state


def _steps_per_epoch(cfg: TrainConfig) -> int:
    """Steps per epoch from the registry's training-set size (1 if unknown): for builds without data."""
    size = data.DATASETS[cfg.dataset].train_size
    return max(data.steps_per_epoch(size, cfg.batch_size), 1) if size else 1


def dry_run(config: TrainConfig) -> dict:
    """Builds the model and compiles (does not run) one training step at the config's batch size, without loading
    data: checks a config end to end and reports XLA's compiled memory of the step (bytes)."""
    cfg = config.resolved()
    info = data.DATASETS[cfg.dataset]
    mesh = data_mesh()
    check_batch_size(cfg.batch_size, mesh)
    graphdef, params, batch_stats = _model(cfg, cfg.input_shape(), info.num_classes)
    optimizer = make_optimizer(cfg, 1)
    steps_per_epoch = _steps_per_epoch(cfg)
    train_step, _ = jit_steps(graphdef, optimizer, cfg, mesh, cfg.sparse_schedule(steps_per_epoch), params)
    state = jax.eval_shape(lambda p, b: initial_state(cfg, p, b, optimizer, steps_per_epoch), params, batch_stats)
    sparse_args = (state["masks"], state["step"]) if "masks" in state else ()
    executable = train_step.lower(state["params"], state["batch_stats"], state["opt_state"], *sparse_args,
                                  jax.ShapeDtypeStruct(cfg.batch_shape(), jnp.float32),
                                  jax.ShapeDtypeStruct((cfg.batch_size,), jnp.int32)).compile()
    return {"model": cfg.model, "dataset": cfg.dataset, "timesteps": cfg.timesteps, "strategy": cfg.strategy,
            "method": cfg.method, "batch_size": cfg.batch_size, **compiled.memory_stats(executable),
            "parameters": int(sum(a.size for a in jax.tree.leaves(params)))}


def load_trained(workdir: str, notice: Callable[[str], None] | None = None):
    """``(resolved config, model, checkpoint meta)`` of a training run: its ``config.json`` and the newest
    checkpoint that reads (parameters and running statistics), without loading its data or changing anything on
    disk (a damaged newer checkpoint is skipped with a notice, not moved)."""
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
    cfg = TrainConfig(**values).resolved()
    info = data.DATASETS[cfg.dataset]
    mesh = data_mesh()
    graphdef, params, batch_stats = _model(cfg, cfg.input_shape(), info.num_classes)
    optimizer = make_optimizer(cfg, 1)
    like = replicate(initial_state(cfg, params, batch_stats, optimizer, _steps_per_epoch(cfg)), mesh)
    state, meta = checkpoints.restore(workdir, like, notice=notice or (lambda m: print(m, file=sys.stderr)),
                                      quarantine=False)
    return cfg, nnx.merge(graphdef, state["params"], state["batch_stats"]), meta


class Diverged(Exception):
    """A step's loss or gradient was not finite (``on_nonfinite="stop"``); ``where`` names the epoch and step."""

    def __init__(self, where: dict):
        super().__init__(where)
        self.where = where


def train_and_evaluate(config: TrainConfig, workdir: str, *, resume: bool = False, progress: bool = True,
                       on_step: Callable[[int, dict], None] | None = None, log=None) -> dict:
    """Trains ``config`` in ``workdir`` and returns the final summary, whose ``"status"`` says how it ended:
    ``"completed"`` or ``"diverged"`` (the first non-finite step under ``on_nonfinite="stop"``: nothing of its
    epoch is saved, the last finite checkpoint stays the newest, and an event line in ``metrics.jsonl`` names the
    epoch and step). An interrupt (KeyboardInterrupt, or SIGTERM where the caller maps it to one) propagates after
    pending checkpoint writes have finished.

    Before anything is loaded or compiled: the config is checked (names, types, ranges), the workdir must be
    usable (nothing is created otherwise) and is locked for this process (a second run on it fails at once).
    ``resume=True`` continues from the newest checkpoint that reads (damaged newer ones are moved aside, with a
    notice) or starts fresh if there is none. Without it, a workdir that already holds a checkpoint is an error,
    and so is resuming a checkpoint made with a different configuration (only :data:`RESUMABLE_CHANGES` may
    differ); nothing is overwritten in either case. ``metrics.jsonl`` is cut back to the resumed checkpoint's
    epochs, so no epoch is ever recorded twice. A workdir this call created is removed again if the run fails
    before its training starts.

    ``on_step(step, metrics)`` is called after every training step with that step's metrics as device arrays.
    Notices and per-epoch summaries go to ``log`` (default ``sys.stderr``); the progress bar shows only on a
    terminal.
    """
    cfg = config.resolved()
    log = sys.stderr if log is None else log   # looked up per call: sys.stderr may be replaced (tests, notebooks)

    def say(message: str) -> None:
        print(message, file=log, flush=True)

    mesh = data_mesh()
    check_batch_size(cfg.batch_size, mesh)
    created = rundir.create(workdir)   # checked first: nothing is created when it cannot be used
    lock, started_training = rundir.Lock(workdir), False
    try:
        lock.acquire()
        if lock.stale:
            say(f"recovered the lock of {workdir} left by {lock.stale}, which is no longer running")
        meta = checkpoints.latest_meta(workdir)
        _check_workdir(cfg, workdir, meta, resume)
        say(f"loading {cfg.dataset}...")
        ds = data.load(cfg.dataset, cfg.data_dir, cfg.frame_settings(), say)
        if ds.timesteps is not None and ds.timesteps != cfg.timesteps:
            raise InputError(f"{cfg.dataset}'s prepared frames have T={ds.timesteps}, the config asks for "
                             f"timesteps={cfg.timesteps}")
        graphdef, state, optimizer, steps_per_epoch = build(cfg, ds, mesh)
        start_epoch = 0
        if meta is not None or checkpoints.steps(workdir):   # the newest that reads; never a silent restart
            state, meta = checkpoints.restore(workdir, state, notice=say)
            start_epoch = meta["epochs_done"]
            if start_epoch >= cfg.epochs:
                record = _last_record(workdir)
                if record is None:
                    raise InputError(f"{workdir} has a finished checkpoint but no metrics.jsonl to report from")
                say(f"{workdir} already finished its {cfg.epochs} epochs; nothing to train (config.json "
                    "unchanged)")
                return _summary(cfg, record, "completed", mesh, 0.0, workdir)
            say(f"resuming {workdir} after epoch {start_epoch}")
        elif resume:
            say(f"no checkpoint in {workdir}: starting a new run")
        dropped = rundir.truncate_metrics(workdir, start_epoch)
        if dropped:
            say(f"dropped {dropped} line(s) of metrics.jsonl beyond the checkpoint (epoch {start_epoch})")
        with open(os.path.join(workdir, "config.json"), "w") as f:
            json.dump(dataclasses.asdict(cfg), f, indent=1)
        train_steps = TrainSteps(graphdef, optimizer, cfg, mesh, cfg.sparse_schedule(steps_per_epoch),
                                 state["params"])
        if meta is not None and start_epoch and "surrogate_temperature" in meta:
            train_steps.temperature = meta["surrogate_temperature"]
        started_training = True
        return _run_epochs(cfg, workdir, ds, mesh, state, train_steps, steps_per_epoch, start_epoch, progress,
                           on_step, say)
    except BaseException:
        if created and not started_training:
            shutil.rmtree(created, ignore_errors=True)   # ours, and nothing in it yet
        raise
    finally:
        lock.release()


class TrainSteps:
    """The jitted train and eval steps of a run. With the ``dspike`` surrogate and a temperature search, the
    training step depends on the current temperature (a static neuron setting): one compiled step is kept per
    temperature, and :meth:`search` runs the search at the start of every ``dspike_search_every``-th epoch."""

    def __init__(self, graphdef, optimizer, cfg: TrainConfig, mesh: Mesh, sparsity=None, params_like=None):
        self.graphdef, self.optimizer, self.cfg, self.mesh = graphdef, optimizer, cfg, mesh
        self.temperature = cfg.surrogate_width if cfg.surrogate == "dspike" else None
        self.sparsity, self.params_like = sparsity, params_like
        train_step, self.eval_step = jit_steps(graphdef, optimizer, cfg, mesh, sparsity, params_like)
        self._train, self._used = {self.temperature: train_step}, set()
        self.settings, self._searcher = cfg.temperature_search(), None

    def train_step(self, state):
        """``(the training step at the current temperature, whether this is its first use, i.e. it compiles)``."""
        if self.temperature not in self._train:
            from revsnn_jax.dspike import with_temperature
            graphdef = with_temperature(self.graphdef, state["params"], state["batch_stats"], self.temperature)
            self._train[self.temperature] = jit_steps(graphdef, self.optimizer, self.cfg, self.mesh, self.sparsity,
                                                      self.params_like)[0]
        first = self.temperature not in self._used
        self._used.add(self.temperature)
        return self._train[self.temperature], first

    def search(self, state, images, labels) -> dict:
        """Runs the temperature search on one batch and adopts its choice; returns its report."""
        from revsnn_jax import dspike
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


def _run_epochs(cfg, workdir, ds, mesh, state, steps: TrainSteps, steps_per_epoch, start_epoch, progress,
                on_step, say) -> dict:
    augment = cfg.augmentation(ds) if (ds.augment if cfg.augment is None else cfg.augment) else ()
    saver = checkpoints.Saver(workdir)
    started = time.perf_counter()
    record, skipped_total = None, 0
    try:
        for epoch in range(start_epoch, cfg.epochs):
            found = None
            if steps.settings is not None and epoch % steps.settings.every == 0:
                images, labels = next(iter(data.train_batches(ds, cfg.batch_size, cfg.seed, epoch, augment)))
                found = steps.search(state, *shard_batch(mesh, images, labels.astype(np.int32)))
                say(f"dspike temperature {found['previous']} -> {found['temperature']} (cosines "
                    + ", ".join(f"b={b}: {c}" for b, c in found["cosines"].items())
                    + f"; {found['forwards']} forwards, {found['seconds']:.1f} s)")
            t0 = time.perf_counter()
            batches = data.train_batches(ds, cfg.batch_size, cfg.seed, epoch, augment)
            train_step, first_use = steps.train_step(state)
            try:
                state, train_metrics = _train_epoch(state, batches, train_step, mesh, steps_per_epoch, epoch, cfg,
                                                    progress, on_step, say if first_use else None)
                seconds = time.perf_counter() - t0
                test = evaluate(steps.eval_step, state, ds.test_images, ds.test_labels, cfg.batch_size, mesh)
                if not math.isfinite(test["loss"]):
                    raise Diverged({"epoch": epoch + 1, "step": int(state["step"]), "where": "evaluation",
                                    "test_loss": test["loss"]})
            except Diverged as e:
                return _diverged(cfg, workdir, e.where, mesh, started, say)
            skipped_total += train_metrics.get("skipped_steps", 0)
            record = {"epoch": epoch + 1, "step": int(state["step"]), **train_metrics,
                      "test_loss": test["loss"], "test_accuracy": test["accuracy"],
                      "epoch_seconds": round(seconds, 3),
                      "images_per_second": round(steps_per_epoch * cfg.batch_size / seconds, 1)}
            extra = {}
            if steps.temperature is not None:
                extra["surrogate_temperature"] = record["surrogate_temperature"] = steps.temperature
                if found is not None:
                    record["dspike_search"] = found
            # Metrics first: a run killed before its checkpoint lands drops this line again on resume.
            rundir.append(workdir, record)
            saver.save(epoch + 1, state, {"config": dataclasses.asdict(cfg), "epochs_done": epoch + 1, **extra})
            skipped = f" | {record['skipped_steps']} non-finite steps skipped" if record.get("skipped_steps") else ""
            say(f"epoch {epoch + 1}/{cfg.epochs}: train loss {_fmt(record['train_loss'])} "
                f"acc {record['train_accuracy']:.4f} | test loss {_fmt(record['test_loss'])} "
                f"acc {record['test_accuracy']:.4f} | {record['images_per_second']:.0f} img/s{skipped}")
    finally:
        saver.close()
    summary = _summary(cfg, record, "completed", mesh, time.perf_counter() - started, workdir)
    if cfg.on_nonfinite == "skip-step":
        summary["skipped_steps"] = skipped_total   # this invocation's epochs; per epoch in metrics.jsonl
    return summary


def _fmt(x) -> str:
    return "nan" if x is None else f"{x:.4f}" if abs(x) < 1e4 else f"{x:.3e}"


def _summary(cfg, record, status, mesh, seconds, workdir) -> dict:
    out = {"status": status}
    if record is not None:
        out.update({k: record.get(k) for k in ("test_accuracy", "train_accuracy", "test_loss", "train_loss")})
    out.update({"epochs": cfg.epochs, "strategy": cfg.strategy, "method": cfg.method, "model": cfg.model,
                "dataset": cfg.dataset,
                "timesteps": cfg.timesteps, "seed": cfg.seed, "devices": int(mesh.devices.size),
                "wall_seconds": round(seconds, 2), "workdir": workdir})
    return rundir.json_safe(out)


def _diverged(cfg, workdir, where, mesh, started, say) -> dict:
    """Records a divergence (an event line), says what to try, and returns the ``"diverged"`` summary."""
    done = where["epoch"] - 1
    rundir.append(workdir, {"event": "diverged", **where, "learning_rate": cfg.learning_rate})
    kept = f"the checkpoint of epoch {done} stays the newest" if done else "no checkpoint was saved"
    if where["where"] == "evaluation":
        at = "evaluation after epoch {epoch} gave a non-finite test loss"
    elif "skipped_steps" in where:
        at = "every step of epoch {epoch} had a non-finite loss or gradient (all skipped)"
    else:
        at = "step {step} (epoch {epoch}) had a non-finite loss or gradient"
    hint = "" if cfg.on_nonfinite == "skip-step" else ", or pass --on-nonfinite skip-step to skip such steps"
    say(f"training diverged: {at.format(**where)}; {kept}. Likely causes: a learning rate too high for this "
        f"model ({cfg.learning_rate} here), or inputs with NaN/inf values; lower --learning-rate{hint}")
    last = _last_record(workdir) if done else None
    summary = _summary(cfg, last, "diverged", mesh, time.perf_counter() - started, workdir)
    summary.update(epochs_done=done, diverged_at=rundir.json_safe(where))
    return summary


def _train_epoch(state, batches, train_step, mesh, steps, epoch, cfg, progress, on_step, first_compile=None):
    from tqdm.auto import tqdm
    # disable=None: a bar on a terminal only (logs get the one-line epoch summary instead).
    bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", leave=False,
               disable=None if progress else True, file=sys.stderr, dynamic_ncols=True)
    sums = {"loss": 0.0, "accuracy": 0.0}
    pending, finite_steps = [], 0
    t0 = time.perf_counter()
    try:
        for i, (images, labels) in enumerate(batches):
            images, labels = shard_batch(mesh, images, labels.astype(np.int32))
            announce = first_compile if i == 0 else None   # the first call compiles (synchronously)
            if announce:
                announce(f"compiling the training step ({cfg.model}, T={cfg.timesteps}, "
                         f"{cfg.strategy if cfg.method == 'exact' else 'method ' + cfg.method}, "
                         f"batch {cfg.batch_size})...")
                tc = time.perf_counter()
            state, metrics = run_step(train_step, state, images, labels)
            if announce:
                announce(f"compiled in {time.perf_counter() - tc:.1f} s; training")
            if on_step is not None:
                on_step(epoch * steps + i + 1, metrics)
            pending.append(metrics)
            if len(pending) == 10 or i + 1 == steps:   # sync with the device only every 10 steps
                host = jax.device_get(pending)
                for j, m in enumerate(host):
                    if not bool(m["finite"]):
                        if cfg.on_nonfinite == "stop":
                            raise Diverged({"epoch": epoch + 1, "step": epoch * steps + i + 2 - len(host) + j,
                                            "where": "training", "loss": float(m["loss"])})
                        continue
                    finite_steps += 1
                    sums["loss"] += float(m["loss"])
                    sums["accuracy"] += float(m["accuracy"])
                bar.update(len(pending))
                bar.set_postfix(loss=f"{float(host[-1]['loss']):.3f}", acc=f"{float(host[-1]['accuracy']):.3f}",
                                img_s=f"{(i + 1) * cfg.batch_size / (time.perf_counter() - t0):.0f}")
                pending = []
    finally:
        bar.close()
    if finite_steps == 0:
        raise Diverged({"epoch": epoch + 1, "step": epoch * steps + steps, "where": "training",
                        "skipped_steps": steps})
    out = {"train_loss": round(sums["loss"] / finite_steps, 6),
           "train_accuracy": round(sums["accuracy"] / finite_steps, 6)}
    if "density" in host[-1]:
        out["density"] = round(float(host[-1]["density"]), 6)
    if cfg.on_nonfinite == "skip-step":
        out["skipped_steps"] = steps - finite_steps
    return state, out


def evaluate(eval_step, state, images, labels, batch_size: int, mesh: Mesh) -> dict:
    """Mean loss and accuracy over every example of ``images``/``labels``."""
    outs = []   # summed on the host once at the end: no device sync per batch
    for x, y, mask in data.eval_batches(images, labels, batch_size):
        x, y, mask = shard_batch(mesh, x, y.astype(np.int32), mask)
        outs.append(eval_step(state["params"], state["batch_stats"], x, y, mask))
    totals = {k: sum(float(o[k]) for o in jax.device_get(outs)) for k in ("loss_sum", "correct", "count")}
    return {"loss": round(totals["loss_sum"] / totals["count"], 6),
            "accuracy": round(totals["correct"] / totals["count"], 6)}


def _check_workdir(cfg: TrainConfig, workdir: str, meta: dict | None, resume: bool) -> None:
    if meta is None:
        if checkpoints.steps(workdir) and not resume:
            raise InputError(f"{workdir} holds checkpoints that cannot be read; pass --resume to have them "
                             "checked (damaged ones are moved aside), or choose another --workdir")
        return
    saved = meta["config"]
    if not resume:
        raise InputError(f"{workdir} already holds a checkpoint (model {saved['model']}, {meta['epochs_done']} "
                         "epochs done); pass --resume to continue it, or choose another --workdir")
    diffs = [f"{k}: checkpoint {saved.get(k)!r}, this run {v!r}" for k, v in dataclasses.asdict(cfg).items()
             if k not in RESUMABLE_CHANGES and k in saved and saved[k] != v]   # fields newer than the checkpoint
    if diffs:
        raise InputError(f"{workdir} holds a checkpoint of a different run; nothing was changed. Differences: "
                         + "; ".join(diffs) + " (epochs and batch size set the learning-rate schedule, so they "
                         "cannot change either)")


def read_metrics(workdir: str) -> list[dict]:
    """The epoch records of ``WORKDIR/metrics.jsonl`` (one per finished epoch; event lines left out)."""
    return rundir.read_metrics(workdir)


def _last_record(workdir: str) -> dict | None:
    try:
        records = read_metrics(workdir)
    except ValueError:
        return None
    return records[-1] if records else None
