"""The ``revsnn`` command: each subcommand parses its flags and calls one library function; nothing more.

==============================  =====================================================================================
``revsnn train``                trains a spiking network (default: offline digits, the paper's neuron, inverse_grad)
``revsnn prepare DATASET``      raw event recordings (or CIFAR's official archive) into a cache training reads
``revsnn plot WORKDIR``         loss/accuracy curves of a run as PNG
``revsnn export WORKDIR``       the run's network as a NIR graph (``--nir FILE``; ``--check`` reads it back)
``revsnn plan``                 the gradient schedules' compiled memory, and the fastest that fits ``--budget``
``revsnn bench neuron-memory``  compiled memory of one neuron layer per strategy, T = 1..32
``revsnn bench neuron-grad``    gradient error of each strategy against BPTT (float32 / float64)
``revsnn bench neuron-time``    backward FLOPs per step and backward time ratios of one neuron layer
``revsnn bench memory``         compiled memory of one training step of a whole network, per configuration;
                                several ``--timesteps`` give memory vs T (CSV + PNG); ``--grid``: the Fig. 5 grid
``revsnn bench time``           forward/backward time ratios and per-step FLOPs of a whole network per configuration;
                                ``--grid``: the Fig. 6 grid (VGG-11..19 x T=4,6,8)
``revsnn bench step``           one network step's pieces timed apart: where the backward's time goes
``revsnn bench network-check``  whole-network gradient error vs BPTT and training-step time ratios
==============================  =====================================================================================

``revsnn train``'s flags are generated from :class:`revsnn_jax.train.TrainConfig` (``add_config_flags``): a
new option is a new config field. Strategies by what they do: ``bptt``, ``checkpoint``, ``anchored`` (alias
``reversible``), ``anchored+closed_form`` (alias ``inverse_grad``), ``+low_memory``, ``+keep_convs``, ``+binomial``,
``reverse`` (exact time reversal, with ``--neuron exact_rev``), ``reverse+segmented``; ``auto`` with
``--memory-budget``. Benchmark configurations are ``[NEURON:]STRATEGY``, e.g. ``exact_rev:reverse``, ``lif:anchored``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Sequence

from revsnn_jax.errors import InputError, Terminated

_ARGV: list[str] = []   # the arguments main() was given, recorded in every result file

EXIT_CODES = {"completed": 0, "input_error": 2, "diverged": 3, "peer_lost": 5, "interrupted": 130, "terminated": 143}
"""``revsnn train``'s exit status: 0 completed, 2 bad input (one line on stderr), 3 diverged, 5 another process of
a multi-process run stopped or failed, 130 interrupted (SIGINT, Ctrl-C), 143 terminated (SIGTERM); 1 is an
unexpected error (a bug: it keeps its traceback)."""
EXPORT_CHECK_FAILED = 4
"""``revsnn export --check``'s exit status when the graph read back differs from the run's model."""
RUN_FLAGS = ("config", "workdir", "resume", "json", "no_progress", "dry_run", "coordinator_address", "num_processes",
             "process_id")
"""``revsnn train``'s flags that are not TrainConfig fields: how to run, not what."""


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


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- flags generated from a config dataclass ---------------------------------------------------------------------

def neuron_help(name: str) -> str:
    """A neuron setting's help: each neuron that has it, with its default (the neuron classes define them)."""
    from revsnn_jax import neurons
    owners = {kind: {f.name: f.default for f in dataclasses.fields(cls)} for kind, cls in neurons.NEURONS.items()}
    return "default per neuron: " + ", ".join(f"{k} {d[name]}" for k, d in owners.items() if name in d)


