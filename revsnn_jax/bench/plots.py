"""Every figure the project draws (matplotlib, written as PNG; nothing is shown on screen)."""

from __future__ import annotations


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def curves(runs: dict[str, list[dict]], path: str, title: str | None = None) -> None:
    """Loss and accuracy per epoch (train dashed, test solid) of one or more runs' ``metrics.jsonl`` records."""
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, (label, records) in enumerate(runs.items()):
        epochs = [r["epoch"] for r in records]
        for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            ax.plot(epochs, [r[f"train_{key}"] for r in records], color=f"C{i}", ls="--", label=f"{label} train")
            ax.plot(epochs, [r[f"test_{key}"] for r in records], color=f"C{i}", label=f"{label} test")
    for ax, name in ((ax_loss, "cross-entropy loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    ax_loss.set_yscale("log")
    ax_acc.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _family_and_depth(model: str) -> tuple[bool, int]:
    """Sort key for grid models: VGGs, then ResNets, each by depth."""
    family = model.rstrip("0123456789")
    return family == "resnet", int(model[len(family):] or 0)


def memory_grid(rows: list[dict], path: str, title: str) -> None:
    """Memory vs T per model (one panel each), one line per configuration (Fig. 5)."""
    plt = _pyplot()
    models = sorted(dict.fromkeys(r["model"] for r in rows), key=_family_and_depth)
    cols = (len(models) + 1) // 2
    fig, axes = plt.subplots(2, cols, figsize=(4 * cols, 7), squeeze=False)
    for ax, m in zip(axes.ravel(), models):
        for c in dict.fromkeys(r["config"] for r in rows):
            pts = sorted((int(r["timesteps"]), int(r["temp_bytes"]) / 2**30) for r in rows
                         if r["model"] == m and r["config"] == c)
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=3, label=c)
        ax.set_title(m)
        ax.set_xlabel("timesteps T")
        ax.set_ylabel("GiB (XLA temp)")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(models):]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def memory_vs_t(rows: list[dict], path: str, title: str, limit_bytes: int | None = None,
                limit_label: str = "this machine's memory") -> None:
    """Memory vs T of one model, one line per configuration, log-log (T up to the largest measured). With
    ``limit_bytes``, a line stops at the last T whose step fits in that memory (the step beyond it could not run
    here), and the limit is drawn."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for c in dict.fromkeys(r["config"] for r in rows):
        pts = sorted((int(r["timesteps"]), int(r["temp_bytes"]) / 2**20) for r in rows if r["config"] == c)
        kept = [p for p in pts if limit_bytes is None or p[1] * 2**20 <= limit_bytes]
        if not kept:   # listed, not drawn: not even its smallest T fits
            ax.plot([], [], ls="none", marker="x", label=f"{c}: no T fits ({pts[0][1] / 1024:.1f} GiB at "
                                                         f"T={pts[0][0]})")
            continue
        label = c if len(kept) == len(pts) else f"{c} (T > {kept[-1][0]} does not fit)"
        ax.plot(*zip(*kept), marker="o", ms=3, label=label)
    if limit_bytes is not None:
        ax.axhline(limit_bytes / 2**20, color="k", ls="--", lw=0.8,
                   label=f"{limit_label} ({limit_bytes / 2**30:.0f} GiB)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("timesteps T")
    ax.set_ylabel("MiB (XLA temp of one training step)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=6, loc="lower right")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def time_grid(rows: list[dict], path: str, title: str, configs=("anchored+closed_form", "inverse_grad",
                                                                "anchored+closed_form+keep_convs",
                                                                "inverse_grad+keep_convs", "checkpoint",
                                                                "exact_rev:reverse")) -> None:
    """Training-step time / BPTT vs T per model (Fig. 6 counterpart)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = ["-", "-", "--", "--", ":", "-."]
    for i, m in enumerate(dict.fromkeys(r["model"] for r in rows)):
        for c, ls in zip(configs, styles):
            pts = sorted((int(r["timesteps"]), float(r["step_vs_bptt"])) for r in rows
                         if r["model"] == m and r["config"] == c)
            if pts:
                ax.plot(*zip(*pts), color=f"C{i}", ls=ls, marker="o", ms=3, label=f"{m} {c}")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xlabel("timesteps T")
    ax.set_ylabel("training-step time / BPTT")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def ablation(summary: list[dict], param: str, path: str, title: str) -> None:
    """Test accuracy (mean +- std over seeds) against one hyperparameter (Fig. 7 counterpart)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for i, series in enumerate(dict.fromkeys(s.get("series", "") for s in summary)):
        part = [s for s in summary if s.get("series", "") == series]
        ax.errorbar([s[param] for s in part], [100 * s["mean"] for s in part], yerr=[100 * s["std"] for s in part],
                    marker="o", capsize=3, color=f"C{i}", label=series or None)
    if param == "groups":
        ax.set_xscale("log", base=2)
    ax.set_xlabel(param)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if any(s.get("series") for s in summary):
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
