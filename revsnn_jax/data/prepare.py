"""What ``revsnn prepare`` does: a dataset's raw files into the cache training reads (:mod:`revsnn_jax.data.cache`).
Event data becomes frames with the given settings; CIFAR and Tiny-ImageNet are stored as images."""

from __future__ import annotations

from typing import Callable

from revsnn_jax.data import cifar, tiny_imagenet
from revsnn_jax.data.events import datasets as events
from revsnn_jax.data.registry import DATASETS as REGISTRY
from revsnn_jax.errors import InputError

IMAGE_DATASETS = tuple(cifar.CIFAR_ARCHIVES) + ("tiny_imagenet",)
DATASETS = tuple(events.EVENT_DATASETS) + IMAGE_DATASETS
"""The datasets ``revsnn prepare`` builds a cache of."""
DTYPES = events.DTYPES
FRAME_FLAGS = ("timesteps", "by", "size", "binary", "split", "dtype", "sort", "empty")
"""The frame settings of event data and what an empty sample becomes (None/False: the default), as ``revsnn
prepare`` names them."""


def prepare(name: str, raw: str | None, data_dir: str, frames: dict, *, progress: bool = True,
            say: Callable[[str], None] = print) -> str:
    """Builds (or finishes) the cache of dataset ``name`` from ``raw`` under ``data_dir``; returns its folder.
    ``frames``: :data:`FRAME_FLAGS` for event data (an image dataset takes none)."""
    if name not in DATASETS:
        raise InputError(f"unknown dataset {name!r} to prepare; valid: {', '.join(DATASETS)}")
    if name in IMAGE_DATASETS:
        given = [k for k in FRAME_FLAGS if k not in ("binary", "sort") and frames.get(k) is not None]
        if given or frames.get("binary") or frames.get("sort"):
            raise InputError(f"{name} is stored as images: --{', --'.join(given) or 'binary/--sort'} does not apply")
        if name == "tiny_imagenet":
            return tiny_imagenet.prepare(raw, data_dir, progress=progress, say=say)
        return cifar.prepare_cifar(name, raw, data_dir, progress=progress, say=say)
    d = events.FrameSettings()
    size = frames.get("size") if frames.get("size") is not None else REGISTRY[name].frame_size
    fs = events.FrameSettings(timesteps=frames.get("timesteps") or d.timesteps, by=frames.get("by") or d.by,
                              size=size, binary=bool(frames.get("binary")), split=frames.get("split"),
                              dtype=frames.get("dtype") or d.dtype, sort=bool(frames.get("sort")))
    return events.prepare_events(name, raw, data_dir, fs, progress=progress, say=say,
                                 empty=frames.get("empty") or "zeros")
