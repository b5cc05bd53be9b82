"""Channel URLs must be http(s); with forbid_private_webhooks, hosts that are or resolve to
private, loopback, link-local, multicast or unspecified addresses are refused when the channel
is defined and again at every delivery."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from tests.alerts.receivers import Receiver

from modeltower.alerts.channels.address import AddressPolicy, forbidden
from modeltower.app import create_app
from modeltower.config import ConfigError, Settings

from .conftest import MakeApi

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com", "//example.com"]
)
async def test_only_http_urls_are_channels(make_api: MakeApi, url: str) -> None:
    async with make_api() as api:
        for kind in ("webhook", "slack"):
            r = await api.client.put("/v1/alerts/channels/c", json={"type": kind, "url": url})
            assert r.status_code == 422, r.text
            assert r.json()["detail"]["field"] == "url" and "http" in r.text


def test_a_rules_file_with_a_non_http_channel_does_not_start(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("channels:\n  c:\n    type: webhook\n    url: file:///etc/passwd\n")
    with pytest.raises(ConfigError, match="url"):
        create_app(Settings(db_path=str(tmp_path / "x.duckdb"), rules_path=str(rules)))


@pytest.mark.parametrize(
    "ip",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "100.64.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::",
        "::ffff:127.0.0.1",
    ],
)
def test_private_addresses_are_forbidden(ip: str) -> None:
    assert forbidden(ipaddress.ip_address(ip))


@pytest.mark.parametrize("ip", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_not(ip: str) -> None:
    assert not forbidden(ipaddress.ip_address(ip))
    assert AddressPolicy().refusal(f"https://[{ip}]/" if ":" in ip else f"https://{ip}/") is None


def test_names_are_resolved() -> None:
    reason = AddressPolicy().refusal("http://localhost:9/hook")
    assert reason and "resolves to" in reason and "forbid_private_webhooks" in reason


async def test_forbidden_at_creation(make_api: MakeApi) -> None:
    async with make_api(forbid_private_webhooks=True) as api:
        for url in (
            "http://127.0.0.1:9/x",
            "http://localhost/x",
            "https://[::1]/",
            "http://10.0.0.8",
        ):
            r = await api.client.put("/v1/alerts/channels/c", json={"type": "webhook", "url": url})
            assert r.status_code == 422, r.text
            assert r.json()["detail"]["field"] == "url"
            assert "forbid_private_webhooks" in r.json()["detail"]["message"]
        assert (await api.client.get("/v1/alerts/channels")).json()["channels"] == []


def test_forbidden_in_a_rules_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("channels:\n  c:\n    type: slack\n    url: http://127.0.0.1:9/hook\n")
    s = Settings(db_path=str(tmp_path / "x.duckdb"), rules_path=str(rules))
    create_app(s)  # allowed by default
    with pytest.raises(ConfigError, match=r"channels\.c\.url"):
        create_app(s.replace(forbid_private_webhooks=True))


async def test_checked_again_at_every_delivery(make_api: MakeApi, receiver: Receiver) -> None:
    url = receiver.url("/hook")
    # Defined while allowed (as if the name had resolved to a public address then) ...
    async with make_api("hooks.duckdb") as api:
        r = await api.client.put("/v1/alerts/channels/c", json={"type": "webhook", "url": url})
        assert r.status_code == 200, r.text
        r = await api.client.post("/v1/alerts/channels/c/test")
        assert r.json()["notification"]["status"] == "delivered", r.text
    assert len(receiver.requests()) == 1
    # ... and refused when it is delivered to a private address.
    async with make_api("hooks.duckdb", forbid_private_webhooks=True) as api:
        r = await api.client.post("/v1/alerts/channels/c/test")
        body = r.json()
        assert body["notification"]["status"] == "failed", body
        assert "forbid_private_webhooks" in body["attempts"][-1]["error"]
    assert len(receiver.requests()) == 1  # nothing more was sent
