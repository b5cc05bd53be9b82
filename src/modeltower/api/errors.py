"""Client mistakes become clear 4xx answers; an unavailable database becomes 503 + Retry-After."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.responses import Response

from modeltower.alerts.service import Conflict, NotFound
from modeltower.api.nul import NulGuard, NulInBody
from modeltower.api.responses import JSON
from modeltower.ingest.schema import BatchInvalid, FieldError, MalformedBody
from modeltower.ingest.writer import DatabaseRefused, WriterUnavailable
from modeltower.services.drift import no_reference_message
from modeltower.services.queries import UnknownModel
from modeltower.services.reference import NoReference
from modeltower.store.availability import RETRY_AFTER_S, StoreUnavailable
from modeltower.store.query_timeout import QueryTimeout
from modeltower.timewindow import BadParameter

log = logging.getLogger("modeltower.api")


class BodyTooLarge(Exception):
    """The request body exceeds the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body exceeds the limit of {limit} bytes (max_body_bytes)")
        self.limit = limit


class TooManyItems(Exception):
    """More events in one request than allowed."""

    def __init__(self, count: int, limit: int, what: str = "events") -> None:
        super().__init__(
            f"{count} {what} in one request; the limit is {limit} (max_events_per_request)"
        )
        self.limit = limit
        self.field = what


# FastAPI's detail when a JSON body is not text (fastapi.routing).
_UNPARSEABLE_BODY = "There was an error parsing the body"


def _error(status: int, message: str, **extra: object) -> JSON:
    return JSON({"detail": {"message": message, **extra}}, status_code=status)


def _field_error_json(e: FieldError, items: str) -> dict[str, object]:
    """One refused item: index, field, reason, the path (``events[3].features``) and any limit."""
    path = f"{items}[{e.index}]" + (f".{e.field}" if e.field else "")
    out: dict[str, object] = {"index": e.index, "field": e.field, "reason": e.reason, "path": path}
    if e.limit is not None:
        out["limit"] = e.limit
    return out


def install(app: FastAPI) -> None:
    """Register the exception handlers on ``app``, and the guard that refuses NUL characters."""
    app.add_middleware(NulGuard)

    @app.exception_handler(BatchInvalid)
    async def _batch_invalid(request: Request, exc: BatchInvalid) -> JSON:
        items = "feedback" if request.url.path.endswith("/feedback") else "events"
        errors = [_field_error_json(e, items) for e in exc.errors]
        n = len({e.index for e in exc.errors})
        return _error(422, f"{n} invalid item(s); nothing was stored", errors=errors)

    @app.exception_handler(MalformedBody)
    async def _malformed(_: Request, exc: MalformedBody) -> JSON:
        return _error(400, f"malformed body: {exc}")

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge) -> JSON:
        return _error(413, str(exc), limit=exc.limit)

    @app.exception_handler(TooManyItems)
    async def _too_many(_: Request, exc: TooManyItems) -> JSON:
        return _error(413, str(exc), field=exc.field, limit=exc.limit)

    @app.exception_handler(QueryTimeout)
    async def _query_timeout(_: Request, exc: QueryTimeout) -> JSON:
        resp = JSON(
            {
                "error": "query_timeout",
                "detail": {"message": str(exc), "timeout_s": exc.timeout_s},
            },
            status_code=503,
        )
        resp.headers["Retry-After"] = "5"
        return resp

    @app.exception_handler(BadParameter)
    async def _bad_param(_: Request, exc: BadParameter) -> JSON:
        return _error(422, exc.reason, field=exc.field)

    @app.exception_handler(UnknownModel)
    async def _unknown_model(_: Request, exc: UnknownModel) -> JSON:
        return _error(404, f"unknown model {exc.args[0]!r}: no event was ever received for it")

    @app.exception_handler(NoReference)
    async def _no_reference(_: Request, exc: NoReference) -> JSON:
        return _error(404, no_reference_message(str(exc.args[0])))

    @app.exception_handler(WriterUnavailable)
    async def _unavailable(_: Request, exc: WriterUnavailable) -> JSON:
        # A database fault is logged once by the store when it starts, not per request.
        (log.debug if isinstance(exc, DatabaseRefused) else log.warning)("write refused: %s", exc)
        resp = _error(503, f"storage unavailable, retry later: {exc}")
        resp.headers["Retry-After"] = str(exc.retry_after_s)
        return resp

    @app.exception_handler(StoreUnavailable)
    async def _store_unavailable(_: Request, exc: StoreUnavailable) -> JSON:
        resp = _error(503, f"storage unavailable, retry later: {exc.reason}")
        resp.headers["Retry-After"] = str(RETRY_AFTER_S)
        return resp

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSON:
        return _error(409, str(exc))

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSON:
        return _error(404, str(exc.args[0]) if exc.args else "not found")

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        # FastAPI answers a body it cannot read (not UTF-8) with a bare string; say which part
        # of the request is wrong and why, as every other error does.
        if exc.status_code == 400 and exc.detail == _UNPARSEABLE_BODY:
            return _error(400, "malformed body: not JSON text in UTF-8", field="body")
        if isinstance(exc, NulInBody):
            return _error(422, f"a string of the body {exc.detail}", field="body")
        return await http_exception_handler(request, exc)
