"""Signing in to the dashboard in a real headless Chromium against a real server with auth on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright
from tests.dashboard.conftest import launch_chromium, wait_rendered

from modeltower.auth import sessions
from modeltower.testing import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = launch_chromium(pw)
        yield b
        b.close()


def test_login_session_and_sign_out(tmp_path: Path, chromium: Browser, backend: str) -> None:
    with ServerProcess(tmp_path / "login.duckdb") as srv:
        made = httpx.post(srv.url + "/v1/keys", json={"name": "ops", "scope": "admin"})
        admin = made.json()["key"]
        auth = {"Authorization": f"Bearer {admin}"}
        read = httpx.post(
            srv.url + "/v1/keys", json={"name": "dash", "scope": "read"}, headers=auth
        ).json()["key"]
        event = {"model": "churn", "prediction": "yes", "label": "yes", "latency_ms": 4.0}
        assert httpx.post(srv.url + "/v1/events", json=event, headers=auth).status_code == 200

        context = chromium.new_context()
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(srv.url + "/models/churn?window=1h")
        assert page.url.startswith(srv.url + "/login?next=")
        page.fill("#key", "mtk_000000000000_" + "q" * 43)
        page.click("#sign-in")
        assert "not valid" in page.inner_text("#login-error")
        page.fill("#key", read)
        page.click("#sign-in")
        page.wait_for_url(srv.url + "/models/churn?window=1h")
        wait_rendered(page, "#model-page")  # the page's own JSON fetches went through
        (cookie,) = [c for c in context.cookies() if c["name"] == sessions.COOKIE]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
        assert not cookie["secure"]  # plain http on loopback
        assert sessions.COOKIE not in page.evaluate("document.cookie")  # out of scripts' reach
        page.click("#sign-out")
        page.wait_for_url(srv.url + "/login")
        page.goto(srv.url + "/")
        assert page.url.startswith(srv.url + "/login")
        assert not errors, errors
        context.close()
