"""What defines a training run: :class:`TrainConfig`, its checks and defaults, and config files.

Every field is declared once, here, with its command-line flag: the field's metadata holds the flag's group, help
and choices, and ``revsnn train``'s flags are generated from it (:func:`revsnn_jax.cli.add_config_flags`). One
option is one field plus its check in :meth:`TrainConfig.resolved`. Which (neuron, strategy, method) combinations
train is decided by :func:`revsnn_jax.methods.resolve`, not here.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os

from revsnn_jax import data, methods, neurons
from revsnn_jax.data.events.datasets import EVENT_DATASETS, FrameSettings
from revsnn_jax.data.pipeline import AUGMENTATIONS
from revsnn_jax.errors import InputError
from revsnn_jax.methods.dspike import DEFAULT_TEMPERATURE, TemperatureSearch
from revsnn_jax.methods.method import METHODS, Method
from revsnn_jax.methods.sparse import SparseSchedule
from revsnn_jax.nn import MODELS, network
from revsnn_jax.planner import parse_bytes
from revsnn_jax.strategies import ALIASES, Strategy, choices as strategy_choices
from revsnn_jax.surrogate import SURROGATES

OPTIMIZERS = ("sgd", "adamw")
ON_NONFINITE = ("stop", "skip-step")
NEURONS = tuple(neurons.NEURONS)
OPTIMIZER_DEFAULTS = {"sgd": {"learning_rate": 0.1, "weight_decay": 5e-4},
                      "adamw": {"learning_rate": 1e-3, "weight_decay": 1e-4}}
DATASET_FIELDS = ("model", "epochs", "batch_size")   # filled from the dataset's registry entry when None
RESUMABLE_CHANGES = ("data_dir", "strategy", "anchor_every", "low_memory", "keep_convs", "anchor_slots",
                     "memory_budget", "on_nonfinite")
"""Fields that may differ when resuming: they change neither the model nor the arithmetic of training (every
exact strategy computes the same gradients)."""
GROUPS = {"run": "run", "data": "data", "model": "model and gradient strategy",
          "method": "training method (revsnn_jax.methods)", "neuron": "neuron",
          "dspike": "dspike surrogate (--surrogate dspike; --surrogate-width is its initial temperature b, default 3; "
                    "--surrogate-support its half-width h, default 0.5)",
          "sparse": "dynamic sparse training (ND, drop-and-grow; revsnn_jax.methods.sparse)",
          "optimizer": "optimizer"}
"""The flag groups of ``revsnn train --help``, in order."""


def option(default, group: str, help: str = "", **flag):
    """A :class:`TrainConfig` field and its flag: ``group`` (a key of :data:`GROUPS`) and ``help`` for ``revsnn
    train --help``; ``flag`` may add ``choices`` (a function returning them), ``aliases`` (more flag names),
    ``negatable`` (``--x/--no-x`` for a bool that may be None) and ``metavar``."""
    return dataclasses.field(default=default, metadata={"group": group, "help": help, **flag})


def _neuron(group: str = "neuron", **flag):
    """A neuron setting: its help names each neuron's default (the neuron classes are the one definition)."""
    return option(None, group, **flag, neuron=True)


