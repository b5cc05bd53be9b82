"""Single-event POST /v1/events at 64 concurrent connections: modeltower vs a parse-only baseline.

Both servers run in their own process under the same uvicorn options; the load generator (wrk, or
a Python asyncio client when wrk is missing) posts one realistic event per request, each with a
unique id. After the run the events stored (GET /v1/models/{m}/metrics count) must be at least the
2xx answers: nothing acknowledged may be lost. wrk stops abruptly, so requests in flight at that
moment may also be stored; they are shown as "unanswered" and may account for stored > 2xx.

    .venv/bin/python bench/bench_ingest_single.py [--duration 10] [--connections 64]
        [--configs httptools+uvloop,h11+asyncio] [--rounds 1] [--client auto|wrk|python]
        [--profile]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _common as c

TARGET_RATIO = 0.70
PATH = "/v1/events"


def settle_count(url: str, model: str) -> int:
    """The stored count once it stops moving (in-flight requests abandoned by wrk may still be
    committing)."""
    prev = -1
    for _ in range(50):
        n = c.stored_count(url, model)
        if n == prev:
            return n
        prev = n
        time.sleep(0.3)
    return prev


def run_side(
    side: str, config: str, wd: Path, args: argparse.Namespace, client: str, rnd: int
) -> tuple[c.LoadResult, int | None, str | None]:
    token = c.run_token()
    if side == "baseline":
        server = c.trivial_server(config, wd, parser=args.parser)
    else:
        server = c.modeltower_server(config, wd / f"single-{config}-{rnd}.duckdb", wd)
    model = f"bench-single-{token}"
    measured = c.make_template(model, 1, seed=rnd)
    warm = c.make_template(f"bench-warm-{token}", 1, seed=rnd + 100)
    raw = wd / f"pyspy-{side}-{config}-{rnd}.txt" if args.profile else None
    with server:
        if args.warmup > 0:
            c.run_load(
                client,
                server.url,
                PATH,
                warm,
                f"w{token}",
                connections=args.connections,
                duration=args.warmup,
                threads=args.threads,
            )
        res = c.measured_load(
            client,
            server,
            PATH,
            measured,
            f"r{token}",
            connections=args.connections,
            duration=args.duration,
            threads=args.threads,
            profile_to=raw,
        )
        stored = settle_count(server.url, model) if side == "modeltower" else None
    profile_text = c.summarize_pyspy(raw) if raw else None
    return res, stored, profile_text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds measured per server")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per server")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (the box has 2 cores)")
    ap.add_argument("--rounds", type=int, default=1, help="baseline/modeltower pairs per config")
    ap.add_argument("--configs", default=",".join(c.SERVER_CONFIGS))
    ap.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument(
        "--parser",
        choices=["msgspec", "json"],
        default="msgspec",
        help="what the baseline decodes with",
    )
    ap.add_argument("--profile", action="store_true", help="py-spy both servers while measured")
    ap.add_argument("--keep", action="store_true", help="keep the scratch dir (dbs, logs)")
    ap.add_argument("--json", type=Path, help="also write the table to this JSON file")
    args = ap.parse_args()
    client = c.pick_client(args.client)
    configs = [s.strip() for s in args.configs.split(",") if s.strip()]
    rows = []
    profiles: list[tuple[str, str]] = []
    failures = []
    with c.workdir(args.keep) as wd:
        for config in configs:
            base_r: list[c.LoadResult] = []
            mt_r: list[tuple[c.LoadResult, int]] = []
            for rnd in range(args.rounds):
                # Alternate the order between rounds so drift on the shared box hits both sides.
                order = ["baseline", "modeltower"] if rnd % 2 == 0 else ["modeltower", "baseline"]
                for side in order:
                    res, stored, prof = run_side(side, config, wd, args, client, rnd)
                    if prof:
                        profiles.append((f"{side} / {config} / round {rnd}", prof))
                    if side == "baseline":
                        base_r.append(res)
                    else:
                        assert stored is not None
                        mt_r.append((res, stored))
            ratios = [m.rps / b.rps for (m, _), b in zip(mt_r, base_r, strict=True)]
            rows.append(
                [
                    config,
                    "trivial (parse only)",
                    c.median([b.rps for b in base_r]),
                    1.0,
                    c.median([b.p50_ms for b in base_r]),
                    c.median([b.p99_ms for b in base_r]),
                    c.median([b.cpu_us_per_req for b in base_r]),
                    c.median([b.main_us_per_req for b in base_r]),
                    sum(b.ok for b in base_r),
                    sum(b.non2xx + b.socket_errors for b in base_r),
                    "-",
                    "-",
                    "-",
                ]
            )
            ok = sum(m.accepted for m, _ in mt_r)
            stored = sum(s for _, s in mt_r)
            unanswered = sum(m.unanswered for m, _ in mt_r)
            lost = max(0, ok - stored)
            if lost or stored > ok + unanswered:
                failures.append(
                    f"{config}: 2xx events {ok}, stored {stored}, unanswered {unanswered}"
                )
            rows.append(
                [
                    config,
                    "modeltower",
                    c.median([m.rps for m, _ in mt_r]),
                    c.median(ratios),
                    c.median([m.p50_ms for m, _ in mt_r]),
                    c.median([m.p99_ms for m, _ in mt_r]),
                    c.median([m.cpu_us_per_req for m, _ in mt_r]),
                    c.median([m.main_us_per_req for m, _ in mt_r]),
                    ok,
                    sum(m.non2xx + m.socket_errors for m, _ in mt_r),
                    stored,
                    unanswered,
                    lost,
                ]
            )
    print(
        f"\nsingle-event POST {PATH}: {args.connections} connections, {args.duration:g} s "
        f"measured after {args.warmup:g} s warm-up, {args.rounds} round(s), client={client}, "
        f"baseline parser={args.parser}; modeltower code: {c.code_version()}\n"
    )
    headers = [
        "uvicorn",
        "server",
        "req/s",
        "ratio",
        "p50 ms",
        "p99 ms",
        "CPU us/req",
        "loop us/req",
        "2xx",
        "errors",
        "stored",
        "unanswered",
        "lost",
    ]
    c.print_table(headers, rows)
    print(
        f"\nratio = modeltower req/s / baseline req/s (median of per-round ratios); target >= {TARGET_RATIO}"
    )
    print(
        "CPU us/req = server process CPU (all threads) per 2xx; loop us/req = its main thread only"
    )
    print(
        "lost = 2xx events not found by GET metrics count (stored may exceed 2xx by 'unanswered')"
    )
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
            target_ratio=TARGET_RATIO,
        )
    if failures:
        raise SystemExit("LOST OR UNEXPECTED EVENTS: " + "; ".join(failures))


if __name__ == "__main__":
    main()
