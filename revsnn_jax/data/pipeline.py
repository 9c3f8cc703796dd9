"""The input pipeline: training batches (a pure function of seed, epoch and batch index), evaluation batches
padded to full size, and the augmentations (numpy only).

The order of every epoch, and each batch's augmentation, is a function of ``(seed, epoch, batch index)`` only,
so a run resumed from the checkpoint of epoch ``e`` sees exactly the batches an uninterrupted run would. Event
frames stay as stored (``uint16`` counts, memory-mapped) until a batch is drawn: batches are float32 and
time-major, ``[T, B, H, W, 2]``; their augmentation (random crop, horizontal flip, roll) moves every frame of a
sample alike.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from revsnn_jax.data.dataset import Dataset
from revsnn_jax.errors import InputError

AUGMENTATIONS = ("crop", "flip", "roll")
"""crop: random 4-pixel shift with zero padding; flip: horizontal, half the samples; roll: a random circular
shift of up to 5 pixels on both axes (the CIFAR10-DVS recipe of Deng et al.'s TET code)."""


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

