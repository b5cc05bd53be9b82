"""Alert endpoints: rules, presets, channels, alert states, history, silences, notifications
and delivery attempts (docs/ALERTS_API.md)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, cast

from fastapi import APIRouter, Body, Path, Query, Request, Response

from modeltower.alerts.evaluator import AlertEvaluator
from modeltower.alerts.presets import PRESETS
from modeltower.alerts.service import AlertService
from modeltower.api import present_alerts as pa
from modeltower.api.error_docs import errors
from modeltower.api.params import ModelName, now_us
from modeltower.api.responses import JSON
from modeltower.store.alert_types import ALERT_STATES, HistoryFilter, NotificationFilter
from modeltower.timewindow import BadParameter, parse_instant

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], responses=errors(404, 409, 422))
model_router = APIRouter(prefix="/v1/models", tags=["alerts"], responses=errors(404, 422))

RuleName = Annotated[str, Path(min_length=1, max_length=128, description="rule name")]
ChannelName = Annotated[str, Path(min_length=1, max_length=128, description="channel name")]
LimitQ = Annotated[int, Query(ge=1, le=5000, description="at most this many rows, newest first")]
_RULE_EXAMPLE = {
    "name": "churn-accuracy",
    "model": "churn",
    "metric": "accuracy",
    "window": "1h",
    "op": "<",
    "threshold": 0.8,
    "min_samples": 20,
    "severity": "critical",
}
SpecBody = Annotated[
    dict[str, Any],
    Body(description="the rule, as in the rules file", examples=[_RULE_EXAMPLE]),
]


def _svc(request: Request) -> AlertService:
    return cast(AlertService, request.app.state.alerts)


def _evaluator(request: Request) -> AlertEvaluator:
    return cast(AlertEvaluator, request.app.state.alert_evaluator)


# ---- rules -------------------------------------------------------------------------------------
@router.get("/rules", summary="List alert rules (from the rules file and the API)")
async def list_rules(request: Request) -> JSON:
    svc = _svc(request)
    return JSON({"rules": [pa.rule_json(r, svc.source(r.name)) for r in svc.rules()]})


@router.post("/rules", status_code=201, summary="Create an alert rule", responses=errors(400))
async def create_rule(request: Request, spec: SpecBody) -> JSON:
    rule = await _svc(request).put_rule(spec, create_only=True)
    return JSON(pa.rule_json(rule, "api"), status_code=201)


@router.post("/rules/validate", summary="Check a rule without saving it", responses=errors(400))
async def validate_rule(request: Request, spec: SpecBody) -> JSON:
    return JSON({"valid": True, "rule": pa.rule_json(_svc(request).validate(spec), "api")})


@router.get("/rules/{name}", summary="One alert rule")
async def get_rule(request: Request, name: RuleName) -> JSON:
    svc = _svc(request)
    return JSON(pa.rule_json(svc.rule(name), svc.source(name)))


@router.put("/rules/{name}", summary="Create or replace an alert rule", responses=errors(400))
async def put_rule(request: Request, name: RuleName, spec: SpecBody) -> JSON:
    rule = await _svc(request).put_rule(spec, name=name)
    return JSON(pa.rule_json(rule, "api"))


@router.delete("/rules/{name}", status_code=204, summary="Delete an alert rule")
async def delete_rule(request: Request, name: RuleName) -> Response:
    await _svc(request).delete_rule(name)
    return Response(status_code=204)


@router.get("/presets", summary="Ready-made rules that can be switched on per model")
async def list_presets() -> JSON:
    return JSON(
        {"presets": [{"name": p.name, "description": p.description} for p in PRESETS.values()]}
    )


@model_router.post(
    "/{model}/alerts/presets",
    summary="Switch on ready-made rules for a model",
    responses=errors(400),
)
async def enable_presets(
    request: Request,
    model: ModelName,
    body: Annotated[
        dict[str, Any] | None, Body(description="{presets: [...], channels: [...]}")
    ] = None,
) -> JSON:
    body = body or {}
    names = body.get("presets")
    channels = body.get("channels") or []
    if names is not None and (
        not isinstance(names, list) or not all(isinstance(n, str) for n in names)
    ):
        raise BadParameter("presets", "a list of preset names")
    if not isinstance(channels, list):
        raise BadParameter("channels", "a list of channel names")
    rules = await _svc(request).enable_presets(model, names, channels)
    return JSON({"rules": [pa.rule_json(r, "api") for r in rules]})


# ---- channels ----------------------------------------------------------------------------------
@router.get("/channels", summary="List notification channels (secrets masked)")
async def list_channels(request: Request) -> JSON:
    svc = _svc(request)
    file = set(svc.file.channels)
    return JSON(
        {
            "channels": [
                pa.channel_json(c, "file" if n in file else "api")
                for n, c in sorted(svc.channels().items())
            ]
        }
    )


@router.put("/channels/{name}", summary="Create or replace a channel", responses=errors(400))
async def put_channel(
    request: Request,
    name: ChannelName,
    config: Annotated[dict[str, Any], Body(description="{type: slack|pagerduty|webhook, ...}")],
) -> JSON:
    channel = await _svc(request).put_channel(name, config)
    return JSON(pa.channel_json(channel, "api"))


@router.delete("/channels/{name}", status_code=204, summary="Delete a channel")
async def delete_channel(request: Request, name: ChannelName) -> Response:
    await _svc(request).delete_channel(name)
    return Response(status_code=204)


@router.post("/channels/{name}/test", summary="Send a test notification and report the outcome")
async def test_channel(request: Request, name: ChannelName) -> JSON:
    svc = _svc(request)
    n = await svc.test_channel(name)
    attempts = await asyncio.to_thread(svc.store.deliveries, NotificationFilter(limit=50))
    mine = [pa.delivery_json(d) for d in attempts if d.notification_id == n.id]
    return JSON({"notification": pa.notification_json(n), "attempts": mine})


# ---- alert states, history, evaluation ---------------------------------------------------------
@router.get("", summary="Current alert instances (firing first)")
async def list_alerts(
    request: Request,
    state: Annotated[
        str | None, Query(description="only this state: " + ", ".join(ALERT_STATES))
    ] = None,
    model: Annotated[str | None, Query(max_length=256)] = None,
    rule: Annotated[str | None, Query(max_length=128)] = None,
) -> JSON:
    if state is not None and state not in ALERT_STATES:
        raise BadParameter("state", f"one of {list(ALERT_STATES)}")
    svc = _svc(request)
    rules = {r.name: r for r in svc.rules()}
    states = await asyncio.to_thread(svc.store.alert_states)
    order = {"firing": 0, "pending": 1, "resolved": 2, "ok": 3}
    sev = {"critical": 0, "warning": 1, "info": 2}
    picked = [
        s
        for s in states
        if (state is None or s.state == state)
        and (model is None or s.model == model)
        and (rule is None or s.rule == rule)
    ]
    picked.sort(
        key=lambda s: (order[s.state], sev.get(s.labels.get("severity", ""), 3), -s.since_us)
    )
    ev = _evaluator(request)
    return JSON(
        {
            "alerts": [pa.state_json(s, rules.get(s.rule)) for s in picked],
            "counts": {
                k: sum(s.state == k for s in states if model is None or s.model == model)
                for k in ALERT_STATES
            },
            # this process's last run, or (another process evaluates) the newest stored one
            "evaluated_at": pa.when(
                ev.last_run_us or max((s.last_eval_us for s in states), default=None)
            ),
            "interval_s": ev.interval_s,
        }
    )


@router.get("/history", summary="State changes of alert instances, newest first")
async def history(
    request: Request,
    model: Annotated[str | None, Query(max_length=256)] = None,
    rule: Annotated[str | None, Query(max_length=128)] = None,
    fingerprint: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(description="RFC 3339 or epoch seconds")] = None,
    until: Annotated[str | None, Query(description="RFC 3339 or epoch seconds")] = None,
    limit: LimitQ = 500,
) -> JSON:
    flt = HistoryFilter(
        model=model,
        rule=rule,
        fingerprint=fingerprint,
        since_us=None if since is None else parse_instant(since, "since"),
        until_us=None if until is None else parse_instant(until, "until"),
        limit=limit,
    )
    rows = await asyncio.to_thread(_svc(request).store.alert_history, flt)
    return JSON({"history": [pa.transition_json(t) for t in rows]})


@router.post("/evaluate", summary="Evaluate every rule now (instead of waiting for the interval)")
async def evaluate(request: Request) -> JSON:
    result = await _evaluator(request).run_once()
    return JSON(
        {
            "at": pa.when(result.at_us),
            "instances": result.instances,
            "transitions": [pa.transition_json(t) for t in result.transitions],
            "notifications": len(result.notifications),
            "errors": result.errors,
        }
    )


# ---- silences ----------------------------------------------------------------------------------
@router.get("/silences", summary="Silences: active, pending and expired")
async def list_silences(request: Request) -> JSON:
    rows = await asyncio.to_thread(_svc(request).store.silences)
    now = now_us()
    return JSON({"silences": [pa.silence_json(s, now) for s in rows]})


@router.post(
    "/silences", status_code=201, summary="Mute matching alerts for a period", responses=errors(400)
)
async def create_silence(
    request: Request,
    body: Annotated[
        dict[str, Any],
        Body(
            description="{matchers: [...], duration | ends_at, comment}",
            examples=[{"matchers": ["model=churn"], "duration": "2h", "comment": "deploy"}],
        ),
    ],
) -> JSON:
    s = await _svc(request).create_silence(body)
    return JSON(pa.silence_json(s, now_us()), status_code=201)


@router.delete("/silences/{silence_id}", summary="Expire a silence now")
async def expire_silence(
    request: Request, silence_id: Annotated[str, Path(min_length=1, max_length=64)]
) -> JSON:
    s = await _svc(request).expire_silence(silence_id)
    return JSON(pa.silence_json(s, now_us()))


# ---- notifications -----------------------------------------------------------------------------
@router.get("/notifications", summary="The notification outbox: pending, delivered and failed")
async def notifications(
    request: Request,
    channel: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[str | None, Query(description="pending, delivered or failed")] = None,
    fingerprint: Annotated[str | None, Query(max_length=64)] = None,
    limit: LimitQ = 500,
) -> JSON:
    if status is not None and status not in ("pending", "delivered", "failed"):
        raise BadParameter("status", "one of pending, delivered, failed")
    flt = NotificationFilter(channel=channel, fingerprint=fingerprint, status=status, limit=limit)
    rows = await asyncio.to_thread(_svc(request).store.notifications, flt)
    return JSON({"notifications": [pa.notification_json(n) for n in rows]})


@router.get("/deliveries", summary="Every delivery attempt, newest first")
async def deliveries(
    request: Request,
    channel: Annotated[str | None, Query(max_length=128)] = None,
    fingerprint: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Annotated[str | None, Query(description="delivered, retry or failed")] = None,
    limit: LimitQ = 500,
) -> JSON:
    if outcome is not None and outcome not in ("delivered", "retry", "failed"):
        raise BadParameter("outcome", "one of delivered, retry, failed")
    flt = NotificationFilter(channel=channel, fingerprint=fingerprint, status=outcome, limit=limit)
    rows = await asyncio.to_thread(_svc(request).store.deliveries, flt)
    return JSON({"deliveries": [pa.delivery_json(d) for d in rows]})
