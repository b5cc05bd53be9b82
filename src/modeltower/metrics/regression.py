"""Regression metrics from mergeable partial sums.

The store (or a rollup) reduces each bucket of (label, prediction) pairs to a
:class:`RegressionAggregate`; buckets combine with :meth:`RegressionAggregate.merge`, so
rolling windows never need the raw rows again. :func:`regression_metrics` turns an aggregate
into MAE, RMSE, MAPE and R² with scikit-learn's definitions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "RegressionAggregate",
    "RegressionMetrics",
    "regression_aggregate",
    "regression_metrics",
]

# sklearn.metrics.mean_absolute_percentage_error divides by max(|y|, eps) with this eps, so a
# zero target gives a huge but finite term instead of a division by zero.
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class RegressionAggregate:
    """Partial sums over ``n`` pairs; merge buckets to get the sums of their union.

    ``mean_y`` / ``m2_y`` (sum of squared deviations from the mean) are kept instead of
    ``sum(y)`` / ``sum(y**2)`` because the latter cancel catastrophically for large targets
    with small spread, which would wreck R².
    """

    n: int
    sum_abs_err: float
    sum_sq_err: float
    sum_ape: float
    mean_y: float
    m2_y: float

    def merge(self, other: RegressionAggregate) -> RegressionAggregate:
        """Combine two disjoint buckets (Chan, Golub & LeVeque parallel variance update)."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean_y - self.mean_y
        # Weighted update rather than (n_a*mean_a + n_b*mean_b)/n: stays exact when both
        # means are equal (delta == 0), so constant targets keep m2_y == 0 across merges.
        mean_y = self.mean_y + delta * (other.n / n)
        m2_y = self.m2_y + other.m2_y + delta * delta * (self.n * other.n / n)
        return RegressionAggregate(
            n=n,
            sum_abs_err=self.sum_abs_err + other.sum_abs_err,
            sum_sq_err=self.sum_sq_err + other.sum_sq_err,
            sum_ape=self.sum_ape + other.sum_ape,
            mean_y=mean_y,
            m2_y=m2_y,
        )


def regression_aggregate(y_true: np.ndarray, y_pred: np.ndarray) -> RegressionAggregate:
    """Reduce paired targets and predictions to a :class:`RegressionAggregate`.

    Empty input gives the neutral aggregate (``n == 0``). Raises ``ValueError`` when the
    lengths differ or a value is not finite (callers drop rows without a numeric label).
    """
    y = np.asarray(y_true, dtype=np.float64).ravel()
    yhat = np.asarray(y_pred, dtype=np.float64).ravel()
    if y.shape != yhat.shape:
        raise ValueError(f"y_true has {y.size} values but y_pred has {yhat.size}")
    if y.size == 0:
        return RegressionAggregate(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    if not (np.isfinite(y).all() and np.isfinite(yhat).all()):
        raise ValueError("y_true and y_pred must be finite")

    abs_err = np.abs(y - yhat)
    if y.min() == y.max():
        # Constant targets: np.mean can be off by an ulp (0.1 * 3 / 3 != 0.1), which would make
        # SST a tiny positive number and R² absurdly negative instead of sklearn's intended
        # 1.0 / 0.0. Use the exact value instead.
        mean_y = float(y[0])
        m2_y = 0.0
    else:
        mean_y = float(np.mean(y))
        # Two-pass sum of squared deviations: same formula as sklearn's r2_score denominator.
        m2_y = float(np.sum((y - mean_y) ** 2))
    return RegressionAggregate(
        n=int(y.size),
        sum_abs_err=float(np.sum(abs_err)),
        sum_sq_err=float(np.sum(abs_err * abs_err)),
        sum_ape=float(np.sum(abs_err / np.maximum(np.abs(y), _EPS))),
        mean_y=mean_y,
        m2_y=m2_y,
    )


@dataclass(frozen=True)
class RegressionMetrics:
    """Point metrics of a regression model; ``r2`` is ``None`` with fewer than two pairs."""

    mae: float
    rmse: float
    mape: float
    r2: float | None


def regression_metrics(agg: RegressionAggregate) -> RegressionMetrics | None:
    """MAE, RMSE, MAPE (a fraction, not percent) and R² from an aggregate.

    Returns ``None`` when ``agg.n == 0``. R² is ``1 - SSE / SST``; it is ``None`` for
    ``n < 2`` (sklearn returns NaN with a warning) and, with sklearn's ``force_finite=True``,
    1.0 for a perfect fit on constant targets (SST == 0) and 0.0 for an imperfect one.
    """
    if agg.n == 0:
        return None
    n = agg.n
    r2: float | None
    if n < 2:
        r2 = None
    elif agg.m2_y == 0.0:
        r2 = 1.0 if agg.sum_sq_err == 0.0 else 0.0
    else:
        r2 = 1.0 - agg.sum_sq_err / agg.m2_y
    return RegressionMetrics(
        mae=agg.sum_abs_err / n,
        rmse=math.sqrt(agg.sum_sq_err / n),
        mape=agg.sum_ape / n,
        r2=r2,
    )
