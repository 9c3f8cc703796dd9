"""Raw event formats, splits, prepared caches and training on them, on small files written here in each format."""

import io
import json
import os
import pickle
import socket
import tarfile

import numpy as np
import pytest

from revsnn_jax import cli, data
from revsnn_jax.data import cache as prepared, cifar
from revsnn_jax.data.events import datasets as ed, formats as event_io, streams as events
from revsnn_jax.errors import InputError
from revsnn_jax.data.events.streams import make_events
from fake_raw import stream, write_cifar10_dvs, write_cifar_archive, write_gesture, write_nmnist


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Nothing here may touch the network: any connection attempt fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to open a network connection")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def assert_same_events(a, b):
    for f in "txyp":
        np.testing.assert_array_equal(a[f].astype(np.int64), b[f].astype(np.int64), err_msg=f)


# --- formats ------------------------------------------------------------------------------------------------------

def test_nmnist_bin_round_trip_and_the_overflow_marker(tmp_path):
    ev = stream(np.random.default_rng(0), 300, 0, 300_000, 34)
    path = str(tmp_path / "a.bin")
    event_io.write_nmnist_bin(path, ev)
    assert os.path.getsize(path) == 5 * 300
    assert_same_events(event_io.read_nmnist_bin(path), ev)
    # hand-made bytes: x=3, y=4, ON, t=0x012345; an overflow marker (y=240); x=5, y=6, OFF, t=7
    raw = bytes([3, 4, 0x80 | 0x01, 0x23, 0x45, 0, 240, 0, 0, 0, 5, 6, 0, 0, 7])
    (tmp_path / "b.bin").write_bytes(raw)
    got = event_io.read_nmnist_bin(str(tmp_path / "b.bin"))
    assert got["x"].tolist() == [3, 5] and got["y"].tolist() == [4, 6] and got["p"].tolist() == [1, 0]
    assert got["t"].tolist() == [0x012345, 7 + (1 << 13)]
    (tmp_path / "c.bin").write_bytes(raw[:-1])
    with pytest.raises(InputError, match="c.bin.*5-byte"):
        event_io.read_nmnist_bin(str(tmp_path / "c.bin"))


def test_aedat31_reads_polarity_packets_across_the_overflow_and_skips_the_rest(tmp_path):
    ev = stream(np.random.default_rng(1), 500, 0, 1_000_000, 128)
    path = str(tmp_path / "r.aedat")
    event_io.write_aedat31(path, ev, packet_size=128)   # 4 packets
    assert_same_events(event_io.read_aedat31(path), ev)
    # by hand: one packet of another type (skipped), then one polarity packet with overflow 1: an invalid event
    # (skipped) and x=100, y=7, ON at ts 5 -> t = 5 + 2^31
    header = b"#!AER-DAT3.1\r\n#!END-HEADER\r\n"
    other = event_io.AEDAT31_PACKET.pack(2, 1, 4, 0, 0, 2, 2, 2) + b"\0" * 8
    rec = np.array([(0, 1), ((100 << 17) | (7 << 2) | 2 | 1, 5)], [("d", "<u4"), ("t", "<i4")])
    polar = event_io.AEDAT31_PACKET.pack(1, 1, 8, 4, 1, 2, 2, 1) + rec.tobytes()
    (tmp_path / "h.aedat").write_bytes(header + other + polar)
    got = event_io.read_aedat31(str(tmp_path / "h.aedat"))
    assert got.tolist() == [(5 + (1 << 31), 100, 7, 1)]


def test_aedat2_orientation_is_the_documented_one(tmp_path):
    # address = (y_raw << 8) | (x_raw << 1) | bit0, big-endian; x = 127 - y_raw, y = 127 - x_raw, p = 1 - bit0
    rec = np.array([((10 << 8) | (20 << 1) | 0, 1000), ((0 << 8) | (127 << 1) | 1, 2000)],
                   [("a", ">u4"), ("t", ">u4")])
    (tmp_path / "x.aedat").write_bytes(b"#!AER-DAT2.0\r\n# created by hand\r\n" + rec.tobytes())
    got = event_io.read_aedat2(str(tmp_path / "x.aedat"))
    assert got.tolist() == [(1000, 117, 107, 1), (2000, 127, 0, 0)]
    ev = stream(np.random.default_rng(2), 200, 0, 10**6, 128)
    event_io.write_aedat2(str(tmp_path / "y.aedat"), ev)
    assert_same_events(event_io.read_aedat2(str(tmp_path / "y.aedat")), ev)


