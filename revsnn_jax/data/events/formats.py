"""Readers of the raw published event-camera formats (numpy only; no tonic, no torch).

Each returns a stream of ``EVENT_DTYPE`` (``t`` in microseconds, ``x`` column,
``y`` row, ``p`` 0 = OFF / 1 = ON) and raises :class:`~revsnn_jax.errors.InputError` naming the file on anything it
cannot read. Every format stores events in recording order; the readers return them as stored (a stream whose
timestamps go back is reported when it is binned, by :func:`revsnn_jax.data.events.streams.check_events`).

==================== ===================================================================================
format               layout (all checked against files written in that layout by the tests)
==================== ===================================================================================
N-MNIST ``.bin``     no header; 5 bytes per event: x, y, (p << 7) | t[22:16], t[15:8], t[7:0]. Records with
(Orchard et al.      y = 240 mark a timestamp overflow: they are dropped and 2^13 us is added to every later
2015, ATIS 34x34)    timestamp, as the dataset authors' reader does (recordings last about 0.3 s, so none of the
                     published files has such a record).
AEDAT 3.1            ASCII header lines starting with ``#`` (the first ``#!AER-DAT3.1``) up to
(DVS128-Gesture,     ``#!END-HEADER``; then packets: a 28-byte little-endian header (int16 eventType, int16
Amir et al. 2017)    eventSource, int32 eventSize, eventTSOffset, eventTSOverflow, eventCapacity, eventNumber,
                     eventValid) and ``eventCapacity * eventSize`` bytes of events. Polarity packets
                     (eventType 1, 8 bytes per event) hold uint32 data (bit 0 valid, bit 1 polarity, bits
                     2-16 y, bits 17-31 x) and int32 timestamp; time = timestamp + (eventTSOverflow << 31).
                     Other packet types are skipped, and so are events whose valid bit is 0.
AEDAT 2.0            ASCII header lines starting with ``#`` (the first ``#!AER-DAT2.0``); then big-endian
(CIFAR10-DVS, Li     pairs of uint32 address and uint32 timestamp. Address bit 0 is the polarity bit, bits
et al. 2017,         1-7 x_raw, bits 8-14 y_raw; bit 15 set marks an external event, which is dropped. We orient
DVS128)              as SpikingJelly's CIFAR10-DVS loader does (the convention of most published results):
                     x = 127 - y_raw, y = 127 - x_raw, p = 1 - bit 0.
==================== ===================================================================================

The convention of every reader: ``p = 1`` is ON (brightness up), ``p = 0`` OFF, and frames put OFF in channel 0
and ON in channel 1. N-MNIST's and AEDAT 3.1's polarity bits are read as stored; AEDAT 2.0's bit 0 is read
inverted (``p = 1 - bit 0``), as SpikingJelly reads CIFAR10-DVS, and written back inverted by
:func:`write_aedat2`.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from revsnn_jax.errors import InputError
from revsnn_jax.data.events.streams import EVENT_DTYPE, make_events

NMNIST_OVERFLOW_Y = 240
AEDAT31_PACKET = struct.Struct("<hhiiiiii")
AEDAT_POLARITY_EVENT = 1
AEDAT2_EXTERNAL_EVENT = 1 << 15
"""Bit 15 of a DVS128 AEDAT 2.0 address marks an external (special) event, not a pixel: such records are dropped."""


def read_nmnist_bin(path: str) -> np.ndarray:
    """The events of one N-MNIST (or N-Caltech101) ``.bin`` recording."""
    raw = _read(path)
    if len(raw) % 5:
        raise InputError(f"{path}: {len(raw)} bytes is not a whole number of 5-byte N-MNIST events (truncated?)")
    b = np.frombuffer(raw, np.uint8).reshape(-1, 5).astype(np.int64)
    t = ((b[:, 2] & 127) << 16) | (b[:, 3] << 8) | b[:, 4]
    overflow = b[:, 1] == NMNIST_OVERFLOW_Y
    t = t + (np.cumsum(overflow) << 13)   # the dataset authors' reader adds 2^13 per marker
    keep = ~overflow
    return make_events(t[keep], b[keep, 0], b[keep, 1], b[keep, 2] >> 7)


def write_nmnist_bin(path: str, events: np.ndarray) -> None:
    """Writes ``events`` in the N-MNIST ``.bin`` format (timestamps below 2^23 us): for tests and tools."""
    t = events["t"].astype(np.int64)
    if len(t) and (t.min() < 0 or t.max() >= 1 << 23):
        raise InputError("N-MNIST .bin timestamps must lie in [0, 2^23) us")
    rec = np.stack([events["x"], events["y"], (events["p"].astype(np.int64) << 7) | ((t >> 16) & 127),
                    (t >> 8) & 255, t & 255], axis=1).astype(np.uint8)
    _write(path, rec.tobytes())


def _header_end(raw: bytes, path: str, magic: bytes) -> int:
    """Offset of the first byte after the ``#`` header lines; checks the first line is ``magic``."""
    if not raw:
        raise InputError(f"{path}: the file is empty (expected an {magic[2:].decode()} file)")
    if not raw.startswith(magic):
        first = raw[:20].split(b"\n")[0].rstrip(b"\r")
        raise InputError(f"{path}: not an {magic[2:].decode()} file (it starts with {first!r}, expected {magic!r})")
    pos = 0
    while pos < len(raw) and raw[pos:pos + 1] == b"#":
        nl = raw.find(b"\n", pos)
        if nl < 0:
            raise InputError(f"{path}: header line without an end (truncated file?)")
        line = raw[pos:nl].rstrip(b"\r")
        pos = nl + 1
        if line == b"#!END-HEADER":
            break
    return pos


