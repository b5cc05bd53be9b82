"""The store interface: every backend (embedded DuckDB, PostgreSQL) implements :class:`Store`.

Reads return *aggregates* (counts, sums, confusion counts, quantiles), never finished metrics, so
the same pure functions in :mod:`modeltower.metrics` turn raw-event aggregates and (later)
pre-aggregated rollups into numbers.
"""

from __future__ import annotations

import abc
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modeltower.ingest.schema import EventColumns, FeedbackColumns
from modeltower.metrics.business import GroupOutcome
from modeltower.metrics.regression import RegressionAggregate
from modeltower.metrics.score_sketch import ScoreHistogram
from modeltower.store.alert_types import AlertOp, AlertReads
from modeltower.store.key_types import KeyOp, KeyReads
from modeltower.store.tag_types import TagKeyStats, TagOp

# Which parts of an aggregate a query needs; skipping parts skips whole scans.
PART_OPS = "ops"
PART_QUANTILES = "quantiles"
PART_CONFUSION = "confusion"
PART_REGRESSION = "regression"
PART_BUSINESS = "business"


@dataclass(frozen=True)
class EventFilter:
    """Which events a query covers: one model, a half-open time range [start_us, end_us)."""

    model: str
    start_us: int
    end_us: int
    version: str | None = None
    group: str | None = None
    tags: tuple[tuple[str, str], ...] = ()


# The group name used for events without a group when a window has business data.
UNGROUPED = "(none)"


@dataclass
class WindowAggregate:
    """Everything the metric functions need about the events of one window or bucket."""

    count: int = 0
    errors: int = 0
    latency_n: int = 0
    latency_sum: float = 0.0
    latency_max: float | None = None
    quantiles: dict[str, float] | None = None
    labeled: int = 0
    matches: int = 0
    confusion: dict[tuple[str, str], int] = field(default_factory=dict)
    regression: RegressionAggregate | None = None
    business: dict[str, GroupOutcome] = field(default_factory=dict)
    # Events without a group that carry a conversion or revenue: the "(none)" group is shown
    # only when there are some. Kept so that pieces of one window (rollup levels, raw edges)
    # decide it together (see :meth:`drop_unknown_ungrouped`).
    ungrouped_known: int = 0

    def drop_unknown_ungrouped(self) -> None:
        """Leave out the "(none)" group when none of its events has business data."""
        if not self.ungrouped_known:
            self.business.pop(UNGROUPED, None)

    def merge(self, other: WindowAggregate) -> WindowAggregate:
        """Combine two aggregates of disjoint event sets (quantiles are not mergeable: dropped)."""
        conf = dict(self.confusion)
        for key, n in other.confusion.items():
            conf[key] = conf.get(key, 0) + n
        biz = dict(self.business)
        for g, o in other.business.items():
            if g in biz:
                b = biz[g]
                biz[g] = GroupOutcome(
                    b.count + o.count, b.conversions + o.conversions, b.revenue + o.revenue
                )
            else:
                biz[g] = o
        if self.regression is None:
            reg = other.regression
        elif other.regression is None:
            reg = self.regression
        else:
            reg = self.regression.merge(other.regression)
        maxes = [m for m in (self.latency_max, other.latency_max) if m is not None]
        return WindowAggregate(
            count=self.count + other.count,
            errors=self.errors + other.errors,
            latency_n=self.latency_n + other.latency_n,
            latency_sum=self.latency_sum + other.latency_sum,
            latency_max=max(maxes) if maxes else None,
            quantiles=None,
            labeled=self.labeled + other.labeled,
            matches=self.matches + other.matches,
            confusion=conf,
            regression=reg,
            business=biz,
            ungrouped_known=self.ungrouped_known + other.ungrouped_known,
        )


@dataclass
class ScoredRows:
    """Labeled events that carry scores: the inputs of ROC AUC and log loss."""

    bucket: np.ndarray  # int64 bucket index
    label: list[str]
    score: np.ndarray  # float64, NaN where the event had a class->probability object instead
    scores: list[str | None]  # JSON text of class->probability objects


@dataclass(frozen=True)
class ModelSettings:
    """User-declared settings of a model."""

    task: str | None = None
    positive_label: str | None = None


@dataclass(frozen=True)
class ModelInfo:
    """A model as the registry knows it."""

    name: str
    settings: ModelSettings
    inferred_task: str | None
    first_seen_us: int | None
    last_seen_us: int | None
    event_count: int
    versions: list[dict[str, Any]]

    @property
    def task(self) -> str | None:
        return self.settings.task or self.inferred_task


