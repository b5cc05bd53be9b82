"""Classification metrics from confusion counts, scores and class probabilities.

Every number follows scikit-learn (see docs/ARCHITECTURE.md, "Metric definitions"):
precision / recall / F1 use ``zero_division=0`` over the sorted union of observed labels,
ROC AUC is the exact Mann–Whitney statistic (ties count one half), and log loss clips
probabilities to ``[eps, 1 - eps]``. The functions are pure: the store hands over aggregates
(confusion counts) or arrays, and presentation happens elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "ClassificationMetrics",
    "classification_from_confusion",
    "log_loss_binary",
    "log_loss_multiclass",
    "resolve_positive_label",
    "roc_auc_binary",
    "roc_auc_ovr",
]

# Pairs (negative, positive) that let us infer the positive class of a binary model. Labels are
# stored canonically (booleans as "true"/"false", integral numbers as integers), so exact
# lower-case matching is enough.
_KNOWN_BINARY_PAIRS: tuple[tuple[str, str], ...] = (
    ("0", "1"),
    ("false", "true"),
    ("no", "yes"),
    ("negative", "positive"),
)

# Same clipping constant as sklearn.metrics.log_loss for float64 input.
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class ClassificationMetrics:
    """Label-based classification metrics (optionally with score-based ones attached).

    ``f1`` is the binary F1 of ``positive_label`` when ``average == "binary"``, else macro F1;
    ``precision`` and ``recall`` follow the same averaging. ``matrix`` rows are true labels and
    columns predicted labels, both in the order of ``labels``.
    """

    accuracy: float
    precision: float
    recall: float
    f1: float
    f1_macro: float
    f1_weighted: float
    average: str
    positive_label: str | None
    labels: list[str]
    matrix: list[list[int]]
    roc_auc: float | None = None
    log_loss: float | None = None
    # How far roc_auc can be from the exact value: 0 when computed from raw scores, the
    # histogram's bound for long windows (metrics/score_sketch.py).
    roc_auc_max_error: float | None = None


def resolve_positive_label(classes: Sequence[str], configured: str | None) -> str | None:
    """Return the positive label if the task is binary, else ``None`` (macro averaging).

    A task is binary only when the distinct ``classes`` number at most two. Then a
    ``configured`` label wins, even if it was never observed; otherwise the positive label is
    inferred from well-known pairs ("0"/"1", "false"/"true", "no"/"yes",
    "negative"/"positive"), also when only one member of the pair was observed. Matching is
    exact (labels are canonical lower-case strings). More than two classes is always
    multiclass, whatever is configured.
    """
    distinct = set(classes)
    if len(distinct) > 2:
        return None
    if configured is not None:
        return configured
    for negative, positive in _KNOWN_BINARY_PAIRS:
        # Only a non-empty subset of a known pair identifies the positive class.
        if distinct and distinct <= {negative, positive}:
            return positive
    return None


def _safe_divide(
    num: npt.NDArray[np.float64], den: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Element-wise ``num / den`` with 0 where ``den == 0`` (sklearn ``zero_division=0``)."""
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def classification_from_confusion(
    counts: Mapping[tuple[str, str], int], positive_label: str | None
) -> ClassificationMetrics | None:
    """Compute label metrics from confusion counts keyed by ``(true_label, predicted_label)``.

    Returns ``None`` when the total count is 0. Entries with a zero count do not make their
    labels "observed". ``positive_label`` is the configured one (may be ``None``); it is passed
    through :func:`resolve_positive_label` together with the observed labels. If the resolved
    positive label is absent from the data, its precision, recall and F1 are 0, as sklearn
    gives with ``labels=[positive_label]``.

    Raises ``ValueError`` on negative counts.
    """
    observed: dict[tuple[str, str], int] = {}
    for key, value in counts.items():
        c = int(value)
        if c < 0:
            raise ValueError(f"negative confusion count {c} for {key!r}")
        if c > 0:
            observed[key] = observed.get(key, 0) + c
    total = sum(observed.values())
    if total == 0:
        return None

    labels = sorted({t for t, _ in observed} | {p for _, p in observed})
    index = {label: i for i, label in enumerate(labels)}
    k = len(labels)
    cm = [[0] * k for _ in range(k)]
    for (t, p), c in observed.items():
        cm[index[t]][index[p]] += c
    small = k <= _SMALL
    per_label = _per_label_small(cm) if small else _per_label(np.array(cm, dtype=np.int64))
    precision_l, recall_l, f1_l, f1_macro, f1_weighted, accuracy = per_label

    resolved = resolve_positive_label(labels, positive_label)
    if resolved is not None:
        average = "binary"
        if resolved in index:
            i = index[resolved]
            precision, recall, f1 = precision_l[i], recall_l[i], f1_l[i]
        else:
            # Never observed: no true positives, so every ratio is 0 (or 0/0 -> 0).
            precision = recall = f1 = 0.0
    else:
        average = "macro"
        precision = _mean(precision_l)
        recall = _mean(recall_l)
        f1 = f1_macro

    return ClassificationMetrics(
        accuracy=accuracy,
        precision=precision,
        recall=recall,
        f1=f1,
        f1_macro=f1_macro,
        f1_weighted=f1_weighted,
        average=average,
        positive_label=resolved,
        labels=labels,
        matrix=cm,
    )