def _aliases() -> str:
    return ", ".join(f"{a} = {c}" for a, c in ALIASES.items())


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. ``None`` means "the default for this dataset / optimizer / neuron".

    Each field's help is its flag's (``revsnn train --help``). In short: ``strategy`` is a label of
    :mod:`revsnn_jax.strategies` refined by ``anchor_every``, ``low_memory``, ``keep_convs`` and ``anchor_slots``,
    or ``auto`` (the fastest exact schedule whose step fits ``memory_budget``); ``method`` the
    training method (:mod:`revsnn_jax.methods`) with the ``ottt_*``/``online_*`` settings; the neuron fields are
    the union of the neuron types' settings (``NEURON_FIELDS``); event datasets read the cache prepared with
    ``timesteps``, ``frame_binning``, ``frame_size``, ``frame_binary`` and ``split``; ``on_nonfinite`` is what a
    step with a non-finite loss or gradient does (``stop``: status ``diverged``; ``skip-step``: no update).
    """

    dataset: str = option("digits", "data", choices=lambda: tuple(data.DATASETS))
    model: str | None = option(None, "model", "one of: " + ", ".join(MODELS))
    timesteps: int = option(4, "model", "T")
    strategy: str = option("inverse_grad", "model", "gradient strategy; the paper's names are aliases: "
                           + _aliases() + ". reverse needs --neuron exact_rev; auto: the fastest exact schedule "
                           "that fits --memory-budget", choices=lambda: strategy_choices() + ["auto"],
                           metavar="STRATEGY")
    method: str = option("exact", "method", "exact: BPTT's gradient by --strategy; ottt: online training through "
                         "time (per-step losses, presynaptic traces, memory flat in T); sltt: the same without "
                         "traces; dsr: differentiation on spike representation (a neuron with a rate mapping)",
                         choices=lambda: METHODS)
    ottt_trace_decay: float | None = option(None, "method", "the traces' decay lambda (default: the neuron's "
                                            "trace_decay, its leak 1 - 1/tau; 0 for the reversible neurons, "
                                            "measured closest to BPTT)")
    ottt_trace_input: bool = option(False, "method", "trace the first layer's input too (OTTT's general form; the "
                                    "reference code does not)")
    online_loss_mix: float = option(0.0, "method", "MSE share of the per-step loss of ottt/sltt (OTTT: 0.001 "
                                    "DVS-Gesture, 0.05 CIFAR)")
    online_update: bool = option(False, "method", "ottt/sltt: an optimizer step after every timestep (OTTT_O) "
                                 "instead of one per batch (OTTT_A)")
    anchor_every: int | None = option(None, "model", "steps between stored potentials for the anchored "
                                      "strategies (default ceil(sqrt(T)))")
    low_memory: bool = option(False, "model", "anchored: recompute segments instead of buffering them (less "
                              "memory, more time); dsr: recompute each BatchNorm + neuron")
    keep_convs: bool = option(False, "model", "anchored: keep each recomputed segment's conv outputs so the "
                              "backward runs no convolution forward again (faster, more memory)")
    anchor_slots: int | None = option(None, "model", "anchored+binomial: the potentials kept (default: as many as "
                                      "low_memory keeps at this T)")
    memory_budget: str | None = option(None, "model", "memory for one training step (4GiB, 512MiB): with --strategy "
                                       "auto the fastest exact schedule whose compiled step fits it is chosen (and "
                                       "recorded in config.json); with another strategy, a step that does not fit "
                                       "is an error before training", metavar="SIZE")
    encoding: str | None = option(None, "data", "direct: a static image at every step; frames: [T, B, H, W, C] "
                                  "(static images are repeated as T frames) (default: the dataset's)",
                                  choices=lambda: network.ENCODINGS)
    neuron: str = option("rev", "neuron", "rev: the paper's reversible LIF; exact_rev: exactly reversible LIF "
                         "(fixed point); lif: plain LIF; plif: LIF with learnable tau; dsr_if, dsr_lif: DSR's neurons "
                         "(trainable threshold)", choices=lambda: NEURONS)
    tau: float | None = _neuron()
    v_threshold: float | None = _neuron()
    v_reset: float | None = _neuron()
    alpha: float | None = _neuron()
    beta: float | None = _neuron()
    groups: int | None = _neuron()
    surrogate: str | None = _neuron(choices=lambda: SURROGATES)
    surrogate_width: float | None = _neuron()
    surrogate_support: float | None = _neuron()
    dspike_search_every: int | None = option(None, "dspike", "search the temperature every N epochs, at the start "
                                             "of the epoch (default 1; 0: keep b fixed)")
    dspike_step: float = option(0.2, "dspike", "the search compares b - step, b, b + step")
    dspike_floor: float = option(0.2, "dspike", "b never goes below this")
    dspike_eps: float = option(0.05, "dspike", "finite-difference step on the first layer's weights")
    dspike_layer: str | None = option(None, "dspike", "the parameter whose gradients are compared, e.g. "
                                      "convs.0.kernel (default: the convolution kernel that reads the input)")
    sparse_final_density: float | None = option(None, "sparse", "train sparse, ending with this share of non-zero "
                                                "conv/linear weights, e.g. 0.1 for 90%% sparsity (default: dense)")
    sparse_initial_density: float = option(0.5, "sparse", "density at the start, by magnitude")
    sparse_start_epoch: int = option(0, "sparse", "first topology update")
    sparse_end_epoch: int | None = option(None, "sparse", "last topology update; the masks are fixed after it "
                                          "(default: 3/4 of the epochs)")
    sparse_every: int | None = option(None, "sparse", "optimizer steps between topology updates (default: one "
                                      "epoch)")
    sparse_exchange_ratio: float = option(0.5, "sparse", "share of each layer's active weights dropped and "
                                          "regrown at the first update, cosine-decayed")
    sparse_dense_first: bool = option(False, "sparse", "keep the first layer dense")
    frac_bits: int | None = _neuron()
    x_max: float | None = _neuron()
    snap: bool | None = _neuron()
    decay_input: bool | None = _neuron()
    soft_reset: bool | None = _neuron()
    firing_fraction: float | None = _neuron()
    threshold_bound: float | None = _neuron()
    threshold_grad_scale: float | None = _neuron()
    dt: float | None = _neuron()
    optimizer: str = option("sgd", "optimizer", "cosine learning-rate schedule either way",
                            choices=lambda: OPTIMIZERS)
    learning_rate: float | None = option(None, "optimizer", "peak learning rate (default sgd 0.1, adamw 1e-3)",
                                         aliases=("--lr",))
    momentum: float = option(0.9, "optimizer", "SGD momentum")
    weight_decay: float | None = option(None, "optimizer", "decoupled (default sgd 5e-4, adamw 1e-4)")
    epochs: int | None = option(None, "optimizer")
    batch_size: int | None = option(None, "data", "global batch size, divisible by the number of devices")
    augment: bool | None = option(None, "data", "random crop + flip (default: on for CIFAR, off for digits)",
                                  negatable=True)
    augment_ops: str | None = option(None, "data", "what --augment applies, comma-separated from crop,flip,roll "
                                     "(default per dataset; event frames move alike in every step)")
    frame_size: int | None = option(None, "data", "event data: the prepared cache's square frame size (default: "
                                    "the sensor's; 16 for event_digits, 32 for nmnist)")
    frame_binning: str = option("count", "data", "event data: the cache's binning", choices=lambda: ("count", "time"))
    frame_binary: bool = option(False, "data", "event data: the cache with counts clipped to 0/1")
    split: str | None = option(None, "data", "event data: cifar10_dvs's split, 9:1 (default) or tebn")
    bn_momentum: float = option(0.9, "model", "BatchNorm's running-average momentum")
    seed: int = option(0, "run", "model init, data order and augmentation")
    data_dir: str | None = option(None, "data", "where revsnn prepare put the data (event datasets, CIFAR from its "
                                  "archive; default $REVSNN_DATA_DIR or ~/.cache/revsnn_jax), or a tfds data_dir "
                                  "holding CIFAR in array_record format")
    on_nonfinite: str = option("stop", "run", "a step with a non-finite loss or gradient: stop (exit 3, the last "
                               "finite checkpoint stays the newest) or skip-step (no update for that batch; counted "
                               "per epoch)", choices=lambda: ON_NONFINITE)

    def resolved(self) -> "TrainConfig":
        """Checks names and fills the per-dataset, per-optimizer and per-neuron defaults. Raises InputError on
        bad input (before anything is loaded or compiled)."""
        _check_types(self)
        for name in ("dataset", "optimizer", "neuron", "on_nonfinite", "method"):
            check_choice(name, getattr(self, name), field_choices(name))
        cfg = dataclasses.replace(self, **_defaults(self))
        _check_data(cfg)
        _check_training_methods(cfg)
        _check_budget(cfg)
        check_choice("model", cfg.model, MODELS)
        check_choice("encoding", cfg.encoding, network.ENCODINGS)
        _check_ranges(cfg)
        cfg.resolution()   # the (neuron, strategy, method) combination
        return cfg

    def resolution(self) -> methods.Resolved:
        """The checked (neuron, strategy, method) of a resolved config (:func:`revsnn_jax.methods.resolve`)."""
        planned = self.strategy == "auto"   # checked as the default strategy until the plan picks one
        return methods.resolve(
            self.neuron_params(), strategy=None if planned else self.strategy, method=self.method,
            anchor_every=self.anchor_every, low_memory=self.low_memory, keep_convs=self.keep_convs,
            anchor_slots=self.anchor_slots, ottt_trace_decay=self.ottt_trace_decay,
            ottt_trace_input=self.ottt_trace_input, online_loss_mix=self.online_loss_mix,
            online_update=self.online_update, fix="use --neuron exact_rev, or an anchored strategy with this neuron")

    def method_value(self) -> Method:
        """The :class:`~revsnn_jax.methods.Method` of a resolved config (OTTT's trace decay filled from the
        neuron)."""
        return self.resolution().method

    def strategy_value(self) -> Strategy:
        """The :class:`~revsnn_jax.strategies.Strategy` this config names (``exact`` method; the other methods'
        gradients ignore it)."""
        if self.strategy == "auto":
            raise InputError("strategy 'auto' names no strategy until the memory plan has chosen one "
                             "(revsnn_jax.train.plan_run)")
        return Strategy.parse(self.strategy, anchor_every=self.anchor_every, low_memory=self.low_memory,
                              keep_convs=self.keep_convs, anchor_slots=self.anchor_slots)

    def temperature_search(self):
        """The :class:`~revsnn_jax.methods.dspike.TemperatureSearch` of a resolved config with the ``dspike``
        surrogate and ``dspike_search_every >= 1``; None otherwise (a fixed temperature)."""
        if self.surrogate != "dspike" or not self.dspike_search_every:
            return None
        return TemperatureSearch(every=self.dspike_search_every, step=self.dspike_step, floor=self.dspike_floor,
                                 eps=self.dspike_eps, layer=self.dspike_layer)

    def sparse_schedule(self, steps_per_epoch: int):
        """The :class:`~revsnn_jax.methods.sparse.SparseSchedule` of a resolved config in optimizer steps (None:
        dense). Updates run from ``sparse_start_epoch`` to ``sparse_end_epoch`` (default: three quarters of the
        epochs), every ``sparse_every`` steps (default: once per epoch)."""
        if self.sparse_final_density is None:
            return None
        end = self.sparse_end_epoch if self.sparse_end_epoch is not None else \
            max(self.sparse_start_epoch, round(0.75 * self.epochs))
        return SparseSchedule(initial_density=self.sparse_initial_density, final_density=self.sparse_final_density,
                              start=self.sparse_start_epoch * steps_per_epoch, end=end * steps_per_epoch,
                              every=self.sparse_every or steps_per_epoch, exchange_ratio=self.sparse_exchange_ratio,
                              dense_first=self.sparse_dense_first)

    def neuron_params(self):
        """The neuron's params (resolved config): ``neurons.NEURONS[neuron]`` with this config's settings."""
        cls = neurons.NEURONS[self.neuron]
        return cls(**{f.name: getattr(self, f.name) for f in dataclasses.fields(cls)
                      if getattr(self, f.name, None) is not None})

    neuron_spec = neuron_params   # the older name

    def frame_settings(self):
        """The :class:`~revsnn_jax.data.events.datasets.FrameSettings` of an event dataset's cache (None
        otherwise)."""
        if data.DATASETS[self.dataset].encoding != "frames":
            return None
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


NEURON_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("neuron"))
"""TrainConfig's neuron settings: the union of the neuron types' fields (``tests/test_architecture.py`` keeps the
two in step). ``None`` means the chosen neuron's own default; a setting the neuron does not have must stay
``None``."""


def field_choices(name: str) -> tuple[str, ...]:
    """The valid values of a TrainConfig field with choices (from its metadata)."""
    return tuple(next(f for f in dataclasses.fields(TrainConfig) if f.name == name).metadata["choices"]())


def _defaults(cfg: TrainConfig) -> dict:
    """The fields a config leaves to the dataset, the optimizer and the neuron, with their values."""
    info = data.DATASETS[cfg.dataset]
    fill = {k: getattr(info, k) for k in DATASET_FIELDS if getattr(cfg, k) is None}
    fill.update({k: v for k, v in OPTIMIZER_DEFAULTS[cfg.optimizer].items() if getattr(cfg, k) is None})
    if cfg.encoding is None:
        fill["encoding"] = info.encoding
    if cfg.frame_size is None and info.frame_size is not None:
        fill["frame_size"] = info.frame_size
    own = {f.name: f.default for f in dataclasses.fields(neurons.NEURONS[cfg.neuron])}
    foreign = [k for k in NEURON_FIELDS if k not in own and getattr(cfg, k) is not None]
    if foreign:
        raise InputError(f"neuron {cfg.neuron!r} has no setting {', '.join(foreign)} (its settings: "
                         f"{', '.join(own)})")
    if (cfg.surrogate or own["surrogate"]) == "dspike":
        if cfg.surrogate_width is None:
            fill["surrogate_width"] = DEFAULT_TEMPERATURE
        if cfg.dspike_search_every is None:
            fill["dspike_search_every"] = 1
    fill.update({k: v for k, v in own.items() if getattr(cfg, k) is None and k not in fill})
    return fill


def _check_data(cfg: TrainConfig) -> None:
    """Event-data settings only for event datasets (and valid for them); augmentations by name."""
    if data.DATASETS[cfg.dataset].encoding == "frames":
        if cfg.encoding != "frames":
            raise InputError(f"{cfg.dataset} holds event frames: encoding must be 'frames', got {cfg.encoding!r}")
        cfg.frame_settings().check(cfg.dataset, EVENT_DATASETS[cfg.dataset])
    else:
        given = [k for k in ("frame_size", "split") if getattr(cfg, k) is not None] + \
            [k for k, d in (("frame_binning", "count"), ("frame_binary", False)) if getattr(cfg, k) != d]
        if given:
            raise InputError(f"{', '.join(given)} only apply to event datasets, not {cfg.dataset}")
    if cfg.augment_ops is not None:
        ops = [o.strip() for o in cfg.augment_ops.split(",") if o.strip()]
        if not ops or any(o not in AUGMENTATIONS for o in ops):
            raise InputError(f"augment_ops must list some of {', '.join(AUGMENTATIONS)}, got {cfg.augment_ops!r}")


def _check_budget(cfg: TrainConfig) -> None:
    """``auto`` needs a memory budget and leaves every refinement to the plan; a budget reads as a size."""
    if cfg.memory_budget is not None:
        parse_bytes(cfg.memory_budget)
    if cfg.strategy != "auto":
        return
    if cfg.memory_budget is None:
        raise InputError("strategy 'auto' chooses the fastest schedule that fits a memory budget: give "
                         "--memory-budget (e.g. 4GiB)")
    if cfg.method != "exact":
        raise InputError(f"strategy 'auto' plans the exact method's schedules; --method {cfg.method} computes its own "
                         "gradient")
    given = [name for name in ("anchor_every", "anchor_slots") if getattr(cfg, name) is not None] + \
        [name for name in ("low_memory", "keep_convs") if getattr(cfg, name)]
    if given:
        raise InputError(f"strategy 'auto' chooses {', '.join(given)} itself; drop them or name a strategy")


def _check_training_methods(cfg: TrainConfig) -> None:
    """The dspike search and sparse training: their settings only when they are on, and valid."""
    if cfg.surrogate != "dspike":
        given = changed(cfg, "dspike_")
        if given:
            raise InputError(f"{', '.join(given)} set the temperature search of the dspike surrogate; this run's "
                             f"surrogate is {cfg.surrogate!r} (pass --surrogate dspike)")
    if cfg.dspike_search_every is not None and cfg.dspike_search_every < 0:
        raise InputError(f"dspike_search_every must be >= 0 (0: a fixed temperature), got {cfg.dspike_search_every}")
    if cfg.temperature_search() is not None and cfg.method != "exact":
        raise InputError(f"the dspike temperature search compares exact gradients; with --method {cfg.method} keep "
                         "the temperature fixed (--dspike-search-every 0)")
    if cfg.sparse_final_density is None:
        given = changed(cfg, "sparse_")
        if given:
            raise InputError(f"{', '.join(given)} set dynamic sparse training; give sparse_final_density "
                             "(--sparse-final-density) to use it")
        return
    if cfg.online_update:
        raise InputError("online_update (OTTT_O) with dynamic sparse training is not built: the masks are updated "
                         "once per batch")
    end = cfg.sparse_end_epoch
    if end is not None and not cfg.sparse_start_epoch <= end <= cfg.epochs:
        raise InputError(f"sparse_end_epoch must be in [sparse_start_epoch, epochs] = [{cfg.sparse_start_epoch}, "
                         f"{cfg.epochs}], got {end}")
    if not 0 <= cfg.sparse_start_epoch <= cfg.epochs:
        raise InputError(f"sparse_start_epoch must be in [0, epochs], got {cfg.sparse_start_epoch}")
    cfg.sparse_schedule(1)   # checks densities, ratios and the interval


def _check_ranges(cfg: TrainConfig) -> None:
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
    train_size = data.DATASETS[cfg.dataset].train_size
    if train_size is not None and cfg.batch_size > train_size:
        raise InputError(f"batch size {cfg.batch_size} is larger than the training set ({train_size})")


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


def changed(cfg: TrainConfig, prefix: str) -> list[str]:
    """The fields named ``prefix...`` that differ from their defaults (a feature's settings given without it)."""
    return [f.name for f in dataclasses.fields(cfg) if f.name.startswith(prefix) and getattr(cfg, f.name) != f.default]


def check_choice(what: str, value, valid) -> None:
    if value not in valid:
        plural = what[:-1] + "ies" if what.endswith("y") else what + "s"
        raise InputError(f"unknown {what} {value!r}; valid {plural}: {', '.join(valid)}")


def load_config_file(path: str) -> dict:
    """``get_config()`` of a Python config file (see ``experiments/configs/``), checked against TrainConfig's
    fields. Config files are Python by design, as in flax's examples: run only files you trust."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
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


def default_workdir(cfg: TrainConfig) -> str:
    """``runs/DATASET-MODEL-STRATEGY-T<T>-seed<SEED>`` of a resolved config."""
    return os.path.join("runs", f"{cfg.dataset}-{cfg.model}-{cfg.strategy.replace('+', '-')}-T{cfg.timesteps}-"
                                f"seed{cfg.seed}")
