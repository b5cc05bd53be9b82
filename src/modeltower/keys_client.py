"""``modeltower keys``: create, list and revoke API keys.

Against a running server over ``/v1/keys`` (``--url``, ``--api-key`` with an admin key), or
directly on the database (``--db FILE`` or ``--database-url URL``) to create the first admin
key before any key exists. A DuckDB file can only be opened by one process: while a server
holds it, use the server's API instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any
from urllib.parse import quote

from modeltower.transfer import TransferError, _client, _describe, _json, _request

_SCOPES = ("admin", "read", "ingest")


def add_parser(sub: Any) -> None:
    """The ``keys`` subcommand and its actions on ``sub`` (argparse subparsers)."""
    keys = sub.add_parser("keys", help="create, list and revoke API keys")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key; it is printed once, never again")
    create.add_argument("--scope", required=True, choices=_SCOPES)
    create.add_argument("--name", required=True, help="what the key is for, e.g. fraud-serving")
    create.add_argument("--expires", help="lifetime such as 30d or 12h (default: no expiry)")
    listing = actions.add_parser("list", help="every key: name, prefix, scope, status")
    revoke = actions.add_parser("revoke", help="revoke a key by its name or prefix")
    revoke.add_argument("name_or_prefix")
    for p in (create, listing, revoke):
        p.add_argument(
            "--url",
            default=os.environ.get("MODELTOWER_URL", "http://127.0.0.1:8000"),
            help="modeltower server (default: $MODELTOWER_URL or http://127.0.0.1:8000)",
        )
        p.add_argument(
            "--api-key",
            default=os.environ.get("MODELTOWER_API_KEY"),
            help="an admin key for the server (default: $MODELTOWER_API_KEY)",
        )
        p.add_argument("--db", help="work on this DuckDB file directly (no server running on it)")
        p.add_argument("--database-url", help="work on this PostgreSQL database directly")


def run(args: argparse.Namespace) -> int:
    """Run one ``keys`` action; prints its outcome."""
    result = _direct(args) if args.db or args.database_url else _over_http(args)
    print(_describe_result(args.action, result))
    return 0


def _over_http(args: argparse.Namespace) -> Any:
    with _client(args.url, args.api_key) as client:
        if args.action == "create":
            body: dict[str, Any] = {"name": args.name, "scope": args.scope}
            if args.expires:
                body["expires"] = args.expires
            resp = _request(client, "POST", "/v1/keys", json=body)
            expect = 201
        elif args.action == "list":
            resp, expect = _request(client, "GET", "/v1/keys"), 200
        else:
            path = f"/v1/keys/{quote(args.name_or_prefix, safe='')}"
            resp, expect = _request(client, "DELETE", path), 200
        if resp.status_code != expect:
            raise TransferError(_describe(resp))
        return _json(resp)


def _open_store(args: argparse.Namespace) -> Any:
    if args.database_url:
        from modeltower.store.pg_store import PostgresStore

        store: Any = PostgresStore(args.database_url, readers=1)
        store.open()
        return store
    import duckdb

    from modeltower.store.duckdb_store import DuckDBStore

    store = DuckDBStore(args.db, readers=1)
    try:
        store.open()
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise TransferError(
                f"{args.db} is in use by another process, probably a running modeltower server "
                "(a DuckDB file can be opened by one process only): stop it, or manage keys "
                "through the server with --url and an admin --api-key"
            ) from None
        raise TransferError(f"cannot open {args.db}: {exc}") from None
    return store


def _direct(args: argparse.Namespace) -> Any:
    from modeltower.auth.keys import check_name
    from modeltower.auth.routes import key_json
    from modeltower.auth.service import AuthService, _now_us
    from modeltower.ingest.writer import Writer
    from modeltower.timewindow import BadParameter, parse_duration

    expires_us = None
    if args.action == "create":
        if (why := check_name(args.name)) is not None:
            raise TransferError(f"--name: {why}")
        if args.expires:
            try:
                expires_us = _now_us() + parse_duration(args.expires, "--expires")
            except BadParameter as exc:
                raise TransferError(str(exc)) from None
    store = _open_store(args)
    writer = Writer(store)
    writer.start()
    try:
        svc = AuthService(store, writer)
        if args.action == "create":
            made = asyncio.run(svc.create(args.name, args.scope, expires_us))
            if made is None:
                raise TransferError(f"an active key is named {args.name!r}: revoke it first")
            key, record = made
            return {"key": key, **key_json(record, _now_us())}
        if args.action == "list":
            return {"keys": [key_json(r, _now_us()) for r in store.api_keys()]}
        revoked = asyncio.run(svc.revoke(args.name_or_prefix))
        if revoked is None:
            raise TransferError(f"no active key is named or prefixed {args.name_or_prefix!r}")
        return key_json(revoked, _now_us())
    finally:
        writer.stop()
        store.close()


def _describe_result(action: str, result: Any) -> str:
    if action == "create":
        expiry = f", expires {result['expires']}" if result.get("expires") else ""
        return (
            f"{result['key']}\n"
            f"created {result['scope']} key {result['name']!r} ({result['prefix']}{expiry}). "
            "Store it now: it is not shown again."
        )
    if action == "revoke":
        return f"revoked key {result['name']!r} ({result['prefix']})"
    rows = [("NAME", "PREFIX", "SCOPE", "STATUS", "CREATED", "EXPIRES")]
    for k in result["keys"]:
        rows.append(
            (k["name"], k["prefix"], k["scope"], k["status"], k["created"], k["expires"] or "-")
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) if result["keys"] else "no API keys: the server is open to everyone"
