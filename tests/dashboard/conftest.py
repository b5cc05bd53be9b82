"""Fixtures for the dashboard tests: real server processes and a headless system Chromium.

Browser tests never skip: without ``/usr/bin/chromium`` (Debian package ``chromium``) they fail
with a message saying how to install it (``scripts/test.sh`` does).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Playwright, sync_playwright

from modeltower.testing import ServerProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DOCS = Path(__file__).resolve().parents[2] / "docs"
#: Set to 1 to refresh docs/dashboard-*.png from the screenshot test.
UPDATE_SCREENSHOTS = os.environ.get("MODELTOWER_UPDATE_SCREENSHOTS") == "1"


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with six hours of demo history and live demo traffic."""
    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    with ServerProcess(db, args=["--demo", "--demo-backfill-hours", "6"]) as server:
        _wait_for_demo_alerts(server)
        yield server


def _wait_for_demo_alerts(server: ServerProcess, timeout: float = 120.0) -> None:
    """The demo evaluates its alert rules over the backfilled hours first; wait until that
    replay reached the present, so pages show the alerts as they are now."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(server.url + "/v1/alerts", timeout=10).json()
        at = body.get("evaluated_at")
        if (
            at is not None
            and time.time() - datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() < 120
        ):
            return
        time.sleep(0.2)
    raise AssertionError("the demo's alert evaluation did not reach the present")


@pytest.fixture()
def empty_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server that has never received an event."""
    with ServerProcess(tmp_path / "empty.duckdb") as server:
        yield server


def launch_chromium(pw: Playwright) -> Browser:
    """The system Chromium, headless; fails loudly when it is not installed."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} not found: the dashboard tests need Debian's chromium package "
            "(apt-get install -y chromium; scripts/test.sh installs it)",
            pytrace=False,
        )
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


# Module scope, not session: Playwright's sync API runs an event loop for as long as it is open,
# and asyncio tests collected after the browser tests could not start their own loop.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module."""
    with sync_playwright() as pw:
        b = launch_chromium(pw)
        yield b
        b.close()


@dataclass
class Watched:
    """A page plus everything that went wrong on it."""

    page: Page
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        """No console error, no uncaught exception, no dialog."""
        assert not self.errors, f"console errors: {self.errors}"
        assert not self.dialogs, f"dialogs opened: {self.dialogs}"


@pytest.fixture()
def watched(browser: Browser) -> Iterator[Watched]:
    """A fresh page that records console errors, page errors, dialogs and API requests."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    w = Watched(page)

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            w.errors.append(msg.text)

    def on_dialog(dialog: Dialog) -> None:
        w.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda exc: w.errors.append(f"pageerror: {exc}"))
    page.on("dialog", on_dialog)
    page.on("request", lambda req: w.requests.append(req.url))
    yield w
    context.close()


def wait_rendered(page: Page, selector: str, after: int = 0, timeout: float = 30_000) -> int:
    """Wait until the page's render counter (``data-rendered``) exceeds ``after``."""
    page.wait_for_function(
        "([sel, n]) => { const el = document.querySelector(sel);"
        " return el && Number(el.dataset.rendered || 0) > n; }",
        arg=[selector, after],
        timeout=timeout,
    )
    return int(page.eval_on_selector(selector, "el => Number(el.dataset.rendered)"))


def chart_states(page: Page) -> dict[str, str]:
    """Chart id -> data-state ("drawn", "empty" or "loading")."""
    return dict(
        page.eval_on_selector_all(
            "#model-page .chart", "els => els.map(e => [e.dataset.chart, e.dataset.state])"
        )
    )


def trace_counts(page: Page) -> dict[str, int]:
    """Chart id -> number of traces Plotly has drawn (SVG trace groups)."""
    return dict(
        page.eval_on_selector_all(
            "#model-page .chart",
            "els => els.map(e => { const p = e.querySelector('.plot');"
            " return [e.dataset.chart, p && p._fullData ? p._fullData.length : 0]; })",
        )
    )
