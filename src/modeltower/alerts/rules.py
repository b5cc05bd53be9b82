"""Alert rules: the format, its validation, and the catalogue of metrics a rule may watch.

A rule is a plain mapping (from the YAML file or the API). :func:`parse_rule` turns it into a
:class:`Rule` or refuses it with a :class:`RuleError` naming the field and the reason; the
normalised form (:meth:`Rule.spec`) is what the API returns and the store keeps.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from modeltower.services.queries import LABELED_METRICS
from modeltower.services.window import METRIC_NAMES
from modeltower.timewindow import BadParameter, parse_duration

SEVERITIES = ("critical", "warning", "info")
OPS = ("<", "<=", ">", ">=")
NO_DATA = ("ok", "keep", "alert")  # what an evaluation without data counts as
CHANGES = ("absolute", "relative")
BASELINE_SOURCES = ("reference", "trailing")
ALL_MODELS = "*"
DEFAULT_MIN_SAMPLES = 30

# Metrics of the window's own events (services/window.py), their sample count for min_samples.
_COUNTS = {"count", "throughput", "errors", "labeled_count"}  # a count is never "too few"
_LABELED = LABELED_METRICS
# Drift and quality metrics (services/drift.py, services/quality.py).
DRIFT_METRICS = ("drift_share", "drifted_features", "dataset_drift", "drift_score")
QUALITY_METRICS = ("null_share", "out_of_range_share", "new_value_share", "type_mismatch_share")
COLUMN_METRICS = frozenset({"drift_score", *QUALITY_METRICS})  # these name a column
ALL_METRICS = (*METRIC_NAMES, *DRIFT_METRICS, *QUALITY_METRICS)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_FIELDS = {
    "name",
    "description",
    "enabled",
    "model",
    "version",
    "per_version",
    "group",
    "tags",
    "metric",
    "feature",
    "window",
    "op",
    "threshold",
    "baseline",
    "change",
    "for",
    "keep_firing_for",
    "min_samples",
    "no_data",
    "severity",
    "channels",
    "labels",
    "repeat_interval",
    "send_resolved",
}


class RuleError(BadParameter):
    """A rule that cannot be used; ``field`` names the offending key."""


def metric_source(metric: str) -> str:
    """Where a metric's value comes from: ``window``, ``drift`` or ``quality``."""
    if metric in DRIFT_METRICS:
        return "drift"
    if metric in QUALITY_METRICS:
        return "quality"
    return "window"


def samples_kind(metric: str) -> str:
    """Which count ``min_samples`` is checked against: ``none``, ``labeled``, ``events`` or
    ``rows`` (events compared with the reference)."""
    if metric in _COUNTS:
        return "none"
    if metric in _LABELED:
        return "labeled"
    return "events" if metric_source(metric) == "window" else "rows"


@dataclass(frozen=True)
class Baseline:
    """What the metric is compared with: the reference window, or a trailing window before the
    evaluated one."""

    source: str
    window: str | None = None
    window_us: int | None = None

    def spec(self) -> dict[str, Any]:
        return {"source": self.source, **({"window": self.window} if self.window else {})}


@dataclass(frozen=True)
class Rule:
    """A validated rule (see docs in the README's alerting section)."""

    name: str
    metric: str
    window: str
    window_us: int
    op: str
    threshold: float
    model: str = ALL_MODELS
    version: str | None = None
    per_version: bool = False
    group: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    feature: str | None = None
    baseline: Baseline | None = None
    change: str | None = None
    for_: str = "0s"
    for_us: int = 0
    keep_firing_for: str = "0s"
    keep_firing_for_us: int = 0
    min_samples: int = DEFAULT_MIN_SAMPLES
    no_data: str = "keep"
    severity: str = "warning"
    channels: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    repeat_interval: str | None = None
    repeat_us: int | None = None
    send_resolved: bool = True
    description: str = ""
    enabled: bool = True

    def spec(self) -> dict[str, Any]:
        """The normalised, JSON-ready form: parse_rule(rule.spec()) == rule."""
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "enabled": self.enabled,
            "model": self.model,
            "version": self.version,
            "per_version": self.per_version,
            "group": self.group,
            "tags": dict(self.tags),
            "metric": self.metric,
            "feature": self.feature,
            "window": self.window,
            "op": self.op,
            "threshold": self.threshold,
            "baseline": None if self.baseline is None else self.baseline.spec(),
            "change": self.change,
            "for": self.for_,
            "keep_firing_for": self.keep_firing_for,
            "min_samples": self.min_samples,
            "no_data": self.no_data,
            "severity": self.severity,
            "channels": list(self.channels),
            "labels": dict(self.labels),
            "repeat_interval": self.repeat_interval,
            "send_resolved": self.send_resolved,
        }
        return out


