"""Orbax checkpoints of a training run: ``WORKDIR/checkpoints/<epoch>/{state,meta}``.

``state`` holds params, BatchNorm statistics, optimizer state and the step; ``meta`` (JSON) holds the run's
configuration and the data-order state (epochs completed; each epoch's order is a function of the seed and the
epoch, see :mod:`revsnn_jax.data`). Orbax writes each checkpoint to a temporary folder and renames it when
complete, so a run killed while saving resumes from the previous epoch.

A checkpoint that is complete but cannot be read (a truncated file, a missing ``state/``, damaged metadata) is
never a traceback and never a silent restart: :func:`restore` moves it to ``WORKDIR/damaged_checkpoints/`` (kept
for inspection; no later resume needs it), says so in one line and uses the newest checkpoint that reads.
"""

from __future__ import annotations

import os
import shutil
from typing import Callable

import jax
import orbax.checkpoint as ocp

from revsnn_jax.errors import InputError

DAMAGED = "damaged_checkpoints"


def _manager(workdir: str, create: bool = False) -> ocp.CheckpointManager:
    # create=True is the writer (the run holding the workdir's lock): it also removes the temporary folders of a
    # save that a killed run left half-written, which would otherwise collide with the same epoch's save.
    options = ocp.CheckpointManagerOptions(max_to_keep=2, create=create, cleanup_tmp_directories=create)
    return ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")), options=options)


def make_root(workdir: str) -> None:
    """Creates ``WORKDIR/checkpoints`` (process 0, before any process opens a manager): orbax's managers take
    different paths, with different barriers, depending on whether the folder exists, so every process of a run
    must find it in the same state (measured: a mismatched barrier name ended a two-process run at its start)."""
    os.makedirs(os.path.join(workdir, "checkpoints"), exist_ok=True)


def steps(workdir: str) -> list[int]:
    """Complete checkpoints, newest first."""
    if not os.path.isdir(os.path.join(workdir, "checkpoints")):
        return []
    manager = _manager(workdir)
    try:
        return sorted(manager.all_steps(), reverse=True)
    finally:
        manager.close()


def _read(workdir: str, step: int, like: dict | None):
    manager = _manager(workdir)
    try:
        if like is None:
            return None, dict(manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta)
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        out = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                                            meta=ocp.args.JsonRestore()))
        return out.state, dict(out.meta)
    finally:
        manager.close()


def _why(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text[:160]}"


def latest_meta(workdir: str) -> dict | None:
    """The ``meta`` of the newest checkpoint in ``workdir`` whose meta reads, or None if there is none. Changes
    nothing on disk."""
    for step in steps(workdir):
        try:
            return _read(workdir, step, None)[1]
        except Exception:   # damaged: restore() reports it (and moves it away) when the run resumes
            continue
    return None


def restore(workdir: str, like: dict, notice: Callable[[str], None] = print, *,
            quarantine: bool = True) -> tuple[dict, dict]:
    """``(state, meta)`` of the newest checkpoint that reads; ``like`` is a tree with the state's structure and
    shardings. Newer checkpoints that do not read are moved to ``WORKDIR/damaged_checkpoints/`` (left where they
    are with ``quarantine=False``: readers that change nothing) and reported through ``notice`` (one line each).
    InputError if there is no checkpoint or none reads."""
    failures = []
    for step in steps(workdir):
        try:
            state, meta = _read(workdir, step, like)
        except Exception as e:   # any failure to read is damage: orbax, tensorstore and json raise different types
            failures.append(f"{step} ({_why(e)})")
            where = f"moved to {_quarantine(workdir, step)}" if quarantine else "skipped"
            notice(f"checkpoint {os.path.join(workdir, 'checkpoints', str(step))} cannot be read ({_why(e)}); "
                   f"{where}")
            continue
        if failures:
            notice(f"resuming from checkpoint {step} (epoch {meta.get('epochs_done')}), the newest that reads")
        return state, meta
    if failures and not quarantine:
        raise InputError(f"no checkpoint in {workdir} can be read: {'; '.join(failures)}")
    if failures:
        raise InputError(f"no checkpoint in {workdir} can be read (moved to {os.path.join(workdir, DAMAGED)}: "
                         f"{'; '.join(failures)}); rerun without --resume in a new --workdir to start over")
    raise InputError(f"no checkpoint in {workdir}")


def _quarantine(workdir: str, step: int) -> str:
    root = os.path.join(workdir, DAMAGED)
    os.makedirs(root, exist_ok=True)
    target, n = os.path.join(root, str(step)), 1
    while os.path.exists(target):
        n += 1
        target = os.path.join(root, f"{step}.{n}")
    shutil.move(os.path.join(workdir, "checkpoints", str(step)), target)
    return target


class Saver:
    """Saves one checkpoint per epoch (the two newest are kept); :meth:`close` waits for pending writes and stops
    orbax's background threads (so nothing is left to fail at interpreter exit)."""

    def __init__(self, workdir: str):
        self._manager = _manager(workdir, create=True)

    def save(self, epoch: int, state: dict, meta: dict) -> None:
        self._manager.save(epoch, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                           meta=ocp.args.JsonSave(meta)))

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()
