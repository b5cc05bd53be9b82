"""Reference scores from Evidently's legacy stattests, for tests/drift/test_evidently.py.

Runs under a separate interpreter that has Evidently 0.7.23 installed (modeltower does not
depend on it). Reads ``{"cases": [...]}`` as JSON on stdin and prints ``{"results": [...]}``, one
result per case, in order:

* ``{"op": "score", "method": <Evidently name>, "type": "num"|"cat", "reference": [...],
  "current": [...], "threshold": t}`` → ``{"score": s, "drift": bool}``;
* ``{"op": "default", "type": ..., "reference": [...], "current": [...]}`` →
  ``{"method": <name of Evidently's default stattest>}``.

Values are cleaned as Evidently's ``get_one_column_drift`` does (±inf and NaN dropped) before
the test. Non-finite scores are printed as JSON ``Infinity``/``NaN``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import pandas as pd
from evidently.legacy.calculations.stattests import registry
from evidently.legacy.core import ColumnType


def _series(values: list[Any], kind: str) -> pd.Series:
    s = pd.Series(values, dtype="float64" if kind == "num" else "object")
    # get_one_column_drift: replace([-inf, inf], nan).dropna()
    return s.replace([-np.inf, np.inf], np.nan).dropna().reset_index(drop=True)


def _column_type(kind: str) -> ColumnType:
    return ColumnType.Numerical if kind == "num" else ColumnType.Categorical


def _stattest(name: str, column_type: ColumnType) -> registry.StatTest:
    by_type = registry._registered_stat_tests[name]
    # "chisquare" and "z" are registered for categorical columns only, yet Evidently's default
    # selection applies them to numeric columns with few values; take the test object as is.
    return by_type.get(column_type) or next(iter(by_type.values()))


def run(case: dict[str, Any]) -> dict[str, Any]:
    column_type = _column_type(case["type"])
    ref = _series(case["reference"], case["type"])
    cur = _series(case["current"], case["type"])
    if case.get("op", "score") == "default":
        return {"method": registry._get_default_stattest(ref, cur, column_type).name}
    test = _stattest(case["method"], column_type)
    result = test(ref, cur, column_type, case["threshold"])
    return {"score": float(result.drift_score), "drift": bool(result.drifted)}


def main() -> None:
    cases = json.load(sys.stdin)["cases"]
    json.dump({"results": [run(case) for case in cases]}, sys.stdout)


if __name__ == "__main__":
    main()
