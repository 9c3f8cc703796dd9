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
================ ===================== ======================================================================

Images are NHWC float32, normalised per channel with the training set's mean and standard deviation.
The order of every epoch, and each batch's augmentation, is a function of ``(seed, epoch, batch index)`` only,
so a run resumed from the checkpoint of epoch ``e`` sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import dataclasses
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

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])


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


def load(name: str, data_dir: str | None = None) -> Dataset:
    """Loads ``name`` (a key of :data:`DATASETS`) into memory.

    Raises:
      InputError: unknown name, or CIFAR not prepared under ``data_dir`` (the message says how to prepare it;
        no download is attempted, so an offline machine fails at once instead of after minutes of retries).
    """
    if name not in DATASETS:
        raise InputError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")
    return DATASETS[name].load(data_dir)


def _digits(data_dir: str | None = None) -> Dataset:
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]   # pixel values are 0..16
    labels = digits.target.astype(np.int32)
    test = _stratified_pick(labels, DIGITS_TEST_SIZE, np.random.default_rng(0))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return _normalised("digits", images[train], labels[train], images[test], labels[test], 10, augment=False)


def _stratified_pick(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    classes = np.unique(labels)
    per_class = size // len(classes)
    picks = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in classes]
    return np.sort(np.concatenate(picks))


def _cifar(name: str, data_dir: str | None) -> Dataset:
    import tensorflow_datasets as tfds
    splits = {}
    for split in ("train", "test"):
        try:
            source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
        except Exception as e:   # tfds raises several types here; all mean "not prepared in a readable format"
            where = data_dir or "the default tfds data_dir (~/tensorflow_datasets)"
            first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f"{name} is not prepared in {where} ({first_line}); "
                             + _PREPARE_HINT.format(name=name)) from None
        records = [source[i] for i in range(len(source))]
        splits[split] = (np.stack([r["image"] for r in records]).astype(np.float32) / 255.0,
                         np.asarray([r["label"] for r in records], np.int32))
    num_classes = 10 if name == "cifar10" else 100
    return _normalised(name, *splits["train"], *splits["test"], num_classes, augment=True)


def _normalised(name, train_x, train_y, test_x, test_y, num_classes, augment) -> Dataset:
    mean = train_x.mean(axis=(0, 1, 2), dtype=np.float64)
    std = train_x.std(axis=(0, 1, 2), dtype=np.float64) + 1e-8
    norm = lambda x: ((x - mean) / std).astype(np.float32)   # noqa: E731
    return Dataset(name, norm(train_x), train_y, norm(test_x), test_y, num_classes, augment)


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Training steps per epoch: full batches only (the last partial batch of a shuffled epoch is dropped)."""
    return num_examples // batch_size


def train_batches(ds: Dataset, batch_size: int, seed: int, epoch: int, augment: bool,
                  start: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The training batches of ``epoch`` from batch index ``start`` on; a pure function of its arguments."""
    n = len(ds.train_labels)
    order = np.random.default_rng([seed, epoch]).permutation(n)
    for b in range(start, steps_per_epoch(n, batch_size)):
        idx = order[b * batch_size:(b + 1) * batch_size]
        images = ds.train_images[idx]
        if augment:
            images = augment_batch(images, np.random.default_rng([seed, epoch, b, 1]))
        yield images, ds.train_labels[idx]


def eval_batches(images: np.ndarray, labels: np.ndarray,
                 batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every example once, in order, as full batches: the last one is padded and ``mask`` marks real rows."""
    for start in range(0, len(labels), batch_size):
        x, y = images[start:start + batch_size], labels[start:start + batch_size]
        mask = np.ones(batch_size, np.float32)
        if len(y) < batch_size:
            pad = batch_size - len(y)
            mask[len(y):] = 0.0
            x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)])
            y = np.concatenate([y, np.zeros(pad, y.dtype)])
        yield x, y, mask


def augment_batch(images: np.ndarray, rng: np.random.Generator, pad: int = 4) -> np.ndarray:
    """Random crop after zero padding by ``pad`` pixels, and a random horizontal flip (standard CIFAR recipe)."""
    b, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dy, dx = rng.integers(0, 2 * pad + 1, size=(2, b))
    rows = dy[:, None] + np.arange(h)[None]
    cols = dx[:, None] + np.arange(w)[None]
    out = padded[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]
    flip = rng.random(b) < 0.5
    out[flip] = out[flip, :, ::-1]
    return out


DATASETS = {
    "digits": DatasetInfo(_digits, (8, 8, 1), 10, model="vgg_digits", epochs=30, batch_size=64,
                          train_size=1797 - DIGITS_TEST_SIZE),
    "cifar10": DatasetInfo(lambda d: _cifar("cifar10", d), (32, 32, 3), 10, model="resnet18", epochs=200,
                           batch_size=128, train_size=50_000),
    "cifar100": DatasetInfo(lambda d: _cifar("cifar100", d), (32, 32, 3), 100, model="resnet18", epochs=200,
                            batch_size=128, train_size=50_000),
}
"""The dataset registry: adding a dataset is one entry (a loader returning :class:`Dataset`, and its defaults)."""
