"""``create_app(settings)``: the ASGI application. Nothing is opened at import time."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from modeltower import __version__, auth, dashboard
from modeltower.alerts.channels.address import AddressPolicy, check_file_channels
from modeltower.alerts.channels.base import ChannelError
from modeltower.alerts.delivery import DeliveryWorker
from modeltower.alerts.evaluator import AlertEvaluator
from modeltower.alerts.rules import RuleError
from modeltower.alerts.rules_file import RulesFile, load_rules_file
from modeltower.alerts.service import AlertService
from modeltower.api import (
    admin,
    alerts,
    docs,
    drift,
    errors,
    health,
    health_snapshots,
    hosts,
    ingest,
    limits,
    models,
    prometheus,
    seed,
)
from modeltower.api.body_limit import BodyLimit
from modeltower.api.rate_limit import RateLimit
from modeltower.api.unavailable import UnavailableGuard
from modeltower.config import ConfigError, Settings, is_postgres_url
from modeltower.ingest.decoding import DecodePool, auto_workers
from modeltower.ingest.limits import Limits
from modeltower.ingest.writer import Writer
from modeltower.jobs.drift_summaries import DriftSummaryJob
from modeltower.jobs.retention import RetentionJob
from modeltower.jobs.snapshots import SnapshotJob
from modeltower.services.drift import DriftService
from modeltower.services.drift_trend import DriftTrendService
from modeltower.services.ingest import IngestService
from modeltower.services.quality import QualityService
from modeltower.services.queries import QueryService
from modeltower.services.reference import ReferenceService, WindowSpec
from modeltower.services.tag_limits import TagCardinality
from modeltower.store.base import ModelSettings, Store
from modeltower.store.duckdb_store import DuckDBStore

log = logging.getLogger("modeltower")


def make_store(settings: Settings) -> Store:
    """The configured store backend: PostgreSQL when a database URL is set, else DuckDB."""
    if settings.database_url:
        if not is_postgres_url(settings.database_url):
            raise ConfigError("database_url must be a postgresql:// URL")
        from modeltower.store.pg_store import PostgresStore  # psycopg only when asked for

        return PostgresStore(settings.database_url, readers=settings.readers)
    return DuckDBStore(
        settings.db_path, readers=settings.readers, memory_limit=settings.memory_limit
    )


async def _start_demo(app: FastAPI, settings: Settings, stop: asyncio.Event) -> asyncio.Task[Any]:
    from modeltower import demo  # imported lazily: numpy-heavy generator only when asked for

    svc: IngestService = app.state.ingest
    store: Store = app.state.store
    # A restarted demo continues live; only an empty database gets the history backfilled.
    has_history = any(
        (info := store.get_model(name)) is not None and info.event_count > 0
        for name in demo.DEMO_MODEL_SETTINGS
    )
    for name, conf in demo.DEMO_MODEL_SETTINGS.items():
        await svc.put_settings(name, ModelSettings(**conf))

    async def set_references() -> None:
        refs: ReferenceService = app.state.references
        for name, share in demo.DEMO_REFERENCE_SHARE.items():
            first = max(settings.demo_backfill_hours * share, 0.25)
            if store.reference(name) is None and store.get_model(name) is not None:
                spec = WindowSpec(first_us=int(first * 3_600_000_000), first_text=f"{first:g}h")
                await refs.set_window(name, spec, {}, int(time.time() * 1_000_000))
        # The ready-made alert rules, so the demo shows alerts too (only on a fresh database:
        # a user's changes to them survive restarts).
        alerts: AlertService = app.state.alerts
        if not store.alert_rules():
            for name in demo.DEMO_MODEL_SETTINGS:
                if store.get_model(name) is not None:
                    await alerts.enable_presets(name, None, [])
        # Evaluate over the last hours of the backfill too, so the alert timeline has a past.
        evaluator: AlertEvaluator = app.state.alert_evaluator
        now = int(time.time() * 1_000_000)
        step = 10 * 60_000_000
        at = now - int(min(settings.demo_backfill_hours, 6.0) * 3_600_000_000)
        while at < now:
            await evaluator.run_once(now_us=at)
            at += step
        await evaluator.run_once()

    async def runner() -> None:
        try:
            await demo.run_demo(
                svc.event_objects,
                svc.feedback_objects,
                stop,
                seed=settings.demo_seed,
                backfill_hours=0.0 if has_history else settings.demo_backfill_hours,
                rate_per_s=settings.demo_rate_per_s,
                on_backfilled=set_references,
            )
        except Exception:
            log.exception("demo traffic stopped with an error")

    return asyncio.create_task(runner(), name="modeltower-demo")


def load_rules(settings: Settings) -> RulesFile:
    """The rules file's rules and channels; a broken file stops the start with its reason."""
    if not settings.rules_path:
        return RulesFile()
    try:
        rules = load_rules_file(settings.rules_path)
        if settings.forbid_private_webhooks:
            check_file_channels(rules.channels)
    except (RuleError, ChannelError) as exc:
        raise ConfigError(f"rules file {settings.rules_path}: {exc.field}: {exc.reason}") from None
    return rules


