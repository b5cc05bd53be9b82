"""Every ingestion limit refuses the whole request with 413 or 422 naming the field and limit,
is configurable, and lets through what is within it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from modeltower.config import ConfigError, Settings, from_env

from .conftest import MakeApi

pytestmark = pytest.mark.anyio

EV = {"model": "m", "prediction": "a"}
SMALL = {
    "max_name_length": 8,
    "max_feature_string_length": 12,
    "max_features_per_event": 3,
    "max_tags_per_event": 2,
    "max_events_per_request": 5,
    "max_body_bytes": 4096,
}


def _errors(r: Any) -> list[dict[str, Any]]:
    assert r.status_code == 422, r.text
    return list(r.json()["detail"]["errors"])


# (event fields, expected path, words in the reason, limit)
OVER = [
    pytest.param({"model": "m" * 9}, "events[1].model", "max_name_length", 8, id="model"),
    pytest.param({"id": "i" * 9}, "events[1].id", "max_name_length", 8, id="id"),
    pytest.param({"version": "v" * 9}, "events[1].version", "max_name_length", 8, id="version"),
    pytest.param({"group": "g" * 9}, "events[1].group", "max_name_length", 8, id="group"),
    pytest.param(
        {"tags": {"k" * 9: "v"}}, "events[1].tags[key]", "max_name_length", 8, id="tag-key"
    ),
    pytest.param(
        {"tags": {"k": "v" * 9}}, "events[1].tags[...]", "max_name_length", 8, id="tag-value"
    ),
    pytest.param(
        {"tags": {"a": "1", "b": "2", "c": "3"}},
        "events[1].tags",
        "max_tags_per_event",
        2,
        id="tags-per-event",
    ),
    pytest.param(
        {"features": {"x" * 9: 1}},
        "events[1].features[key]",
        "max_name_length",
        8,
        id="feature-name",
    ),
    pytest.param(
        {"features": {"x": "s" * 13}},
        "events[1].features[...]",
        "max_feature_string_length",
        12,
        id="feature-string",
    ),
    pytest.param(
        {"features": {"a": 1, "b": 2, "c": 3, "d": 4}},
        "events[1].features",
        "max_features_per_event",
        3,
        id="features-per-event",
    ),
]


@pytest.fixture
async def small(make_api: MakeApi) -> AsyncIterator[Any]:
    async with make_api(**SMALL) as api:
        yield api


@pytest.mark.parametrize(("fields", "path", "words", "limit"), OVER)
async def test_over_a_limit_is_refused_naming_path_and_limit(
    small: Any, fields: dict[str, Any], path: str, words: str, limit: int
) -> None:
    ok = EV | {"id": "ok"}
    r = await small.client.post("/v1/events", json=[ok, EV | fields])
    errs = _errors(r)
    assert [(e["path"], e["limit"]) for e in errs] == [(path, limit)], errs
    assert words in errs[0]["reason"] and str(limit) in errs[0]["reason"]
    assert small.stored() == 0  # refused whole
    # NDJSON takes the per-item path: the same answer.
    nd = orjson.dumps(ok) + b"\n" + orjson.dumps(EV | fields)
    r = await small.client.post(
        "/v1/events", content=nd, headers={"content-type": "application/x-ndjson"}
    )
    assert [(e["path"], e["limit"]) for e in _errors(r)] == [(path, limit)]


@pytest.mark.parametrize(("fields", "path", "words", "limit"), OVER)
async def test_at_the_limit_is_accepted(
    small: Any, fields: dict[str, Any], path: str, words: str, limit: int
) -> None:
    def shrink(v: Any) -> Any:
        if isinstance(v, str):
            return v[:limit]
        if isinstance(v, dict):
            return {shrink(k): shrink(x) for k, x in list(v.items())[:limit]}
        return v

    ev = EV | {k: shrink(v) for k, v in fields.items()}
    r = await small.client.post("/v1/events", json=[ev])
    assert r.status_code == 200, r.text


async def test_defaults_refuse_long_strings_and_many_features(make_api: MakeApi) -> None:
    s = Settings()
    assert (s.max_name_length, s.max_feature_string_length) == (256, 1024)
    assert (s.max_features_per_event, s.max_tags_per_event, s.max_tag_values) == (1000, 64, 1000)
    async with make_api() as api:
        big = {f"f{i}": i for i in range(1001)}
        r = await api.client.post("/v1/events", json=EV | {"features": big})
        assert _errors(r)[0]["path"] == "events[0].features"
        r = await api.client.post("/v1/events", json=EV | {"features": {"f": "x" * 1025}})
        assert _errors(r)[0]["limit"] == 1024
        r = await api.client.post("/v1/events", json=EV | {"tags": {"t": "x" * 257}})
        assert _errors(r)[0]["limit"] == 256
        r = await api.client.post(
            "/v1/events", json=EV | {"features": {f"f{i}": "x" * 1024 for i in range(1000)}}
        )
        assert r.status_code == 200, r.text  # at every limit at once: 1 MB, within the body's
        assert api.stored() == 1


async def test_events_per_request(small: Any) -> None:
    r = await small.client.post("/v1/events", json=[EV] * 6)
    assert r.status_code == 413, r.text
    d = r.json()["detail"]
    assert (d["field"], d["limit"]) == ("events", 5) and "max_events_per_request" in d["message"]
    r = await small.client.post(
        "/v1/feedback", json=[{"model": "m", "id": str(i), "label": "a"} for i in range(6)]
    )
    assert r.status_code == 413 and r.json()["detail"]["limit"] == 5
    r = await small.client.post("/v1/events", json=[EV] * 5)
    assert r.status_code == 200


async def test_feedback_id_length_names_the_feedback_path(small: Any) -> None:
    r = await small.client.post("/v1/feedback", json=[{"model": "m", "id": "i" * 9, "label": "a"}])
    assert [e["path"] for e in _errors(r)] == ["feedback[0].id"]


def test_limits_come_from_the_environment_and_are_validated() -> None:
    s = from_env({"MODELTOWER_MAX_TAGS_PER_EVENT": "7", "MODELTOWER_MAX_TAG_VALUES": "9"})
    assert (s.max_tags_per_event, s.max_tag_values) == (7, 9)
    with pytest.raises(ConfigError, match="max_features_per_event"):
        Settings(max_features_per_event=0).validate()


def test_serve_flags_set_the_limits() -> None:
    from modeltower.cli import _LIMIT_ARGS, build_parser

    args = build_parser().parse_args(
        ["serve", "--max-tag-values", "5", "--rate-limit", "2.5", "--forbid-private-webhooks"]
    )
    values = {name: getattr(args, name) for name in _LIMIT_ARGS}
    assert values["max_tag_values"] == 5 and values["rate_limit_per_s"] == 2.5
    assert values["forbid_private_webhooks"] is True
    Settings().replace(**values).validate()
