"""Every response carries the hardening headers: each GET route of the application (pages,
static files, JSON API, errors, 404s), and pages hold no inline script."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from modeltower.testing import ServerProcess

from .conftest import Api, MakeApi

pytestmark = pytest.mark.anyio

T0 = 1_764_000_000
SAMPLE = {"model": "m", "model_name": "m", "name": "x", "notification_id": "1", "key_id": "x"}


def check_headers(r: httpx.Response) -> None:
    where = f"{r.request.method} {r.request.url.path} -> {r.status_code}"
    h = r.headers
    assert h.get("x-content-type-options") == "nosniff", where
    assert h.get("referrer-policy") in ("same-origin", "no-referrer", "strict-origin"), where
    csp = h.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, where
    script = re.search(r"script-src ([^;]*)", csp)
    assert script and "'unsafe-inline'" not in script.group(1), where
    assert "'unsafe-eval'" not in csp, where


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {k for k, _ in attrs}
        self.inline += [f"{tag} {k}" for k in names if k.startswith("on")]
        if tag == "script":
            if "src" not in names:
                self._in_script = True
            if any(k == "href" and (v or "").startswith("javascript:") for k, v in attrs):
                self.inline.append("javascript: URL")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data.strip()[:60])

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(full path, route) of every route, also inside included routers (FastAPI >= 0.165
    keeps them as included-router objects)."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from _routes(original.routes, prefix + route.include_context.prefix)
        else:
            yield prefix + getattr(route, "path", ""), route


def get_paths(api: Api) -> list[str]:
    """One concrete path per GET route, and a file of each static mount."""
    paths: list[str] = []
    for full, route in _routes(list(api.app.routes)):
        if isinstance(route, APIRoute | Route) and "GET" in (route.methods or ()):
            path = full
            path = re.sub(r"{(\w+)(?::\w+)?}", lambda m: SAMPLE.get(m.group(1), "x"), path)
            paths.append(path)
        elif isinstance(route, Mount):
            directory = Path(str(getattr(route.app, "directory", "")))
            files = sorted(p for p in directory.rglob("*") if p.is_file())
            assert files, route.path
            paths.append(f"{full}/{files[0].relative_to(directory)}")
    return paths


async def test_every_get_route_has_the_headers(make_api: MakeApi) -> None:
    async with make_api() as api:
        await api.events({"model": "m", "prediction": "a", "timestamp": T0, "tags": {"t": "v"}})
        paths = get_paths(api)
        for expected in ("/", "/docs", "/healthz", "/metrics", "/v1/models/m/limits"):
            assert expected in paths
        assert len(paths) > 30
        statuses = set()
        for path in [*paths, "/no/such/page", "/v1/models/unknown-model/metrics"]:
            r = await api.client.get(path)
            assert r.status_code < 500, (path, r.status_code, r.text[:200])
            statuses.add(r.status_code)
            check_headers(r)
            if r.headers.get("content-type", "").startswith("text/html"):
                parser = _Scripts()
                parser.feed(r.text)
                assert parser.inline == [], (path, parser.inline)
        assert {200, 404} <= statuses
        # Errors of other methods too: 405, 422, 413.
        for r in (
            await api.client.delete("/healthz"),
            await api.client.post("/v1/events", content=b"{"),
            await api.client.post("/v1/events", json={"model": 5}),
        ):
            assert r.status_code in (400, 405, 422), r.text
            check_headers(r)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(Path(tmp_path_factory.mktemp("docs")) / "docs.duckdb") as srv:
        yield srv


def test_api_docs_run_under_the_policy(server: ServerProcess) -> None:
    """Swagger UI renders at /docs with the CSP in force and no policy violation."""
    from playwright.sync_api import sync_playwright
    from tests.dashboard.conftest import launch_chromium

    r = httpx.get(server.url + "/docs")
    check_headers(r)
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page()
            messages: list[str] = []
            page.on("console", lambda m: messages.append(m.text))
            page.goto(server.url + "/docs")
            page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
            assert "modeltower" in page.inner_text(".swagger-ui .info .title")
            page.wait_for_selector(".opblock-tag", timeout=20_000)
            violations = [m for m in messages if "Content Security Policy" in m or "Refused" in m]
            assert violations == [], violations
        finally:
            browser.close()


def test_the_headers_are_added_outside_every_other_middleware(tmp_path: Path) -> None:
    """Answers that other middleware makes itself (the 503 of a database fault, 429, 413)
    get the headers too."""
    from modeltower.app import create_app
    from modeltower.config import Settings
    from modeltower.dashboard import SecurityHeaders

    app = create_app(Settings(db_path=str(tmp_path / "x.duckdb"), rate_limit_per_s=5))
    assert app.user_middleware[0].cls is SecurityHeaders
    assert sum(m.cls is SecurityHeaders for m in app.user_middleware) == 1
