"""Histogram approximations for the drift trend: bins, exactness where promised, measured error."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from modeltower.drift import (
    STATTESTS,
    Sample,
    categorical_from_values,
    numeric_sample,
)
from modeltower.drift.binned import (
    BinnedSample,
    bin_index,
    binned_ks_statistic,
    binned_sample,
    binned_score,
    reference_edges,
)
from modeltower.drift.ks import ks_statistic

# Bounds stated in docs/DRIFT.md (measured by bench/bench_drift.py --binned-error).
WASSERSTEIN_BOUND = 0.05
KS_D_BOUND = 0.01
# Verdicts agree whenever the exact score is at least this far from the threshold.
VERDICT_MARGIN = {
    "wasserstein": 0.03,
    "psi": 0.05,
    "kl_div": 0.05,
    "jensenshannon": 0.02,
    "hellinger": 0.02,
}
KEYED_METHODS = ["psi", "kl_div", "jensenshannon", "hellinger", "chi2", "chi2_gof", "z"]


def _draw(rng: np.random.Generator, shape: str, n: int, shift: float, scale: float) -> np.ndarray:
    if shape == "normal":
        x, centre, sd = rng.normal(0, 1, n), 0.0, 1.0
    elif shape == "lognormal":
        x, centre, sd = rng.lognormal(0, 1, n), 1.0, 2.16
    elif shape == "mixture":
        x = np.where(rng.random(n) < 0.3, rng.normal(-2, 0.5, n), rng.normal(1, 1, n))
        centre, sd = 0.5, 1.5
    else:  # integer-valued
        x, centre, sd = rng.poisson(30, n).astype(float), 30.0, 5.5
    y = (x - centre) * scale + centre + shift * sd
    return np.round(y) if shape == "integer" else y


def _pairs() -> Iterator[tuple[str, Sample, Sample]]:
    rng = np.random.default_rng(42)
    for shape in ("normal", "lognormal", "mixture", "integer"):
        for n_ref in (1_000, 50_000):
            ref = numeric_sample(_draw(rng, shape, n_ref, 0, 1))
            for shift, scale in ((0, 1), (0.08, 1), (0.2, 1), (0.5, 1), (0, 1.25), (0.3, 0.8)):
                for n_cur in (2_000, 30_000):
                    yield shape, ref, numeric_sample(_draw(rng, shape, n_cur, shift, scale))


PAIRS = list(_pairs())


def test_reference_edges_none_for_keyed_features() -> None:
    assert reference_edges(categorical_from_values(np.array(["a", "b"] * 20, dtype=object))) is None
    assert reference_edges(numeric_sample(np.arange(20.0).repeat(3))) is None
    assert reference_edges(numeric_sample(np.arange(21.0))) is not None


def test_reference_edges_quantile_bins() -> None:
    ref = numeric_sample(np.random.default_rng(0).normal(size=100_000))
    edges = reference_edges(ref)
    assert edges is not None
    assert (np.diff(edges) > 0).all()
    assert edges[0] == ref.keys[0] and edges[-1] == np.nextafter(ref.keys[-1], np.inf)
    assert 60 <= edges.size + 1 <= 70
    counts = binned_sample(ref, edges).counts
    assert counts[0] == 0 and counts[-1] == 0  # nothing outside the reference range
    inner = counts[1:-1]
    # 48 equal-frequency bins, the tails split further.
    assert inner.max() <= ref.n / 48 + 1


def test_reference_edges_one_bin_per_value_for_few_values() -> None:
    values = np.random.default_rng(1).poisson(30, 10_000).astype(float)
    ref = numeric_sample(values)
    edges = reference_edges(ref)
    assert edges is not None
    assert np.array_equal(edges[0::2], ref.keys)
    assert np.array_equal(edges[1::2], np.nextafter(ref.keys, np.inf))


def test_reference_edges_isolate_a_heavy_value() -> None:
    rng = np.random.default_rng(2)
    values = np.where(rng.random(20_000) < 0.3, 0.0, rng.gamma(2, 10, 20_000))
    edges = reference_edges(numeric_sample(values))
    assert edges is not None
    assert 0.0 in edges and np.nextafter(0.0, np.inf) in edges


def test_bin_index() -> None:
    edges = np.array([1.0, 2.0, 3.0])
    values = np.array([0.5, 1.0, 1.5, 2.0, 3.0, 9.0])
    assert bin_index(values, edges).tolist() == [0, 1, 1, 2, 3, 3]


def test_binned_sample_counts_equal_bin_index() -> None:
    rng = np.random.default_rng(3)
    ref = numeric_sample(rng.normal(size=5_000))
    edges = reference_edges(ref)
    assert edges is not None
    raw = rng.normal(0.3, 1.5, 3_000)
    cur = binned_sample(numeric_sample(raw), edges)
    assert np.array_equal(cur.counts, np.bincount(bin_index(raw, edges), minlength=edges.size + 1))
    assert cur.n == 3_000 and cur.lo == raw.min() and cur.hi == raw.max()


def test_keyed_histograms_are_exact() -> None:
    rng = np.random.default_rng(4)
    cats = np.array(["a", "b", "c", "d"], dtype=object)
    pairs = [
        (categorical_from_values(rng.choice(cats, 900)), categorical_from_values(rng.choice(cats, 400)), "categorical"),
        (numeric_sample(rng.integers(0, 12, 900).astype(float)), numeric_sample(rng.integers(0, 14, 400).astype(float)), "numeric"),
    ]  # fmt: skip
    for ref, cur, feature_type in pairs:
        assert reference_edges(ref) is None
        rb, cb = binned_sample(ref, None), binned_sample(cur, None)
        methods = KEYED_METHODS + (["wasserstein", "ks"] if feature_type == "numeric" else [])
        for m in methods:
            t = STATTESTS[m].default_threshold
            exact = STATTESTS[m].func(ref, cur, feature_type, t)  # type: ignore[arg-type]
            approx = binned_score(
                m, rb, cb, None, ref.std() if ref.is_numeric else None, feature_type, t
            )  # type: ignore[arg-type]
            assert approx[0] == pytest.approx(exact[0], rel=1e-9, abs=1e-12), m
            assert approx[1] == exact[1], m


def test_ks_statistic_exact_for_integer_data_on_reference_values() -> None:
    rng = np.random.default_rng(5)
    ref = numeric_sample(rng.poisson(30, 20_000).astype(float))
    cur = numeric_sample(np.clip(rng.poisson(32, 5_000), ref.keys[0], ref.keys[-1]).astype(float))
    edges = reference_edges(ref)
    assert edges is not None
    d = binned_ks_statistic(binned_sample(ref, edges), binned_sample(cur, edges), edges)
    assert d == pytest.approx(ks_statistic(ref, cur), abs=1e-12)


def test_wasserstein_and_ks_error_within_stated_bounds() -> None:
    worst_w = worst_d = 0.0
    for _shape, ref, cur in PAIRS:
        edges = reference_edges(ref)
        assert edges is not None
        rb, cb = binned_sample(ref, edges), binned_sample(cur, edges)
        w_exact = STATTESTS["wasserstein"].func(ref, cur, "numeric", 0.1)[0]
        w_binned = binned_score("wasserstein", rb, cb, edges, ref.std(), "numeric", 0.1)[0]
        worst_w = max(worst_w, abs(w_binned - w_exact))
        d_exact, d_binned = ks_statistic(ref, cur), binned_ks_statistic(rb, cb, edges)
        # Guaranteed: within each bin both CDFs stay between the same end values.
        p_ref, p_cur = rb.counts / rb.n, cb.counts / cb.n
        assert abs(d_binned - d_exact) <= (p_ref + p_cur).max() + 1e-12
        worst_d = max(worst_d, abs(d_binned - d_exact))
    assert worst_w <= WASSERSTEIN_BOUND
    assert worst_d <= KS_D_BOUND


@pytest.mark.parametrize("method", sorted(VERDICT_MARGIN))
def test_verdicts_agree_away_from_the_threshold(method: str) -> None:
    t = STATTESTS[method].default_threshold
    checked = 0
    for shape, ref, cur in PAIRS:
        edges = reference_edges(ref)
        assert edges is not None
        exact, exact_drift = STATTESTS[method].func(ref, cur, "numeric", t)
        if abs(exact - t) < VERDICT_MARGIN[method]:
            continue
        rb, cb = binned_sample(ref, edges), binned_sample(cur, edges)
        score, drift = binned_score(method, rb, cb, edges, ref.std(), "numeric", t)
        assert drift == exact_drift, (shape, exact, score)
        checked += 1
    assert checked >= len(PAIRS) // 2


def test_ks_p_value_verdicts_agree_away_from_the_threshold() -> None:
    for shape, ref, cur in PAIRS:
        edges = reference_edges(ref)
        assert edges is not None
        p, drift = STATTESTS["ks"].func(ref, cur, "numeric", 0.05)
        if 0.005 < p < 0.3:
            continue
        rb, cb = binned_sample(ref, edges), binned_sample(cur, edges)
        assert binned_score("ks", rb, cb, edges, None, "numeric", 0.05)[1] == drift, (shape, p)


def test_count_tests_on_bins() -> None:
    rng = np.random.default_rng(6)
    ref = numeric_sample(rng.normal(size=4_000))
    edges = reference_edges(ref)
    assert edges is not None
    rb = binned_sample(ref, edges)
    same = binned_sample(numeric_sample(rng.normal(size=3_000)), edges)
    moved = binned_sample(numeric_sample(rng.normal(1, 1, 3_000)), edges)
    # chi2_gof is left out here: it ignores the noise of the reference sample, so with a
    # reference not much larger than the current it flags samples of the same distribution.
    for m in ("chi2", "z"):
        assert not binned_score(m, rb, same, edges, None, "numeric", 0.01)[1], m
    assert binned_score("chi2", rb, moved, edges, None, "numeric", 0.05)[1]
    assert binned_score("chi2_gof", rb, moved, edges, None, "numeric", 0.05)[1]


def test_binned_score_validation() -> None:
    ref = numeric_sample(np.random.default_rng(7).normal(size=1_000))
    edges = reference_edges(ref)
    assert edges is not None
    rb = binned_sample(ref, edges)
    with pytest.raises(ValueError, match="standard deviation"):
        binned_score("wasserstein", rb, rb, edges, None, "numeric", 0.1)
    bad = BinnedSample(n=3, counts=np.array([1, 2]), keys=None, lo=0.0, hi=1.0)
    with pytest.raises(ValueError, match="bin counts"):
        binned_score("psi", rb, bad, edges, 1.0, "numeric", 0.1)
    with pytest.raises(ValueError, match="ks applies to numeric"):
        binned_score("ks", rb, rb, edges, 1.0, "categorical", 0.1)
    empty = BinnedSample(
        n=0, counts=np.zeros(edges.size + 1, dtype=np.int64), keys=None, lo=None, hi=None
    )
    with pytest.raises(ValueError, match="no values"):
        binned_score("psi", rb, empty, edges, 1.0, "numeric", 0.1)