@pytest.mark.parametrize("reader,content,message", [
    (event_io.read_aedat31, b"#!AER-DAT2.0\r\n", "not an AER-DAT3.1 file"),
    (event_io.read_aedat31, b"garbage", "not an AER-DAT3.1 file"),
    (event_io.read_aedat31, b"#!AER-DAT3.1\r\n#!END-HEADER\r\n" + b"\1\0" * 5, "truncated packet header"),
    (event_io.read_aedat31, b"#!AER-DAT3.1\r\n#!END-HEADER\r\n" + event_io.AEDAT31_PACKET.pack(1, 1, 8, 4, 0, 9, 9, 9),
     "truncated file"),
    (event_io.read_aedat2, b"#!AER-DAT2.0\r\n" + b"\0" * 12, "8-byte records"),
])
def test_corrupt_files_are_one_line_errors_naming_the_file(tmp_path, reader, content, message):
    path = tmp_path / "bad.aedat"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as e:
        reader(str(path))
    assert "bad.aedat" in str(e.value) and "\n" not in str(e.value)


# --- DVS128-Gesture -----------------------------------------------------------------------------------------------

def test_gesture_samples_are_the_label_intervals_and_the_cache_holds_their_frames(tmp_path):
    raw = str(tmp_path / "DvsGesture")
    truth = write_gesture(raw)
    fs = ed.FrameSettings(timesteps=4, size=32)
    root = ed.prepare_events("dvs_gesture", str(tmp_path), str(tmp_path / "cache"), fs, progress=False,
                             say=lambda m: None)
    assert root.endswith(os.path.join("dvs_gesture", "T4-count-32x32"))
    settings, splits = prepared.read(root)
    assert settings["sizes"] == {"train": 5, "test": 3} and settings["timesteps"] == 4
    for split in ("train", "test"):
        x, y = splits[split]
        assert y.tolist() == [label for _, label in truth[split]]
        want = np.stack([events.to_frames(e, (128, 128), 4, size=(32, 32)) for e, _ in truth[split]])
        np.testing.assert_array_equal(x, want)
        assert x.dtype == np.uint16 and x.shape[1:] == (4, 32, 32, 2)
    # a class that occurs twice in one recording gives two samples (the standard 1,176 / 288 counting)
    assert [label for _, label in truth["train"]][:3] == [2, 6, 2]


def test_gesture_bad_input_is_named_and_nothing_is_written(tmp_path):
    raw = str(tmp_path / "DvsGesture")
    write_gesture(raw)
    cache = str(tmp_path / "cache")
    fs = ed.FrameSettings(timesteps=4, size=32)
    os.remove(os.path.join(raw, "user02_lab_labels.csv"))
    with pytest.raises(InputError, match="user02_lab_labels.csv: label file missing"):
        ed.prepare_events("dvs_gesture", raw, cache, fs, progress=False, say=lambda m: None)
    assert not os.path.exists(cache)
    # events outside the 128x128 sensor, and an empty recording
    write_gesture(raw)
    event_io.write_aedat31(os.path.join(raw, "user02_lab.aedat"), make_events([150_000], [200], [3], [1]))
    with pytest.raises(InputError, match=r"user02_lab.aedat \[100000, 400000\) us: event 0 has x=200, outside"):
        ed.prepare_events("dvs_gesture", raw, cache, fs, progress=False, say=lambda m: None)
    event_io.write_aedat31(os.path.join(raw, "user02_lab.aedat"), make_events([], [], [], []))
    with pytest.raises(InputError, match="user02_lab.aedat: no events"):
        ed.prepare_events("dvs_gesture", raw, str(tmp_path / "c2"), fs, progress=False, say=lambda m: None)
    with pytest.raises(InputError, match="no trials_to_train.txt"):
        ed.prepare_events("dvs_gesture", str(tmp_path / "nowhere"), cache, fs, progress=False)


# --- CIFAR10-DVS and N-MNIST --------------------------------------------------------------------------------------

