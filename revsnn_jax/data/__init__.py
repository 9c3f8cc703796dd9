"""Data: the dataset registry, the input pipeline, the image datasets, the prepared cache and event data (numpy
only; no jax math here).

=====================  ===========================================================================================
module                 what
=====================  ===========================================================================================
``registry``           ``DATASETS`` (name -> loader and run defaults) and :func:`load`
``dataset``            :class:`Dataset` (arrays) and :class:`DatasetInfo` (a registry entry)
``pipeline``           training batches (a pure function of seed, epoch, batch), evaluation batches, augmentation
``digits``             scikit-learn's digits (offline, ships with the package)
``cifar``              CIFAR-10/100 from the official archives (prepared) or tensorflow-datasets
``tiny_imagenet``      Tiny-ImageNet from its standard distribution (prepared)
``images``             per-channel normalisation shared by the image datasets
``cache``              the on-disk cache ``revsnn prepare`` builds (resumable, memory-mapped) and the data dir
``prepare``            what ``revsnn prepare`` does: a dataset's raw files into its cache
``events``             event data: ``streams`` (checks, frames, saccade events), ``formats`` (raw file readers),
                       ``datasets`` (DVS128-Gesture, CIFAR10-DVS, N-MNIST, event digits)
=====================  ===========================================================================================

Imports flow one way: the registry imports the datasets, the datasets import ``cache``, ``images`` and
``dataset``; event code never imports the registry.
"""

from revsnn_jax.data.dataset import Dataset, DatasetInfo
from revsnn_jax.data.digits import DIGITS_TEST_SIZE, digits_split
from revsnn_jax.data.images import NormalizedImages, channel_stats
from revsnn_jax.data.pipeline import AUGMENTATIONS, augment_batch, eval_batches, steps_per_epoch, time_major, \
    train_batches
from revsnn_jax.data.registry import DATASETS, load

__all__ = ["AUGMENTATIONS", "DATASETS", "DIGITS_TEST_SIZE", "Dataset", "DatasetInfo", "NormalizedImages",
           "augment_batch", "channel_stats", "digits_split", "eval_batches", "load", "steps_per_epoch", "time_major",
           "train_batches"]
