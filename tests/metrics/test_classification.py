"""Classification metrics against scikit-learn on generated data with fixed seeds."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)

from modeltower.metrics import (
    ClassificationMetrics,
    classification_from_confusion,
    log_loss_binary,
    log_loss_multiclass,
    resolve_positive_label,
    roc_auc_binary,
    roc_auc_ovr,
)

REL = 1e-12


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray) -> dict[tuple[str, str], int]:
    """What the store hands over: counts keyed by (true, predicted)."""
    return dict(Counter(zip(y_true.tolist(), y_pred.tolist(), strict=True)))


def noisy_predictions(
    rng: np.random.Generator, classes: list[str], n: int, p_correct: float
) -> tuple[np.ndarray, np.ndarray]:
    """True labels and predictions that are right with probability ``p_correct``."""
    y_true = rng.choice(classes, size=n)
    wrong = rng.choice(classes, size=n)
    y_pred = np.where(rng.random(n) < p_correct, y_true, wrong)
    return y_true, y_pred


def check_common(m: ClassificationMetrics, y_true: np.ndarray, y_pred: np.ndarray) -> None:
    """Fields that do not depend on the averaging mode."""
    labels = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    assert m.labels == labels
    assert m.matrix == confusion_matrix(y_true, y_pred, labels=labels).tolist()
    assert m.accuracy == pytest.approx(accuracy_score(y_true, y_pred), rel=REL)
    assert m.f1_macro == pytest.approx(
        f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0), rel=REL
    )
    assert m.f1_weighted == pytest.approx(
        f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0), rel=REL
    )
    assert m.roc_auc is None and m.log_loss is None


# --------------------------------------------------------------------------- label metrics


def test_binary_string_labels_with_configured_positive() -> None:
    rng = np.random.default_rng(11)
    y_true, y_pred = noisy_predictions(rng, ["ham", "spam"], 500, 0.7)
    m = classification_from_confusion(confusion_counts(y_true, y_pred), "spam")
    assert m is not None
    check_common(m, y_true, y_pred)
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, average="binary", pos_label="spam", zero_division=0
    )
    assert (m.average, m.positive_label) == ("binary", "spam")
    assert m.precision == pytest.approx(p, rel=REL)
    assert m.recall == pytest.approx(r, rel=REL)
    assert m.f1 == pytest.approx(f, rel=REL)
    # The other class as positive gives different numbers, so the label really matters.
    m_ham = classification_from_confusion(confusion_counts(y_true, y_pred), "ham")
    assert m_ham is not None and m_ham.precision != pytest.approx(m.precision)


@pytest.mark.parametrize(
    ("negative", "positive"),
    [("0", "1"), ("false", "true"), ("no", "yes"), ("negative", "positive")],
)
def test_binary_positive_inferred(negative: str, positive: str) -> None:
    rng = np.random.default_rng(12)
    # Imbalanced so binary and macro averages differ clearly.
    y_true = np.where(rng.random(800) < 0.2, positive, negative)
    y_pred = np.where(rng.random(800) < 0.75, y_true, rng.choice([negative, positive], 800))
    m = classification_from_confusion(confusion_counts(y_true, y_pred), None)
    assert m is not None
    check_common(m, y_true, y_pred)
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, average="binary", pos_label=positive, zero_division=0
    )
    assert (m.average, m.positive_label) == ("binary", positive)
    assert (m.precision, m.recall, m.f1) == pytest.approx((p, r, f), rel=REL)
    assert m.f1 != pytest.approx(m.f1_macro)


def test_positive_label_absent_from_data() -> None:
    # Only negatives, never predicted positive: "1" inferred but unseen.
    y_true = np.array(["0"] * 7 + ["0"] * 3)
    y_pred = np.array(["0"] * 10)
    m = classification_from_confusion(confusion_counts(y_true, y_pred), None)
    assert m is not None
    assert (m.average, m.positive_label, m.labels) == ("binary", "1", ["0"])
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=["1"], average=None, zero_division=0
    )
    assert (m.precision, m.recall, m.f1) == (p[0], r[0], f[0]) == (0.0, 0.0, 0.0)
    assert m.accuracy == 1.0
    assert m.matrix == [[10]]


def test_configured_positive_label_never_observed() -> None:
    rng = np.random.default_rng(13)
    y_true, y_pred = noisy_predictions(rng, ["a", "b"], 300, 0.6)
    m = classification_from_confusion(confusion_counts(y_true, y_pred), "fraud")
    assert m is not None
    check_common(m, y_true, y_pred)
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=["fraud"], average=None, zero_division=0
    )
    assert (m.average, m.positive_label) == ("binary", "fraud")
    assert (m.precision, m.recall, m.f1) == (p[0], r[0], f[0]) == (0.0, 0.0, 0.0)
    assert m.accuracy > 0.5


@pytest.mark.parametrize(("n_classes", "seed"), [(3, 21), (4, 22), (4, 23)])
def test_multiclass_macro_and_weighted(n_classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    classes = ["bird", "cat", "dog", "fish"][:n_classes]
    # Skewed class frequencies make macro and weighted F1 differ.
    weights = np.array([0.55, 0.25, 0.15, 0.05][:n_classes])
    y_true = rng.choice(classes, size=600, p=weights / weights.sum())
    y_pred = np.where(rng.random(600) < 0.6, y_true, rng.choice(classes, 600)).astype(object)
    # A label that is only ever predicted (precision 0, recall 0/0 -> 0).
    y_pred[:5] = "zebra"
    m = classification_from_confusion(confusion_counts(y_true, y_pred), "cat")
    assert m is not None
    check_common(m, y_true, y_pred)
    assert (m.average, m.positive_label) == ("macro", None)
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    assert (m.precision, m.recall, m.f1) == pytest.approx((p, r, f), rel=REL)
    assert m.f1 == m.f1_macro
    assert m.f1_macro != pytest.approx(m.f1_weighted)
    assert "zebra" in m.labels


def test_matrix_orientation_rows_are_true_labels() -> None:
    m = classification_from_confusion({("a", "b"): 3, ("b", "b"): 1}, None)
    assert m is not None
    assert m.labels == ["a", "b"]
    assert m.matrix == [[0, 3], [0, 1]]
    assert m.accuracy == 0.25
    assert m.average == "macro"  # {"a", "b"} is no known pair and nothing is configured
    # precision: a -> 0/0 = 0, b -> 1/4; recall: a -> 0/3, b -> 1/1
    assert m.precision == pytest.approx(0.125)
    assert m.recall == pytest.approx(0.5)


def test_empty_and_zero_counts_give_none() -> None:
    assert classification_from_confusion({}, None) is None
    assert classification_from_confusion({("0", "1"): 0}, "1") is None


def test_zero_count_entries_do_not_add_labels() -> None:
    m = classification_from_confusion({("a", "a"): 2, ("a", "z"): 0}, None)
    assert m is not None and m.labels == ["a"]


def test_negative_count_rejected() -> None:
    with pytest.raises(ValueError):
        classification_from_confusion({("a", "a"): -1}, None)


@pytest.mark.parametrize(
    ("classes", "configured", "expected"),
    [
        (["0", "1"], None, "1"),
        (["1"], None, "1"),
        (["0"], None, "1"),
        (["true", "false"], None, "true"),
        (["false"], None, "true"),
        (["no", "yes"], None, "yes"),
        (["negative", "positive"], None, "positive"),
        (["ham", "spam"], None, None),
        (["ham", "spam"], "spam", "spam"),
        (["0", "1"], "0", "0"),
        (["a"], "b", "b"),
        ([], None, None),
        (["0", "true"], None, None),
        (["0", "1", "2"], None, None),
        (["0", "1", "2"], "1", None),
        (["1", "1", "0", "0"], None, "1"),
    ],
)
def test_resolve_positive_label(
    classes: list[str], configured: str | None, expected: str | None
) -> None:
    assert resolve_positive_label(classes, configured) == expected


# --------------------------------------------------------------------------- ROC AUC


def test_roc_auc_binary_continuous_scores() -> None:
    rng = np.random.default_rng(31)
    y = rng.random(3000) < 0.3
    score = rng.normal(loc=y * 0.8, scale=1.0)
    auc = roc_auc_binary(y, score)
    assert auc == pytest.approx(roc_auc_score(y, score), rel=REL)
    assert 0.6 < auc < 0.9


@pytest.mark.parametrize("decimals", [0, 1, 2])
def test_roc_auc_binary_with_ties(decimals: int) -> None:
    rng = np.random.default_rng(32 + decimals)
    y = rng.random(5000) < 0.4
    score = np.round(np.clip(rng.normal(0.5 + 0.15 * y, 0.25), 0, 1), decimals)
    assert len(np.unique(score)) < 200  # heavy ties
    assert roc_auc_binary(y, score) == pytest.approx(roc_auc_score(y, score), rel=REL)


def test_roc_auc_binary_hand_values() -> None:
    y = np.array([False, True, False, True])
    # positives 0.4 and 0.8 vs negatives 0.1 and 0.35: 4 wins of 4 -> 1.0
    assert roc_auc_binary(y, np.array([0.1, 0.4, 0.35, 0.8])) == 1.0
    # positive 0.4 loses to negative 0.5: 3 of 4
    assert roc_auc_binary(y, np.array([0.1, 0.4, 0.5, 0.8])) == 0.75
    # one tie (0.4 vs 0.4) counts one half: 3.5 of 4
    assert roc_auc_binary(y, np.array([0.1, 0.4, 0.4, 0.8])) == 0.875
    assert roc_auc_binary(y, np.array([0.9, 0.1, 0.8, 0.2])) == 0.0
    assert roc_auc_binary(y, np.full(4, 0.3)) == 0.5


def test_roc_auc_binary_undefined_cases() -> None:
    assert roc_auc_binary(np.array([], dtype=bool), np.array([])) is None
    assert roc_auc_binary(np.ones(5, dtype=bool), np.linspace(0, 1, 5)) is None
    assert roc_auc_binary(np.zeros(5, dtype=bool), np.linspace(0, 1, 5)) is None
    with pytest.raises(ValueError):
        roc_auc_binary(np.array([True, False]), np.array([0.5, np.nan]))
    with pytest.raises(ValueError):
        roc_auc_binary(np.array([True, False]), np.array([0.5]))


def dirichlet_problem(seed: int, classes: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from informative class probabilities (columns in ``classes`` order)."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(len(classes)), size=n)
    sharpened = probs**3 / (probs**3).sum(axis=1, keepdims=True)
    y = np.array([classes[rng.choice(len(classes), p=row)] for row in sharpened])
    return y, probs


@pytest.mark.parametrize("n_classes", [3, 4])
def test_roc_auc_ovr_matches_sklearn(n_classes: int) -> None:
    # Deliberately not sorted: sklearn needs sorted columns, ours follows `classes`.
    classes = ["dog", "ant", "cat", "bee"][:n_classes]
    y, probs = dirichlet_problem(41 + n_classes, classes, 1500)
    order = np.argsort(classes)
    expected = roc_auc_score(
        y, probs[:, order], multi_class="ovr", average="macro", labels=sorted(classes)
    )
    assert roc_auc_ovr(y, probs, classes) == pytest.approx(expected, rel=REL)
    assert roc_auc_ovr(list(y), probs, classes) == pytest.approx(expected, rel=REL)


def test_roc_auc_ovr_with_ties() -> None:
    classes = ["a", "b", "c"]
    y, probs = dirichlet_problem(45, classes, 1000)
    probs = np.round(probs, 1) + 0.01  # heavy ties; rows sum to 1.03 now
    normalised = probs / probs.sum(axis=1, keepdims=True)
    expected = roc_auc_score(y, normalised, multi_class="ovr", labels=classes)
    assert roc_auc_ovr(y, probs, classes) == pytest.approx(expected, rel=REL)


def test_roc_auc_ovr_normalises_rows() -> None:
    # Continuous scores only: rescaling rows moves values by an ulp, which would split ties.
    classes = ["a", "b", "c"]
    y, probs = dirichlet_problem(46, classes, 1000)
    scaled = probs * np.random.default_rng(46).uniform(0.5, 2.0, size=(len(probs), 1))
    expected = roc_auc_score(y, probs, multi_class="ovr", labels=classes)
    assert roc_auc_ovr(y, scaled, classes) == pytest.approx(expected, rel=1e-9)
    # Without normalisation the column rankings change, and so would the AUC.
    raw = np.mean([roc_auc_score(y == c, scaled[:, j]) for j, c in enumerate(classes)])
    assert raw != pytest.approx(expected, rel=1e-6)


def test_roc_auc_ovr_skips_absent_classes() -> None:
    classes = ["a", "b", "c", "d"]
    y, probs = dirichlet_problem(47, classes, 800)
    keep = y != "c"
    y, probs = y[keep], probs[keep]
    normalised = probs / probs.sum(axis=1, keepdims=True)
    expected = np.mean(
        [roc_auc_score(y == c, normalised[:, j]) for j, c in enumerate(classes) if c != "c"]
    )
    assert roc_auc_ovr(y, probs, classes) == pytest.approx(expected, rel=REL)


def test_roc_auc_ovr_two_classes_equals_binary() -> None:
    rng = np.random.default_rng(48)
    p1 = rng.random(400)
    y = np.where(rng.random(400) < p1, "yes", "no")
    probs = np.column_stack([1 - p1, p1])
    assert roc_auc_ovr(y, probs, ["no", "yes"]) == pytest.approx(
        roc_auc_score(y == "yes", p1), rel=1e-9
    )


def test_roc_auc_ovr_undefined_and_invalid() -> None:
    probs = np.full((3, 3), 1 / 3)
    assert roc_auc_ovr(np.array(["a", "a", "a"]), probs, ["a", "b", "c"]) is None
    assert roc_auc_ovr(np.array([], dtype=str), np.empty((0, 3)), ["a", "b", "c"]) is None
    with pytest.raises(ValueError):
        roc_auc_ovr(np.array(["a", "b", "x"]), probs, ["a", "b", "c"])
    with pytest.raises(ValueError):
        roc_auc_ovr(np.array(["a", "b", "c"]), probs[:, :2], ["a", "b", "c"])


# --------------------------------------------------------------------------- log loss


def test_log_loss_binary_matches_sklearn_including_clipping() -> None:
    rng = np.random.default_rng(51)
    p = rng.random(1000)
    y = rng.random(1000) < p
    p[:10] = 0.0  # hard zeros/ones exercise the eps clipping
    p[10:20] = 1.0
    expected = log_loss(y, y_proba=p, labels=[False, True])
    assert log_loss_binary(y, p) == pytest.approx(expected, rel=REL)
    wrong_and_certain = (p == 0.0) & y | (p == 1.0) & ~y
    assert wrong_and_certain.any()  # so clipping (-log(eps) ≈ 36) is actually exercised
    assert np.isfinite(log_loss_binary(y, p))


def test_log_loss_binary_single_class_and_hand_value() -> None:
    y = np.ones(4, dtype=bool)
    p = np.array([0.9, 0.8, 0.6, 0.99])
    expected = log_loss(y, y_proba=p, labels=[False, True])
    assert log_loss_binary(y, p) == pytest.approx(expected, rel=REL)
    assert log_loss_binary(np.array([True, False]), np.array([0.8, 0.8])) == pytest.approx(
        -(np.log(0.8) + np.log(0.2)) / 2, rel=REL
    )
    assert log_loss_binary(np.array([], dtype=bool), np.array([])) is None
    with pytest.raises(ValueError):
        log_loss_binary(np.array([True]), np.array([1.5]))


@pytest.mark.parametrize("n_classes", [3, 4])
def test_log_loss_multiclass_matches_sklearn(n_classes: int) -> None:
    classes = ["dog", "ant", "cat", "bee"][:n_classes]
    y, probs = dirichlet_problem(52 + n_classes, classes, 1200)
    probs[:10] = 0.0
    probs[:10, 0] = 1.0  # confident rows, some of them wrong -> clipping matters
    order = np.argsort(classes)
    expected = log_loss(y, y_proba=probs[:, order], labels=sorted(classes))
    assert log_loss_multiclass(y, probs, classes) == pytest.approx(expected, rel=REL)


def test_log_loss_multiclass_normalises_rows() -> None:
    classes = ["a", "b", "c"]
    y, probs = dirichlet_problem(56, classes, 500)
    scaled = probs * np.random.default_rng(57).uniform(0.2, 5.0, size=(500, 1))
    expected = log_loss(y, y_proba=probs, labels=classes)
    assert log_loss_multiclass(y, scaled, classes) == pytest.approx(expected, rel=1e-9)
    assert log_loss_multiclass(np.array([], dtype=str), np.empty((0, 3)), classes) is None
    # Only one class observed is still defined.
    assert log_loss_multiclass(["b"], np.array([[0.2, 0.5, 0.3]]), classes) == pytest.approx(
        -np.log(0.5), rel=REL
    )


@pytest.mark.parametrize("k", range(1, 8))
def test_small_label_sets_compute_exactly_what_numpy_computes(k: int) -> None:
    from modeltower.metrics.classification import _per_label, _per_label_small

    rng = np.random.default_rng(k)
    for _ in range(50):
        cm = rng.integers(0, 50, (k, k))
        cm[rng.random((k, k)) < 0.3] = 0
        if cm.sum() == 0:
            continue
        assert _per_label_small(cm.tolist()) == _per_label(cm.astype(np.int64))
