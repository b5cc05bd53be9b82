"""Dashboard session cookies: ``<key prefix>.<expiry µs>.<signature>``, signed with a secret.

The signature is HMAC-SHA256 under the server secret (kept in the database, so every replica
accepts the sessions of the others). A session names the key it was opened with, not the key
itself: it dies when that key is revoked or expires, and when its own expiry passes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

COOKIE = "modeltower_session"


def _sign(secret: bytes, payload: str) -> str:
    mac = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def issue(secret: bytes, prefix: str, until_us: int) -> str:
    """A session value for the key with ``prefix``, valid until ``until_us``."""
    payload = f"{prefix}.{until_us}"
    return f"{payload}.{_sign(secret, payload)}"


def verify(secret: bytes, value: str, now_us: int) -> str | None:
    """The key prefix of a genuine, unexpired session value; None otherwise."""
    parts = value.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or not secret:
        return None
    prefix, until, sig = parts
    if not hmac.compare_digest(_sign(secret, f"{prefix}.{until}").encode(), sig.encode()):
        return None
    if int(until) <= now_us:
        return None
    return prefix
