"""Drift and quality over HTTP on a generated dataset with documented injected changes.

Reference: 5000 rows uploaded as Parquet (and, for the small-reference case, 800 rows as CSV);
current: 5000 events posted to ``POST /v1/events`` in 5 batches, timestamps in the last hour.
Values are drawn with a fixed seed; the nulls of num_nulls and the new category of cat_new are
placed in *exactly* the number of rows given (3 % of the reference, 1000 and 750 current rows).

| feature      | type        | reference              | current                         | size         |
| ------------ | ----------- | ---------------------- | ------------------------------- | ------------ |
| bool_same    | boolean     | true 50 %              | true 50 %                       | unchanged    |
| bool_share   | boolean     | true 30 %              | true 60 %                       | large        |
| cat_freq     | categorical | a/b/c 50/30/20 %       | a/b/c 20/30/50 %                | large        |
| cat_new      | categorical | x/y/z 40/30/30 %       | "w_new" in 750 rows (15 %), rest x/y/z | large |
| cat_same     | categorical | p/q/r/s 40/30/20/10 %  | the same                        | unchanged    |
| int_same     | numeric     | 0..4 at 10/20/40/20/10 % | the same                      | unchanged    |
| num_large    | numeric     | N(50, 10)              | N(60, 10)                       | 1.0 sd       |
| num_medium   | numeric     | N(10, 2)               | N(11, 2)                        | 0.5 sd       |
| num_nulls    | numeric     | N(100, 15), 3 % null   | N(100, 15), 20 % null (half JSON null, half key absent) | null rate only |
| num_same     | numeric     | lognormal(0, 0.5)      | the same                        | unchanged    |
| num_small    | numeric     | N(0, 1)                | N(0.05, 1)                      | 0.05 sd      |
| num_variance | numeric     | N(5, 1)                | N(5, 1.5)                       | sd × 1.5     |

Expected with the 5000-row reference (defaults ``wasserstein`` / ``jensenshannon``, threshold
0.1): the six medium/large changes drift, the 0.05 sd shift is measured but stays under the
threshold, the null-rate rise is a ``null_change`` drift (its non-null values did not move), the
four unchanged features do not drift: 6 of 12 drifted, share 0.5, dataset drift (threshold 0.5).
With the 800-row reference the defaults are tests (``ks``, ``chi2``, ``z``): the medium/large
changes get p-values far below 0.05, the unchanged features p > 0.05; a 0.05 sd shift is at the
edge of what a KS test on 800 rows can see (this seed: p ≈ 0.03), so its verdict is not asserted.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.inprocess import Api, MakeApi

pytestmark = pytest.mark.anyio

N_REF = 5000
N_SMALL_REF = 800
N_CUR = 5000
NEW_ROWS = 750  # "w_new" rows in cat_new (15 % of N_CUR)
CUR_NULLS = 1000  # num_nulls: 20 % of N_CUR
CUR_JSON_NULLS = 500  # ... of which JSON null; the other 500 lack the key

DRIFTED = {"bool_share", "cat_freq", "cat_new", "num_large", "num_medium", "num_variance"}
UNCHANGED = {"bool_same", "cat_same", "int_same", "num_same"}
FEATURES = sorted([*DRIFTED, *UNCHANGED, "num_nulls", "num_small"])


def _draw(rng: np.random.Generator, n: int, values: list[Any], probs: list[float]) -> list[Any]:
    """``n`` values drawn independently with the given probabilities."""
    return [values[i] for i in rng.choice(len(values), size=n, p=probs)]


def _exact_rows(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """A mask of exactly ``k`` of ``n`` rows, at random positions."""
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, size=k, replace=False)] = True
    return mask


def _columns(rng: np.random.Generator, n: int, current: bool) -> dict[str, list[Any]]:
    """Every feature of ``n`` rows, reference or current shape (see the table above)."""
    cols: dict[str, list[Any]] = {
        "bool_same": _draw(rng, n, [True, False], [0.5, 0.5]),
        "bool_share": _draw(rng, n, [True, False], [0.6, 0.4] if current else [0.3, 0.7]),
        "cat_freq": _draw(rng, n, ["a", "b", "c"], [0.2, 0.3, 0.5] if current else [0.5, 0.3, 0.2]),
        "cat_same": _draw(rng, n, ["p", "q", "r", "s"], [0.4, 0.3, 0.2, 0.1]),
        "int_same": _draw(rng, n, [0, 1, 2, 3, 4], [0.1, 0.2, 0.4, 0.2, 0.1]),
        "num_large": rng.normal(60.0 if current else 50.0, 10.0, n).tolist(),
        "num_medium": rng.normal(11.0 if current else 10.0, 2.0, n).tolist(),
        "num_same": rng.lognormal(0.0, 0.5, n).tolist(),
        "num_small": rng.normal(0.05 if current else 0.0, 1.0, n).tolist(),
        "num_variance": rng.normal(5.0, 1.5 if current else 1.0, n).tolist(),
    }
    cat_new = _draw(rng, n, ["x", "y", "z"], [0.4, 0.3, 0.3])
    if current:
        new = _exact_rows(rng, n, NEW_ROWS)
        cat_new = ["w_new" if m else v for v, m in zip(cat_new, new, strict=True)]
    cols["cat_new"] = cat_new
    values = rng.normal(100.0, 15.0, n)
    mask = _exact_rows(rng, n, CUR_NULLS if current else round(0.03 * n))
    cols["num_nulls"] = [None if m else float(v) for v, m in zip(values, mask, strict=True)]
    return cols


def _parquet(cols: dict[str, list[Any]]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    return buf.getvalue()


def _csv(cols: dict[str, list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    names = sorted(cols)
    writer.writerow(names)
    for row in zip(*(cols[k] for k in names), strict=True):
        writer.writerow(
            ["" if v is None else str(v).lower() if isinstance(v, bool) else v for v in row]
        )
    return out.getvalue()


async def _post_current(api: Api, cols: dict[str, list[Any]]) -> None:
    now = time.time()
    nulls = [i for i, v in enumerate(cols["num_nulls"]) if v is None]
    absent = set(nulls[CUR_JSON_NULLS:])  # these events lack the key instead of sending null
    events = []
    for i in range(N_CUR):
        features = {k: cols[k][i] for k in FEATURES}
        if i in absent:
            del features["num_nulls"]
        events.append(
            {
                "model": "m",
                "id": f"cur-{i}",
                "timestamp": now - 3000 + i * 0.5,
                "prediction": "yes" if i % 2 else "no",
                "features": features,
            }
        )
    for k in range(0, N_CUR, 1000):
        assert (await api.events(events[k : k + 1000]))["accepted"] == 1000


async def _put(api: Api, content: bytes | str, ctype: str) -> dict[str, Any]:
    r = await api.client.put(
        "/v1/models/m/reference", content=content, headers={"content-type": ctype}
    )
    assert r.status_code == 200, r.text
    return r.json()


def _check_verdicts(d: dict[str, Any], ref_rows: int) -> dict[str, dict[str, Any]]:
    """The verdicts shared by both reference sizes; returns the columns by name."""
    assert d["status"] == "ok" and d["message"] is None
    assert d["rows"] == {"reference": ref_rows, "current": N_CUR}
    cols = {c["name"]: c for c in d["columns"]}
    assert [c["name"] for c in d["columns"]] == FEATURES  # features sorted by name
    for name in DRIFTED:
        assert cols[name]["drift"] is True, cols[name]
    for name in UNCHANGED:
        assert cols[name]["drift"] is False, cols[name]
    drifted = sum(c["drift"] for c in d["columns"])
    assert d["dataset"] == {
        "drifted": drifted,
        "total": 12,
        "share": drifted / 12,
        "threshold": 0.5,
        "drift": drifted / 12 >= 0.5,
    }
    # the null-rate rise: reported as a null change, not as a move of the values
    nulls = cols["num_nulls"]
    ref_nulls = round(0.03 * ref_rows)
    assert nulls["drift"] is False
    assert nulls["reference"] == {
        "count": ref_rows - ref_nulls,
        "nulls": ref_nulls,
        "null_share": ref_nulls / ref_rows,
    }
    assert nulls["current"] == {
        "count": N_CUR - CUR_NULLS,
        "nulls": CUR_NULLS,
        "null_share": CUR_NULLS / N_CUR,
    }
    change = nulls["null_change"]
    assert change["drift"] is True and change["p_value"] < 1e-6
    assert change["reference_share"] == ref_nulls / ref_rows
    assert change["current_share"] == CUR_NULLS / N_CUR
    assert change["change"] == pytest.approx(CUR_NULLS / N_CUR - ref_nulls / ref_rows, abs=1e-12)
    assert d["null_drifted"] == 1
    for name, c in cols.items():
        if name != "num_nulls":
            assert c["null_change"]["drift"] is False and c["null_change"]["p_value"] == 1.0
    return cols


async def test_injected_changes_large_reference(make_api: MakeApi) -> None:
    rng = np.random.default_rng(20261201)
    ref = _columns(rng, N_REF, current=False)
    cur = _columns(rng, N_CUR, current=True)
    async with make_api() as api:
        await _post_current(api, cur)
        body = await _put(api, _parquet(ref), "application/vnd.apache.parquet")
        assert body["rows"] == N_REF
        types = {c["name"]: c["type"] for c in body["columns"]}
        assert types == {
            n: "boolean"
            if n.startswith("bool")
            else "categorical"
            if n.startswith("cat")
            else "numeric"
            for n in FEATURES
        }
        d = await api.get("/v1/models/m/drift", window="1h")
        cols = _check_verdicts(d, N_REF)
        # 0.05 sd is under the 0.1 threshold: exactly the six medium/large changes drift
        assert {n for n, c in cols.items() if c["drift"]} == DRIFTED
        assert d["dataset"]["drifted"] == 6 and d["dataset"]["share"] == 0.5
        assert d["dataset"]["drift"] is True
        for name, c in cols.items():
            expected = "wasserstein" if name.startswith("num") else "jensenshannon"
            assert (c["method"], c["kind"], c["threshold"]) == (expected, "distance", 0.1), name
        # sizes in the order injected: W₁ in reference sds ≈ the shift
        assert 0.02 < cols["num_small"]["score"] < 0.1
        assert 0.4 < cols["num_medium"]["score"] < 0.6
        assert 0.9 < cols["num_large"]["score"] < 1.1
        assert 0.3 < cols["num_variance"]["score"] < 0.5  # 0.5·E|Z| ≈ 0.40
        assert 0.23 < cols["cat_freq"]["score"] < 0.29  # √JS ≈ 0.258
        assert 0.19 < cols["bool_share"]["score"] < 0.24  # ≈ 0.215
        assert 0.2 < cols["cat_new"]["score"] < 0.27  # ≈ 0.235
        for name in UNCHANGED:
            assert cols[name]["score"] < 0.05, name

        q = await api.get("/v1/models/m/quality", window="1h")
        assert q["status"] == "ok" and q["rows"] == N_CUR
        qc = {c["name"]: c for c in q["columns"]}
        new = qc["cat_new"]
        assert new["top_new_values"] == [{"value": "w_new", "count": NEW_ROWS}]
        assert new["new_values"] == NEW_ROWS and new["new_value_share"] == NEW_ROWS / N_CUR
        assert (new["distinct"], new["reference_distinct"]) == (4, 3)
        assert qc["cat_freq"]["new_values"] == 0 and qc["cat_freq"]["top_new_values"] == []
        nn = qc["num_nulls"]
        assert nn["null_share"] == CUR_NULLS / N_CUR == 0.2
        assert nn["reference_null_share"] == round(0.03 * N_REF) / N_REF == 0.03
        assert nn["nulls"] == CUR_NULLS and nn["missing"] == CUR_NULLS - CUR_JSON_NULLS
        assert nn["present"] == N_CUR - (CUR_NULLS - CUR_JSON_NULLS)
        assert q["events_missing_features"] == CUR_NULLS - CUR_JSON_NULLS
        assert q["events_with_unknown_features"] == 0 and q["unknown_features"] == []
        for c in q["columns"]:
            assert c["type_mismatches"] == 0, c["name"]
            if c["name"] != "num_nulls":
                assert (c["nulls"], c["null_share"], c["reference_null_share"]) == (0, 0.0, 0.0)


async def test_injected_changes_small_reference_uses_tests(make_api: MakeApi) -> None:
    rng = np.random.default_rng(20261202)
    ref = _columns(rng, N_SMALL_REF, current=False)
    cur = _columns(rng, N_CUR, current=True)
    async with make_api() as api:
        await _post_current(api, cur)
        body = await _put(api, _csv(ref), "text/csv")
        assert body["rows"] == N_SMALL_REF
        d = await api.get("/v1/models/m/drift", window="1h")
        cols = _check_verdicts(d, N_SMALL_REF)
        expected = {
            name: "ks" if name.startswith("num") else "z" if name.startswith("bool") else "chi2"
            for name in FEATURES
        }  # int_same: 5 distinct values → chi2; cat_new: 4 with the new one → chi2
        assert {n: c["method"] for n, c in cols.items()} == expected
        for c in cols.values():
            assert (c["kind"], c["threshold"]) == ("p_value", 0.05), c
        # not a fluke: the medium/large changes are far beyond the threshold
        for name in DRIFTED:
            assert cols[name]["score"] < 1e-3, cols[name]
        for name in UNCHANGED:
            assert cols[name]["score"] > 0.05, cols[name]
        # the 0.05 sd shift is at the edge of what 800 rows can see: its verdict is not asserted
        assert cols["num_small"]["score"] > cols["num_medium"]["score"]
        assert d["dataset"]["drifted"] in (6, 7)
        q = await api.get("/v1/models/m/quality", window="1h")
        qc = {c["name"]: c for c in q["columns"]}
        assert qc["cat_new"]["top_new_values"] == [{"value": "w_new", "count": NEW_ROWS}]
        assert qc["num_nulls"]["null_share"] == 0.2
        assert qc["num_nulls"]["reference_null_share"] == 24 / N_SMALL_REF == 0.03