# Up to this many labels the per-label arithmetic runs on Python floats: the same IEEE
# operations in the same order as numpy's (whose pairwise sums add fewer than 8 numbers one by
# one), without numpy's per-call overhead, which dominated a timeseries of 720 small windows.
_SMALL = 7
PerLabel = tuple[list[float], list[float], list[float], float, float, float]


def _div(num: float, den: float) -> float:
    return num / den if den != 0 else 0.0


def _mean(values: list[float]) -> float:
    total = 0.0
    for v in values:
        total += v
    return total / len(values)


def _per_label_small(cm: list[list[int]]) -> PerLabel:
    """Per-label precision, recall, F1, then macro and weighted F1 and accuracy."""
    k = len(cm)
    tp = [float(cm[i][i]) for i in range(k)]
    pred_count = [float(sum(cm[r][j] for r in range(k))) for j in range(k)]
    support = [float(sum(row)) for row in cm]
    precision = [_div(tp[i], pred_count[i]) for i in range(k)]
    recall = [_div(tp[i], support[i]) for i in range(k)]
    # F1 as 2tp / (2tp + fp + fn): this is sklearn's formula and avoids 0/0 for tp == 0.
    f1 = [_div(2.0 * tp[i], pred_count[i] + support[i]) for i in range(k)]
    weighted = 0.0
    for f, n in zip(f1, support, strict=True):
        weighted += f * n
    total = 0.0
    for n in support:
        total += n
    correct = 0.0
    for t in tp:
        correct += t
    # total > 0 (the caller returns None for an empty window), so both averages are defined.
    return precision, recall, f1, _mean(f1), weighted / total, correct / total


def _per_label(cm: npt.NDArray[np.int64]) -> PerLabel:
    """:func:`_per_label_small` with numpy, for many labels."""
    tp = np.diag(cm).astype(np.float64)
    pred_count = cm.sum(axis=0).astype(np.float64)  # tp + fp per label
    support = cm.sum(axis=1).astype(np.float64)  # tp + fn per label
    precision_l = _safe_divide(tp, pred_count)
    recall_l = _safe_divide(tp, support)
    f1_l = _safe_divide(2.0 * tp, pred_count + support)
    f1_macro = float(f1_l.mean())
    f1_weighted = float((f1_l * support).sum() / support.sum())
    accuracy = float(tp.sum() / support.sum())
    return (
        [float(x) for x in precision_l],
        [float(x) for x in recall_l],
        [float(x) for x in f1_l],
        f1_macro,
        f1_weighted,
        accuracy,
    )


def roc_auc_binary(y_true: np.ndarray, score: np.ndarray) -> float | None:
    """Exact ROC AUC of ``score`` for the boolean target ``y_true`` (True = positive).

    Equals ``sklearn.metrics.roc_auc_score``: AUC is the probability that a random positive
    scores above a random negative, ties counting one half (Mann–Whitney U with average
    ranks). O(n log n). Returns ``None`` when empty or when only one class is present.
    Raises ``ValueError`` on shape mismatch or NaN scores.
    """
    y = np.asarray(y_true, dtype=bool).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but score has {s.size}")
    if np.isnan(s).any():
        raise ValueError("score contains NaN")
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return None

    order = np.argsort(s, kind="stable")
    s_sorted = s[order]
    y_sorted = y[order]
    # Group equal scores (== also merges -0.0 and 0.0, like sklearn's thresholds).
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    pos_g = np.add.reduceat(y_sorted.astype(np.int64), starts)
    size_g = np.diff(np.r_[starts, s_sorted.size])
    neg_g = size_g - pos_g
    neg_below = np.cumsum(neg_g) - neg_g
    # 2 * U in integers: each positive beats the negatives below it and ties with the
    # negatives in its own group (worth 1/2). Integer arithmetic keeps the result exact
    # until the single final division.
    twice_u = int(np.sum(pos_g * (2 * neg_below + neg_g)))
    return twice_u / (2 * n_pos * n_neg)


