"""Data parallel: one jitted step over a 1-D device mesh with axis ``"data"``; the batch is sharded along it
(``NamedSharding(mesh, P("data"))``), params and optimizer state are replicated, and XLA inserts the gradient
all-reduce. The same code runs on 1 or N devices, and on N processes (:mod:`revsnn_jax.train.distributed` joins
them): every process loads its own slice of each global batch (see :func:`shard_batch`).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from revsnn_jax.errors import InputError


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


def shard_batch(mesh: Mesh, *arrays: np.ndarray, local: bool = False):
    """Global arrays sharded along the ``data`` axis from this process's rows of each global batch.

    ``local=False``: every process passes the whole global batch and only its own slice is used. ``local=True``:
    each process passes only its slice (``data.train_batches(..., part=(jax.process_index(), jax.process_count()))``
    reads just those rows). Event frame batches (5-D, time-major ``[T, B, ...]``) are sharded along their batch
    axis, 1."""
    count, index = jax.process_count(), jax.process_index()
    out = []
    for a in arrays:
        axis = 1 if a.ndim == 5 else 0
        spec = PartitionSpec(None, "data") if axis else PartitionSpec("data")
        if local:
            shape = a.shape[:axis] + (a.shape[axis] * count,) + a.shape[axis + 1:]
            out.append(jax.make_array_from_process_local_data(NamedSharding(mesh, spec), a, shape))
            continue
        rows = a.shape[axis] // count
        local_rows = lax_slice(a, axis, index * rows, (index + 1) * rows)
        out.append(jax.make_array_from_process_local_data(NamedSharding(mesh, spec), local_rows, a.shape))
    return out


def lax_slice(a: np.ndarray, axis: int, start: int, stop: int) -> np.ndarray:
    return a[(slice(None),) * axis + (slice(start, stop),)]