def _str(obj: dict[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise RuleError(where + key, "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise RuleError(where + key, f"must be a non-empty string, got {value!r}")
    return value.strip()


def _bool(obj: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = obj.get(key, default)
    if not isinstance(value, bool):
        raise RuleError(where + key, f"must be true or false, got {value!r}")
    return value


def _duration(obj: dict[str, Any], key: str, where: str, default: str | None) -> tuple[str, int]:
    value = obj.get(key, default)
    if value is None:
        raise RuleError(where + key, "is required")
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = f"{value:g}s"  # plain numbers are seconds
    if not isinstance(value, str):
        raise RuleError(where + key, f"must be a duration such as 30s, 15m or 7d, got {value!r}")
    if value.strip() in ("0", "0s", "0m", "0h"):
        return "0s", 0
    try:
        return value.strip(), parse_duration(value.strip(), where + key)
    except BadParameter as exc:
        raise RuleError(exc.field, exc.reason) from None


def _mapping(obj: dict[str, Any], key: str, where: str) -> dict[str, str]:
    value = obj.get(key) or {}
    if not isinstance(value, dict):
        raise RuleError(where + key, "must be a mapping of names to strings")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not _LABEL.match(k):
            raise RuleError(f"{where}{key}.{k}", "names are letters, digits and _ (max 64)")
        if not isinstance(v, str | int | float) or isinstance(v, bool):
            raise RuleError(f"{where}{key}.{k}", f"must be a string, got {v!r}")
        out[k] = str(v)
    return out


def _choice(
    obj: dict[str, Any], key: str, where: str, options: tuple[str, ...], default: str
) -> str:
    value = obj.get(key, default)
    if value not in options:
        raise RuleError(where + key, f"must be one of {list(options)}, got {value!r}")
    return str(value)


def parse_rule(obj: Any, *, where: str = "", channels: set[str] | None = None) -> Rule:
    """Validate one rule mapping. ``where`` prefixes field names (``rules[2].``); with
    ``channels`` every named channel must be one of them."""
    if not isinstance(obj, dict):
        raise RuleError(where.rstrip(".") or "rule", "must be a mapping")
    unknown = sorted(set(obj) - _FIELDS)
    if unknown:
        raise RuleError(where + unknown[0], f"unknown field; known fields: {sorted(_FIELDS)}")
    name = _str(obj, "name", where, required=True)
    assert name is not None
    if not _NAME.match(name):
        raise RuleError(where + "name", "letters, digits and _ . : @ - only (max 128)")
    metric = _str(obj, "metric", where, required=True)
    if metric not in ALL_METRICS:
        raise RuleError(where + "metric", f"unknown metric {metric!r}; known: {list(ALL_METRICS)}")
    feature = _str(obj, "feature", where)
    if metric in COLUMN_METRICS and feature is None:
        raise RuleError(where + "feature", f"metric {metric!r} needs the feature (column) to watch")
    if metric not in COLUMN_METRICS and feature is not None:
        raise RuleError(where + "feature", f"metric {metric!r} does not take a feature")
    window, window_us = _duration(obj, "window", where, None)
    if window_us == 0:
        raise RuleError(where + "window", "must be positive")
    op = _choice(obj, "op", where, OPS, "")
    threshold = obj.get("threshold")
    if (
        not isinstance(threshold, int | float)
        or isinstance(threshold, bool)
        or not math.isfinite(threshold)
    ):
        raise RuleError(where + "threshold", f"must be a finite number, got {threshold!r}")
    baseline = _baseline(obj, where, metric)
    change = obj.get("change")
    if baseline is not None:
        change = _choice(obj, "change", where, CHANGES, "absolute")
    elif change is not None:
        raise RuleError(where + "change", "only applies with a baseline")
    model = _str(obj, "model", where) or ALL_MODELS
    version = _str(obj, "version", where)
    per_version = _bool(obj, "per_version", where, False)
    if per_version and version is not None:
        raise RuleError(where + "per_version", "cannot be combined with a fixed version")
    for_text, for_us = _duration(obj, "for", where, "0s")
    keep_text, keep_us = _duration(obj, "keep_firing_for", where, "0s")
    repeat = obj.get("repeat_interval")
    repeat_text, repeat_us = (None, None)
    if repeat is not None:
        repeat_text, repeat_us = _duration(obj, "repeat_interval", where, None)
    min_samples = obj.get(
        "min_samples", 0 if samples_kind(metric) == "none" else DEFAULT_MIN_SAMPLES
    )
    if not isinstance(min_samples, int) or isinstance(min_samples, bool) or min_samples < 0:
        raise RuleError(where + "min_samples", f"must be a whole number ≥ 0, got {min_samples!r}")
    chans = obj.get("channels") or []
    if not isinstance(chans, list) or not all(isinstance(c, str) and c for c in chans):
        raise RuleError(where + "channels", "must be a list of channel names")
    if channels is not None:
        missing = [c for c in chans if c not in channels]
        if missing:
            raise RuleError(
                where + "channels", f"unknown channel(s) {missing}; configured: {sorted(channels)}"
            )
    if len(set(chans)) != len(chans):
        raise RuleError(where + "channels", "names a channel twice")
    description = obj.get("description") or ""
    if not isinstance(description, str):
        raise RuleError(where + "description", "must be a string")
    return Rule(
        name=name,
        metric=metric,
        window=window,
        window_us=window_us,
        op=op,
        threshold=float(threshold),
        model=model,
        version=version,
        per_version=per_version,
        group=_str(obj, "group", where),
        tags=tuple(sorted(_mapping(obj, "tags", where).items())),
        feature=feature,
        baseline=baseline,
        change=change,
        for_=for_text,
        for_us=for_us,
        keep_firing_for=keep_text,
        keep_firing_for_us=keep_us,
        min_samples=min_samples,
        no_data=_choice(obj, "no_data", where, NO_DATA, "keep"),
        severity=_choice(obj, "severity", where, SEVERITIES, "warning"),
        channels=tuple(chans),
        labels=_mapping(obj, "labels", where),
        repeat_interval=repeat_text,
        repeat_us=repeat_us,
        send_resolved=_bool(obj, "send_resolved", where, True),
        description=description,
        enabled=_bool(obj, "enabled", where, True),
    )


def _baseline(obj: dict[str, Any], where: str, metric: str) -> Baseline | None:
    raw = obj.get("baseline")
    if raw is None:
        return None
    key = where + "baseline"
    if isinstance(raw, str):
        raw = {"source": raw}
    if not isinstance(raw, dict):
        raise RuleError(key, "must be {source: reference} or {source: trailing, window: 7d}")
    extra = sorted(set(raw) - {"source", "window"})
    if extra:
        raise RuleError(f"{key}.{extra[0]}", "unknown field; known: source, window")
    source = raw.get("source")
    if source not in BASELINE_SOURCES:
        raise RuleError(f"{key}.source", f"must be one of {list(BASELINE_SOURCES)}, got {source!r}")
    if metric_source(metric) == "drift":
        raise RuleError(key, f"{metric!r} is already measured against the reference")
    if source == "reference":
        if raw.get("window") is not None:
            raise RuleError(f"{key}.window", "a reference baseline uses the reference's window")
        return Baseline("reference")
    text, us = _duration(raw, "window", key + ".", None)
    if us == 0:
        raise RuleError(f"{key}.window", "must be positive")
    return Baseline("trailing", text, us)