def read_aedat31(path: str) -> np.ndarray:
    """The polarity events of one AEDAT 3.1 file (DVS128-Gesture's recordings)."""
    raw = _read(path)
    pos = _header_end(raw, path, b"#!AER-DAT3.1")
    data, stamps = [], []
    while pos < len(raw):
        if pos + AEDAT31_PACKET.size > len(raw):
            raise InputError(f"{path}: truncated packet header at byte {pos}")
        kind, _, size, _, overflow, capacity, _, _ = AEDAT31_PACKET.unpack_from(raw, pos)
        pos += AEDAT31_PACKET.size
        if size < 0 or capacity < 0:
            raise InputError(f"{path}: corrupt packet header at byte {pos - AEDAT31_PACKET.size} (event size {size},"
                             f" capacity {capacity})")
        end = pos + size * capacity
        if end > len(raw):
            raise InputError(f"{path}: packet at byte {pos - AEDAT31_PACKET.size} needs {size * capacity} bytes, "
                             f"{len(raw) - pos} left (truncated file?)")
        if kind == AEDAT_POLARITY_EVENT:
            if size != 8:
                raise InputError(f"{path}: polarity packet with {size}-byte events (AEDAT 3.1 has 8)")
            rec = np.frombuffer(raw, np.dtype([("data", "<u4"), ("ts", "<i4")]), capacity, pos)
            valid = (rec["data"] & 1).astype(bool)
            data.append(rec["data"][valid])
            stamps.append(rec["ts"][valid].astype(np.int64) + (int(overflow) << 31))
        pos = end
    if not data:
        return np.zeros(0, EVENT_DTYPE)
    d, t = np.concatenate(data).astype(np.int64), np.concatenate(stamps)
    return make_events(t, (d >> 17) & 0x7FFF, (d >> 2) & 0x7FFF, (d >> 1) & 1)


def write_aedat31(path: str, events: np.ndarray, packet_size: int = 4096) -> None:
    """Writes ``events`` as an AEDAT 3.1 file of polarity packets (for tests and tools)."""
    out = [b"#!AER-DAT3.1\r\n", b"#Format: RAW\r\n", b"#Source 1: DVS128\r\n", b"#!END-HEADER\r\n"]
    for start in range(0, len(events), packet_size):
        chunk = events[start:start + packet_size]
        t = chunk["t"].astype(np.int64)
        overflow = int(t[0] >> 31)
        if (t >> 31 != overflow).any():
            raise InputError("a packet's timestamps must share their overflow (bits 31 and up)")
        rec = np.empty(len(chunk), np.dtype([("data", "<u4"), ("ts", "<i4")]))
        rec["data"] = ((chunk["x"].astype(np.uint32) << 17) | (chunk["y"].astype(np.uint32) << 2)
                       | (chunk["p"].astype(np.uint32) << 1) | 1)
        rec["ts"] = (t & 0x7FFFFFFF).astype(np.int32)
        n = len(chunk)
        out += [AEDAT31_PACKET.pack(AEDAT_POLARITY_EVENT, 1, 8, 4, overflow, n, n, n), rec.tobytes()]
    _write(path, b"".join(out))


def read_aedat2(path: str) -> np.ndarray:
    """The events of one AEDAT 2.0 DVS128 file (CIFAR10-DVS's original recordings), oriented as documented."""
    raw = _read(path)
    pos = _header_end(raw, path, b"#!AER-DAT2.0")
    if (len(raw) - pos) % 8:
        raise InputError(f"{path}: {len(raw) - pos} bytes of events is not a whole number of 8-byte records "
                         "(truncated?)")
    rec = np.frombuffer(raw, np.dtype([("addr", ">u4"), ("ts", ">u4")]), offset=pos).astype(
        [("addr", np.int64), ("ts", np.int64)])
    rec = rec[(rec["addr"] & AEDAT2_EXTERNAL_EVENT) == 0]   # external (special) events are not pixel events
    a = rec["addr"]
    return make_events(rec["ts"], 127 - ((a >> 8) & 127), 127 - ((a >> 1) & 127), 1 - (a & 1))


def write_aedat2(path: str, events: np.ndarray) -> None:
    """Writes ``events`` (oriented as :func:`read_aedat2` returns them) as an AEDAT 2.0 file."""
    rec = np.empty(len(events), np.dtype([("addr", ">u4"), ("ts", ">u4")]))
    x_raw = 127 - events["y"].astype(np.int64)
    y_raw = 127 - events["x"].astype(np.int64)
    rec["addr"] = (y_raw << 8) | (x_raw << 1) | (1 - events["p"].astype(np.int64))
    rec["ts"] = events["t"]
    _write(path, b"#!AER-DAT2.0\r\n# This is a raw AE data file\r\n" + rec.tobytes())


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None


def _write(path: str, payload: bytes) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(payload)
