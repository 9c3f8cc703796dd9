import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from revsnn_jax import data


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def test_digits_split_is_fixed_stratified_and_disjoint(digits):
    assert digits.train_images.shape == (1437, 8, 8, 1) and digits.test_images.shape == (360, 8, 8, 1)
    assert digits.train_images.dtype == np.float32 and digits.train_labels.dtype == np.int32
    assert np.bincount(digits.test_labels).tolist() == [36] * 10
    assert digits.num_classes == 10 and digits.input_shape == (8, 8, 1) and not digits.augment
    # no test image appears in the training set
    train_rows = {row.tobytes() for row in digits.train_images.reshape(len(digits.train_images), -1)}
    overlap = sum(row.tobytes() in train_rows for row in digits.test_images.reshape(360, -1))
    assert overlap <= 2   # the UCI set itself holds a few exact duplicates; a leaked split would share hundreds
    again = data.load("digits")
    np.testing.assert_array_equal(again.test_labels, digits.test_labels)
    np.testing.assert_array_equal(again.train_images, digits.train_images)
    np.testing.assert_allclose(digits.train_images.mean(), 0.0, atol=1e-5)
    np.testing.assert_allclose(digits.train_images.std(), 1.0, atol=1e-4)


def test_unknown_dataset_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; valid datasets: digits, cifar10, cifar100"):
        data.load("mnist")


def test_train_batches_are_a_function_of_seed_and_epoch(digits):
    def epoch(seed, e, start=0):
        return [y for _, y in data.train_batches(digits, 100, seed, e, augment=False, start=start)]

    first = epoch(0, 0)
    assert len(first) == data.steps_per_epoch(1437, 100) == 14
    assert len(np.unique(np.concatenate(first))) == 10
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(epoch(0, 0)))
    assert not np.array_equal(np.concatenate(first), np.concatenate(epoch(0, 1)))
    assert not np.array_equal(np.concatenate(first), np.concatenate(epoch(1, 0)))
    np.testing.assert_array_equal(np.concatenate(first[5:]), np.concatenate(epoch(0, 0, start=5)))


def test_train_batches_hold_distinct_examples(digits):
    seen = [x.reshape(len(x), -1) for x, _ in data.train_batches(digits, 256, 3, 0, augment=False)]
    rows = np.concatenate(seen)
    assert len(rows) == 5 * 256
    index = {r.tobytes(): i for i, r in enumerate(digits.train_images.reshape(1437, -1))}
    picked = [index[r.tobytes()] for r in rows]
    assert len(set(picked)) >= len(picked) - 5   # distinct up to the dataset's own duplicate images


def test_augment_is_a_shifted_crop_with_optional_flip():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(16, 6, 6, 2)).astype(np.float32)
    out = data.augment_batch(images, np.random.default_rng(1), pad=2)
    assert out.shape == images.shape
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    flips = 0
    for b in range(16):
        windows = {(dy, dx, f): padded[b, dy:dy + 6, dx:dx + 6][:, ::-1 if f else 1]
                   for dy in range(5) for dx in range(5) for f in (0, 1)}
        matches = [k for k, w in windows.items() if np.array_equal(w, out[b])]
        assert matches, f"image {b} is not a crop of its padded original"
        flips += matches[0][2]
    assert 0 < flips < 16
    np.testing.assert_array_equal(out, data.augment_batch(images, np.random.default_rng(1), pad=2))


def test_eval_batches_cover_every_example_once_with_a_mask():
    images = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    labels = np.arange(10, dtype=np.int32)
    batches = list(data.eval_batches(images, labels, 4))
    assert [len(y) for _, y, _ in batches] == [4, 4, 4]
    mask = np.concatenate([m for _, _, m in batches])
    assert mask.tolist() == [1.0] * 10 + [0.0] * 2
    np.testing.assert_array_equal(np.concatenate([y for _, y, _ in batches])[:10], labels)


@pytest.mark.parametrize("name,classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_through_tfds_data_source_on_mock_data(name, classes):
    with tfds.testing.mock_data(num_examples=24, policy=tfds.testing.MockPolicy.USE_CODE):
        ds = data.load(name)
    assert ds.train_images.shape == (24, 32, 32, 3) and ds.test_images.shape == (24, 32, 32, 3)
    assert ds.train_images.dtype == np.float32 and ds.num_classes == classes and ds.augment
    assert ds.train_labels.min() >= 0 and ds.train_labels.max() < classes
    np.testing.assert_allclose(ds.train_images.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)


def test_unprepared_cifar_fails_fast_with_instructions(tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"cifar10 is not prepared in .*tfds build cifar10 "
                                         r"--file_format=array_record.*--data-dir"):
        data.load("cifar10", data_dir=str(tmp_path))
    assert time.perf_counter() - t0 < 30   # no download retries (those take minutes offline)