def add_config_flags(parser: argparse.ArgumentParser, config_cls, groups: dict[str, str]) -> dict:
    """One flag per field of ``config_cls`` (``--field-name``), from its metadata: ``group`` (a key of ``groups``,
    the group titles in order), ``help``, ``choices``, ``aliases``, ``negatable``, ``metavar``, ``neuron``. The
    parser's default is SUPPRESS, so a flag not given leaves a config file's value alone. Returns the argument
    groups by key."""
    sections = {key: parser.add_argument_group(title) for key, title in groups.items()}
    defaults = config_cls()
    for f in dataclasses.fields(config_cls):
        meta, declared = f.metadata, str(f.type)
        kind = next(k for k in ("bool", "int", "float", "str") if k in declared)
        kw = {"dest": f.name}
        help_text = neuron_help(f.name) if meta.get("neuron") else meta.get("help", "")
        if "choices" in meta:
            kw["choices"] = tuple(meta["choices"]())
        if "metavar" in meta:
            kw["metavar"] = meta["metavar"]
            if "choices" in kw:   # the metavar hides them: the help lists them
                help_text += f" (one of: {', '.join(kw['choices'])})"
        if kind == "bool" and f.default is False:
            kw["action"] = "store_true"
        elif kind == "bool" and meta.get("negatable"):
            kw["action"] = argparse.BooleanOptionalAction
        else:
            kw["type"] = {"bool": _bool, "int": int, "float": float, "str": str}[kind]
        default = getattr(defaults, f.name)
        if default is not None and default is not False and "(default" not in help_text and not meta.get("neuron"):
            help_text += f" (default {default})"
        elif f.name in ("model", "epochs", "batch_size"):
            help_text += " (default per dataset: " + _per_dataset(f.name) + ")"
        sections[meta.get("group", "run")].add_argument("--" + f.name.replace("_", "-"), *meta.get("aliases", ()),
                                                       help=help_text, **kw)
    return sections


def _per_dataset(field: str) -> str:
    from revsnn_jax.data import DATASETS
    return ", ".join(f"{k} {getattr(v, field)}" for k, v in DATASETS.items())


# --- training ----------------------------------------------------------------------------------------------------

def _on_sigterm(signum, frame):
    raise Terminated()


def train_config_values(args: argparse.Namespace) -> dict:
    """TrainConfig fields: its defaults, then ``--config FILE``'s ``get_config()``, then flags given explicitly."""
    from revsnn_jax.train import TrainConfig, load_config_file
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    values = load_config_file(args.config) if getattr(args, "config", None) else {}
    values.update({k: v for k, v in vars(args).items() if k in fields})
    return values


def cmd_train(args) -> int:
    import signal

    from revsnn_jax import train
    from revsnn_jax.train import distributed
    config = train.TrainConfig(**train_config_values(args))
    if args.dry_run:
        return _dry_run(args, config)
    path = args.workdir or train.default_workdir(config.resolved())
    multi = distributed.initialize(args.coordinator_address, args.num_processes, args.process_id)
    if multi:
        distributed.quiet_native_stdout()
    restore = distributed.catch_signals() if multi else None   # stop every process at the same step
    previous = None if multi else signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        result = train.train_and_evaluate(config, path, resume=args.resume, progress=not args.no_progress)
    except KeyboardInterrupt as e:
        return _interrupted(args, path, "terminated" if isinstance(e, Terminated) else "interrupted")
    except InputError:
        raise
    except Exception as e:   # noqa: BLE001 - in a multi-process run: a collective failed because a peer stopped
        if not multi:
            raise
        import jax
        print(f"revsnn: error: {distributed.lost_peer_message(e, jax.process_index(), jax.process_count())}",
              file=sys.stderr)
        distributed.exit_now(EXIT_CODES["peer_lost"])
    finally:
        if multi:
            restore()
        else:
            signal.signal(signal.SIGTERM, previous)
    if multi and not distributed.is_primary():
        return EXIT_CODES[result["status"]]   # process 0 prints the summary
    if args.json:
        print(train.rundir.dumps(result))
    elif result["status"] == "completed":
        print(f"test accuracy {result['test_accuracy']:.4f} (train {result['train_accuracy']:.4f}) after "
              f"{result['epochs']} epochs, {result['wall_seconds']:.0f} s; metrics in {result['workdir']}")
    return EXIT_CODES[result["status"]]


