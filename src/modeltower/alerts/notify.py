"""Which notification an alert instance needs, and the payload every channel renders from.

An instance remembers the state its channels were last told about (``notified``). After each
evaluation the difference between its state and ``notified`` decides: firing and not yet told →
a firing notification; still firing and told longer than the repeat interval ago → a reminder;
no longer firing but told it was → a resolved notification. While a silence mutes the instance
nothing is sent and ``notified`` stays, so the difference is sent when the silence ends: an
alert that fired and resolved inside a silence sends nothing, one still firing sends its firing
notification then.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any
from urllib.parse import quote

from modeltower.alerts.rules import Rule
from modeltower.store.alert_types import FIRING, RESOLVED, AlertState
from modeltower.timewindow import iso


def decide(
    s: AlertState, rule: Rule, muted: bool, now_us: int, default_repeat_us: int
) -> tuple[str | None, AlertState]:
    """The notification kind to send now (or None) and the instance with ``notified`` updated."""
    s = dataclasses.replace(s, silenced=muted)
    if muted:
        return None, s
    if s.state == FIRING:
        if s.notified != FIRING:
            return "firing", dataclasses.replace(s, notified=FIRING, notified_us=now_us)
        repeat = rule.repeat_us if rule.repeat_us is not None else default_repeat_us
        if repeat and s.notified_us is not None and now_us - s.notified_us >= repeat:
            return "reminder", dataclasses.replace(s, notified_us=now_us)
        return None, s
    if s.notified == FIRING:
        s = dataclasses.replace(s, notified=RESOLVED, notified_us=now_us)
        return ("resolved" if rule.send_resolved else None), s
    return None, s


def alert_labels(rule: Rule, model: str, version: str | None) -> dict[str, str]:
    """The labels of an instance: what silences match and channels show."""
    labels = {
        "alertname": rule.name,
        "model": model,
        "severity": rule.severity,
        "metric": rule.metric,
    }
    if version is not None:
        labels["version"] = version
    if rule.feature is not None:
        labels["feature"] = rule.feature
    return {**labels, **rule.labels}


def fmt(x: float | None) -> str:
    """A number as people read it: integers whole, large values with separators, 4 digits."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}" if abs(x) >= 10_000 else str(int(x))
    if abs(x) >= 10_000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def summary(rule: Rule, s: AlertState) -> str:
    """One line: what was measured, its value (and baseline), and when the rule fires."""
    what = rule.metric + (f"[{rule.feature}]" if rule.feature else "")
    who = s.model + (f" ({s.version})" if s.version else "")
    head = f"{what} of {who} over {rule.window}"
    if rule.baseline is not None:
        base = (
            "reference"
            if rule.baseline.source == "reference"
            else f"previous {rule.baseline.window}"
        )
        when = f"{rule.change} change vs {base} {rule.op} {fmt(rule.threshold)}"
    else:
        when = f"{rule.op} {fmt(rule.threshold)}"
    if s.value is None:
        why = f": no data ({s.message})" if s.message else ": no data"
        return f"{head}{why}"
    text = f"{head}: {fmt(s.value)}"
    if rule.baseline is not None and s.baseline is not None:
        text += f" vs {fmt(s.baseline)}"
    return f"{text} (alert when {when})"


def payload(rule: Rule, s: AlertState, kind: str, now_us: int, base_url: str) -> dict[str, Any]:
    """What the outbox keeps for one notification (channels render it at delivery time)."""
    model_url = f"{base_url}/models/{quote(s.model, safe='')}"
    return {
        "kind": kind,
        "status": FIRING if kind in ("firing", "reminder", "test") else RESOLVED,
        "fingerprint": s.fingerprint,
        "rule": rule.name,
        "model": s.model,
        "version": s.version,
        "severity": rule.severity,
        "labels": s.labels,
        "metric": rule.metric,
        "feature": rule.feature,
        "window": rule.window,
        "value": s.value,
        "baseline": s.baseline,
        "threshold": rule.threshold,
        "op": rule.op,
        "change": rule.change,
        "summary": summary(rule, s),
        "description": rule.description,
        "at": iso(now_us),
        "starts_at": None if s.active_us is None else iso(s.active_us),
        "fired_at": None if s.fired_us is None else iso(s.fired_us),
        "resolved_at": None if s.resolved_us is None or kind != "resolved" else iso(s.resolved_us),
        "dashboard_url": model_url,
        "alerts_url": f"{base_url}/v1/alerts?model={quote(s.model, safe='')}",
    }
