"""Idempotent ingestion: (model, id) is stored once; NDJSON; one object or an array."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from .conftest import Api
from .helpers import HOUR, T0, window

pytestmark = pytest.mark.anyio

W = window(T0, T0 + HOUR)


def ev(i: Any, model: str = "m", **kw: Any) -> dict[str, Any]:
    return {"model": model, "id": str(i), "timestamp": T0 + 1, "prediction": "a", **kw}


async def test_duplicate_in_one_request_is_stored_once_first_wins(api: Api) -> None:
    res = await api.events([ev(1, latency_ms=10), ev(2), ev(1, latency_ms=99), ev(3), ev(2)])
    assert res == {"accepted": 3, "duplicates": 2, "ids": ["1", "2", "1", "3", "2"]}
    assert api.stored() == 3
    m = await api.metrics("m", W)
    assert m["count"] == 3
    assert m["latency_ms"]["max"] == 10  # the first occurrence is the one stored


async def test_duplicates_across_requests(api: Api) -> None:
    first = await api.events([ev(i) for i in range(5)])
    assert first == {"accepted": 5, "duplicates": 0, "ids": ["0", "1", "2", "3", "4"]}
    again = await api.events([ev(i) for i in range(5)])
    assert again == {"accepted": 0, "duplicates": 5, "ids": ["0", "1", "2", "3", "4"]}
    overlap = await api.events([ev(3), ev(5), ev(4), ev(6)])
    assert overlap == {"accepted": 2, "duplicates": 2, "ids": ["3", "5", "4", "6"]}
    assert api.stored() == 7
    assert (await api.metrics("m", W))["count"] == 7
    info = (await api.client.get("/v1/models/m")).json()
    assert info["event_count"] == 7
    assert info["versions"][0]["event_count"] == 7


async def test_same_id_in_another_model_is_not_a_duplicate(api: Api) -> None:
    res = await api.events([ev(1, model="a"), ev(1, model="b")])
    assert res == {"accepted": 2, "duplicates": 0, "ids": ["1", "1"]}
    assert api.stored() == 2


async def test_concurrent_retries_are_stored_once(api: Api) -> None:
    """Many concurrent requests with overlapping ids share group commits; each id lands once."""
    batches = [[ev(i) for i in range(k, k + 20)] for k in range(0, 200, 10)]  # each id twice
    responses = await asyncio.gather(*(api.client.post("/v1/events", json=b) for b in batches))
    assert all(r.status_code == 200 for r in responses)
    bodies = [r.json() for r in responses]
    unique = {e["id"] for b in batches for e in b}
    assert sum(b["accepted"] for b in bodies) == len(unique)
    assert sum(b["duplicates"] for b in bodies) == sum(len(b) for b in batches) - len(unique)
    assert api.stored() == len(unique)
    assert (await api.metrics("m", W))["count"] == len(unique)


async def test_server_assigns_unique_ids_usable_for_feedback(api: Api) -> None:
    res = await api.events(
        [{"model": "m", "prediction": "a", "timestamp": T0 + i} for i in range(4)]
    )
    ids = res["ids"]
    assert res["accepted"] == 4 and len(set(ids)) == 4 and all(ids)
    fb = await api.feedback([{"model": "m", "id": i, "label": "a"} for i in ids])
    assert fb == {"accepted": 4, "matched": 4}
    again = await api.events([{"model": "m", "prediction": "a"}])
    assert again["ids"][0] not in ids


async def test_single_object_and_array(api: Api) -> None:
    assert await api.events(ev("solo")) == {"accepted": 1, "duplicates": 0, "ids": ["solo"]}
    assert await api.events([ev("arr")]) == {"accepted": 1, "duplicates": 0, "ids": ["arr"]}
    assert await api.events(ev("solo")) == {"accepted": 0, "duplicates": 1, "ids": ["solo"]}
    assert api.stored() == 2


@pytest.mark.parametrize("ctype", ["application/x-ndjson", "application/x-ndjson; charset=utf-8"])
async def test_ndjson(api: Api, ctype: str) -> None:
    lines = [orjson.dumps(ev(i, latency_ms=i)) for i in range(3)] + [orjson.dumps(ev(1))]
    body = b"\n".join(lines[:2]) + b"\r\n\n" + b"\n".join(lines[2:]) + b"\n"
    r = await api.client.post("/v1/events", content=body, headers={"content-type": ctype})
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 3, "duplicates": 1, "ids": ["0", "1", "2", "1"]}
    m = await api.metrics("m", W)
    assert m["count"] == 3 and m["latency_ms"]["max"] == 2


async def test_integer_id_is_the_same_key_as_its_string(api: Api) -> None:
    await api.events(ev(7) | {"id": 7})
    res = await api.events(ev("7"))
    assert res == {"accepted": 0, "duplicates": 1, "ids": ["7"]}
