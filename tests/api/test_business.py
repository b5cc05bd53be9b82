"""Conversion, revenue and uplift per group, checked independently with scipy.stats.norm."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy.stats import norm

from .conftest import Api
from .helpers import HOUR, T0, approx, window

pytestmark = pytest.mark.anyio

W = window(T0, T0 + HOUR)


def _reference_uplift(n_c: int, x_c: int, n_t: int, x_t: int) -> dict[str, Any]:
    p_c, p_t = x_c / n_c, x_t / n_t
    diff = p_t - p_c
    z975 = norm.ppf(0.975)
    se = math.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t)
    pooled = (x_c + x_t) / (n_c + n_t)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    return {
        "control": "control",
        "treatment": "treatment",
        "control_rate": p_c,
        "treatment_rate": p_t,
        "absolute": diff,
        "relative": diff / p_c,
        "ci95_low": diff - z975 * se,
        "ci95_high": diff + z975 * se,
        "p_value": 2 * norm.sf(abs(diff / se0)),
    }


def _experiment(seed: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Events of an A/B test; some outcomes come later, as feedback."""
    rng = np.random.default_rng(seed)
    events = []
    late: list[dict[str, Any]] = []
    for i in range(1300):
        grp = "treatment" if i % 2 else "control"
        rate = 0.16 if grp == "treatment" else 0.11
        conv = bool(rng.random() < rate)
        rev = round(float(rng.gamma(2.0, 25.0)), 2) if conv else None
        ev: dict[str, Any] = {
            "model": "offer",
            "id": f"x{i}",
            "timestamp": T0 + i,
            "prediction": "show",
            "group": grp,
        }
        if i % 5 == 0:
            late.append(
                {"model": "offer", "id": ev["id"], "converted": conv, "revenue": rev or 0.0}
            )
        else:
            if conv or i % 3 == 0:  # unknown outcome counts as not converted
                ev["converted"] = conv
            if rev is not None:
                ev["revenue"] = rev
        ev["_conv"], ev["_rev"] = conv, rev or 0.0
        events.append(ev)
    return events, {"late": late}


def _send(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if not k.startswith("_")} for e in events]


async def test_conversion_revenue_and_uplift(api: Api) -> None:
    events, extra = _experiment(61)
    await api.events(_send(events))
    await api.feedback(extra["late"])
    m = await api.metrics("offer", W)
    biz = m["business"]
    counts = {}
    for g in ("control", "treatment"):
        sub = [e for e in events if e["group"] == g]
        n, x, rev = len(sub), sum(e["_conv"] for e in sub), sum(e["_rev"] for e in sub)
        counts[g] = (n, x)
        assert biz["groups"][g] == {
            "count": n,
            "conversions": x,
            "conversion_rate": approx(x / n),
            "revenue": approx(rev),
            "revenue_per_prediction": approx(rev / n),
        }
    assert set(biz["groups"]) == {"control", "treatment"}
    ref = _reference_uplift(*counts["control"], *counts["treatment"])
    assert biz["uplift"] == {k: approx(v) if isinstance(v, float) else v for k, v in ref.items()}
    assert biz["uplift"]["absolute"] > 0


async def test_business_small_counts_exact(api: Api) -> None:
    """Hand-sized example: control 2/8, treatment 5/10."""
    evs = []
    for i in range(8):
        evs.append(
            {
                "model": "b",
                "id": f"c{i}",
                "timestamp": T0 + i,
                "prediction": 1,
                "group": "control",
                "converted": i < 2,
                "revenue": 10.0 if i < 2 else 0.0,
            }
        )
    for i in range(10):
        evs.append(
            {
                "model": "b",
                "id": f"t{i}",
                "timestamp": T0 + i,
                "prediction": 1,
                "group": "treatment",
                "converted": i < 5,
                "revenue": 4.0 if i < 5 else None,
            }
        )
    await api.events(evs)
    biz = (await api.metrics("b", W))["business"]
    assert biz["groups"]["control"]["revenue_per_prediction"] == approx(20 / 8)
    assert biz["groups"]["treatment"]["revenue_per_prediction"] == approx(20 / 10)
    ref = _reference_uplift(8, 2, 10, 5)
    assert biz["uplift"] == {k: approx(v) if isinstance(v, float) else v for k, v in ref.items()}


async def test_group_filter_leaves_one_group_and_no_uplift(api: Api) -> None:
    events, _ = _experiment(62)
    await api.events(_send(events))
    m = await api.metrics("offer", [*W.items(), ("group", "treatment")])
    biz = m["business"]
    assert list(biz["groups"]) == ["treatment"]
    assert biz["uplift"] is None
    sub = [e for e in events if e["group"] == "treatment" and "converted" in e]
    assert m["count"] == sum(e["group"] == "treatment" for e in events)
    assert biz["groups"]["treatment"]["conversions"] == sum(e["converted"] for e in sub)
