"""The whole job behind ``revsnn train``: :func:`train_and_evaluate` loads the data, builds the model, trains for
``config.epochs`` epochs with a checkpoint after each, evaluates on the test split every epoch, and appends one
JSON line per epoch to ``WORKDIR/metrics.jsonl``. It fails loudly and loses nothing: a diverging run stops at its
first non-finite step, one run at a time holds a workdir, a damaged checkpoint is reported and the previous one
resumed, and a run killed anywhere resumes exactly.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import time
from typing import Callable

import jax
import numpy as np
from jax.sharding import Mesh

from revsnn_jax import data
from revsnn_jax.errors import InputError, Terminated
from revsnn_jax.methods.sparse import current_density
from revsnn_jax.train import checkpoints, rundir
from revsnn_jax.train.distributed import Team
from revsnn_jax.train.config import RESUMABLE_CHANGES, TrainConfig
from revsnn_jax.train.parallel import check_batch_size, data_mesh, shard_batch
from revsnn_jax.train.state import STATE_FORMAT, TrainSteps, build, plan_run, restore, run_step


class Diverged(Exception):
    """A step's loss or gradient was not finite (``on_nonfinite="stop"``); ``where`` names the epoch and step."""

    def __init__(self, where: dict):
        super().__init__(where)
        self.where = where


