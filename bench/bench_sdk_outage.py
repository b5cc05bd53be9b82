"""A host application logging 500 events/s through the SDK while the server goes away.

The host (tests/faults/host.py) serves paced requests, each doing a little work of its own and
one ``client.log()``, and times every request. Phases, all in one run:

1. ``no SDK``: the same requests with ``log`` a no-op — the host's own cost, the baseline;
2. ``server up``: the SDK sending to a real server process;
3. ``server away``: the server stopped (``--mode refused``: connections refused) or replaced by
   a socket that accepts connections and never answers (``--mode blackhole``: every request
   times out), for ``--down`` seconds;
4. ``back``: the server started again on the same port.

Reports p50/p99 of the host's request time per phase and the ratios to the ``server up`` and
``no SDK`` phases, the SDK's queue high-water mark and the process's memory growth while the
server is away, the SDK's counters (drops, give-ups) and how long after the server was back the
first backlogged event was acknowledged.

    .venv/bin/python bench/bench_sdk_outage.py [--down 60] [--mode refused|blackhole] [--json F]
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.faults.host

from tests.faults.host import Host, pct

from _common import print_table, workdir, write_json
from modeltower.sdk import Client
from modeltower.testing import ServerProcess


def blackhole(port: int) -> socket.socket:
    """A listening socket that never accepts: connections hang until the client times out."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(4096)
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rate", type=float, default=500.0, help="host requests (events) per second")
    ap.add_argument("--baseline", type=float, default=10.0, help="seconds without the SDK")
    ap.add_argument("--up", type=float, default=15.0, help="seconds with the server up")
    ap.add_argument("--down", type=float, default=60.0, help="seconds with the server away")
    ap.add_argument("--after", type=float, default=20.0, help="seconds after it is back")
    ap.add_argument("--mode", choices=["refused", "blackhole"], default="refused")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args()

    with workdir() as d:
        db = d / "db.duckdb"
        server = ServerProcess(db, log_path=d / "server-1.log").start()
        client = Client(server.url, model="outage")
        host = Host(lambda **_: "", rate=args.rate)
        host.phase = "no SDK"
        thread = threading.Thread(target=host.run, daemon=True)
        thread.start()
        time.sleep(args.baseline)
        host.log, host.stats = client.log, client.stats
        host.phase = "server up"
        time.sleep(args.up)
        host.phase = "server away"
        server.stop()
        hole = blackhole(server.port) if args.mode == "blackhole" else None
        time.sleep(args.down)
        if hole is not None:
            hole.close()
        again = ServerProcess(db, port=server.port, log_path=d / "server-2.log").start()
        back_at = time.monotonic()
        sent_at_back = client.stats()["sent"]
        host.phase = "back"
        first_ack = None
        deadline = back_at + args.after
        while time.monotonic() < deadline:
            if first_ack is None and client.stats()["sent"] > sent_at_back:
                first_ack = time.monotonic() - back_at
            time.sleep(0.05)
        host.stop.set()
        thread.join(5)
        client.flush(30)
        stats = client.stats()
        client.close(5)
        again.stop()

    up = host.took_ns["server up"]
    base = host.took_ns["no SDK"]
    headers = ["phase", "requests", "p50 µs", "p99 µs", "p50 / up", "p99 / up", "p99 / no SDK"]
    rows = []
    for phase in ("no SDK", "server up", "server away", "back"):
        xs = host.took_ns[phase]
        rows.append(
            [
                phase,
                len(xs),
                f"{pct(xs, 50):.1f}",
                f"{pct(xs, 99):.1f}",
                f"{pct(xs, 50) / pct(up, 50):.2f}",
                f"{pct(xs, 99) / pct(up, 99):.2f}",
                f"{pct(xs, 99) / pct(base, 99):.2f}",
            ]
        )
    growth = host.max_rss.get("server away", 0) - host.max_rss.get("server up", 0)
    print(
        f"host at {args.rate:.0f} requests/s, server away {args.down:.0f} s ({args.mode}); "
        f"Python {sys.version.split()[0]}"
    )
    print_table(headers, rows)
    print(
        f"SDK queue at most {host.max_queued} (max_queue 10000); process memory growth while "
        f"the server was away {growth / 2**20:.1f} MiB; counters {stats}; first backlogged "
        f"event acknowledged {first_ack if first_ack is None else round(first_ack, 2)} s after "
        "the server was back"
    )
    if args.json:
        write_json(
            args.json,
            headers,
            rows,
            mode=args.mode,
            down_s=args.down,
            rate=args.rate,
            max_queued=host.max_queued,
            rss_growth_bytes=growth,
            sdk=stats,
            resumed_after_s=first_ack,
        )


if __name__ == "__main__":
    main()
