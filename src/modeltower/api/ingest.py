"""POST /v1/events and POST /v1/feedback."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from modeltower.api import deps
from modeltower.api.errors import TooManyItems
from modeltower.api.responses import JSON
from modeltower.ingest.decoding import TooManyEvents
from modeltower.ingest.schema import decode_feedback

router = APIRouter(prefix="/v1", tags=["ingest"])

_EVENT_EXAMPLE = {
    "model": "churn",
    "version": "v3",
    "id": "req-8f2c",
    "timestamp": "2026-11-23T10:15:00Z",
    "prediction": "churn",
    "score": 0.83,
    "latency_ms": 41.7,
    "features": {"tenure_months": 4, "contract": "month-to-month", "has_support": False},
    "tags": {"region": "eu"},
    "group": "treatment",
}
_EVENT_SCHEMA = {
    "type": "object",
    "required": ["model"],
    "properties": {
        "model": {"type": "string", "maxLength": 256},
        "version": {"type": "string"},
        "id": {
            "type": "string",
            "description": "idempotency key; assigned by the server when absent",
        },
        "timestamp": {"description": "RFC 3339 or epoch seconds; default: time received"},
        "prediction": {"description": "string, number or boolean; required unless error is set"},
        "score": {
            "description": "probability of the positive class, or an object class -> probability"
        },
        "label": {"description": "ground truth (alias: ground_truth)"},
        "latency_ms": {"type": "number", "minimum": 0},
        "error": {"type": "string", "description": "the prediction failed"},
        "features": {"type": "object", "additionalProperties": True},
        "tags": {"type": "object", "additionalProperties": {"type": "string"}},
        "group": {"type": "string", "description": "e.g. control / treatment"},
        "converted": {"type": "boolean"},
        "revenue": {"type": "number"},
    },
}
_INGEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "committed durably",
        "content": {
            "application/json": {"example": {"accepted": 1, "duplicates": 0, "ids": ["req-8f2c"]}}
        },
    },
    400: {"description": "malformed JSON"},
    413: {"description": "body or batch too large"},
    422: {
        "description": "invalid events; nothing stored",
        "content": {
            "application/json": {
                "example": {
                    "detail": {
                        "message": "1 invalid item(s); nothing was stored",
                        "errors": [
                            {"index": 0, "field": "latency_ms", "reason": "Expected `float` >= 0.0"}
                        ],
                    }
                }
            }
        },
    },
    503: {"description": "storage unavailable; retry after Retry-After seconds"},
}


@router.post(
    "/events",
    summary="Log predictions",
    description=(
        "One event, a JSON array of events, or NDJSON (`Content-Type: application/x-ndjson`). "
        "Answers only after the events are durably committed. Sending the same `(model, id)` "
        "again is reported under `duplicates` and never stored twice."
    ),
    responses=_INGEST_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"oneOf": [_EVENT_SCHEMA, {"type": "array", "items": _EVENT_SCHEMA}]},
                    "example": [_EVENT_EXAMPLE],
                },
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
async def post_events(request: Request) -> JSON:
    settings = deps.settings(request)
    body = await deps.read_body(request, settings.max_body_bytes)
    ndjson = "ndjson" in request.headers.get("content-type", "")
    svc = deps.ingest_service(request)
    try:
        res = await svc.body(body, ndjson)
    except TooManyEvents as exc:
        raise TooManyItems(exc.count, exc.limit) from None
    return JSON({"accepted": res.accepted, "duplicates": res.duplicates, "ids": res.ids})


_FEEDBACK_SCHEMA = {
    "type": "object",
    "required": ["model", "id"],
    "properties": {
        "model": {"type": "string"},
        "id": {"type": "string"},
        "label": {"description": "ground truth (alias: ground_truth)"},
        "converted": {"type": "boolean"},
        "revenue": {"type": "number"},
    },
}


@router.post(
    "/feedback",
    summary="Ground truth and outcomes after the fact",
    description=(
        "Joined to events by `(model, id)`. Feedback that arrives before its event counts as soon "
        "as the event arrives. `matched` says how many refer to events already stored."
    ),
    responses={
        200: {
            "description": "committed",
            "content": {"application/json": {"example": {"accepted": 1, "matched": 1}}},
        },
        400: {"description": "malformed JSON"},
        422: {"description": "invalid feedback; nothing stored"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [_FEEDBACK_SCHEMA, {"type": "array", "items": _FEEDBACK_SCHEMA}]
                    },
                    "example": [{"model": "churn", "id": "req-8f2c", "label": "stay"}],
                }
            },
        }
    },
)
async def post_feedback(request: Request) -> JSON:
    settings = deps.settings(request)
    body = await deps.read_body(request, settings.max_body_bytes)
    svc = deps.ingest_service(request)
    items = decode_feedback(body, decoders=svc.decoders)
    if len(items) > settings.max_events_per_request:
        raise TooManyItems(len(items), settings.max_events_per_request, "feedback items")
    res = await svc.feedback(items)
    return JSON({"accepted": res.accepted, "matched": res.matched})
