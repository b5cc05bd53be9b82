"""Silences: label matchers that mute notifications of matching alerts for a period.

A matcher is written ``label=value``, ``label!=value``, ``label=~regex`` or ``label!~regex``
(regular expressions are anchored, as in Alertmanager). A silence matches an alert when every
matcher matches the alert's labels; a label the alert does not have counts as empty.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

from modeltower.store.alert_types import Silence
from modeltower.timewindow import BadParameter, parse_duration, parse_instant

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
MAX_SILENCE_US = 366 * 86_400_000_000


def parse_matcher(text: str, field: str = "matchers") -> tuple[str, str, str]:
    """``label op value`` from its text form; regular expressions must compile."""
    if not isinstance(text, str):
        raise BadParameter(field, f"a matcher is a string like model=churn, got {text!r}")
    m = _MATCHER.match(text)
    if not m:
        raise BadParameter(
            field, f"expected label=value, label!=value, label=~re or label!~re: {text!r}"
        )
    label, op, value = m.groups()
    value = value.strip('"')
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise BadParameter(field, f"invalid regular expression {value!r}: {exc}") from None
    return label, op, value


def matches(matchers: Iterable[tuple[str, str, str]], labels: dict[str, str]) -> bool:
    """Whether every matcher matches ``labels``."""
    for label, op, value in matchers:
        have = labels.get(label, "")
        if op == "=":
            ok = have == value
        elif op == "!=":
            ok = have != value
        elif op == "=~":
            ok = re.fullmatch(value, have) is not None
        else:
            ok = re.fullmatch(value, have) is None
        if not ok:
            return False
    return True


def active(s: Silence, now_us: int) -> bool:
    return s.starts_us <= now_us < s.ends_us


def silenced(silences: Iterable[Silence], labels: dict[str, str], now_us: int) -> bool:
    """Whether an active silence mutes an alert with these labels."""
    return any(active(s, now_us) and matches(s.matchers, labels) for s in silences)


def silence_status(s: Silence, now_us: int) -> str:
    if now_us < s.starts_us:
        return "pending"
    return "active" if now_us < s.ends_us else "expired"


def parse_silence(obj: Any, now_us: int) -> Silence:
    """A new silence from its API form: ``matchers`` plus ``ends_at`` or ``duration``."""
    if not isinstance(obj, dict):
        raise BadParameter("body", "a silence is a JSON object")
    unknown = sorted(
        set(obj) - {"matchers", "starts_at", "ends_at", "duration", "comment", "created_by"}
    )
    if unknown:
        raise BadParameter(unknown[0], "unknown field")
    raw = obj.get("matchers")
    if isinstance(raw, dict):  # {label: value} is shorthand for equality matchers
        raw = [f"{k}={v}" for k, v in raw.items()]
    if not isinstance(raw, list) or not raw:
        raise BadParameter("matchers", 'name at least one matcher, e.g. ["model=churn"]')
    matchers = tuple(parse_matcher(m, f"matchers[{i}]") for i, m in enumerate(raw))
    starts = _instant(obj.get("starts_at"), "starts_at", now_us)
    if obj.get("ends_at") is not None and obj.get("duration") is not None:
        raise BadParameter("ends_at", "give ends_at or duration, not both")
    if obj.get("duration") is not None:
        if not isinstance(obj["duration"], str):
            raise BadParameter("duration", "a duration such as 2h")
        ends = starts + parse_duration(obj["duration"], "duration")
    elif obj.get("ends_at") is not None:
        ends = _instant(obj["ends_at"], "ends_at", now_us)
    else:
        raise BadParameter("ends_at", "give ends_at or duration")
    if ends <= starts:
        raise BadParameter("ends_at", "must be after starts_at")
    if ends <= now_us:
        raise BadParameter("ends_at", "must be in the future")
    if ends - starts > MAX_SILENCE_US:
        raise BadParameter("ends_at", "a silence lasts at most a year")
    comment = obj.get("comment") or ""
    created_by = obj.get("created_by") or ""
    if not isinstance(comment, str) or not isinstance(created_by, str):
        raise BadParameter("comment", "comment and created_by are strings")
    return Silence(
        id=uuid.uuid4().hex,
        matchers=matchers,
        starts_us=starts,
        ends_us=ends,
        created_us=now_us,
        created_by=created_by[:200],
        comment=comment[:2000],
    )


def _instant(value: Any, field: str, now_us: int) -> int:
    if value is None:
        return now_us
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(value * 1_000_000)
    if not isinstance(value, str):
        raise BadParameter(field, "RFC 3339 time or epoch seconds")
    return parse_instant(value, field)