def test_cifar10_dvs_splits_are_deterministic_per_class_on_sorted_names(tmp_path):
    write_cifar10_dvs(str(tmp_path))
    (tmp_path / "README.txt").write_text("not an event file")
    files = ed.cifar10_dvs_files(str(tmp_path))
    names = lambda items: [os.path.basename(p) for p, _ in items]   # noqa: E731
    # 14 per class: sorted as strings 0, 1, 10, 11, 150, 151, 2, ..., 9; the first ceil(0.9 * 14) = 13 train
    assert names(files["test"]) == ["cifar10_airplane_9.aedat", "cifar10_cat_9.aedat"]
    assert len(files["train"]) == 26 and [y for _, y in files["test"]] == [0, 3]
    assert names(files["train"])[:6] == [f"cifar10_airplane_{i}.aedat" for i in (0, 1, 10, 11, 150, 151)]
    tebn = ed.cifar10_dvs_files(str(tmp_path), "tebn")   # indices < 100 test, the rest train
    assert sorted(names(tebn["train"])) == sorted(f"cifar10_{c}_{i}.aedat" for c in ("airplane", "cat")
                                                  for i in (150, 151))
    assert ed.cifar10_dvs_files(str(tmp_path)) == files   # the same on every call (no OS order)
    root = ed.prepare_events("cifar10_dvs", str(tmp_path), str(tmp_path / "cache"),
                             ed.FrameSettings(timesteps=2, size=16, split="tebn", binary=True), progress=False,
                             say=lambda m: None)
    assert os.path.basename(root) == "T2-count-16x16-binary-split-tebn"
    _, splits = prepared.read(root)
    assert splits["train"][0].max() == 1 and len(splits["test"][1]) == 24
    with pytest.raises(InputError, match="unknown split"):
        ed.FrameSettings(split="8:2").check("cifar10_dvs", ed.EVENT_DATASETS["cifar10_dvs"])


def test_nmnist_folders_read_exactly_in_sorted_order(tmp_path):
    written = write_nmnist(str(tmp_path))
    files = ed.nmnist_files(str(tmp_path))
    assert [(os.path.relpath(p, tmp_path), y) for p, y in files["test"]] == [
        (os.path.join("Test", "0", "00002.bin"), 0), (os.path.join("Test", "0", "00010.bin"), 0),
        (os.path.join("Test", "7", "00002.bin"), 7), (os.path.join("Test", "7", "00010.bin"), 7)]
    root = ed.prepare_events("nmnist", str(tmp_path), str(tmp_path / "cache"), ed.FrameSettings(timesteps=3),
                             progress=False, say=lambda m: None)
    _, splits = prepared.read(root)
    for (path, _), x in zip(files["train"], splits["train"][0]):
        np.testing.assert_array_equal(x, events.to_frames(written[path], (34, 34), 3))


# --- the cache ----------------------------------------------------------------------------------------------------

def test_cache_refuses_other_settings_resumes_after_a_failure_and_reports_a_half_build(tmp_path):
    root = str(tmp_path / "c")
    calls = []

    def source(i, fail=False):
        def load():
            calls.append(i)
            if fail:
                raise KeyboardInterrupt   # an interruption in the middle of the split
            return [(np.full((2, 3), i, np.uint8), i)]
        return prepared.Source(f"s{i}", 1, load)

    with pytest.raises(KeyboardInterrupt):
        prepared.build(root, {"v": 1}, {"train": [source(0), source(1), source(2, fail=True)]}, (2, 3), np.uint8,
                       progress=False)
    with pytest.raises(InputError, match="only partly prepared.*'train': 2.*; do this"):
        prepared.read(root, hint="; do this")
    calls.clear()
    prepared.build(root, {"v": 1}, {"train": [source(0), source(1), source(2)]}, (2, 3), np.uint8, progress=False)
    assert calls == [2]   # resumed after the last finished source
    _, splits = prepared.read(root)
    assert splits["train"][1].tolist() == [0, 1, 2] and splits["train"][0][2].tolist() == [[2] * 3] * 2
    before = {n: os.path.getmtime(os.path.join(root, n)) for n in os.listdir(root)}
    with pytest.raises(InputError, match="other settings.*v: 1 there, 2 now.*nothing was changed"):
        prepared.build(root, {"v": 2}, {"train": [source(0)]}, (2, 3), np.uint8, progress=False)
    messages = []
    prepared.build(root, {"v": 1}, {"train": [source(0), source(1), source(2)]}, (2, 3), np.uint8,
                   progress=False, say=messages.append)
    assert "already prepared" in messages[0]
    assert before == {n: os.path.getmtime(os.path.join(root, n)) for n in os.listdir(root)}


