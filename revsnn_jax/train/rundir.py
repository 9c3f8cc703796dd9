"""A training run's folder: checked before use, held by one process at a time, its metrics kept consistent.

``WORKDIR/`` holds ``config.json``, ``metrics.jsonl`` (one JSON line per finished epoch, plus event lines such as
a divergence), ``checkpoints/`` (orbax, :mod:`revsnn_jax.train.checkpoints`) and ``.lock`` while a run holds it.

* :func:`check_usable` says, without creating anything, whether a path can be a workdir.
* :class:`Lock` is one writer per workdir: an exclusive ``fcntl`` lock on ``WORKDIR/.lock`` (released by the
  kernel when its process dies, so a killed run never blocks the next one) whose file records the holder's pid,
  host and start time for the message a second run prints.
* Metrics lines are valid JSON always (:func:`json_safe` writes non-finite numbers as ``null``) and
  :func:`truncate_metrics` cuts the file back to the epochs a checkpoint holds, so a resumed run never repeats an
  epoch.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import math
import os
import shutil
import socket

from revsnn_jax.errors import InputError

METRICS = "metrics.jsonl"
LOCK = ".lock"


def check_usable(workdir: str) -> None:
    """Raises InputError (one line) if ``workdir`` cannot hold a run: it is a file, lies under a file, or it (or
    the nearest folder above it that exists) is not writable. Creates nothing."""
    path = os.path.abspath(workdir)
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise InputError(f"workdir {workdir!r} is a file, not a folder; choose another --workdir")
        if not os.access(path, os.W_OK | os.X_OK):
            raise InputError(f"workdir {workdir!r} is not writable by this user")
        return
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise InputError(f"workdir {workdir!r} cannot be created: {parent!r} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"workdir {workdir!r} cannot be created: {parent!r} is not writable by this user")


def create(workdir: str) -> str | None:
    """Checks ``workdir`` (:func:`check_usable`) and creates it if needed. Returns the topmost folder this call
    created (to remove again if the run fails before it starts), or None if ``workdir`` already existed.
    InputError (one line, nothing left behind) if it cannot be created."""
    check_usable(workdir)
    path = os.path.abspath(workdir)
    if os.path.isdir(path):
        return None
    top = path
    while not os.path.exists(os.path.dirname(top)):
        top = os.path.dirname(top)
    try:
        os.makedirs(path)
    except OSError as e:
        if os.path.isdir(top):
            shutil.rmtree(top, ignore_errors=True)
        raise InputError(f"workdir {workdir!r} cannot be created: {e.strerror} ({e.filename})") from None
    return top


class Lock:
    """An exclusive hold on a workdir for the life of one run (``with Lock(workdir) as lock: ...``).

    Taking it fails at once with an InputError naming the holder when another live process holds it. A lock file
    left by a process that died (SIGKILL, power loss) holds no ``fcntl`` lock any more: it is taken over, and
    :attr:`stale` describes the dead holder so the run can say so. ``fcntl`` locks are per host; on a network file
    system shared by several hosts use one workdir per host.
    """

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, LOCK)
        self.stale: str | None = None
        self._fd: int | None = None

    def acquire(self) -> "Lock":
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise InputError(f"cannot write to workdir {os.path.dirname(self.path)!r}: {e.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise InputError(f"{os.path.dirname(self.path)} is in use by {_holder(self.path)}; wait for it "
                                 "to finish or choose another --workdir") from None
            try:   # the holder may have removed the file between our open and our flock: lock the file on disk
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        previous = _read(fd)
        if previous:
            self.stale = _describe(previous)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "started": _now()}).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.remove(self.path)   # removed while still held: no other process can take a half-removed lock
        except FileNotFoundError:
            pass
        os.close(self._fd)   # closing releases the flock
        self._fd = None

    def __enter__(self) -> "Lock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read(fd: int) -> dict | None:
    raw = os.pread(fd, 4096, 0)
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _holder(path: str) -> str:
    try:
        with open(path) as f:
            return _describe(json.load(f))
    except (OSError, ValueError):
        return "another process"


def _describe(info: dict) -> str:
    return f"process {info.get('pid')} on {info.get('host')} (since {info.get('started')})"


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


# --- metrics.jsonl -------------------------------------------------------------------------------------------

def json_safe(value):
    """``value`` with every non-finite float replaced by None, so that ``json.dumps`` writes standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps(value) -> str:
    """Standard JSON (``NaN``/``Infinity`` become ``null``)."""
    return json.dumps(json_safe(value), allow_nan=False)


def read_lines(workdir: str) -> list[dict]:
    """Every line of ``WORKDIR/metrics.jsonl``: epoch records and event records (those with an ``"event"``)."""
    path = os.path.join(workdir, METRICS)
    if not os.path.exists(path):
        raise InputError(f"no {METRICS} in {workdir}")
    out = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                if not line.endswith("\n"):   # a last line cut off mid-write: that epoch has no checkpoint either
                    continue
                raise InputError(f"{path} line {number} is not JSON: {line.strip()[:80]!r}") from None
    return out


def read_metrics(workdir: str) -> list[dict]:
    """The epoch records of ``WORKDIR/metrics.jsonl`` (one per finished epoch, in order)."""
    return [r for r in read_lines(workdir) if "event" not in r]


def append(workdir: str, record: dict) -> None:
    """Appends one record as a line of standard JSON and flushes it to disk."""
    with open(os.path.join(workdir, METRICS), "a") as f:
        f.write(dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def truncate_metrics(workdir: str, epochs_done: int) -> int:
    """Keeps the epoch records of epochs ``1..epochs_done`` (the first of each) and every event (the run's
    history: a divergence stays on record after a resume); drops the rest: records of epochs a killed run wrote
    but never checkpointed, and repeats. Returns how many lines went."""
    path = os.path.join(workdir, METRICS)
    if not os.path.exists(path):
        return 0
    lines = read_lines(workdir)
    keep, seen = [], set()
    for r in lines:
        epoch = r.get("epoch", 0)
        if "event" in r:
            keep.append(r)
        elif epoch <= epochs_done and epoch not in seen:
            seen.add(epoch)
            keep.append(r)
    if len(keep) != len(lines) or _has_partial_line(path):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.writelines(dumps(r) + "\n" for r in keep)
        os.replace(tmp, path)
    return len(lines) - len(keep)


def _has_partial_line(path: str) -> bool:
    with open(path, "rb") as f:
        data = f.read()
    return bool(data) and not data.endswith(b"\n")
