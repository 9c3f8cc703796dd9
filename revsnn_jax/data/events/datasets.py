"""Event-camera datasets (DVS128-Gesture, CIFAR10-DVS, N-MNIST, event digits), prepared once into
:mod:`revsnn_jax.data.cache` caches (numpy only). CIFAR's archives are read by :mod:`revsnn_jax.data.cifar`.

==================== ============================================================================================
dataset              raw folder (``--raw``) and split
==================== ============================================================================================
``dvs_gesture``      ``DvsGesture/`` from DvsGesture.tar.gz (Amir et al. 2017): ``user<NN>_<lighting>.aedat``
                     (AEDAT 3.1), ``user<NN>_<lighting>_labels.csv`` (``class,startTime_usec,endTime_usec``,
                     classes 1-11), ``trials_to_train.txt`` / ``trials_to_test.txt``. A sample is the events of
                     one CSV row, ``start <= t < end``, label ``class - 1``; every row is kept (a class that
                     appears twice in a recording gives two samples), which yields the standard 1,176 train /
                     288 test samples (users 1-23 / 24-29). 128x128 sensor.
``cifar10_dvs``      The original AEDAT 2.0 files (Li et al. 2017), ``cifar10_<class>_<i>.aedat`` anywhere
                     under the folder (e.g. ``airplane/cifar10_airplane_0.aedat`` as the class zips unpack),
                     10 classes x 1,000. No official split: ``9:1`` (default) sorts each class's file names as
                     strings and trains on the first 900 (SpikingJelly's ``split_to_train_test_set(0.9, ...,
                     random_split=False)`` order); ``tebn`` tests on indices 0-99 of each class and trains on
                     100-999 (used by some papers; it reports higher accuracy than ``9:1``). 128x128 sensor.
``nmnist``           ``Train/<digit>/<id>.bin`` and ``Test/<digit>/<id>.bin`` (Orchard et al. 2015), 60,000 /
                     10,000 samples, 34x34 sensor; files sorted by name.
``event_digits``     No raw data: scikit-learn's 1,797 digits as N-MNIST-like saccade streams
                     (:func:`~revsnn_jax.data.events.streams.digit_saccade_events`, seed = the digit's index,
                     sampled every 5 ms), 34x34; the split of ``digits`` (360 test images, 36 per class).
                     Prepared automatically on first use (about 20 s).
==================== ============================================================================================

Event samples become ``T`` frames of ``[H, W, 2]`` counts (:func:`~revsnn_jax.data.events.streams.to_frames`,
binned by equal event count or equal time, optionally summed down to ``size x size`` pixels and clipped to 0/1),
stored as ``uint16`` (``uint8`` on request; a count that does not fit is an error, never a wrap). The cache folder is
``DATA_DIR/<dataset>/<key>`` with a key naming the settings, e.g. ``T20-count-128x128``, so one data dir holds
several settings side by side and training finds the one its config asks for.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Callable

import numpy as np

from revsnn_jax.data import cache, digits
from revsnn_jax.data.events import formats, streams
from revsnn_jax.errors import InputError

GESTURE_CLASSES = 11
CIFAR10_DVS_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_DVS_SPLITS = ("9:1", "tebn")
EVENT_DIGITS_STEP_US = 5000
DTYPES = ("uint16", "uint8")


@dataclasses.dataclass(frozen=True)
class EventSpec:
    """An event dataset: its sensor (H, W), class count, the settings it accepts and how its raw folder lists
    its sources (``sources(raw, settings, to_frames) -> {split: [cache.Source]}``)."""

    sensor: tuple[int, int]
    num_classes: int
    sources: Callable
    needs_raw: bool = True
    splits: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class FrameSettings:
    """How event streams become frames: ``timesteps`` frames binned ``by`` count or time, ``size`` (square,
    None: the sensor's), ``binary`` clipping, the dataset's ``split`` (where it has a choice), the stored
    ``dtype``, and ``sort`` (sort each stream by time first instead of refusing an unsorted one)."""

    timesteps: int = 20
    by: str = "count"
    size: int | None = None
    binary: bool = False
    split: str | None = None
    dtype: str = "uint16"
    sort: bool = False

    def key(self, spec: EventSpec) -> str:
        h, w = self.frame_size(spec)
        parts = [f"T{self.timesteps}", self.by, f"{h}x{w}"] + ["binary"] * self.binary
        if spec.splits and (self.split or spec.splits[0]) != spec.splits[0]:
            parts.append(f"split-{self.split.replace(':', 'to')}")
        return "-".join(parts)

    def frame_size(self, spec: EventSpec) -> tuple[int, int]:
        return spec.sensor if self.size is None else (self.size, self.size)

    def check(self, name: str, spec: EventSpec) -> None:
        if self.timesteps < 1:
            raise InputError(f"timesteps must be >= 1, got {self.timesteps}")
        if self.by not in streams.BINNINGS:
            raise InputError(f"unknown binning {self.by!r}; valid binnings: {', '.join(streams.BINNINGS)}")
        if self.size is not None and not 1 <= self.size <= min(spec.sensor):
            raise InputError(f"frame size {self.size} must lie between 1 and {name}'s sensor size {spec.sensor}")
        if self.dtype not in DTYPES:
            raise InputError(f"unknown dtype {self.dtype!r}; valid: {', '.join(DTYPES)}")
        if self.split is not None and self.split not in spec.splits:
            valid = ", ".join(spec.splits) if spec.splits else "none (its split is fixed)"
            raise InputError(f"unknown split {self.split!r} for {name}; valid splits: {valid}")


EMPTY = ("zeros", "error")
"""What ``revsnn prepare`` does with a sample that has no events (a DVS128-Gesture label interval the sensor saw
nothing in, an empty N-MNIST file): keep it as all-zero frames and count it (default), or stop with an error."""


def _frames(spec: EventSpec, fs: FrameSettings, empty: str = "error", counts: dict | None = None):
    """``to_frames(events, name)`` for this dataset and these settings; a sample without events is all-zero frames
    (counted in ``counts["empty"]``) or, with ``empty="error"``, an error."""
    size = fs.frame_size(spec)

    def convert(stream: np.ndarray, name: str) -> np.ndarray:
        if stream.size == 0:
            if empty == "error":
                raise InputError(f"{name}: no events (a sample with no events; `--empty zeros` keeps it as all-zero "
                                 "frames)")
            if counts is not None:
                counts["empty"] = counts.get("empty", 0) + 1
            return np.zeros((fs.timesteps, *size, 2), np.float32)
        if fs.sort:
            stream = stream[np.argsort(stream["t"], kind="stable")]
        return streams.to_frames(stream, spec.sensor, fs.timesteps, by=fs.by, size=size, binary=fs.binary,
                                name=name)
    return convert


# --- DVS128-Gesture ----------------------------------------------------------------------------------------------

def _gesture_root(raw: str) -> str:
    for root in (raw, os.path.join(raw, "DvsGesture")):
        if os.path.isfile(os.path.join(root, "trials_to_train.txt")):
            return root
    raise InputError(f"{raw}: no trials_to_train.txt here or in {raw}/DvsGesture (unpack DvsGesture.tar.gz and "
                     "pass that folder as --raw)")


def read_gesture_labels(path: str) -> list[tuple[int, int, int]]:
    """``[(label 0..10, start_us, end_us)]`` of one ``*_labels.csv``, in file order."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: label file missing (every recording needs its _labels.csv)")
    rows = []
    with open(path) as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    if not lines or not lines[0].lower().startswith("class"):
        raise InputError(f"{path}: expected the header 'class,startTime_usec,endTime_usec'")
    for i, line in enumerate(lines[1:], start=2):
        try:
            c, t0, t1 = (int(float(v)) for v in line.split(","))
        except ValueError:
            raise InputError(f"{path}, line {i}: expected three integers, got {line!r}") from None
        if not 1 <= c <= GESTURE_CLASSES or t1 <= t0:
            raise InputError(f"{path}, line {i}: class must be 1..{GESTURE_CLASSES} and start < end, got {line!r}")
        rows.append((c - 1, t0, t1))
    return rows


