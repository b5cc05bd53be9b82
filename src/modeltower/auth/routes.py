"""``/v1/keys`` (create, list, revoke API keys) and the dashboard's ``/login`` and ``/logout``."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modeltower.api.error_docs import errors
from modeltower.api.responses import JSON
from modeltower.auth import keys, sessions
from modeltower.auth.middleware import _MESSAGES
from modeltower.auth.service import AuthService, _now_us
from modeltower.config import Settings
from modeltower.store.key_types import ApiKeyRecord
from modeltower.timewindow import BadParameter, iso, parse_duration

router = APIRouter(prefix="/v1/keys", tags=["access"], responses=errors(422))
login_router = APIRouter(include_in_schema=False)

KeyBody = Annotated[
    dict[str, Any],
    Body(
        description="name, scope (admin, read or ingest) and optionally expires (e.g. 30d)",
        examples=[{"name": "fraud-serving", "scope": "ingest", "expires": "90d"}],
    ),
]


def _svc(request: Request) -> AuthService:
    return cast(AuthService, request.app.state.auth)


def _error(status: int, message: str, **extra: object) -> JSON:
    return JSON({"detail": {"message": message, **extra}}, status_code=status)


def key_json(r: ApiKeyRecord, now_us: int) -> dict[str, Any]:
    """A key as listed: everything but its salt and hash."""
    status = (
        "revoked"
        if r.revoked_us is not None
        else "expired"
        if r.expires_us is not None and now_us >= r.expires_us
        else "active"
    )
    return {
        "name": r.name,
        "prefix": r.prefix,
        "scope": r.scope,
        "status": status,
        "created": iso(r.created_us),
        "expires": None if r.expires_us is None else iso(r.expires_us),
        "revoked": None if r.revoked_us is None else iso(r.revoked_us),
    }


@router.post(
    "",
    status_code=201,
    summary="Create an API key (shown once, never again)",
    responses=errors(409),
)
async def create_key(request: Request, body: KeyBody) -> JSON:
    unknown = sorted(set(body) - {"name", "scope", "expires"})
    if unknown:
        return _error(422, "unknown field", field=unknown[0])
    name, scope, expires = body.get("name"), body.get("scope"), body.get("expires")
    if not isinstance(name, str) or (why := keys.check_name(name)) is not None:
        return _error(422, "a name is required" if name is None else why or "", field="name")
    if not isinstance(scope, str) or (why := keys.check_scope(scope)) is not None:
        return _error(422, why or f"must be one of {', '.join(keys.SCOPES)}", field="scope")
    expires_us: int | None = None
    if expires is not None:
        if not isinstance(expires, str):
            raise BadParameter("expires", "expected a duration such as 30d")
        expires_us = _now_us() + parse_duration(expires, "expires")
    made = await _svc(request).create(name, scope, expires_us)
    if made is None:
        return _error(409, f"an active key is named {name!r}: revoke it or choose another name")
    key, record = made
    return JSON({"key": key, **key_json(record, _now_us())}, status_code=201)


@router.get("", summary="List API keys (names and prefixes; keys are never shown again)")
async def list_keys(request: Request) -> JSON:
    now = _now_us()
    return JSON({"keys": [key_json(r, now) for r in await _svc(request).list()]})


@router.delete(
    "/{name_or_prefix}", summary="Revoke an API key by name or prefix", responses=errors(404)
)
async def revoke_key(
    request: Request, name_or_prefix: Annotated[str, Path(min_length=1, max_length=128)]
) -> JSON:
    record = await _svc(request).revoke(name_or_prefix)
    if record is None:
        return _error(404, f"no active key is named or prefixed {name_or_prefix!r}")
    return JSON(key_json(record, _now_us()))


# ---- dashboard sign-in -------------------------------------------------------------------------
def _safe_next(target: str | None) -> str:
    """Only a path on this server: no open redirect to another site."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def is_secure(request: Request) -> bool:
    """Whether the browser reached us over https (directly, or through a trusted proxy)."""
    settings = cast(Settings, request.app.state.settings)
    if request.url.scheme == "https" or (settings.public_url or "").startswith("https://"):
        return True
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return settings.trusted_proxy and forwarded == "https"


def _login_page(request: Request, target: str, error: str | None, status: int) -> HTMLResponse:
    from modeltower.dashboard.views import templates  # the dashboard's Jinja environment

    response = templates.TemplateResponse(
        request, "login.html", {"next": target, "error": error}, status_code=status
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@login_router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    """The form asking for a read (or admin) key once."""
    target = _safe_next(request.query_params.get("next"))
    if not await _svc(request).enabled():
        return RedirectResponse(target, status_code=303)  # no keys: the dashboard is open
    return _login_page(request, target, None, 200)


@login_router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Check the pasted key and open a session for it."""
    form = await request.form(max_files=0, max_fields=4, max_part_size=4096)
    key, target = form.get("key"), _safe_next(cast(str | None, form.get("next")))
    svc = _svc(request)
    if not isinstance(key, str) or not key.strip():
        return _login_page(request, target, "Paste a read or admin API key.", 422)
    access = await svc.check_key(key.strip())
    if access.key is None:
        return _login_page(request, target, _MESSAGES[access.reason or "invalid_key"] + ".", 401)
    if not keys.grants(access.key.scope, keys.READ):
        msg = (
            f"A key with the {access.key.scope!r} scope cannot open the dashboard: use a read key."
        )
        return _login_page(request, target, msg, 403)
    value, max_age = svc.new_session(access.key)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        sessions.COOKIE,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=is_secure(request),
    )
    return response


@login_router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session: in this browser, and for any copy of its cookie."""
    cookie = request.cookies.get(sessions.COOKIE)
    if cookie:
        await _svc(request).end_session(cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        sessions.COOKIE, path="/", httponly=True, samesite="strict", secure=is_secure(request)
    )
    return response
