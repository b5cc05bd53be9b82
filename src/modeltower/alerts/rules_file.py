"""The rules file given to ``serve --rules``: channels and rules in YAML.

``${NAME}`` in a string is replaced by the environment variable ``NAME`` (so webhook URLs and
routing keys need not be written into the file); a variable that is not set is an error, as is
anything else wrong with the file — the server refuses to start rather than run without alerts.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from modeltower.alerts.rules import Rule, RuleError, parse_rule

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class RulesFile:
    """What a rules file defines."""

    rules: list[Rule] = field(default_factory=list)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)


def _expand(value: Any, where: str, env: dict[str, str]) -> Any:
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in env:
                raise RuleError(where, f"environment variable {name} is not set")
            return env[name]

        return _VAR.sub(sub, value)
    if isinstance(value, list):
        return [_expand(v, f"{where}[{i}]", env) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _expand(v, f"{where}.{k}", env) for k, v in value.items()}
    return value


def parse_rules_document(
    doc: Any, env: dict[str, str] | None = None, extra_channels: set[str] | None = None
) -> RulesFile:
    """Validate a parsed rules document (``{channels: {...}, rules: [...]}``)."""
    from modeltower.alerts.channels import ChannelError, parse_channel

    env = dict(os.environ) if env is None else env
    if doc is None:
        return RulesFile()
    if not isinstance(doc, dict):
        raise RuleError("file", "the rules file is a mapping with `channels` and `rules`")
    unknown = sorted(set(doc) - {"channels", "rules"})
    if unknown:
        raise RuleError(unknown[0], "unknown top-level key; expected channels and rules")
    raw_channels = doc.get("channels") or {}
    if not isinstance(raw_channels, dict):
        raise RuleError("channels", "must be a mapping of channel names to settings")
    channels: dict[str, dict[str, Any]] = {}
    for name, conf in raw_channels.items():
        conf = _expand(conf, f"channels.{name}", env)
        try:
            parse_channel(str(name), conf)
        except ChannelError as exc:
            raise RuleError(f"channels.{name}.{exc.field}", exc.reason) from None
        channels[str(name)] = conf
    raw_rules = doc.get("rules") or []
    if not isinstance(raw_rules, list):
        raise RuleError("rules", "must be a list of rules")
    known = set(channels) | (extra_channels or set())
    rules: list[Rule] = []
    names: set[str] = set()
    for i, raw in enumerate(raw_rules):
        rule = parse_rule(_expand(raw, f"rules[{i}]", env), where=f"rules[{i}].", channels=known)
        if rule.name in names:
            raise RuleError(f"rules[{i}].name", f"a second rule is named {rule.name!r}")
        names.add(rule.name)
        rules.append(rule)
    return RulesFile(rules, channels)


def load_rules_file(path: str, env: dict[str, str] | None = None) -> RulesFile:
    """Read and validate a rules file; errors name the file and the field."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except OSError as exc:
        raise RuleError("rules", f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RuleError("rules", f"{path} is not valid YAML: {exc}") from None
    return parse_rules_document(doc, env)
