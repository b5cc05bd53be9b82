"""The alert state machine: ok → pending → firing → resolved, as pure functions.

Semantics follow Prometheus: a condition that holds makes an instance *pending*; once it has held
for the rule's ``for`` it is *firing*; when it stops holding a pending instance goes back to *ok*
at once, a firing one *resolves* — unless it held less than ``keep_firing_for`` ago, which keeps
it firing through short gaps. An evaluation without data counts as the rule's ``no_data`` says:
``ok`` (the condition does not hold), ``alert`` (it holds) or ``keep`` (nothing changes).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from modeltower.store.alert_types import FIRING, OK, PENDING, RESOLVED, AlertState


@dataclass(frozen=True)
class Observation:
    """One evaluation of a rule instance: ``holds`` is None when there was no data."""

    holds: bool | None
    value: float | None = None
    baseline: float | None = None
    samples: int | None = None
    message: str = ""


@dataclass(frozen=True)
class Timing:
    """The parts of a rule the state machine needs."""

    for_us: int
    keep_firing_for_us: int
    no_data: str  # "ok" | "keep" | "alert"


def initial(
    fingerprint: str, rule: str, model: str, version: str | None, threshold: float, now_us: int
) -> AlertState:
    """A new instance: ok, never notified."""
    return AlertState(
        fingerprint=fingerprint,
        rule=rule,
        model=model,
        version=version,
        state=OK,
        since_us=now_us,
        active_us=None,
        fired_us=None,
        resolved_us=None,
        last_eval_us=now_us,
        last_true_us=None,
        value=None,
        baseline=None,
        threshold=threshold,
        samples=None,
        notified="",
        notified_us=None,
        silenced=False,
    )


def effective(obs: Observation, no_data: str) -> bool | None:
    """Whether the condition counts as holding; None means leave the state as it is."""
    if obs.holds is not None:
        return obs.holds
    return {"ok": False, "alert": True}.get(no_data)


def step(prev: AlertState, obs: Observation, timing: Timing, now_us: int) -> AlertState:
    """The instance after one evaluation at ``now_us`` (the caller records state changes)."""
    s = dataclasses.replace(
        prev,
        last_eval_us=now_us,
        value=obs.value,
        baseline=obs.baseline,
        samples=obs.samples,
        message=obs.message,
    )
    holds = effective(obs, timing.no_data)
    if holds is None:
        return s
    if holds:
        s = dataclasses.replace(s, last_true_us=now_us)
        if s.state in (OK, RESOLVED):
            s = dataclasses.replace(s, state=PENDING, since_us=now_us, active_us=now_us)
        if s.state == PENDING and now_us - (s.active_us or now_us) >= timing.for_us:
            s = dataclasses.replace(s, state=FIRING, since_us=now_us, fired_us=now_us)
        return s
    if s.state == PENDING:
        return dataclasses.replace(s, state=OK, since_us=now_us, active_us=None)
    if s.state == FIRING:
        last_true = s.last_true_us if s.last_true_us is not None else now_us
        if timing.keep_firing_for_us and now_us - last_true < timing.keep_firing_for_us:
            return s
        return dataclasses.replace(
            s, state=RESOLVED, since_us=now_us, resolved_us=now_us, active_us=None
        )
    return s


def resolve(prev: AlertState, now_us: int, message: str) -> AlertState:
    """End an instance whose rule is gone: a firing one resolves, anything else becomes ok."""
    to = RESOLVED if prev.state == FIRING else OK
    return dataclasses.replace(
        prev,
        state=to,
        since_us=now_us if to != prev.state else prev.since_us,
        resolved_us=now_us if to == RESOLVED else prev.resolved_us,
        active_us=None,
        last_eval_us=now_us,
        message=message,
    )
