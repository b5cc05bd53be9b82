"""Late feedback, filters (version, group, tags), historical timestamps and half-open windows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from .conftest import Api
from .helpers import HOUR, T0, approx, window

pytestmark = pytest.mark.anyio

W = window(T0, T0 + HOUR)


def _events(seed: int, n: int, model: str = "churn") -> tuple[list[dict[str, Any]], list[str]]:
    """Unlabeled events and, separately, their ground truth."""
    rng = np.random.default_rng(seed)
    labels = ["churn" if x else "stay" for x in rng.random(n) < 0.4]
    events = []
    for i in range(n):
        right = rng.random() < 0.7
        pred = labels[i] if right else ("stay" if labels[i] == "churn" else "churn")
        events.append(
            {"model": model, "id": f"{model}-{i}", "timestamp": T0 + i, "prediction": pred}
        )
    return events, labels


def _check(c: dict[str, Any], y: list[str], p: list[str]) -> None:
    assert c["accuracy"] == approx(accuracy_score(y, p))
    assert c["f1"] == approx(f1_score(y, p, pos_label="churn", zero_division=0))
    assert c["f1_macro"] == approx(f1_score(y, p, average="macro", zero_division=0))


async def test_late_feedback_completes_the_metrics(api: Api) -> None:
    await api.put_model("churn", task="classification", positive_label="churn")
    events, labels = _events(51, 240)
    await api.events(events)
    m = await api.metrics("churn", W)
    assert m["count"] == 240
    assert m["labeled_count"] == 0
    assert m["label_coverage"] == 0
    assert m["classification"] is None

    half = [
        {"model": "churn", "id": e["id"], "label": y} for e, y in zip(events, labels, strict=True)
    ][:100]
    assert await api.feedback(half) == {"accepted": 100, "matched": 100}
    m = await api.metrics("churn", W)
    assert m["labeled_count"] == 100
    assert m["label_coverage"] == approx(100 / 240)
    _check(m["classification"], labels[:100], [e["prediction"] for e in events[:100]])

    rest = [
        {"model": "churn", "id": e["id"], "ground_truth": y}
        for e, y in zip(events, labels, strict=True)
    ][100:]
    assert await api.feedback(rest) == {"accepted": 140, "matched": 140}
    m = await api.metrics("churn", W)
    assert m["labeled_count"] == 240
    _check(m["classification"], labels, [e["prediction"] for e in events])


async def test_feedback_before_its_event_counts_when_the_event_arrives(api: Api) -> None:
    await api.put_model("churn", task="classification", positive_label="churn")
    events, labels = _events(52, 120)
    first, later = events[:80], events[80:]
    await api.events(first)
    # Feedback for all 120: 80 events are stored, 40 are not yet.
    fb = [
        {"model": "churn", "id": e["id"], "label": y} for e, y in zip(events, labels, strict=True)
    ]
    assert await api.feedback(fb) == {"accepted": 120, "matched": 80}
    m = await api.metrics("churn", W)
    assert m["count"] == 80 and m["labeled_count"] == 80
    await api.events(later)
    m = await api.metrics("churn", W)
    assert m["count"] == 120 and m["labeled_count"] == 120
    _check(m["classification"], labels, [e["prediction"] for e in events])


async def test_feedback_matches_only_its_own_model(api: Api) -> None:
    await api.events([{"model": "a", "id": "x", "prediction": "p"}])
    res = await api.feedback(
        [{"model": "b", "id": "x", "label": "p"}, {"model": "a", "id": "x", "label": "p"}]
    )
    assert res == {"accepted": 2, "matched": 1}


async def test_later_feedback_overrides_earlier_label(api: Api) -> None:
    await api.put_model("churn", task="classification", positive_label="churn")
    await api.events(
        [
            {"model": "churn", "id": "1", "timestamp": T0, "prediction": "churn", "label": "stay"},
            {"model": "churn", "id": "2", "timestamp": T0, "prediction": "churn"},
            {"model": "churn", "id": "3", "timestamp": T0, "prediction": "stay"},
        ]
    )
    # Event 1's label at prediction time is wrong; feedback overrides it.
    await api.feedback({"model": "churn", "id": "1", "label": "churn"})
    await api.feedback({"model": "churn", "id": "2", "label": "stay"})
    await api.feedback({"model": "churn", "id": "3", "label": "churn"})
    m = await api.metrics("churn", W)
    assert m["classification"]["accuracy"] == approx(1 / 3)
    # Later feedback overrides; outcome-only feedback keeps the label.
    await api.feedback({"model": "churn", "id": "2", "label": "churn"})
    await api.feedback({"model": "churn", "id": "3", "converted": True})
    m = await api.metrics("churn", W)
    assert m["classification"]["accuracy"] == approx(2 / 3)
    cm = m["classification"]["confusion_matrix"]
    assert cm == {"labels": ["churn", "stay"], "matrix": [[2, 1], [0, 0]]}


async def test_later_item_in_one_feedback_request_wins(api: Api) -> None:
    await api.put_model("churn", task="classification", positive_label="churn")
    await api.events({"model": "churn", "id": "q", "timestamp": T0, "prediction": "churn"})
    await api.feedback(
        [
            {"model": "churn", "id": "q", "label": "stay"},
            {"model": "churn", "id": "q", "label": "churn"},
        ]
    )
    m = await api.metrics("churn", W)
    assert m["classification"]["accuracy"] == 1.0


async def test_matched_counts_items_like_accepted(api: Api) -> None:
    """Two items for one stored event both refer to a stored event: accepted 2, matched 2."""
    await api.events({"model": "churn", "id": "q", "timestamp": T0, "prediction": "churn"})
    res = await api.feedback(
        [
            {"model": "churn", "id": "q", "label": "stay"},
            {"model": "churn", "id": "q", "converted": True},
        ]
    )
    assert res == {"accepted": 2, "matched": 2}


# ---- filters ------------------------------------------------------------------------------


def _segmented(seed: int, n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    events = []
    for i in range(n):
        y = "churn" if rng.random() < 0.4 else "stay"
        p = y if rng.random() < rng.choice([0.6, 0.9]) else ("stay" if y == "churn" else "churn")
        tags = {"region": str(rng.choice(["eu", "us", "apac"]))}
        if rng.random() < 0.7:
            tags["tier"] = str(rng.choice(["gold", "free"]))
        events.append(
            {
                "model": "churn",
                "id": f"s{i}",
                "timestamp": T0 + i * 3,
                "version": str(rng.choice(["v1", "v2"])),
                "group": str(rng.choice(["control", "treatment"])),
                "tags": tags,
                "prediction": p,
                "label": y,
                "latency_ms": float(rng.gamma(2.0, 10.0)),
            }
        )
    return events


SUBSETS = [
    ([("version", "v2")], lambda e: e["version"] == "v2"),
    ([("group", "control")], lambda e: e["group"] == "control"),
    ([("tag.region", "eu")], lambda e: e["tags"]["region"] == "eu"),
    (
        [("tag.region", "eu"), ("tag.tier", "gold")],
        lambda e: e["tags"]["region"] == "eu" and e["tags"].get("tier") == "gold",
    ),
    (
        [("version", "v1"), ("tag.tier", "free")],
        lambda e: e["version"] == "v1" and e["tags"].get("tier") == "free",
    ),
]


@pytest.mark.parametrize(
    ("params", "keep"), SUBSETS, ids=lambda x: str(x) if isinstance(x, list) else ""
)
async def test_filters_select_exactly_the_subset(
    api: Api, params: list[tuple[str, str]], keep: Any
) -> None:
    await api.put_model("churn", task="classification", positive_label="churn")
    events = _segmented(53, 900)
    await api.events(events)
    sub = [e for e in events if keep(e)]
    assert 20 < len(sub) < 900
    m = await api.metrics("churn", [*W.items(), *params])
    assert m["count"] == len(sub)
    _check(m["classification"], [e["label"] for e in sub], [e["prediction"] for e in sub])
    lat = np.array([e["latency_ms"] for e in sub])
    assert m["latency_ms"]["p50"] == approx(np.percentile(lat, 50))
    assert m["latency_ms"]["p99"] == approx(np.percentile(lat, 99))
    flt = dict(params)
    assert m["filters"] == {
        "version": flt.get("version"),
        "group": flt.get("group"),
        "tags": {k[4:]: v for k, v in params if k.startswith("tag.")},
    }


async def test_filter_matching_nothing_gives_an_empty_window(api: Api) -> None:
    await api.events(_segmented(54, 50))
    m = await api.metrics("churn", [*W.items(), ("tag.region", "mars")])
    assert m["count"] == 0 and m["classification"] is None


# ---- time ---------------------------------------------------------------------------------


async def test_historical_timestamps_land_in_their_windows(api: Api) -> None:
    base = 1_700_000_000 - 1_700_000_000 % HOUR  # 2023-11-14T22:00:00Z
    stamps: list[tuple[Any, int]] = [
        ("2023-11-14T22:00:00Z", 0),  # exactly on the hour boundary
        ("2023-11-14T22:59:59.999Z", 0),
        ("2023-11-15T01:30:00+02:00", 1),  # 23:30Z
        (base + 2 * HOUR, 2),  # epoch seconds, int
        (base + 2 * HOUR + 1799.5, 2),  # epoch seconds, float
        ("2023-11-15T00:59:59+00:00", 2),
        (base + 4 * HOUR - 0.25, 3),
    ]
    await api.events(
        [
            {"model": "hist", "id": str(i), "timestamp": ts, "prediction": "a", "latency_ms": h}
            for i, (ts, h) in enumerate(stamps)
        ]
    )
    for hour in range(4):
        m = await api.metrics("hist", window(base + hour * HOUR, base + (hour + 1) * HOUR))
        expected = [h for _, h in stamps if h == hour]
        assert m["count"] == len(expected), hour
        if expected:
            assert m["latency_ms"]["max"] == hour
    m = await api.metrics("hist", window(base - HOUR, base))
    assert m["count"] == 0
    info = (await api.client.get("/v1/models/hist")).json()
    assert info["first_seen"] == "2023-11-14T22:00:00Z"
    assert info["last_seen"] == "2023-11-15T01:59:59.750000Z"


async def test_windows_are_half_open(api: Api) -> None:
    await api.events(
        [
            {"model": "h", "id": str(i), "timestamp": T0 + i * 600, "prediction": "a"}
            for i in range(7)
        ]
    )
    # Events at T0, T0+10m, ..., T0+60m.
    assert (await api.metrics("h", window(T0, T0 + HOUR)))["count"] == 6
    assert (await api.metrics("h", window(T0 + 600, T0 + HOUR + 1)))["count"] == 6
    assert (await api.metrics("h", window(T0 + 1, T0 + 600)))["count"] == 0
    assert (await api.metrics("h", window(T0 + 600, T0 + 600.000001)))["count"] == 1
    # RFC 3339 bounds mean the same instants.
    m = await api.metrics("h", {"start": "2025-01-06T00:10:00Z", "end": "2025-01-06T00:30:00Z"})
    assert m["count"] == 2
    assert m["window"] == {
        "start": "2025-01-06T00:10:00Z",
        "end": "2025-01-06T00:30:00Z",
        "minutes": 20,
    }