@dataclasses.dataclass
class Run:
    """What the epochs of one invocation share: the config, its workdir and data, the mesh and compiled steps,
    and how to report (``say``: one line; ``progress``: a bar on a terminal; ``on_step(step, metrics)``)."""

    cfg: TrainConfig
    workdir: str
    ds: data.Dataset
    mesh: Mesh
    steps: TrainSteps
    steps_per_epoch: int
    say: Callable[[str], None]
    progress: bool = True
    on_step: Callable[[int, dict], None] | None = None
    team: Team | None = None
    started: float = dataclasses.field(default_factory=time.perf_counter)


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
    and so is resuming a checkpoint made with a different configuration (only ``RESUMABLE_CHANGES`` may
    differ); nothing is overwritten in either case. ``metrics.jsonl`` is cut back to the resumed checkpoint's
    epochs, so no epoch is ever recorded twice. A workdir this call created is removed again if the run fails
    before its training starts.

    ``on_step(step, metrics)`` is called after every training step with that step's metrics as device arrays.
    Notices and per-epoch summaries go to ``log`` (default ``sys.stderr``); the progress bar shows only on a
    terminal.
    """
    cfg = config.resolved()
    log = sys.stderr if log is None else log   # looked up per call: sys.stderr may be replaced (tests, notebooks)
    team = Team()

    def say(message: str) -> None:
        if team.primary:   # process 0 speaks for a multi-process run
            print(message, file=log, flush=True)

    mesh = data_mesh()
    check_batch_size(cfg.batch_size, mesh)
    plan = None
    if cfg.memory_budget is not None:   # before the workdir exists: a budget nothing fits creates nothing
        say(f"planning the gradient schedule for a budget of {cfg.memory_budget}...")
        cfg, plan = plan_run(cfg)
        say(f"chose {plan['config']}: {plan['total_bytes'] / 2**20:,.0f} MiB per training step")
    team.check_same(json.dumps({k: v for k, v in dataclasses.asdict(cfg).items() if k != "data_dir"},
                               sort_keys=True), "configuration")
    created, lock, started_training = None, rundir.Lock(workdir), False

    def claim():   # process 0: the workdir and its lock; its refusal stops every process
        nonlocal created
        created = rundir.create(workdir)   # checked first: nothing is created when it cannot be used
        lock.acquire()
        if lock.stale:
            say(f"recovered the lock of {workdir} left by {lock.stale}, which is no longer running")
        if team.multi:   # every process must then find the checkpoint folder in the same state (orbax)
            checkpoints.make_root(workdir)

    def check():   # process 0: may this run use what the workdir holds?
        _check_workdir(cfg, workdir, meta, resume, saved_steps)
        if plan is not None:
            with open(os.path.join(workdir, "plan.json"), "w") as f:
                json.dump(plan, f, indent=1)

    try:
        team.on_primary(claim)
        # Read by every process at the same point: opening an orbax manager is a collective of all processes.
        meta = checkpoints.latest_meta(workdir)
        saved_steps = bool(checkpoints.steps(workdir))
        team.on_primary(check)
        run, state, start_epoch = _start(cfg, workdir, meta, resume, mesh, say, progress, on_step, team)
        if start_epoch >= cfg.epochs:
            return _finished(run)
        started_training = True
        return _run_epochs(run, state, start_epoch)
    except BaseException:
        if created and not started_training:
            shutil.rmtree(created, ignore_errors=True)   # ours, and nothing in it yet
        raise
    finally:
        lock.release()


def _start(cfg: TrainConfig, workdir: str, meta: dict | None, resume: bool, mesh: Mesh, say, progress, on_step,
           team: Team):
    """Loads the data, builds the state (resumed from the newest checkpoint that reads, if any) and the compiled
    steps: ``(run, state, first epoch to train)``. Process 0 loads first (it may prepare a cache), then the rest."""
    say(f"loading {cfg.dataset}...")
    if not team.primary:
        team.barrier("revsnn: data prepared")
    ds = data.load(cfg.dataset, cfg.data_dir, cfg.frame_settings(), say)
    if team.primary:
        team.barrier("revsnn: data prepared")
    if ds.timesteps is not None and ds.timesteps != cfg.timesteps:
        raise InputError(f"{cfg.dataset}'s prepared frames have T={ds.timesteps}, the config asks for "
                         f"timesteps={cfg.timesteps}")
    graphdef, state, optimizer, steps_per_epoch = build(cfg, ds, mesh)
    start_epoch = 0
    if meta is not None or checkpoints.steps(workdir):   # the newest that reads; never a silent restart
        # Several processes only skip a damaged checkpoint: moving it while the others list them would split them.
        state, meta = restore(workdir, state, meta, say, quarantine=not team.multi)
        start_epoch = meta["epochs_done"]
        if start_epoch < cfg.epochs:
            say(f"resuming {workdir} after epoch {start_epoch}")
    elif resume:
        say(f"no checkpoint in {workdir}: starting a new run")
    run = Run(cfg, workdir, ds, mesh, None, steps_per_epoch, say, progress, on_step, team)
    if start_epoch >= cfg.epochs:
        return run, state, start_epoch
    if team.primary:
        dropped = rundir.truncate_metrics(workdir, start_epoch)
        if dropped:
            say(f"dropped {dropped} line(s) of metrics.jsonl beyond the checkpoint (epoch {start_epoch})")
        with open(os.path.join(workdir, "config.json"), "w") as f:
            json.dump(dataclasses.asdict(cfg), f, indent=1)
    run.steps = TrainSteps(graphdef, optimizer, cfg, mesh)
    if meta is not None and start_epoch and "surrogate_temperature" in meta:
        run.steps.temperature = meta["surrogate_temperature"]
    return run, state, start_epoch


def _finished(run: Run) -> dict:
    """The summary of a run that already trained all its epochs (nothing changes on disk)."""
    record = _last_record(run.workdir)
    if record is None:
        raise InputError(f"{run.workdir} has a finished checkpoint but no metrics.jsonl to report from")
    run.say(f"{run.workdir} already finished its {run.cfg.epochs} epochs; nothing to train (config.json unchanged)")
    return _summary(run, record, "completed", 0.0)


def _run_epochs(run: Run, state: dict, start_epoch: int) -> dict:
    cfg, steps = run.cfg, run.steps
    saver = checkpoints.Saver(run.workdir)
    record, skipped_total = None, 0
    try:
        for epoch in range(start_epoch, cfg.epochs):
            found = _search(run, state, epoch)
            try:
                state, record = _epoch(run, state, epoch)
            except Diverged as e:
                return _diverged(run, e.where)
            skipped_total += record.get("skipped_steps", 0)
            extra = {}
            if steps.temperature is not None:
                extra["surrogate_temperature"] = record["surrogate_temperature"] = steps.temperature
                if found is not None:
                    record["dspike_search"] = found
            # Metrics first: a run killed before its checkpoint lands drops this line again on resume.
            if run.team.primary:
                rundir.append(run.workdir, record)
            saver.save(epoch + 1, state, {"config": dataclasses.asdict(cfg), "epochs_done": epoch + 1,
                                          "state_format": STATE_FORMAT, **extra})
            skipped = f" | {record['skipped_steps']} non-finite steps skipped" if record.get("skipped_steps") else ""
            run.say(f"epoch {epoch + 1}/{cfg.epochs}: train loss {_fmt(record['train_loss'])} "
                    f"acc {record['train_accuracy']:.4f} | test loss {_fmt(record['test_loss'])} "
                    f"acc {record['test_accuracy']:.4f} | {record['images_per_second']:.0f} img/s{skipped}")
    finally:
        saver.close()
    summary = _summary(run, record, "completed", time.perf_counter() - run.started)
    if cfg.on_nonfinite == "skip-step":
        summary["skipped_steps"] = skipped_total   # this invocation's epochs; per epoch in metrics.jsonl
    return summary


def _search(run: Run, state: dict, epoch: int) -> dict | None:
    """The dspike temperature search due at the start of ``epoch`` (None when there is none)."""
    settings = run.steps.settings
    if settings is None or epoch % settings.every:
        return None
    images, labels = next(iter(data.train_batches(run.ds, run.cfg.batch_size, run.cfg.seed, epoch,
                                                  _augment(run), part=_part(run))))
    found = run.steps.search(state, *shard_batch(run.mesh, images, labels.astype(np.int32), local=True))
    run.say(f"dspike temperature {found['previous']} -> {found['temperature']} (cosines "
            + ", ".join(f"b={b}: {c}" for b, c in found["cosines"].items())
            + f"; {found['forwards']} forwards, {found['seconds']:.1f} s)")
    return found


def _part(run: Run) -> tuple[int, int]:
    """This process's slice of every batch: ``(index, count)`` of the run's processes."""
    return (run.team.index, run.team.count)


def _augment(run: Run) -> tuple[str, ...]:
    cfg, ds = run.cfg, run.ds
    return cfg.augmentation(ds) if (ds.augment if cfg.augment is None else cfg.augment) else ()


def _epoch(run: Run, state: dict, epoch: int) -> tuple[dict, dict]:
    """Trains one epoch and evaluates: ``(new state, the epoch's record)``; :class:`Diverged` where it diverges."""
    cfg = run.cfg
    t0 = time.perf_counter()
    batches = data.train_batches(run.ds, cfg.batch_size, cfg.seed, epoch, _augment(run), part=_part(run))
    train_step, first_use = run.steps.train_step(state)
    state, train_metrics = _train_epoch(run, state, batches, train_step, epoch, run.say if first_use else None)
    seconds = time.perf_counter() - t0
    test = evaluate(run.steps.eval_step, state, run.ds.test_images, run.ds.test_labels, cfg.batch_size, run.mesh,
                    part=_part(run))
    if not math.isfinite(test["loss"]):
        raise Diverged({"epoch": epoch + 1, "step": int(state["step"]), "where": "evaluation",
                        "test_loss": test["loss"]})
    return state, {"epoch": epoch + 1, "step": int(state["step"]), **train_metrics, "test_loss": test["loss"],
                   "test_accuracy": test["accuracy"], "epoch_seconds": round(seconds, 3),
                   "images_per_second": round(run.steps_per_epoch * cfg.batch_size / seconds, 1)}


def _fmt(x) -> str:
    return "nan" if x is None else f"{x:.4f}" if abs(x) < 1e4 else f"{x:.3e}"


def _summary(run: Run, record, status, seconds) -> dict:
    cfg = run.cfg
    out = {"status": status}
    if record is not None:
        out.update({k: record.get(k) for k in ("test_accuracy", "train_accuracy", "test_loss", "train_loss")})
    out.update({"epochs": cfg.epochs, "strategy": cfg.strategy, "method": cfg.method, "model": cfg.model,
                "dataset": cfg.dataset, "timesteps": cfg.timesteps, "seed": cfg.seed,
                "devices": int(run.mesh.devices.size), "wall_seconds": round(seconds, 2), "workdir": run.workdir})
    return rundir.json_safe(out)


def _diverged(run: Run, where: dict) -> dict:
    """Records a divergence (an event line), says what to try, and returns the ``"diverged"`` summary."""
    cfg, done = run.cfg, where["epoch"] - 1
    if run.team.primary:
        rundir.append(run.workdir, {"event": "diverged", **where, "learning_rate": cfg.learning_rate})
    kept = f"the checkpoint of epoch {done} stays the newest" if done else "no checkpoint was saved"
    if where["where"] == "evaluation":
        at = "evaluation after epoch {epoch} gave a non-finite test loss"
    elif "skipped_steps" in where:
        at = "every step of epoch {epoch} had a non-finite loss or gradient (all skipped)"
    else:
        at = "step {step} (epoch {epoch}) had a non-finite loss or gradient"
    hint = "" if cfg.on_nonfinite == "skip-step" else ", or pass --on-nonfinite skip-step to skip such steps"
    run.say(f"training diverged: {at.format(**where)}; {kept}. Likely causes: a learning rate too high for this "
            f"model ({cfg.learning_rate} here), or inputs with NaN/inf values; lower --learning-rate{hint}")
    last = _last_record(run.workdir) if done else None
    summary = _summary(run, last, "diverged", time.perf_counter() - run.started)
    summary.update(epochs_done=done, diverged_at=rundir.json_safe(where))
    return summary


def _train_epoch(run: Run, state, batches, train_step, epoch, first_compile=None):
    from tqdm.auto import tqdm
    cfg, steps = run.cfg, run.steps_per_epoch
    # disable=None: a bar on a terminal only (logs get the one-line epoch summary instead).
    bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", leave=False,
               disable=None if run.progress else True, file=sys.stderr, dynamic_ncols=True)
    sums, pending, finite_steps = {"loss": 0.0, "accuracy": 0.0}, [], 0
    t0 = time.perf_counter()
    try:
        for i, (images, labels) in enumerate(batches):
            images, labels = shard_batch(run.mesh, images, labels.astype(np.int32), local=True)
            if first_compile and i == 0:   # the first call compiles (synchronously)
                first_compile(f"compiling the training step ({cfg.model}, T={cfg.timesteps}, "
                              f"{cfg.strategy if cfg.method == 'exact' else 'method ' + cfg.method}, "
                              f"batch {cfg.batch_size})...")
                tc = time.perf_counter()
            state, metrics = run_step(train_step, state, images, labels)
            stop = run.team.stop_requested()   # a signal to any process stops all at this step
            if stop:
                raise Terminated() if stop == "SIGTERM" else KeyboardInterrupt()
            if first_compile and i == 0:
                first_compile(f"compiled in {time.perf_counter() - tc:.1f} s; training")
            if run.on_step is not None:
                run.on_step(epoch * steps + i + 1, metrics)
            pending.append(metrics)
            if len(pending) == 10 or i + 1 == steps:   # sync with the device only every 10 steps
                host = jax.device_get(pending)
                finite_steps += _tally(cfg, host, sums, epoch * steps + i + 2 - len(host), epoch)
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
    density = current_density(state["opt_state"])
    if density is not None:
        out["density"] = round(density, 6)
    if cfg.on_nonfinite == "skip-step":
        out["skipped_steps"] = steps - finite_steps
    return state, out


