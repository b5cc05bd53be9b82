"""The API keys in the OpenAPI document: security schemes, and per operation the scope it needs
with its 401 and 403 answers (from the same table the middleware enforces, auth/policy.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from modeltower.api.error_docs import ErrorBody
from modeltower.auth.policy import OPEN, ROUTE_SCOPES, required_scope

_SCHEMES = {
    "bearerKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key as 'Authorization: Bearer <key>'",
    },
    "headerKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
_METHODS = ("get", "put", "post", "delete", "patch")


def _scope_of(method: str, path: str) -> str:
    found = ROUTE_SCOPES.get((method.upper(), path))
    return found if found is not None else required_scope(method.upper(), path)[0]


def add_security(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the schemes, and to each operation that needs a key its scope and 401/403 answers."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(_SCHEMES)
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = components.setdefault("schemas", {})
    for name, sub in body.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas.setdefault("ErrorBody", body)
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path, item in schema.get("paths", {}).items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            scope = _scope_of(method, path)
            if scope == OPEN:
                continue
            op["security"] = [{"bearerKey": []}, {"headerKey": []}]
            op["x-required-scope"] = scope
            responses = op.setdefault("responses", {})
            responses.setdefault("401", {"description": "no valid API key", "content": ref})
            responses.setdefault(
                "403", {"description": f"the key lacks the {scope!r} scope", "content": ref}
            )
    return schema


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so /openapi.json and /docs) describe the API keys."""
    base: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        app.openapi_schema = add_security(base())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