def gesture_trials(raw: str, split: str) -> list[str]:
    """The recordings (``user01_fluorescent.aedat``, ...) of ``split`` (train/test) as the trial list names them."""
    root = _gesture_root(raw)
    path = os.path.join(root, f"trials_to_{split}.txt")
    if not os.path.isfile(path):
        raise InputError(f"{path}: trial list missing")
    with open(path) as f:
        trials = [ln.strip() for ln in f if ln.strip()]
    if not trials:
        raise InputError(f"{path}: lists no recordings (expected one user<NN>_<lighting>.aedat per line)")
    return [t if t.endswith(".aedat") else t + ".aedat" for t in trials]   # the official lists name the files


def gesture_samples(path: str, labels: list[tuple[int, int, int]]):
    """``(events, label)`` of each label row of the recording at ``path``."""
    stream = formats.read_aedat31(path)
    if stream.size == 0:
        raise InputError(f"{path}: no events (an empty recording)")
    t = stream["t"]
    for label, t0, t1 in labels:
        yield stream[(t >= t0) & (t < t1)], label


def _gesture_sources(raw, fs, convert):
    root = _gesture_root(raw)
    out = {}
    for split in ("train", "test"):
        sources = []
        for trial in gesture_trials(raw, split):
            path = os.path.join(root, trial)
            labels = read_gesture_labels(os.path.join(root, trial[:-len(".aedat")] + "_labels.csv"))
            if not os.path.isfile(path):
                raise InputError(f"{path}: recording missing (listed in trials_to_{split}.txt)")

            def load(path=path, labels=labels):
                for k, (stream, label) in enumerate(gesture_samples(path, labels)):
                    _, t0, t1 = labels[k]
                    yield convert(stream, f"{path} [{t0}, {t1}) us"), label
            sources.append(cache.Source(path, len(labels), load))
        out[split] = sources
    return out