def _start_alerts(
    app: FastAPI, settings: Settings, rules: RulesFile, stop: asyncio.Event
) -> list[asyncio.Task[Any]]:
    store: Store = app.state.store
    writer: Writer = app.state.writer
    policy = AddressPolicy() if settings.forbid_private_webhooks else None  # alerts/channels/
    svc = AlertService(
        store, writer, app.state.queries, rules, base_url=settings.base_url, address_policy=policy
    )
    worker = DeliveryWorker(
        store,
        writer,
        svc.channels,
        timeout_s=settings.delivery_timeout_s,
        backoff_s=settings.delivery_backoff_s,
        backoff_max_s=settings.delivery_backoff_max_s,
        give_up_s=settings.delivery_give_up_s,
        address_policy=policy,
    )
    evaluator = AlertEvaluator(
        store,
        app.state.queries,
        app.state.drift,
        app.state.quality,
        writer.write,
        svc.rules,
        interval_s=settings.alert_interval_s,
        repeat_interval_s=settings.alert_repeat_interval_s,
        base_url=settings.base_url,
        on_notify=worker.wake,
    )
    evaluator.leader = functools.partial(store.is_leader, "alerts")
    evaluator.refresh = svc.reload  # rules and channels changed through another process
    worker.leader = functools.partial(store.is_leader, "delivery")
    svc.evaluator = evaluator
    svc.wake_delivery = worker.wake
    app.state.alerts, app.state.alert_evaluator, app.state.delivery = svc, evaluator, worker
    return [evaluator.start(stop), worker.start(stop)]


def create_app(settings: Settings) -> FastAPI:
    """Build the application; the lifespan opens the store and starts the writer and jobs."""
    settings.validate()
    rules = load_rules(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = make_store(settings)
        store.query_timeout_s = settings.query_timeout_s
        store.open()
        writer = Writer(store)
        writer.start()
        app.state.store = store
        app.state.writer = writer
        try:  # keys, sessions; refuses a non-loopback bind without auth (auth/__init__.py)
            app.state.auth = await auth.start(store, writer, settings)
        except BaseException:
            writer.stop()
            store.close()
            raise
        tags = TagCardinality(store, writer, settings.max_tag_values, settings.max_tag_keys)
        limits = Limits.from_settings(settings)
        workers = settings.ingest_workers
        decode = DecodePool(
            limits,
            settings.max_events_per_request,
            auto_workers() if workers is None else workers,
        )
        app.state.ingest = IngestService(writer, limits, tags, decode)
        app.state.queries = QueryService(store)
        stop = asyncio.Event()
        tasks: list[asyncio.Task[Any]] = []
        app.state.prometheus = prometheus.PrometheusExporter(app.state.queries)
        app.state.snapshots = SnapshotJob(app.state.queries, writer, settings.snapshot_interval_s)
        # With several processes on one database, one of them runs each periodic job.
        app.state.snapshots.leader = functools.partial(store.is_leader, "snapshots")
        tasks.append(app.state.snapshots.start(stop))  # stopped by ``stop`` before the writer
        app.state.references = ReferenceService(store, writer, app.state.queries)
        app.state.drift = DriftService(
            app.state.queries, app.state.references, sample_max=settings.drift_sample_max
        )
        app.state.drift_trend = DriftTrendService(app.state.drift)
        app.state.quality = QualityService(app.state.drift)
        app.state.drift_job = DriftSummaryJob(
            store, writer, app.state.references, settings.drift_interval_s
        )
        app.state.drift_job.leader = functools.partial(store.is_leader, "drift")
        tasks.append(app.state.drift_job.start(stop))
        tasks += _start_alerts(app, settings, rules, stop)
        app.state.retention = RetentionJob(
            writer,
            raw_days=settings.raw_retention_days,
            rollup_days=settings.rollup_retention_days,
            interval_s=settings.retention_interval_s,
        )
        app.state.retention.leader = functools.partial(store.is_leader, "retention")
        tasks.append(app.state.retention.start(stop))
        if settings.demo:
            tasks.append(await _start_demo(app, settings, stop))
        # Everything allocated so far lives as long as the app: keep it out of the collector's
        # scans, and collect less often; full collections paused ingestion for ~40 ms each.
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 20, 100)
        log.info("modeltower %s ready on %s", __version__, settings.db_path)
        try:
            yield
        finally:
            stop.set()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                    await asyncio.wait_for(t, timeout=5)
            decode.close()
            writer.stop()
            store.close()
            app.state.writer = None

    app = FastAPI(
        title="modeltower",
        version=__version__,
        description=(
            "Self-hosted monitoring for machine-learning models in production: performance, "
            "operations, data quality, drift and business impact."
        ),
        lifespan=lifespan,
        docs_url=None,  # served from local assets by api.docs: must work offline
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.writer = None
    errors.install(app)
    docs.install(app)
    for router in (health.router, ingest.router, models.router, seed.router):
        app.include_router(router)
    app.include_router(health_snapshots.router)
    app.include_router(drift.router)
    app.include_router(prometheus.router)
    app.include_router(limits.router)
    app.include_router(alerts.router)
    app.include_router(alerts.model_router)
    app.include_router(admin.router)
    auth.install(app)  # /v1/keys, /login and the middleware checking every request (default deny)
    # Limits before the security headers: their 413 and 429 answers get the headers too.
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    if settings.rate_limit_per_s > 0:
        app.add_middleware(
            RateLimit, rate=settings.rate_limit_per_s, burst=settings.rate_limit_burst
        )
    dashboard.install(app, security_headers=False)  # pages and static files
    # Outside everything else: a database fault in any middleware is a 503, not a 500 ...
    app.add_middleware(UnavailableGuard)
    # Requests for a host this server does not answer to (DNS rebinding) go no further ...
    allowed = hosts.allowlist(settings)
    if allowed is not None:
        app.add_middleware(hosts.AllowedHosts, allowed=allowed)
    # ... and every answer, the guards' too, carries the security headers (CSP, nosniff).
    app.add_middleware(dashboard.SecurityHeaders)
    return app
