"""``modeltower reference``: set, show and delete a model's drift reference over HTTP."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

from modeltower.transfer import TransferError, _client, _describe, _json, _request, detect_format

_CONTENT_TYPES = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "jsonl": "application/x-ndjson",
    "json": "application/json",
}


def _path(model: str) -> str:
    return f"/v1/models/{quote(model, safe='')}/reference"


def _answer(resp: Any) -> dict[str, Any]:
    if resp.status_code != 200:
        raise TransferError(_describe(resp))
    return dict(_json(resp))


def set_reference(
    *,
    url: str,
    model: str,
    file: str | None = None,
    fmt: str | None = None,
    window: dict[str, Any] | None = None,
    api_key: str | None = None,
) -> dict[str, Any]:
    """Upload ``file`` (CSV, Parquet, JSON lines or a JSON array) or set ``window`` as the
    reference; returns the server's description of the new reference."""
    with _client(url, api_key, timeout=600.0) as client:
        if file is not None:
            if not os.path.exists(file):
                raise TransferError(f"no such file: {file}")
            kind = detect_format(file, fmt)
            with open(file, "rb") as f:
                content = f.read()
            if kind == "jsonl" and content.lstrip()[:1] == b"[":
                kind = "json"  # a JSON array of rows rather than JSON lines
            resp = _request(
                client,
                "PUT",
                _path(model),
                content=content,
                headers={"content-type": _CONTENT_TYPES[kind]},
            )
        else:
            resp = _request(client, "PUT", _path(model), json=window or {})
        return _answer(resp)


def show_reference(*, url: str, model: str, api_key: str | None = None) -> dict[str, Any]:
    with _client(url, api_key) as client:
        return _answer(_request(client, "GET", _path(model)))


def delete_reference(*, url: str, model: str, api_key: str | None = None) -> dict[str, Any]:
    with _client(url, api_key) as client:
        return _answer(_request(client, "DELETE", _path(model)))


def describe(ref: dict[str, Any]) -> str:
    """A short human-readable summary of a reference."""
    lines = [
        f"reference of {ref['model']}: {ref['kind']}, {ref['rows']} rows, {ref['status']}",
        json.dumps(ref.get("spec", {})),
    ]
    for c in ref.get("columns", []):
        extra = f" method={c['method']}" if c.get("method") else ""
        lines.append(f"  {c['role']:<10} {c['name']:<30} {c['type']}{extra}")
    return "\n".join(lines)
