"""Rule validation: every refusal names the field and says why; valid rules round-trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modeltower.alerts.rules import DEFAULT_MIN_SAMPLES, RuleError, parse_rule
from modeltower.alerts.rules_file import load_rules_file, parse_rules_document

BASE: dict[str, Any] = {
    "name": "acc",
    "model": "churn",
    "metric": "accuracy",
    "window": "15m",
    "op": "<",
    "threshold": 0.8,
}


def rule(**changes: Any) -> dict[str, Any]:
    out = {**BASE, **changes}
    return {k: v for k, v in out.items() if v is not None}


def test_minimal_rule_gets_defaults() -> None:
    r = parse_rule(rule())
    assert r.model == "churn" and r.window_us == 15 * 60_000_000
    assert r.for_us == 0 and r.keep_firing_for_us == 0
    assert r.min_samples == DEFAULT_MIN_SAMPLES
    assert r.no_data == "keep" and r.severity == "warning" and r.send_resolved
    assert r.baseline is None and r.change is None


def test_spec_round_trips() -> None:
    full = rule(
        per_version=True,
        group="treatment",
        tags={"region": "eu"},
        baseline={"source": "trailing", "window": "7d"},
        change="relative",
        **{"for": "10m", "keep_firing_for": "5m"},
        min_samples=200,
        no_data="alert",
        severity="critical",
        labels={"team": "growth"},
        repeat_interval="1h",
        send_resolved=False,
        description="acc & co <b>",
    )
    r = parse_rule(full)
    assert parse_rule(r.spec()) == r
    assert r.baseline is not None and r.baseline.window_us == 7 * 86_400_000_000
    assert r.for_us == 600_000_000 and r.keep_firing_for_us == 300_000_000
    assert r.repeat_us == 3_600_000_000 and r.tags == (("region", "eu"),)


def test_counts_have_no_min_samples_by_default() -> None:
    assert parse_rule(rule(metric="count", op="<", threshold=1)).min_samples == 0


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"name": None}, "name", "required"),
        ({"name": "has space"}, "name", "letters"),
        ({"metric": "acuracy"}, "metric", "unknown metric 'acuracy'"),
        ({"window": "soon"}, "window", "duration"),
        ({"window": None}, "window", "required"),
        ({"op": "=="}, "op", "must be one of"),
        ({"threshold": "high"}, "threshold", "finite number"),
        ({"threshold": float("nan")}, "threshold", "finite number"),
        ({"threshold": True}, "threshold", "finite number"),
        ({"for": "-5m"}, "for", "duration"),
        ({"min_samples": -1}, "min_samples", "≥ 0"),
        ({"severity": "page"}, "severity", "must be one of"),
        ({"no_data": "ignore"}, "no_data", "must be one of"),
        ({"frequency": "1m"}, "frequency", "unknown field"),
        ({"change": "absolute"}, "change", "only applies with a baseline"),
        ({"baseline": {"source": "yesterday"}}, "baseline.source", "must be one of"),
        ({"baseline": {"source": "trailing"}}, "baseline.window", "required"),
        ({"baseline": {"source": "reference", "window": "1d"}}, "baseline.window", "reference"),
        ({"metric": "drift_score"}, "feature", "needs the feature"),
        ({"feature": "age"}, "feature", "does not take a feature"),
        (
            {"metric": "drift_share", "baseline": {"source": "reference"}},
            "baseline",
            "already measured against the reference",
        ),
        ({"version": "v2", "per_version": True}, "per_version", "fixed version"),
        ({"labels": {"bad key": "x"}}, "labels.bad key", "names are"),
        ({"channels": "slack"}, "channels", "list of channel names"),
        ({"channels": ["a", "a"]}, "channels", "twice"),
    ],
)
def test_invalid_rules_name_field_and_reason(
    changes: dict[str, Any], field: str, reason: str
) -> None:
    spec = {**BASE, **changes}
    spec = {k: v for k, v in spec.items() if v is not None}
    with pytest.raises(RuleError) as info:
        parse_rule(spec)
    assert info.value.field == field
    assert reason in info.value.reason


def test_unknown_channel_is_refused_when_channels_are_known() -> None:
    with pytest.raises(RuleError) as info:
        parse_rule(rule(channels=["pager"]), channels={"slack"})
    assert info.value.field == "channels" and "pager" in info.value.reason


def test_rules_file_with_env_secrets(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        """
channels:
  team-slack:
    type: slack
    url: ${SLACK_URL}
rules:
  - name: churn-accuracy
    model: churn
    metric: accuracy
    window: 1h
    op: "<"
    threshold: 0.8
    for: 10m
    channels: [team-slack]
""",
        encoding="utf-8",
    )
    parsed = load_rules_file(str(path), env={"SLACK_URL": "https://hooks.slack.com/services/T/B/x"})
    assert parsed.channels["team-slack"]["url"] == "https://hooks.slack.com/services/T/B/x"
    assert [r.name for r in parsed.rules] == ["churn-accuracy"]
    with pytest.raises(RuleError) as info:
        load_rules_file(str(path), env={})
    assert info.value.field == "channels.team-slack.url" and "SLACK_URL" in info.value.reason


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"rules": [BASE, BASE]}, "rules[1].name"),
        ({"rules": [{**BASE, "window": "x"}]}, "rules[0].window"),
        ({"rules": [{**BASE, "channels": ["nope"]}]}, "rules[0].channels"),
        ({"alerts": []}, "alerts"),
        ({"channels": {"s": {"type": "carrier-pigeon"}}}, "channels.s.type"),
        ([BASE], "file"),
    ],
)
def test_rules_file_errors_point_at_the_rule(doc: Any, field: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_rules_document(doc, env={})
    assert info.value.field == field


def test_broken_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules: [ {name: x", encoding="utf-8")
    with pytest.raises(RuleError) as info:
        load_rules_file(str(path))
    assert "not valid YAML" in info.value.reason


def test_preset_names_are_valid_rule_names_for_any_model() -> None:
    from modeltower.alerts.presets import preset_rule_name

    assert preset_rule_name("churn-classifier", "no_data") == "churn-classifier:no_data"
    names = {preset_rule_name(m, "no_data") for m in ("a b", "a/b", "ünï", "x" * 300, "<>")}
    assert len(names) == 5
    for name in names:
        assert parse_rule({**BASE, "name": name}).name == name
