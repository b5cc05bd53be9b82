"""Bad input gives the right 4xx with field and reason, never a 500, and stores nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from .conftest import Api, MakeApi
from .helpers import HOUR, T0, window

pytestmark = pytest.mark.anyio

GOOD = {"model": "m", "id": "base", "timestamp": T0 + 1, "prediction": "a"}


def j(obj: Any) -> bytes:
    return orjson.dumps(obj)


def bad(**kw: Any) -> bytes:
    return j({"model": "m", "prediction": "a", **kw})


@pytest.fixture
async def seeded(api: Api) -> AsyncIterator[Api]:
    """An app holding exactly one event, to show that rejected batches add nothing."""
    await api.events(GOOD)
    yield api
    assert api.stored() == 1
    assert (await api.metrics("m", window(T0, T0 + HOUR)))["count"] == 1


def _field_errors(r: Any) -> list[tuple[int, str, str]]:
    body = r.json()
    assert "nothing was stored" in body["detail"]["message"]
    return [(e["index"], e["field"], e["reason"]) for e in body["detail"]["errors"]]


# (body, expected errors as (index, field, words the reason contains))
INVALID = [
    pytest.param(bad(model=5), [(0, "model", "str")], id="model-not-a-string"),
    pytest.param(bad(model=""), [(0, "model", "length")], id="model-empty"),
    pytest.param(j({"model": "m"}), [(0, "prediction", "required")], id="prediction-missing"),
    pytest.param(bad(prediction=[1]), [(0, "prediction", "")], id="prediction-array"),
    pytest.param(bad(latency_ms=-1), [(0, "latency_ms", ">= 0")], id="latency-negative"),
    pytest.param(bad(latency_ms="abc"), [(0, "latency_ms", "str")], id="latency-string"),
    pytest.param(bad(latency_ms=True), [(0, "latency_ms", "bool")], id="latency-bool"),
    pytest.param(bad(score=1.5), [(0, "score", "<= 1")], id="score-above-1"),
    pytest.param(bad(score=-0.1), [(0, "score", ">= 0")], id="score-negative"),
    pytest.param(bad(score={"a": 1.5}), [(0, "score", "<= 1")], id="score-object-above-1"),
    pytest.param(bad(timestamp="yesterday"), [(0, "timestamp", "RFC")], id="ts-not-rfc3339"),
    pytest.param(bad(timestamp="2025-01-06 10:00"), [(0, "timestamp", "RFC")], id="ts-no-T"),
    pytest.param(bad(timestamp=T0 * 1000), [(0, "timestamp", "2200")], id="ts-epoch-millis"),
    pytest.param(bad(timestamp=-5), [(0, "timestamp", "1970")], id="ts-before-1970"),
    pytest.param(bad(foo=1), [(0, "foo", "unknown field")], id="unknown-field"),
    pytest.param(bad(features={"a": {"b": 1}}), [(0, "features", "object")], id="features-nested"),
    pytest.param(bad(features={"a": [1]}), [(0, "features", "array")], id="features-array"),
    pytest.param(bad(tags={"region": 1}), [(0, "tags", "str")], id="tag-not-a-string"),
    pytest.param(
        bad(label="a", ground_truth="a"), [(0, "ground_truth", "not both")], id="label-and-alias"
    ),
    pytest.param(bad(converted="yes"), [(0, "converted", "bool")], id="converted-string"),
    pytest.param(bad(id=""), [(0, "id", "length")], id="id-empty"),
    pytest.param(bad(id=1.5), [(0, "id", "float")], id="id-float"),
    pytest.param(j([1, "x"]), [(0, "", "object"), (1, "", "object")], id="not-objects"),
    pytest.param(
        j(
            [
                GOOD | {"id": "n0"},
                GOOD | {"id": "n1", "latency_ms": -1},
                GOOD | {"id": "n2"},
                GOOD | {"id": "n3", "tags": {"t": 2}},
            ]
        ),
        [(1, "latency_ms", ">= 0"), (3, "tags", "str")],
        id="batch-1-and-3-type-errors",
    ),
    pytest.param(
        j(
            [
                GOOD | {"id": "n0"},
                {"model": "m", "id": "n1"},
                GOOD | {"id": "n2"},
                GOOD | {"id": "n3", "label": 1, "ground_truth": 1},
            ]
        ),
        [(1, "prediction", "required"), (3, "ground_truth", "not both")],
        id="batch-1-and-3-rule-errors",
    ),
]


def _check_errors(r: Any, expected: list[tuple[int, str, str]]) -> None:
    assert r.status_code == 422, r.text
    got = _field_errors(r)
    # msgspec elides dict keys as "[...]" (e.g. "tags[...]"): compare the top-level field.
    assert [(i, f.split("[")[0]) for i, f, _ in got] == [(i, f) for i, f, _ in expected], got
    for (_, _, reason), (_, _, words) in zip(got, expected, strict=True):
        assert reason and words.lower() in reason.lower(), reason


@pytest.mark.parametrize(("body", "expected"), INVALID)
async def test_invalid_events_are_refused_whole(seeded: Api, body: bytes, expected: Any) -> None:
    r = await seeded.client.post("/v1/events", content=body)
    _check_errors(r, expected)


@pytest.mark.parametrize(("body", "expected"), INVALID[:8])
async def test_invalid_events_as_ndjson(seeded: Api, body: bytes, expected: Any) -> None:
    payload = j(GOOD | {"id": "nd-ok"}) + b"\n" + body + b"\n"
    r = await seeded.client.post(
        "/v1/events", content=payload, headers={"content-type": "application/x-ndjson"}
    )
    _check_errors(r, [(i + 1, f, w) for i, f, w in expected])


async def test_batch_with_type_error_and_rule_error_reports_both(seeded: Api) -> None:
    body = j(
        [
            GOOD | {"id": "n0"},
            GOOD | {"id": "n1", "latency_ms": -1},
            GOOD | {"id": "n2"},
            {"model": "m", "id": "n3"},
        ]
    )
    r = await seeded.client.post("/v1/events", content=body)
    _check_errors(r, [(1, "latency_ms", ">= 0"), (3, "prediction", "required")])


async def test_missing_model_is_422(seeded: Api) -> None:
    for body in (j({"prediction": "a"}), j([GOOD | {"id": "x"}, {"prediction": "a"}])):
        r = await seeded.client.post("/v1/events", content=body)
        assert r.status_code == 422, r.text
        assert "model" in r.json()["detail"]["errors"][0]["reason"]


async def test_missing_model_names_the_field(seeded: Api) -> None:
    r = await seeded.client.post("/v1/events", content=j([GOOD | {"id": "x"}, {"prediction": "a"}]))
    _check_errors(r, [(1, "model", "required")])


async def test_model_names_no_url_can_address_are_refused(api: Api) -> None:
    batch = [GOOD | {"id": "x"}, GOOD | {"model": "team/churn"}, GOOD | {"model": ".."}]
    r = await api.client.post("/v1/events", content=j([*batch, GOOD | {"model": "."}]))
    assert r.status_code == 422, r.text
    assert [(i, f) for i, f, _ in _field_errors(r)] == [(1, "model"), (2, "model"), (3, "model")]
    assert "'/'" in r.json()["detail"]["errors"][0]["reason"]
    assert api.stored() == 0
    # names with other URL-special characters are addressable (percent-encoded) and stored
    ok = await api.client.post("/v1/events", content=j(GOOD | {"model": "a b?#%.c"}))
    assert ok.status_code == 200, ok.text
    r = await api.client.get("/v1/models/a%20b%3F%23%25.c/metrics", params=window(T0, T0 + HOUR))
    assert r.status_code == 200 and r.json()["count"] == 1, r.text
    assert (await api.client.get("/v1/models/a%20b%3F%23%25.c")).status_code == 200
    assert api.stored() == 1


async def test_out_of_range_number_is_refused_and_nothing_stored(seeded: Api) -> None:
    r = await seeded.client.post(
        "/v1/events", content=b'{"model":"m","prediction":1,"latency_ms":1e999}'
    )
    assert 400 <= r.status_code < 500, r.text


@pytest.mark.parametrize("fld", ["latency_ms", "revenue", "score"])
async def test_out_of_range_number_is_422_with_field(seeded: Api, fld: str) -> None:
    body = j([GOOD | {"id": "x"}]).replace(b'"prediction"', f'"{fld}":1e999,"prediction"'.encode())
    r = await seeded.client.post("/v1/events", content=body)
    assert r.status_code == 422, r.text
    [(index, field, reason)] = _field_errors(r)
    assert (index, field) == (0, fld) and reason


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        pytest.param(b'{"model": "m", "prediction": 1', None, id="truncated"),
        pytest.param(b"{model: m}", None, id="not-json"),
        pytest.param(b"", None, id="empty"),
        pytest.param(b"  \n ", None, id="whitespace"),
        pytest.param(b"[]", None, id="empty-array"),
        pytest.param(b'{"model": "m", "prediction": NaN}', None, id="nan-literal"),
        pytest.param(
            j(GOOD | {"id": "z"}) + b"\n{oops\n", "application/x-ndjson", id="ndjson-line"
        ),
        pytest.param(b"", "application/x-ndjson", id="ndjson-empty"),
    ],
)
async def test_malformed_body_is_400(seeded: Api, body: bytes, ctype: str | None) -> None:
    headers = {"content-type": ctype or "application/json"}
    r = await seeded.client.post("/v1/events", content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["detail"]["message"].startswith("malformed body")


async def test_body_over_the_limit_is_413(make_api: MakeApi) -> None:
    async with make_api(max_body_bytes=2048) as api:
        one = j(GOOD)
        exact = one + b" " * (2048 - len(one))
        r = await api.client.post("/v1/events", content=exact)
        assert r.status_code == 200, r.text
        big = j([GOOD | {"id": f"big{i}"} for i in range(40)])
        assert len(big) > 2048
        r = await api.client.post("/v1/events", content=big)
        assert r.status_code == 413
        assert r.json()["detail"]["limit"] == 2048
        r = await api.client.post("/v1/events", content=exact + b" ")
        assert r.status_code == 413

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
            for i in range(0, len(big), 500):
                yield big[i : i + 500]

        r = await api.client.post("/v1/events", content=chunked())
        assert r.status_code == 413
        fb = j([{"model": "m", "id": f"f{i}", "label": "a"} for i in range(60)])
        r = await api.client.post("/v1/feedback", content=fb)
        assert r.status_code == 413
        assert api.stored() == 1


async def test_too_many_events_is_413(make_api: MakeApi) -> None:
    async with make_api(max_events_per_request=3) as api:
        r = await api.client.post("/v1/events", json=[GOOD | {"id": str(i)} for i in range(4)])
        assert r.status_code == 413
        assert api.stored() == 0


# ---- feedback -----------------------------------------------------------------------------


async def test_feedback_without_id_is_422(seeded: Api) -> None:
    r = await seeded.client.post("/v1/feedback", json={"model": "m", "label": "a"})
    assert r.status_code == 422, r.text
    assert "id" in r.json()["detail"]["errors"][0]["reason"]


async def test_feedback_without_id_names_the_field(seeded: Api) -> None:
    r = await seeded.client.post("/v1/feedback", json={"model": "m", "label": "a"})
    _check_errors(r, [(0, "id", "required")])


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        pytest.param({"model": "m", "id": "base"}, [(0, "label", "needs")], id="nothing-to-say"),
        pytest.param(
            {"model": "m", "id": "base", "label": "a", "ground_truth": "a"},
            [(0, "ground_truth", "not both")],
            id="label-and-alias",
        ),
        pytest.param(
            {"model": "m", "id": "base", "label": "a", "x": 1},
            [(0, "x", "unknown")],
            id="unknown-field",
        ),
        pytest.param(
            [
                {"model": "m", "id": "base", "label": "a"},
                {"model": "m", "id": "base", "converted": "no"},
            ],
            [(1, "converted", "bool")],
            id="second-bad",
        ),
    ],
)
async def test_invalid_feedback_is_refused_whole(seeded: Api, items: Any, expected: Any) -> None:
    r = await seeded.client.post("/v1/feedback", json=items)
    _check_errors(r, expected)
    m = await seeded.metrics("m", window(T0, T0 + HOUR))
    assert m["labeled_count"] == 0  # the valid item of the batch was not applied either


@pytest.mark.parametrize("body", [b"", b"[]", b"{"])
async def test_malformed_feedback_is_400(seeded: Api, body: bytes) -> None:
    r = await seeded.client.post("/v1/feedback", content=body)
    assert r.status_code == 400, r.text


# ---- settings and query parameters --------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [{"task": "foo"}, {"task": "regression", "extra": 1}, {"positive_label": 3}],
    ids=["task-foo", "unknown-field", "label-not-string"],
)
async def test_put_model_invalid_is_422(seeded: Api, body: dict[str, Any]) -> None:
    r = await seeded.client.put("/v1/models/m", json=body)
    assert r.status_code == 422, r.text
    [err] = r.json()["detail"]
    assert err["loc"][0] == "body" and err["msg"]
    info = (await seeded.client.get("/v1/models/m")).json()
    assert info["task_declared"] is None and info["positive_label"] is None


QUERY_ERRORS = [
    ("metrics", {"window": "abc"}, "window"),
    ("metrics", {"window": "0h"}, "window"),
    ("metrics", {"start": str(T0 + 10), "end": str(T0)}, "start"),
    ("metrics", {"start": str(T0), "end": str(T0)}, "start"),
    ("metrics", {"start": "yesterday"}, "start"),
    ("metrics", {"end": "2025-13-01T00:00:00Z"}, "end"),
    ("metrics", {"window": "1h", "start": str(T0)}, "window"),
    ("timeseries", {"window": "abc"}, "window"),
    ("timeseries", {"bucket": "1s", "window": "30d"}, "bucket"),
    ("timeseries", {"bucket": "soon"}, "bucket"),
    ("timeseries", {"metrics": "count,bogus"}, "metrics"),
    ("timeseries", {"metrics": " , "}, "metrics"),
    ("timeseries", {"bucket": "1h", "rolling": "90m"}, "rolling"),
    ("timeseries", {"bucket": "2h", "rolling": "1h"}, "rolling"),
    ("timeseries", {"rolling": "abc"}, "rolling"),
]


@pytest.mark.parametrize(("endpoint", "params", "field"), QUERY_ERRORS)
async def test_bad_query_parameters_are_422_with_field(
    seeded: Api, endpoint: str, params: dict[str, str], field: str
) -> None:
    r = await seeded.client.get(f"/v1/models/m/{endpoint}", params=params)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["field"] == field and detail["message"]
