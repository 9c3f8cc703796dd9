"""The dataset registry: every dataset by name, with its loader and the defaults of a run on it (numpy only).

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
                 by ``revsnn prepare``   (:mod:`revsnn_jax.data.tiny_imagenet`).
``dvs_gesture``   raw files prepared by     Event frames (``encoding="frames"``): every sample is ``T`` frames of
``cifar10_dvs``  ``revsnn prepare``       per-pixel ON/OFF counts, ``[T, H, W, 2]``, read from a cache that
``nmnist``       (see                     ``revsnn prepare`` built once (:mod:`revsnn_jax.data.events.datasets` gives
``event_digits`` :mod:`.events.datasets`)  formats and splits); ``event_digits`` is generated from ``digits``
                                       (same split) and needs nothing.
================ ===================== ======================================================================

CIFAR prepared by ``revsnn prepare cifar10 --raw cifar-10-python.tar.gz --data-dir DIR`` (no TensorFlow) is read
from that cache when DIR holds one; otherwise from tfds.

Images are NHWC float32, normalised per channel with the training set's mean and standard deviation; batching
and augmentation are in :mod:`revsnn_jax.data.pipeline`.
"""

from __future__ import annotations

import functools
from typing import Callable

from revsnn_jax.data import cifar, digits, tiny_imagenet
from revsnn_jax.data.dataset import Dataset, DatasetInfo
from revsnn_jax.data.events import datasets as event_datasets
from revsnn_jax.errors import InputError


def load(name: str, data_dir: str | None = None, frames=None, say: Callable[[str], None] = print) -> Dataset:
    """Loads ``name`` (a key of ``DATASETS``): images into memory, event frames memory-mapped.

    ``frames`` (a :class:`revsnn_jax.data.events.datasets.FrameSettings`) picks an event dataset's cache (default
    settings if None); image datasets ignore it.

    Raises:
      InputError: unknown name, or the data not prepared under ``data_dir`` (the message says how to prepare it;
        no download is attempted, so an offline machine fails at once instead of after minutes of retries).
    """
    if name not in DATASETS:
        raise InputError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")
    return DATASETS[name].load(data_dir, frames, say)


def _events(name: str):
    def load(data_dir: str | None, frames=None, say=print) -> Dataset:
        info = DATASETS[name]
        settings, splits = event_datasets.load_events(name, data_dir, frames or event_datasets.FrameSettings(),
                                                      say)
        return Dataset(name, *splits["train"], *splits["test"], settings["num_classes"], info.augment,
                       info.augmentation)
    return load


DATASETS = {
    "digits": DatasetInfo(digits.load, (8, 8, 1), 10, model="vgg_digits", epochs=30, batch_size=64,
                          train_size=1797 - digits.TEST_SIZE),
    "cifar10": DatasetInfo(functools.partial(cifar.load, "cifar10"), (32, 32, 3), 10, model="resnet18", epochs=200,
                           batch_size=128, train_size=50_000, augment=True),
    "cifar100": DatasetInfo(functools.partial(cifar.load, "cifar100"), (32, 32, 3), 100, model="resnet18",
                            epochs=200, batch_size=128, train_size=50_000, augment=True),
    # 64x64, 200 classes; the validation split is the test split (the test images have no labels)
    "tiny_imagenet": DatasetInfo(tiny_imagenet.load, (64, 64, 3), 200, model="vgg16", epochs=300, batch_size=128,
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
                                batch_size=64, encoding="frames", train_size=1797 - digits.TEST_SIZE,
                                frame_size=16),
}
"""The dataset registry: adding a dataset is one entry (a loader returning :class:`Dataset`, and its defaults)."""
