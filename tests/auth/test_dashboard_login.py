"""The dashboard with auth on: pages send the browser to /login, where a read (or admin) key is
pasted once; the signed session cookie then authorizes pages and their JSON fetches."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.auth.helpers import EVENT, bearer, create_key
from tests.inprocess import Api, MakeApi

from modeltower.auth import sessions
from modeltower.store.key_types import EndSession

pytestmark = pytest.mark.anyio


async def _login(api: Api, key: str, **headers: str) -> httpx.Response:
    return await api.client.post(
        "/login", data={"key": key, "next": "/models/m?window=1h"}, headers=headers
    )


def _cookie_attrs(r: httpx.Response) -> set[str]:
    (header,) = [v for k, v in r.headers.multi_items() if k == "set-cookie"]
    return {a.strip().lower() for a in header.split(";")[1:]}


async def test_pages_redirect_to_login_and_the_session_opens_them(make_api: MakeApi) -> None:
    async with make_api() as api:
        admin = await create_key(api, "admin")
        read = await create_key(api, "read", name="dash", admin=admin)
        r = await api.client.get("/models/m?window=1h", headers={"Accept": "text/html"})
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=%2Fmodels%2Fm%3Fwindow%3D1h"
        page = await api.client.get("/login")
        assert page.status_code == 200 and 'name="key"' in page.text
        assert "<script" not in page.text  # the CSP forbids inline script
        assert "script-src 'self'" in page.headers["content-security-policy"]
        r = await _login(api, read)
        assert r.status_code == 303 and r.headers["location"] == "/models/m?window=1h"
        attrs = _cookie_attrs(r)
        assert {"httponly", "samesite=strict", "path=/"} <= attrs and "secure" not in attrs
        api.client.cookies.set(sessions.COOKIE, r.cookies[sessions.COOKIE])
        assert (await api.client.get("/")).status_code == 200
        assert (await api.client.get("/v1/models")).status_code == 200
        assert 'id="sign-out"' in (await api.client.get("/")).text
        # a read session cannot send events nor change settings
        assert (await api.client.post("/v1/events", json=EVENT)).status_code == 403
        assert (await api.client.put("/v1/models/m", json={})).status_code == 403


async def test_secure_cookie_behind_tls(make_api: MakeApi) -> None:
    async with make_api(trusted_proxy=True) as api:
        read = await create_key(api, "read")
        r = await _login(api, read, **{"X-Forwarded-Proto": "https"})
        assert "secure" in _cookie_attrs(r)
        assert "secure" not in _cookie_attrs(await _login(api, read))
    async with make_api() as api:  # an untrusted client cannot claim https
        read = await create_key(api, "read")
        assert "secure" not in _cookie_attrs(
            await _login(api, read, **{"X-Forwarded-Proto": "https"})
        )
    async with make_api(public_url="https://monitor.example.com") as api:
        read = await create_key(api, "read")
        assert "secure" in _cookie_attrs(await _login(api, read))


async def test_login_refuses_wrong_keys_and_foreign_redirects(make_api: MakeApi) -> None:
    async with make_api() as api:
        admin = await create_key(api, "admin")
        ingest = await create_key(api, "ingest", admin=admin)
        r = await _login(api, ingest)
        assert r.status_code == 403 and "read key" in r.text and "set-cookie" not in r.headers
        r = await _login(api, "mtk_000000000000_" + "y" * 43)
        assert r.status_code == 401 and "not valid" in r.text
        r = await api.client.post("/login", data={"key": admin, "next": "//evil.example/x"})
        assert r.status_code == 303 and r.headers["location"] == "/"


async def test_forged_expired_and_revoked_sessions_are_refused(make_api: MakeApi) -> None:
    async with make_api(session_ttl_s=1.0) as api:
        admin = await create_key(api, "admin")
        read = await create_key(api, "read", name="dash", admin=admin)
        good = (await _login(api, read)).cookies[sessions.COOKIE]
        prefix, until, sig = good.split(".")
        for forged in (f"{prefix}.{int(until) + 10**9}.{sig}", f"{admin[:16]}.{until}.{sig}"):
            r = await api.client.get(
                "/v1/models", headers={"Cookie": f"{sessions.COOKIE}={forged}"}
            )
            assert r.status_code == 401 and r.json()["detail"]["reason"] == "invalid_session"
        ok = await api.client.get("/v1/models", headers={"Cookie": f"{sessions.COOKIE}={good}"})
        assert ok.status_code == 200
        await asyncio.sleep(1.1)
        r = await api.client.get("/v1/models", headers={"Cookie": f"{sessions.COOKIE}={good}"})
        assert r.status_code == 401
    async with make_api() as api:
        admin = await create_key(api, "admin")
        read = await create_key(api, "read", name="dash", admin=admin)
        good = (await _login(api, read)).cookies[sessions.COOKIE]
        await api.client.delete("/v1/keys/dash", headers=bearer(admin))
        r = await api.client.get("/v1/models", headers={"Cookie": f"{sessions.COOKIE}={good}"})
        assert r.status_code == 401 and r.json()["detail"]["reason"] == "revoked_key"


async def test_logout_clears_the_session(make_api: MakeApi) -> None:
    async with make_api() as api:
        read = await create_key(api, "read")
        api.client.cookies.set(sessions.COOKIE, (await _login(api, read)).cookies[sessions.COOKIE])
        r = await api.client.post("/logout")
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert "max-age=0" in r.headers["set-cookie"].lower()


async def test_a_signed_out_session_is_refused_also_from_a_copy_of_its_cookie(
    make_api: MakeApi, backend: str
) -> None:
    """Sign-out ends the session on the server: a copy of the cookie (another tab, a stolen
    one) is refused at once here, and within the cache time on another process of the same
    PostgreSQL database; other sessions of the same key stay open."""
    async with make_api(db_name="shared.duckdb", auth_cache_s=0.5) as one:
        read = await create_key(one, "read")
        ended = (await _login(one, read)).cookies[sessions.COOKIE]
        other = (await _login(one, read)).cookies[sessions.COOKIE]
        assert ended != other
        copy = {"Cookie": f"{sessions.COOKIE}={ended}"}
        assert (await one.client.get("/v1/models", headers=copy)).status_code == 200
        if backend == "postgres":
            async with make_api(db_name="shared.duckdb", auth_cache_s=0.5) as two:
                assert (await two.client.get("/v1/models", headers=copy)).status_code == 200
                assert (await one.client.post("/logout", headers=copy)).status_code == 303
                await asyncio.sleep(0.6)
                r = await two.client.get("/v1/models", headers=copy)
                assert r.status_code == 401 and r.json()["detail"]["reason"] == "invalid_session"
        else:
            assert (await one.client.post("/logout", headers=copy)).status_code == 303
        r = await one.client.get("/v1/models", headers=copy)  # at once, no cache delay
        assert r.status_code == 401 and r.json()["detail"]["reason"] == "invalid_session"
        page = await one.client.get("/", headers={**copy, "Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        kept = {"Cookie": f"{sessions.COOKIE}={other}"}
        assert (await one.client.get("/v1/models", headers=kept)).status_code == 200
        # signing out twice, or without a session, is harmless
        assert (await one.client.post("/logout", headers=copy)).status_code == 303
        assert (await one.client.post("/logout")).status_code == 303
    async with make_api(db_name="shared.duckdb") as again:  # kept across a restart
        r = await again.client.get("/v1/models", headers=copy)
        assert r.status_code == 401
        assert (await again.client.get("/v1/models", headers=kept)).status_code == 200


async def test_login_page_without_keys_leads_to_the_open_dashboard(make_api: MakeApi) -> None:
    async with make_api() as api:
        r = await api.client.get("/login?next=/models/m")
        assert r.status_code == 303 and r.headers["location"] == "/models/m"


async def test_ended_sessions_are_kept_until_they_would_have_expired(make_api: MakeApi) -> None:
    async with make_api() as api:
        writer, store = api.app.state.writer, api.app.state.store
        await writer.write(EndSession("a" * 64, until_us=1_000, now_us=0))
        await writer.write(EndSession("a" * 64, until_us=1_000, now_us=0))  # twice: one row
        assert store.session_ended("a" * 64) and not store.session_ended("b" * 64)
        # the next sign-out, after the first session's expiry, drops its row
        await writer.write(EndSession("b" * 64, until_us=10**18, now_us=2_000))
        assert not store.session_ended("a" * 64) and store.session_ended("b" * 64)
