"""Dashboard session cookies: ``<key prefix>.<expiry µs>.<signature>``, signed with a secret.

The signature is HMAC-SHA256 under the server secret (kept in the database, so every replica
accepts the sessions of the others). A session names the key it was opened with, not the key
itself: it dies when that key is revoked or expires, when its own expiry passes, and when it is
signed out (the store keeps a hash of each signed-out value until it would have expired, so a
copy of the cookie is refused too).
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


def _genuine(secret: bytes, value: str, now_us: int) -> tuple[str, int] | None:
    parts = value.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or not secret:
        return None
    prefix, until, sig = parts
    if not hmac.compare_digest(_sign(secret, f"{prefix}.{until}").encode(), sig.encode()):
        return None
    if int(until) <= now_us:
        return None
    return prefix, int(until)


def verify(secret: bytes, value: str, now_us: int) -> str | None:
    """The key prefix of a genuine, unexpired session value; None otherwise."""
    got = _genuine(secret, value, now_us)
    return None if got is None else got[0]


def expiry(secret: bytes, value: str, now_us: int) -> int | None:
    """When a genuine, unexpired session value expires (µs); None for any other value."""
    got = _genuine(secret, value, now_us)
    return None if got is None else got[1]
