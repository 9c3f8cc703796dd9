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
                  start: int = 0, part: tuple[int, int] = (0, 1)) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The training batches of ``epoch`` from batch index ``start`` on; a pure function of its arguments.
    ``augment``: True for the dataset's augmentation, or the names of the ones to apply (empty: none).
    ``part=(i, n)``: only the ``i``-th of ``n`` equal slices of every batch (process ``i`` of a multi-process
    run), read and augmented exactly as those rows of the whole batch: a memory-mapped cache is read for those
    rows only."""
    ops = ds.augmentation if augment is True else tuple(augment or ())
    n = len(ds.train_labels)
    order = np.random.default_rng([seed, epoch]).permutation(n)
    rows = _rows(batch_size, part)
    for b in range(start, steps_per_epoch(n, batch_size)):
        idx = order[b * batch_size:(b + 1) * batch_size][rows]
        images = np.asarray(ds.train_images[np.sort(idx)][np.argsort(np.argsort(idx))], np.float32)
        if ops:
            images = augment_batch(images, np.random.default_rng([seed, epoch, b, 1]), ops, part=part)
        yield time_major(images), ds.train_labels[idx]


def _rows(batch_size: int, part: tuple[int, int]) -> slice:
    index, count = part
    if batch_size % count:
        raise InputError(f"batch size {batch_size} does not split into {count} equal parts")
    size = batch_size // count
    return slice(index * size, (index + 1) * size)


def time_major(images: np.ndarray) -> np.ndarray:
    """Event frame batches ``[B, T, H, W, C]`` as the network takes them, ``[T, B, H, W, C]``; images as they
    are."""
    return np.ascontiguousarray(images.swapaxes(0, 1)) if images.ndim == 5 else images


def eval_batches(images: np.ndarray, labels: np.ndarray, batch_size: int,
                 part: tuple[int, int] = (0, 1)) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every example once, in order, as full batches: the last one is padded and ``mask`` marks real rows.
    ``part``: this process's slice of every batch, as in :func:`train_batches`."""
    rows = _rows(batch_size, part)
    for start in range(0, len(labels), batch_size):
        lo, hi = start + rows.start, min(start + rows.stop, len(labels))
        size = rows.stop - rows.start
        x, y = np.asarray(images[lo:hi], np.float32), labels[lo:hi]
        mask = np.ones(size, np.float32)
        if len(y) < size:
            pad = size - len(y)
            mask[len(y):] = 0.0
            x = np.concatenate([x, np.zeros((pad, *images.shape[1:]), x.dtype)])
            y = np.concatenate([y, np.zeros(pad, labels.dtype)])
        yield time_major(x), y, mask


def augment_batch(images: np.ndarray, rng: np.random.Generator, ops=("crop", "flip"), pad: int = 4,
                  roll: int = 5, part: tuple[int, int] = (0, 1)) -> np.ndarray:
    """The augmentations ``ops`` (see ``AUGMENTATIONS``; default: the standard CIFAR recipe, random crop after
    zero padding by ``pad`` pixels and a random horizontal flip) of a batch ``[B, H, W, C]`` or of event frames
    ``[B, T, H, W, C]`` (every frame of a sample moved alike). ``part=(i, n)``: ``images`` are the ``i``-th of
    ``n`` slices of a batch, moved as they would be in the whole batch (the draws are the whole batch's)."""
    unknown = set(ops) - set(AUGMENTATIONS)
    if unknown:
        raise InputError(f"unknown augmentation {sorted(unknown)}; valid: {', '.join(AUGMENTATIONS)}")
    frames = images.ndim == 5
    x = images if frames else images[:, None]
    b, _, h, w, _ = x.shape
    mine = slice(part[0] * b, (part[0] + 1) * b)   # this slice's rows of the whole batch's draws
    whole = b * part[1]
    rows, cols = np.broadcast_to(np.arange(h), (b, h)), np.broadcast_to(np.arange(w), (b, w))
    if "crop" in ops:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad), (0, 0)))
        dy, dx = rng.integers(0, 2 * pad + 1, size=(2, whole))[:, mine]
        rows, cols = dy[:, None] + rows, dx[:, None] + cols
    if "roll" in ops:
        sy, sx = rng.integers(-roll, roll + 1, size=(2, whole))[:, mine]
        size_y, size_x = x.shape[2], x.shape[3]
        rows, cols = (rows - sy[:, None]) % size_y, (cols - sx[:, None]) % size_x
    if "flip" in ops:
        flip = rng.random(whole)[mine] < 0.5
        cols = np.where(flip[:, None], cols[:, ::-1], cols)
    out = x[np.arange(b)[:, None, None, None], np.arange(x.shape[1])[None, :, None, None],
            rows[:, None, :, None], cols[:, None, None, :]]
    return out if frames else out[:, 0]

