"""Resumable sweeps: one CSV row per finished cell, appended as it is measured; finished cells are skipped."""

from __future__ import annotations

import csv
import os
from typing import Callable, Iterable, Sequence


class ResumableCSV:
    """Rows of a sweep in ``path``, keyed by ``key`` (column names). ``done(cell)`` says whether a cell's rows are
    there; ``add(rows)`` appends and flushes at once, so an interrupted sweep loses at most the cell it was on."""

    def __init__(self, path: str, key: Sequence[str]):
        self.path, self.key = path, tuple(key)
        self.rows: list[dict] = []
        if os.path.exists(path):
            with open(path) as f:
                self.rows = list(csv.DictReader(f))
        self._done = {self._key(r) for r in self.rows}

    def _key(self, row: dict) -> tuple:
        return tuple(str(row[k]) for k in self.key)

    def done(self, cell: dict) -> bool:
        return self._key(cell) in self._done

    def add(self, rows: Iterable[dict]) -> None:
        rows = [{k: str(v) for k, v in r.items()} for r in rows]
        self.rows += rows
        self._done |= {self._key(r) for r in rows}
        columns = list(dict.fromkeys(k for r in self.rows for k in r))
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(self.rows)


def sweep(table: ResumableCSV, cells: Sequence[dict], measure: Callable[[dict], list[dict]],
          progress: Callable[[str], None]) -> int:
    """Measures every cell not yet in ``table`` (``measure(cell) -> rows``); returns how many were measured."""
    todo = [c for c in cells if not table.done(c)]
    for i, cell in enumerate(todo):
        rows = measure(cell)
        table.add(rows)
        progress(f"[{i + 1}/{len(todo)}] " + ", ".join(f"{k}={v}" for k, v in cell.items()))
    return len(todo)
