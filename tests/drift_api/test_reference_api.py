"""References over HTTP: datasets in every format, windows, settings, and clear errors."""

from __future__ import annotations

import io
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.inprocess import Api, MakeApi

pytestmark = pytest.mark.anyio

NOW = time.time()


def _events(n: int, rng: np.random.Generator, t0: float, shift: float = 0.0) -> list[dict]:
    return [
        {
            "model": "m",
            "id": f"e{t0}-{i}",
            "timestamp": t0 + i,
            "prediction": "yes" if rng.random() < 0.5 else "no",
            "score": float(rng.random()),
            "features": {
                "x": float(rng.normal(shift, 1.0)),
                "color": ["red", "green", "blue"][int(rng.integers(0, 3))],
                "flag": bool(rng.random() < 0.3),
            },
        }
        for i in range(n)
    ]


async def _put(api: Api, model: str, content: bytes | str, ctype: str, **params: str):
    return await api.client.put(
        f"/v1/models/{model}/reference",
        content=content,
        headers={"content-type": ctype},
        params=params,
    )


async def test_csv_parquet_json_and_ndjson_give_the_same_reference(make_api: MakeApi) -> None:
    csv = "x,color,flag,prediction\n1.5,red,true,yes\n2.5,blue,false,no\n,green,true,yes\n"
    table = pa.table(
        {
            "x": [1.5, 2.5, None],
            "color": ["red", "blue", "green"],
            "flag": [True, False, True],
            "prediction": ["yes", "no", "yes"],
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    rows = table.to_pylist()
    ndjson = "\n".join(__import__("json").dumps(r) for r in rows)
    async with make_api() as api:
        await api.events(_events(5, np.random.default_rng(0), NOW - 100))
        answers = [
            await _put(api, "m", csv, "text/csv"),
            await _put(api, "m", buf.getvalue(), "application/vnd.apache.parquet"),
            await _put(api, "m", __import__("json").dumps(rows), "application/json"),
            await _put(api, "m", ndjson, "application/x-ndjson"),
            await _put(api, "m", csv, "application/octet-stream", format="csv"),
        ]
        for r in answers:
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["kind"] == "dataset" and body["rows"] == 3 and body["status"] == "ready"
            cols = {(c["name"], c["role"]): c["type"] for c in body["columns"]}
            assert cols == {
                ("color", "feature"): "categorical",
                ("flag", "feature"): "boolean",
                ("x", "feature"): "numeric",
                ("prediction", "prediction"): "categorical",
            }
        got = await api.get("/v1/models/m/reference")
        assert got["rows"] == 3 and got["kind"] == "dataset"


async def test_window_reference_and_first_days(make_api: MakeApi) -> None:
    rng = np.random.default_rng(1)
    async with make_api() as api:
        await api.events(_events(100, rng, NOW - 7200))
        await api.events(_events(50, rng, NOW - 1000))
        r = await api.client.put(
            "/v1/models/m/reference", json={"start": NOW - 7300, "end": NOW - 7000}
        )
        assert r.status_code == 200, r.text
        assert r.json()["rows"] == 100 and r.json()["kind"] == "window"
        names = {c["name"] for c in r.json()["columns"]}
        assert names == {"x", "color", "flag", "prediction", "score"}
        r = await api.client.put("/v1/models/m/reference", json={"first": "30s"})
        assert r.status_code == 200, r.text
        assert r.json()["rows"] == 30  # events at t0 .. t0+29
        # a window still open is collecting, and drift says so instead of failing
        r = await api.client.put(
            "/v1/models/m/reference", json={"start": NOW - 100, "end": NOW + 3600}
        )
        assert r.status_code == 200 and r.json()["status"] == "collecting"
        d = await api.get("/v1/models/m/drift", window="1h")
        assert d["status"] == "collecting" and "collecting" in d["message"]


async def test_settings_override_type_method_threshold(make_api: MakeApi) -> None:
    rng = np.random.default_rng(2)
    async with make_api() as api:
        await api.events(_events(200, rng, NOW - 7200))
        r = await api.client.put(
            "/v1/models/m/reference",
            json={
                "start": NOW - 7300,
                "end": NOW - 6000,
                "features": {"x": {"method": "psi", "threshold": 0.2}},
                "drift_share": 0.3,
            },
        )
        assert r.status_code == 200, r.text
        x = next(c for c in r.json()["columns"] if c["name"] == "x")
        assert (x["method"], x["threshold"]) == ("psi", 0.2)
        assert r.json()["drift_share"] == 0.3
        await api.events(_events(200, rng, NOW - 600, shift=2.0))
        d = await api.get("/v1/models/m/drift", window="1h")
        x = next(c for c in d["columns"] if c["name"] == "x")
        assert x["method"] == "psi" and x["threshold"] == 0.2 and x["drift"] is True
        assert d["dataset"]["threshold"] == 0.3
        r = await api.client.patch(
            "/v1/models/m/reference",
            json={"features": {"color": {"type": "categorical", "method": "chi2_gof"}, "x": None}},
        )
        assert r.status_code == 200, r.text
        cols = {c["name"]: c for c in r.json()["columns"]}
        assert cols["x"]["method"] is None and cols["color"]["method"] == "chi2_gof"
        d = await api.get("/v1/models/m/drift", window="1h")
        cols = {c["name"]: c for c in d["columns"]}
        assert cols["x"]["method"] == "ks"  # 200 reference rows: a test, not a distance
        assert cols["color"]["method"] == "chi2_gof"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"first": "soon"}, "first"),
        ({"start": NOW - 10}, "start"),
        ({"start": NOW - 10, "end": NOW - 20}, "start"),
        ({"first": "1h", "colour": 1}, "colour"),
        ({"first": "1h", "features": {"x": {"method": "nope"}}}, "features.x.method"),
        ({"first": "1h", "features": {"x": {"type": "text"}}}, "features.x.type"),
        ({"first": "1h", "features": {"x": {"threshold": -1}}}, "features.x.threshold"),
        ({"first": "1h", "features": {"color": {"method": "ks"}}}, "features.color.method"),
        ({"first": "1h", "features": {"nope": {"method": "psi"}}}, "features.nope"),
        ({"first": "1h", "drift_share": 2}, "drift_share"),
        ({"first": "1h", "version": "v9"}, "version"),
    ],
)
async def test_bad_reference_requests_are_clear_422s(
    make_api: MakeApi, body: dict, field: str
) -> None:
    async with make_api() as api:
        await api.events(_events(20, np.random.default_rng(3), NOW - 7200))
        r = await api.client.put("/v1/models/m/reference", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["detail"]["field"] == field, r.text
        assert r.json()["detail"]["message"]
        # nothing half-applied
        assert (await api.client.get("/v1/models/m/reference")).status_code == 404


async def test_bad_files_and_missing_references(make_api: MakeApi) -> None:
    async with make_api() as api:
        await api.events(_events(5, np.random.default_rng(4), NOW - 100))
        r = await _put(api, "m", b"\x00\x01garbage", "application/vnd.apache.parquet")
        assert r.status_code == 422 and r.json()["detail"]["field"] == "body"
        r = await _put(api, "m", "a,b\n", "text/csv")
        assert r.status_code == 422 and "no rows" in r.json()["detail"]["message"]
        r = await _put(api, "m", "x", "image/png")
        assert r.status_code == 422 and r.json()["detail"]["field"] == "content-type"
        r = await _put(api, "m", "{not json", "application/json")
        assert r.status_code == 422 and r.json()["detail"]["field"] == "body"
        r = await api.client.get("/v1/models/m/reference")
        assert (
            r.status_code == 404 and "PUT /v1/models/m/reference" in r.json()["detail"]["message"]
        )
        assert (await api.client.delete("/v1/models/m/reference")).status_code == 404
        for path in ("drift", "quality", "drift/timeseries"):
            d = await api.get(f"/v1/models/m/{path}", window="1h")
            assert d["status"] == "no_reference" and "reference" in d["message"]
        assert (await api.client.get("/v1/models/nope/drift")).status_code == 404
        r = await _put(api, "m", "x\n1\n2\n", "text/csv")
        assert r.status_code == 200
        assert (await api.client.delete("/v1/models/m/reference")).json()["deleted"] is True
        assert (await api.client.get("/v1/models/m/reference")).status_code == 404
