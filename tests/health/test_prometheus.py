"""``GET /metrics`` parsed by prometheus_client's own parser."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modeltower.api.prometheus import LATENCY_BUCKETS_S, OTHER, PrometheusExporter

from .conftest import Api, MakeApi
from .data import classification_events, regression_events

pytestmark = pytest.mark.anyio

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(api: Api) -> Samples:
    r = await api.client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def get(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def series(samples: Samples, name: str) -> set[tuple[str, str]]:
    return {(dict(k)["model"], dict(k)["version"]) for n, k in samples if n == name}


async def test_counters_histogram_and_gauges(make_api: MakeApi) -> None:
    now = int(time.time())
    async with make_api() as api:
        churn = classification_events("churn", 500, start_s=now - 1800, span_s=1700)
        price = regression_events("price", 80, start_s=now - 1800, span_s=1700)
        await api.events(churn)
        await api.events(price)
        assert (await api.events(churn[:40]))["duplicates"] == 40  # a client retry
        await api.feedback([{"model": "churn", "id": f"e{i}", "label": "stay"} for i in range(60)])
        samples = await scrape(api)
        assert series(samples, "modeltower_predictions_total") == {
            ("churn", "v1"),
            ("churn", "v2"),
            ("price", ""),
        }
        for model, version, events in (
            ("churn", "v1", [e for e in churn if e.get("version") == "v1"]),
            ("churn", "v2", [e for e in churn if e.get("version") == "v2"]),
            ("price", "", price),
        ):
            labels = {"model": model, "version": version}
            # Duplicates were never stored, so they are not counted.
            assert get(samples, "modeltower_predictions_total", **labels) == len(events)
            errors = sum("error" in e for e in events)
            assert get(samples, "modeltower_prediction_errors_total", **labels) == errors
            lat = np.array([e["latency_ms"] for e in events if "latency_ms" in e]) / 1000
            name = "modeltower_prediction_latency_seconds"
            for le in LATENCY_BUCKETS_S:
                got = get(samples, name + "_bucket", le=str(le), **labels)
                assert got == int((lat <= le).sum()), le
            assert get(samples, name + "_bucket", le="+Inf", **labels) == len(lat)
            assert get(samples, name + "_count", **labels) == len(lat)
            assert get(samples, name + "_sum", **labels) == pytest.approx(lat.sum(), rel=1e-9)
        # Gauges: the last hour's numbers, equal to the metrics API.
        for version in ("v1", "v2"):
            m = await api.get("/v1/models/churn/metrics", window="1h", version=version)
            labels = {"model": "churn", "version": version}
            assert get(samples, "modeltower_accuracy", **labels) == m["classification"]["accuracy"]
            assert get(samples, "modeltower_f1", **labels) == m["classification"]["f1"]
            assert get(samples, "modeltower_label_coverage", **labels) == m["label_coverage"]
            assert get(samples, "modeltower_regression_mae", **labels) is None
        m = await api.get("/v1/models/price/metrics", window="1h")
        labels = {"model": "price", "version": ""}
        assert get(samples, "modeltower_regression_mae", **labels) == m["regression"]["mae"]
        assert get(samples, "modeltower_regression_rmse", **labels) == m["regression"]["rmse"]
        assert get(samples, "modeltower_accuracy", **labels) is None


async def test_counters_grow_by_new_events_and_gauges_are_cached(make_api: MakeApi) -> None:
    now = int(time.time())
    async with make_api() as api:
        # Events stored before the exporter starts are history, not counted: counters start at 0.
        await api.events(classification_events("churn", 50, start_s=now - 600, span_s=500))
        clock = [1000.0]
        exporter = PrometheusExporter(api.app.state.queries, clock=lambda: clock[0])
        api.app.state.prometheus = exporter
        samples = await scrape(api)
        assert series(samples, "modeltower_predictions_total") == set()
        before = get(samples, "modeltower_accuracy", model="churn", version="v1")
        assert before is not None
        new = classification_events(
            "churn", 30, start_s=now - 300, span_s=200, versions=("v1",), seed=5, prefix="n"
        )
        for ev in new:  # all wrong: the accuracy must drop once the cache expires
            if "label" in ev:
                ev["label"] = "stay" if ev["prediction"] == "churn" else "churn"
        await api.events(new)
        samples = await scrape(api)
        assert get(samples, "modeltower_predictions_total", model="churn", version="v1") == 30
        assert get(samples, "modeltower_accuracy", model="churn", version="v1") == before
        clock[0] += 16  # past the cache's lifetime
        samples = await scrape(api)
        assert get(samples, "modeltower_predictions_total", model="churn", version="v1") == 30
        after = get(samples, "modeltower_accuracy", model="churn", version="v1")
        assert after is not None and after < before


async def test_label_values_are_bounded(make_api: MakeApi) -> None:
    now = int(time.time())
    async with make_api() as api:
        api.app.state.prometheus = PrometheusExporter(api.app.state.queries, max_series=3)
        for k in range(6):
            await api.events(
                [
                    {"model": f"m{k}", "version": "v", "id": str(i), "prediction": "a",
                     "label": "a", "timestamp": now - 60}
                    for i in range(k + 1)
                ]
            )  # fmt: skip
        samples = await scrape(api)
        tracked = series(samples, "modeltower_predictions_total")
        assert len(tracked) == 4 and (OTHER, OTHER) in tracked
        total = sum(v for (n, _), v in samples.items() if n == "modeltower_predictions_total")
        assert total == sum(range(1, 7))
        assert len(series(samples, "modeltower_accuracy")) == 3  # gauges are capped, not folded


async def test_each_app_has_its_own_registry(make_api: MakeApi) -> None:
    async with make_api() as a, make_api() as b:
        assert a.app.state.prometheus.registry is not b.app.state.prometheus.registry
        await a.events({"model": "only-a", "prediction": "x", "latency_ms": 3.0})
        in_a = await scrape(a)
        in_b = await scrape(b)
        assert get(in_a, "modeltower_predictions_total", model="only-a", version="") == 1
        assert series(in_b, "modeltower_predictions_total") == set()
        assert not any(n.startswith("python_") or n.startswith("process_") for n, _ in in_a)


async def test_openmetrics_when_the_scraper_asks_for_it(make_api: MakeApi) -> None:
    async with make_api() as api:
        await api.events({"model": "m", "prediction": "x"})
        headers: dict[str, Any] = {"Accept": "application/openmetrics-text; version=1.0.0"}
        r = await api.client.get("/metrics", headers=headers)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/openmetrics-text")
        assert r.text.rstrip().endswith("# EOF")
