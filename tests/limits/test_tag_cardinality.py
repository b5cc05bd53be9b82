"""At most max_tag_values distinct values per (model, tag key): the first ones to arrive are
kept, later ones are stored as __other__ and counted; the known values survive restarts and
are shared by processes on one database."""

from __future__ import annotations

import asyncio
import contextlib
import io
from typing import Any

import pyarrow.parquet as pq
import pytest

from .conftest import Api, MakeApi

pytestmark = pytest.mark.anyio

T0 = 1_764_000_000
WINDOW = {"start": T0 - 10, "end": T0 + 10_000}


def ev(i: int, region: str, **tags: str) -> dict[str, Any]:
    return {
        "model": "m",
        "id": f"e{region}{i}",
        "timestamp": T0 + i,
        "prediction": "a",
        "tags": {"region": region, **tags},
    }


async def count(api: Api, region: str) -> int:
    m = await api.metrics("m", {**WINDOW, "tag.region": region})
    return int(m["count"])


async def limits(api: Api) -> dict[str, Any]:
    return {t["key"]: t for t in (await api.get("/v1/models/m/limits"))["tags"]}


async def test_values_beyond_the_limit_become_other_and_are_counted(make_api: MakeApi) -> None:
    async with make_api(max_tag_values=3) as api:
        # One batch: the first three distinct values in arrival order are kept.
        regions = ["eu", "us", "eu", "asia", "latam", "us", "africa"]
        await api.events([ev(i, r, plan="p") for i, r in enumerate(regions)])
        assert [await count(api, r) for r in ("eu", "us", "asia")] == [2, 2, 1]
        assert await count(api, "latam") == 0 and await count(api, "__other__") == 2
        await api.events([ev(100, "eu"), ev(101, "mars")])  # known kept, new folded
        assert await count(api, "eu") == 3 and await count(api, "__other__") == 3
        got = await limits(api)
        assert got["region"] == {"key": "region", "distinct_values": 3, "folded": 3, "full": True}
        assert got["plan"]["folded"] == 0 and not got["plan"]["full"]
        body = await api.get("/v1/models/m/limits")
        assert body["limits"]["max_tag_values"] == 3 and body["folded_total"] == 3
        text = (await api.client.get("/metrics")).text
        assert 'modeltower_tag_values_folded_total{key="region",model="m"} 3.0' in text
        # A literal __other__ from a client is not a value of its own.
        await api.events([ev(102, "__other__")])
        assert (await limits(api))["region"]["distinct_values"] == 3


async def test_folding_is_the_same_when_sent_one_by_one(make_api: MakeApi) -> None:
    regions = [f"r{i % 7}" for i in range(30)]
    async with make_api(max_tag_values=4) as api:
        for i, r in enumerate(regions):
            await api.events([ev(i, r)])
        one_by_one = [await count(api, f"r{k}") for k in range(7)]
    async with make_api(max_tag_values=4) as api:
        await api.events([ev(i, r) for i, r in enumerate(regions)])
        batched = [await count(api, f"r{k}") for k in range(7)]
    assert one_by_one == batched == [5, 5, 4, 4, 0, 0, 0]


async def test_known_values_survive_a_restart(make_api: MakeApi) -> None:
    async with make_api("tags.duckdb", max_tag_values=2) as api:
        await api.events([ev(0, "eu"), ev(1, "us")])
    async with make_api("tags.duckdb", max_tag_values=2) as api:
        await api.events([ev(2, "asia"), ev(3, "us")])
        assert await count(api, "us") == 2 and await count(api, "__other__") == 1
        assert (await limits(api))["region"]["folded"] == 1


async def test_processes_on_one_database_share_the_limit(make_api: MakeApi, backend: str) -> None:
    limit, per_app = 5, 40
    async with contextlib.AsyncExitStack() as stack:
        if backend == "postgres":  # two replicas at once on one database
            apps = [
                await stack.enter_async_context(make_api("shared.duckdb", max_tag_values=limit))
                for _ in range(2)
            ]
        else:  # an embedded file has one process: the same through a restart
            apps = []

        async def feed(api: Api, side: int) -> None:
            for i in range(per_app):
                await api.events([ev(side * 1000 + i, f"s{side}-{i}")])

        if apps:
            await asyncio.gather(feed(apps[0], 0), feed(apps[1], 1))
            api = apps[0]
        else:
            async with make_api("shared.duckdb", max_tag_values=limit) as first:
                await feed(first, 0)
            api = await stack.enter_async_context(make_api("shared.duckdb", max_tag_values=limit))
            await feed(api, 1)
        st = (await limits(api))["region"]
        assert st["distinct_values"] == limit  # exactly: admissions are serialised
        assert st["folded"] == 2 * per_app - limit
        assert await count(api, "__other__") == 2 * per_app - limit


