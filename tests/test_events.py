"""Event streams to frames, against hand counts; the saccade event generator."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from revsnn_jax.data.events import streams as ev


def _stream(t, x=None, y=None, p=None):
    n = len(t)
    return ev.make_events(t, x if x is not None else [0] * n, y if y is not None else [0] * n,
                          p if p is not None else [1] * n)


def test_equal_count_bins_keep_every_event_and_give_the_remainder_to_the_last_frame():
    e = _stream(t=[0, 1, 2, 3, 4, 5, 6], x=[0, 1, 0, 1, 0, 1, 1], y=[0, 0, 1, 1, 0, 0, 1], p=[1, 0, 1, 1, 0, 0, 1])
    assert ev.frame_index(e["t"], 3).tolist() == [0, 0, 1, 1, 2, 2, 2]   # 7 // 3 = 2 each, the last takes 3
    f = ev.to_frames(e, (2, 2), 3)
    assert f.shape == (3, 2, 2, 2) and f.dtype == np.float32 and f.sum() == 7
    expected = np.zeros((3, 2, 2, 2), np.float32)
    for frame, (x, y, p) in zip([0, 0, 1, 1, 2, 2, 2], zip(e["x"], e["y"], e["p"])):
        expected[frame, y, x, p] += 1
    np.testing.assert_array_equal(f, expected)
    # fewer events than frames: all in the last frame; none at all: zeros
    assert ev.frame_index(_stream([5, 9])["t"], 4).tolist() == [3, 3]
    np.testing.assert_array_equal(ev.to_frames(_stream([]), (2, 2), 3), np.zeros((3, 2, 2, 2), np.float32))


def test_equal_time_bins_cover_the_closed_interval_with_empty_frames_as_zeros():
    assert ev.frame_index(np.array([0, 1, 2, 3, 9]), 2, by="time").tolist() == [0, 0, 0, 0, 1]   # span 10 us
    assert ev.frame_index(np.array([10, 100]), 4, by="time").tolist() == [0, 3]
    assert ev.frame_index(np.array([7, 7, 7]), 5, by="time").tolist() == [0, 0, 0]   # one timestamp
    f = ev.to_frames(_stream([10, 100], p=[0, 1]), (1, 1), 4, by="time")
    assert f[:, 0, 0].tolist() == [[1, 0], [0, 0], [0, 0], [0, 1]]
    # a single event: frame 0 by time, the last frame by count
    one = _stream([42])
    assert ev.to_frames(one, (1, 1), 3, by="time")[0].sum() == 1
    assert ev.to_frames(one, (1, 1), 3, by="count")[2].sum() == 1


def test_downsampling_sums_pixels_and_binary_clips():
    rng = np.random.default_rng(0)
    n = 500
    e = ev.make_events(np.sort(rng.integers(0, 10_000, n)), rng.integers(0, 128, n), rng.integers(0, 128, n),
                       rng.integers(0, 2, n))
    full = ev.to_frames(e, (128, 128), 5)
    half = ev.to_frames(e, (128, 128), 5, size=(64, 64))
    np.testing.assert_array_equal(half, full.reshape(5, 64, 2, 64, 2, 2).sum(axis=(2, 4)))
    odd = ev.to_frames(e, (128, 128), 5, size=(48, 48))   # 128 -> 48: proportional bins, no event lost
    assert odd.shape == (5, 48, 48, 2) and odd.sum() == n
    assert ev.to_frames(e, (128, 128), 5, size=(4, 4), binary=True).max() == 1.0


@pytest.mark.parametrize("events,message", [
    (_stream([0, 5, 3]), "timestamps are not sorted \\(event 2 at t=3 comes after t=5\\)"),
    (_stream([0, 1], x=[0, 34]), "event 1 has x=34, outside the sensor's width 34"),
    (_stream([0, 1], y=[-1, 0]), "event 0 has y=-1, outside the sensor's height 34"),
    (_stream([0, 1], p=[1, 2]), "polarities must be 0 \\(OFF\\) or 1 \\(ON\\), found \\[2\\]"),
    (np.zeros(3), "expected a structured array with fields t, x, y, p"),
])
def test_bad_streams_are_one_line_errors_naming_the_source(events, message):
    with pytest.raises(ValueError, match="rec.bin: " + message):
        ev.to_frames(events, (34, 34), 4, name="rec.bin")


def test_unknown_binning_and_bad_sizes_are_errors():
    with pytest.raises(ValueError, match="unknown binning 'space'; valid binnings: count, time"):
        ev.to_frames(_stream([0]), (2, 2), 2, by="space")
    with pytest.raises(ValueError, match="size \\(4, 4\\) must lie between"):
        ev.to_frames(_stream([0]), (2, 2), 2, size=(4, 4))


def test_saccade_events_of_digits_are_deterministic_sorted_balanced_and_on_the_digit():
    digits = load_digits()
    streams = [ev.digit_saccade_events(digits.images[i], seed=i) for i in range(6)]
    again = ev.digit_saccade_events(digits.images[0], seed=0)
    np.testing.assert_array_equal(streams[0], again)
    assert not np.array_equal(ev.digit_saccade_events(digits.images[0], seed=1), again)
    for e in streams:
        ev.check_events(e, (34, 34))   # sorted, inside the sensor, polarity 0/1
        assert 2_000 <= len(e) <= 50_000   # measured 9,900-14,000 for these settings
        assert abs(e["p"].mean() - 0.5) < 0.05   # a closed path: brightening and darkening balance
        # only pixels the moving digit covers fire: the 24x24 digit at offset 5, moved by at most 2 px (+1 bilinear)
        assert e["x"].min() >= 2 and e["x"].max() <= 31 and e["y"].min() >= 2 and e["y"].max() <= 31
        assert e["t"].min() > 0 and e["t"].max() <= 300_000   # three saccades of 100 ms
    blank = ev.digit_saccade_events(np.zeros((8, 8)), seed=0)
    assert len(blank) == 0 and blank.dtype == ev.EVENT_DTYPE
