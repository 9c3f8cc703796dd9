"""Tiny-ImageNet (200 classes, 64x64 RGB) from a local copy of the standard distribution, into the image cache.

The distribution (``tiny-imagenet-200.zip``, unpacked) holds ``wnids.txt`` (the 200 WordNet ids),
``train/<wnid>/images/*.JPEG`` (500 per class) and ``val/images/*.JPEG`` with ``val/val_annotations.txt``
(tab-separated: file name, wnid, bounding box; 10,000 images). The test images carry no labels, so, as in every
published result, the validation split is the test split here. Class ``i`` is the ``i``-th wnid in sorted order
(the order of a folder-per-class loader such as torchvision's ``ImageFolder``). Grey-scale JPEGs (a few hundred in
the training set) are expanded to three equal channels.

``revsnn prepare tiny_imagenet --raw tiny-imagenet-200/ --data-dir DIR`` decodes every image once (Pillow, which
matplotlib already needs) into ``DIR/tiny_imagenet/images/`` (``uint8``, 1.15 GiB train + 0.11 GiB test),
resumable per class; training reads it memory-mapped and normalises each batch.
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from revsnn_jax.data import cache
from revsnn_jax.data.dataset import Dataset
from revsnn_jax.data.images import NormalizedImages, channel_stats
from revsnn_jax.errors import InputError

SIZE, CLASSES = 64, 200


def _root(raw: str) -> str:
    """The folder holding ``wnids.txt``: ``raw`` itself or its ``tiny-imagenet-200`` subfolder."""
    for root in (raw, os.path.join(raw, "tiny-imagenet-200")):
        if os.path.isfile(os.path.join(root, "wnids.txt")):
            return root
    raise InputError(f"{raw}: no wnids.txt (expected the unpacked tiny-imagenet-200 folder)")


def files(raw: str) -> tuple[list[str], dict[str, list[tuple[str, int]]]]:
    """``(sorted wnids, {"train"|"test": [(path, label)]})`` of a Tiny-ImageNet folder, in a fixed order (train by
    class then file name, test by file name). InputError naming the file for anything missing or unknown."""
    root = _root(raw)
    with open(os.path.join(root, "wnids.txt")) as f:
        wnids = sorted({line.strip() for line in f if line.strip()})
    index = {w: i for i, w in enumerate(wnids)}
    train = []
    for wnid in wnids:
        folder = os.path.join(root, "train", wnid, "images")
        if not os.path.isdir(folder):
            raise InputError(f"{folder}: missing (class {wnid} of wnids.txt has no training images)")
        names = sorted(n for n in os.listdir(folder) if n.lower().endswith((".jpeg", ".jpg")))
        if not names:
            raise InputError(f"{folder}: no JPEG images")
        train += [(os.path.join(folder, n), index[wnid]) for n in names]
    annotations = os.path.join(root, "val", "val_annotations.txt")
    if not os.path.isfile(annotations):
        raise InputError(f"{annotations}: missing (the validation labels)")
    test = []
    with open(annotations) as f:
        for number, line in enumerate(f, 1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 2:
                raise InputError(f"{annotations}:{number}: not 'file<TAB>wnid<TAB>...'")
            if fields[1] not in index:
                raise InputError(f"{annotations}:{number}: wnid {fields[1]!r} is not in wnids.txt")
            test.append((os.path.join(root, "val", "images", fields[0]), index[fields[1]]))
    return wnids, {"train": train, "test": sorted(test)}


def read_image(path: str) -> np.ndarray:
    """``uint8 [64, 64, 3]``; InputError naming the file if it does not decode or has another size."""
    from PIL import Image
    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot be read as an image ({e})") from None
    if rgb.shape != (SIZE, SIZE, 3):
        raise InputError(f"{path}: {rgb.shape[1]}x{rgb.shape[0]} pixels, Tiny-ImageNet images are {SIZE}x{SIZE}")
    return rgb


def cache_dir(data_dir: str) -> str:
    return os.path.join(data_dir, "tiny_imagenet", "images")


def prepare(raw: str, data_dir: str, *, progress: bool = True, say: Callable[[str], None] = print) -> str:
    """Builds the image cache from the unpacked distribution; returns its folder."""
    if not raw:
        raise InputError("tiny_imagenet is prepared from the unpacked distribution: pass --raw tiny-imagenet-200/")
    wnids, split_files = files(raw)

    def chunks(items, size):
        for start in range(0, len(items), size):
            part = items[start:start + size]
            yield cache.Source(part[0][0], len(part), lambda part=part: ((read_image(p), y) for p, y in part))

    sources = {"train": list(chunks(split_files["train"], 500)), "test": list(chunks(split_files["test"], 1000))}
    root = cache_dir(data_dir)
    say(f"preparing tiny_imagenet ({len(wnids)} classes) into {root}")
    cache.build(root, {"dataset": "tiny_imagenet", "num_classes": len(wnids)}, sources, (SIZE, SIZE, 3),
                   np.uint8, progress=progress, say=say)
    return root


def load(data_dir: str | None, frames=None, say=print) -> Dataset:
    """The prepared cache as a :class:`Dataset` whose images stay on disk and are normalised per batch."""
    data_dir = data_dir or cache.default_data_dir()
    root = cache_dir(data_dir)
    settings, splits = cache.read(root, hint=f"; prepare it with `revsnn prepare tiny_imagenet --raw "
                                                f"tiny-imagenet-200/ --data-dir {data_dir}`")
    mean, std = channel_stats(splits["train"][0])
    return Dataset("tiny_imagenet", NormalizedImages(splits["train"][0], mean, std), splits["train"][1],
                   NormalizedImages(splits["test"][0], mean, std), splits["test"][1], settings["num_classes"],
                   augment=True)
