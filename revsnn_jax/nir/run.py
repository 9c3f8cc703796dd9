"""What ``revsnn export`` does: a training run's network written as a NIR file, and optionally read back and run
here against the run's own model."""

from __future__ import annotations

import os

import numpy as np

from revsnn_jax.errors import InputError
from revsnn_jax.nir.compare import compare_graphs, compare_runs
from revsnn_jax.nir.export import DEFAULT_DT, _nir, to_nir
from revsnn_jax.nir.importer import from_nir


def export_run(workdir: str, path: str | None = None, *, dt: float | None = None, check: bool = False,
               force: bool = False, exact_threshold: bool = False) -> dict:
    """Writes the newest checkpoint of the run in ``workdir`` (evaluation mode) as a NIR graph at ``path``
    (default ``WORKDIR/model.nir``; a complete file or none) and returns a report. ``check``: read the file back,
    compare it field by field and run it here on random inputs against the run's model; the report's ``"check"``
    says ``passed`` (equal, or differing only where float32 rounding at a threshold flips a spike) or ``failed``.
    ``exact_threshold``: :func:`~revsnn_jax.nir.to_nir`'s option for simulators that compare in float64."""
    from revsnn_jax.train import load_trained
    nir = _nir()   # a missing optional package is reported before anything is loaded
    path = path or os.path.join(workdir, "model.nir")
    if os.path.isdir(path) or (os.path.exists(path) and not force):
        raise InputError(f"{path} exists; pass --force to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {path}: {folder} is not a folder")
    dt = DEFAULT_DT if dt is None else dt
    cfg, model, meta = load_trained(workdir)
    graph = to_nir(model, input_shape=cfg.input_shape(), dt=dt, timesteps=cfg.timesteps, encoding=cfg.encoding,
                   exact_threshold=exact_threshold)
    nir.write(path + ".tmp", graph)
    os.replace(path + ".tmp", path)
    report = {"nir": path, "workdir": workdir, "epochs_done": meta.get("epochs_done"), "model": cfg.model,
              "neuron": cfg.neuron, "dt": dt, "timesteps": cfg.timesteps, "encoding": cfg.encoding,
              "nodes": len(graph.nodes), "edges": len(graph.edges)}
    if check:
        read = nir.read(path)
        diffs = compare_graphs(graph, read)
        image = np.random.default_rng(0).normal(0.0, 1.0, (8, *cfg.input_shape())).astype(np.float32)
        frames = np.random.default_rng(0).normal(0.0, 1.0, (cfg.timesteps, *image.shape)).astype(np.float32) \
            if cfg.encoding == "frames" else np.broadcast_to(image, (cfg.timesteps, *image.shape))
        runs = compare_runs(model, from_nir(read), frames)
        close = runs["max_logit_error"] <= 1e-5 * max(runs["max_logit"], 1.0)
        first = runs["first_difference"]
        ok = not diffs and (close or bool(first and first["rounding"]))
        report.update(fields_differing=len(diffs), differing=diffs[:10], **runs, check="passed" if ok else "failed")
    return report
