"""The state machine (ok → pending → firing → resolved), notification decisions and silences."""

from __future__ import annotations

import pytest

from modeltower.alerts import notify, state
from modeltower.alerts.rules import parse_rule
from modeltower.alerts.silences import matches, parse_matcher, parse_silence, silenced
from modeltower.store.alert_types import AlertState
from modeltower.timewindow import BadParameter

S = 1_000_000  # one second in microseconds


def run(
    conditions: list[bool | None],
    *,
    for_s: int = 0,
    keep_s: int = 0,
    no_data: str = "keep",
    step_s: int = 30,
) -> list[str]:
    """The state after each evaluation, evaluations ``step_s`` apart."""
    s = state.initial("fp", "r", "m", None, 0.5, 0)
    timing = state.Timing(for_s * S, keep_s * S, no_data)
    out = []
    for i, holds in enumerate(conditions):
        s = state.step(s, state.Observation(holds, 1.0), timing, (i + 1) * step_s * S)
        out.append(s.state)
    return out


def test_fires_immediately_without_for() -> None:
    assert run([False, True, True, False, False]) == [
        "ok",
        "firing",
        "firing",
        "resolved",
        "resolved",
    ]


def test_pending_until_for_has_passed() -> None:
    # for 60 s at 30 s steps: pending at t, still pending at t+30, firing at t+60
    assert run([True, True, True, True], for_s=60) == ["pending", "pending", "firing", "firing"]


def test_pending_that_stops_holding_goes_back_to_ok_without_firing() -> None:
    assert run([True, True, False, True], for_s=60) == ["pending", "pending", "ok", "pending"]


def test_keep_firing_for_bridges_short_gaps() -> None:
    states = run([True, False, False, False, False], keep_s=90)
    # last true at 30 s; still firing at 60 and 90 (< 90 s after), resolved at 120
    assert states == ["firing", "firing", "firing", "resolved", "resolved"]


def test_resolved_goes_pending_again_when_it_holds_again() -> None:
    assert run([True, False, True], for_s=30) == ["pending", "ok", "pending"]
    assert run([True, True, False, True, True], for_s=30) == [
        "pending",
        "firing",
        "resolved",
        "pending",
        "firing",
    ]


@pytest.mark.parametrize(
    ("no_data", "expected"),
    [
        ("keep", ["firing", "firing", "firing"]),
        ("ok", ["firing", "resolved", "resolved"]),
        ("alert", ["firing", "firing", "firing"]),
    ],
)
def test_no_data_outcomes_while_firing(no_data: str, expected: list[str]) -> None:
    assert run([True, None, None], no_data=no_data) == expected


def test_no_data_alert_fires_from_ok_and_keep_does_not() -> None:
    assert run([None, None, None], no_data="alert", for_s=30) == ["pending", "firing", "firing"]
    assert run([None, None, None], no_data="keep") == ["ok", "ok", "ok"]


def test_times_of_each_change_are_kept() -> None:
    s = state.initial("fp", "r", "m", None, 0.5, 0)
    timing = state.Timing(60 * S, 0, "keep")
    s = state.step(s, state.Observation(True), timing, 100 * S)
    assert (s.state, s.active_us, s.since_us) == ("pending", 100 * S, 100 * S)
    s = state.step(s, state.Observation(True), timing, 160 * S)
    assert (s.state, s.fired_us, s.since_us, s.active_us) == ("firing", 160 * S, 160 * S, 100 * S)
    s = state.step(s, state.Observation(False), timing, 190 * S)
    assert (s.state, s.resolved_us, s.since_us) == ("resolved", 190 * S, 190 * S)


RULE = parse_rule(
    {
        "name": "r",
        "metric": "accuracy",
        "window": "1h",
        "op": "<",
        "threshold": 0.8,
        "channels": ["c"],
    }
)


def _with(s: AlertState, **kw: object) -> AlertState:
    import dataclasses

    return dataclasses.replace(s, **kw)


def test_one_notification_per_change_and_reminders() -> None:
    s = _with(state.initial("fp", "r", "m", None, 0.8, 0), state="firing")
    kind, s = notify.decide(s, RULE, False, 10 * S, 3600 * S)
    assert kind == "firing" and s.notified == "firing"
    kind, s = notify.decide(s, RULE, False, 20 * S, 3600 * S)
    assert kind is None  # still firing, told already
    kind, s = notify.decide(s, RULE, False, (10 + 3600) * S, 3600 * S)
    assert kind == "reminder"
    kind, s = notify.decide(_with(s, state="resolved"), RULE, False, 4000 * S, 3600 * S)
    assert kind == "resolved" and s.notified == "resolved"
    kind, s = notify.decide(s, RULE, False, 4100 * S, 3600 * S)
    assert kind is None


def test_silence_defers_and_suppresses() -> None:
    s = _with(state.initial("fp", "r", "m", None, 0.8, 0), state="firing")
    kind, s = notify.decide(s, RULE, True, 10 * S, 0)
    assert kind is None and s.silenced and s.notified == ""
    # silence over, still firing: the firing notification goes out now
    kind, s = notify.decide(s, RULE, False, 20 * S, 0)
    assert kind == "firing"
    # fired and resolved within a silence: nothing at all
    quiet = _with(state.initial("fp2", "r", "m", None, 0.8, 0), state="resolved")
    assert notify.decide(quiet, RULE, False, 30 * S, 0)[0] is None


def test_send_resolved_off() -> None:
    rule = parse_rule({**RULE.spec(), "send_resolved": False})
    s = _with(state.initial("fp", "r", "m", None, 0.8, 0), state="resolved", notified="firing")
    kind, s = notify.decide(s, rule, False, 10 * S, 0)
    assert kind is None and s.notified == "resolved"


def test_matchers() -> None:
    labels = {"alertname": "acc", "model": "churn", "severity": "critical"}
    assert matches([parse_matcher("model=churn")], labels)
    assert not matches([parse_matcher("model!=churn")], labels)
    assert matches([parse_matcher("severity=~crit.*|warning")], labels)
    assert not matches([parse_matcher("severity=~crit")], labels)  # anchored
    assert matches([parse_matcher("version!~.+")], labels)  # missing label is empty
    assert not matches([parse_matcher("model=churn"), parse_matcher("alertname=lat")], labels)
    with pytest.raises(BadParameter):
        parse_matcher("model")
    with pytest.raises(BadParameter):
        parse_matcher("model=~(")


def test_silence_window() -> None:
    s = parse_silence({"matchers": {"model": "churn"}, "duration": "1h"}, now_us=100 * S)
    assert silenced([s], {"model": "churn"}, 100 * S)
    assert silenced([s], {"model": "churn"}, (100 + 3599) * S)
    assert not silenced([s], {"model": "churn"}, (100 + 3600) * S)
    assert not silenced([s], {"model": "fraud"}, 200 * S)
    for bad, field in [
        ({"matchers": []}, "matchers"),
        ({"matchers": ["model=x"]}, "ends_at"),
        ({"matchers": ["model=x"], "ends_at": 50}, "ends_at"),
        ({"matchers": ["model=x"], "duration": "1h", "ends_at": 500}, "ends_at"),
        ({"matchers": ["x"], "duration": "1h"}, "matchers[0]"),
    ]:
        with pytest.raises(BadParameter) as info:
            parse_silence(bad, now_us=100 * S)
        assert info.value.field == field
