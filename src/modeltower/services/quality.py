"""Data quality of a window, per column, against what the reference looks like.

Per column: count, missing keys, nulls (with the reference's share), values of the wrong type,
numeric values outside the reference's range, categorical values the reference never had (the
most frequent named) and distinct values; and how many events carry features the reference does
not know or lack ones it has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modeltower.services.drift import Comparison, CurrentColumn, DriftService, State
from modeltower.services.profile import text_counts
from modeltower.services.queries import Filters
from modeltower.store.base import ROLE_FEATURE, ST_MISSING
from modeltower.timewindow import Window

TOP_NEW_VALUES = 5


@dataclass(frozen=True)
class ColumnQuality:
    name: str
    role: str
    type: str
    count: int
    present: int
    missing: int
    nulls: int
    null_share: float | None
    reference_null_share: float | None
    type_mismatches: int
    type_mismatch_share: float | None
    out_of_range: int | None
    out_of_range_share: float | None
    reference_range: tuple[float, float] | None
    new_values: int | None
    new_value_share: float | None
    top_new_values: tuple[tuple[str, int], ...]
    distinct: int
    reference_distinct: int


@dataclass(frozen=True)
class QualityReport:
    state: State
    rows: int = 0
    events_with_unknown_features: int = 0
    events_missing_features: int = 0
    unknown_features: tuple[tuple[str, int], ...] = ()
    columns: tuple[ColumnQuality, ...] = ()
    sampled_from: int = 0  # the window's events when rows are a sample of them


def _share(part: int | None, whole: int) -> float | None:
    return None if part is None or whole == 0 else part / whole


def column_quality(c: CurrentColumn) -> ColumnQuality:
    """Quality of one column of the window (pure: from its values and the reference)."""
    ref, st = c.ref, c.status
    usable = c.sample.n
    present = st.total - st.missing
    out_of_range = rng = new = None
    top: tuple[tuple[str, int], ...] = ()
    if ref.type == "numeric":
        if ref.sample.n:
            lo, hi = float(ref.sample.keys[0]), float(ref.sample.keys[-1])
            rng = (lo, hi)
            keys, counts = c.sample.keys, c.sample.counts
            outside = (keys < lo) | (keys > hi)
            out_of_range = int(counts[outside].sum())
    else:
        known = set(ref.sample.keys.tolist())
        counts_by_value = text_counts(c.data)
        unseen = [(k, n) for k, n in counts_by_value.items() if k not in known]
        new = sum(n for _, n in unseen)
        top = tuple(sorted(unseen, key=lambda kv: (-kv[1], kv[0]))[:TOP_NEW_VALUES])
    return ColumnQuality(
        name=ref.name,
        role=ref.role,
        type=ref.type,
        count=st.total,
        present=present,
        missing=st.missing,
        nulls=st.nulls,
        null_share=st.null_share,
        reference_null_share=ref.status.null_share,
        type_mismatches=st.mismatches,
        type_mismatch_share=_share(st.mismatches, present),
        out_of_range=out_of_range,
        out_of_range_share=_share(out_of_range, usable),
        reference_range=rng,
        new_values=new,
        new_value_share=_share(new, usable),
        top_new_values=top,
        distinct=int(c.sample.keys.size),
        reference_distinct=int(ref.sample.keys.size),
    )


def events_missing_features(comp: Comparison) -> int:
    """Events that lack at least one feature the reference has."""
    missing = np.zeros(comp.rows, dtype=bool)
    for c in comp.columns:
        if c.ref.role == ROLE_FEATURE and c.ref.sample.n:
            missing |= c.data.status == ST_MISSING
    return int(missing.sum())


class QualityService:
    def __init__(self, drift: DriftService) -> None:
        self.drift = drift

    def quality(self, model: str, window: Window, filters: Filters) -> QualityReport:
        state, comp = self.drift.compare(model, window, filters)
        if comp is None:
            return QualityReport(state)
        known = comp.reference.feature_names()
        keys = self.drift.store.feature_keys(
            filters.to_filter(model, window), known, self.drift.sample_max
        )
        unknown = tuple(
            sorted(
                ((k, n) for k, n in keys.keys.items() if k not in set(known)),
                key=lambda x: (-x[1], x[0]),
            )
        )
        cols = tuple(column_quality(c) for c in comp.columns)
        return QualityReport(
            state=state,
            rows=comp.rows,
            events_with_unknown_features=keys.unknown_rows,
            events_missing_features=events_missing_features(comp),
            unknown_features=unknown,
            columns=cols,
            sampled_from=comp.data.sampled_from,
        )
