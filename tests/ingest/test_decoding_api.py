"""POST /v1/events with decode workers: large bodies are decoded in a worker process and answered
as the server answers any body (stored, 422 naming the events and fields, 413, duplicates, tag
values folded), on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from tests.inprocess import MakeApi

pytestmark = pytest.mark.anyio


def _events(n: int, start: int = 0, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "model": "m",
            "id": f"e{i}",
            "timestamp": 1_760_000_000 + i,
            "prediction": "yes" if i % 3 else "no",
            "label": "yes",
            "latency_ms": float(i % 50),
            "features": {"x": i, "plan": "pro"},
            "tags": {"t": f"v{i % 4}"},
            **extra,
        }
        for i in range(start, start + n)
    ]


async def test_large_bodies_through_a_worker(make_api: MakeApi) -> None:
    async with make_api(ingest_workers=1, max_tag_values=2) as api:
        pool = api.app.state.ingest.decode
        r = await api.client.post("/v1/events", json=_events(3_000))
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == 3_000 and r.json()["ids"][2999] == "e2999"
        assert pool._pool is not None, "the body went to a worker"
        # tags beyond max_tag_values=2 are folded whichever process decoded them: v2 and v3
        (tag,) = (await api.get("/v1/models/m/limits"))["tags"]
        assert (tag["key"], tag["distinct_values"], tag["folded"]) == ("t", 2, 1_500)
        again = await api.client.post("/v1/events", json=_events(2_000, start=2_000))
        assert again.json()["accepted"] == 1_000 and again.json()["duplicates"] == 1_000
        assert api.stored() == 4_000
        m = await api.metrics("m", {"start": "1760000000", "end": "1760010000"})
        assert m["count"] == 4_000
        right = sum(i % 3 != 0 for i in range(4_000))
        assert m["classification"]["accuracy"] == pytest.approx(right / 4_000)
        bad = _events(2_000, start=10_000)
        bad[1_500]["latency_ms"] = -5
        bad[1_800]["model"] = ".."
        r = await api.client.post("/v1/events", json=bad)
        assert r.status_code == 422, r.text
        paths = [e["path"] for e in r.json()["detail"]["errors"]]
        assert paths == ["events[1500].latency_ms"], paths  # types first, then names
        bad[1_500]["latency_ms"] = 5
        r = await api.client.post("/v1/events", json=bad)
        assert [e["path"] for e in r.json()["detail"]["errors"]] == ["events[1800].model"]
        r = await api.client.post(
            "/v1/events", content=b"[" + b'{"model": "m"},' * 10_000, headers={}
        )
        assert r.status_code == 400, r.text
        assert api.stored() == 4_000


async def test_too_many_events_through_a_worker(make_api: MakeApi) -> None:
    async with make_api(ingest_workers=1, max_events_per_request=1_000) as api:
        r = await api.client.post("/v1/events", json=_events(1_001))
        assert r.status_code == 413, r.text
        assert "1001 events" in r.text and "1000" in r.text
        assert api.app.state.ingest.decode._pool is not None
        assert api.stored() == 0