def _normalised_probs(probs: np.ndarray, n: int, k: int) -> npt.NDArray[np.float64]:
    """Validate a probability matrix of shape (n, k) and scale each row to sum 1."""
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != (n, k):
        raise ValueError(f"probs has shape {p.shape}, expected {(n, k)}")
    if np.isnan(p).any() or (p < 0).any():
        raise ValueError("probs must be non-negative numbers")
    sums = p.sum(axis=1, keepdims=True)
    if (sums <= 0).any():
        raise ValueError("every row of probs needs a positive sum")
    # sklearn requires rows that sum to one; scaling is a no-op for proper probabilities and
    # makes slightly-off client output (rounding, missing tail classes) usable.
    result: npt.NDArray[np.float64] = p / sums
    return result


def _class_indices(
    y_true: Sequence[str] | np.ndarray, classes: Sequence[str]
) -> npt.NDArray[np.int64]:
    """Map each true label to its column in ``classes``; unknown labels are an error."""
    column = {c: i for i, c in enumerate(classes)}
    if len(column) != len(classes):
        raise ValueError("classes contains duplicates")
    try:
        return np.fromiter((column[str(v)] for v in y_true), dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"label {exc.args[0]!r} of y_true is not in classes") from None


def roc_auc_ovr(
    y_true: Sequence[str] | np.ndarray, probs: np.ndarray, classes: Sequence[str]
) -> float | None:
    """One-vs-rest macro ROC AUC, as ``roc_auc_score(multi_class="ovr", average="macro")``.

    ``probs`` has shape ``(n, len(classes))``, column ``j`` being the probability of
    ``classes[j]``; rows are normalised to sum 1 first (sklearn requires it). Unlike sklearn,
    which raises, classes absent from ``y_true`` are skipped: their one-vs-rest AUC is
    undefined, and a monitoring window often misses rare classes. Returns ``None`` when fewer
    than two classes are present. Every label of ``y_true`` must be in ``classes``.
    """
    idx = _class_indices(y_true, classes)
    if idx.size == 0:
        return None
    p = _normalised_probs(probs, idx.size, len(classes))
    present = np.unique(idx)
    if present.size < 2:
        return None
    aucs: list[float] = []
    for j in present:
        auc = roc_auc_binary(idx == j, p[:, j])
        # Never None here (class j and at least one other class are present); the check
        # only narrows the type.
        if auc is not None:
            aucs.append(auc)
    return float(np.mean(aucs))


def log_loss_binary(y_true: np.ndarray, p: np.ndarray) -> float | None:
    """Mean binary cross-entropy (natural log), as ``sklearn.metrics.log_loss``.

    ``y_true`` is boolean (True = positive), ``p`` the probability of the positive class,
    clipped to ``[eps, 1 - eps]`` with ``eps = finfo(float64).eps``. A single observed class
    is fine (sklearn needs ``labels=[False, True]`` for that). ``None`` when empty.
    """
    y = np.asarray(y_true, dtype=bool).ravel()
    q = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != q.shape:
        raise ValueError(f"y_true has {y.size} values but p has {q.size}")
    if y.size == 0:
        return None
    if np.isnan(q).any() or (q < 0).any() or (q > 1).any():
        raise ValueError("p must be probabilities in [0, 1]")
    # Probability given to the true class, computed before clipping as sklearn does
    # (it builds [1 - p, p] and then clips both columns).
    p_true = np.where(y, q, 1.0 - q)
    return float(-np.mean(np.log(np.clip(p_true, _EPS, 1.0 - _EPS))))


def log_loss_multiclass(
    y_true: Sequence[str] | np.ndarray, probs: np.ndarray, classes: Sequence[str]
) -> float | None:
    """Mean multiclass cross-entropy (natural log), as ``sklearn.metrics.log_loss``.

    ``probs`` has shape ``(n, len(classes))``; rows are normalised to sum 1, then clipped to
    ``[eps, 1 - eps]`` (current sklearn only warns on rows not summing to one and clips
    without renormalising, so for proper probabilities both agree). ``None`` when empty.
    Every label of ``y_true`` must be in ``classes``.
    """
    idx = _class_indices(y_true, classes)
    if idx.size == 0:
        return None
    p = _normalised_probs(probs, idx.size, len(classes))
    p_true = p[np.arange(idx.size), idx]
    return float(-np.mean(np.log(np.clip(p_true, _EPS, 1.0 - _EPS))))
