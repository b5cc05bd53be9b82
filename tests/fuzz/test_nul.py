"""NUL (U+0000) is refused with 422 wherever it could reach the store, on both backends alike
(PostgreSQL cannot store it; DuckDB could, and would then hold data the other backend refuses)."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.inprocess import MakeApi

from modeltower.api.nul import _escapes_nul, _tail

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}


def _refused(r: object, field: str) -> None:
    assert r.status_code == 422, r.text  # type: ignore[attr-defined]
    detail = r.json()["detail"]  # type: ignore[attr-defined]
    assert "NUL" in detail["message"]
    assert detail["field"] == field


async def test_nul_is_refused_in_bodies_paths_queries_and_files(make_api: MakeApi) -> None:
    async with make_api() as api:
        c = api.client
        for body in (
            b'{"model": "m\\u0000", "prediction": "a"}',
            b'[{"model": "m", "prediction": "a", "features": {"k\\u0000": 1}}]',
            b'{"model": "m", "prediction": "a", "tags": {"t": "\\\\\\u0000"}}',
        ):
            _refused(await c.post("/v1/events", content=body, headers=JSON), "body")
        ndjson = {"content-type": "application/x-ndjson"}
        nd = b'{"model": "m", "prediction": "a\\u0000"}\n'
        _refused(await c.post("/v1/events", content=nd, headers=ndjson), "body")
        fb = b'{"model": "m", "id": "1", "label": "\\u0000"}'
        _refused(await c.post("/v1/feedback", content=fb, headers=JSON), "body")
        pl = b'{"positive_label": "\\u0000"}'
        _refused(await c.put("/v1/models/m", content=pl, headers=JSON), "body")
        _refused(await c.get("/v1/models/m%00"), "path")
        _refused(await c.get("/v1/models/m/metrics", params={"version": "v\x00"}), "version")
        assert api.stored() == 0

        await api.events({"model": "m", "prediction": "a", "features": {"x": "b"}})
        csv = b"x,prediction\na\x00b,p\n"
        r = await c.put("/v1/models/m/reference", content=csv, headers={"content-type": "text/csv"})
        _refused(r, "body")
        buf = io.BytesIO()
        pq.write_table(pa.table({"x": ["a\x00b"], "prediction": ["p"]}), buf)
        parquet = {"content-type": "application/vnd.apache.parquet"}
        r = await c.put("/v1/models/m/reference", content=buf.getvalue(), headers=parquet)
        _refused(r, "body")
        r = await c.get("/v1/models/m/reference")
        assert r.status_code == 404, r.text  # nothing was set


async def test_escaped_backslashes_before_u0000_are_text(make_api: MakeApi) -> None:
    """``\\\\u0000`` in JSON is a backslash followed by the text u0000: stored as sent."""
    async with make_api() as api:
        r = await api.client.post(
            "/v1/events", content=b'{"model": "m", "prediction": "a\\\\u0000"}', headers=JSON
        )
        assert r.status_code == 200, r.text
        assert api.stored() == 1


def test_an_escape_split_between_body_chunks_is_found() -> None:
    body = b'{"model": "m", "prediction": "a\\u0000"}'
    for cut in range(1, len(body)):
        first, second = body[:cut], body[cut:]
        assert _escapes_nul(first) or _escapes_nul(_tail(first) + second), cut
    text = b'{"model": "m", "prediction": "a\\\\u0000"}'
    for cut in range(1, len(text)):
        first, second = text[:cut], text[cut:]
        assert not _escapes_nul(first) and not _escapes_nul(_tail(first) + second), cut
