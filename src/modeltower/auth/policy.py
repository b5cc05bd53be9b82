"""Which scope every route needs. Default deny: what is not listed here needs an admin key.

Every route of the application must appear in :data:`ROUTE_SCOPES` (or lie under one of
:data:`PREFIX_SCOPES`); tests/auth/test_policy.py walks ``app.routes`` and fails for any route
without an explicit entry, so a new route cannot be left open (or locked) by accident.
"""

from __future__ import annotations

import re

from starlette.routing import compile_path

from modeltower.auth.keys import ADMIN, INGEST, READ

OPEN = "open"  # no credential needed, even with auth on
# From least to most demanding, to pick the strictest of several matching entries.
LEVELS = (OPEN, INGEST, READ, ADMIN)

# (method, path as declared on the route) -> scope. HEAD is checked as GET.
ROUTE_SCOPES: dict[tuple[str, str], str] = {
    # health checks stay open: load balancers and orchestrators probe them without keys
    ("GET", "/healthz"): OPEN,
    ("GET", "/readyz"): OPEN,
    # signing in to the dashboard
    ("GET", "/login"): OPEN,
    ("POST", "/login"): OPEN,
    ("POST", "/logout"): OPEN,
    # ingestion: what a serving process does with an ingest key
    ("POST", "/v1/events"): INGEST,
    ("POST", "/v1/feedback"): INGEST,
    ("POST", "/log"): INGEST,
    # API docs and the dashboard pages (their JSON is the /v1 API below)
    ("GET", "/openapi.json"): READ,
    ("GET", "/docs"): READ,
    ("GET", "/docs/init.js"): READ,
    ("GET", "/"): READ,
    ("GET", "/models/{model:path}"): READ,
    ("GET", "/dashboard/{model_name}"): READ,
    ("GET", "/dashboard/static/plotly.min.js"): OPEN,
    # queries
    ("GET", "/v1/models"): READ,
    ("GET", "/v1/models/{model}"): READ,
    ("GET", "/v1/models/{model}/metrics"): READ,
    ("GET", "/v1/models/{model}/timeseries"): READ,
    ("GET", "/v1/models/{model}/export"): READ,
    ("GET", "/metrics/{model_name}"): READ,
    ("GET", "/metrics"): READ,  # Prometheus: scrape with a read key as bearer token
    ("GET", "/v1/models/{model}/snapshots"): READ,
    ("GET", "/v1/models/{model}/daily"): READ,
    ("GET", "/v1/models/{model}/reference"): READ,
    ("GET", "/v1/models/{model}/drift"): READ,
    ("GET", "/v1/models/{model}/drift/timeseries"): READ,
    ("GET", "/v1/models/{model}/drift/distribution"): READ,
    ("GET", "/v1/models/{model}/quality"): READ,
    ("GET", "/v1/models/{model}/limits"): READ,
    ("GET", "/v1/alerts/rules"): READ,
    ("POST", "/v1/alerts/rules/validate"): READ,  # checks a rule, stores nothing
    ("GET", "/v1/alerts/rules/{name}"): READ,
    ("GET", "/v1/alerts/presets"): READ,
    ("GET", "/v1/alerts/channels"): READ,
    ("GET", "/v1/alerts"): READ,
    ("GET", "/v1/alerts/history"): READ,
    ("GET", "/v1/alerts/silences"): READ,
    ("GET", "/v1/alerts/notifications"): READ,
    ("GET", "/v1/alerts/deliveries"): READ,
    # configuration: model settings, references, rules, channels, silences, snapshots, keys
    ("PUT", "/v1/models/{model}"): ADMIN,
    ("POST", "/v1/models/{model}/snapshots"): ADMIN,
    ("POST", "/snapshot/{model_name}"): ADMIN,
    ("PUT", "/v1/models/{model}/reference"): ADMIN,
    ("PATCH", "/v1/models/{model}/reference"): ADMIN,
    ("DELETE", "/v1/models/{model}/reference"): ADMIN,
    ("POST", "/v1/alerts/rules"): ADMIN,
    ("PUT", "/v1/alerts/rules/{name}"): ADMIN,
    ("DELETE", "/v1/alerts/rules/{name}"): ADMIN,
    ("PUT", "/v1/alerts/channels/{name}"): ADMIN,
    ("DELETE", "/v1/alerts/channels/{name}"): ADMIN,
    ("POST", "/v1/alerts/channels/{name}/test"): ADMIN,
    ("POST", "/v1/alerts/evaluate"): ADMIN,
    ("POST", "/v1/alerts/silences"): ADMIN,
    ("DELETE", "/v1/alerts/silences/{silence_id}"): ADMIN,
    ("POST", "/v1/models/{model}/alerts/presets"): ADMIN,
    ("GET", "/v1/keys"): ADMIN,
    ("POST", "/v1/keys"): ADMIN,
    ("DELETE", "/v1/keys/{name_or_prefix}"): ADMIN,
}

# Whole subtrees (any method): static files of the dashboard and of the API docs carry no data;
# everything under /v1/admin/ (backups and the like) is administration.
PREFIX_SCOPES: tuple[tuple[str, str], ...] = (
    ("/dashboard/static/", OPEN),
    ("/docs/assets/", OPEN),
    ("/v1/admin/", ADMIN),
)

# Pages a browser opens: without a session they redirect to the login page instead of a 401.
PAGES = frozenset({"/", "/models/{model:path}", "/dashboard/{model_name}", "/docs"})

_EXACT = {k: v for k, v in ROUTE_SCOPES.items() if "{" not in k[1]}
_PATTERNS: list[tuple[str, re.Pattern[str], str, bool]] = [
    (method, compile_path(path)[0], scope, path in PAGES)
    for (method, path), scope in ROUTE_SCOPES.items()
    if "{" in path
]


def required_scope(method: str, path: str) -> tuple[str, bool]:
    """The scope a request needs, and whether its path is a dashboard page.

    Paths matching no entry need admin (default deny). When several templated entries match,
    the strictest wins, so the router's choice among them can never be weaker than this one."""
    m = "GET" if method == "HEAD" else method
    exact = _EXACT.get((m, path))
    if exact is not None:
        return exact, path in PAGES
    for prefix, scope in PREFIX_SCOPES:
        if path.startswith(prefix):
            return scope, False
    found: str | None = None
    page = False
    for pm, rx, scope, is_page in _PATTERNS:
        stricter = found is None or LEVELS.index(scope) > LEVELS.index(found)
        if pm == m and stricter and rx.match(path):
            found, page = scope, is_page
    return (found, page) if found is not None else (ADMIN, False)
