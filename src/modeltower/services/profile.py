"""A reference's columns and their samples: what drift and quality compare the current data with.

Pure functions over the store's plain results (:class:`FeatureData`, JSON-kind counts): which
columns a reference has, their types (inferred, or overridden in the settings), and per column
the reference :class:`Sample`, null counts and the bins of the drift trend.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modeltower.drift import Sample, categorical_sample, infer_feature_type, numeric_sample
from modeltower.drift.binned import BinnedSample, binned_sample, reference_edges
from modeltower.drift.sample import FeatureType
from modeltower.store.base import (
    ROLE_FEATURE,
    ROLE_PREDICTION,
    ROLE_SCORE,
    ST_MISMATCH,
    ST_MISSING,
    ST_NULL,
    ST_OK,
    ColumnData,
    ColumnSpec,
    ReferenceRecord,
)

FEATURE_TYPES: tuple[FeatureType, ...] = ("numeric", "categorical", "boolean")
_KIND_ROWS = "\x00rows"
_KIND_PREDICTION = "\x00prediction"
_KIND_SCORE = "\x00score"


@dataclass(frozen=True)
class ProfileColumn:
    """One column of a reference: its name, role and type."""

    name: str
    role: str
    type: FeatureType
    inferred_type: FeatureType

    @property
    def spec(self) -> ColumnSpec:
        return ColumnSpec(self.name, self.role, numeric=self.type == "numeric")

    @property
    def key(self) -> str:
        return self.spec.key


def profile_columns(
    kinds: dict[str, dict[str, int]], task: str | None, overrides: dict[str, Any]
) -> list[ProfileColumn]:
    """Columns of a reference from the JSON kinds of its values: features sorted by name, then
    the prediction and the score when the reference has them."""
    features = overrides.get("features") or {}
    out: list[ProfileColumn] = []
    for name in sorted(k for k in kinds if not k.startswith("\x00")):
        c = kinds[name]
        inferred = infer_feature_type(c.get("number", 0), c.get("string", 0), c.get("boolean", 0))
        declared = (features.get(name) or {}).get("type")
        out.append(ProfileColumn(name, ROLE_FEATURE, declared or inferred, inferred))
    pred = kinds.get(_KIND_PREDICTION, {})
    if pred.get("number", 0) + pred.get("string", 0) > 0:
        if task is None:
            task = "regression" if pred.get("number", 0) > pred.get("string", 0) else None
        ptype: FeatureType = "numeric" if task == "regression" else "categorical"
        out.append(ProfileColumn("prediction", ROLE_PREDICTION, ptype, ptype))
    if kinds.get(_KIND_SCORE, {}).get("number", 0) > 0:
        out.append(ProfileColumn("score", ROLE_SCORE, "numeric", "numeric"))
    return out


def profile_json(columns: list[ProfileColumn]) -> dict[str, Any]:
    return {
        "columns": [
            {"name": c.name, "role": c.role, "type": c.type, "inferred_type": c.inferred_type}
            for c in columns
        ]
    }


def columns_from_profile(profile: dict[str, Any]) -> list[ProfileColumn]:
    return [
        ProfileColumn(c["name"], c["role"], c["type"], c["inferred_type"])
        for c in profile.get("columns", [])
    ]


def decode_text(text: str) -> str:
    """A categorical value from its JSON text: strings unquoted, others as written."""
    if text.startswith('"'):
        value = orjson.loads(text)
        return value if isinstance(value, str) else str(value)
    return text


def text_counts(col: ColumnData) -> Counter[str]:
    """Counts of the usable values of a text column, decoded."""
    assert col.text is not None
    raw = Counter(col.text[col.status == ST_OK].tolist())
    out: Counter[str] = Counter()
    for text, n in raw.items():
        out[decode_text(text)] += n
    return out


def column_sample(col: ColumnData, numeric: bool) -> Sample:
    """The usable (present, non-null, well-typed, finite) values of a column as a sample."""
    if numeric:
        assert col.numeric is not None
        return numeric_sample(col.numeric[col.status == ST_OK])
    counts = text_counts(col)
    return categorical_sample(list(counts.keys()), list(counts.values()))


@dataclass(frozen=True)
class StatusCounts:
    total: int
    missing: int
    nulls: int  # JSON null or missing
    mismatches: int

    @property
    def null_share(self) -> float | None:
        return self.nulls / self.total if self.total else None


def status_counts(col: ColumnData) -> StatusCounts:
    counts = np.bincount(col.status.astype(np.int64), minlength=4)
    return StatusCounts(
        total=int(col.status.size),
        missing=int(counts[ST_MISSING]),
        nulls=int(counts[ST_MISSING] + counts[ST_NULL]),
        mismatches=int(counts[ST_MISMATCH]),
    )


@dataclass(frozen=True, eq=False)
class RefColumn:
    """A reference column with everything the comparisons need."""

    column: ProfileColumn
    status: StatusCounts
    sample: Sample
    edges: np.ndarray | None  # trend bins (None: histogram by value)
    binned: BinnedSample
    std: float | None

    @property
    def name(self) -> str:
        return self.column.name

    @property
    def role(self) -> str:
        return self.column.role

    @property
    def type(self) -> FeatureType:
        return self.column.type

    @property
    def key(self) -> str:
        return self.column.key


@dataclass(frozen=True, eq=False)
class ReferenceData:
    """A loaded reference: its record, row count and columns."""

    record: ReferenceRecord
    rows: int
    columns: list[RefColumn]

    def feature_names(self) -> list[str]:
        return [c.name for c in self.columns if c.role == ROLE_FEATURE]

    def specs(self) -> list[ColumnSpec]:
        return [c.column.spec for c in self.columns]


def ref_column(column: ProfileColumn, data: ColumnData) -> RefColumn:
    numeric = column.type == "numeric"
    sample = column_sample(data, numeric)
    edges = reference_edges(sample) if numeric and sample.n else None
    std = sample.std() if numeric and sample.n else None
    return RefColumn(column, status_counts(data), sample, edges, binned_sample(sample, edges), std)


def reference_rows(kinds: dict[str, dict[str, int]]) -> int:
    return int(kinds.get(_KIND_ROWS, {}).get("number", 0))