@dataclass(frozen=True)
class HealthSnapshot:
    """One model's (or one version's) health over a window; ``version`` None means all versions."""

    model: str
    version: str | None
    window_start_us: int
    window_end_us: int
    created_us: int
    task: str | None
    total_predictions: int
    labeled_count: int
    accuracy: float | None
    f1: float | None
    mae: float | None  # regression error, for regression models
    rmse: float | None
    latency_mean_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    error_rate: float | None
    label_coverage: float | None


@dataclass(frozen=True)
class DailyHealth:
    """One row of the daily health table: one UTC date and model version."""

    event_date: dt.date
    model_version: str | None
    daily_accuracy: float | None
    avg_latency_ms: float | None
    p99_latency_ms: float | None
    daily_prediction_volume: int
    daily_revenue: float | None


@dataclass(frozen=True)
class OpsCounts:
    """Counts of events stored after some ``seq`` for one (model, version), for counters."""

    model: str
    version: str | None
    count: int
    errors: int
    latency_count: int
    latency_sum_ms: float
    latency_le: list[int]  # cumulative: events with latency_ms <= each requested bound


# ---- drift references and feature values ---------------------------------------------------
ROLE_FEATURE = "feature"
ROLE_PREDICTION = "prediction"
ROLE_SCORE = "score"

# Per-row state of an extracted value.
ST_OK = 0  # a usable value
ST_MISSING = 1  # the key is absent
ST_NULL = 2  # present, JSON null
ST_MISMATCH = 3  # present, but not of the column's type (e.g. a string where numbers are expected)


@dataclass(frozen=True)
class ColumnSpec:
    """One column to extract from events or reference rows: a feature, the prediction or score."""

    name: str
    role: str = ROLE_FEATURE
    numeric: bool = True

    @property
    def key(self) -> str:
        """Unique among columns: a feature may be called ``prediction`` too."""
        return f"{self.role}:{self.name}"


@dataclass
class ColumnData:
    """Values of one column over a set of rows."""

    status: np.ndarray  # int8 per row, ST_*
    numeric: np.ndarray | None = None  # float64 per row (NaN unless ST_OK), numeric columns
    text: np.ndarray | None = None  # object per row: JSON text of the value, other columns


@dataclass
class FeatureData:
    """Typed values of some columns over a set of rows (a window's events or a reference)."""

    rows: int
    columns: dict[str, ColumnData]  # by ColumnSpec.key
    bucket: np.ndarray | None = None  # int64 bucket index (or hour start) per row
    version: np.ndarray | None = None  # object per row ('' when none)
    grp: np.ndarray | None = None
    last_seq: int = 0  # newest events.seq among the rows (incremental jobs)
    sampled_from: int = 0  # the window's events when the rows are a sample of them (else 0)


#: Events are sampled by their hash: kept when it falls below a cut in [0, SAMPLE_SPACE).
SAMPLE_SPACE = 1 << 20


