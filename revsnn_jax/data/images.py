"""Image helpers shared by the image datasets: per-channel normalisation, in memory or per batch from disk."""

from __future__ import annotations

import numpy as np

from revsnn_jax.data.dataset import Dataset


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


def normalised(name, train_x, train_y, test_x, test_y, num_classes, augment) -> Dataset:
    """A :class:`Dataset` with both splits normalised per channel by the training split's mean and std."""
    mean = train_x.mean(axis=(0, 1, 2), dtype=np.float64)
    std = train_x.std(axis=(0, 1, 2), dtype=np.float64) + 1e-8
    norm = lambda x: ((x - mean) / std).astype(np.float32)   # noqa: E731
    return Dataset(name, norm(train_x), train_y, norm(test_x), test_y, num_classes, augment)

