"""The Host allowlist (api/hosts.py): a server on loopback answers only to the loopback names
and those configured, so that a web page cannot reach it by DNS rebinding."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from tests.inprocess import MakeApi

from modeltower.api.hosts import allowlist, host_name
from modeltower.config import Settings
from modeltower.testing import ServerProcess


def _event(i: int) -> dict[str, object]:
    return {"model": "m", "id": f"e{i}", "timestamp": time.time(), "prediction": "a"}


def test_host_names_lose_their_port_and_case() -> None:
    assert host_name("LocalHost:8000") == "localhost"
    assert host_name("127.0.0.1") == "127.0.0.1"
    assert host_name("[::1]:8000") == "::1"
    assert host_name("[::1]") == "::1"
    assert host_name("mt.example.com") == "mt.example.com"


def test_the_allowlist_follows_the_bind_address_and_the_settings() -> None:
    loop = allowlist(Settings())
    assert loop == frozenset({"localhost", "127.0.0.1", "::1"})
    assert allowlist(Settings(host="0.0.0.0")) is None  # keys are required there
    assert allowlist(Settings(host="0.0.0.0", allowed_hosts="mt.example.com")) == loop | {
        "mt.example.com",
        "0.0.0.0",
    }
    assert allowlist(Settings(allowed_hosts="*")) is None
    assert allowlist(Settings(trusted_proxy=True)) is None  # the proxy picks the names
    proxied = allowlist(Settings(trusted_proxy=True, allowed_hosts="mt.example.com"))
    assert proxied is not None and "mt.example.com" in proxied
    public = allowlist(Settings(public_url="https://MT.example.com:8443/base"))
    assert public is not None and "mt.example.com" in public
    listed = allowlist(Settings(allowed_hosts=" a.example , b.example:80,"))
    assert listed is not None and {"a.example", "b.example"} <= listed


@pytest.mark.anyio
async def test_a_foreign_host_is_refused_and_nothing_is_stored(make_api: MakeApi) -> None:
    async with make_api() as api:
        foreign = {"Host": "rebind.attacker.example"}
        r = await api.client.post("/v1/events", json=[_event(1)], headers=foreign)
        assert r.status_code == 400
        detail = r.json()["detail"]
        assert detail["errors"] == [{"field": "Host", "reason": "not an allowed host"}]
        assert "rebind.attacker.example" in detail["message"]
        assert "--allowed-hosts" in detail["message"]
        assert r.headers["x-content-type-options"] == "nosniff"  # security headers too
        for path in ("/", "/v1/models", "/v1/keys", "/healthz"):
            assert (await api.client.get(path, headers=foreign)).status_code == 400, path
        assert api.stored() == 0
        for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"):
            r = await api.client.post("/v1/events", json=[_event(2)], headers={"Host": host})
            assert r.status_code == 200, (host, r.text)
        assert api.stored() == 1


@pytest.mark.anyio
async def test_configured_hosts_are_answered(make_api: MakeApi) -> None:
    async with make_api(allowed_hosts="mt.internal", public_url="https://mt.example.com") as api:
        for host, status in (
            ("mt.internal:8000", 200),
            ("mt.example.com", 200),
            ("localhost", 200),
            ("other.internal", 400),
        ):
            r = await api.client.get("/v1/models", headers={"Host": host})
            assert r.status_code == status, host
    async with make_api(allowed_hosts="*") as api:
        r = await api.client.get("/v1/models", headers={"Host": "anything.example"})
        assert r.status_code == 200


@pytest.mark.slow
def test_a_real_server_on_loopback_refuses_a_rebound_name(tmp_path: Path, backend: str) -> None:
    with ServerProcess(tmp_path / "hosts.duckdb") as srv:
        rebound = httpx.get(srv.url + "/v1/models", headers={"Host": f"rebind.example:{srv.port}"})
        assert rebound.status_code == 400
        assert rebound.json()["detail"]["errors"][0]["field"] == "Host"
        assert httpx.get(srv.url + "/v1/models").status_code == 200
        local = httpx.get(srv.url + "/v1/models", headers={"Host": f"localhost:{srv.port}"})
        assert local.status_code == 200
    args = ["--allowed-hosts", "mt.internal"]
    with ServerProcess(tmp_path / "hosts2.duckdb", args=args) as srv:
        named = httpx.get(srv.url + "/v1/models", headers={"Host": "mt.internal"})
        assert named.status_code == 200
        other = httpx.get(srv.url + "/v1/models", headers={"Host": "other.internal"})
        assert other.status_code == 400
