"""Batched ingest, 1,000 realistic events per POST /v1/events, over a few connections.

modeltower (``python -m modeltower serve``) against the parse-only baseline (bench/trivial_app.py)
under the same uvicorn options, both fed the same bodies: a pre-built 1,000-event JSON array whose
ids get a unique per-request prefix. modeltower must store every event it accepted (GET
/v1/models/{m}/metrics count after the run >= the sum of "accepted"; wrk stops abruptly, so
requests in flight at that moment may be stored too and are shown as "unanswered").

    .venv/bin/python bench/bench_ingest_batch.py [--duration 10] [--connections 8]
        [--events-per-request 1000] [--rounds 1] [--client auto|wrk|python] [--profile]
        [--ingest-workers N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _common as c

TARGET_EVENTS_PER_S = 200_000
PATH = "/v1/events"


def settle_count(url: str, model: str) -> int:
    prev = -1
    for _ in range(100):
        n = c.stored_count(url, model)
        if n == prev:
            return n
        prev = n
        time.sleep(0.5)
    return prev


def run_side(
    side: str,
    config: str,
    wd: Path,
    args: argparse.Namespace,
    client: str,
    rnd: int,
    templates: dict[str, c.Template],
) -> tuple[c.LoadResult, int | None, str | None]:
    token = c.run_token()
    if side == "baseline":
        server = c.trivial_server(config, wd, parser=args.parser)
    else:
        extra = () if args.ingest_workers is None else ("--ingest-workers", args.ingest_workers)
        server = c.modeltower_server(config, wd / f"batch-{config}-{rnd}.duckdb", wd, extra)
    raw = wd / f"pyspy-batch-{side}-{config}-{rnd}.txt" if args.profile else None
    kw = {"connections": args.connections, "threads": args.threads}
    with server:
        if args.warmup > 0:
            c.run_load(
                client,
                server.url,
                PATH,
                templates["warm"],
                f"w{token}-",
                duration=args.warmup,
                **kw,
            )
        res = c.measured_load(
            client,
            server,
            PATH,
            templates["measured"],
            f"r{token}-",
            duration=args.duration,
            profile_to=raw,
            **kw,
        )
        model = templates["measured"].model
        stored = settle_count(server.url, model) if side == "modeltower" else None
    return res, stored, c.summarize_pyspy(raw) if raw else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds measured per server")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--events-per-request", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (the box has 2 cores)")
    ap.add_argument("--rounds", type=int, default=1, help="baseline/modeltower pairs")
    ap.add_argument("--configs", default="httptools+uvloop", help=",".join(c.SERVER_CONFIGS))
    ap.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument("--parser", choices=["msgspec", "json"], default="msgspec")
    ap.add_argument("--profile", action="store_true", help="py-spy both servers while measured")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument(
        "--ingest-workers", help="serve --ingest-workers (default: the server's own default)"
    )
    ap.add_argument("--json", type=Path, help="also write the table to this JSON file")
    args = ap.parse_args()
    client = c.pick_client(args.client)
    n = args.events_per_request
    token = c.run_token()
    templates = {
        "measured": c.make_template(f"bench-batch-{token}", n, seed=1),
        "warm": c.make_template(f"bench-batch-warm-{token}", n, seed=2),
    }
    body_kb = templates["measured"].body_bytes / 1024
    rows = []
    profiles: list[tuple[str, str]] = []
    failures = []
    with c.workdir(args.keep) as wd:
        for config in [s.strip() for s in args.configs.split(",") if s.strip()]:
            base_r: list[c.LoadResult] = []
            mt_r: list[tuple[c.LoadResult, int]] = []
            for rnd in range(args.rounds):
                order = ["baseline", "modeltower"] if rnd % 2 == 0 else ["modeltower", "baseline"]
                for side in order:
                    res, stored, prof = run_side(side, config, wd, args, client, rnd, templates)
                    if prof:
                        profiles.append((f"{side} / {config} / round {rnd}", prof))
                    if side == "baseline":
                        base_r.append(res)
                    else:
                        assert stored is not None
                        mt_r.append((res, stored))
            b_eps = [b.ok * n / b.duration_s for b in base_r]
            m_eps = [m.accepted / m.duration_s for m, _ in mt_r]
            ratios = [m / b for m, b in zip(m_eps, b_eps, strict=True)]
            rows.append(
                [
                    config,
                    "trivial (parse only)",
                    c.median(b_eps),
                    1.0,
                    c.median([b.rps for b in base_r]),
                    c.median([b.p50_ms for b in base_r]),
                    c.median([b.p99_ms for b in base_r]),
                    c.median([b.cpu_us_per_req / n for b in base_r]),
                    c.median([b.main_us_per_req / n for b in base_r]),
                    sum(b.ok for b in base_r) * n,
                    sum(b.non2xx + b.socket_errors for b in base_r),
                    "-",
                    "-",
                    "-",
                ]
            )
            accepted = sum(m.accepted for m, _ in mt_r)
            stored = sum(s for _, s in mt_r)
            unanswered = sum(m.unanswered for m, _ in mt_r) * n
            lost = max(0, accepted - stored)
            if lost or stored > accepted + unanswered:
                failures.append(f"{config}: accepted {accepted}, stored {stored}")
            rows.append(
                [
                    config,
                    "modeltower",
                    c.median(m_eps),
                    c.median(ratios),
                    c.median([m.rps for m, _ in mt_r]),
                    c.median([m.p50_ms for m, _ in mt_r]),
                    c.median([m.p99_ms for m, _ in mt_r]),
                    c.median([m.cpu_us_per_req / n for m, _ in mt_r]),
                    c.median([m.main_us_per_req / n for m, _ in mt_r]),
                    accepted,
                    sum(m.non2xx + m.socket_errors for m, _ in mt_r),
                    stored,
                    unanswered,
                    lost,
                ]
            )
    print(
        f"\nbatched POST {PATH}: {n} events ({body_kb:.0f} KiB) per request, {args.connections} "
        f"connections, {args.duration:g} s measured after {args.warmup:g} s warm-up, "
        f"{args.rounds} round(s), client={client}, baseline parser={args.parser}; "
        f"modeltower code: {c.code_version()}\n"
    )
    headers = [
        "uvicorn",
        "server",
        "events/s",
        "ratio",
        "req/s",
        "p50 ms",
        "p99 ms",
        "CPU us/ev",
        "loop us/ev",
        "accepted",
        "errors",
        "stored",
        "unanswered",
        "lost",
    ]
    c.print_table(headers, rows)
    best = max((r[2] for r in rows if r[1] == "modeltower"), default=0.0)
    print(
        f"\nratio = modeltower events/s / baseline events/s (median of per-round ratios); "
        f"target: modeltower >= {TARGET_EVENTS_PER_S:,} events/s "
        f"({'met' if best >= TARGET_EVENTS_PER_S else 'missed'}: {best:,.0f})"
    )
    print(
        "CPU us/ev = server CPU per event (all threads, decode workers included); "
        "loop us/ev = main thread only"
    )
    print("accepted = sum of 'accepted' in 2xx answers (baseline: 2xx x events per request)")
    print("lost = accepted events not found by GET metrics count; unanswered in events")
    for name, text in profiles:
        print(f"\n=== py-spy: {name} ===\n{text}")
    if args.json:
        c.write_json(
            args.json,
            headers,
            rows,
            failures=failures,
            client=client,
            args=vars(args),
            target_events_per_s=TARGET_EVENTS_PER_S,
        )
    if failures:
        raise SystemExit("LOST OR UNEXPECTED EVENTS: " + "; ".join(failures))


if __name__ == "__main__":
    main()