def _tally(cfg: TrainConfig, host: list[dict], sums: dict, first_step: int, epoch: int) -> int:
    """Adds the finite steps' loss and accuracy to ``sums``; returns how many were finite. A non-finite step
    under ``on_nonfinite="stop"`` raises :class:`Diverged` (``first_step``: the 1-based step of ``host[0]``)."""
    finite = 0
    for j, m in enumerate(host):
        if not bool(m["finite"]):
            if cfg.on_nonfinite == "stop":
                raise Diverged({"epoch": epoch + 1, "step": first_step + j, "where": "training",
                                "loss": float(m["loss"])})
            continue
        finite += 1
        sums["loss"] += float(m["loss"])
        sums["accuracy"] += float(m["accuracy"])
    return finite


def evaluate(eval_step, state, images, labels, batch_size: int, mesh: Mesh, part: tuple[int, int] = (0, 1)) -> dict:
    """Mean loss and accuracy over every example of ``images``/``labels`` (``part``: this process's slice of every
    batch, :func:`revsnn_jax.data.eval_batches`)."""
    outs = []   # summed on the host once at the end: no device sync per batch
    for x, y, mask in data.eval_batches(images, labels, batch_size, part):
        x, y, mask = shard_batch(mesh, x, y.astype(np.int32), mask, local=True)
        outs.append(eval_step(state["params"], state["batch_stats"], x, y, mask))
    totals = {k: sum(float(o[k]) for o in jax.device_get(outs)) for k in ("loss_sum", "correct", "count")}
    return {"loss": round(totals["loss_sum"] / totals["count"], 6),
            "accuracy": round(totals["correct"] / totals["count"], 6)}


def _check_workdir(cfg: TrainConfig, workdir: str, meta: dict | None, resume: bool, saved_steps: bool) -> None:
    if meta is None:
        if saved_steps and not resume:
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