def _dry_run(args, config) -> int:
    from revsnn_jax import train
    result = train.dry_run(config)
    if args.json:
        print(json.dumps(result))
    else:
        how = result["strategy"] if result["method"] == "exact" else f"method {result['method']}"
        print(f"{result['model']} on {result['dataset']}, T={result['timesteps']}, {how}, batch "
              f"{result['batch_size']}: one training step compiles; XLA temp "
              f"{result['temp_bytes'] / 2**20:.1f} MiB, {result['parameters']:,} parameters")
    return 0


def _interrupted(args, path: str, status: str) -> int:
    """Says where an interrupted run stands and the command that resumes it."""
    import shlex

    from revsnn_jax.train import checkpoints, rundir
    meta = checkpoints.latest_meta(path) if os.path.isdir(path) else None
    done = meta["epochs_done"] if meta else 0
    again = ["revsnn", *(a for a in _ARGV if a != "--resume"), "--resume"]
    if args.workdir is None:
        again += ["--workdir", path]
    again = shlex.join(again)
    saved = f"after epoch {done} (its checkpoint is saved)" if done else "before the first checkpoint"
    print(f"revsnn: {status} {saved}; continue with: {again}", file=sys.stderr, flush=True)
    if args.json:
        print(rundir.dumps({"status": "interrupted", "signal": "SIGTERM" if status == "terminated" else "SIGINT",
                            "epochs_done": done, "workdir": path, "resume_command": again}))
    return EXIT_CODES[status]


def add_train_parser(sub) -> None:
    """``revsnn train``: the run flags here, every other flag generated from TrainConfig."""
    from revsnn_jax.train.config import GROUPS, TrainConfig
    p = sub.add_parser("train", help="train a spiking network", argument_default=argparse.SUPPRESS, description=(
        "Train a spiking network with one of the gradient strategies. With no flags: the offline digits dataset "
        "(scikit-learn), vgg_digits, T=4, the paper's reversible neuron, inverse_grad. Progress goes to stderr; "
        "--json prints the final summary on stdout."))
    g = add_config_flags(p, TrainConfig, GROUPS)["run"]
    g.add_argument("--config", help="a Python file whose get_config() returns TrainConfig fields (flags given "
                   "here override it); see experiments/configs/")
    g.add_argument("--workdir", default=None, help="checkpoints, metrics.jsonl and config.json go here "
                   "(default: runs/DATASET-MODEL-STRATEGY-T<T>-seed<SEED>)")
    g.add_argument("--resume", action="store_true", default=False, help="continue from the newest checkpoint in "
                   "--workdir")
    g.add_argument("--json", action="store_true", default=False, help="print the final summary as one JSON object")
    g.add_argument("--no-progress", action="store_true", default=False, help="no progress bar")
    g.add_argument("--dry-run", action="store_true", default=False, help="build the model and compile one "
                   "training step (no data, no training); print its compiled memory")
    g = p.add_argument_group("several processes (one per host; docs/training.md)")
    g.add_argument("--coordinator-address", default=None, metavar="HOST:PORT", help="process 0's address, the "
                   "same for every process (without these flags: JAX's own detection on SLURM or with "
                   "JAX_COORDINATOR_ADDRESS)")
    g.add_argument("--num-processes", type=_positive, default=None, help="processes in the run")
    g.add_argument("--process-id", type=int, default=None, help="this process, 0 .. N-1 (0 writes the files)")
    p.set_defaults(func=cmd_train)


# --- data, plots, export -------------------------------------------------------------------------------------------

def cmd_prepare(args) -> int:
    from revsnn_jax.data import cache, prepare
    root = prepare.prepare(args.dataset, args.raw, args.data_dir or cache.default_data_dir(),
                           {k: getattr(args, k) for k in prepare.FRAME_FLAGS}, progress=not args.no_progress,
                           say=_say)
    settings, splits = cache.read(root)
    sizes = {k: len(v[1]) for k, v in splits.items()}
    if args.json:
        print(json.dumps({"cache": root, "settings": settings, "sizes": sizes,
                          "disk_bytes": cache.disk_bytes(settings)}))
    else:
        print(f"prepared {args.dataset} in {root}: " + ", ".join(f"{n} {k}" for k, n in sizes.items())
              + f" samples, {cache.disk_bytes(settings) / 2**20:.1f} MiB")
    return 0


