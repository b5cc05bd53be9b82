"""Agreement with Evidently 0.7.23's legacy stattests, to 1e-6, on the same data.

Evidently is not a dependency of modeltower: tests/drift/evidently_oracle.py runs under a separate
interpreter that has it (``MODELTOWER_EVIDENTLY_PYTHON``, default ``.venv-evidently/bin/python``;
scripts/test.sh creates it). All cases go to one oracle process. A missing interpreter is a
failure, not a skip: this is the test that pins the statistics to their reference implementation.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modeltower.drift import (
    Sample,
    categorical_from_values,
    default_method,
    get_stattest,
    numeric_sample,
)

REPO = Path(__file__).resolve().parents[2]
ORACLE = Path(__file__).with_name("evidently_oracle.py")
TOLERANCE = 1e-6
# Evidently's name -> ours. Our chi2_gof is Evidently's chisquare; our chi2 (the two-sample
# contingency test) has no Evidently equivalent and is checked against scipy directly.
OUR_NAME = {"chisquare": "chi2_gof"}


def _evidently_python() -> Path:
    return Path(
        os.environ.get("MODELTOWER_EVIDENTLY_PYTHON", REPO / ".venv-evidently" / "bin" / "python")
    )


def _cases() -> list[dict[str, Any]]:
    rng = np.random.default_rng(20240607)
    normal_ref = rng.normal(10, 2, 300).round(3)
    normal_cur = rng.normal(10.6, 2.3, 250).round(3)
    logn_ref = rng.lognormal(0, 0.8, 2000)
    logn_cur = rng.lognormal(0.1, 0.8, 1500)
    ints_ref = rng.integers(0, 10, 600).astype(float)  # 10 distinct values: keyed binning
    ints_cur = rng.integers(0, 12, 400).astype(float)  # two values the reference never had
    big_ref = rng.normal(0, 1, 12_000)  # > 10 000: ks takes scipy's asymptotic path
    big_cur = rng.normal(0.03, 1, 11_000)
    few_ref = rng.choice([1.0, 2.0, 3.0], 500, p=[0.5, 0.3, 0.2])
    few_cur = rng.choice([1.0, 2.0, 3.0], 450, p=[0.4, 0.35, 0.25])
    two_ref = rng.choice([0.0, 1.0], 400, p=[0.7, 0.3])
    two_cur = rng.choice([0.0, 1.0], 380, p=[0.6, 0.4])
    cats = np.array(["red", "green", "blue", "black", "white"], dtype=object)
    cat_ref = rng.choice(cats, 700, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    cat_cur = rng.choice(cats, 500, p=[0.2, 0.25, 0.25, 0.15, 0.15])
    cat_new = cat_cur.copy()
    cat_new[:40] = "purple"  # absent from the reference
    bool_ref = (rng.random(800) < 0.3).tolist()
    bool_cur = (rng.random(600) < 0.4).tolist()
    with_gaps = normal_cur.tolist()
    with_gaps[:4] = [math.nan, math.inf, -math.inf, math.nan]  # dropped on both sides

    def num(method: str, ref: Any, cur: Any, threshold: float | None = None) -> dict[str, Any]:
        return {
            "method": method,
            "type": "num",
            "reference": list(ref),
            "current": list(cur),
            "threshold": threshold
            if threshold is not None
            else get_stattest(OUR_NAME.get(method, method)).default_threshold,
        }

    def cat(method: str, ref: Any, cur: Any, kind: str = "cat") -> dict[str, Any]:
        case = num(method, ref, cur)
        case["type"] = kind
        return case

    return [
        # psi
        num("psi", normal_ref, normal_cur),
        num("psi", ints_ref, ints_cur),
        cat("psi", cat_ref, cat_new),
        cat("psi", bool_ref, bool_cur, "bool"),
        # kl_div
        num("kl_div", logn_ref, logn_cur),
        num("kl_div", ints_ref, ints_cur),
        cat("kl_div", cat_ref, cat_new),
        # jensenshannon
        num("jensenshannon", logn_ref, logn_cur),
        num("jensenshannon", ints_ref, ints_cur),
        cat("jensenshannon", cat_ref, cat_cur),
        cat("jensenshannon", bool_ref, bool_cur, "bool"),
        # hellinger (numeric path for any number of distinct values)
        num("hellinger", normal_ref, normal_cur),
        num("hellinger", ints_ref, ints_cur),
        cat("hellinger", cat_ref, cat_new),
        cat("hellinger", bool_ref, bool_cur, "bool"),
        # wasserstein
        num("wasserstein", logn_ref, logn_cur),
        num("wasserstein", ints_ref, ints_cur),
        num("wasserstein", normal_ref, with_gaps),
        num("wasserstein", [5.0] * 50, normal_cur[:60]),  # constant reference: std floor
        # ks
        num("ks", normal_ref, normal_cur),
        num("ks", ints_ref, ints_cur),
        num("ks", big_ref, big_cur),
        num("ks", normal_ref, normal_ref[:200] + 0.05, threshold=0.5),
        # chisquare (our chi2_gof)
        cat("chisquare", cat_ref, cat_cur),
        cat("chisquare", cat_ref, cat_new),  # expected count 0: p = 0
        num("chisquare", few_ref, few_cur),
        cat("chisquare", bool_ref, bool_cur, "bool"),
        # z
        cat("z", bool_ref, bool_cur, "bool"),
        num("z", two_ref, two_cur),
        cat("z", ["a"] * 30, ["a"] * 20 + ["b"] * 5),
        cat("z", ["a"] * 30, ["a"] * 25),  # same single value: p = 1
    ]


def _default_cases() -> list[dict[str, Any]]:
    """Reference sizes 1000/1001 × 2/3/5/6 distinct values × numeric/categorical."""
    cases = []
    for n_ref in (1000, 1001):
        for n_values in (2, 3, 5, 6):
            ref_values = [float(i % (n_values - 1)) for i in range(n_ref)]  # one value short
            cur_values = [float(i % n_values) for i in range(300)]  # the last value only here
            for kind in ("num", "cat"):
                if kind == "cat":
                    ref: list[Any] = [f"v{int(v)}" for v in ref_values]
                    cur: list[Any] = [f"v{int(v)}" for v in cur_values]
                else:
                    ref, cur = ref_values, cur_values
                cases.append({"op": "default", "type": kind, "reference": ref, "current": cur})
    return cases


def _sample(values: list[Any], kind: str) -> tuple[Sample, str]:
    if kind == "num":
        return numeric_sample(np.array(values, dtype=float)), "numeric"
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return categorical_from_values(arr), ("boolean" if kind == "bool" else "categorical")


@pytest.fixture(scope="module")
def oracle() -> list[dict[str, Any]]:
    python = _evidently_python()
    if not python.exists():
        pytest.fail(
            f"Evidently interpreter not found at {python}. Create it (python -m venv "
            f".venv-evidently && .venv-evidently/bin/pip install 'evidently==0.7.23' "
            f"'pandas<3') or point MODELTOWER_EVIDENTLY_PYTHON at one.",
            pytrace=False,
        )
    cases = []
    for case in _cases() + _default_cases():
        sent = dict(case)
        if sent["type"] == "bool":
            sent["type"] = "cat"  # Evidently treats booleans as categorical
        cases.append(sent)
    proc = subprocess.run(
        [str(python), str(ORACLE)],
        input=json.dumps({"cases": cases}),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"Evidently oracle failed:\n{proc.stderr[-4000:]}", pytrace=False)
    results: list[dict[str, Any]] = json.loads(proc.stdout)["results"]
    assert len(results) == len(cases)
    return results


def _close(ours: float, theirs: float) -> bool:
    if math.isnan(theirs) or math.isinf(theirs):
        return ours == theirs or (math.isnan(ours) and math.isnan(theirs))
    return abs(ours - theirs) <= TOLERANCE * max(1.0, abs(theirs))


CASES = _cases()


@pytest.mark.parametrize(
    "index", range(len(CASES)), ids=[f"{c['method']}-{c['type']}-{i}" for i, c in enumerate(CASES)]
)
def test_score_matches_evidently(oracle: list[dict[str, Any]], index: int) -> None:
    case = CASES[index]
    reference, feature_type = _sample(case["reference"], case["type"])
    current, _ = _sample(case["current"], case["type"])
    test = get_stattest(OUR_NAME.get(case["method"], case["method"]))
    score, drift = test.func(reference, current, feature_type, case["threshold"])  # type: ignore[arg-type]
    expected = oracle[index]
    assert _close(score, expected["score"]), (score, expected["score"])
    assert drift == expected["drift"]


def test_cases_cover_every_evidently_method() -> None:
    methods = {c["method"] for c in CASES}
    assert methods == {
        "psi",
        "kl_div",
        "jensenshannon",
        "hellinger",
        "wasserstein",
        "ks",
        "chisquare",
        "z",
    }
    assert len(CASES) >= 30


def test_default_method_matches_evidently(oracle: list[dict[str, Any]]) -> None:
    mismatches = []
    for offset, case in enumerate(_default_cases()):
        theirs = oracle[len(CASES) + offset]["method"]
        reference, feature_type = _sample(case["reference"], case["type"])
        current, _ = _sample(case["current"], case["type"])
        ours = default_method(reference, current, feature_type)  # type: ignore[arg-type]
        # Where Evidently picks its goodness-of-fit "chisquare", we pick the two-sample chi2.
        if {"chisquare": "chi2"}.get(theirs, theirs) != ours:
            mismatches.append((case["type"], len(case["reference"]), theirs, ours))
    assert not mismatches
    chosen = {oracle[len(CASES) + i]["method"] for i in range(len(_default_cases()))}
    assert chosen == {"z", "chisquare", "ks", "jensenshannon", "wasserstein"}