# --- CIFAR10-DVS -------------------------------------------------------------------------------------------------

_CIFAR10_DVS_NAME = re.compile(r"^cifar10_([a-z]+)_(\d+)\.aedat$")


def cifar10_dvs_files(raw: str, split: str = "9:1") -> dict[str, list[tuple[str, int]]]:
    """``{"train"|"test": [(path, label)]}`` of the AEDAT 2.0 files under ``raw`` (see the module doc)."""
    if split not in CIFAR10_DVS_SPLITS:
        raise InputError(f"unknown split {split!r} for cifar10_dvs; valid splits: {', '.join(CIFAR10_DVS_SPLITS)}")
    if not os.path.isdir(raw):
        raise InputError(f"{raw}: no such folder")
    by_class: dict[int, list[tuple[str, int, str]]] = {c: [] for c in range(len(CIFAR10_DVS_CLASSES))}
    for folder, _, files in os.walk(raw):
        for name in files:
            m = _CIFAR10_DVS_NAME.match(name)
            if m is None:
                continue
            if m.group(1) not in CIFAR10_DVS_CLASSES:
                raise InputError(f"{os.path.join(folder, name)}: unknown class {m.group(1)!r}")
            by_class[CIFAR10_DVS_CLASSES.index(m.group(1))].append((name, int(m.group(2)),
                                                                    os.path.join(folder, name)))
    if not any(by_class.values()):
        raise InputError(f"{raw}: no cifar10_<class>_<i>.aedat files found")
    out = {"train": [], "test": []}
    for label, items in by_class.items():
        names = [n for n, _, _ in items]
        if len(set(names)) != len(names):
            raise InputError(f"{raw}: {CIFAR10_DVS_CLASSES[label]} has the same file name in two folders")
        items.sort()   # by file name, as strings
        if split == "9:1":
            n_train = -(-9 * len(items) // 10)   # ceil(0.9 n)
            chosen = {"train": items[:n_train], "test": items[n_train:]}
        else:
            chosen = {"train": [i for i in items if i[1] >= 100], "test": [i for i in items if i[1] < 100]}
        for part, picked in chosen.items():
            out[part] += [(path, label) for _, _, path in picked]
    return out


def _cifar10_dvs_sources(raw, fs, convert):
    files = cifar10_dvs_files(raw, fs.split or CIFAR10_DVS_SPLITS[0])

    def source(path, label):
        return cache.Source(path, 1, lambda: [(convert(formats.read_aedat2(path), path), label)])
    return {split: [source(p, y) for p, y in items] for split, items in files.items()}


# --- N-MNIST -----------------------------------------------------------------------------------------------------

def nmnist_files(raw: str) -> dict[str, list[tuple[str, int]]]:
    """``{"train"|"test": [(path, digit)]}``, from ``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin``."""
    out = {}
    for split, folder in (("train", "Train"), ("test", "Test")):
        root = os.path.join(raw, folder)
        if not os.path.isdir(root):
            raise InputError(f"{root}: folder missing (unpack N-MNIST's Train.zip and Test.zip into {raw})")
        items = []
        for digit in range(10):
            d = os.path.join(root, str(digit))
            if os.path.isdir(d):
                items += [(os.path.join(d, n), digit) for n in sorted(os.listdir(d)) if n.endswith(".bin")]
        if not items:
            raise InputError(f"{root}: no <digit>/*.bin files")
        out[split] = items
    return out


def _nmnist_sources(raw, fs, convert):
    def source(path, label):
        return cache.Source(path, 1, lambda: [(convert(formats.read_nmnist_bin(path), path), label)])
    return {split: [source(p, y) for p, y in items] for split, items in nmnist_files(raw).items()}


# --- event digits ------------------------------------------------------------------------------------------------

def event_digit_streams(indices=None):
    """``(events, label)`` of scikit-learn's digits as saccade streams (seed = index), for ``indices``."""
    from sklearn.datasets import load_digits
    images = load_digits()
    for i in range(len(images.target)) if indices is None else indices:
        yield streams.digit_saccade_events(images.images[i], seed=int(i), step_us=EVENT_DIGITS_STEP_US), \
            int(images.target[i])


def _event_digit_sources(raw, fs, convert, chunk: int = 64):
    out = {}
    for split, idx in zip(("train", "test"), digits.digits_split()):
        def source(part):
            return cache.Source(f"digits {part[0]}..{part[-1]}", len(part), lambda: (
                (convert(e, f"digit {i}"), y) for i, (e, y) in zip(part, event_digit_streams(part))))
        out[split] = [source(idx[s:s + chunk]) for s in range(0, len(idx), chunk)]
    return out


EVENT_DATASETS = {
    "dvs_gesture": EventSpec((128, 128), GESTURE_CLASSES, _gesture_sources),
    "cifar10_dvs": EventSpec((128, 128), 10, _cifar10_dvs_sources, splits=CIFAR10_DVS_SPLITS),
    "nmnist": EventSpec((34, 34), 10, _nmnist_sources),
    "event_digits": EventSpec((34, 34), 10, _event_digit_sources, needs_raw=False),
}


def event_cache_dir(data_dir: str, name: str, fs: FrameSettings) -> str:
    return os.path.join(data_dir, name, fs.key(EVENT_DATASETS[name]))


def prepare_command(name: str, fs: FrameSettings, data_dir: str) -> str:
    """The ``revsnn prepare`` command line that builds this cache."""
    spec = EVENT_DATASETS.get(name)
    parts = ["revsnn prepare", name] + (["--raw RAW"] if spec is None or spec.needs_raw else [])
    parts.append(f"--data-dir {data_dir}")
    if spec is not None:
        d = FrameSettings()
        parts.append(f"--timesteps {fs.timesteps}")
        parts += [f"--by {fs.by}"] * (fs.by != d.by) + [f"--size {fs.size}"] * (fs.size is not None)
        parts += ["--binary"] * fs.binary + [f"--split {fs.split}"] * (fs.split is not None)
    return " ".join(parts)


def prepare_events(name: str, raw: str | None, data_dir: str, fs: FrameSettings, *, progress: bool = True,
                   say: Callable[[str], None] = print, empty: str = "zeros") -> str:
    """Builds (or finishes) the frame cache of event dataset ``name``; returns its folder. ``empty``: what a sample
    without events becomes (:data:`EMPTY`; such samples are counted and reported)."""
    if name not in EVENT_DATASETS:
        raise InputError(f"unknown event dataset {name!r}; valid: {', '.join(EVENT_DATASETS)}")
    if empty not in EMPTY:
        raise InputError(f"unknown empty-sample policy {empty!r}; valid: {', '.join(EMPTY)}")
    spec = EVENT_DATASETS[name]
    fs.check(name, spec)
    if spec.needs_raw and not raw:
        raise InputError(f"{name} is prepared from its raw files: pass --raw DIR (see revsnn prepare --help)")
    if not spec.needs_raw and raw:
        raise InputError(f"{name} is generated here and takes no --raw")
    empties: dict = {}
    splits = spec.sources(raw, fs, _frames(spec, fs, empty, empties))
    root = event_cache_dir(data_dir, name, fs)
    h, w = fs.frame_size(spec)
    settings = {"dataset": name, "timesteps": fs.timesteps, "by": fs.by, "frame_size": [h, w],
                "binary": fs.binary, "split": fs.split or (spec.splits[0] if spec.splits else None),
                "num_classes": spec.num_classes}   # not --sort: it only admits recordings refused without it
    shape = (fs.timesteps, h, w, 2)
    counts = {k: sum(s.count for s in v) for k, v in splits.items()}
    say(f"preparing {name} into {root}: {', '.join(f'{n} {k}' for k, n in counts.items())} samples of "
        f"{shape} {fs.dtype}, {_size(_bytes(splits, shape, fs.dtype))} on disk")
    cache.build(root, settings, splits, shape, fs.dtype, progress=progress, say=say)
    if empties.get("empty"):
        say(f"warning: {empties['empty']} sample(s) had no events and are stored as all-zero frames (pass --empty "
            "error to stop at the first instead)")
    return root


def _bytes(splits, shape, dtype) -> int:
    return sum(s.count for v in splits.values() for s in v) * int(np.prod(shape)) * np.dtype(dtype).itemsize


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def load_events(name: str, data_dir: str | None, fs: FrameSettings, say: Callable[[str], None] = print):
    """``(settings, {split: (frames [N, T, H, W, 2] memory-mapped, labels)})`` of a prepared cache. event_digits
    is prepared on first use; the others fail fast with the command that prepares them."""
    spec = EVENT_DATASETS[name]
    fs.check(name, spec)
    data_dir = data_dir or cache.default_data_dir()
    root = event_cache_dir(data_dir, name, fs)
    if not spec.needs_raw and not _complete(root):   # generated here: prepared (or finished) on first use
        prepare_events(name, None, data_dir, fs, say=say)
    if not os.path.exists(os.path.join(root, cache.SETTINGS)):
        others = [os.path.basename(p) for p, _ in cache.caches(os.path.dirname(root))]
        found = f" (this data dir holds {name} as: {', '.join(others)}; pick those settings, e.g. --timesteps)" \
            if others else ""
        raise InputError(f"{name} with settings {os.path.basename(root)} is not prepared in {data_dir}{found}; "
                         f"prepare it with `{prepare_command(name, fs, data_dir)}`")
    return cache.read(root, hint=f"; `{prepare_command(name, fs, data_dir)}`")


def _complete(root: str) -> bool:
    path = os.path.join(root, cache.PROGRESS)
    return os.path.exists(path) and cache._json_read(path).get("complete", False)
