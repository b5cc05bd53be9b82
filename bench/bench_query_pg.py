"""Query latency on a loaded PostgreSQL database: bench_query.py's benchmark on the other backend.

The same data set as bench_query.py (its generator, seed and anchor semantics: N events of three
models with versions, 30 days of history, late labels as feedback; the queries pass
``end=<anchor>``), written through ``PostgresStore.write()`` in chunks of bench_query.CHUNK events
into a throw-away PostgreSQL cluster started with the machine's binaries (initdb, pg_ctl; as the
``postgres`` user when run as root, as tests/pg.py does). The loaded cluster's data directory is
cached under bench/data/ (``query-pg-<same key as the DuckDB file>/``), so the next run only
starts it; ``--regenerate`` (or a cached one older than ``--max-age-h``: the server's retention
job expires raw events older than 30 days by the wall clock) rebuilds it. After the load the
database is ``VACUUM (ANALYZE)``-ed once, as autovacuum eventually would.

Server settings (printed with the results): shared_buffers=256MB (``--shared-buffers``),
max_wal_size=4GB (fewer checkpoints while loading), everything else PostgreSQL's defaults,
notably fsync=on and synchronous_commit=on.

Measured, median of ``--repeat`` runs after 2 warm-up runs: ``/metrics`` over 24 h and 30 d and
the timeseries over 30 d by 1 h (``metrics=count`` and bench_query.RICH) through QueryService on
a PostgresStore in this process, and over HTTP against ``python -m modeltower serve
--database-url ...``; the server's VmRSS/VmHWM after the queries (PostgreSQL's own processes not
included). Baseline: raw SQL scans with the same filter on the same database, from this process,
before the server starts and after it stops (``SELECT count(*), avg(latency_ms) FROM events
WHERE model=%s AND ts>=%s``, the same grouped by hour over 30 days, and ungrouped over 30 days).

    .venv/bin/python bench/bench_query_pg.py [--events 1000000] [--repeat 15] [--regenerate]
        [--label-delay-h 0] [--shared-buffers 256MB] [--json PATH]
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import _common as c
import bench_query as bq

sys.path.insert(0, str(c.REPO / "tests"))
import pg as test_pg  # tests/pg.py: finding the binaries, running as postgres

DBNAME = "bench"
PG_BASE_SQL = "SELECT count(*), avg(latency_ms) FROM events WHERE model = %s AND ts >= %s::bigint"
PG_BASE_TS_SQL = (
    "SELECT ts / 3600000000 AS h, count(*), avg(latency_ms) FROM events "
    "WHERE model = %s AND ts >= %s::bigint GROUP BY h"
)


class BenchCluster(test_pg.Cluster):
    """A cluster whose data directory is ``home/data`` (kept), listening on a unix socket in a
    temporary directory (short path, owned by the server's user)."""

    def __init__(self, bindir: str, home: Path, settings: dict[str, str]) -> None:
        super().__init__(bindir)  # the socket directory, a free port, the user (and its prefix)
        self.home = home
        self.data = home / "data"
        self.settings = settings

    def init(self) -> None:
        """initdb into a new ``home/data``."""
        self.home.mkdir(parents=True)
        if self._prefix:
            shutil.chown(self.home, self.user, self.user)
        self._run(
            f"{self.bindir}/initdb",
            *("-D", str(self.data), "-U", self.user, "--auth=trust"),
            *("--encoding=UTF8", "--locale=C"),
        )

    def start_bench(self) -> None:
        options = f"-c listen_addresses='' -c unix_socket_directories='{self.dir}' -p {self.port}"
        for k, v in self.settings.items():
            options += f" -c {k}={v}"
        log = self.dir / "server.log"
        try:
            self._run(
                f"{self.bindir}/pg_ctl",
                *("-D", str(self.data), "-l", str(log), "-o", options),
                *("-w", "-t", "600", "start"),
            )
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{log.read_text(errors='replace')[-3000:]}") from e

    def url(self, dbname: str = DBNAME) -> str:
        return (
            f"postgresql://{quote(self.user)}@/{dbname}?host={quote(str(self.dir))}"
            f"&port={self.port}"
        )

    def stop_bench(self) -> None:
        """A clean shutdown (the cached data directory stays consistent), then the socket dir."""
        try:
            self._run(f"{self.bindir}/pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def cluster_dir(args: Any) -> Path:
    """Where the loaded cluster of these generator settings is cached."""
    duck = bq.db_path(args.events, args.recent_share, args.seed, args.label_delay_h)
    return c.DATA_DIR / ("query-pg-" + duck.stem.removeprefix("query-"))


def load_cluster(args: Any, home: Path, cluster: BenchCluster) -> dict[str, Any]:
    """Build the cluster in ``home`` (initdb, create the database, load, VACUUM ANALYZE)."""
    import psycopg

    from modeltower.store.pg_store import PostgresStore

    print(f"generating {home} ({args.events:,} events through PostgresStore.write) ...")
    cluster.init()
    cluster.start_bench()
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as con:
        con.execute(f"CREATE DATABASE {DBNAME}")
    store = PostgresStore(cluster.url())
    store.open()
    try:
        meta = bq.load(
            store,
            args.events,
            args.recent_share,
            args.seed,
            args.label_delay_h,
            writer="PostgresStore.write",
        )
    finally:
        store.close()
    t0 = time.perf_counter()
    with psycopg.connect(cluster.url(), autocommit=True) as con:
        con.execute("VACUUM (ANALYZE)")
        size = con.execute("SELECT pg_database_size(current_database())").fetchone()
    meta["vacuum_analyze_seconds"] = round(time.perf_counter() - t0, 1)
    meta["database_bytes"] = int(size[0]) if size else None
    print(
        f"  loaded in {meta['load_seconds']:.0f} s (PostgresStore.write {meta['write_seconds']:.0f}"
        f" s), VACUUM (ANALYZE) {meta['vacuum_analyze_seconds']:.0f} s, database "
        f"{(meta['database_bytes'] or 0) / 1e9:.2f} GB",
        flush=True,
    )
    return meta


def ensure_cluster(args: Any, settings: dict[str, str]) -> tuple[BenchCluster, dict[str, Any]]:
    """The started cluster holding the data set (loaded now, or the cached one) and its metadata."""
    bindir = test_pg.find_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL binaries (initdb, pg_ctl): apt-get install postgresql")
    c.DATA_DIR.mkdir(exist_ok=True)
    home = cluster_dir(args)
    meta_path = home / "meta.json"
    if home.exists() and meta_path.exists() and not args.regenerate:
        meta = json.loads(meta_path.read_text())
        age_h = (time.time() - meta["anchor_us"] / 1e6) / 3600
        if meta.get("gen_version") == bq.GEN_VERSION and age_h <= args.max_age_h:
            print(
                f"using cached {home} ({age_h:.1f} h old; loaded in {meta['load_seconds']} s "
                "when generated)"
            )
            cluster = BenchCluster(bindir, home, settings)
            cluster.start_bench()
            return cluster, meta
        print(f"the cached {home} is {age_h:.0f} h old (or of another generator): rebuilding")
    tmp = home.with_name(home.name + ".tmp")
    for d in (tmp, home):
        shutil.rmtree(d, ignore_errors=True)
    cluster = BenchCluster(bindir, tmp, settings)
    meta = load_cluster(args, tmp, cluster)
    cluster.stop_bench()
    tmp.rename(home)
    meta_path.write_text(json.dumps(meta, indent=1))
    cluster = BenchCluster(bindir, home, settings)
    cluster.start_bench()
    return cluster, meta


def sql_baselines_pg(url: str, model: str, anchor: int, repeat: int) -> dict[str, Any]:
    """bench_query.sql_baselines on PostgreSQL: the same three scans, one connection."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:

        def scan(sql: str, since: int) -> Any:
            return con.execute(sql, [model, since]).fetchall()

        t24, row = bq.timed(lambda: scan(PG_BASE_SQL, anchor - bq.DAY_US), repeat, 2)
        t30, _ = bq.timed(lambda: scan(PG_BASE_TS_SQL, anchor - 30 * bq.DAY_US), repeat, 2)
        t30f, _ = bq.timed(lambda: scan(PG_BASE_SQL, anchor - 30 * bq.DAY_US), repeat, 2)
    return {"24h": t24, "30d_by_1h": t30, "30d": t30f, "count_24h": int(row[0][0])}


def service_times_pg(url: str, model: str, anchor: int, repeat: int) -> dict[str, list[float]]:
    from modeltower.store import pg_reads
    from modeltower.store.pg_store import PostgresStore

    store = PostgresStore(url)
    store.open()
    try:
        return bq.store_times(store, pg_reads.base, model, anchor, repeat)
    finally:
        store.close()


def pg_server(url: str, wd: Path) -> c.Server:
    """``python -m modeltower serve --database-url URL`` on a loopback port (not started)."""
    port = c.free_port()
    cmd = [c.PYTHON, "-m", "modeltower", "serve", "--database-url", url]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return c.Server("modeltower", cmd, port, c._clean_env(), wd / f"modeltower.{port}.log")


def main() -> None:
    ap = bq.arg_parser(__doc__)
    ap.add_argument("--shared-buffers", default="256MB")
    ap.add_argument(
        "--max-age-h",
        type=float,
        default=12.0,
        help="rebuild a cached cluster whose data ended longer ago than this (default 12 h)",
    )
    args = ap.parse_args()
    settings = {"shared_buffers": args.shared_buffers, "max_wal_size": "4GB"}
    cluster, meta = ensure_cluster(args, settings)
    try:
        if args.generate_only:
            return
        import psycopg

        url = cluster.url()
        with psycopg.connect(url, autocommit=True) as con:
            names = ["server_version", "shared_buffers", "work_mem", "fsync"]
            names += ["synchronous_commit", "max_parallel_workers_per_gather", "jit"]
            shown = {n: con.execute(f"SHOW {n}").fetchone()[0] for n in names}  # type: ignore[index]
        print("PostgreSQL " + ", ".join(f"{k}={v}" for k, v in shown.items()))
        anchor = int(meta["anchor_us"])
        memory: dict[str, Any] = {}
        with c.workdir(args.keep) as wd:
            b1 = sql_baselines_pg(url, args.model, anchor, args.repeat)
            svc = service_times_pg(url, args.model, anchor, args.repeat)
            server = pg_server(url, wd)
            http, count = bq.http_times(
                cluster.home, args.model, anchor, args.repeat, wd, memory, server=server
            )
            b2 = sql_baselines_pg(url, args.model, anchor, args.repeat)
    finally:
        cluster.stop_bench()
    print(
        f"\nload: {meta['load_seconds']:.0f} s through PostgresStore.write when the cluster was "
        f"built, VACUUM (ANALYZE) {meta.get('vacuum_analyze_seconds', '?')} s"
    )
    bq.report(
        args,
        meta,
        str(cluster.home),
        b1,
        b2,
        svc,
        http,
        count,
        memory,
        backend="postgresql",
        extra={"postgres": shown},
    )


if __name__ == "__main__":
    main()
