"""Drift and quality of a window holding more events than ``drift_sample_max``: a uniform,
repeatable sample of about that many, said so in the answer, with statistics equal to scipy's
on exactly the sampled values."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import stats
from tests.drift_api.test_drift_exact import _put_ref
from tests.inprocess import MakeApi

from modeltower.store.base import ColumnSpec, EventFilter

pytestmark = pytest.mark.anyio

N = 5000
CAP = 1000


async def test_a_large_window_is_compared_through_a_uniform_sample(make_api: MakeApi) -> None:
    rng = np.random.default_rng(3)
    async with make_api(drift_sample_max=CAP) as api:
        ref_values = rng.normal(0, 1, 500)
        await _put_ref(api, "m", {"x": ref_values.tolist()})
        t0 = time.time() - 600
        x = rng.normal(0.3, 1, N)
        events = [
            {
                "model": "m",
                "id": f"e{i}",
                "timestamp": t0 + i * 0.01,
                "prediction": "p",
                "features": {"x": float(x[i]) if i % 10 else None, **({"y": 1} if i % 5 else {})},
            }
            for i in range(N)
        ]
        for i in range(0, N, 1000):
            await api.events(events[i : i + 1000])
        params = {"window": "1h", "x.method": "ks"}
        first = await api.get("/v1/models/m/drift", **params)
        again = await api.get("/v1/models/m/drift", **params)
        assert first["sample"] == again["sample"]
        assert first["sample"]["events"] == N
        n = first["rows"]["current"]
        assert first["sample"]["sampled"] == n
        assert abs(n - CAP) < 4 * np.sqrt(CAP)  # binomial: share 0.2 of 5,000 events

        # the statistic is scipy's on exactly the sampled values
        store = api.app.state.store
        flt = EventFilter("m", int((time.time() - 3600) * 1e6), int(time.time() * 1e6) + 1)
        data = store.window_features(flt, [ColumnSpec("x")], sample_max=CAP)
        assert data.rows == n and data.sampled_from == N
        col = data.columns[ColumnSpec("x").key]
        assert col.numeric is not None
        values = col.numeric[~np.isnan(col.numeric)]
        ref = await api.get("/v1/models/m/reference")
        assert ref["rows"] == 500
        x_col = next(c for c in first["columns"] if c["name"] == "x")
        want = stats.ks_2samp(ref_values, values).pvalue
        assert x_col["score"] == pytest.approx(float(want), rel=1e-9)
        # a uniform sample: its mean is the window's within a few standard errors
        assert abs(values.mean() - np.nanmean(np.where(np.arange(N) % 10, x, np.nan))) < 0.15

        quality = await api.get("/v1/models/m/quality", window="1h")
        assert quality["sample"]["events"] == N and quality["rows"] == n
        nulls = next(c for c in quality["columns"] if c["name"] == "x")["null_share"]
        assert 0.05 < nulls < 0.15  # every tenth event has x null
        # feature keys are counted over the same sample: 4 in 5 events carry the unknown "y"
        assert 0.7 * n < quality["events_with_unknown_features"] < 0.9 * n

        # a window within the cap is read whole
        small = await api.get("/v1/models/m/drift", start=t0, end=t0 + 5)
        assert small["sample"] is None and small["rows"]["current"] == 500


async def test_the_sample_cap_is_validated(make_api: MakeApi) -> None:
    from modeltower.config import ConfigError

    with pytest.raises(ConfigError, match="drift_sample_max"):
        async with make_api(drift_sample_max=10):
            pass
