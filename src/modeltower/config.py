"""Settings from environment variables (``MODELTOWER_*``) and the command line."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A setting is invalid or an unsafe combination was asked for."""


@dataclass(frozen=True)
class Settings:
    """Everything ``create_app`` needs; no global state."""

    db_path: str = "modeltower.duckdb"
    # PostgreSQL instead of the DuckDB file: postgresql://user:password@host:5432/dbname
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    demo: bool = False
    demo_seed: int = 0
    demo_backfill_hours: float = 24.0
    demo_rate_per_s: float = 2.0
    max_body_bytes: int = 10 * 1024 * 1024
    max_events_per_request: int = 100_000
    # Limits of one event (ingest/limits.py); see README "Limits".
    max_name_length: int = 256  # model, id, version, group, tag keys/values, feature names
    max_feature_string_length: int = 1024  # one categorical feature value
    max_features_per_event: int = 1000
    max_tags_per_event: int = 64
    max_tag_values: int = 1000  # distinct values per (model, tag key); more become __other__
    max_tag_keys: int = 100  # distinct tag keys per model; tags of more: __other__: __other__
    # Processes that decode large event batches (ingest/decoding.py); None: one per core
    # beyond the first two, at most 2; 0: decode in the server process.
    ingest_workers: int | None = None
    rate_limit_per_s: float = 0.0  # requests per second per API key or client; 0 = off
    rate_limit_burst: int = 0  # bucket size; 0 = max(1, 2 x rate)
    query_timeout_s: float = 30.0  # one database read; longer ones answer 503 query_timeout
    forbid_private_webhooks: bool = False  # refuse channel URLs resolving to private addresses
    readers: int = 4
    # /drift and /quality of a window of more events read a uniform sample of about this many
    drift_sample_max: int = 200_000
    # DuckDB's memory cap: its cache of table blocks, and the hash tables and sorts of queries
    # (which spill to a temporary directory beside the file beyond it). DuckDB's own default is
    # 80 % of RAM, which it keeps filling with cached blocks: 0.9 GB at 10M events; under 96MB
    # the server holds 10M events in about 460 MB RSS. Reads must stream or spill to fit in it.
    memory_limit: str | None = "96MB"
    log_level: str = "info"
    snapshot_interval_s: float = 3600.0  # how often jobs/snapshots.py stores health snapshots
    drift_interval_s: float = 10.0  # how often jobs/drift_summaries.py updates the drift trend
    max_reference_bytes: int = 512 * 1024 * 1024  # an uploaded reference dataset
    max_reference_rows: int = 5_000_000
    rules_path: str | None = None  # YAML file of alert rules and channels (``serve --rules``)
    alert_interval_s: float = 30.0  # how often alerts/evaluator.py evaluates every rule
    alert_repeat_interval_s: float = 4 * 3600.0  # reminder while an alert keeps firing
    public_url: str | None = None  # base of dashboard links in notifications
    # Host header names answered to (comma-separated; "*": any). Default: on a loopback
    # address only the loopback names and public_url's host (api/hosts.py: DNS rebinding);
    # on any other address, any host (keys are required there).
    allowed_hosts: str | None = None
    delivery_timeout_s: float = 10.0  # one HTTP attempt to a channel
    delivery_backoff_s: float = 1.0  # first retry delay; doubles per attempt, with jitter
    delivery_backoff_max_s: float = 300.0
    delivery_give_up_s: float = 24 * 3600.0  # a notification still failing after this fails
    raw_retention_days: float = 30.0  # raw events; long windows then read the rollups
    rollup_retention_days: float = 400.0  # rollups, drift summaries, snapshots, alert history
    retention_interval_s: float = 3600.0
    # Access control (auth/): keys are required once one exists; see README "Security".
    insecure_no_auth: bool = False  # allow serving on a non-loopback address without keys
    trusted_proxy: bool = False  # believe X-Forwarded-Proto (sets Secure on the session cookie)
    session_ttl_s: float = 12 * 3600.0  # a dashboard session lasts this long
    auth_cache_s: float = 5.0  # verified keys are remembered this long (revocation delay)

    def validate(self) -> Settings:
        """Refuse settings that cannot work, loudly and before anything starts."""
        if self.database_url is not None and not is_postgres_url(self.database_url):
            raise ConfigError(
                "database_url must be a PostgreSQL URL (postgresql://user:password@host/dbname), "
                f"got {_redacted(self.database_url)!r}"
            )
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be 1-65535, got {self.port}")
        if self.max_body_bytes < 1024:
            raise ConfigError("max_body_bytes must be at least 1024")
        if self.readers < 1:
            raise ConfigError("readers must be at least 1")
        for name in (
            "max_events_per_request",
            "max_name_length",
            "max_feature_string_length",
            "max_features_per_event",
            "max_tags_per_event",
            "max_tag_values",
            "max_tag_keys",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.ingest_workers is not None and not 0 <= self.ingest_workers <= 64:
            raise ConfigError(f"ingest_workers must be 0-64, got {self.ingest_workers}")
        if self.rate_limit_per_s < 0 or self.rate_limit_burst < 0:
            raise ConfigError("rate_limit_per_s and rate_limit_burst must not be negative")
        if not self.query_timeout_s > 0:
            raise ConfigError(f"query_timeout_s must be positive, got {self.query_timeout_s}")
        if self.demo_rate_per_s <= 0:
            raise ConfigError("demo_rate_per_s must be positive")
        if not self.snapshot_interval_s > 0:
            raise ConfigError(
                f"snapshot_interval_s must be positive, got {self.snapshot_interval_s}"
            )
        if not self.drift_interval_s > 0:
            raise ConfigError(f"drift_interval_s must be positive, got {self.drift_interval_s}")
        if self.drift_sample_max < 1000:
            raise ConfigError(
                f"drift_sample_max must be at least 1000, got {self.drift_sample_max}"
            )
        if self.max_reference_rows < 1:
            raise ConfigError("max_reference_rows must be at least 1")
        for name in (
            "alert_interval_s",
            "alert_repeat_interval_s",
            "delivery_timeout_s",
            "delivery_backoff_s",
            "delivery_backoff_max_s",
            "delivery_give_up_s",
        ):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("raw_retention_days", "rollup_retention_days", "retention_interval_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.rollup_retention_days < self.raw_retention_days:
            raise ConfigError(
                "rollup_retention_days must be at least raw_retention_days: long windows read "
                "the rollups once raw events are gone"
            )
        for name in ("session_ttl_s", "auth_cache_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.delivery_backoff_max_s < self.delivery_backoff_s:
            raise ConfigError("delivery_backoff_max_s must be at least delivery_backoff_s")
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise ConfigError(f"public_url must be an http(s) URL, got {self.public_url!r}")
        return self

    @property
    def base_url(self) -> str:
        """Where the dashboard is reached: ``public_url``, else the address served on."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (None values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def is_postgres_url(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL database (postgresql:// or postgres://)."""
    return url.startswith(("postgresql://", "postgres://"))


def _redacted(url: str) -> str:
    """The URL without the password, for error messages."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    cred, _, host = rest.rpartition("@")
    return f"{scheme}://{cred.split(':', 1)[0]}:***@{host}" if ":" in cred else url


_ENV_TYPES = {f.name: f.type for f in dataclasses.fields(Settings)}


def from_env(environ: dict[str, str] | None = None) -> Settings:
    """Settings with ``MODELTOWER_<FIELD>`` environment variables applied."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        raw = env.get(f"MODELTOWER_{f.name.upper()}")
        if raw is None:
            continue
        kind = str(f.type)
        try:
            if kind.startswith("bool"):
                values[f.name] = raw.strip().lower() in {"1", "true", "yes", "on"}
            elif kind.startswith("int"):
                values[f.name] = int(raw)
            elif kind.startswith("float"):
                values[f.name] = float(raw)
            else:
                values[f.name] = raw
        except ValueError:
            raise ConfigError(
                f"MODELTOWER_{f.name.upper()}: cannot read {raw!r} as {kind}"
            ) from None
    return Settings(**values).validate()
