"""The evaluation loop: every interval, every rule on every model (and version) it covers.

One run reads the instances' states, measures each rule (alerts/measure.py), steps the state
machine (alerts/state.py), decides notifications (alerts/notify.py) and writes the new states,
their history rows and the outbox entries in one transaction — a crash never leaves a state
change without its notification, or the other way round.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import orjson

from modeltower.alerts import notify, state
from modeltower.alerts.measure import BaselineCache, Measurer
from modeltower.alerts.rules import ALL_MODELS, Rule, metric_source
from modeltower.alerts.silences import silenced
from modeltower.jobs.periodic import every
from modeltower.services.drift import DriftService
from modeltower.services.quality import QualityService
from modeltower.services.queries import Filters, QueryService
from modeltower.store.alert_types import (
    AlertState,
    AlertTransition,
    ApplyEvaluation,
    NewNotification,
)
from modeltower.store.base import Store
from modeltower.timewindow import Window

log = logging.getLogger("modeltower.alerts")

# How long a per-version alert of a version that stopped sending events is kept.
QUIET_VERSION_KEPT_US = 24 * 3_600_000_000


def fingerprint(rule: str, model: str, version: str | None) -> str:
    """A stable id of an alert instance (PagerDuty's dedup_key, the webhook's alert id)."""
    key = orjson.dumps([rule, model, version or ""])
    return hashlib.sha256(key).hexdigest()[:20]


@dataclass
class RunResult:
    """What one evaluation run did."""

    at_us: int
    instances: int = 0
    transitions: list[AlertTransition] = field(default_factory=list)
    notifications: list[NewNotification] = field(default_factory=list)
    errors: int = 0


class AlertEvaluator:
    """Evaluates the rules of ``rules()`` every ``interval_s``."""

    def __init__(
        self,
        store: Store,
        queries: QueryService,
        drift: DriftService,
        quality: QualityService,
        write: Callable[[ApplyEvaluation], object],
        rules: Callable[[], list[Rule]],
        *,
        interval_s: float,
        repeat_interval_s: float,
        base_url: str,
        clock: Callable[[], float] = time.time,
        on_notify: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.queries = queries
        self.drift = drift
        self.quality = quality
        self._write = write  # an async writer call: ``writer.write``
        self._rules = rules
        self.interval_s = interval_s
        self.repeat_us = int(repeat_interval_s * 1_000_000)
        self.base_url = base_url
        self._clock = clock
        self._on_notify = on_notify
        self.runs = 0
        self.failures = 0
        self.last_run_us: int | None = None
        self.task: asyncio.Task[None] | None = None
        self.leader: Callable[[], bool] | None = None  # see Store.is_leader
        # Called before each run: rules changed by another process become visible.
        self.refresh: Callable[[], None] | None = None
        self._lock = asyncio.Lock()
        self.baselines = BaselineCache()
        # Queries of one run go to two threads: DuckDB releases the GIL, the machine has cores.
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="modeltower-alerts")

    # ---- one run (blocking part) -------------------------------------------------------------
    def _instances(
        self,
        rule: Rule,
        models: dict[str, dict[str, int]],
        known: list[AlertState],
        now_us: int,
    ) -> list[tuple[str, str | None]]:
        """(model, version) pairs a rule covers now: its model (or every model) and, per
        version, each version seen within the rule's window; an instance a version already has
        stays while the version was seen in the last day (so "no data" can be noticed) and while
        it is pending or firing (so it resolves), and is dropped after that, so retired versions
        do not keep alerts forever."""
        names = list(models) if rule.model == ALL_MODELS else [rule.model]
        keep_us = max(rule.window_us, QUIET_VERSION_KEPT_US)
        out: list[tuple[str, str | None]] = []
        for name in names:
            if not rule.per_version:
                out.append((name, rule.version))
                continue
            seen = models.get(name, {})
            versions = {v for v, last in seen.items() if last >= now_us - rule.window_us}
            for s in known:
                if s.model != name or s.version is None:
                    continue
                recent = seen.get(s.version, 0) >= now_us - keep_us
                if recent or s.state in ("pending", "firing") or s.notified == "firing":
                    versions.add(s.version)
            out.extend((name, v) for v in sorted(versions))
        return out

    def _versions(self, per_version: bool) -> dict[str, dict[str, int]]:
        """Every model, with each version's last event time when a rule needs them."""
        out: dict[str, dict[str, int]] = {}
        for name in self.store.model_names():
            info = self.store.get_model(name) if per_version else None
            out[name] = {
                v["version"]: v["last_seen_us"]
                for v in (info.versions if info is not None else [])
                if v["version"] is not None and v["last_seen_us"] is not None
            }
        return out

    def compute(self, now_us: int) -> tuple[ApplyEvaluation, RunResult]:
        """Evaluate every rule at ``now_us``; return the write and a summary of the run."""
        result = RunResult(now_us)
        rules = [r for r in self._rules() if r.enabled]
        by_fp = {s.fingerprint: s for s in self.store.alert_states()}
        silences = self.store.silences()
        models = self._versions(any(r.per_version for r in rules))
        measurer = Measurer(self.store, self.queries, self.drift, self.quality, self.baselines)
        measurer.wanted = {"count", "labeled_count"} | {
            r.metric for r in rules if metric_source(r.metric) == "window"
        }
        plan = [
            (rule, model, version)
            for rule in rules
            for model, version in self._instances(
                rule, models, [s for s in by_fp.values() if s.rule == rule.name], now_us
            )
        ]
        measurer.prefetch(
            [
                (r, m, Window(now_us - r.window_us, now_us), Filters(v, r.group, r.tags))
                for r, m, v in plan
            ],
            self._pool,
        )
        states: list[AlertState] = []
        seen: set[str] = set()
        for rule, model, version in plan:
            fp = fingerprint(rule.name, model, version)
            if fp in seen:
                continue
            seen.add(fp)
            result.instances += 1
            prev = by_fp.get(fp) or state.initial(
                fp, rule.name, model, version, rule.threshold, now_us
            )
            try:
                obs = measurer.observe(rule, model, version, now_us)
            except Exception as exc:  # one broken instance must not stop the others
                result.errors += 1
                log.error("alert rule %r on %r failed: %s", rule.name, model, exc, exc_info=exc)
                obs = state.Observation(None, message=f"evaluation failed: {exc}")
            timing = state.Timing(rule.for_us, rule.keep_firing_for_us, rule.no_data)
            labels = notify.alert_labels(rule, model, version)
            new = state.step(prev, obs, timing, now_us)
            new = dataclasses.replace(new, labels=labels, threshold=rule.threshold)
            muted = silenced(silences, labels, now_us)
            self._finish(rule, prev, new, muted, now_us, states, result)
        # Instances whose rule was disabled or removed from the rules file end now.
        rules_by_name = {r.name: r for r in self._rules()}
        drop = [fp for fp in by_fp if fp not in seen]
        for fp in drop:
            prev = by_fp[fp]
            rule = rules_by_name.get(prev.rule) or _rule_from_state(prev)
            self._retire(rule, prev, now_us, result)
        op = ApplyEvaluation(
            states=tuple(states),
            transitions=tuple(result.transitions),
            notifications=tuple(result.notifications),
            drop=tuple(drop),
        )
        return op, result

    def _retire(self, rule: Rule, prev: AlertState, now_us: int, result: RunResult) -> None:
        if prev.notified == "firing" or prev.state in ("firing", "pending"):
            new = state.resolve(prev, now_us, f"the rule {rule.name!r} was deleted or disabled")
            self._finish(rule, prev, new, False, now_us, [], result)

    def retire_op(self, rule: Rule, now_us: int) -> tuple[ApplyEvaluation, RunResult]:
        """End every instance of ``rule`` (about to be deleted): firing ones resolve and notify
        the rule's channels, then the instances are forgotten."""
        result = RunResult(now_us)
        known = [s for s in self.store.alert_states() if s.rule == rule.name]
        for prev in known:
            self._retire(rule, prev, now_us, result)
        op = ApplyEvaluation(
            transitions=tuple(result.transitions),
            notifications=tuple(result.notifications),
            drop=tuple(s.fingerprint for s in known),
        )
        return op, result

    def _finish(
        self,
        rule: Rule,
        prev: AlertState,
        new: AlertState,
        muted: bool,
        now_us: int,
        states: list[AlertState],
        result: RunResult,
    ) -> None:
        kind, new = notify.decide(new, rule, muted, now_us, self.repeat_us)
        if new.state != prev.state:
            result.transitions.append(
                AlertTransition(
                    fingerprint=new.fingerprint,
                    rule=new.rule,
                    model=new.model,
                    version=new.version,
                    from_state=prev.state,
                    to_state=new.state,
                    at_us=now_us,
                    value=new.value,
                    baseline=new.baseline,
                    threshold=new.threshold,
                    silenced=muted,
                    labels=new.labels,
                    message=new.message or notify.summary(rule, new),
                )
            )
        if kind is not None:
            body = notify.payload(rule, new, kind, now_us, self.base_url)
            for channel in rule.channels:
                result.notifications.append(
                    NewNotification(new.fingerprint, rule.name, channel, kind, body, now_us)
                )
        states.append(new)

    # ---- async API ---------------------------------------------------------------------------
    async def run_once(self, now_us: int | None = None) -> RunResult:
        """One evaluation of every rule; at ``now_us`` (a simulated clock) when given."""
        async with self._lock:  # a manual run and the loop never interleave
            now = int(self._clock() * 1_000_000) if now_us is None else now_us
            if self.refresh is not None:
                await asyncio.to_thread(self.refresh)
            op, result = await asyncio.to_thread(self.compute, now)
            if op.states or op.drop or op.transitions or op.notifications:
                await self._write(op)  # type: ignore[misc]
            self.runs += 1
            self.last_run_us = now
            if result.notifications and self._on_notify is not None:
                self._on_notify()
            for t in result.transitions:
                log.info(
                    "alert %s on %s%s: %s -> %s (%s)",
                    t.rule,
                    t.model,
                    f"/{t.version}" if t.version else "",
                    t.from_state,
                    t.to_state,
                    t.message,
                )
            return result

    def start(self, stop: asyncio.Event) -> asyncio.Task[None]:
        """Evaluate every ``interval_s`` until ``stop`` is set (first run one interval in)."""
        self.task = asyncio.create_task(self._loop(stop), name="modeltower-alerts")
        return self.task

    async def _loop(self, stop: asyncio.Event) -> None:
        try:
            await self._schedule(stop)
        finally:
            self._pool.shutdown(wait=False)

    async def _schedule(self, stop: asyncio.Event) -> None:
        def failed() -> None:
            self.failures += 1

        await every(
            self.interval_s,
            stop,
            self.run_once,
            log=log,
            what="alert evaluation",
            on_error=failed,
            leader=self.leader,
        )


def _rule_from_state(s: AlertState) -> Rule:
    """A stand-in for a rule removed from the rules file while the server was down: enough to
    record the resolution; its channels are unknown, so nothing is sent."""
    return Rule(
        name=s.rule,
        metric=s.labels.get("metric", "count"),
        window="0s",
        window_us=0,
        op="<",
        threshold=s.threshold,
        severity=s.labels.get("severity", "warning"),
    )
