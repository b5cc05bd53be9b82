"""Pure metric functions over arrays or aggregates (no SQL, no I/O).

Definitions follow scikit-learn / numpy; see docs/ARCHITECTURE.md, "Metric definitions".
"""

from modeltower.metrics.business import (
    BusinessMetrics,
    GroupBusiness,
    GroupOutcome,
    Uplift,
    business_metrics,
)
from modeltower.metrics.classification import (
    ClassificationMetrics,
    classification_from_confusion,
    log_loss_binary,
    log_loss_multiclass,
    resolve_positive_label,
    roc_auc_binary,
    roc_auc_ovr,
)
from modeltower.metrics.latency import PERCENTILES, LatencySummary, latency_summary
from modeltower.metrics.regression import (
    RegressionAggregate,
    RegressionMetrics,
    regression_aggregate,
    regression_metrics,
)

__all__ = [
    "PERCENTILES",
    "BusinessMetrics",
    "ClassificationMetrics",
    "GroupBusiness",
    "GroupOutcome",
    "LatencySummary",
    "RegressionAggregate",
    "RegressionMetrics",
    "Uplift",
    "business_metrics",
    "classification_from_confusion",
    "latency_summary",
    "log_loss_binary",
    "log_loss_multiclass",
    "regression_aggregate",
    "regression_metrics",
    "resolve_positive_label",
    "roc_auc_binary",
    "roc_auc_ovr",
]
