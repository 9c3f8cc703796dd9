"""Datasets as numpy arrays, batching, augmentation (numpy only; no jax math here).

================ ===================== ======================================================================
dataset          source                split
================ ===================== ======================================================================
``digits``       scikit-learn (ships   1,797 real 8x8 grey images of handwritten digits (UCI). Fixed split:
                 with the package,     360 test images (36 per class), the rest (1,437) train, drawn once with
                 works offline)        a stratified shuffle seeded by 0, independent of the run's seed.
``cifar10``      tensorflow-datasets   ``train`` (50,000) / ``test`` (10,000), 32x32x3, read with
``cifar100``     ``tfds.data_source``  ``tfds.data_source`` (array_record; no TensorFlow needed). Must be
                                       prepared beforehand (see :func:`load`); nothing is downloaded here.
``tiny_imagenet`` the unpacked            ``train`` (100,000) / ``val`` as the test split (10,000), 64x64x3,
                 distribution, prepared  200 classes (sorted wnids); stored as uint8 and normalised per batch
                 by ``revsnn prepare``   (:mod:`revsnn_jax.tiny_imagenet`).
``dvs_gesture``   raw files prepared by     Event frames (``encoding="frames"``): every sample is ``T`` frames of
``cifar10_dvs``  ``revsnn prepare``       per-pixel ON/OFF counts, ``[T, H, W, 2]``, read from a cache that
``nmnist``       (see                     ``revsnn prepare`` built once (:mod:`revsnn_jax.event_datasets` gives
``event_digits`` :mod:`.event_datasets`)  formats and splits); ``event_digits`` is generated from ``digits``
                                       (same split) and needs nothing.
================ ===================== ======================================================================

CIFAR prepared by ``revsnn prepare cifar10 --raw cifar-10-python.tar.gz --data-dir DIR`` (no TensorFlow) is read
from that cache when DIR holds one; otherwise from tfds.

Images are NHWC float32, normalised per channel with the training set's mean and standard deviation.
The order of every epoch, and each batch's augmentation, is a function of ``(seed, epoch, batch index)`` only,
so a run resumed from the checkpoint of epoch ``e`` sees exactly the batches an uninterrupted run would.

Event frames stay as stored (``uint16`` counts, memory-mapped) until a batch is drawn: batches are float32 and
time-major, ``[T, B, H, W, 2]``; their augmentation (random crop, horizontal flip, roll) moves every frame of a
sample alike.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Callable, Iterator

import numpy as np

from revsnn_jax.errors import InputError

DIGITS_TEST_SIZE = 360
_PREPARE_HINT = (
    "prepare it once on a machine with network access, in the array_record format that tfds.data_source reads, "
    "e.g. `pip install tensorflow tensorflow-datasets && tfds build {name} --file_format=array_record "
    "--data_dir DIR`, then copy DIR here and pass --data-dir DIR")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A dataset in memory. ``*_images`` are float32 NHWC (already normalised), ``*_labels`` int32."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    num_classes: int
    augment: bool   # whether random crop (4-pixel padding) + horizontal flip suit this dataset
    augmentation: tuple[str, ...] = ("crop", "flip")   # what ``augment`` applies (see AUGMENTATIONS)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """One frame's (or image's) HWC shape."""
        return tuple(self.train_images.shape[-3:])

    @property
    def timesteps(self) -> int | None:
        """T of event frames (samples ``[N, T, H, W, C]``); None for images."""
        return self.train_images.shape[1] if self.train_images.ndim == 5 else None


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """A registry entry: how to load a dataset and what a run on it defaults to.

    ``load(data_dir) -> Dataset``; ``input_shape`` (HWC), ``num_classes`` and ``train_size`` (training examples)
    are what a model and a batch size are checked against without loading the data; ``encoding`` is how its
    samples reach the network (``direct``: one static image per sample, fed at every step; ``frames``: T frames
    per sample).
    """

    load: Callable[[str | None], "Dataset"]
    input_shape: tuple[int, int, int]
    num_classes: int
    model: str
    epochs: int
    batch_size: int
    encoding: str = "direct"
    train_size: int | None = None   # None: unknown until loaded (checked then)
    augment: bool = False            # augmentation on by default
    augmentation: tuple[str, ...] = ("crop", "flip")
    frame_size: int | None = None    # event data: the default square frame size (None: the sensor's)


AUGMENTATIONS = ("crop", "flip", "roll")
"""crop: random 4-pixel shift with zero padding; flip: horizontal, half the samples; roll: a random circular
shift of up to 5 pixels on both axes (the CIFAR10-DVS recipe of Deng et al.'s TET code)."""


def load(name: str, data_dir: str | None = None, frames=None, say: Callable[[str], None] = print) -> Dataset:
    """Loads ``name`` (a key of :data:`DATASETS`): images into memory, event frames memory-mapped.

    ``frames`` (a :class:`revsnn_jax.event_datasets.FrameSettings`) picks an event dataset's cache (default
    settings if None); image datasets ignore it.

    Raises:
      InputError: unknown name, or the data not prepared under ``data_dir`` (the message says how to prepare it;
        no download is attempted, so an offline machine fails at once instead of after minutes of retries).
    """
    if name not in DATASETS:
        raise InputError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")
    return DATASETS[name].load(data_dir, frames, say)


def digits_split() -> tuple[np.ndarray, np.ndarray]:
    """``(train indices, test indices)`` into scikit-learn's 1,797 digits (module doc; sorted)."""
    from sklearn.datasets import load_digits
    labels = load_digits().target
    test = _stratified_pick(labels, DIGITS_TEST_SIZE, np.random.default_rng(0))
    return np.setdiff1d(np.arange(len(labels)), test), test


def _digits(data_dir: str | None = None, frames=None, say=print) -> Dataset:
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]   # pixel values are 0..16
    labels = digits.target.astype(np.int32)
    train, test = digits_split()
    return _normalised("digits", images[train], labels[train], images[test], labels[test], 10, augment=False)


