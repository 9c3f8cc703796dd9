"""Every dataset ``revsnn prepare`` builds, through the one fake-raw-data harness (tests/fake_raw.py): the raw files
written in the dataset's format become a cache that ``data.load`` reads back with every sample and a valid label."""

import pytest

from fake_raw import FAKES
from revsnn_jax import data
from revsnn_jax.data import cache, prepare


def test_the_harness_covers_every_dataset_prepare_builds():
    assert set(FAKES) == set(prepare.DATASETS)


@pytest.mark.parametrize("name", [n for n in prepare.DATASETS if FAKES.get(n) is not None])
def test_a_fake_copy_prepares_and_loads_completely(tmp_path, name):
    raw, written = FAKES[name](str(tmp_path))
    frames = {"timesteps": 3, "size": 16} if name in data.registry.event_datasets.EVENT_DATASETS else {}
    root = prepare.prepare(name, raw, str(tmp_path / "data"), frames, progress=False, say=lambda m: None)
    settings, splits = cache.read(root)
    assert {s: len(y) for s, (_, y) in splits.items()} == written
    info = data.DATASETS[name]
    ds = info.load(str(tmp_path / "data"), data.registry.event_datasets.FrameSettings(timesteps=3, size=16)
                   if info.encoding == "frames" else None, lambda m: None)
    assert (len(ds.train_labels), len(ds.test_labels)) == (written["train"], written["test"])
    assert 0 <= ds.train_labels.min() and ds.train_labels.max() < ds.num_classes == settings["num_classes"]
    assert ds.input_shape == ((16, 16, 2) if info.encoding == "frames" else info.input_shape)
