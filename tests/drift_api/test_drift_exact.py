"""``GET /v1/models/{model}/drift``: scores equal to scipy/numpy on the very values sent, the
default method at the API level, windows and filters, and the states that are not "ok".

Every expected score is computed here, independently of ``modeltower.drift``, from the values the
test uploaded (reference) and posted (events), following docs/DRIFT.md.
"""

from __future__ import annotations

import io
import itertools
import math
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats
from scipy.spatial import distance
from tests.inprocess import Api, MakeApi

pytestmark = pytest.mark.anyio

REL = 1e-9
_IDS = itertools.count()


def _approx(expected: float) -> Any:
    return pytest.approx(expected, rel=REL, abs=0)


def _parquet(cols: dict[str, list[Any]]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    return buf.getvalue()


async def _put_ref(api: Api, model: str, cols: dict[str, list[Any]]) -> dict[str, Any]:
    r = await api.client.put(
        f"/v1/models/{model}/reference",
        content=_parquet(cols),
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert r.status_code == 200, r.text
    return r.json()


async def _post(api: Api, model: str, rows: list[dict[str, Any]], t0: float, **extra: Any) -> None:
    """One event per row of features (``prediction``/``score`` keys go to the event)."""
    events = []
    for i, row in enumerate(rows):
        feats = {k: v for k, v in row.items() if k not in ("prediction", "score")}
        ev = {"model": model, "id": f"{model}-{next(_IDS)}", "timestamp": t0 + i * 0.01, **extra}
        ev["prediction"] = row.get("prediction", "p")
        if "score" in row:
            ev["score"] = row["score"]
        events.append({**ev, "features": feats})
    await api.events(events)


def _rows(cols: dict[str, list[Any]]) -> list[dict[str, Any]]:
    n = len(next(iter(cols.values())))
    return [{k: v[i] for k, v in cols.items()} for i in range(n)]


async def _drift(api: Api, model: str, **params: Any) -> dict[str, Any]:
    d = await api.get(f"/v1/models/{model}/drift", **params)
    d["by_name"] = {c["name"]: c for c in d["columns"]}
    return d


def _proportions(ref: list[Any], cur: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted({str(v) for v in ref} | {str(v) for v in cur})
    r = np.array([sum(str(v) == k for v in ref) for k in keys], dtype=float) / len(ref)
    c = np.array([sum(str(v) == k for v in cur) for k in keys], dtype=float) / len(cur)
    return r, c


def _fill(p: np.ndarray) -> np.ndarray:
    p = p.copy()
    zero = p == 0
    if zero.any():
        smallest = p[~zero].min()
        p[zero] = smallest / 1e6 if smallest <= 1e-4 else 1e-4
    return p


def _psi(r: np.ndarray, c: np.ndarray) -> float:
    r, c = _fill(r), _fill(c)
    return float(np.sum((r - c) * np.log(r / c)))


def _psi_numeric(ref: np.ndarray, cur: np.ndarray) -> float:
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    r = np.histogram(ref, edges)[0] / ref.size
    c = np.histogram(cur, edges)[0] / cur.size
    assert (r == 0).any()  # the zero filling takes part
    return _psi(r, c)


def _z_p(ref_true: int, n1: int, cur_true: int, n2: int) -> float:
    p1, p2 = ref_true / n1, cur_true / n2
    pooled = (ref_true + cur_true) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return float(2 * (1 - stats.norm.cdf(abs(z))))


def _wasserstein(ref: np.ndarray, cur: np.ndarray) -> float:
    return float(stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001))


async def test_scores_equal_scipy_on_the_same_values(make_api: MakeApi) -> None:
    rng = np.random.default_rng(101)
    n_ref, n_cur = 1500, 700
    ref = {
        "x": rng.normal(0.0, 1.0, n_ref).tolist(),
        "c": [["a", "b", "c", "d"][i] for i in rng.choice(4, n_ref, p=[0.4, 0.3, 0.2, 0.1])],
        "b": (rng.random(n_ref) < 0.4).tolist(),
        "prediction": ["yes" if v < 0.3 else "no" for v in rng.random(n_ref)],
        "score": rng.random(n_ref).tolist(),
    }
    x_cur = np.concatenate([rng.normal(0.15, 1.1, n_cur - 20), rng.normal(5.0, 0.3, 20)])
    cur = {
        "x": x_cur.tolist(),
        "c": [["a", "b", "c", "e"][i] for i in rng.choice(4, n_cur, p=[0.35, 0.3, 0.25, 0.1])],
        "b": (rng.random(n_cur) < 0.45).tolist(),
        "prediction": ["yes" if v < 0.35 else "no" for v in rng.random(n_cur)],
        "score": (rng.random(n_cur) ** 1.2).tolist(),
    }
    xr, xc = np.array(ref["x"]), np.array(cur["x"])
    async with make_api() as api:
        await _post(api, "m", _rows(cur), time.time() - 600)
        await _put_ref(api, "m", ref)
        d = await _drift(api, "m", window="1h")
        assert [c["name"] for c in d["columns"]] == ["b", "c", "x", "prediction", "score"]
        assert [c["role"] for c in d["columns"]] == ["feature"] * 3 + ["prediction", "score"]
        assert d["rows"] == {"reference": n_ref, "current": n_cur}
        cols = d["by_name"]
        assert cols["x"]["method"] == "wasserstein"
        assert cols["x"]["score"] == _approx(_wasserstein(xr, xc))
        assert cols["score"]["method"] == "wasserstein"
        assert cols["score"]["score"] == _approx(
            _wasserstein(np.array(ref["score"]), np.array(cur["score"]))
        )
        for name in ("c", "b", "prediction"):
            r, c = _proportions(ref[name], cur[name])
            assert cols[name]["method"] == "jensenshannon", name
            assert cols[name]["score"] == _approx(float(distance.jensenshannon(r, c))), name
            assert cols[name]["drift"] is (cols[name]["score"] >= 0.1)

        settings = {
            "features": {"x": {"method": "ks"}, "c": {"method": "chi2"}, "b": {"method": "z"}},
            "prediction": {"method": "z"},
            "score": {"method": "ks"},
        }
        assert (await api.client.patch("/v1/models/m/reference", json=settings)).status_code == 200
        cols = (await _drift(api, "m", window="1h"))["by_name"]
        ks_p = float(stats.ks_2samp(xr, xc).pvalue)
        assert (cols["x"]["method"], cols["x"]["kind"]) == ("ks", "p_value")
        assert cols["x"]["score"] == _approx(ks_p) and cols["x"]["drift"] is (ks_p <= 0.05)
        ks_score = stats.ks_2samp(np.array(ref["score"]), np.array(cur["score"])).pvalue
        assert cols["score"]["score"] == _approx(float(ks_score))
        keys = sorted(set(ref["c"]) | set(cur["c"]))
        table = [[ref["c"].count(k) for k in keys], [cur["c"].count(k) for k in keys]]
        chi2_p = float(stats.chi2_contingency(table, correction=False).pvalue)
        assert cols["c"]["method"] == "chi2" and cols["c"]["score"] == _approx(chi2_p)
        z_b = _z_p(sum(ref["b"]), n_ref, sum(cur["b"]), n_cur)  # "true" differs from "false"
        assert cols["b"]["score"] == _approx(z_b) and cols["b"]["drift"] is (z_b < 0.05)
        # prediction values "no" < "yes": the share of "yes" is compared
        yes = (ref["prediction"].count("yes"), cur["prediction"].count("yes"))
        assert cols["prediction"]["score"] == _approx(_z_p(yes[0], n_ref, yes[1], n_cur))

        settings = {"features": {"x": {"method": "psi"}, "c": {"method": "psi"}}}
        assert (await api.client.patch("/v1/models/m/reference", json=settings)).status_code == 200
        cols = (await _drift(api, "m", window="1h"))["by_name"]
        assert cols["x"]["method"] == "psi" and cols["x"]["score"] == _approx(_psi_numeric(xr, xc))
        r, c = _proportions(ref["c"], cur["c"])
        assert r[keys.index("e")] == 0  # filled with 1e-4 before the logarithm
        assert cols["c"]["score"] == _approx(_psi(r, c))


def _boundary_columns(rng: np.random.Generator, n: int, current: bool) -> dict[str, list[Any]]:
    def ints(k: int) -> list[float]:
        return [float(v) for v in np.arange(n) % k]  # every value present, any n

    return {
        "xc": rng.normal(0, 1, n).tolist(),
        "k2": ints(2),
        "k3": ints(3),
        "k5": ints(5),
        "k6": ints(6),
        "k5u": ints(6 if current else 5),  # 5 values in the reference, a 6th in the window
        "c2": [["u", "v"][i % 2] for i in range(n)],
        "c2u": [["u", "v", "w" if current else "u"][i % 3] for i in range(n)],
        "c3": [["u", "v", "w"][i % 3] for i in range(n)],
        "bb": [i % 3 == 0 for i in range(n)],
    }


@pytest.mark.parametrize(
    ("ref_rows", "expected"),
    [
        (
            1000,
            {"bb": "z", "c2": "z", "c2u": "chi2", "c3": "chi2", "k2": "z", "k3": "chi2",
             "k5": "chi2", "k5u": "ks", "k6": "ks", "xc": "ks"},
        ),
        (
            1001,
            {"bb": "jensenshannon", "c2": "jensenshannon", "c2u": "jensenshannon",
             "c3": "jensenshannon", "k2": "jensenshannon", "k3": "jensenshannon",
             "k5": "jensenshannon", "k5u": "wasserstein", "k6": "wasserstein",
             "xc": "wasserstein"},
        ),
    ],
)  # fmt: skip
async def test_default_method_at_the_row_and_distinct_value_boundaries(
    make_api: MakeApi, ref_rows: int, expected: dict[str, str]
) -> None:
    rng = np.random.default_rng(ref_rows)
    async with make_api() as api:
        await _post(api, "m", _rows(_boundary_columns(rng, 300, True)), time.time() - 600)
        body = await _put_ref(api, "m", _boundary_columns(rng, ref_rows, False))
        types = {c["name"]: c["type"] for c in body["columns"]}
        assert (
            types["k2"] == "numeric" and types["bb"] == "boolean" and types["c2"] == "categorical"
        )
        d = await _drift(api, "m", window="1h")
        assert {n: c["method"] for n, c in d["by_name"].items()} == expected
        assert all(c["reference"]["count"] == ref_rows for c in d["columns"])


async def test_version_group_and_tag_filters(make_api: MakeApi) -> None:
    rng = np.random.default_rng(7)
    ref = {"x": rng.normal(0, 1, 1500).tolist()}
    t0 = time.time() - 900

    def block(n: int, shift: float) -> list[dict[str, Any]]:
        return [{"x": float(v)} for v in rng.normal(shift, 1, n)]

    async with make_api() as api:
        await _post(api, "mv", block(300, 0.0), t0, version="v1")
        await _post(api, "mv", block(200, 1.0), t0 + 10, version="v2")
        await _post(api, "mg", block(250, 0.0), t0, group="A")
        await _post(api, "mg", block(150, 1.0), t0 + 10, group="B")
        for tier in ("gold", "basic"):
            await _post(api, "mt", block(110, 0.0), t0, tags={"region": "eu", "tier": tier})
            await _post(api, "mt", block(90, 1.0), t0 + 10, tags={"region": "us", "tier": tier})
        for model in ("mv", "mg", "mt"):
            await _put_ref(api, model, ref)
            # W₁ noise of 110 events is up to ~0.1: the 1 sd shift is judged at 0.25
            th = {"features": {"x": {"threshold": 0.25}}}
            assert (await api.client.patch(f"/v1/models/{model}/reference", json=th)).is_success
        cases = [
            ("mv", {}, 500, True),
            ("mv", {"version": "v1"}, 300, False),
            ("mv", {"version": "v2"}, 200, True),
            ("mg", {"group": "A"}, 250, False),
            ("mg", {"group": "B"}, 150, True),
            ("mt", {"tag.region": "eu"}, 220, False),
            ("mt", {"tag.region": "us"}, 180, True),
            ("mt", {"tag.region": "eu", "tag.tier": "gold"}, 110, False),
            ("mt", {"tag.region": "us", "tag.tier": "basic"}, 90, True),
        ]
        for model, params, rows, drift in cases:
            d = await _drift(api, model, window="1h", **params)
            assert d["status"] == "ok", (model, params)
            assert d["rows"]["current"] == rows, (model, params)
            x = d["by_name"]["x"]
            assert x["current"]["count"] == rows and x["drift"] is drift, (model, params, x)
            assert (x["method"], x["threshold"]) == ("wasserstein", 0.25)
            assert d["dataset"]["drifted"] == int(drift)
            tags = {k[4:]: v for k, v in params.items() if k.startswith("tag.")}
            assert d["filters"] == {
                "version": params.get("version"),
                "group": params.get("group"),
                "tags": tags,
            }
        d = await _drift(api, "mv", window="1h", version="v3")
        assert d["status"] == "no_data" and d["rows"]["current"] == 0


async def test_windows_and_states(make_api: MakeApi) -> None:
    rng = np.random.default_rng(8)
    now = time.time()
    async with make_api() as api:
        await _post(api, "w", [{"x": float(v)} for v in rng.normal(2, 1, 200)], now - 5400)
        await _post(api, "w", [{"x": float(v)} for v in rng.normal(0, 1, 300)], now - 600)
        await _put_ref(api, "w", {"x": rng.normal(0, 1, 1500).tolist()})
        th = {"features": {"x": {"threshold": 0.25}}}
        assert (await api.client.patch("/v1/models/w/reference", json=th)).is_success
        d = await _drift(api, "w", window="1h")  # the drifted events are 1.5 h old
        assert d["rows"]["current"] == 300 and d["by_name"]["x"]["drift"] is False
        assert d["dataset"] == {
            "drifted": 0,
            "total": 1,
            "share": 0.0,
            "threshold": 0.5,
            "drift": False,
        }
        d = await _drift(api, "w", window="2h")
        assert d["rows"]["current"] == 500 and d["by_name"]["x"]["drift"] is True
        d = await _drift(api, "w", start=str(now - 5500), end=str(now - 5000))
        assert d["rows"]["current"] == 200 and d["by_name"]["x"]["drift"] is True
        assert d["dataset"]["drift"] is True
        for params in ({"window": "5m"}, {"start": str(now - 4000), "end": str(now - 3000)}):
            r = await api.client.get("/v1/models/w/drift", params=params)
            assert r.status_code == 200, r.text
            d = r.json()
            assert d["status"] == "no_data" and "no events" in d["message"]
            assert d["rows"] == {"reference": 1500, "current": 0}
            assert d["columns"] == [] and d["dataset"] is None
        for path in ("drift", "quality"):
            r = await api.client.get(f"/v1/models/nope/{path}", params={"window": "1h"})
            assert r.status_code == 404, r.text


async def _cached_setup(api: Api, rng: np.random.Generator) -> dict[str, str]:
    """Events and a 300-row reference (default: ks); the explicit window asked once."""
    now = time.time()
    window = {"start": str(now - 3600), "end": str(now + 60)}
    await _post(api, "m", [{"x": float(v)} for v in rng.normal(0, 1, 300)], now - 600)
    await _put_ref(api, "m", {"x": rng.normal(0, 1, 300).tolist()})
    assert (await _drift(api, "m", **window))["by_name"]["x"]["method"] == "ks"
    return window


async def test_same_window_after_a_settings_change_uses_the_new_settings(
    make_api: MakeApi,
) -> None:
    async with make_api() as api:
        window = await _cached_setup(api, np.random.default_rng(9))
        patch = {"features": {"x": {"method": "psi"}}}
        assert (await api.client.patch("/v1/models/m/reference", json=patch)).status_code == 200
        assert (await _drift(api, "m", **window))["by_name"]["x"]["method"] == "psi"


async def test_same_window_after_a_new_or_deleted_reference(make_api: MakeApi) -> None:
    rng = np.random.default_rng(9)
    async with make_api() as api:
        window = await _cached_setup(api, rng)
        await _put_ref(api, "m", {"x": rng.normal(0, 1, 1500).tolist()})  # > 1000 rows
        d = await _drift(api, "m", **window)
        assert d["rows"]["reference"] == 1500 and d["by_name"]["x"]["method"] == "wasserstein"
        assert (await api.client.delete("/v1/models/m/reference")).status_code == 200
        d = await _drift(api, "m", **window)
        assert d["status"] == "no_reference" and d["columns"] == []


async def test_mismatched_and_non_finite_values_leave_the_sample(make_api: MakeApi) -> None:
    rng = np.random.default_rng(10)
    ref_x = rng.normal(0, 1, 1500)
    ref_vals = [*ref_x.tolist(), math.nan, math.inf, -math.inf]  # non-finite: not in the sample
    good = rng.normal(0.3, 1, 372)
    cur_vals: list[Any] = [*good.tolist(), *["abc"] * 15, *["1.5"] * 5, True, True, True]
    cur_vals += [None] * 5
    async with make_api() as api:
        await _post(api, "m", [{"x": v} for v in cur_vals], time.time() - 600)
        await _put_ref(api, "m", {"x": ref_vals, "y": ["k"] * len(ref_vals)})  # y never sent
        d = await _drift(api, "m", window="1h")
        y = d["by_name"]["y"]
        assert (y["score"], y["drift"], y["message"]) == (None, False, "no values in the window")
        assert y["current"] == {"count": 0, "nulls": 400, "null_share": 1.0}
        assert y["null_change"]["drift"] is True  # every event lacks it
        x = d["by_name"]["x"]
        assert x["reference"] == {"count": 1500, "nulls": 0, "null_share": 0.0}
        assert x["current"] == {"count": 372, "nulls": 5, "null_share": 5 / 400}
        assert x["method"] == "wasserstein" and x["score"] == _approx(_wasserstein(ref_x, good))
        q = await api.get("/v1/models/m/quality", window="1h")
        assert q["events_missing_features"] == 400
        qx = q["columns"][0]
        assert (qx["count"], qx["present"], qx["nulls"], qx["type_mismatches"]) == (400, 400, 5, 23)
        assert qx["type_mismatch_share"] == 23 / 400
        # JSON cannot carry NaN or infinity: a number beyond the float range is refused
        r = await api.client.post(
            "/v1/events",
            content=b'{"model": "m", "prediction": "p", "features": {"x": 1e999}}',
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422, r.text
        assert api.stored() == 400
