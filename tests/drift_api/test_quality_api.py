"""``GET /v1/models/{model}/quality`` on small hand-made data where every count is known.

Reference (10 rows, a JSON array):

| row | amount | color | flag  |
| --- | ------ | ----- | ----- |
| 0-5 | 10, 12, 14, 16, 18, 20 | red ×4 (rows 0-3), green ×2 (rows 4-5) | true ×3 (rows 0-2), false ×7 |
| 6-9 | 11, 13, 15, null | green, blue, blue, null |  |

so amount: range [10, 20], 9 distinct, null share 1/10; color: red/green/blue, null share 1/10;
flag: boolean, no nulls.

Current events of version v1 in the last hour (``—`` = key absent):

| # | amount  | color    | flag  | other keys       | notes                               |
| - | ------- | -------- | ----- | ---------------- | ----------------------------------- |
| 1 | 15      | red      | true  |                  |                                     |
| 2 | 25      | green    | false |                  | above the range                     |
| 3 | 5       | purple   | false |                  | below the range; new value          |
| 4 | "abc"   | purple   | true  |                  | string in a numeric feature         |
| 5 | null    | orange   | false |                  | JSON null; new value                |
| 6 | —       | red      | —     |                  | two keys absent                     |
| 7 | 20      | null     | false |                  | exactly the maximum: in range       |
| 8 | 10      | purple   | false | debug            | exactly the minimum                 |
| 9 | 30      | teal     | true  | debug, trace     | above; new value                    |
| 10| 12.5    | blue     | false |                  |                                     |
| 11| —       | —        | —     |                  | ``features: {}``                    |

plus 3 events of version v2 in the last hour and 4 of version v1 three hours ago (``V2`` and
``OLD`` below).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from tests.inprocess import Api, MakeApi

pytestmark = pytest.mark.anyio

REFERENCE = [
    {"amount": a, "color": c, "flag": f}
    for a, c, f in zip(
        [10, 12, 14, 16, 18, 20, 11, 13, 15, None],
        ["red"] * 4 + ["green"] * 3 + ["blue"] * 2 + [None],
        [True] * 3 + [False] * 7,
        strict=True,
    )
]
V1: list[dict[str, Any]] = [
    {"amount": 15, "color": "red", "flag": True},
    {"amount": 25, "color": "green", "flag": False},
    {"amount": 5, "color": "purple", "flag": False},
    {"amount": "abc", "color": "purple", "flag": True},
    {"amount": None, "color": "orange", "flag": False},
    {"color": "red"},
    {"amount": 20, "color": None, "flag": False},
    {"amount": 10, "color": "purple", "flag": False, "debug": 1},
    {"amount": 30, "color": "teal", "flag": True, "debug": 2, "trace": "x"},
    {"amount": 12.5, "color": "blue", "flag": False},
    {},
]
V2: list[dict[str, Any]] = [
    {"amount": 100, "color": "zzz", "flag": True},
    {"amount": 11, "color": "zzz", "flag": False},
    {"amount": "x", "color": "red", "flag": True, "debug": 1},
]
OLD = [{"amount": 999, "color": "old", "flag": False}] * 4  # version v1, three hours ago


async def _setup(api: Api, reference: bool = True) -> float:
    now = time.time()
    events = []
    for block, version, t0 in (
        (V1, "v1", now - 1200),
        (V2, "v2", now - 600),
        (OLD, "v1", now - 10800),
    ):
        for i, features in enumerate(block):
            events.append(
                {
                    "model": "q",
                    "id": f"{version}-{t0}-{i}",
                    "version": version,
                    "timestamp": t0 + i,
                    "prediction": "p",
                    "features": features,
                }
            )
    await api.events(events)
    if reference:
        r = await api.client.put(
            "/v1/models/q/reference",
            content=orjson.dumps(REFERENCE),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 200, r.text
        types = {c["name"]: c["type"] for c in r.json()["columns"]}
        assert types == {"amount": "numeric", "color": "categorical", "flag": "boolean"}
    return now


async def _quality(api: Api, **params: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    q = await api.get("/v1/models/q/quality", **params)
    assert q["status"] == "ok" and q["message"] is None, q
    return q, {c["name"]: c for c in q["columns"]}


async def test_every_count_of_one_window(make_api: MakeApi) -> None:
    async with make_api() as api:
        await _setup(api)
        q, cols = await _quality(api, window="1h", version="v1")
        assert q["rows"] == 11
        assert q["filters"] == {"version": "v1", "group": None, "tags": {}}
        assert [c["name"] for c in q["columns"]] == ["amount", "color", "flag"]
        assert cols["amount"] == {
            "name": "amount",
            "role": "feature",
            "type": "numeric",
            "count": 11,
            "present": 9,  # events 6 and 11 lack the key
            "missing": 2,
            "nulls": 3,  # the two missing and event 5's null
            "null_share": 3 / 11,
            "reference_null_share": 1 / 10,
            "type_mismatches": 1,  # "abc"
            "type_mismatch_share": 1 / 9,
            "out_of_range": 3,  # 25, 5 and 30; 10 and 20 are the reference's bounds
            "out_of_range_share": 3 / 7,  # of the 7 usable values
            "reference_range": [10.0, 20.0],
            "new_values": None,
            "new_value_share": None,
            "top_new_values": [],
            "distinct": 7,  # 15, 25, 5, 20, 10, 30, 12.5
            "reference_distinct": 9,
        }
        assert cols["color"] == {
            "name": "color",
            "role": "feature",
            "type": "categorical",
            "count": 11,
            "present": 10,
            "missing": 1,
            "nulls": 2,  # event 7's null and event 11
            "null_share": 2 / 11,
            "reference_null_share": 1 / 10,
            "type_mismatches": 0,
            "type_mismatch_share": 0.0,
            "out_of_range": None,
            "out_of_range_share": None,
            "reference_range": None,
            "new_values": 5,  # purple ×3, orange, teal
            "new_value_share": 5 / 9,
            "top_new_values": [
                {"value": "purple", "count": 3},
                {"value": "orange", "count": 1},  # ties by value
                {"value": "teal", "count": 1},
            ],
            "distinct": 6,  # red, green, purple, orange, teal, blue
            "reference_distinct": 3,
        }
        flag = cols["flag"]
        assert flag["type"] == "boolean"
        assert (flag["count"], flag["present"], flag["missing"], flag["nulls"]) == (11, 9, 2, 2)
        assert (flag["null_share"], flag["reference_null_share"]) == (2 / 11, 0.0)
        assert (flag["new_values"], flag["top_new_values"], flag["type_mismatches"]) == (0, [], 0)
        assert (flag["distinct"], flag["reference_distinct"]) == (2, 2)
        assert flag["out_of_range"] is None and flag["reference_range"] is None
        assert q["events_with_unknown_features"] == 2  # events 8 and 9
        assert q["unknown_features"] == [
            {"name": "debug", "count": 2},
            {"name": "trace", "count": 1},
        ]
        assert q["events_missing_features"] == 2  # events 6 and 11 (a null is not missing)


async def test_version_and_window_filters(make_api: MakeApi) -> None:
    async with make_api() as api:
        now = await _setup(api)
        q, cols = await _quality(api, window="1h", version="v2")
        assert q["rows"] == 3
        a, c = cols["amount"], cols["color"]
        assert (a["count"], a["type_mismatches"], a["out_of_range"], a["distinct"]) == (3, 1, 1, 2)
        assert a["out_of_range_share"] == 1 / 2
        assert c["top_new_values"] == [{"value": "zzz", "count": 2}] and c["new_values"] == 2
        assert q["unknown_features"] == [{"name": "debug", "count": 1}]
        assert q["events_with_unknown_features"] == 1 and q["events_missing_features"] == 0

        q, cols = await _quality(api, window="1h")  # both versions
        assert q["rows"] == 14 and q["filters"]["version"] is None
        assert cols["color"]["new_values"] == 7
        assert cols["color"]["top_new_values"] == [
            {"value": "purple", "count": 3},
            {"value": "zzz", "count": 2},
            {"value": "orange", "count": 1},
            {"value": "teal", "count": 1},
        ]
        assert cols["amount"]["type_mismatches"] == 2 and cols["amount"]["out_of_range"] == 4
        assert q["unknown_features"] == [
            {"name": "debug", "count": 3},
            {"name": "trace", "count": 1},
        ]

        q, cols = await _quality(api, window="4h", version="v1")  # the old events too
        assert q["rows"] == 15
        assert (
            cols["amount"]["out_of_range"] == 7 and cols["amount"]["out_of_range_share"] == 7 / 11
        )
        assert cols["color"]["top_new_values"][0] == {"value": "old", "count": 4}
        assert cols["color"]["new_values"] == 9

        q, cols = await _quality(api, start=str(now - 11000), end=str(now - 10000))
        assert q["rows"] == 4
        assert cols["color"]["top_new_values"] == [{"value": "old", "count": 4}]
        assert (cols["amount"]["out_of_range"], cols["amount"]["distinct"]) == (4, 1)
        assert q["unknown_features"] == [] and q["events_missing_features"] == 0

        q = await api.get("/v1/models/q/quality", window="5m")
        assert q["status"] == "no_data" and q["message"] and q["rows"] == 0
        assert q["columns"] == []


async def test_no_reference_and_refused_values(make_api: MakeApi) -> None:
    async with make_api() as api:
        await _setup(api, reference=False)
        r = await api.client.get("/v1/models/q/quality", params={"window": "1h"})
        assert r.status_code == 200, r.text
        q = r.json()
        assert q["status"] == "no_reference" and q["columns"] == []
        assert "PUT /v1/models/q/reference" in q["message"]
        # an object or a list where a categorical value is expected never reaches the store:
        # the event schema allows only strings, numbers, booleans and null as feature values
        for bad in ({"a": 1}, ["red"]):
            r = await api.client.post(
                "/v1/events", json={"model": "q", "prediction": "p", "features": {"color": bad}}
            )
            assert r.status_code == 422, r.text
            assert "features" in orjson.dumps(r.json()).decode()
        assert api.stored() == len(V1) + len(V2) + len(OLD)
        assert (await api.client.get("/v1/models/nope/quality")).status_code == 404
