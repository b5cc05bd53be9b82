"""API keys on the real application: open until the first key, then every route needs one.

Each protection here fails its test when removed: the middleware (401 without a key), the scope
check (403), revocation and expiry, the open health checks, salted hashes instead of keys.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import pytest
from tests.auth.helpers import EVENT, bearer, create_key
from tests.inprocess import Api, MakeApi

from modeltower.auth import sessions
from modeltower.config import ConfigError
from modeltower.store.key_types import RevokeApiKey

pytestmark = pytest.mark.anyio


async def test_without_keys_everything_is_open(make_api: MakeApi) -> None:
    async with make_api() as api:
        assert (await api.client.post("/v1/events", json=EVENT)).status_code == 200
        assert (await api.client.get("/v1/models")).status_code == 200
        assert (await api.client.get("/")).status_code == 200
        r = await api.client.get("/v1/keys")
        assert r.status_code == 200 and r.json() == {"keys": []}


async def test_the_first_key_locks_every_route(make_api: MakeApi) -> None:
    async with make_api() as api:
        admin = await create_key(api, "admin")
        for method, path in [
            ("GET", "/v1/models"),
            ("POST", "/v1/events"),
            ("POST", "/log"),
            ("GET", "/metrics/m"),
            ("GET", "/metrics"),
            ("GET", "/openapi.json"),
            ("GET", "/v1/keys"),
            ("PUT", "/v1/models/m"),
            ("GET", "/v1/alerts"),
        ]:
            r = await api.client.request(method, path, json={})
            assert r.status_code == 401, (method, path, r.text)
            assert r.json()["detail"]["reason"] == "missing_credentials"
            assert r.headers["www-authenticate"].startswith("Bearer")
        r = await api.client.get("/v1/models", headers=bearer(admin))
        assert r.status_code == 200
        assert (await api.client.get("/v1/models", headers={"X-API-Key": admin})).status_code == 200


async def test_health_checks_and_static_assets_stay_open(make_api: MakeApi) -> None:
    async with make_api() as api:
        await create_key(api, "admin")
        assert (await api.client.get("/healthz")).status_code == 200
        assert (await api.client.get("/readyz")).status_code == 200
        assert (await api.client.get("/dashboard/static/common.js")).status_code == 200


async def test_invalid_keys_are_refused(make_api: MakeApi) -> None:
    async with make_api() as api:
        admin = await create_key(api, "admin")
        forged = admin[:-4] + ("AAAA" if not admin.endswith("AAAA") else "BBBB")
        for key, reason in [
            (forged, "invalid_key"),
            ("mtk_000000000000_" + "x" * 43, "invalid_key"),
            ("not-a-key", "invalid_key"),
        ]:
            r = await api.client.get("/v1/models", headers=bearer(key))
            assert r.status_code == 401 and r.json()["detail"]["reason"] == reason
            assert 'error="invalid_token"' in r.headers["www-authenticate"]
        r = await api.client.get("/v1/models", headers={"Authorization": f"Basic {admin}"})
        assert r.status_code == 401


async def test_scopes(make_api: MakeApi) -> None:
    async with make_api() as api:
        admin = await create_key(api, "admin")
        read = await create_key(api, "read", admin=admin)
        ingest = await create_key(api, "ingest", admin=admin)
        log = {"model_name": "m", "input_data": "x", "prediction": "a", "latency_ms": 1.0}
        cases = [  # (method, path, body, {scope: status})
            ("POST", "/v1/events", EVENT, {"ingest": 200, "read": 403, "admin": 200}),
            (
                "POST",
                "/v1/feedback",
                {"model": "m", "id": "e1", "label": "a"},
                {"ingest": 200, "read": 403},
            ),
            ("POST", "/log", log, {"ingest": 200, "read": 403}),
            ("GET", "/v1/models", None, {"ingest": 403, "read": 200, "admin": 200}),
            ("GET", "/metrics/m", None, {"ingest": 403, "read": 200}),
            ("GET", "/", None, {"ingest": 403, "read": 200}),
            ("PUT", "/v1/models/m", {"task": "classification"}, {"read": 403, "admin": 200}),
            ("GET", "/v1/keys", None, {"read": 403, "ingest": 403, "admin": 200}),
            ("POST", "/v1/alerts/evaluate", None, {"read": 403}),
        ]
        by_scope = {"admin": admin, "read": read, "ingest": ingest}
        for method, path, body, expect in cases:
            for scope, status in expect.items():
                r = await api.client.request(
                    method, path, json=body, headers=bearer(by_scope[scope])
                )
                assert r.status_code == status, (method, path, scope, r.text)
                if status == 403:
                    d = r.json()["detail"]
                    assert d["reason"] == "insufficient_scope" and scope in d["message"]


async def test_only_salted_hashes_are_stored(make_api: MakeApi) -> None:
    async with make_api() as api:
        admin = await create_key(api, "admin", name="ops")
        store = api.app.state.store
        (record,) = store.api_keys()
        secret = admin[len(record.prefix) + 1 :]
        assert admin.startswith(record.prefix + "_") and len(secret) == 43
        assert secret not in repr(record) and secret not in record.hash.hex()
        assert record.hash == hmac.new(record.salt, admin.encode(), hashlib.sha256).digest()
        listed = (await api.client.get("/v1/keys", headers=bearer(admin))).json()["keys"]
        assert listed == [
            {
                "name": "ops",
                "prefix": record.prefix,
                "scope": "admin",
                "status": "active",
                "created": listed[0]["created"],
                "expires": None,
                "revoked": None,
            }
        ]
        # the in-memory cache is keyed by a hash of the key, never by the key
        assert all(admin.encode() not in k and len(k) == 32 for k in api.app.state.auth._cache)


async def test_revocation_and_the_last_key(make_api: MakeApi) -> None:
    async with make_api(db_name="locked.duckdb") as api:
        admin = await create_key(api, "admin", name="only")
        r = await api.client.delete("/v1/keys/only", headers=bearer(admin))
        assert r.status_code == 200 and r.json()["status"] == "revoked"
        r = await api.client.get("/v1/models", headers=bearer(admin))
        assert r.status_code == 401 and r.json()["detail"]["reason"] == "revoked_key"
        # the last key is gone, yet the server stays locked
        r = await api.client.get("/v1/models")
        assert r.status_code == 401
        assert (
            await api.client.post("/v1/keys", json={"name": "x", "scope": "admin"})
        ).status_code == 401
    async with make_api(db_name="locked.duckdb") as api:  # also after a restart
        assert (await api.client.get("/v1/models")).status_code == 401


async def test_public_bind_is_refused_in_the_lifespan_too(make_api: MakeApi) -> None:
    with pytest.raises(ConfigError, match=r"refusing to serve on 0\.0\.0\.0"):
        async with make_api(host="0.0.0.0"):
            pass
    async with make_api(host="0.0.0.0", insecure_no_auth=True) as api:
        assert (await api.client.get("/v1/models")).status_code == 200
    async with make_api(db_name="keyed.duckdb") as api:
        await create_key(api, "admin")
    async with make_api(db_name="keyed.duckdb", host="0.0.0.0") as api:
        assert (await api.client.get("/v1/models")).status_code == 401


async def test_revocation_elsewhere_takes_effect_within_the_cache_time(make_api: MakeApi) -> None:
    async with make_api(auth_cache_s=0.5) as api:
        admin = await create_key(api, "admin")
        read = await create_key(api, "read", name="dash", admin=admin)
        assert (await api.client.get("/v1/models", headers=bearer(read))).status_code == 200
        # as another replica would: straight into the database, this process's cache untouched
        await api.app.state.writer.write(RevokeApiKey("dash", 1))
        assert (await api.client.get("/v1/models", headers=bearer(read))).status_code == 200
        await asyncio.sleep(0.6)
        r = await api.client.get("/v1/models", headers=bearer(read))
        assert r.status_code == 401 and r.json()["detail"]["reason"] == "revoked_key"


async def test_replicas_share_keys_sessions_and_revocations(
    make_api: MakeApi, backend: str
) -> None:
    """Two processes on one database (PostgreSQL; a DuckDB file has one process, so there the
    second "replica" is the same app): a key made on one works on the other, and its
    revocation there takes effect within the cache time."""
    async with make_api(db_name="shared.duckdb", auth_cache_s=0.5) as one:
        admin = await create_key(one, "admin")
        if backend != "postgres":
            await _revoke_elsewhere_and_wait(one, one, admin)
            return
        async with make_api(db_name="shared.duckdb", auth_cache_s=0.5) as two:
            await _revoke_elsewhere_and_wait(one, two, admin)


async def _revoke_elsewhere_and_wait(one: Api, two: Api, admin: str) -> None:
    read = await create_key(one, "read", name="dash", admin=admin)
    assert (await two.client.get("/v1/models", headers=bearer(read))).status_code == 200
    login = await two.client.post("/login", data={"key": read, "next": "/"})
    session = {"Cookie": f"{sessions.COOKIE}={login.cookies[sessions.COOKIE]}"}
    assert (await one.client.get("/v1/models", headers=session)).status_code == 200
    if one is two:
        await one.app.state.writer.write(RevokeApiKey("dash", 1))
    else:
        assert (await one.client.delete("/v1/keys/dash", headers=bearer(admin))).status_code == 200
    await asyncio.sleep(0.6)
    for headers in (bearer(read), session):
        r = await two.client.get("/v1/models", headers=headers)
        assert r.status_code == 401 and r.json()["detail"]["reason"] == "revoked_key"


async def test_keys_expire(make_api: MakeApi) -> None:
    async with make_api() as api:
        admin = await create_key(api, "admin")
        short = await create_key(api, "read", name="short", admin=admin, expires="1s")
        assert (await api.client.get("/v1/models", headers=bearer(short))).status_code == 200
        await asyncio.sleep(1.1)
        r = await api.client.get("/v1/models", headers=bearer(short))
        assert r.status_code == 401 and r.json()["detail"]["reason"] == "expired_key"
        listed = (await api.client.get("/v1/keys", headers=bearer(admin))).json()["keys"]
        assert {k["name"]: k["status"] for k in listed} == {
            "admin-key": "active",
            "short": "expired",
        }


async def test_bad_key_requests_name_the_field(make_api: MakeApi) -> None:
    async with make_api() as api:
        admin = await create_key(api, "admin", name="a")
        h = bearer(admin)
        for body, field in [
            ({"name": "x", "scope": "root"}, "scope"),
            ({"name": "has space", "scope": "read"}, "name"),
            ({"scope": "read"}, "name"),
            ({"name": "x", "scope": "read", "expires": "soon"}, "expires"),
            ({"name": "x", "scope": "read", "colour": "red"}, "colour"),
        ]:
            r = await api.client.post("/v1/keys", json=body, headers=h)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["detail"]["field"] == field, r.text
        r = await api.client.post("/v1/keys", json={"name": "a", "scope": "read"}, headers=h)
        assert r.status_code == 409
        assert (await api.client.delete("/v1/keys/nope", headers=h)).status_code == 404
