"""The drift statistics by name: what each one measures, which features it applies to, and the
threshold convention that turns its score into a verdict.

Every statistic module registers itself here when imported; importing :mod:`modeltower.drift`
imports all of them, so the registry is complete whenever anything in the package is in use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from modeltower.drift.sample import FeatureType, Sample

__all__ = [
    "ALL_TYPES",
    "NUMERIC_ONLY",
    "STATTESTS",
    "StatTest",
    "StatTestFunc",
    "get_stattest",
    "register",
]

StatTestFunc = Callable[[Sample, Sample, FeatureType, float], tuple[float, bool]]

ALL_TYPES: frozenset[str] = frozenset({"numeric", "categorical", "boolean"})
NUMERIC_ONLY: frozenset[str] = frozenset({"numeric"})


@dataclass(frozen=True)
class StatTest:
    """One drift statistic.

    ``kind == "p_value"``: the score is a p-value and drift means a small score;
    ``kind == "distance"``: drift means ``score >= threshold``. The exact comparison of each
    statistic (``<`` or ``<=`` for p-values) follows Evidently's and is documented per module.
    """

    name: str
    display_name: str
    kind: Literal["p_value", "distance"]
    default_threshold: float
    feature_types: frozenset[str]
    func: StatTestFunc


STATTESTS: dict[str, StatTest] = {}


def register(test: StatTest) -> StatTest:
    """Add a statistic to :data:`STATTESTS` (called once by each statistic module)."""
    if test.name in STATTESTS:
        raise ValueError(f"drift method {test.name!r} is registered twice")
    STATTESTS[test.name] = test
    return test


def get_stattest(name: str) -> StatTest:
    """The statistic called ``name``; ``ValueError`` listing the known names otherwise."""
    try:
        return STATTESTS[name]
    except KeyError:
        known = ", ".join(sorted(STATTESTS))
        raise ValueError(f"unknown drift method {name!r}; one of: {known}") from None
