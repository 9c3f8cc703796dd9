"""scikit-learn's handwritten digits (UCI): 1,797 real 8x8 grey images that ship with the package, so every
offline default trains on real data. The split is fixed: 360 test images (36 per class), the rest (1,437) train,
drawn once with a stratified shuffle seeded by 0, independent of the run's seed."""

from __future__ import annotations

import numpy as np

from revsnn_jax.data.dataset import Dataset
from revsnn_jax.data.images import normalised

TEST_SIZE = 360
DIGITS_TEST_SIZE = TEST_SIZE   # the older name


def digits_split() -> tuple[np.ndarray, np.ndarray]:
    """``(train indices, test indices)`` into scikit-learn's 1,797 digits (module doc; sorted)."""
    from sklearn.datasets import load_digits
    labels = load_digits().target
    test = _stratified_pick(labels, TEST_SIZE, np.random.default_rng(0))
    return np.setdiff1d(np.arange(len(labels)), test), test


def load(data_dir: str | None = None, frames=None, say=print) -> Dataset:
    """The digits as a :class:`Dataset` (pixels 0..16 scaled to [0, 1], then normalised)."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]   # pixel values are 0..16
    labels = digits.target.astype(np.int32)
    train, test = digits_split()
    return normalised("digits", images[train], labels[train], images[test], labels[test], 10, augment=False)


def _stratified_pick(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    classes = np.unique(labels)
    per_class = size // len(classes)
    picks = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in classes]
    return np.sort(np.concatenate(picks))
