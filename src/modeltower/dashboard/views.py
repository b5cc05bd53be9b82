"""Dashboard routes: the overview, a model's page, the seed-compatible ``/dashboard/{model}``.

The handlers render page shells only. Everything a page shows is fetched by its script from the
``/v1`` API, so the dashboard and the API can never disagree about a number.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import plotly
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from modeltower import __version__
from modeltower.services.queries import QueryService

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
STATIC_PREFIX = "/dashboard/static"
#: plotly.js as shipped inside the ``plotly`` wheel: no CDN, works offline.
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"

#: Time-range presets of a model page: (query value, button label).
PRESETS: tuple[tuple[str, str], ...] = (
    ("15m", "15 m"),
    ("1h", "1 h"),
    ("24h", "24 h"),
    ("7d", "7 d"),
    ("30d", "30 d"),
)
_PRESET_BY_HOURS = {1: "1h", 24: "24h", 168: "7d", 720: "30d"}

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_env)

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Thresholds:
    """Status rules for the overview until alerting exists: ``(warning, critical)`` pairs.

    A model is *critical* when any value passes its critical limit, *warning* when any passes
    its warning limit, otherwise *ok*. ``accuracy`` and ``label_coverage`` are lower-is-worse.
    """

    error_rate: tuple[float, float] = (0.02, 0.10)
    latency_p95_ms: tuple[float, float] = (250.0, 1000.0)
    accuracy: tuple[float, float] = (0.80, 0.60)
    mape: tuple[float, float] = (0.15, 0.30)
    stale_minutes: tuple[float, float] = (15.0, 24 * 60.0)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Thresholds:
        """Defaults overridden by ``MODELTOWER_STATUS_<NAME>="warning,critical"``.

        For example ``MODELTOWER_STATUS_LATENCY_P95_MS=300,2000``.
        """
        env = os.environ if environ is None else environ
        values: dict[str, tuple[float, float]] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"MODELTOWER_STATUS_{f.name.upper()}")
            if raw is None:
                continue
            parts = [p.strip() for p in raw.split(",")]
            try:
                warn, crit = (float(p) for p in parts)
            except ValueError:
                raise ValueError(
                    f"MODELTOWER_STATUS_{f.name.upper()} must be 'warning,critical', got {raw!r}"
                ) from None
            values[f.name] = (warn, crit)
        return cls(**values)

    def to_json(self) -> str:
        """The rules as JSON for the overview script."""
        return json.dumps({k: list(v) for k, v in dataclasses.asdict(self).items()})


def _thresholds(request: Request) -> Thresholds:
    found = getattr(request.app.state, "dashboard_thresholds", None)
    return found if isinstance(found, Thresholds) else Thresholds()


def _static(name: str) -> str:
    """URL of a static file, with the package version so upgrades bypass stale caches."""
    return f"{STATIC_PREFIX}/{name}?v={__version__}"


_env.globals["static"] = _static
_env.globals["version"] = __version__


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    ctx = {"base_url": _base_url(request), **context}
    response = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get(f"{STATIC_PREFIX}/plotly.min.js")
def plotly_js() -> FileResponse:
    """plotly.js from the installed ``plotly`` package."""
    return FileResponse(
        PLOTLY_JS,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    """All models, worst first; an empty state that shows how to send the first event."""
    return _render(request, "overview.html", {"thresholds": _thresholds(request).to_json()})


def _model_page(
    request: Request, model: str, window: str, start: str | None, end: str | None
) -> HTMLResponse:
    qs: QueryService = request.app.state.queries
    if qs.store.get_model(model) is None:
        return _render(request, "missing.html", {"model": model}, status_code=404)
    q = request.query_params
    tags = [[k[4:], v] for k, v in q.multi_items() if k.startswith("tag.") and k[4:]]
    state = {
        "window": None if start else window,
        "start": start,
        "end": end,
        "version": q.get("version") or None,
        "group": q.get("group") or None,
        "tags": tags,
        "compare": q.get("compare") in {"1", "true", "on"},
        "rolling": q.get("rolling") if (q.get("rolling") or "").isdigit() else "0",
    }
    presets = list(PRESETS)
    if not start and window not in dict(PRESETS):
        presets.append((window, window))
    return _render(
        request,
        "model.html",
        {"model": model, "state": json.dumps(state), "presets": presets},
    )


@router.get("/models/{model:path}", response_class=HTMLResponse)
def model_page(
    request: Request,
    model: str,
    window: Annotated[str, Query(pattern=r"^\d+(\.\d+)?[smhdw]$", max_length=16)] = "24h",
    start: Annotated[str | None, Query(max_length=64)] = None,
    end: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """One model: time range, version comparison, filters and every chart."""
    return _model_page(request, model, window, start, end)


@router.get("/dashboard/{model_name}", response_class=HTMLResponse)
def seed_dashboard(
    request: Request,
    model_name: str,
    hours: Annotated[int, Query(gt=0, le=24 * 3660)] = 24,
) -> HTMLResponse:
    """The founding interface: the model's page over the last ``hours`` hours."""
    return _model_page(request, model_name, _PRESET_BY_HOURS.get(hours, f"{hours}h"), None, None)
