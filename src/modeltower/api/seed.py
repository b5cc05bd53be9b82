"""The founding interface, kept verbatim: ``POST /log`` and ``GET /metrics/{model_name}``.

Events logged here are ordinary events (they appear in every /v1 query). One deliberate
difference: an accuracy of exactly 0 is returned as 0.0, not null.
"""

from __future__ import annotations

import hashlib
import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from modeltower.api import deps
from modeltower.api.error_docs import errors, legacy_errors
from modeltower.ingest.schema import EventIn
from modeltower.store.base import PART_OPS, EventFilter, WindowAggregate

router = APIRouter(tags=["seed-compatible"], responses=legacy_errors(404, 422))


class PredictionLog(BaseModel):
    """One logged prediction, as in the original design."""

    model_name: str = Field(min_length=1, max_length=256)
    input_data: str
    prediction: str
    ground_truth: str | None = None
    latency_ms: float = Field(ge=0, le=1e12, allow_inf_nan=False)  # as in EventIn

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "model_name": "sentiment-v1",
                    "input_data": "great product",
                    "prediction": "positive",
                    "ground_truth": "positive",
                    "latency_ms": 45.2,
                }
            ]
        }
    }


@router.post("/log", summary="Log one prediction (original interface)", responses=errors(400))
async def log_prediction(entry: PredictionLog, request: Request) -> dict[str, str]:
    event = EventIn(
        model=entry.model_name,
        prediction=entry.prediction,
        label=entry.ground_truth,
        latency_ms=entry.latency_ms,
        input_hash=hashlib.sha256(entry.input_data.encode()).hexdigest()[:16],
    )
    await deps.ingest_service(request).events([event])
    return {"status": "logged"}


@router.get(
    "/metrics/{model_name}", summary="Aggregated stats over the last N hours (original interface)"
)
def get_metrics(
    model_name: str,
    request: Request,
    hours: Annotated[int, Query(gt=0, le=24 * 3660)] = 24,
) -> dict[str, object]:
    now_us = int(time.time() * 1_000_000)
    store = deps.query_service(request).store
    agg = store.aggregate(
        EventFilter(model_name, now_us - hours * 3_600_000_000, now_us + 1),
        None,
        frozenset({PART_OPS}),
    ).get(0, WindowAggregate())
    if agg.count == 0:
        raise HTTPException(status_code=404, detail="No predictions found for this model")
    accuracy = round(agg.matches / agg.labeled, 4) if agg.labeled else None
    return {
        "model_name": model_name,
        "window_hours": hours,
        "total_predictions": agg.count,
        "accuracy": accuracy,
        "avg_latency_ms": round(agg.latency_sum / agg.latency_n, 2) if agg.latency_n else None,
        "max_latency_ms": None if agg.latency_max is None else round(agg.latency_max, 2),
    }
