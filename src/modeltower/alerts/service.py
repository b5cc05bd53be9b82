"""Alert configuration and state for the API: rules, channels, silences, presets, test sends.

Rules and channels come from two places: the rules file (read-only at run time) and the API
(kept in the store). Names are unique across both; a file rule cannot be changed over the API.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from modeltower.alerts.channels import Channel, ChannelError, parse_channel
from modeltower.alerts.channels.address import AddressPolicy
from modeltower.alerts.evaluator import AlertEvaluator
from modeltower.alerts.presets import PRESETS, preset_rule
from modeltower.alerts.rules import Rule, RuleError, parse_rule
from modeltower.alerts.rules_file import RulesFile
from modeltower.alerts.silences import parse_silence
from modeltower.ingest.writer import Writer
from modeltower.services.queries import QueryService
from modeltower.store.alert_types import (
    NOTIFY_PENDING,
    ApplyEvaluation,
    DeleteAlertRule,
    DeleteChannel,
    NewNotification,
    Notification,
    PutAlertRule,
    PutChannel,
    PutSilence,
    Silence,
)
from modeltower.store.base import Store
from modeltower.timewindow import BadParameter, iso

log = logging.getLogger("modeltower.alerts")


class Conflict(Exception):
    """The request clashes with what exists (a name taken, a file rule changed over the API)."""


class NotFound(LookupError):
    """No rule, channel or silence of that name."""


def _now_us() -> int:
    return int(time.time() * 1_000_000)


class AlertService:
    """What the alert endpoints call."""

    def __init__(
        self,
        store: Store,
        writer: Writer,
        queries: QueryService,
        file: RulesFile,
        *,
        base_url: str,
        clock: Callable[[], float] = time.time,
        address_policy: AddressPolicy | None = None,
    ) -> None:
        self.store = store
        self.writer = writer
        self.queries = queries
        self.file = file
        self.base_url = base_url
        self._clock = clock
        self.address_policy = address_policy  # forbid_private_webhooks
        self._file_rules = {r.name: r for r in file.rules}
        self._file_channels = {n: parse_channel(n, c) for n, c in file.channels.items()}
        self._api_rules: dict[str, Rule] = {}
        self._api_channels: dict[str, Channel] = {}
        self.evaluator: AlertEvaluator | None = None
        self.wake_delivery: Callable[[], None] = lambda: None
        self.reload()

    def now_us(self) -> int:
        return int(self._clock() * 1_000_000)

    def reload(self) -> None:
        """Read the API rules and channels from the store (after start and every change)."""
        rules: dict[str, Rule] = {}
        for stored in self.store.alert_rules():
            try:
                rules[stored.name] = parse_rule(stored.spec)
            except RuleError as exc:  # written by an older release that accepted more
                log.error("stored alert rule %r is invalid and is skipped: %s", stored.name, exc)
        channels: dict[str, Channel] = {}
        for chan in self.store.channels():
            try:
                channels[chan.name] = parse_channel(chan.name, chan.config)
            except ChannelError as exc:
                log.error("stored channel %r is invalid and is skipped: %s", chan.name, exc)
        self._api_rules, self._api_channels = rules, channels

    # ---- rules -------------------------------------------------------------------------------
    def rules(self) -> list[Rule]:
        return [*self._file_rules.values(), *self._api_rules.values()]

    def source(self, name: str) -> str:
        return "file" if name in self._file_rules else "api"

    def rule(self, name: str) -> Rule:
        found = self._file_rules.get(name) or self._api_rules.get(name)
        if found is None:
            raise NotFound(f"no alert rule named {name!r}")
        return found

    def validate(self, spec: Any) -> Rule:
        return parse_rule(spec, channels=set(self.channels()))

    async def put_rule(
        self, spec: Any, *, create_only: bool = False, name: str | None = None
    ) -> Rule:
        """Create (or with ``create_only`` False, replace) an API rule."""
        if name is not None and isinstance(spec, dict):
            if spec.get("name", name) != name:
                raise BadParameter("name", f"the body names {spec.get('name')!r}, the URL {name!r}")
            spec = {**spec, "name": name}
        rule = self.validate(spec)
        if rule.name in self._file_rules:
            raise Conflict(
                f"rule {rule.name!r} is defined in the rules file; edit the file instead"
            )
        if create_only and rule.name in self._api_rules:
            raise Conflict(
                f"a rule named {rule.name!r} exists; PUT /v1/alerts/rules/{rule.name} replaces it"
            )
        await self.writer.write(PutAlertRule(rule.name, rule.spec(), self.now_us()))
        self._api_rules[rule.name] = rule
        return rule

    async def delete_rule(self, name: str) -> None:
        if name in self._file_rules:
            raise Conflict(f"rule {name!r} is defined in the rules file; edit the file instead")
        rule = self._api_rules.get(name)
        if rule is None:
            raise NotFound(f"no alert rule named {name!r}")
        if self.evaluator is not None:
            # Its firing alerts resolve (and say so) before the rule is gone.
            op, result = await asyncio.to_thread(self.evaluator.retire_op, rule, self.now_us())
            await self.writer.write(op)
            if result.notifications:
                self.wake_delivery()
        await self.writer.write(DeleteAlertRule(name))
        self._api_rules.pop(name, None)

    async def enable_presets(
        self, model: str, names: list[str] | None, channels: list[str]
    ) -> list[Rule]:
        info = self.queries.model(model)
        wanted = names or list(PRESETS)
        unknown = [n for n in wanted if n not in PRESETS]
        if unknown:
            raise BadParameter("presets", f"unknown preset(s) {unknown}; known: {list(PRESETS)}")
        ref = self.store.reference(model)
        out = []
        for name in wanted:
            preset = PRESETS[name]
            if not preset.applies(info):
                if names:  # asked for by name: say why not
                    raise BadParameter(
                        "presets",
                        f"{name!r} needs a model with a task (classification or regression)",
                    )
                continue
            out.append(await self.put_rule(preset_rule(preset, info, ref, channels)))
        return out

    # ---- channels ----------------------------------------------------------------------------
    def channels(self) -> dict[str, Channel]:
        return {**self._file_channels, **self._api_channels}

    def channel(self, name: str) -> Channel:
        found = self.channels().get(name)
        if found is None:
            raise NotFound(f"no channel named {name!r}")
        return found

    async def put_channel(self, name: str, config: Any) -> Channel:
        if name in self._file_channels:
            raise Conflict(f"channel {name!r} is defined in the rules file; edit the file instead")
        if not isinstance(config, dict):
            raise BadParameter("body", "a channel is a JSON object with a type")
        try:
            channel = parse_channel(name, config)
            if self.address_policy is not None:
                await asyncio.to_thread(self.address_policy.check, channel)
        except ChannelError as exc:
            raise BadParameter(exc.field, exc.reason) from None
        await self.writer.write(PutChannel(name, channel.kind, config, self.now_us()))
        self._api_channels[name] = channel
        return channel

    async def delete_channel(self, name: str) -> None:
        if name in self._file_channels:
            raise Conflict(f"channel {name!r} is defined in the rules file; edit the file instead")
        if name not in self._api_channels:
            raise NotFound(f"no channel named {name!r}")
        users = [r.name for r in self.rules() if name in r.channels]
        if users:
            raise Conflict(f"channel {name!r} is used by rule(s) {users}; change them first")
        await self.writer.write(DeleteChannel(name))
        self._api_channels.pop(name, None)

    async def test_channel(self, name: str, wait_s: float = 20.0) -> Notification:
        """Queue a test notification for ``name`` and wait for its first attempt's outcome."""
        self.channel(name)
        now = self.now_us()
        body = {
            "kind": "test",
            "status": "firing",
            "fingerprint": f"test-{name}",
            "rule": "modeltower-test",
            "model": "modeltower",
            "version": None,
            "severity": "info",
            "labels": {"alertname": "modeltower-test", "severity": "info"},
            "metric": "count",
            "feature": None,
            "window": "0s",
            "value": None,
            "baseline": None,
            "threshold": 0.0,
            "op": ">",
            "change": None,
            "summary": f"Test notification from modeltower to channel {name!r}",
            "description": "Sent by `modeltower alerts test`; nothing needs doing.",
            "at": iso(now),
            "starts_at": None,
            "fired_at": None,
            "resolved_at": None,
            "dashboard_url": self.base_url + "/",
            "alerts_url": self.base_url + "/v1/alerts",
        }
        ids = await self.writer.write(
            ApplyEvaluation(
                notifications=(
                    NewNotification(
                        f"test-{name}-{now}", "modeltower-test", name, "test", body, now
                    ),
                )
            )
        )
        self.wake_delivery()
        deadline = time.monotonic() + wait_s
        while True:
            n = await asyncio.to_thread(self.store.notification, ids[0])
            assert n is not None
            if n.status != NOTIFY_PENDING or n.attempts > 0 or time.monotonic() > deadline:
                return n
            await asyncio.sleep(0.05)

    # ---- silences ----------------------------------------------------------------------------
    async def create_silence(self, body: Any) -> Silence:
        silence = parse_silence(body, self.now_us())
        await self.writer.write(PutSilence(silence))
        return silence

    async def expire_silence(self, silence_id: str) -> Silence:
        found = next((s for s in self.store.silences() if s.id == silence_id), None)
        if found is None:
            raise NotFound(f"no silence with id {silence_id!r}")
        now = self.now_us()
        if found.ends_us > now:
            found = Silence(
                found.id,
                found.matchers,
                min(found.starts_us, now),
                now,
                found.created_us,
                found.created_by,
                found.comment,
            )
            await self.writer.write(PutSilence(found))
        return found
