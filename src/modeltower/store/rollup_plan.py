"""How a window is answered from rollups: which rollup level covers which part of it, and when
raw events are read instead. Backend-neutral (no SQL): the DuckDB and PostgreSQL rollups
(store/duckdb_rollups.py, store/pg_rollups.py) share it, so both split a window the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modeltower.metrics.business import GroupOutcome
from modeltower.metrics.regression import RegressionAggregate
from modeltower.metrics.score_sketch import ScoreHistogram
from modeltower.store import class_values
from modeltower.store.base import PART_REGRESSION, UNGROUPED, EventFilter, WindowAggregate

MINUTE_US = 60_000_000
TEN_MINUTES_US = 10 * MINUTE_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US
NONE_KEY = "\x00"  # NULL version / group in a key column (primary keys cannot be NULL)
# The value columns of the ops rollups (rollup_minute, rollup_hour), in table order, and how
# rows of several units merge into one: every column adds up, but for the latency maximum.
OPS_VALUES = [
    "n",
    "errors",
    "lat_n",
    "lat_sum",
    "lat_max",
    "cls_n",
    "cls_match",
    "reg_n",
    "reg_abs",
    "reg_sq",
    "reg_ape",
    "reg_y",
    "reg_y2",
    "conv_n",
    "conv_known",
    "rev_sum",
    "rev_known",
]
MERGED_OPS = ", ".join(f"{'max' if c == 'lat_max' else 'sum'}({c})" for c in OPS_VALUES)

Ranges = list[tuple[int, int]]


@dataclass
class Policy:
    """When a window reads rollups, and when its percentiles come from the sketch."""

    # Shorter windows read raw events only: they are cheap to scan and their percentiles exact.
    min_span_us: int = 60 * MINUTE_US
    # Percentiles stay exact (from raw events) up to this many latencies in the window.
    exact_quantiles_max: int = 200_000
    # Raw events before this have expired (retention): such windows take the sketch.
    raw_from_us: int = 0
    # ROC AUC and log loss stay exact (from raw scores) up to this many scored events; beyond,
    # they come from the hourly score histogram (metrics/score_sketch.py states the bound).
    exact_scores_max: int = 20_000
    # Whether the store keeps the ten-minute, model-wide sketches (see sketch_units).
    ten_minutes: bool = False
    # Whether a partial unit at a window's edge may be read as the whole unit minus the raw
    # events of the unit outside the window, when those span less time (see sketch_levels).
    complement_edges: bool = False

    def raw_scores(self, flt: EventFilter, labeled: int | None) -> bool:
        """Whether a window with ``labeled`` classified, labeled events (when known) reads its
        scores raw without looking at the histograms (scored events are among them)."""
        return (
            labeled is not None
            and labeled <= self.exact_scores_max
            and flt.start_us >= self.raw_from_us
        )


def model_wide(flt: EventFilter) -> bool:
    """Whether the window sums over every version and group: what the model-wide sketch tables
    (version and group summed away) answer."""
    return flt.version is None and flt.group is None


def unit_span(flt: EventFilter, bucket_us: int | None, unit_us: int) -> tuple[int, int] | None:
    """The whole units [a, b) of the window that sketches of this unit answer, or None (no
    whole unit, tag filters, or buckets that do not fall on the unit)."""
    ua = -(-flt.start_us // unit_us) * unit_us
    ub = flt.end_us // unit_us * unit_us
    if flt.tags or ub <= ua or (bucket_us and (bucket_us % unit_us or flt.start_us % unit_us)):
        return None
    return ua, ub


@dataclass
class SketchPlan:
    """How the sketch levels answer a window: the ranges of each level (finest first), the
    raw spans added, and the raw spans subtracted (outside the window, within a unit at its
    edge that a level reads whole). A read must take all of them in one statement, so that the
    events it subtracts are those the unit it read holds."""

    per_level: list[Ranges]
    spans: Ranges
    minus: Ranges


def sketch_levels(
    flt: EventFilter, bucket_us: int | None, units: tuple[int, ...], policy: Policy
) -> SketchPlan | None:
    """The window split over sketch levels of ``units`` (finest first), or None when the
    finest unit does not fit the window (see :func:`unit_span`). Each partial unit at an edge
    is read raw, or (``policy.complement_edges``) whole, minus the raw events of the unit that
    lie outside the window, if those span less time: a window that ends now has next to no
    events after its end, so its last partial unit costs a read of the unit's sketch only."""
    fine = units[0]
    span = unit_span(flt, bucket_us, fine)
    if span is None:
        return None
    a, b = span
    spans: Ranges = []
    minus: Ranges = []
    if flt.start_us < a:
        # (raw events before raw_from_us have expired: nothing to subtract there)
        if (
            policy.complement_edges
            and flt.start_us - (a - fine) < a - flt.start_us
            and a - fine >= policy.raw_from_us
        ):
            minus.append((a - fine, flt.start_us))
            a -= fine
        else:
            spans.append((flt.start_us, a))
    if flt.end_us > b:
        if policy.complement_edges and b + fine - flt.end_us < flt.end_us - b:
            minus.append((flt.end_us, b + fine))
            b += fine
        else:
            spans.append((b, flt.end_us))
    return SketchPlan(levels(a, b, units, flt, bucket_us), spans, minus)