def _events(name: str):
    def load(data_dir: str | None, frames=None, say=print) -> Dataset:
        from revsnn_jax import event_datasets
        info = DATASETS[name]
        settings, splits = event_datasets.load_events(name, data_dir, frames or event_datasets.FrameSettings(),
                                                      say)
        return Dataset(name, *splits["train"], *splits["test"], settings["num_classes"], info.augment,
                       info.augmentation)
    return load


def _stratified_pick(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    classes = np.unique(labels)
    per_class = size // len(classes)
    picks = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in classes]
    return np.sort(np.concatenate(picks))


def _cifar(name: str, data_dir: str | None, frames=None, say=print) -> Dataset:
    from revsnn_jax import event_datasets, prepared
    num_classes = 10 if name == "cifar10" else 100
    root = event_datasets.cifar_cache_dir(data_dir, name) if data_dir else None
    if root and os.path.exists(os.path.join(root, prepared.SETTINGS)):   # prepared from the official archive
        _, splits = prepared.read(root, hint=f"; `revsnn prepare {name} --raw ARCHIVE --data-dir {data_dir}`")
        return _normalised(name, *(a for s in ("train", "test") for a in (
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
    return _normalised(name, *splits["train"], *splits["test"], num_classes, augment=True)


class NormalizedImages:
    """``uint8`` images (e.g. memory-mapped) that index as float32, normalised per channel: a large image set
    stays on disk and only the rows of a batch are converted."""

    def __init__(self, images: np.ndarray, mean: np.ndarray, std: np.ndarray):
        self.images = images
        self.scale = (1.0 / (255.0 * std)).astype(np.float32)
        self.shift = (mean / std).astype(np.float32)
        self.shape, self.ndim, self.dtype = images.shape, images.ndim, np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index) -> np.ndarray:
        return np.asarray(self.images[index], np.float32) * self.scale - self.shift


def channel_stats(images: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of ``uint8 [N, H, W, C]`` images scaled to [0, 1], read in chunks
    (float64 sums)."""
    total, sq, count = 0.0, 0.0, 0
    for start in range(0, len(images), chunk):
        part = np.asarray(images[start:start + chunk], np.float64) / 255.0
        total = total + part.sum((0, 1, 2))
        sq = sq + np.square(part).sum((0, 1, 2))
        count += part.shape[0] * part.shape[1] * part.shape[2]
    mean = total / count
    return mean, np.sqrt(np.maximum(sq / count - mean ** 2, 0.0)) + 1e-8


def _tiny_imagenet(data_dir: str | None, frames=None, say=print) -> Dataset:
    from revsnn_jax import event_datasets, prepared, tiny_imagenet
    data_dir = data_dir or event_datasets.default_data_dir()
    root = tiny_imagenet.cache_dir(data_dir)
    settings, splits = prepared.read(root, hint=f"; prepare it with `revsnn prepare tiny_imagenet --raw "
                                                f"tiny-imagenet-200/ --data-dir {data_dir}`")
    mean, std = channel_stats(splits["train"][0])
    return Dataset("tiny_imagenet", NormalizedImages(splits["train"][0], mean, std), splits["train"][1],
                   NormalizedImages(splits["test"][0], mean, std), splits["test"][1], settings["num_classes"],
                   augment=True)


def _normalised(name, train_x, train_y, test_x, test_y, num_classes, augment) -> Dataset:
    mean = train_x.mean(axis=(0, 1, 2), dtype=np.float64)
    std = train_x.std(axis=(0, 1, 2), dtype=np.float64) + 1e-8
    norm = lambda x: ((x - mean) / std).astype(np.float32)   # noqa: E731
    return Dataset(name, norm(train_x), train_y, norm(test_x), test_y, num_classes, augment)


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Training steps per epoch: full batches only (the last partial batch of a shuffled epoch is dropped)."""
    return num_examples // batch_size


def train_batches(ds: Dataset, batch_size: int, seed: int, epoch: int, augment: bool | tuple[str, ...],
                  start: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The training batches of ``epoch`` from batch index ``start`` on; a pure function of its arguments.
    ``augment``: True for the dataset's augmentation, or the names of the ones to apply (empty: none)."""
    ops = ds.augmentation if augment is True else tuple(augment or ())
    n = len(ds.train_labels)
    order = np.random.default_rng([seed, epoch]).permutation(n)
    for b in range(start, steps_per_epoch(n, batch_size)):
        idx = order[b * batch_size:(b + 1) * batch_size]
        images = np.asarray(ds.train_images[np.sort(idx)][np.argsort(np.argsort(idx))], np.float32)
        if ops:
            images = augment_batch(images, np.random.default_rng([seed, epoch, b, 1]), ops)
        yield time_major(images), ds.train_labels[idx]


def time_major(images: np.ndarray) -> np.ndarray:
    """Event frame batches ``[B, T, H, W, C]`` as the network takes them, ``[T, B, H, W, C]``; images as they
    are."""
    return np.ascontiguousarray(images.swapaxes(0, 1)) if images.ndim == 5 else images


def eval_batches(images: np.ndarray, labels: np.ndarray,
                 batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every example once, in order, as full batches: the last one is padded and ``mask`` marks real rows."""
    for start in range(0, len(labels), batch_size):
        x, y = np.asarray(images[start:start + batch_size], np.float32), labels[start:start + batch_size]
        mask = np.ones(batch_size, np.float32)
        if len(y) < batch_size:
            pad = batch_size - len(y)
            mask[len(y):] = 0.0
            x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)])
            y = np.concatenate([y, np.zeros(pad, y.dtype)])
        yield time_major(x), y, mask


def augment_batch(images: np.ndarray, rng: np.random.Generator, ops=("crop", "flip"), pad: int = 4,
                  roll: int = 5) -> np.ndarray:
    """The augmentations ``ops`` (see :data:`AUGMENTATIONS`; default: the standard CIFAR recipe, random crop after
    zero padding by ``pad`` pixels and a random horizontal flip) of a batch ``[B, H, W, C]`` or of event frames
    ``[B, T, H, W, C]`` (every frame of a sample moved alike)."""
    unknown = set(ops) - set(AUGMENTATIONS)
    if unknown:
        raise InputError(f"unknown augmentation {sorted(unknown)}; valid: {', '.join(AUGMENTATIONS)}")
    frames = images.ndim == 5
    x = images if frames else images[:, None]
    b, _, h, w, _ = x.shape
    rows, cols = np.broadcast_to(np.arange(h), (b, h)), np.broadcast_to(np.arange(w), (b, w))
    if "crop" in ops:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad), (0, 0)))
        dy, dx = rng.integers(0, 2 * pad + 1, size=(2, b))
        rows, cols = dy[:, None] + rows, dx[:, None] + cols
    if "roll" in ops:
        sy, sx = rng.integers(-roll, roll + 1, size=(2, b))
        size_y, size_x = x.shape[2], x.shape[3]
        rows, cols = (rows - sy[:, None]) % size_y, (cols - sx[:, None]) % size_x
    if "flip" in ops:
        flip = rng.random(b) < 0.5
        cols = np.where(flip[:, None], cols[:, ::-1], cols)
    out = x[np.arange(b)[:, None, None, None], np.arange(x.shape[1])[None, :, None, None],
            rows[:, None, :, None], cols[:, None, None, :]]
    return out if frames else out[:, 0]


DATASETS = {
    "digits": DatasetInfo(_digits, (8, 8, 1), 10, model="vgg_digits", epochs=30, batch_size=64,
                          train_size=1797 - DIGITS_TEST_SIZE),
    "cifar10": DatasetInfo(functools.partial(_cifar, "cifar10"), (32, 32, 3), 10, model="resnet18", epochs=200,
                           batch_size=128, train_size=50_000, augment=True),
    "cifar100": DatasetInfo(functools.partial(_cifar, "cifar100"), (32, 32, 3), 100, model="resnet18",
                            epochs=200, batch_size=128, train_size=50_000, augment=True),
    # 64x64, 200 classes; the validation split is the test split (the test images have no labels)
    "tiny_imagenet": DatasetInfo(_tiny_imagenet, (64, 64, 3), 200, model="vgg16", epochs=300, batch_size=128,
                                 train_size=100_000, augment=True),
    "dvs_gesture": DatasetInfo(_events("dvs_gesture"), (128, 128, 2), 11, model="vgg11", epochs=200,
                               batch_size=16, encoding="frames", train_size=1176, augment=True,
                               augmentation=("crop", "roll")),   # no flip: left and right hand are classes
    "cifar10_dvs": DatasetInfo(_events("cifar10_dvs"), (128, 128, 2), 10, model="vgg16", epochs=200,
                               batch_size=16, encoding="frames", train_size=9000, augment=True,
                               augmentation=("flip", "roll")),
    # 34x34 sensors binned to sizes vgg_events divides by 8 (proportional binning: no event is dropped)
    "nmnist": DatasetInfo(_events("nmnist"), (34, 34, 2), 10, model="vgg_events", epochs=30, batch_size=64,
                          encoding="frames", train_size=60_000, frame_size=32),
    "event_digits": DatasetInfo(_events("event_digits"), (34, 34, 2), 10, model="vgg_events", epochs=20,
                                batch_size=64, encoding="frames", train_size=1797 - DIGITS_TEST_SIZE,
                                frame_size=16),
}
"""The dataset registry: adding a dataset is one entry (a loader returning :class:`Dataset`, and its defaults)."""