def add_prepare_parser(sub) -> None:
    from revsnn_jax.data.events.datasets import EMPTY
    from revsnn_jax.data.prepare import DATASETS, DTYPES
    p = sub.add_parser("prepare", help="raw event recordings or CIFAR's archive into a cache that training reads",
                       description="Converts raw data once into a cache under --data-dir that revsnn train reads "
                       "(memory-mapped). Idempotent and resumable: run it again after an interruption and it "
                       "continues; a cache built with other settings is never overwritten. Event recordings "
                       "become T frames of ON/OFF counts; the module revsnn_jax.data.events.datasets lists each "
                       "dataset's raw layout and split.")
    p.add_argument("dataset", choices=DATASETS)
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
    p.add_argument("--empty", choices=EMPTY, default=None, help="a sample with no events (e.g. a label interval "
                   "the sensor saw nothing in): zeros keeps it as all-zero frames and counts it in a warning "
                   "(default), error stops at it")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_prepare)


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


def cmd_export(args) -> int:
    from revsnn_jax import nir as rnir
    from revsnn_jax.train import rundir
    report = rnir.export_run(args.workdir, args.nir, dt=args.dt, check=args.check, force=args.force,
                             exact_threshold=args.exact_threshold)
    if args.json:
        print(rundir.dumps(report))
    else:
        _print_export(report, args.check)
    return EXPORT_CHECK_FAILED if report.get("check") == "failed" else 0


def _print_export(report: dict, check: bool) -> None:
    print(f"wrote {report['nir']}: {report['nodes']} nodes, {report['edges']} edges ({report['model']}, "
          f"{report['neuron']} neurons, epoch {report['epochs_done']}, dt={report['dt']})")
    if not check:
        return
    print(f"check {report['check']}: read back with {report['fields_differing']} differing fields; logits of the "
          f"graph run here vs the run's model on random inputs: max error {report['max_logit_error']:.2e} (max "
          f"|logit| {report['max_logit']:.3g})")
    print(f"  spikes: {report['spikes_mismatched']:,} of {report['spikes_compared']:,} differ")
    first = report["first_difference"]
    if first:
        why = ("float32 rounding at the threshold; later spikes follow from it" if first["rounding"] else
               "not rounding: the graph computes something else")
        print(f"  first difference: {first['node']} at step {first['step']}, potential {first['margin']:.2e} from "
              f"its threshold ({why})")
    for line in report["differing"]:
        print(f"  differs: {line}")


def add_plot_and_export_parsers(sub) -> None:
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
    p.add_argument("--exact-threshold", action="store_true", help="write each LIF's threshold as trained (for "
                   "simulators that compare in float64) instead of the largest float32 below it, which makes NIR's "
                   "v > v_th fire exactly where this library's v >= V_th does in float32 (docs/nir.md)")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_export)


# --- benchmarks and plans ----------------------------------------------------------------------------------------

def add_bench_parser(sub) -> None:
    from revsnn_jax.bench import command, flags
    bench = sub.add_parser("bench", help="benchmarks (memory, gradient error, time)")
    flags.add_subcommands(bench.add_subparsers(dest="what", required=True), neuron_help, _ints, _positive)
    bench.set_defaults(func=lambda args: command.run(args, _ARGV))


def add_plan_parser(sub) -> None:
    from revsnn_jax.bench import planning, report
    planning.add_parser(sub, _positive)
    sub.choices["plan"].set_defaults(func=lambda args: planning.run(args, report.progress) and 0)


# --- the command ---------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="revsnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    add_prepare_parser(sub)
    add_plot_and_export_parsers(sub)
    add_bench_parser(sub)
    add_plan_parser(sub)
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
