"""The model registry of the embedded store: which models and versions exist, first/last seen.

It is derived data: rebuilt from ``events`` with one GROUP BY when the store opens and kept up to
date in memory from each committed batch. Persisting it per batch cost more than the insert itself.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa


@dataclass
class _Stats:
    first: int
    last: int
    count: int

    def add(self, first: int, last: int, count: int) -> None:
        self.first = min(self.first, first)
        self.last = max(self.last, last)
        self.count += count


@dataclass
class ModelEntry:
    """What the registry knows of one model."""

    stats: _Stats | None = None
    saw_numeric: bool = False
    saw_categorical: bool = False
    versions: dict[str, _Stats] = field(default_factory=dict)


class Registry:
    """Thread-safe in-memory registry; the writer updates it, readers copy from it."""

    def __init__(self) -> None:
        self._models: dict[str, ModelEntry] = {}
        self._lock = threading.Lock()

    def load(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows of (model, version or '', first, last, count, saw_numeric, saw_categorical)."""
        with self._lock:
            self._models.clear()
            for model, version, first, last, count, num, cat in rows:
                self._add(model, version, int(first), int(last), int(count), bool(num), bool(cat))

    def add_batch(self, table: pa.Table) -> None:
        """Account for a committed batch (columns model, version, ts, prediction, prediction_num)."""
        t = table.select(["model", "version", "ts", "prediction", "prediction_num"])
        t = t.append_column("is_num", t.column("prediction_num").is_valid())
        t = t.append_column(
            "is_cat",
            pa.compute.and_(
                t.column("prediction").is_valid(), t.column("prediction_num").is_null()
            ),
        )
        grouped = t.group_by(["model", "version"]).aggregate(
            [
                ("ts", "min"),
                ("ts", "max"),
                ("ts", "count"),
                ("is_num", "any"),
                ("is_cat", "any"),
            ]
        )
        with self._lock:
            for r in grouped.to_pylist():
                self._add(
                    r["model"],
                    r["version"] or "",
                    r["ts_min"],
                    r["ts_max"],
                    r["ts_count"],
                    bool(r["is_num_any"]),
                    bool(r["is_cat_any"]),
                )

    def ensure(self, model: str) -> None:
        """Make a model known before any event (its settings were declared)."""
        with self._lock:
            self._models.setdefault(model, ModelEntry())

    def get(self, model: str) -> ModelEntry | None:
        """A snapshot copy of one model's entry."""
        with self._lock:
            e = self._models.get(model)
            if e is None:
                return None
            return ModelEntry(
                stats=None
                if e.stats is None
                else _Stats(e.stats.first, e.stats.last, e.stats.count),
                saw_numeric=e.saw_numeric,
                saw_categorical=e.saw_categorical,
                versions={v: _Stats(s.first, s.last, s.count) for v, s in e.versions.items()},
            )

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._models)

    def _add(
        self, model: str, version: str, first: int, last: int, count: int, num: bool, cat: bool
    ) -> None:
        e = self._models.setdefault(model, ModelEntry())
        if e.stats is None:
            e.stats = _Stats(first, last, count)
        else:
            e.stats.add(first, last, count)
        e.saw_numeric |= num
        e.saw_categorical |= cat
        v = e.versions.get(version)
        if v is None:
            e.versions[version] = _Stats(first, last, count)
        else:
            v.add(first, last, count)
