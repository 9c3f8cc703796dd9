"""What a dataset is to the rest of the library: :class:`Dataset` (arrays) and :class:`DatasetInfo` (a registry
entry: how to load it and what a run on it defaults to)."""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A dataset as the pipeline reads it. ``*_labels`` are int32 ``[N]``. ``*_images`` are arrays indexed by
    sample: float32 NHWC images, normalised (digits, CIFAR); :class:`~revsnn_jax.data.images.NormalizedImages`
    over a memory-mapped uint8 cache, normalised per batch (Tiny-ImageNet); or memory-mapped event frames
    ``[N, T, H, W, 2]`` of uint16 (or uint8) counts, converted to float32 per batch. ``augment`` says whether
    augmentation is on by default, ``augmentation`` which (``AUGMENTATIONS``)."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    num_classes: int
    augment: bool   # augmentation on by default
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

    ``load(data_dir, frames, say) -> Dataset`` (``frames``: an event dataset's
    :class:`~revsnn_jax.data.events.datasets.FrameSettings`, ignored by image datasets; ``say``: where notices go);
    ``input_shape`` (HWC), ``num_classes`` and ``train_size`` (training examples)
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

