"""The ``modeltower`` command line: serve, import, export, report, reference, alerts."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from modeltower import __version__
from modeltower.config import ConfigError, from_env


def _add_url(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--url",
        default=os.environ.get("MODELTOWER_URL", "http://127.0.0.1:8000"),
        help="modeltower server (default: $MODELTOWER_URL or http://127.0.0.1:8000)",
    )
    p.add_argument(
        "--api-key",
        default=os.environ.get("MODELTOWER_API_KEY"),
        help="API key of the server, when it requires one (default: $MODELTOWER_API_KEY)",
    )


def _add_limit_flags(serve: argparse.ArgumentParser) -> None:
    """Limits and protections of ``serve`` (README "Limits")."""
    for flag, kind, text in (
        ("--max-events-per-request", int, "events (or feedback items) in one request"),
        ("--max-name-length", int, "characters of ids, model, version, group, tags (256)"),
        ("--max-feature-string-length", int, "characters of a categorical feature value"),
        ("--max-features-per-event", int, "features in one event (1000)"),
        ("--max-tags-per-event", int, "tags in one event (64)"),
        ("--max-tag-values", int, "distinct values per model and tag key; more: __other__"),
        ("--max-tag-keys", int, "distinct tag keys per model; more: __other__ (100)"),
        ("--ingest-workers", int, "processes decoding large batches (default: cores - 2, <= 2)"),
        ("--rate-limit", float, "requests/s per API key or client address (0 = off)"),
        ("--rate-limit-burst", int, "requests a key may send at once (default 2 x rate)"),
        ("--query-timeout", float, "seconds one database read may take (default 30)"),
    ):
        dest = flag[2:].replace("-", "_")
        dest = {"rate_limit": "rate_limit_per_s", "query_timeout": "query_timeout_s"}.get(
            dest, dest
        )
        serve.add_argument(flag, type=kind, dest=dest, help=text)
    serve.add_argument(
        "--forbid-private-webhooks",
        action="store_true",
        default=None,
        help="refuse channel URLs whose host resolves to a private or loopback address",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modeltower", description="Monitor ML models in production."
    )
    parser.add_argument("--version", action="version", version=f"modeltower {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service and dashboard")
    serve.add_argument("--db", help="DuckDB file (default ./modeltower.duckdb)")
    serve.add_argument(
        "--database-url",
        help="PostgreSQL database instead of the DuckDB file, postgresql://user:pass@host/db "
        "(default: $MODELTOWER_DATABASE_URL)",
    )
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument(
        "--demo", action="store_true", default=None, help="also feed live synthetic traffic"
    )
    serve.add_argument("--demo-seed", type=int, help=argparse.SUPPRESS)
    serve.add_argument(
        "--demo-backfill-hours", type=float, help="hours of history the demo creates first"
    )
    serve.add_argument(
        "--demo-rate", type=float, dest="demo_rate_per_s", help="demo events/s per model"
    )
    serve.add_argument("--max-body-bytes", type=int, help="largest accepted request body")
    serve.add_argument("--memory-limit", help="DuckDB memory cap, e.g. 2GB (default: 256MB)")
    _add_limit_flags(serve)
    serve.add_argument("--log-level", help="debug, info, warning, error")
    serve.add_argument(
        "--snapshot-interval",
        type=float,
        dest="snapshot_interval_s",
        help="seconds between stored health snapshots (default 3600)",
    )

    serve.add_argument(
        "--drift-interval",
        type=float,
        dest="drift_interval_s",
        help="seconds between updates of the drift trend's summaries (default 10)",
    )

    serve.add_argument("--rules", dest="rules_path", help="YAML file of alert rules and channels")
    serve.add_argument(
        "--alert-interval",
        type=float,
        dest="alert_interval_s",
        help="seconds between evaluations of the alert rules (default 30)",
    )
    serve.add_argument("--public-url", help="base URL of the dashboard in notification links")
    serve.add_argument(
        "--allowed-hosts",
        help="comma-separated host names the server answers to, besides localhost ('*': any; "
        "default: the loopback names when bound to loopback, any host otherwise)",
    )
    serve.add_argument(
        "--insecure-no-auth",
        action="store_true",
        default=None,
        help="serve on a non-loopback address although no API key exists (logged as a warning)",
    )
    serve.add_argument(
        "--trusted-proxy",
        action="store_true",
        default=None,
        help="behind a TLS-terminating proxy: trust its X-Forwarded-Proto header",
    )

    al = sub.add_parser("alerts", help="check a rules file, send a test notification")
    al_sub = al.add_subparsers(dest="action", required=True)
    al_check = al_sub.add_parser("check", help="validate a rules file without starting")
    al_check.add_argument("file")
    al_check.add_argument(
        "--forbid-private-webhooks",
        action="store_true",
        default=None,
        help="also refuse channel URLs resolving to private or loopback addresses, as "
        "serve --forbid-private-webhooks would (default: MODELTOWER_FORBID_PRIVATE_WEBHOOKS)",
    )
    al_list = al_sub.add_parser("list", help="list the server's alerts, firing first")
    al_list.add_argument("--state", choices=["ok", "pending", "firing", "resolved"])
    _add_url(al_list)
    al_test = al_sub.add_parser("test", help="send a test notification to a channel")
    al_test.add_argument("channel")
    _add_url(al_test)

    ref = sub.add_parser("reference", help="set, show or delete a model's drift reference")
    ref_sub = ref.add_subparsers(dest="action", required=True)
    ref_set = ref_sub.add_parser(
        "set", help="a dataset file, or a window of the model's own events, as the reference"
    )
    ref_set.add_argument("file", nargs="?", help="CSV, Parquet, JSON lines or a JSON array")
    ref_set.add_argument("--format", help="csv, parquet or jsonl (default: from the extension)")
    ref_set.add_argument("--first", help="the first period after the model appeared, e.g. 7d")
    ref_set.add_argument("--start", help="window start (RFC 3339 or epoch seconds)")
    ref_set.add_argument("--end", help="window end (RFC 3339 or epoch seconds)")
    ref_set.add_argument("--version", dest="model_version", help="only this version's events")
    for action in (ref_set, ref_sub.add_parser("show"), ref_sub.add_parser("delete")):
        action.add_argument("--model", required=True)
        _add_url(action)

    imp = sub.add_parser("import", help="import historical events from CSV, Parquet or JSON lines")
    imp.add_argument("file")
    imp.add_argument("--model", required=True)
    imp.add_argument("--version", dest="model_version")
    imp.add_argument("--batch-size", type=int, default=1000)
    imp.add_argument(
        "--format", choices=["csv", "parquet", "jsonl"], help="default: from the extension"
    )
    imp.add_argument("--no-progress", action="store_true")
    _add_url(imp)

    exp = sub.add_parser("export", help="export a model's events as CSV or Parquet")
    exp.add_argument("--model", required=True)
    exp.add_argument("--format", choices=["csv", "parquet"], default="csv")
    exp.add_argument("--out", help="output file (default MODEL.FORMAT)")
    exp.add_argument("--window", help="trailing duration, e.g. 7d (default: everything)")
    exp.add_argument("--start")
    exp.add_argument("--end")
    exp.add_argument("--version", dest="model_version")
    exp.add_argument(
        "--daily", action="store_true", help="the daily health table instead of the events"
    )
    _add_url(exp)

    bak = sub.add_parser(
        "backup", help="a consistent backup of the DuckDB store (of a running server, or --db)"
    )
    bak.add_argument("--out", required=True, help="directory to create (must be new or empty)")
    bak.add_argument("--db", help="back up this database file directly (no server may run on it)")
    _add_url(bak)
    res = sub.add_parser("restore", help="check a backup and make it the DuckDB database file")
    res.add_argument("dir", help="a directory written by modeltower backup")
    res.add_argument("--db", required=True, help="the database file to create")
    res.add_argument("--force", action="store_true", help="replace an existing database file")

    rep = sub.add_parser("report", help="write a self-contained HTML report of a model")
    rep.add_argument("--model", required=True)
    rep.add_argument("--window", default="7d", help="trailing duration (default 7d)")
    rep.add_argument("--out", default="report.html", help="output file (default report.html)")
    _add_url(rep)

    from modeltower.keys_client import add_parser as add_keys_parser

    add_keys_parser(sub)
    return parser


_LIMIT_ARGS = (
    "max_events_per_request",
    "max_name_length",
    "max_feature_string_length",
    "max_features_per_event",
    "max_tags_per_event",
    "max_tag_values",
    "max_tag_keys",
    "ingest_workers",
    "rate_limit_per_s",
    "rate_limit_burst",
    "query_timeout_s",
    "forbid_private_webhooks",
)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from modeltower.app import create_app

    settings = (
        from_env()
        .replace(
            db_path=args.db,
            database_url=args.database_url,
            host=args.host,
            port=args.port,
            demo=args.demo,
            demo_seed=args.demo_seed,
            demo_backfill_hours=args.demo_backfill_hours,
            demo_rate_per_s=args.demo_rate_per_s,
            max_body_bytes=args.max_body_bytes,
            memory_limit=args.memory_limit,
            **{name: getattr(args, name) for name in _LIMIT_ARGS},
            log_level=args.log_level,
            snapshot_interval_s=args.snapshot_interval_s,
            drift_interval_s=args.drift_interval_s,
            rules_path=args.rules_path,
            alert_interval_s=args.alert_interval_s,
            public_url=args.public_url,
            allowed_hosts=args.allowed_hosts,
            insecure_no_auth=args.insecure_no_auth,
            trusted_proxy=args.trusted_proxy,
        )
        .validate()
    )
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from modeltower.auth import refusal

    refused = refusal(settings)  # before anything starts: no traceback, no half-open port
    if refused:
        raise ConfigError(refused)
    app = create_app(settings)
    # The writer thread gives up the GIL in every DuckDB call; a shorter switch interval lets it
    # back in sooner while the event loop is decoding requests.
    sys.setswitchinterval(0.001)
    print(
        f"modeltower {__version__}: http://{settings.host}:{settings.port}/  (db: {settings.db_path})"
    )
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False
    )
    return 0


def _import(args: argparse.Namespace) -> int:
    from modeltower.transfer import run_import

    report = run_import(
        args.file,
        model=args.model,
        url=args.url,
        version=args.model_version,
        batch_size=args.batch_size,
        fmt=args.format,
        api_key=args.api_key,
        progress=not args.no_progress,
    )
    for line, field, reason in report.rejected:
        print(f"line {line}: {field}: {reason}", file=sys.stderr)
    print(
        f"read {report.rows_read} rows: {report.accepted} stored, {report.duplicates} duplicates, "
        f"{report.rejected_rows} rows rejected"
    )
    return 1 if report.rejected else 0


def _export(args: argparse.Namespace) -> int:
    from modeltower.transfer import run_export

    out = args.out or f"{args.model}{'-daily' if args.daily else ''}.{args.format}"
    n = run_export(
        model=args.model,
        url=args.url,
        fmt=args.format,
        out_path=out,
        window=args.window,
        start=args.start,
        end=args.end,
        version=args.model_version,
        api_key=args.api_key,
        daily=args.daily,
    )
    print(f"wrote {n} bytes to {out}")
    return 0


def _reference(args: argparse.Namespace) -> int:
    from modeltower import reference_client as rc
    from modeltower.transfer import TransferError

    if args.action == "show":
        print(rc.describe(rc.show_reference(url=args.url, model=args.model, api_key=args.api_key)))
        return 0
    if args.action == "delete":
        rc.delete_reference(url=args.url, model=args.model, api_key=args.api_key)
        print(f"deleted the reference of {args.model}")
        return 0
    window: dict[str, str] = {}
    for key in ("first", "start", "end"):
        if getattr(args, key):
            window[key] = getattr(args, key)
    if args.model_version:
        window["version"] = args.model_version
    if (args.file is None) == (not window or set(window) == {"version"}):
        raise TransferError("give a FILE, or --first / --start and --end, not both")
    ref = rc.set_reference(
        url=args.url,
        model=args.model,
        file=args.file,
        fmt=args.format,
        window=None if args.file else window,
        api_key=args.api_key,
    )
    print(rc.describe(ref))
    return 0


def _alerts(args: argparse.Namespace) -> int:
    from modeltower import alerts_client as ac
    from modeltower.alerts.channels.base import ChannelError
    from modeltower.alerts.rules import RuleError

    if args.action == "check":
        forbid = args.forbid_private_webhooks
        if forbid is None:
            forbid = from_env().forbid_private_webhooks
        try:
            print(ac.check_rules_file(args.file, forbid_private_webhooks=forbid))
        except (RuleError, ChannelError) as exc:
            print(f"modeltower: {args.file}: {exc.field}: {exc.reason}", file=sys.stderr)
            return 1
        return 0
    if args.action == "list":
        print(ac.list_alerts(url=args.url, state=args.state, api_key=args.api_key))
        return 0
    text, delivered = ac.describe_test(
        ac.test_channel(url=args.url, channel=args.channel, api_key=args.api_key)
    )
    print(text)
    return 0 if delivered else 1


def _report(args: argparse.Namespace) -> int:
    from modeltower.report import write_report

    n = write_report(
        model=args.model, url=args.url, out_path=args.out, window=args.window, api_key=args.api_key
    )
    print(f"wrote {n} bytes to {args.out}")
    return 0


def _keys(args: argparse.Namespace) -> int:
    from modeltower.keys_client import run

    return run(args)


def _backup(args: argparse.Namespace) -> int:
    from modeltower import backup

    try:
        if args.db:
            manifest = backup.backup_file(args.db, args.out)
        else:
            manifest = backup.backup_server(args.url, args.out, api_key=args.api_key)
    except backup.BackupError as exc:
        print(f"modeltower backup: {exc}", file=sys.stderr)
        return 1
    print(
        f"backup in {args.out}: schema version {manifest['schema_version']}, "
        f"{manifest['counts'].get('events', 0)} events"
    )
    return 0


def _restore(args: argparse.Namespace) -> int:
    from modeltower import backup

    try:
        manifest = backup.restore(args.dir, args.db, force=args.force)
    except backup.BackupError as exc:
        print(f"modeltower restore: {exc}", file=sys.stderr)
        return 1
    print(
        f"restored {args.db} from {args.dir} (taken {manifest['created_at']}): "
        f"{manifest['counts'].get('events', 0)} events"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``modeltower`` console script."""
    from modeltower.transfer import TransferError

    args = build_parser().parse_args(argv)
    handlers = {
        "serve": _serve,
        "import": _import,
        "export": _export,
        "report": _report,
        "reference": _reference,
        "alerts": _alerts,
        "keys": _keys,
        "backup": _backup,
        "restore": _restore,
    }
    try:
        return handlers[args.command](args)
    except ConfigError as exc:
        print(f"modeltower: configuration error: {exc}", file=sys.stderr)
        return 2
    except TransferError as exc:
        print(f"modeltower: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
