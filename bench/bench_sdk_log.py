"""Cost of ``Client.log()`` on the caller's thread, against baselines measured in the same run.

The client points at a real HTTP receiver on loopback, so its sender thread is really encoding
and posting batches (and competing for the GIL) while we time the caller.

    .venv/bin/python bench/bench_sdk_log.py [--calls 200000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from time import perf_counter_ns
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.sdk.receiver

from tests.sdk.receiver import Receiver

from modeltower.sdk import Client

FEATURES = {f"f{i}": i * 0.5 for i in range(8)} | {"plan": "gold", "vip": True}


def make_dict_baseline(q: deque[Any]) -> Callable[..., str]:
    """The brief's lower bound: same keyword signature, build one dict, append to a deque."""

    def log(
        prediction: Any = None, *, score: Any = None, label: Any = None, features: Any = None,
        tags: Any = None, latency_ms: Any = None, id: Any = None, timestamp: Any = None,
        error: Any = None, group: Any = None, converted: Any = None, revenue: Any = None,
    ) -> str:  # fmt: skip
        q.append({"id": id, "timestamp": time.time() if timestamp is None else timestamp,
                  "prediction": prediction, "score": score, "label": label, "features": features,
                  "tags": tags, "latency_ms": latency_ms, "error": error, "group": group,
                  "converted": converted, "revenue": revenue})  # fmt: skip
        return "x"

    return log


def make_tuple_baseline(q: deque[Any]) -> Callable[..., str]:
    """A tighter floor: same signature, one tuple, append."""

    def log(
        prediction: Any = None, *, score: Any = None, label: Any = None, features: Any = None,
        tags: Any = None, latency_ms: Any = None, id: Any = None, timestamp: Any = None,
        error: Any = None, group: Any = None, converted: Any = None, revenue: Any = None,
    ) -> str:  # fmt: skip
        q.append((id, time.time() if timestamp is None else timestamp, prediction, score, label,
                  features, tags, latency_ms, error, group, converted, revenue))  # fmt: skip
        return "x"

    return log


def timed(fn: Callable[..., Any], calls: int, **kw: Any) -> list[int]:
    out = [0] * calls
    for i in range(calls):
        t0 = perf_counter_ns()
        fn(**kw)
        out[i] = perf_counter_ns() - t0
    return out


def pct(xs: list[int], p: float) -> float:
    s = sorted(xs)
    return float(s[min(len(s) - 1, int(p / 100 * len(s)))])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    kw = {"prediction": 1, "score": 0.83, "features": FEATURES, "latency_ms": 3.2}

    with Receiver() as rcv:
        client = Client(rcv.url, model="bench", version="v1")
        q: deque[Any] = deque(maxlen=10_000)
        variants: dict[str, Callable[..., Any]] = {
            "timer only (empty call)": lambda **_: None,
            "baseline: dict + deque.append": make_dict_baseline(q),
            "floor: tuple + deque.append": make_tuple_baseline(q),
            "uuid4().hex alone (not used)": lambda **_: uuid.uuid4().hex,
            "client.log(...)": client.log,
            "client.log(..., id=given)": lambda **k: client.log(id="req-1", **k),
        }
        samples: dict[str, list[int]] = {name: [] for name in variants}
        per_round = args.calls // args.rounds
        for fn in variants.values():  # warm-up (and starts the client's sender thread)
            timed(fn, 2000, **kw)
        client.flush(10)
        t_log = 0.0
        for _ in range(args.rounds):  # interleave variants so drift hits them all alike
            for name, fn in variants.items():
                t0 = time.perf_counter()
                samples[name] += timed(fn, per_round, **kw)
                if name == "client.log(...)":
                    t_log += time.perf_counter() - t0
            client.flush(30)  # the next round starts from an empty queue
        client.close(30)
        stats = client.stats()

    base = statistics.median(samples["baseline: dict + deque.append"])
    print(
        f"{args.calls:,} calls per variant, {args.rounds} rounds, Python {sys.version.split()[0]}"
    )
    print(f"{'variant':34} {'median ns':>10} {'p99 ns':>9} {'x baseline':>11}")
    for name, xs in samples.items():
        med = statistics.median(xs)
        print(f"{name:34} {med:10.0f} {pct(xs, 99):9.0f} {med / base:11.2f}")
    print(f"client.log throughput on the caller: {args.calls / t_log:,.0f} calls/s; "
          f"sender stats: {stats}")  # fmt: skip
    print("(drops are expected: a tight loop logs faster than one sender thread can post; the "
          "bounded queue keeps the newest events and memory flat)")  # fmt: skip


if __name__ == "__main__":
    main()