def keyed(i: int, *keys: str) -> dict[str, Any]:
    return {
        "model": "m",
        "id": f"k{i}",
        "timestamp": T0 + i,
        "prediction": "a",
        "tags": {k: "v" for k in keys},
    }


async def _tags_of(api: Api, start: int, end: int) -> list[dict[str, str]]:
    """The stored tags of events k<start>..k<end-1>, in id order (the model's export)."""
    r = await api.client.get("/v1/models/m/export", params={"format": "parquet"})
    assert r.status_code == 200, r.text
    rows = pq.read_table(io.BytesIO(r.content)).to_pylist()  # a column tag.<key> per key
    tags = {
        row["id"]: {k[4:]: v for k, v in row.items() if k.startswith("tag.") and v is not None}
        for row in rows
    }
    return [tags[f"k{i}"] for i in range(start, end)]


async def test_keys_beyond_the_key_limit_become_other_with_their_value(
    make_api: MakeApi,
) -> None:
    async with make_api(max_tag_keys=3) as api:
        # one batch: the first three keys to arrive are kept, in arrival order
        await api.events([keyed(0, "a", "b"), keyed(1, "c", "d", "a"), keyed(2, "e")])
        assert await _tags_of(api, 0, 3) == [
            {"a": "v", "b": "v"},
            {"c": "v", "__other__": "__other__", "a": "v"},
            {"__other__": "__other__"},
        ]
        await api.events([keyed(3, "b", "f"), keyed(4, "c")])  # known keys stay, new ones go
        assert await _tags_of(api, 3, 5) == [{"b": "v", "__other__": "__other__"}, {"c": "v"}]
        got = await limits(api)
        assert sorted(got) == ["__other__", "a", "b", "c"]
        assert got["__other__"]["folded"] == 3 and got["__other__"]["distinct_values"] == 0
        body = await api.get("/v1/models/m/limits")
        assert body["limits"]["max_tag_keys"] == 3 and body["folded_total"] == 3
        m = await api.metrics("m", {**WINDOW, "tag.__other__": "__other__"})
        assert m["count"] == 3
    async with make_api(max_tag_keys=2) as api:  # values and keys limits together
        await api.events([keyed(10, "a", "b", "c")])
        assert await _tags_of(api, 10, 11) == [{"a": "v", "b": "v", "__other__": "__other__"}]


async def test_the_key_limit_is_shared_by_processes_and_kept_across_restarts(
    make_api: MakeApi, backend: str
) -> None:
    limit, per_app = 4, 12
    async with contextlib.AsyncExitStack() as stack:
        if backend == "postgres":  # two replicas at once on one database
            apps = [
                await stack.enter_async_context(make_api("keys.duckdb", max_tag_keys=limit))
                for _ in range(2)
            ]

            async def feed(api: Api, side: int) -> None:
                for i in range(per_app):
                    await api.events([keyed(side * 100 + i, f"s{side}-{i}")])

            await asyncio.gather(feed(apps[0], 0), feed(apps[1], 1))
            api = apps[0]
        else:
            async with make_api("keys.duckdb", max_tag_keys=limit) as first:
                for i in range(per_app):
                    await first.events([keyed(i, f"s0-{i}")])
            api = await stack.enter_async_context(make_api("keys.duckdb", max_tag_keys=limit))
            for i in range(per_app):
                await api.events([keyed(100 + i, f"s1-{i}")])
        got = await limits(api)
        kept = [k for k in got if k != "__other__"]
        assert len(kept) == limit  # exactly: admissions are serialised
        assert got["__other__"]["folded"] == 2 * per_app - limit
        # a kept key is still answered on either process, a refused one stays refused
        await api.events([keyed(500, kept[0]), keyed(501, "s0-11")])
        assert await _tags_of(api, 500, 502) == [{kept[0]: "v"}, {"__other__": "__other__"}]
