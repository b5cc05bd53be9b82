"""Every route has an explicit scope (default deny), and the scope model is what it says.

Walks the real application's routes (``create_app``), so a route added anywhere without an
entry in auth/policy.py fails here instead of being left open or locked by accident.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from modeltower.app import create_app
from modeltower.auth import keys, policy
from modeltower.config import Settings


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(full path, route) of every leaf route, through included routers."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:  # FastAPI >= 0.16x keeps included routers as such
            ctx = getattr(r, "include_context", None)
            yield from _routes(inner.routes, prefix + (getattr(ctx, "prefix", "") or ""))
        else:
            yield prefix + r.path, r


def _app_routes() -> list[tuple[str, str]]:
    app = create_app(Settings())
    out = []
    for path, route in _routes(list(app.routes)):
        methods = getattr(route, "methods", None)
        if not methods:  # a Mount (static files): any method
            out.append(("*", path))
        for m in sorted(methods or ()):
            if m != "HEAD":
                out.append((m, path))
    return out


def _covered_by_prefix(path: str) -> str | None:
    for prefix, scope in policy.PREFIX_SCOPES:
        if (path.rstrip("/") + "/").startswith(prefix):
            return scope
    return None


def test_every_route_has_an_explicit_scope() -> None:
    missing = [
        f"{m} {p}"
        for m, p in _app_routes()
        if (m, p) not in policy.ROUTE_SCOPES and _covered_by_prefix(p) is None
    ]
    assert not missing, f"routes without a scope in auth/policy.py: {missing}"


def test_no_stale_entries() -> None:
    routes = set(_app_routes())
    stale = [f"{m} {p}" for m, p in policy.ROUTE_SCOPES if (m, p) not in routes]
    assert not stale, f"auth/policy.py names routes that do not exist: {stale}"


def _sample(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_requests_are_checked_against_the_table() -> None:
    for (method, path), scope in policy.ROUTE_SCOPES.items():
        assert policy.required_scope(method, _sample(path))[0] == scope, (method, path)
    assert policy.required_scope("HEAD", "/v1/models")[0] == keys.READ


def test_default_deny() -> None:
    assert policy.required_scope("GET", "/v1/not-a-route")[0] == keys.ADMIN
    assert policy.required_scope("POST", "/v1/models")[0] == keys.ADMIN
    assert policy.required_scope("POST", "/v1/admin/backup")[0] == keys.ADMIN
    assert policy.required_scope("GET", "/healthz")[0] == policy.OPEN
    assert policy.required_scope("GET", "/dashboard/static/overview.js")[0] == policy.OPEN
    # a model name that looks like another route never weakens the requirement
    assert policy.required_scope("PUT", "/v1/models/metrics")[0] == keys.ADMIN


def test_scope_model() -> None:
    assert all(keys.grants(keys.ADMIN, s) for s in keys.SCOPES)
    assert keys.grants(keys.READ, keys.READ)
    assert not keys.grants(keys.READ, keys.INGEST) and not keys.grants(keys.READ, keys.ADMIN)
    assert keys.grants(keys.INGEST, keys.INGEST)
    assert not keys.grants(keys.INGEST, keys.READ) and not keys.grants(keys.INGEST, keys.ADMIN)
    assert not keys.grants("root", keys.READ)


def test_key_format_and_hash() -> None:
    key, prefix = keys.new_key()
    assert key.startswith(prefix + "_") and keys.prefix_of(key) == prefix
    assert keys.prefix_of(key + "x") is None and keys.prefix_of("Bearer") is None
    record = keys.make_record(key, prefix, name="n", scope="read", now_us=1, expires_us=None)
    assert key.encode() not in record.hash and record.salt
    assert keys.matches(record, key)
    assert not keys.matches(record, key[:-1] + ("A" if key[-1] != "A" else "B"))
    other = keys.make_record(key, prefix, name="n", scope="read", now_us=1, expires_us=None)
    assert other.hash != record.hash  # salted: the same key hashes differently per record