def sketch_units(flt: EventFilter, units: tuple[int, ...], policy: Policy) -> tuple[int, ...]:
    """``units`` with the ten-minute level in front for a model-wide window, when the store
    keeps it (PostgreSQL). They answer most of a window's partial hours, which are otherwise
    read raw: a dashboard's window ends off the hour at almost any moment, and its last partial
    hour holds up to an hour of the busiest events, whose feedback PostgreSQL looks up one
    event at a time. They are kept model-wide only: per version they would hold nearly a row
    per event. (DuckDB reads those raw hours with filters pushed into both scans, in a few
    milliseconds: there a ten-minute level made no read measurably faster.)"""
    return (TEN_MINUTES_US, *units) if policy.ten_minutes and model_wide(flt) else units


def split(flt: EventFilter, bucket_us: int | None, policy: Policy) -> tuple[int, int] | None:
    """The whole minutes [a, b) of the window that rollups answer, or None for raw only (tag
    filters, short windows, buckets that do not fall on minutes)."""
    if flt.tags:
        return None
    a = -(-flt.start_us // MINUTE_US) * MINUTE_US
    b = flt.end_us // MINUTE_US * MINUTE_US
    # (short windows go to raw events, unless those have expired: the rollups still know)
    if b - a < policy.min_span_us and flt.start_us >= policy.raw_from_us:
        return None
    if b <= a:
        return None
    if bucket_us and (bucket_us % MINUTE_US or flt.start_us % MINUTE_US):
        return None
    return a, b


def levels(
    a_us: int, b_us: int, units: tuple[int, ...], flt: EventFilter, bucket_us: int | None
) -> list[Ranges]:
    """[a, b) split over rollup levels of the given units (finest first, [a, b) on the finest):
    each coarser level takes its whole units, the finer ones the rest. A level is skipped when
    its units would straddle buckets."""
    out: list[Ranges] = [[] for _ in units]
    pending = [(a_us, b_us)]
    for i in range(len(units) - 1, 0, -1):
        unit = units[i]
        if bucket_us and (bucket_us % unit or flt.start_us % unit):
            continue
        rest: Ranges = []
        for lo, hi in pending:
            ua, ub = -(-lo // unit) * unit, hi // unit * unit
            if ub <= ua:
                rest.append((lo, hi))
                continue
            out[i].append((ua, ub))
            rest += [r for r in ((lo, ua), (ub, hi)) if r[1] > r[0]]
        pending = rest
    out[0] = pending
    return out


def decode(
    minutes: list[Any],
    confusion: list[Any],
    business: list[Any],
    parts: frozenset[str],
    none_key: str,
) -> dict[int, WindowAggregate]:
    """Window aggregates per bucket from the rows of the three rollup queries (the same on
    both backends): per bucket sums, (bucket, lab, pred, n) and (bucket, grp, n, conv, rev)."""
    out: dict[int, WindowAggregate] = {}
    for r in minutes:
        reg = None
        reg_n = int(r[8])
        if reg_n and PART_REGRESSION in parts:
            mean = float(r[12]) / reg_n
            reg = RegressionAggregate(
                n=reg_n,
                sum_abs_err=float(r[9]),
                sum_sq_err=float(r[10]),
                sum_ape=float(r[11]),
                mean_y=mean,
                m2_y=max(float(r[13]) - reg_n * mean * mean, 0.0),
            )
        out[int(r[0])] = WindowAggregate(
            count=int(r[1]),
            errors=int(r[2]),
            latency_n=int(r[3]),
            latency_sum=float(r[4]),
            latency_max=None if r[5] is None else float(r[5]),
            labeled=int(r[6]),
            matches=int(r[7]),
            regression=reg,
        )
    # classes only (store/class_values.py): the rows an older writer added for numbers with a
    # fraction are still stored, until rollup retention drops their minutes
    for bk, lab, pred, n in class_values.class_rows(confusion, 1, 2):
        out.setdefault(int(bk), WindowAggregate()).confusion[(lab, pred)] = int(n)
    for bk, grp, n, conv, rev, known in business:
        agg = out.setdefault(int(bk), WindowAggregate())
        if grp == none_key:
            agg.ungrouped_known += int(known)
        name = UNGROUPED if grp == none_key else grp
        agg.business[name] = GroupOutcome(count=int(n), conversions=int(conv), revenue=float(rev))
    return out


def until(flt: EventFilter, end_us: int) -> EventFilter:
    """``flt`` ending at ``end_us``."""
    return EventFilter(flt.model, flt.start_us, end_us, flt.version, flt.group, flt.tags)


def edge_spans(flt: EventFilter, a_us: int, b_us: int) -> Ranges:
    """The parts of ``flt``'s window before ``a_us`` and from ``b_us`` on (what rollups of
    [a_us, b_us) leave to raw events), the empty ones left out."""
    return [(lo, hi) for lo, hi in ((flt.start_us, a_us), (b_us, flt.end_us)) if hi > lo]


#: The ten-minute latency sketch (model-wide only, as the ten-minute score histogram).
LATENCY_10M = "rollup_latency_10m"
#: The score histogram table of each unit (the ten-minute one is model-wide only).
SCORE_TABLES = {
    TEN_MINUTES_US: "rollup_score_10m",
    HOUR_US: "rollup_score",
    DAY_US: "rollup_score_day",
}
#: Rows of score histogram bins: (bucket, true label, bin, n, Σ ln(clip(p)), Σ ln(clip(1 − p))).
ScoreRows = list[tuple[Any, ...]]


def score_histograms(
    flt: EventFilter,
    bucket_us: int | None,
    policy: Policy,
    read: Callable[[list[tuple[str, Ranges]], Ranges, Ranges], ScoreRows],
) -> dict[int, ScoreHistogram] | None:
    """Score histograms per bucket from the ten-minute (model-wide windows), hourly and daily
    rollups plus the raw edges, or None when the window's scores are to be read raw: short or
    tagged windows, windows with class-probability objects, and windows of at most
    ``policy.exact_scores_max`` scored events.
    ``read(stored, spans, minus)`` returns, in one statement, the rows of the histogram tables'
    ``(table, ranges)`` in ``stored``, those of the filter's raw events in ``spans`` (parts of
    its window), and those of its raw events in ``minus`` negated (see :class:`SketchPlan`)."""
    if split(flt, bucket_us, policy) is None:
        return None
    units = sketch_units(flt, (HOUR_US, DAY_US), policy)
    plan = sketch_levels(flt, bucket_us, units, policy)
    if plan is None:
        return None
    stored = [(SCORE_TABLES[u], r) for u, r in zip(units, plan.per_level, strict=True) if r]
    rows = read(stored, plan.spans, plan.minus)
    out: dict[int, ScoreHistogram] = {}
    for bk, lab, bin_, n, lp, l1p in rows:
        if n:
            out.setdefault(int(bk), ScoreHistogram()).add(
                lab, int(bin_), int(n), float(lp), float(l1p)
            )
    if any(h.multi for h in out.values()):
        return None
    total = sum(h.total for h in out.values())
    if total <= policy.exact_scores_max and flt.start_us >= policy.raw_from_us:
        return None
    return out
