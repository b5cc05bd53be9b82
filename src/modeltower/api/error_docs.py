"""The error answers of the API as OpenAPI responses, declared once.

Every error raised by a handler becomes ``{"detail": {"message": ..., ...}}`` (see api/errors.py);
a request FastAPI itself refuses (a path or query parameter of the wrong type, a body that does
not match its model) gets FastAPI's ``{"detail": [{"loc": ..., "msg": ..., "type": ...}]}``.
Routers and routes name the status codes they answer with ``responses=errors(404, 422)``, so the
document lists every status a client can get, each with the schema of its body.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel


class FieldProblem(BaseModel):
    """One invalid item of a batch: which item, which field, and why."""

    model_config = ConfigDict(extra="allow")
    index: int = Field(description="position of the item in the batch (0 for a single object)")
    field: str = Field(description="the offending field; empty when the item itself is wrong")
    reason: str
    path: str | None = Field(None, description="the field's place in the body, e.g. events[3].id")
    limit: int | None = Field(None, description="the limit that was exceeded")


class ErrorDetail(BaseModel):
    """What went wrong; ``field`` names the offending parameter when there is one."""

    model_config = ConfigDict(extra="allow")
    message: str
    field: str | None = None
    errors: list[FieldProblem] | None = Field(None, description="every invalid item of a batch")
    limit: int | None = Field(None, description="the limit that was exceeded")


class ErrorBody(BaseModel):
    """The body of every error answer of modeltower's own handlers."""

    detail: ErrorDetail


class RequestProblem(BaseModel):
    """One parameter FastAPI refused before the handler ran."""

    model_config = ConfigDict(extra="allow")
    loc: list[str | int]
    msg: str
    type: str


class RequestInvalid(BaseModel):
    """FastAPI's answer to a request whose parameters or body do not match their declaration."""

    detail: list[RequestProblem]


class Invalid(RootModel[ErrorBody | RequestInvalid]):
    """A 422 body: a parameter refused by FastAPI, or by modeltower with its field and reason."""


class LegacyError(BaseModel):
    """Errors of the original (seed-compatible) interface: ``detail`` is a plain message."""

    detail: str


_DESCRIPTIONS = {
    400: "malformed body (not JSON, or not UTF-8)",
    401: "no valid API key",
    403: "the API key may not do this",
    404: "unknown model, or no such object",
    409: "conflicts with an existing object",
    413: "body or batch too large",
    422: "invalid parameter or body; names the field and the reason",
    429: "too many requests; retry after Retry-After seconds",
    503: "storage unavailable; retry after Retry-After seconds",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for the given error status codes, with their body schemas."""
    return {
        code: {"description": _DESCRIPTIONS[code], "model": Invalid if code == 422 else ErrorBody}
        for code in codes
    }


def legacy_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Responses of the seed-compatible routes, whose errors carry a plain ``detail`` string."""
    return {
        code: {"description": _DESCRIPTIONS[code], "model": Invalid if code == 422 else LegacyError}
        for code in codes
    }


def file_responses(*, json: bool) -> dict[int | str, dict[str, Any]]:
    """The 200 answer of a download: CSV or Parquet (and JSON when ``json``, the default format)."""
    content: dict[str, Any] = {
        "text/csv": {"schema": {"type": "string"}},
        "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
    }
    if json:
        content = {"application/json": {}, **content}
    return {200: {"description": "the table in the requested format", "content": content}}
