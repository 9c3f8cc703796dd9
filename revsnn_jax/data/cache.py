"""Prepared datasets on disk, and the default data dir: built once (resumably) by ``revsnn prepare``, read many
times with random access.

A cache is a folder holding ``settings.json`` (what was built: the dataset, and for event data T, binning, frame
size, clipping, split, sample dtype), one ``<split>_x.npy`` (all samples of the split, e.g. ``uint16
[N, T, H, W, 2]`` frames or ``uint8 [N, H, W, C]`` images) and ``<split>_y.npy`` (``int32 [N]`` labels) per split,
and ``progress.json``. The ``.npy`` files are preallocated at their final size and filled in order; after each
source file's samples are written (and flushed) ``progress.json`` records how far each split got, so an
interrupted preparation continues where it stopped, and reading opens the arrays memory-mapped (a batch reads only
its own rows). A cache is complete when ``progress.json`` says so; reading an incomplete one, or building into a
folder whose ``settings.json`` differs, is an error that leaves everything as it is.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from revsnn_jax.errors import InputError

FORMAT_VERSION = 1
SETTINGS, PROGRESS = "settings.json", "progress.json"


@dataclasses.dataclass(frozen=True)
class Source:
    """One source file and the samples it yields: ``load() -> iterable of (sample, label)``, exactly ``count``
    of them, each of the split's sample shape."""

    name: str
    count: int
    load: Callable[[], Iterable[tuple[np.ndarray, int]]]


def _json_write(path: str, value) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _json_read(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"{path} cannot be read ({e}); remove the folder and prepare again") from None


def build(root: str, settings: dict, splits: dict[str, Sequence[Source]], sample_shape: tuple[int, ...],
          dtype, *, progress: bool = True, say: Callable[[str], None] = print) -> dict:
    """Fills the cache ``root`` from ``splits`` (``{split: sources}``); returns the completed progress record.

    Idempotent (a complete cache with these settings is left as it is) and resumable (an incomplete one continues
    after its last finished source). Raises InputError, changing nothing, when ``root`` holds a cache with other
    settings."""
    settings = {**settings, "format_version": FORMAT_VERSION, "sample_shape": list(sample_shape),
                "dtype": np.dtype(dtype).name, "sizes": {k: sum(s.count for s in v) for k, v in splits.items()}}
    settings = json.loads(json.dumps(settings))   # tuples -> lists, as they will read back
    spath, ppath = os.path.join(root, SETTINGS), os.path.join(root, PROGRESS)
    if os.path.exists(spath):
        old = _json_read(spath)
        if old != settings:
            diffs = [f"{k}: {old.get(k)!r} there, {settings.get(k)!r} now" for k in sorted(set(old) | set(settings))
                     if old.get(k) != settings.get(k)]
            raise InputError(f"{root} holds a cache built with other settings ({'; '.join(diffs)}); nothing was "
                             "changed. Use another --data-dir, or remove that folder to rebuild it")
        state = _json_read(ppath) if os.path.exists(ppath) else None
        if state and state.get("complete"):
            say(f"{root} is already prepared with these settings; nothing to do")
            return state
    elif os.path.isdir(root) and os.listdir(root):
        raise InputError(f"{root} is not empty and holds no {SETTINGS}; nothing was changed (choose another "
                         "--data-dir)")
    else:
        os.makedirs(root, exist_ok=True)
        _json_write(spath, settings)
        state = None
    state = state or {"complete": False, "sources_done": {k: 0 for k in splits},
                      "samples_done": {k: 0 for k in splits}}
    from tqdm.auto import tqdm
    for split, sources in splits.items():
        n = settings["sizes"][split]
        xpath, ypath = (os.path.join(root, f"{split}_{a}.npy") for a in "xy")
        fresh = not os.path.exists(xpath)
        x = np.lib.format.open_memmap(xpath, mode="w+" if fresh else "r+", dtype=dtype, shape=(n, *sample_shape))
        y = np.lib.format.open_memmap(ypath, mode="w+" if fresh else "r+", dtype=np.int32, shape=(n,))
        if x.shape != (n, *sample_shape) or y.shape != (n,):
            raise InputError(f"{xpath} has shape {x.shape}, expected {(n, *sample_shape)}; remove {root} and "
                             "prepare again")
        done, at = state["sources_done"][split], state["samples_done"][split]
        bar = tqdm(total=n, initial=at, desc=f"{split}", unit="sample", disable=None if progress else True,
                   dynamic_ncols=True)
        try:
            for source in sources[done:]:
                count = 0
                for sample, label in source.load():
                    if count >= source.count:
                        raise InputError(f"{source.name}: yields more than its {source.count} samples")
                    if sample.shape != tuple(sample_shape):
                        raise InputError(f"{source.name}: sample of shape {sample.shape}, expected {sample_shape}")
                    x[at + count] = _fit(sample, dtype, source.name)
                    y[at + count] = label
                    count += 1
                if count != source.count:
                    raise InputError(f"{source.name}: yields {count} samples, expected {source.count}")
                at += count
                x.flush()
                y.flush()
                state["sources_done"][split] += 1
                state["samples_done"][split] = at
                _json_write(ppath, state)
                bar.update(count)
        finally:
            bar.close()
            del x, y
    state["complete"] = True
    _json_write(ppath, state)
    return state


