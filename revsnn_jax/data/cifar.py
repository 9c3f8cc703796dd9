"""CIFAR-10 and CIFAR-100: from the cache ``revsnn prepare`` builds out of the official python archives, or from
tensorflow-datasets' array_record files (``tfds.data_source``, no TensorFlow needed).

``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` hold pickled batches: ``uint8 [N, 32, 32, 3]`` images
once reshaped, the official train/test split (50,000 / 10,000); CIFAR-100 uses its fine labels. The batches are
read as data only: a pickle that names anything but the numpy array machinery is refused before anything in it is
constructed (:data:`SAFE_GLOBALS`), so a crafted archive cannot run code. Nothing is
downloaded here: data that is neither prepared nor in a tfds data dir is an error naming both ways to get it.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from typing import Callable

import numpy as np

from revsnn_jax.data import cache
from revsnn_jax.data.dataset import Dataset
from revsnn_jax.data.images import normalised
from revsnn_jax.errors import InputError

_PREPARE_HINT = (
    "prepare it once on a machine with network access, in the array_record format that tfds.data_source reads, "
    "e.g. `pip install tensorflow tensorflow-datasets && tfds build {name} --file_format=array_record "
    "--data_dir DIR`, then copy DIR here and pass --data-dir DIR")


CIFAR_ARCHIVES = {"cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
                              b"labels", 10),
                  "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels", 100)}


SAFE_GLOBALS = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.numeric", "_frombuffer"),
                ("numpy._core.numeric", "_frombuffer"), ("_codecs", "encode")}
"""Every callable a CIFAR batch's pickle may name, and no other. These are what numpy's array pickling uses
(protocol 2, as the official files, and protocol 5; numpy 1 and 2 module names) and the codec Python 3 uses for
bytes at protocol 2; everything else a pickle could name is refused."""


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles data only: dicts, lists, bytes, str, numbers and numpy arrays as the official files encode them.
    Any other global (a function, a class, ``os.system``) is refused before it is looked up, so nothing in the file
    is constructed or called."""

    def __init__(self, raw: bytes, where: str):
        super().__init__(io.BytesIO(raw), encoding="bytes")
        self.where = where

    def find_class(self, module: str, name: str):
        if (module, name) not in SAFE_GLOBALS:
            raise InputError(f"{self.where} is not a CIFAR batch: it names {module}.{name}, which a CIFAR batch "
                             "never holds (refused: unpickling it could run code)")
        return super().find_class(module, name)


def read_batch(raw: bytes, where: str) -> dict:
    """One pickled CIFAR batch as data (``_BatchUnpickler``); ``where`` names it in errors."""
    try:
        batch = _BatchUnpickler(raw, where).load()
    except InputError:
        raise
    except Exception as e:   # a damaged pickle raises many types
        raise InputError(f"{where} cannot be read ({type(e).__name__}: {e})") from None
    if not isinstance(batch, dict):
        raise InputError(f"{where} is not a CIFAR batch: it holds a {type(batch).__name__}, not a dict")
    return batch


def read_cifar_archive(path: str, name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train"|"test": (uint8 [N, 32, 32, 3], int32 [N])}`` from ``cifar-10-python.tar.gz`` or
    ``cifar-100-python.tar.gz`` (the pickled batches of the official archives)."""
    folder, train, test, key, classes = CIFAR_ARCHIVES[name]
    try:
        tar = tarfile.open(path, "r:*")
    except (OSError, tarfile.TarError) as e:
        raise InputError(f"{path}: not a readable tar archive ({e})") from None
    out = {}
    with tar:
        for split, members in (("train", train), ("test", test)):
            xs, ys = [], []
            for member in members:
                try:
                    f = tar.extractfile(f"{folder}/{member}")
                except KeyError:
                    f = None
                if f is None:
                    raise InputError(f"{path}: {folder}/{member} missing (is this the {name} python archive?)")
                batch = read_batch(f.read(), f"{path}: {folder}/{member}")
                try:
                    data, labels = np.asarray(batch[b"data"], np.uint8), np.asarray(batch[key], np.int32)
                except (KeyError, TypeError, ValueError) as e:
                    raise InputError(f"{path}: {folder}/{member} is not a CIFAR batch ({type(e).__name__}: {e})") \
                        from None
                if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data) or \
                        (labels.size and not 0 <= labels.min() <= labels.max() < classes):
                    raise InputError(f"{path}: {folder}/{member} is not a CIFAR batch (data {data.shape}, "
                                     f"{len(labels)} labels)")
                xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
                ys.append(labels)
            out[split] = (np.concatenate(xs), np.concatenate(ys))
    return out


def cifar_cache_dir(data_dir: str, name: str) -> str:
    return os.path.join(data_dir, name, "images")


def prepare_cifar(name: str, archive: str, data_dir: str, *, progress: bool = True,
                  say: Callable[[str], None] = print) -> str:
    """Builds the image cache of ``cifar10``/``cifar100`` from the official python archive; returns its folder."""
    if not archive:
        raise InputError(f"{name} is prepared from its official archive: pass --raw "
                         f"{'cifar-10' if name == 'cifar10' else 'cifar-100'}-python.tar.gz")
    splits = read_cifar_archive(archive, name)
    root = cifar_cache_dir(data_dir, name)
    sources = {s: [cache.Source(archive, len(y), lambda x=x, y=y: zip(x, y.tolist()))]
               for s, (x, y) in splits.items()}
    say(f"preparing {name} into {root}")
    cache.build(root, {"dataset": name, "num_classes": CIFAR_ARCHIVES[name][4]}, sources, (32, 32, 3),
                   np.uint8, progress=progress, say=say)
    return root


def load(name: str, data_dir: str | None, frames=None, say=print) -> Dataset:
    """CIFAR ``name`` from its prepared cache under ``data_dir`` if there is one, else from tfds."""
    num_classes = 10 if name == "cifar10" else 100
    root = cifar_cache_dir(data_dir, name) if data_dir else None
    if root and os.path.exists(os.path.join(root, cache.SETTINGS)):   # prepared from the official archive
        _, splits = cache.read(root, hint=f"; `revsnn prepare {name} --raw ARCHIVE --data-dir {data_dir}`")
        return normalised(name, *(a for s in ("train", "test") for a in (
            np.asarray(splits[s][0], np.float32) / 255.0, np.asarray(splits[s][1], np.int32))), num_classes,
            augment=True)
    import tensorflow_datasets as tfds
    splits = {}
    for split in ("train", "test"):
        try:
            source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
        except Exception as e:   # tfds raises several types here; all mean "not prepared in a readable format"
            where = data_dir or "the default tfds data_dir (~/tensorflow_datasets)"
            first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f"{name} is not prepared in {where} ({first_line}); with the official archive, "
                             f"`revsnn prepare {name} --raw {name.replace('cifar', 'cifar-')}-python.tar.gz "
                             "--data-dir DIR`; or " + _PREPARE_HINT.format(name=name)) from None
        records = [source[i] for i in range(len(source))]
        splits[split] = (np.stack([r["image"] for r in records]).astype(np.float32) / 255.0,
                         np.asarray([r["label"] for r in records], np.int32))
    return normalised(name, *splits["train"], *splits["test"], num_classes, augment=True)
