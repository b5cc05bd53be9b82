"""ROC AUC and log loss from a score histogram, against scikit-learn on the raw scores."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from modeltower.metrics.score_sketch import (
    SCORE_BINS,
    ScoreHistogram,
    log_loss_from_sums,
    roc_auc_binned,
    score_bin,
)


def _hist(labels: list[str], scores: np.ndarray) -> ScoreHistogram:
    h = ScoreHistogram()
    for lab, p in zip(labels, scores, strict=True):
        h.add_score(lab, float(p))
    return h


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_within_the_stated_bound_and_log_loss_exact(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 20_000
    y = rng.random(n) < 0.3
    # overlapping beta distributions: a realistic, imperfect classifier
    p = np.where(y, rng.beta(4, 2, n), rng.beta(2, 4, n))
    p[:50] = 0.0
    p[50:100] = 1.0
    labels = ["yes" if v else "no" for v in y]
    h = _hist(labels, p)
    auc, bound = roc_auc_binned(*h.split("yes")) or (None, None)
    assert auc is not None and bound is not None
    exact = roc_auc_score(y, p)
    assert abs(auc - exact) <= bound
    assert 0 < bound < 1e-3  # 1000 bins: at most half the share of pairs in one bin
    assert log_loss_from_sums(h, "yes") == pytest.approx(log_loss(y, p), rel=1e-12)


def test_auc_is_exact_when_scores_do_not_share_bins_unequally() -> None:
    rng = np.random.default_rng(5)
    # every score on a bin's lower edge: events in one bin have equal scores (true ties)
    k = rng.integers(0, SCORE_BINS, 5000)
    p = k / SCORE_BINS
    y = rng.random(5000) < (0.2 + 0.6 * p)
    h = _hist(["1" if v else "0" for v in y], p)
    got = roc_auc_binned(*h.split("1"))
    assert got is not None
    assert got[0] == pytest.approx(roc_auc_score(y, p), abs=1e-15)


def test_merged_histograms_equal_one_histogram_of_everything() -> None:
    rng = np.random.default_rng(9)
    p = rng.random(3000)
    labels = [str(v) for v in rng.integers(0, 2, 3000)]
    whole = _hist(labels, p)
    merged = _hist(labels[:1000], p[:1000]).merge(_hist(labels[1000:], p[1000:]))
    for lab in whole.counts:
        assert np.array_equal(whole.counts[lab], merged.counts[lab])
        assert merged.sum_ln_p[lab] == pytest.approx(whole.sum_ln_p[lab], rel=1e-12)
    assert merged.total == 3000


def test_one_class_and_empty_give_none() -> None:
    h = _hist(["a"] * 10, np.linspace(0, 1, 10))
    assert roc_auc_binned(*h.split("a")) is None
    assert log_loss_from_sums(ScoreHistogram(), "a") is None
    assert log_loss_from_sums(h, "a") == pytest.approx(
        log_loss([True] * 10, np.linspace(0, 1, 10), labels=[False, True]), rel=1e-12
    )


def test_bins_cover_zero_to_one() -> None:
    assert score_bin(0.0) == 0
    assert score_bin(1.0) == SCORE_BINS - 1
    assert score_bin(0.5) == SCORE_BINS // 2
    assert score_bin(np.nextafter(0.5, 0)) == SCORE_BINS // 2 - 1
