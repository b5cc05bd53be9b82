"""Each statistic against an independent scipy/numpy computation or a value worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from modeltower.drift import (
    STATTESTS,
    categorical_sample,
    get_stattest,
    numeric_sample,
    numeric_sample_from_counts,
)
from modeltower.drift.chi2 import chi2
from modeltower.drift.chi2_gof import chi2_gof
from modeltower.drift.hellinger import hellinger
from modeltower.drift.jensenshannon import jensenshannon
from modeltower.drift.kl_div import kl_div
from modeltower.drift.ks import ks, ks_statistic
from modeltower.drift.psi import psi
from modeltower.drift.wasserstein import wasserstein, wasserstein_distance
from modeltower.drift.z import z

RNG = np.random.default_rng(11)
NORMAL_REF = RNG.normal(0, 1, 3000)
NORMAL_CUR = RNG.normal(0.1, 1.2, 2000)

# Reference a:2 b:2, current a:3 b:1 → proportions (1/2, 1/2) and (3/4, 1/4).
HAND_REF = categorical_sample(["a", "b"], [2, 2])
HAND_CUR = categorical_sample(["a", "b"], [3, 1])


def test_registry_has_the_nine_methods() -> None:
    assert set(STATTESTS) == {
        "psi", "ks", "chi2", "chi2_gof", "z", "jensenshannon", "wasserstein", "kl_div", "hellinger"
    }  # fmt: skip
    for test in STATTESTS.values():
        assert test.default_threshold == (0.05 if test.kind == "p_value" else 0.1)
    assert get_stattest("ks").feature_types == {"numeric"}
    assert get_stattest("wasserstein").feature_types == {"numeric"}
    assert get_stattest("psi").feature_types == {"numeric", "categorical", "boolean"}


def test_unknown_method() -> None:
    with pytest.raises(
        ValueError, match=r"unknown drift method 'x'; one of: chi2, chi2_gof, hellinger"
    ):
        get_stattest("x")


def test_psi_by_hand() -> None:
    # (1/2 − 3/4)·ln(2/3) + (1/2 − 1/4)·ln 2 = ¼·ln 3
    value, drift = psi(HAND_REF, HAND_CUR, "categorical", 0.1)
    assert value == pytest.approx(0.25 * math.log(3), abs=1e-15)
    assert drift


def test_kl_div_by_hand() -> None:
    # ½·ln(2/3) + ½·ln 2 = ½·ln(4/3)
    value, _ = kl_div(HAND_REF, HAND_CUR, "categorical", 0.1)
    assert value == pytest.approx(0.5 * math.log(4 / 3), abs=1e-15)


def test_hellinger_by_hand() -> None:
    bc = math.sqrt(0.5 * 0.75) + math.sqrt(0.5 * 0.25)
    value, drift = hellinger(HAND_REF, HAND_CUR, "categorical", 0.1)
    assert value == pytest.approx(math.sqrt(1 - bc), abs=1e-15)
    assert drift


def test_z_by_hand() -> None:
    # Share of "b": 1/2 vs 1/4, pooled 3/8, se = √(3/8·5/8·(1/4 + 1/4)).
    z_stat = 0.25 / math.sqrt(3 / 8 * 5 / 8 * 0.5)
    value, drift = z(HAND_REF, HAND_CUR, "categorical", 0.05)
    assert value == pytest.approx(2 * stats.norm.sf(z_stat), rel=1e-12)
    assert not drift


def test_z_same_single_value_is_one() -> None:
    one = categorical_sample(["a"], [10])
    assert z(one, categorical_sample(["a"], [3]), "categorical", 0.05) == (1.0, False)


def test_wasserstein_equals_scipy() -> None:
    expected = stats.wasserstein_distance(NORMAL_REF, NORMAL_CUR) / np.std(NORMAL_REF)
    value, drift = wasserstein(
        numeric_sample(NORMAL_REF), numeric_sample(NORMAL_CUR), "numeric", 0.1
    )
    assert value == pytest.approx(expected, rel=1e-12)
    assert drift == (expected >= 0.1)


def test_wasserstein_with_ties_and_shared_values() -> None:
    a = RNG.integers(0, 30, 5000).astype(float)
    b = RNG.integers(5, 40, 3000).astype(float)
    assert wasserstein_distance(numeric_sample(a), numeric_sample(b)) == pytest.approx(
        stats.wasserstein_distance(a, b), rel=1e-12
    )
    assert wasserstein_distance(numeric_sample(a), numeric_sample(a)) == 0.0


def test_wasserstein_floors_the_standard_deviation() -> None:
    value, _ = wasserstein(numeric_sample([2.0] * 10), numeric_sample([3.0] * 10), "numeric", 0.1)
    assert value == pytest.approx(1.0 / 0.001)


@pytest.mark.parametrize("n_ref,n_cur", [(300, 200), (12_000, 15_000)])
def test_ks_equals_scipy(n_ref: int, n_cur: int) -> None:
    a, b = RNG.normal(0, 1, n_ref), RNG.normal(0.04, 1, n_cur)
    expected = stats.ks_2samp(a, b)
    ra, rb = numeric_sample(a), numeric_sample(b)
    assert ks_statistic(ra, rb) == pytest.approx(expected.statistic, abs=1e-15)
    value, drift = ks(ra, rb, "numeric", 0.05)
    assert value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    assert drift == (expected.pvalue <= 0.05)


def test_ks_statistic_with_ties() -> None:
    a = RNG.integers(0, 8, 20_000).astype(float)
    b = RNG.integers(1, 9, 15_000).astype(float)
    assert ks_statistic(numeric_sample(a), numeric_sample(b)) == pytest.approx(
        stats.ks_2samp(a, b).statistic, abs=1e-15
    )


def test_ks_threshold_is_inclusive() -> None:
    a, b = numeric_sample(NORMAL_REF[:100]), numeric_sample(NORMAL_CUR[:100])
    p, _ = ks(a, b, "numeric", 0.05)
    assert ks(a, b, "numeric", p) == (p, True)  # p <= threshold, as Evidently


def test_chi2_equals_chi2_contingency() -> None:
    ref = categorical_sample(["a", "b", "c"], [50, 30, 20])
    cur = categorical_sample(["a", "b", "c", "d"], [40, 35, 20, 5])  # "d" new in current
    table = np.array([[50, 30, 20, 0], [40, 35, 20, 5]])
    expected = stats.chi2_contingency(table, correction=False).pvalue
    value, drift = chi2(ref, cur, "categorical", 0.05)
    assert value == pytest.approx(expected, rel=1e-12)
    assert drift == (expected < 0.05)


def test_chi2_2x2_is_the_z_test_without_continuity_correction() -> None:
    ref = categorical_sample(["no", "yes"], [70, 30])
    cur = categorical_sample(["no", "yes"], [55, 45])
    p_chi2, _ = chi2(ref, cur, "boolean", 0.05)
    p_z, _ = z(ref, cur, "boolean", 0.05)
    assert p_chi2 == pytest.approx(p_z, rel=1e-9)
    table = np.array([[70, 30], [55, 45]])
    assert p_chi2 == pytest.approx(stats.chi2_contingency(table, correction=False).pvalue)
    assert p_chi2 != pytest.approx(stats.chi2_contingency(table).pvalue)


def test_chi2_single_value_is_one() -> None:
    one = categorical_sample(["a"], [10])
    assert chi2(one, categorical_sample(["a"], [3]), "categorical", 0.05) == (1.0, False)


def test_chi2_on_numeric_values() -> None:
    a = RNG.choice([1.0, 2.0, 3.0], 400)
    b = RNG.choice([1.0, 2.0, 3.0], 300, p=[0.2, 0.3, 0.5])
    table = np.array([np.unique(a, return_counts=True)[1], np.unique(b, return_counts=True)[1]])
    value, _ = chi2(numeric_sample(a), numeric_sample(b), "numeric", 0.05)
    assert value == pytest.approx(stats.chi2_contingency(table, correction=False).pvalue)


def test_chi2_gof_equals_scipy_chisquare() -> None:
    ref = categorical_sample(["a", "b", "c"], [50, 30, 20])
    cur = categorical_sample(["a", "b", "c"], [30, 30, 20])
    expected = stats.chisquare([30, 30, 20], np.array([50, 30, 20]) * 80 / 100).pvalue
    value, drift = chi2_gof(ref, cur, "categorical", 0.05)
    assert value == pytest.approx(expected, rel=1e-12)
    assert drift == (expected < 0.05)


def test_chi2_gof_value_absent_from_reference_gives_p_zero() -> None:
    ref = categorical_sample(["a", "b"], [50, 50])
    cur = categorical_sample(["a", "b", "new"], [45, 50, 5])
    assert chi2_gof(ref, cur, "categorical", 0.05) == (0.0, True)


def test_jensenshannon_equals_scipy_on_numpy_histograms() -> None:
    edges = np.histogram_bin_edges(np.concatenate((NORMAL_REF, NORMAL_CUR)), bins="sturges")
    p = np.histogram(NORMAL_REF, edges)[0] / NORMAL_REF.size
    q = np.histogram(NORMAL_CUR, edges)[0] / NORMAL_CUR.size
    value, _ = jensenshannon(numeric_sample(NORMAL_REF), numeric_sample(NORMAL_CUR), "numeric", 0.1)
    assert value == pytest.approx(distance.jensenshannon(p, q), rel=1e-12)


def test_jensenshannon_categorical_with_new_category() -> None:
    ref = categorical_sample(["a", "b"], [60, 40])
    cur = categorical_sample(["a", "b", "c"], [50, 30, 20])
    value, drift = jensenshannon(ref, cur, "categorical", 0.1)
    assert value == pytest.approx(distance.jensenshannon([0.6, 0.4, 0.0], [0.5, 0.3, 0.2]))
    assert drift


def test_psi_and_kl_numeric_equal_histogram_formula() -> None:
    edges = np.histogram_bin_edges(np.concatenate((NORMAL_REF, NORMAL_CUR)), bins="sturges")
    p = np.histogram(NORMAL_REF, edges)[0] / NORMAL_REF.size
    q = np.histogram(NORMAL_CUR, edges)[0] / NORMAL_CUR.size
    for arr in (p, q):  # zero filling as Evidently's get_binned_data
        nonzero_min = arr[arr > 0].min()
        arr[arr == 0] = nonzero_min / 1e6 if nonzero_min <= 1e-4 else 1e-4
    ref, cur = numeric_sample(NORMAL_REF), numeric_sample(NORMAL_CUR)
    assert psi(ref, cur, "numeric", 0.1)[0] == pytest.approx(np.sum((p - q) * np.log(p / q)))
    assert kl_div(ref, cur, "numeric", 0.1)[0] == pytest.approx(stats.entropy(p, q))


def test_hellinger_numeric_uses_sturges_bins_of_the_distinct_values() -> None:
    a = RNG.integers(0, 40, 2000).astype(float)
    b = RNG.integers(10, 60, 1000).astype(float)
    edges = np.histogram_bin_edges(np.union1d(a, b), bins="sturges")
    h1 = np.histogram(a, edges, density=True)[0]
    h2 = np.histogram(b, edges, density=True)[0]
    width = (edges[-1] - edges[0]) / (edges.size - 1)
    expected = math.sqrt(1 - min(1.0, float(np.sum(np.sqrt(h1 * h2)) * width)))
    value, _ = hellinger(numeric_sample(a), numeric_sample(b), "numeric", 0.1)
    assert value == pytest.approx(expected, rel=1e-12)


def test_identical_samples_show_no_drift() -> None:
    ref = numeric_sample(NORMAL_REF)
    for name, test in STATTESTS.items():
        score, drift = test.func(ref, ref, "numeric", test.default_threshold)
        assert not drift, name
        if test.kind == "distance":
            assert score == pytest.approx(0.0, abs=1e-7), name


def test_boolean_accepted_like_categorical() -> None:
    ref = categorical_sample(["false", "true"], [80, 20])
    cur = categorical_sample(["false", "true"], [60, 40])
    for name in ("psi", "kl_div", "jensenshannon", "hellinger", "chi2", "chi2_gof", "z"):
        test = get_stattest(name)
        assert test.func(ref, cur, "boolean", test.default_threshold) == test.func(
            ref, cur, "categorical", test.default_threshold
        )


def test_numeric_only_tests_reject_categorical_samples() -> None:
    cat = categorical_sample(["a"], [1])
    with pytest.raises(ValueError, match="ks needs numeric samples"):
        ks(cat, cat, "categorical", 0.05)
    with pytest.raises(ValueError, match="no non-null values"):
        wasserstein(numeric_sample([]), numeric_sample([1.0]), "numeric", 0.1)


@pytest.mark.parametrize("name", sorted(STATTESTS))
def test_numeric_sample_from_counts_gives_the_same_scores(name: str) -> None:
    a = RNG.integers(0, 40, 3000).astype(float)
    b = RNG.integers(3, 45, 2500).astype(float)
    from_values = numeric_sample(a), numeric_sample(b)
    from_counts = tuple(
        numeric_sample_from_counts(*np.unique(x, return_counts=True)) for x in (a, b)
    )
    test = get_stattest(name)
    expected = test.func(*from_values, "numeric", test.default_threshold)
    got = test.func(*from_counts, "numeric", test.default_threshold)
    assert got[0] == pytest.approx(expected[0], rel=1e-12, abs=1e-300)
    assert got[1] == expected[1]