def _fit(sample: np.ndarray, dtype, name: str) -> np.ndarray:
    """``sample`` as ``dtype``; an error (never a silent wrap) when a value does not fit."""
    info = np.iinfo(dtype) if np.issubdtype(np.dtype(dtype), np.integer) else None
    if info is not None and sample.size and (sample.max() > info.max or sample.min() < info.min):
        raise InputError(f"{name}: a value ({sample.max()}) does not fit {np.dtype(dtype).name}; prepare with a "
                         "wider --dtype, --binary, or fewer events per frame (more timesteps, a larger size)")
    return sample.astype(dtype)


def read(root: str, hint: str = "") -> tuple[dict, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """``(settings, {split: (samples memory-mapped, labels)})`` of a complete cache. A missing or half-built one
    is an InputError that ends with ``hint`` (the command that prepares it)."""
    spath, ppath = os.path.join(root, SETTINGS), os.path.join(root, PROGRESS)
    if not os.path.exists(spath):
        raise InputError(f"no prepared dataset in {root}{hint}")
    settings = _json_read(spath)
    state = _json_read(ppath) if os.path.exists(ppath) else {}
    if not state.get("complete"):
        done = state.get("samples_done", {})
        raise InputError(f"{root} is only partly prepared ({done or 'nothing'} of {settings.get('sizes')} samples)"
                         f"; run the preparation again to finish it{hint}")
    if settings.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{root} was prepared by another version (format {settings.get('format_version')}, this "
                         f"one reads {FORMAT_VERSION}); prepare it again{hint}")
    out = {}
    for split in settings["sizes"]:
        x = np.load(os.path.join(root, f"{split}_x.npy"), mmap_mode="r")
        y = np.load(os.path.join(root, f"{split}_y.npy"))
        out[split] = (x, y)
    return settings, out


def caches(parent: str) -> Iterator[tuple[str, dict]]:
    """``(folder, settings)`` of every cache directly under ``parent`` (complete or not), sorted by name."""
    if not os.path.isdir(parent):
        return
    for name in sorted(os.listdir(parent)):
        spath = os.path.join(parent, name, SETTINGS)
        if os.path.exists(spath):
            yield os.path.join(parent, name), _json_read(spath)


def disk_bytes(settings: dict) -> int:
    """Bytes the cache's sample arrays take (labels are 4 bytes a sample on top)."""
    per = int(np.prod(settings["sample_shape"])) * np.dtype(settings["dtype"]).itemsize
    return per * sum(settings["sizes"].values())


def default_data_dir() -> str:
    """Where prepared data goes without --data-dir: ``$REVSNN_DATA_DIR``, else ``~/.cache/revsnn_jax``."""
    return os.environ.get("REVSNN_DATA_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "revsnn_jax")
