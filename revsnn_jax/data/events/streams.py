"""Event-camera streams and their frames (numpy only).

An event stream is a structured array of ``EVENT_DTYPE``: ``t`` (int64, microseconds, non-decreasing),
``x``, ``y`` (pixel column and row) and ``p`` (polarity: 0 = OFF, 1 = ON). :func:`to_frames` bins a stream
into ``T`` frames of per-pixel, per-polarity counts, ``float32 [T, H, W, 2]`` (channel 0 OFF, 1 ON), the layout a
network takes with ``encoding="frames"`` once samples are stacked on axis 1 (``[T, B, H, W, 2]``).

Binning (``by``):

* ``"count"``: equal event counts, the convention of most SNN papers on DVS data: with ``N`` events and
  ``k = N // T``, frame ``i`` takes events ``[i k, (i + 1) k)`` and the last frame also takes the remainder, so
  every event is kept. With fewer events than frames (``k = 0``) they all land in the last frame.
* ``"time"``: equal durations over the closed interval ``[t_first, t_last]`` of integer microseconds: an event at
  ``t`` goes to frame ``(t - t_first) * T // (t_last - t_first + 1)``; every event is kept, empty frames are
  zeros, a stream of one timestamp lands in frame 0.

``size=(H', W')`` bins pixels down: sensor pixel ``(y, x)`` goes to ``(y * H' // H, x * W' // W)``, which is a
sum-pooling for integer factors (128 -> 64 or 32) and a proportional binning otherwise (128 -> 48). ``binary``
clips counts to 1.

:func:`digit_saccade_events` makes an event stream from a still image the way N-MNIST was recorded (Orchard et
al. 2015: a camera moved along three saccades in front of a still digit): the image is moved along the three
sides of a small triangle, and each pixel emits an ON (OFF) event whenever its log intensity has risen (fallen)
by its contrast threshold since its last event. Deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np

from revsnn_jax.errors import InputError

EVENT_DTYPE = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
BINNINGS = ("count", "time")


def make_events(t, x, y, p) -> np.ndarray:
    """A stream of ``EVENT_DTYPE`` from four equally long sequences."""
    t, x, y, p = (np.asarray(a) for a in (t, x, y, p))
    if not t.shape == x.shape == y.shape == p.shape or t.ndim != 1:
        raise InputError(f"t, x, y, p must be 1-D of one length, got shapes {t.shape}, {x.shape}, {y.shape}, "
                         f"{p.shape}")
    events = np.empty(t.shape[0], EVENT_DTYPE)
    events["t"], events["x"], events["y"], events["p"] = t, x, y, p
    return events


def check_events(events: np.ndarray, sensor_size: tuple[int, int], name: str = "events") -> None:
    """InputError (naming ``name``, e.g. the file) unless ``events`` is a stream of ``EVENT_DTYPE`` with
    non-decreasing timestamps, pixels inside ``sensor_size = (H, W)`` and polarities 0/1."""
    if not isinstance(events, np.ndarray) or events.dtype.names is None or \
            not {"t", "x", "y", "p"} <= set(events.dtype.names):
        raise InputError(f"{name}: expected a structured array with fields t, x, y, p (see make_events)")
    if events.ndim != 1:
        raise InputError(f"{name}: expected a 1-D event array, got shape {events.shape}")
    h, w = sensor_size
    if events.size == 0:
        return
    dt = np.diff(events["t"].astype(np.int64))
    if (dt < 0).any():
        i = int(np.argmax(dt < 0))
        raise InputError(f"{name}: timestamps are not sorted (event {i + 1} at t={int(events['t'][i + 1])} comes "
                         f"after t={int(events['t'][i])}); sort by t first")
    for field, size, what in (("x", w, "width"), ("y", h, "height")):
        v = events[field].astype(np.int64)
        bad = (v < 0) | (v >= size)
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(f"{name}: event {i} has {field}={int(v[i])}, outside the sensor's {what} {size}")
    p = events["p"].astype(np.int64)
    if ((p != 0) & (p != 1)).any():
        raise InputError(f"{name}: polarities must be 0 (OFF) or 1 (ON), found {sorted(set(p.tolist()) - {0, 1})}")


def frame_index(t: np.ndarray, timesteps: int, by: str = "count") -> np.ndarray:
    """The frame (``0 .. timesteps - 1``) of each event of a sorted stream with timestamps ``t`` (module doc)."""
    if by not in BINNINGS:
        raise InputError(f"unknown binning {by!r}; valid binnings: {', '.join(BINNINGS)}")
    if timesteps < 1:
        raise InputError(f"timesteps must be >= 1, got {timesteps}")
    n = len(t)
    if n == 0:
        return np.zeros(0, np.int64)
    if by == "count":
        per = n // timesteps
        if per == 0:
            return np.full(n, timesteps - 1, np.int64)
        return np.minimum(np.arange(n) // per, timesteps - 1)
    t = t.astype(np.int64)
    span = int(t[-1] - t[0]) + 1
    return (t - t[0]) * timesteps // span


def to_frames(events: np.ndarray, sensor_size: tuple[int, int], timesteps: int, *, by: str = "count",
              size: tuple[int, int] | None = None, binary: bool = False, name: str = "events") -> np.ndarray:
    """``float32 [timesteps, H', W', 2]`` counts of ``events`` (checked first) per frame, pixel and polarity."""
    check_events(events, sensor_size, name)
    h, w = sensor_size
    oh, ow = size or sensor_size
    if not (1 <= oh <= h and 1 <= ow <= w):
        raise InputError(f"size {(oh, ow)} must lie between (1, 1) and the sensor size {(h, w)}")
    frame = frame_index(events["t"], timesteps, by)
    y = events["y"].astype(np.int64) * oh // h
    x = events["x"].astype(np.int64) * ow // w
    flat = ((frame * oh + y) * ow + x) * 2 + events["p"].astype(np.int64)
    counts = np.bincount(flat, minlength=timesteps * oh * ow * 2).reshape(timesteps, oh, ow, 2)
    if binary:
        counts = np.minimum(counts, 1)
    return counts.astype(np.float32)


def digit_saccade_events(image: np.ndarray, seed: int, *, canvas: int = 34, scale: int = 3,
                         saccade_ms: float = 100.0, amplitude: float = 2.0, threshold: float = 0.15,
                         threshold_spread: float = 0.03, step_us: int = 1000) -> np.ndarray:
    """An N-MNIST-like event stream of a still grey image (values >= 0, e.g. scikit-learn's 8x8 digits 0..16).

    The image, enlarged ``scale`` times (nearest neighbour) and centred on a ``canvas x canvas`` sensor, moves
    along the three sides of a triangle of ``amplitude`` pixels, ``saccade_ms`` per side, sampled every
    ``step_us`` microseconds with bilinear interpolation. Each pixel keeps the log intensity of its last event;
    whenever the current one differs by ``n`` whole contrast thresholds, it emits ``n`` events of that sign and
    moves its reference by ``n`` thresholds. Thresholds vary per pixel (normal, ``threshold_spread``), and the
    triangle's start and orientation are drawn from ``seed``: the same seed gives the same stream. Events are
    sorted by time (then by pixel, row-major).
    """
    rng = np.random.default_rng(seed)
    img = np.asarray(image, np.float64)
    if img.ndim != 2 or (img < 0).any():
        raise InputError(f"image must be a 2-D array of non-negative intensities, got shape {img.shape}")
    big = np.kron(img / max(img.max(), 1e-12), np.ones((scale, scale)))
    if max(big.shape) + 2 * amplitude + 2 > canvas:
        raise InputError(f"a {big.shape} image moved by {amplitude} px does not fit a {canvas}x{canvas} canvas")
    sensor = np.zeros((canvas, canvas))
    top, left = (canvas - big.shape[0]) // 2, (canvas - big.shape[1]) // 2
    sensor[top:top + big.shape[0], left:left + big.shape[1]] = big
    angle = rng.uniform(0, 2 * np.pi)
    corners = [amplitude * np.array([np.cos(angle + k * 2 * np.pi / 3), np.sin(angle + k * 2 * np.pi / 3)])
               for k in range(3)]
    steps = int(round(saccade_ms * 1000 / step_us))
    path = np.concatenate([np.linspace(corners[k], corners[(k + 1) % 3], steps, endpoint=False)
                           for k in range(3)] + [corners[:1]])
    thresholds = np.clip(rng.normal(threshold, threshold_spread, sensor.shape), 0.05, None)
    seen = np.log(0.05 + _shifted(sensor, path))   # [steps, H, W]; the floor keeps black pixels finite
    reference = seen[0].copy()
    ts, xs, ys, ps = [], [], [], []
    for i in range(1, len(path)):   # sequential: each step's events depend on the references the last one left
        diff = seen[i] - reference
        n = np.trunc(diff / thresholds).astype(np.int64)
        rows, cols = np.nonzero(n)
        if rows.size == 0:
            continue
        counts = np.abs(n[rows, cols])
        reference[rows, cols] += n[rows, cols] * thresholds[rows, cols]
        ts.append(np.full(counts.sum(), i * step_us, np.int64))
        ys.append(np.repeat(rows, counts))
        xs.append(np.repeat(cols, counts))
        ps.append(np.repeat((n[rows, cols] > 0).astype(np.uint8), counts))
    if not ts:
        return np.zeros(0, EVENT_DTYPE)
    return make_events(*(np.concatenate(a) for a in (ts, xs, ys, ps)))


def _shifted(a: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``[len(offsets), H, W]``: ``a`` moved by each ``(dy, dx)`` of ``offsets`` (bilinear; zeros come in at the
    borders), all at once."""
    h, w = a.shape
    sy = np.arange(h)[None, :, None] - offsets[:, 0, None, None]
    sx = np.arange(w)[None, None, :] - offsets[:, 1, None, None]
    y0, x0 = np.floor(sy).astype(int), np.floor(sx).astype(int)
    fy, fx = sy - y0, sx - x0
    out = np.zeros((len(offsets), h, w))
    for oy, wy in ((0, 1 - fy), (1, fy)):
        for ox, wx in ((0, 1 - fx), (1, fx)):
            r, c = y0 + oy, x0 + ox   # [S, H, 1] and [S, 1, W]
            inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
            out += np.where(inside, a[np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)], 0.0) * wy * wx
    return out
