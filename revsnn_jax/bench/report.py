"""Benchmark results as rows: a table for the terminal, CSV + JSON files carrying the command that made them."""

from __future__ import annotations

import csv
import json
import os
import sys
from typing import Sequence


def meta(argv: Sequence[str] | None, **extra) -> dict:
    """What a result file records about its making: the command as given, versions, backend, device."""
    import jax
    argv = sys.argv[1:] if argv is None else list(argv)
    return {"command": "revsnn " + " ".join(argv), "jax": jax.__version__, "backend": jax.default_backend(),
            "device": str(jax.devices()[0].device_kind), **extra}


def write(rows: list[dict], out: str | None, name: str, info: dict) -> None:
    """``OUT/NAME.csv`` (the rows) and ``OUT/NAME.json`` (``info`` plus the rows); nothing without ``out``."""
    if not out:
        return
    os.makedirs(out, exist_ok=True)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(os.path.join(out, name + ".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump({**info, "rows": rows}, f, indent=1)
        f.write("\n")


def table(rows: list[dict], columns: Sequence[str] | None = None) -> str:
    """Rows as aligned text columns."""
    columns = list(columns or dict.fromkeys(k for r in rows for k in r))
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(lines)


def progress(message: str) -> None:
    """One line of progress on stderr (benchmarks print their results on stdout)."""
    print(message, file=sys.stderr, flush=True)
