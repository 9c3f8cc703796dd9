"""One fake-raw-data harness for every dataset ``revsnn prepare`` builds: each writer lays out a small copy of the
dataset's published files (the real formats, written by the project's writers or by hand) and returns what it
wrote, so a test can compare the prepared cache against it. ``FAKES`` lists them by dataset name;
``tests/test_prepare.py`` checks that every preparable dataset has one."""

from __future__ import annotations

import io
import os
import pickle
import tarfile

import numpy as np

from revsnn_jax.data import cifar
from revsnn_jax.data.events import formats
from revsnn_jax.data.events.streams import make_events


def stream(rng, n, t0, t1, size):
    """``n`` random events between ``t0`` and ``t1`` (sorted) on a ``size x size`` sensor."""
    t = np.sort(rng.integers(t0, t1, n))
    return make_events(t, rng.integers(0, size, n), rng.integers(0, size, n), rng.integers(0, 2, n))


def write_gesture(root, users=(("user01_fluorescent", "train"), ("user02_lab", "train"), ("user24_led", "test")),
                  seed=0):
    """A DvsGesture folder: each recording holds 3 labelled intervals (class 3 twice) and events between them.
    Returns ``{split: [(events, label)]}``."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    truth = {"train": [], "test": []}
    lists = {"train": [], "test": []}
    for k, (trial, split) in enumerate(users):
        rows = [(3, 100_000, 400_000), (7, 500_000, 900_000), (3, 1_000_000, 1_200_000)]
        rows = rows if k % 2 == 0 else rows[:2]
        ev = stream(rng, 4000, 0, 1_300_000, 128)
        formats.write_aedat31(os.path.join(root, trial + ".aedat"), ev, packet_size=1000)
        with open(os.path.join(root, trial + "_labels.csv"), "w") as f:
            f.write("class,startTime_usec,endTime_usec\n" + "".join(f"{c},{a},{b}\n" for c, a, b in rows))
        lists[split].append(trial + ".aedat")
        truth[split] += [(ev[(ev["t"] >= a) & (ev["t"] < b)], c - 1) for c, a, b in rows]
    for split, trials in lists.items():
        with open(os.path.join(root, f"trials_to_{split}.txt"), "w") as f:
            f.write("\n".join(trials) + "\n")
    return truth


def write_cifar10_dvs(root, classes=("airplane", "cat"), indices=tuple(range(12)) + (150, 151), seed=3):
    """``<class>/cifar10_<class>_<i>.aedat`` files (AEDAT 2.0). Returns ``{path: events}``."""
    rng = np.random.default_rng(seed)
    written = {}
    for cls in classes:
        os.makedirs(os.path.join(root, cls), exist_ok=True)
        for i in indices:
            path = os.path.join(root, cls, f"cifar10_{cls}_{i}.aedat")
            written[path] = stream(rng, 50, 0, 10**5, 128)
            formats.write_aedat2(path, written[path])
    return written


def write_nmnist(root, digits=(0, 7), names=("00002.bin", "00010.bin"), seed=4):
    """``Train|Test/<digit>/<name>`` files (N-MNIST .bin). Returns ``{path: events}``."""
    rng = np.random.default_rng(seed)
    written = {}
    for folder in ("Train", "Test"):
        for digit in digits:
            os.makedirs(os.path.join(root, folder, str(digit)), exist_ok=True)
            for name in names:
                path = os.path.join(root, folder, str(digit), name)
                written[path] = stream(rng, 40, 0, 300_000, 34)
                formats.write_nmnist_bin(path, written[path])
    return written


def write_cifar_archive(path, name, per_batch=4, seed=0):
    """An official-layout CIFAR python archive (batches pickled with protocol 2, as the official files are).
    Returns ``{split: (uint8 [N, 32, 32, 3], labels)}``."""
    folder, train, test, key, classes = cifar.CIFAR_ARCHIVES[name]
    rng = np.random.default_rng(seed)
    truth = {}
    with tarfile.open(path, "w:gz") as tar:
        for split, members in (("train", train), ("test", test)):
            xs, ys = [], []
            for m in members:
                x = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
                y = rng.integers(0, classes, per_batch).tolist()
                payload = pickle.dumps({b"data": x, key: y, b"batch_label": m.encode()}, protocol=2)   # as official
                info = tarfile.TarInfo(f"{folder}/{m}")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
                xs.append(x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
                ys += y
            truth[split] = (np.concatenate(xs), np.asarray(ys))
    return truth


TINY_IMAGENET_WNIDS = ("n02124075", "n01443537", "n09193705")   # sorted: n01443537, n02124075, n09193705


def write_tiny_imagenet(root, per_class=3, val=5, seed=0):
    """A tiny-imagenet-200 folder: 3 classes, lossless-enough JPEGs (compared after decoding, as the reader does).
    Returns the folder."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    base = os.path.join(root, "tiny-imagenet-200")
    os.makedirs(os.path.join(base, "val", "images"))
    with open(os.path.join(base, "wnids.txt"), "w") as f:
        f.write("\n".join(TINY_IMAGENET_WNIDS) + "\n")
    for k, wnid in enumerate(TINY_IMAGENET_WNIDS):
        folder = os.path.join(base, "train", wnid, "images")
        os.makedirs(folder)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            image = Image.fromarray(pixels[..., 0]) if (k, i) == (1, 0) else Image.fromarray(pixels)   # one grey
            image.save(os.path.join(folder, f"{wnid}_{i}.JPEG"), quality=95)
    lines = []
    for i in range(val):
        name = f"val_{i}.JPEG"
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
            os.path.join(base, "val", "images", name), quality=95)
        lines.append(f"{name}\t{TINY_IMAGENET_WNIDS[i % 3]}\t0\t0\t63\t63")
    with open(os.path.join(base, "val", "val_annotations.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return base


def _gesture(tmp):
    truth = write_gesture(os.path.join(tmp, "DvsGesture"))
    return os.path.join(tmp, "DvsGesture"), {s: len(v) for s, v in truth.items()}


def _cifar10_dvs(tmp):
    write_cifar10_dvs(os.path.join(tmp, "raw"))
    return os.path.join(tmp, "raw"), {"train": 26, "test": 2}   # 14 per class, the first ceil(0.9 * 14) train


def _nmnist(tmp):
    write_nmnist(os.path.join(tmp, "raw"))
    return os.path.join(tmp, "raw"), {"train": 4, "test": 4}


def _cifar(name):
    def write(tmp):
        truth = write_cifar_archive(os.path.join(tmp, "archive.tar.gz"), name, per_batch=2)
        return os.path.join(tmp, "archive.tar.gz"), {s: len(y) for s, (_, y) in truth.items()}
    return write


def _tiny_imagenet(tmp):
    return write_tiny_imagenet(os.path.join(tmp, "raw"), per_class=2, val=4), {"train": 6, "test": 4}


FAKES = {"dvs_gesture": _gesture, "cifar10_dvs": _cifar10_dvs, "nmnist": _nmnist, "cifar10": _cifar("cifar10"),
         "cifar100": _cifar("cifar100"), "tiny_imagenet": _tiny_imagenet, "event_digits": None}
"""Dataset -> ``write(tmp_dir) -> (the --raw argument, {split: samples written})``; None for a dataset generated
here (no raw files)."""
