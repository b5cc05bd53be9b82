"""Choosing the drift method of a feature, validating a requested one, and the single entry point
:func:`drift_score`.

The default follows Evidently's ``_get_default_stattest``, with one deliberate difference: where
Evidently picks its goodness-of-fit ``chisquare`` (our ``chi2_gof``), modeltower picks ``chi2``,
the two-sample contingency test, because the reference is itself a sample and not a known
distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

from modeltower.drift.binning import n_distinct_union
from modeltower.drift.registry import get_stattest
from modeltower.drift.sample import FeatureType, Sample

__all__ = [
    "SMALL_REFERENCE_MAX_ROWS",
    "DriftResult",
    "check_method",
    "default_method",
    "drift_score",
    "infer_feature_type",
]

# Evidently's boundary between "small" references (tests with p-values) and large ones
# (distances, since on large samples every p-value is tiny).
SMALL_REFERENCE_MAX_ROWS = 1000
_FEW_VALUES = 5  # at most this many distinct values: compare value by value
_BINARY = 2


@dataclass(frozen=True)
class DriftResult:
    """Outcome of one drift test of one feature."""

    method: str
    kind: str  # "p_value" or "distance"
    score: float
    threshold: float
    drift: bool


def _n_values(reference: Sample, current: Sample) -> int:
    # Only "<= 5" and "<= 2" matter: skip the union when either side alone has more values.
    if max(reference.keys.size, current.keys.size) > _FEW_VALUES:
        return max(reference.keys.size, current.keys.size)
    return n_distinct_union(reference, current)


def default_method(reference: Sample, current: Sample, feature_type: FeatureType) -> str:
    """The method Evidently would pick (``chi2`` in place of its ``chisquare``).

    With n_values the distinct values of both samples together: a reference of at most 1000
    rows gets a test (numeric: ``z`` for <= 2 values, ``chi2`` for 3–5, ``ks`` above; categorical
    and boolean: ``z`` for <= 2 values, ``chi2`` above); a larger one gets a distance (numeric:
    ``jensenshannon`` for <= 5 values, ``wasserstein`` above; categorical and boolean:
    ``jensenshannon``).
    """
    n_values = _n_values(reference, current)
    if reference.n <= SMALL_REFERENCE_MAX_ROWS:
        if feature_type == "numeric" and n_values > _FEW_VALUES:
            return "ks"
        return "chi2" if n_values > _BINARY else "z"
    if feature_type == "numeric" and n_values > _FEW_VALUES:
        return "wasserstein"
    return "jensenshannon"


def check_method(method: str, feature_type: FeatureType) -> None:
    """Raise ``ValueError`` when ``method`` is unknown or does not apply to ``feature_type``."""
    test = get_stattest(method)
    if feature_type not in test.feature_types:
        allowed = " and ".join(sorted(test.feature_types))
        raise ValueError(f"{method} applies to {allowed} features, not {feature_type}")


def drift_score(
    reference: Sample,
    current: Sample,
    feature_type: FeatureType,
    method: str | None = None,
    threshold: float | None = None,
) -> DriftResult:
    """Test one feature for drift with ``method`` (default: :func:`default_method`) at
    ``threshold`` (default: the method's)."""
    name = default_method(reference, current, feature_type) if method is None else method
    check_method(name, feature_type)
    test = get_stattest(name)
    limit = test.default_threshold if threshold is None else float(threshold)
    score, drift = test.func(reference, current, feature_type, limit)
    return DriftResult(method=name, kind=test.kind, score=score, threshold=limit, drift=bool(drift))


def infer_feature_type(n_numeric: int, n_string: int, n_bool: int) -> FeatureType:
    """Feature type from how many non-null values arrived as JSON numbers, strings and booleans.

    The most frequent kind wins: numbers → ``numeric``, booleans → ``boolean``, strings →
    ``categorical``. Ties go to ``categorical`` (every value can be compared as text), then to
    ``numeric``; a feature with no values at all is ``categorical``.
    """
    if n_string >= n_numeric and n_string >= n_bool:
        return "categorical"
    return "numeric" if n_numeric >= n_bool else "boolean"
