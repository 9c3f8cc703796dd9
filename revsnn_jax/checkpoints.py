"""Orbax checkpoints of a training run: ``WORKDIR/checkpoints/<epoch>/{state,meta}``.

``state`` holds params, BatchNorm statistics, optimizer state and the step; ``meta`` (JSON) holds the run's
configuration and the data-order state (epochs completed; each epoch's order is a function of the seed and the
epoch, see :mod:`revsnn_jax.data`). Orbax writes each checkpoint to a temporary folder and renames it when
complete, so a run killed while saving resumes from the previous epoch.
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


def _manager(workdir: str, create: bool = False) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(max_to_keep=2, create=create)
    return ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")), options=options)


def latest_meta(workdir: str) -> dict | None:
    """The ``meta`` of the newest complete checkpoint in ``workdir``, or None if there is none."""
    if not os.path.isdir(os.path.join(workdir, "checkpoints")):
        return None
    manager = _manager(workdir)
    step = manager.latest_step()
    if step is None:
        return None
    return dict(manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta)


def restore(workdir: str, like: dict) -> tuple[dict, dict]:
    """``(state, meta)`` of the newest checkpoint; ``like`` is a tree with the state's structure and shardings."""
    manager = _manager(workdir)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    out = manager.restore(manager.latest_step(), args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    return out.state, dict(out.meta)


class Saver:
    """Saves one checkpoint per epoch (the two newest are kept); :meth:`close` waits for pending writes."""

    def __init__(self, workdir: str):
        self._manager = _manager(workdir, create=True)

    def save(self, epoch: int, state: dict, meta: dict) -> None:
        self._manager.save(epoch, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                           meta=ocp.args.JsonSave(meta)))

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()
