"""Method selection, validation and the drift_score entry point."""

from __future__ import annotations

import numpy as np
import pytest

from modeltower.drift import (
    Sample,
    categorical_sample,
    check_method,
    default_method,
    drift_score,
    infer_feature_type,
    numeric_sample,
)


def _numeric(n: int, n_values: int, offset: int = 0) -> Sample:
    return numeric_sample(np.array([float(offset + i % n_values) for i in range(n)]))


def _categorical(n: int, n_values: int, offset: int = 0) -> Sample:
    keys = [f"v{offset + i}" for i in range(n_values)]
    counts = [n // n_values + (1 if i < n % n_values else 0) for i in range(n_values)]
    return categorical_sample(keys, counts)


@pytest.mark.parametrize(
    "n_ref,n_values,expected",
    [
        (1000, 2, "z"),
        (1000, 3, "chi2"),
        (1000, 5, "chi2"),
        (1000, 6, "ks"),
        (1001, 2, "jensenshannon"),
        (1001, 5, "jensenshannon"),
        (1001, 6, "wasserstein"),
    ],
)
def test_default_numeric(n_ref: int, n_values: int, expected: str) -> None:
    ref = _numeric(n_ref, n_values)
    assert default_method(ref, _numeric(100, n_values), "numeric") == expected


@pytest.mark.parametrize(
    "n_ref,n_values,expected",
    [
        (1000, 2, "z"),
        (1000, 3, "chi2"),
        (1000, 6, "chi2"),
        (1001, 2, "jensenshannon"),
        (1001, 6, "jensenshannon"),
    ],
)
@pytest.mark.parametrize("feature_type", ["categorical", "boolean"])
def test_default_categorical(n_ref: int, n_values: int, expected: str, feature_type: str) -> None:
    ref = _categorical(n_ref, n_values)
    assert default_method(ref, _categorical(50, n_values), feature_type) == expected  # type: ignore[arg-type]


def test_n_values_counts_both_samples() -> None:
    # 2 values in the reference, a third one only in the current: 3 values → chi2, not z.
    assert default_method(_categorical(500, 2), _categorical(50, 3), "categorical") == "chi2"
    # 5 numeric values in the reference and a sixth in the current → ks.
    assert default_method(_numeric(500, 5), _numeric(50, 6), "numeric") == "ks"
    assert default_method(_numeric(500, 5), _numeric(50, 5, offset=1), "numeric") == "ks"
    assert default_method(_numeric(500, 5), _numeric(50, 5), "numeric") == "chi2"


def test_check_method() -> None:
    check_method("ks", "numeric")
    check_method("psi", "boolean")
    with pytest.raises(ValueError, match="ks applies to numeric features, not categorical"):
        check_method("ks", "categorical")
    with pytest.raises(ValueError, match="wasserstein applies to numeric features, not boolean"):
        check_method("wasserstein", "boolean")
    with pytest.raises(ValueError, match="unknown drift method 'nope'"):
        check_method("nope", "numeric")


def test_drift_score_defaults() -> None:
    rng = np.random.default_rng(0)
    ref = numeric_sample(rng.normal(0, 1, 5000))
    cur = numeric_sample(rng.normal(0.5, 1, 2000))
    result = drift_score(ref, cur, "numeric")
    assert result.method == "wasserstein"
    assert result.kind == "distance"
    assert result.threshold == 0.1
    assert result.drift and result.score > 0.3


def test_drift_score_explicit_method_and_threshold() -> None:
    ref = _categorical(300, 3)
    cur = categorical_sample(["v0", "v1", "v2"], [50, 30, 20])
    result = drift_score(ref, cur, "categorical", method="chi2_gof", threshold=0.01)
    assert (result.method, result.kind, result.threshold) == ("chi2_gof", "p_value", 0.01)
    assert result.drift == (result.score < 0.01)
    with pytest.raises(ValueError, match="ks applies to numeric"):
        drift_score(ref, cur, "categorical", method="ks")


def test_infer_feature_type() -> None:
    assert infer_feature_type(10, 0, 0) == "numeric"
    assert infer_feature_type(0, 0, 10) == "boolean"
    assert infer_feature_type(0, 10, 0) == "categorical"
    assert infer_feature_type(6, 4, 0) == "numeric"
    assert infer_feature_type(5, 5, 0) == "categorical"  # ties go to categorical
    assert infer_feature_type(3, 0, 3) == "numeric"
    assert infer_feature_type(1, 2, 7) == "boolean"
    assert infer_feature_type(0, 0, 0) == "categorical"
