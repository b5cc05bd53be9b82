"""The OpenAPI document describes every path, and the docs page is served."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api

pytestmark = pytest.mark.anyio

METHODS = {"get", "put", "post", "delete", "patch"}


async def _spec(api: Api) -> dict[str, Any]:
    r = await api.client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


async def test_every_operation_has_a_summary(api: Api) -> None:
    spec = await _spec(api)
    ops = [
        (p, m, op) for p, item in spec["paths"].items() for m, op in item.items() if m in METHODS
    ]
    assert {p for p, _, _ in ops} >= {
        "/v1/events",
        "/v1/feedback",
        "/v1/models",
        "/v1/models/{model}",
        "/v1/models/{model}/metrics",
        "/v1/models/{model}/timeseries",
        "/v1/models/{model}/export",
        "/log",
        "/metrics/{model_name}",
        "/healthz",
        "/readyz",
    }
    for path, method, op in ops:
        assert op.get("summary", "").strip(), f"{method.upper()} {path} has no summary"


@pytest.mark.parametrize("path", ["/v1/events", "/v1/feedback"])
async def test_ingest_endpoints_carry_examples(api: Api, path: str) -> None:
    op = (await _spec(api))["paths"][path]["post"]
    body = op["requestBody"]["content"]["application/json"]
    example = body["example"]
    assert isinstance(example, list) and example and example[0]["model"]
    ok = op["responses"]["200"]["content"]["application/json"]["example"]
    assert "accepted" in ok


async def test_documented_examples_are_accepted(api: Api) -> None:
    paths = (await _spec(api))["paths"]
    ev = paths["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["example"]
    r = await api.client.post("/v1/events", json=ev)
    assert r.status_code == 200, r.text
    fb = paths["/v1/feedback"]["post"]["requestBody"]["content"]["application/json"]["example"]
    r = await api.client.post("/v1/feedback", json=fb)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1, "matched": 1}


async def test_seed_log_schema_has_an_example(api: Api) -> None:
    spec = await _spec(api)
    ref = spec["paths"]["/log"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = spec["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    assert schema["examples"][0]["model_name"] == "sentiment-v1"


async def test_docs_page(api: Api) -> None:
    r = await api.client.get("/docs")
    assert r.status_code == 200
    assert "swagger" in r.text.lower()
