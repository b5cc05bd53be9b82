"""Baseline for the ingest benchmarks: a FastAPI app that only reads and parses the body.

It does what any JSON endpoint must do (read the body, decode it) and nothing modeltower adds
(validation, canonicalisation, the writer thread, DuckDB, the commit). Run it exactly like
modeltower is run, in its own process:

    python -m uvicorn trivial_app:app --app-dir bench --http httptools --loop uvloop \
        --log-level warning --no-access-log

``TRIVIAL_PARSER=json`` switches the decode from msgspec to the standard library.
"""

from __future__ import annotations

import json
import os

import msgspec
from fastapi import FastAPI, Request
from starlette.responses import Response

_OK = b'{"ok":true}'
_decode = json.loads if os.environ.get("TRIVIAL_PARSER") == "json" else msgspec.json.decode

app = FastAPI(title="trivial parse-only baseline")


@app.post("/v1/events")
async def post_events(request: Request) -> Response:
    body = await request.body()
    _decode(body)
    return Response(_OK, media_type="application/json")


@app.get("/readyz")
async def readyz() -> Response:
    return Response(_OK, media_type="application/json")