def test_counts_that_do_not_fit_the_dtype_are_errors_not_wraps(tmp_path):
    src = prepared.Source("hot-pixel.aedat", 1, lambda: [(np.full((1,), 300), 0)])
    with pytest.raises(InputError, match="hot-pixel.aedat: a value \\(300\\) does not fit uint8"):
        prepared.build(str(tmp_path / "c"), {}, {"train": [src]}, (1,), np.uint8, progress=False)


# --- training on prepared data ------------------------------------------------------------------------------------

def test_prepare_then_train_end_to_end_through_the_cli(tmp_path, capsys):
    write_gesture(str(tmp_path / "raw" / "DvsGesture"))
    cache = str(tmp_path / "cache")
    assert cli.main(["prepare", "dvs_gesture", "--raw", str(tmp_path / "raw"), "--data-dir", cache,
                     "--timesteps", "4", "--size", "16", "--no-progress", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sizes"] == {"train": 5, "test": 3} and report["disk_bytes"] == 8 * 4 * 16 * 16 * 2 * 2
    run = ["train", "--dataset", "dvs_gesture", "--data-dir", cache, "--frame-size", "16", "--model", "vgg_tiny",
           "--neuron", "lif", "--epochs", "1", "--batch-size", "4", "--no-progress", "--json"]
    assert cli.main(run + ["--timesteps", "4", "--workdir", str(tmp_path / "run")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "completed" and 0.0 <= summary["test_accuracy"] <= 1.0
    # other settings than prepared: one line naming what is there and the command that prepares the asked ones
    assert cli.main(run + ["--timesteps", "8", "--workdir", str(tmp_path / "run8")]) == 2
    err = capsys.readouterr().err
    assert "T8-count-16x16 is not prepared" in err and "holds dvs_gesture as: T4-count-16x16" in err
    assert "revsnn prepare dvs_gesture --raw RAW --data-dir" in err and "--timesteps 8 --size 16" in err
    assert not os.path.exists(tmp_path / "run8")


def test_event_batches_are_time_major_and_augmentation_moves_all_frames_alike():
    rng = np.random.default_rng(5)
    base = rng.integers(1, 5, (6, 1, 8, 8, 2)).astype(np.float32)
    x = base * np.arange(1, 4, dtype=np.float32)[None, :, None, None, None]   # frame t = (t + 1) * frame 0
    ds = data.Dataset("e", x, np.arange(6, dtype=np.int32), x, np.arange(6, dtype=np.int32), 10, True,
                      ("crop", "flip", "roll"))
    (batch, labels), = list(data.train_batches(ds, 6, 0, 0, augment=False))
    assert batch.shape == (3, 6, 8, 8, 2)
    np.testing.assert_array_equal(batch.swapaxes(0, 1), x[labels])
    for ops in (("crop",), ("flip",), ("roll",), ("crop", "flip", "roll")):
        out = data.augment_batch(x, np.random.default_rng(1), ops)
        assert out.shape == x.shape and not np.array_equal(out, x)
        for t in range(3):   # one spatial transform per sample, the same for all its frames
            np.testing.assert_array_equal(out[:, t], out[:, 0] * (t + 1))
    rolled = data.augment_batch(x, np.random.default_rng(2), ("roll",))
    assert np.array_equal(np.sort(rolled.reshape(6, -1), 1), np.sort(x.reshape(6, -1), 1))   # a roll drops nothing
    flipped = data.augment_batch(x, np.random.default_rng(3), ("flip",))
    assert all(np.array_equal(f, s) or np.array_equal(f, s[..., ::-1, :]) for f, s in zip(flipped, x))
    images = x[:, 0]   # 4-D images take the same path; crop + flip keeps the standard CIFAR recipe's draws
    a = data.augment_batch(images, np.random.default_rng(7))
    r = np.random.default_rng(7)
    dy, dx = r.integers(0, 9, size=(2, 6))
    flip = r.random(6) < 0.5
    padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
    for b in range(6):
        want = padded[b, dy[b]:dy[b] + 8, dx[b]:dx[b] + 8]
        np.testing.assert_array_equal(a[b], want[:, ::-1] if flip[b] else want)


# --- CIFAR from the official archive ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_from_the_official_archive_without_tensorflow(tmp_path, name):
    truth = write_cifar_archive(str(tmp_path / "a.tar.gz"), name)
    cache = str(tmp_path / "cache")
    cifar.prepare_cifar(name, str(tmp_path / "a.tar.gz"), cache, progress=False, say=lambda m: None)
    ds = data.load(name, cache)
    assert len(ds.train_labels) == len(truth["train"][1]) and ds.num_classes == (10 if name == "cifar10" else 100)
    np.testing.assert_array_equal(ds.test_labels, truth["test"][1])
    raw = truth["train"][0].astype(np.float64) / 255
    want = (raw - raw.mean((0, 1, 2))) / (raw.std((0, 1, 2)) + 1e-8)
    np.testing.assert_allclose(ds.train_images, want, atol=1e-5)
    (tmp_path / "broken.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(InputError, match="broken.tar.gz: not a readable tar archive"):
        cifar.prepare_cifar(name, str(tmp_path / "broken.tar.gz"), str(tmp_path / "c2"), progress=False)


class _RunsCode:
    """What a crafted batch could hold: unpickling it calls os.system."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.mark.parametrize("member_of", ["data", "batch"])
def test_a_crafted_cifar_archive_is_refused_and_runs_nothing(tmp_path, capsys, member_of):
    """A batch that pickles a callable (here os.system creating a file) is refused in one line naming what it
    calls; the file is never created and no cache is built."""
    marker = tmp_path / "pwned"
    payload = _RunsCode(f"touch {marker}")
    batch = {b"data": payload, b"labels": [0]} if member_of == "data" else payload
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        for member in cifar.CIFAR_ARCHIVES["cifar10"][1] + cifar.CIFAR_ARCHIVES["cifar10"][2]:
            raw = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{member}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    code = cli.main(["prepare", "cifar10", "--raw", str(tmp_path / "cifar-10-python.tar.gz"), "--data-dir",
                     str(tmp_path / "data"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and not marker.exists()
    assert err.count("\n") == 1 and "data_batch_1 is not a CIFAR batch: it names posix.system" in err
    assert not (tmp_path / "data").exists()


def test_a_missing_event_cache_fails_fast_with_the_command(tmp_path):
    with pytest.raises(InputError, match=r"nmnist with settings T20-count-32x32 is not prepared in .*"
                                         r"`revsnn prepare nmnist --raw RAW --data-dir .* --timesteps 20 --size 32`"):
        data.load("nmnist", str(tmp_path), ed.FrameSettings(size=32))


def test_event_digits_are_the_saccade_streams_of_the_digits_binned(tmp_path):
    from sklearn.datasets import load_digits
    fs = ed.FrameSettings(timesteps=20, size=16)
    splits = ed.EVENT_DATASETS["event_digits"].sources(None, fs, ed._frames(ed.EVENT_DATASETS["event_digits"], fs))
    train_idx, test_idx = data.digits_split()
    assert sum(s.count for s in splits["train"]) == len(train_idx) == 1437 and \
        sum(s.count for s in splits["test"]) == len(test_idx) == 360
    first = list(splits["test"][0].load())
    digits = load_digits()
    for i, (frames, label) in zip(test_idx[:len(first)], first):
        stream = events.digit_saccade_events(digits.images[i], seed=int(i), step_us=ed.EVENT_DIGITS_STEP_US)
        np.testing.assert_array_equal(frames, events.to_frames(stream, (34, 34), 20, size=(16, 16)))
        assert label == digits.target[i] and frames.sum() == len(stream) > 1000
    with pytest.raises(InputError, match="takes no --raw"):
        ed.prepare_events("event_digits", str(tmp_path), str(tmp_path), fs)


def test_prepare_cifar_through_the_cli(tmp_path, capsys):
    write_cifar_archive(str(tmp_path / "cifar-10-python.tar.gz"), "cifar10", per_batch=2)
    args = ["prepare", "cifar10", "--raw", str(tmp_path / "cifar-10-python.tar.gz"), "--data-dir", str(tmp_path),
            "--no-progress", "--json"]
    assert cli.main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sizes"] == {"train": 10, "test": 2} and report["disk_bytes"] == 12 * 32 * 32 * 3
    assert cli.main(args + ["--timesteps", "4"]) == 2
    assert "--timesteps does not apply" in capsys.readouterr().err


# --- odd raw data: what a user with real downloads runs into ---------------------------------------------------------

def test_a_label_interval_without_events_becomes_zero_frames_with_a_warning_or_an_error(tmp_path):
    raw = str(tmp_path / "DvsGesture")
    write_gesture(raw)
    with open(os.path.join(raw, "user01_fluorescent_labels.csv"), "a") as f:
        f.write("5,1250000,1290000\n")   # after the recording's last event: nothing inside
    with open(os.path.join(raw, "user01_fluorescent_labels.csv")) as f:
        assert f.read().count("\n") == 5
    # the fake recording's events end before 1.3 s; make sure this interval is empty
    ev = event_io.read_aedat31(os.path.join(raw, "user01_fluorescent.aedat"))
    event_io.write_aedat31(os.path.join(raw, "user01_fluorescent.aedat"), ev[ev["t"] < 1_250_000], packet_size=1000)
    notes = []
    fs = ed.FrameSettings(timesteps=4, size=32)
    root = ed.prepare_events("dvs_gesture", raw, str(tmp_path / "c"), fs, progress=False, say=notes.append)
    _, splits = prepared.read(root)
    assert any("1 sample(s) had no events" in n for n in notes)
    x, y = splits["train"]
    assert len(y) == 6 and y[3] == 4 and not x[3].any() and x[0].any()   # the 4th row of user01: class 5, zeros
    with pytest.raises(InputError, match=r"user01_fluorescent.aedat \[1250000, 1290000\) us: no events"):
        ed.prepare_events("dvs_gesture", raw, str(tmp_path / "c2"), fs, progress=False, say=notes.append,
                          empty="error")


def test_trial_lists_with_bare_names_work_and_an_empty_list_is_an_error(tmp_path):
    raw = str(tmp_path / "DvsGesture")
    write_gesture(raw)
    with open(os.path.join(raw, "trials_to_train.txt"), "w") as f:
        f.write("user01_fluorescent\nuser02_lab.aedat\n")
    assert ed.gesture_trials(raw, "train") == ["user01_fluorescent.aedat", "user02_lab.aedat"]
    open(os.path.join(raw, "trials_to_test.txt"), "w").close()
    with pytest.raises(InputError, match="trials_to_test.txt: lists no recordings"):
        ed.prepare_events("dvs_gesture", raw, str(tmp_path / "c"), ed.FrameSettings(timesteps=2), progress=False)


def test_aedat2_external_events_are_not_pixel_events_and_an_empty_file_says_so(tmp_path):
    ev = make_events([10, 20], [5, 6], [7, 8], [1, 0])
    event_io.write_aedat2(str(tmp_path / "a.aedat"), ev)
    raw = (tmp_path / "a.aedat").read_bytes()
    external = np.array([(1 << 15, 15)], np.dtype([("addr", ">u4"), ("ts", ">u4")])).tobytes()
    (tmp_path / "b.aedat").write_bytes(raw + external)
    assert_same_events(event_io.read_aedat2(str(tmp_path / "b.aedat")), ev)
    (tmp_path / "empty.aedat").write_bytes(b"")
    with pytest.raises(InputError, match="empty.aedat: the file is empty"):
        event_io.read_aedat2(str(tmp_path / "empty.aedat"))


def test_sort_is_not_a_cache_setting_so_a_failed_preparation_continues_with_it(tmp_path):
    written = write_nmnist(str(tmp_path / "raw"))
    last = sorted(p for p in written if "Test" in p)[-1]
    ev = written[last]
    event_io.write_nmnist_bin(last, ev[::-1])   # one recording out of time order
    fs = ed.FrameSettings(timesteps=3)
    with pytest.raises(InputError, match="timestamps are not sorted"):
        ed.prepare_events("nmnist", str(tmp_path / "raw"), str(tmp_path / "c"), fs, progress=False,
                          say=lambda m: None)
    root = ed.prepare_events("nmnist", str(tmp_path / "raw"), str(tmp_path / "c"),
                             ed.FrameSettings(timesteps=3, sort=True), progress=False, say=lambda m: None)
    _, splits = prepared.read(root)
    np.testing.assert_array_equal(splits["test"][0][-1], events.to_frames(ev, (34, 34), 3))