def sample_cut(events: int, sample_max: int | None) -> int | None:
    """The hash cut that keeps about ``sample_max`` of ``events`` (None: keep all)."""
    if sample_max is None or events <= sample_max:
        return None
    return max(1, SAMPLE_SPACE * sample_max // events)


@dataclass(frozen=True)
class KeyCounts:
    """Which feature keys a set of events carried."""

    rows: int
    keys: dict[str, int]  # key -> number of events that have it
    unknown_rows: int  # events with at least one key outside the known set


@dataclass(frozen=True)
class ReferenceRecord:
    """A model's drift reference as stored."""

    model: str
    ref_id: int
    kind: str  # "dataset" | "window"
    spec: dict[str, Any]
    status: str  # "collecting" | "ready"
    created_us: int
    row_count: int
    settings: dict[str, Any]
    profile: dict[str, Any] | None


@dataclass(frozen=True)
class SummaryRows:
    """Merged per-bucket feature histograms of a reference, as far as ``last_seq``."""

    bucket: np.ndarray  # int64 bucket index
    feature: list[str]
    key: list[str]
    n: np.ndarray  # int64
    lo: np.ndarray  # float64 (NaN when none)
    hi: np.ndarray
    last_seq: int


@dataclass(frozen=True)
class InsertResult:
    """Per-request outcome of an insert: which of its rows were already stored."""

    ids: list[str]
    duplicate: list[bool]


class Store(AlertReads, KeyReads, abc.ABC):
    """Persistence of events, feedback and model settings."""

    #: Longest one read may take, in seconds (store/query_timeout.py); set by the application.
    query_timeout_s: float = 30.0

    # ---- bounded tag cardinality (store/tag_types.py) ---------------------------------------
    @abc.abstractmethod
    def tag_values(self, model: str) -> dict[str, set[str]]:
        """Every known value per tag key of ``model``."""

    @abc.abstractmethod
    def tag_stats(self, model: str | None = None) -> list[tuple[str, TagKeyStats]]:
        """(model, stats) per tag key, of one model or of all; ordered by model and key."""

    # ---- lifecycle -------------------------------------------------------------------------
    @abc.abstractmethod
    def open(self) -> None:
        """Connect and apply pending schema migrations."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and release the database."""

    # ---- writes: called only from the single writer thread --------------------------------
    @abc.abstractmethod
    def write(self, ops: list[WriteOp]) -> list[Any]:
        """Apply a group of write operations in one transaction; one result per op, in order."""

    def is_leader(self, job: str) -> bool:
        """Whether this process runs the periodic ``job`` now. With several processes on one
        database exactly one runs each job; an embedded store has only one process."""
        return True

    def maintenance(self) -> None:
        """Housekeeping the writer runs when no write has come for a while."""

    # ---- reads: safe from any thread ------------------------------------------------------
    @abc.abstractmethod
    def aggregate(
        self, flt: EventFilter, bucket_us: int | None, parts: frozenset[str]
    ) -> dict[int, WindowAggregate]:
        """Aggregates per bucket index (key 0 when bucket_us is None)."""

    @abc.abstractmethod
    def rolling_quantiles(
        self, flt: EventFilter, bucket_us: int, rolling_us: int
    ) -> dict[int, dict[str, float]]:
        """Exact latency percentiles over the trailing ``rolling_us`` ending at each bucket's end."""

    @abc.abstractmethod
    def scored_rows(self, flt: EventFilter, bucket_us: int | None) -> ScoredRows:
        """Labeled, scored events (for ROC AUC and log loss)."""

    @abc.abstractmethod
    def score_histograms(
        self, flt: EventFilter, bucket_us: int | None, labeled: int | None = None
    ) -> dict[int, ScoreHistogram] | None:
        """Per bucket, the histogram of the scored events (from the rollups, for long windows);
        None when the window is to be computed from :meth:`scored_rows` instead. ``labeled``:
        the window's classified, labeled events when the caller knows (small windows then
        need no look at the histograms)."""

    @abc.abstractmethod
    def get_model(self, model: str) -> ModelInfo | None:
        """One model, or None when it was never seen nor configured."""

    @abc.abstractmethod
    def model_names(self) -> list[str]:
        """Every known model's name (cheap: no scan of events)."""

    @abc.abstractmethod
    def list_models(self, since_us: int) -> list[tuple[ModelInfo, int]]:
        """Every model with its number of events since ``since_us``."""

    @abc.abstractmethod
    def export(self, flt: EventFilter, fmt: str, path: str) -> int:
        """Write the filtered events (feedback applied) to ``path``; return the row count."""

    # ---- health snapshots, daily table, counters -------------------------------------------
    @abc.abstractmethod
    def snapshots(
        self, model: str, start_us: int, end_us: int, version: str | None
    ) -> list[HealthSnapshot]:
        """Stored snapshots whose window ends in [start_us, end_us), oldest first."""

    @abc.abstractmethod
    def daily_health(self, flt: EventFilter) -> list[DailyHealth]:
        """Per UTC date and version of the filtered events (feedback applied)."""

    # ---- drift references, feature values and summaries ------------------------------------
    @abc.abstractmethod
    def reference(self, model: str) -> ReferenceRecord | None:
        """The model's reference, or None."""

    @abc.abstractmethod
    def references(self) -> list[ReferenceRecord]:
        """Every model's reference."""

    @abc.abstractmethod
    def reference_kinds(self, ref_id: int) -> dict[str, dict[str, int]]:
        """Per feature key of the reference rows: how many values of each JSON kind it holds
        ('number', 'string', 'boolean', 'null', 'other')."""

    @abc.abstractmethod
    def reference_features(self, ref_id: int, columns: list[ColumnSpec]) -> FeatureData:
        """The reference rows' values of ``columns``."""

    @abc.abstractmethod
    def window_features(
        self,
        flt: EventFilter,
        columns: list[ColumnSpec],
        bucket_us: int | None = None,
        after_seq: int | None = None,
        sample_max: int | None = None,
    ) -> FeatureData:
        """The filtered events' values of ``columns`` (with bucket indexes when bucketed);
        with ``after_seq`` only events stored after it. With ``sample_max``, a window of more
        events gives a uniform sample of about that many (``sampled_from`` then tells how many
        there were): the same events every time, chosen by a hash of their key."""

    @abc.abstractmethod
    def new_event_features(
        self, model: str, columns: list[ColumnSpec], after_seq: int, upto_seq: int, limit: int
    ) -> FeatureData:
        """Up to ``limit`` events with seq in (after_seq, upto_seq], in seq order, with their hour,
        version and group: the input of incremental drift summaries."""

    @abc.abstractmethod
    def feature_keys(
        self, flt: EventFilter, known: list[str], sample_max: int | None = None
    ) -> KeyCounts:
        """Feature keys the filtered events carry, and how many carry one outside ``known``
        (of the same sample as :meth:`window_features` with ``sample_max``)."""

    @abc.abstractmethod
    def drift_progress(self, ref_id: int) -> int:
        """The newest events.seq the reference's summaries include (0: none yet)."""

    @abc.abstractmethod
    def drift_summaries(
        self, ref_id: int, flt: EventFilter, bucket_us: int, origin_us: int
    ) -> SummaryRows:
        """Summed summaries of hours in [flt.start_us, flt.end_us) per (origin-aligned) bucket."""

    @abc.abstractmethod
    def last_seq(self) -> int:
        """The ``seq`` of the newest stored event (0 when empty)."""

    @abc.abstractmethod
    def ops_counts_since(
        self, seq: int, latency_bounds_ms: tuple[float, ...]
    ) -> tuple[int, list[OpsCounts]]:
        """Counts per (model, version) of the events stored after ``seq``, and the new last seq."""


@dataclass(frozen=True)
class InsertEvents:
    """Write op: insert events (duplicates by (model, id) are skipped and reported)."""

    columns: EventColumns


@dataclass(frozen=True)
class UpsertFeedback:
    """Write op: merge feedback; the result is the set of (model, id) that matched stored events."""

    columns: FeedbackColumns


@dataclass(frozen=True)
class PutModelSettings:
    """Write op: set a model's settings (creates the model when unknown)."""

    model: str
    settings: ModelSettings


@dataclass(frozen=True)
class InsertSnapshots:
    """Write op: store health snapshots; the result is the number stored."""

    snapshots: tuple[HealthSnapshot, ...]


@dataclass(frozen=True)
class ReferenceRows:
    """Reference rows from an uploaded file, already parsed (see store.reference_files)."""

    table: Any  # pyarrow.Table: features (JSON text), prediction, prediction_num, score


@dataclass(frozen=True)
class ReferenceWindow:
    """Reference rows copied from a model's own events."""

    start_us: int
    end_us: int
    version: str | None = None


@dataclass(frozen=True)
class SetReference:
    """Write op: replace a model's reference; result: the new :class:`ReferenceRecord`.

    With ``source`` None the reference is stored as collecting (its window is not over yet)."""

    model: str
    kind: str
    spec: dict[str, Any]
    settings: dict[str, Any]
    source: ReferenceRows | ReferenceWindow | None


@dataclass(frozen=True)
class UpdateReference:
    """Write op: new settings and/or profile; ``new_ref_id`` restarts the drift summaries."""

    model: str
    ref_id: int
    settings: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    new_ref_id: bool = False


@dataclass(frozen=True)
class FillReference:
    """Write op: a collecting window reference whose window has ended gets its rows."""

    model: str
    ref_id: int
    window: ReferenceWindow


@dataclass(frozen=True)
class DeleteReference:
    """Write op: forget a model's reference and its summaries; result: whether one existed."""

    model: str


@dataclass(frozen=True)
class EnforceRetention:
    """Write op: delete raw events (and their feedback) from before ``raw_before_us``, and
    rollups, summaries, snapshots and alert history from before ``rollups_before_us``; result:
    a :class:`RetentionResult`."""

    raw_before_us: int
    rollups_before_us: int


@dataclass(frozen=True)
class RetentionResult:
    events: int
    rollup_rows: int


@dataclass(frozen=True)
class AddDriftSummaries:
    """Write op: add histogram counts to a reference's summaries and advance its progress."""

    ref_id: int
    rows: Any  # pyarrow.Table: version, grp, hour, feature, key, n, lo, hi
    last_seq: int


WriteOp = (
    InsertEvents
    | UpsertFeedback
    | PutModelSettings
    | InsertSnapshots
    | SetReference
    | UpdateReference
    | FillReference
    | DeleteReference
    | AddDriftSummaries
    | EnforceRetention
    | AlertOp
    | TagOp
    | KeyOp
)
