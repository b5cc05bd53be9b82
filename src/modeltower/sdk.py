"""Python client for modeltower: log predictions without slowing the model down.

    client = Client("http://127.0.0.1:8000", model="churn", version="v3")
    event_id = client.log(prediction=1, score=0.83, features={"age": 42})
    client.feedback(event_id, label=0)  # later, when the truth is known

Design (why):
* ``log()`` runs on the serving thread, so it only builds one tuple and appends it to a bounded
  deque. Conversion, JSON encoding and HTTP happen on one daemon thread per client.
* Losing monitoring data beats hurting the model: a full queue drops its *oldest* events, and no
  public method raises; problems are counted (``stats()``) and logged on ``modeltower.sdk``.
* Every event carries a client-made id, so a retried batch is deduplicated by the server and
  feedback can be joined to its event later.
"""

from __future__ import annotations

import atexit
import email.utils
import functools
import inspect
import itertools
import logging
import math
import os
import random
import secrets
import threading
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from time import monotonic, perf_counter
from time import time as _now
from typing import Any, TypeVar, cast

import httpx
import orjson

__all__ = ["Client", "Timer"]

logger = logging.getLogger("modeltower.sdk")
F = TypeVar("F", bound=Callable[..., Any])

# 500 is retried too: the server dedups by id, so a retry is safe, and its 500s are transient
# storage errors. Any other 4xx/5xx is permanent for that batch.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_BAD = object()  # marks a field value that could not be converted
_OPTS = orjson.OPT_NON_STR_KEYS
_WARN_EVERY = 10.0  # seconds between two warnings of the same kind, so a bad loop cannot flood logs

# Ids: a random per-process prefix plus a counter is ~10x cheaper than uuid4() on the caller's
# thread and still unique; the prefix is renewed after fork so parent and child never collide.
_ID_PREFIX = secrets.token_hex(8)
_ID_SEQ = itertools.count()
_clients: weakref.WeakSet[Client] = weakref.WeakSet()


class Client:
    """Batched, non-blocking client for one model (and optionally one version).

    Args:
        url: base URL of the modeltower server.
        model, version: attached to every event.
        api_key: sent as ``Authorization: Bearer <api_key>`` when set.
        batch_size: events per request; a full batch is sent at once.
        flush_interval: seconds after which a partial batch is sent.
        max_queue: events (and, separately, feedback items) kept in memory; oldest dropped first.
        timeout: HTTP timeout in seconds.
        max_retries: retries of a transient failure before the batch is given up.
        backoff_base, backoff_cap: exponential backoff with full jitter; ``Retry-After`` is
            honoured up to ``backoff_cap`` (which also bounds how long after the server is back
            the first batch goes out).
        exit_timeout: how long the interpreter-exit flush may take.
    """

    def __init__(
        self,
        url: str,
        model: str,
        version: str | None = None,
        api_key: str | None = None,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        timeout: float = 10.0,
        max_retries: int = 8,
        backoff_base: float = 0.5,
        backoff_cap: float = 10.0,
        exit_timeout: float = 5.0,
    ) -> None:
        self.url = str(url).rstrip("/")
        self.model = str(model)
        self.version = None if version is None else str(version)
        self._batch_size = max(1, int(batch_size))
        self._interval = max(0.01, float(flush_interval))
        self._max_queue = max(1, int(max_queue))
        self._timeout = float(timeout)
        self._max_retries = max(0, int(max_retries))
        self._backoff_base = float(backoff_base)
        self._backoff_cap = float(backoff_cap)
        self._exit_timeout = float(exit_timeout)
        self._headers = {"Content-Type": "application/json", "User-Agent": "modeltower-sdk/0.1"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._closed = False
        self._http: httpx.Client | None = None
        self._reset()
        try:  # see _start: the HTTP client is made here, on the caller's thread, not lazily
            self._http = httpx.Client(timeout=self._timeout, headers=self._headers)
        except Exception as exc:
            self._warn("http", f"cannot create the HTTP client yet: {exc!r}")
        _clients.add(self)

    def _reset(self) -> None:
        """Fresh queues, locks, thread and counters (at creation and in a forked child)."""
        self._lock = threading.Lock()
        self._cv = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._events: deque[tuple[Any, ...]] = deque(maxlen=self._max_queue)
        self._feedback: deque[tuple[Any, ...]] = deque(maxlen=self._max_queue)
        self._thread: threading.Thread | None = None
        # Dropped, never closed, in a forked child: its pool lock may be held by a dead thread.
        self._http = None
        self._flush_req = self._flush_done = 0
        self._sent = self._dropped = self._rejected = self._failed = 0
        self._invalid = self._retries = 0
        self._reported_dropped = 0  # drops already reported in a warning
        self._warned: dict[str, float] = {}

    # ---- caller-side API: cheap, never raises -------------------------------------------------

    def log(
        self,
        prediction: Any = None,
        *args: Any,
        score: Any = None,
        label: Any = None,
        features: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        latency_ms: float | None = None,
        id: Any = None,
        timestamp: Any = None,
        error: str | None = None,
        group: str | None = None,
        converted: bool | None = None,
        revenue: float | None = None,
        **unknown: Any,
    ) -> str:
        """Queue one prediction and return its id at once (generated when ``id`` is not given).

        ``timestamp`` defaults to now (epoch seconds; a naive ``datetime`` is taken as UTC).
        Unknown arguments and unconvertible values are counted as ``invalid``, never raised.
        """
        try:
            if id is None:
                id = f"{_ID_PREFIX}{next(_ID_SEQ):016x}"
            elif id.__class__ is not str:
                id = str(id)
            if args or unknown:
                self._note_invalid("call", f"log() ignored unexpected arguments {args} {unknown}")
            if self._thread is None and not self._start():
                self._dropped += 1
                return cast(str, id)
            q = self._events
            # The append below evicts the oldest event. (Under heavy multi-thread contention a
            # drop can go uncounted; exact counting would need a lock on this path.)
            if len(q) == self._max_queue:
                self._dropped += 1
            # features is copied (cheap) so that a dict reused by the caller is not sent mutated.
            q.append(
                (id, _now() if timestamp is None else timestamp, prediction, score, label,
                 features.copy() if features.__class__ is dict else features,
                 tags, latency_ms, error, group, converted, revenue)
            )  # fmt: skip
            if len(q) >= self._batch_size and not self._wake.is_set():
                self._wake.set()
            return cast(str, id)
        except Exception as exc:
            self._note_invalid("call", f"log() failed: {exc!r}")
            return id if isinstance(id, str) else ""

    def feedback(
        self,
        id: Any,
        *,
        label: Any = None,
        converted: bool | None = None,
        revenue: float | None = None,
        **unknown: Any,
    ) -> None:
        """Queue the ground truth / business outcome of event ``id`` (sent to /v1/feedback)."""
        try:
            if unknown:
                self._note_invalid("call", f"feedback() ignored unexpected arguments {unknown}")
            if self._thread is None and not self._start():
                self._dropped += 1
                return
            q = self._feedback
            if len(q) == self._max_queue:
                self._dropped += 1
            q.append((str(id), label, converted, revenue))
            if len(q) >= self._batch_size and not self._wake.is_set():
                self._wake.set()
        except Exception as exc:
            self._note_invalid("call", f"feedback() failed: {exc!r}")

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until everything queued before the call was handled (sent, refused by the server,
        or given up after retries). Return False if that did not happen within ``timeout``."""
        try:
            return self._flush_on(self._thread, timeout)
        except Exception:
            return False

    def close(self, timeout: float = 10.0) -> bool:
        """Flush (bounded by ``timeout``), stop the sender thread; later logs are dropped."""
        try:
            with self._lock:
                if self._closed:
                    return True
                self._closed = True
                thread, self._thread = self._thread, None
            deadline = monotonic() + timeout
            ok = self._flush_on(thread, timeout)
            self._stop.set()
            self._wake.set()
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - monotonic()))
            if self._http is not None:  # never started
                self._http.close()
                self._http = None
            left = len(self._events) + len(self._feedback)
            self._dropped += left
            self._events.clear()
            self._feedback.clear()
            return ok and left == 0
        except Exception:
            return False

    def stats(self) -> dict[str, int]:
        """Counters: sent (acknowledged), dropped (queue full / after close), rejected (refused by
        the server), failed (given up after retries), invalid (bad input), retries, queued.

        Every item logged is counted once as sent, dropped, rejected, failed or queued, except
        one that cannot be encoded at all, which counts as invalid only (``invalid`` also counts
        bad calls and bad fields left out of items that were still sent). Drops and
        give-ups are also reported as warnings on the ``modeltower.sdk`` logger (at most one per
        kind every 10 s)."""
        return {
            "sent": self._sent,
            "dropped": self._dropped,
            "rejected": self._rejected,
            "failed": self._failed,
            "invalid": self._invalid,
            "retries": self._retries,
            "queued": len(self._events) + len(self._feedback),
        }

    def timer(self, **fields: Any) -> Timer:
        """Time a block and log it with ``latency_ms`` set::

            with client.timer(features=x) as t:
                pred = model.predict(x)
                t.log(prediction=pred)

        ``fields`` are defaults for ``t.log``. If the block raises before ``t.log``, an event with
        ``error=repr(exc)`` is logged and the exception propagates unchanged.
        """
        return Timer(self, fields)

    def monitor(
        self,
        *,
        features_from: Callable[..., Any] | None = None,
        prediction_from: Callable[[Any], Any] | None = None,
        **fields: Any,
    ) -> Callable[[F], F]:
        """Decorator logging every call of a (sync or async) function with its latency::

            @client.monitor(features_from=lambda row: row, tags={"route": "api"})
            def predict(row): ...

        ``features_from`` gets the function's arguments, ``prediction_from`` its result (default:
        the result itself); exceptions are logged as ``error`` and re-raised.
        """

        def emit(t0: float, a: tuple[Any, ...], kw: dict[str, Any], **out: Any) -> None:
            try:
                if features_from is not None:
                    out["features"] = features_from(*a, **kw)
                if prediction_from is not None and "prediction" in out:
                    out["prediction"] = prediction_from(out["prediction"])
            except Exception as exc:
                self._note_invalid("call", f"monitor(): features_from/prediction_from: {exc!r}")
            self.log(latency_ms=(perf_counter() - t0) * 1000.0, **{**fields, **out})

        def decorate(fn: F) -> F:
            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def awrapper(*a: Any, **kw: Any) -> Any:
                    t0 = perf_counter()
                    try:
                        result = await fn(*a, **kw)
                    except Exception as exc:
                        emit(t0, a, kw, error=repr(exc))
                        raise
                    emit(t0, a, kw, prediction=result)
                    return result

                return cast(F, awrapper)

            @functools.wraps(fn)
            def wrapper(*a: Any, **kw: Any) -> Any:
                t0 = perf_counter()
                try:
                    result = fn(*a, **kw)
                except Exception as exc:
                    emit(t0, a, kw, error=repr(exc))
                    raise
                emit(t0, a, kw, prediction=result)
                return result

            return cast(F, wrapper)

        return decorate

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals ----------------------------------------------------------------------------

    def _start(self) -> bool:
        with self._lock:
            if self._closed:
                return False
            if self._thread is None:
                # httpx imports modules lazily while building a client. Doing that on the sender
                # thread is a fork hazard: a fork during the import leaves the child with a
                # module lock held by a thread that does not exist there, and it deadlocks.
                http = self._http or httpx.Client(timeout=self._timeout, headers=self._headers)
                self._http = None  # owned (and closed) by the sender thread from now on
                t = threading.Thread(
                    target=self._run, args=(http,), name="modeltower-sdk", daemon=True
                )
                t.start()
                self._thread = t
        return True

    def _flush_on(self, thread: threading.Thread | None, timeout: float | None) -> bool:
        if thread is None or not thread.is_alive():
            return not (self._events or self._feedback)
        with self._cv:
            self._flush_req += 1
            gen = self._flush_req
            self._wake.set()
            return self._cv.wait_for(lambda: self._flush_done >= gen, timeout)

    def _report_drops(self) -> None:
        """Warn (at most every 10 s) when the full queue dropped events since the last warning:
        log() itself stays silent, it runs on the caller's thread."""
        dropped = self._dropped
        if dropped > self._reported_dropped and self._warn(
            "dropped",
            f"dropped {dropped - self._reported_dropped} event(s) (total {dropped}): the queue "
            f"of {self._max_queue} is full while the server does not take them",
        ):
            self._reported_dropped = dropped

    def _note_invalid(self, kind: str, msg: str) -> None:
        self._invalid += 1
        self._warn(kind, msg)

    def _warn(self, kind: str, msg: str) -> bool:
        now = monotonic()
        if now - self._warned.get(kind, -math.inf) >= _WARN_EVERY:
            self._warned[kind] = now
            logger.warning("modeltower sdk (%s): %s", self.model, msg)
            return True
        return False

    def _run(self, http: httpx.Client) -> None:
        tick = monotonic() + self._interval
        try:
            while not self._stop.is_set():
                self._wake.wait(max(0.0, tick - monotonic()))
                self._wake.clear()  # before looking at the queues, so no wake-up is lost
                gen = self._flush_req
                try:
                    if gen > self._flush_done or monotonic() >= tick:
                        tick = monotonic() + self._interval
                        # Only what is queued now: a producer that never pauses cannot make
                        # flush() wait forever.
                        self._drain(http, len(self._events), len(self._feedback))
                    else:
                        bs = self._batch_size
                        while not self._stop.is_set():
                            n_ev = bs if len(self._events) >= bs else 0
                            n_fb = bs if len(self._feedback) >= bs else 0
                            if not (n_ev or n_fb):
                                break
                            self._drain(http, n_ev, n_fb)
                except Exception as exc:  # the sender must survive anything
                    self._warn("worker", f"unexpected error in the sender thread: {exc!r}")
                if gen > self._flush_done:
                    with self._cv:
                        self._flush_done = gen
                        self._cv.notify_all()
                self._report_drops()
        finally:
            http.close()
            with self._cv:  # nobody may wait for a sender that is gone
                self._flush_done = self._flush_req
                self._cv.notify_all()

    def _drain(self, http: httpx.Client, n_ev: int, n_fb: int) -> None:
        jobs = ((self._events, n_ev, "/v1/events", self._event_dict),
                (self._feedback, n_fb, "/v1/feedback", self._feedback_dict))  # fmt: skip
        for q, n, path, convert in jobs:
            while n > 0 and not self._stop.is_set():
                recs: list[tuple[Any, ...]] = []
                try:
                    for _ in range(min(n, self._batch_size)):
                        recs.append(q.popleft())
                except IndexError:  # overflow evicted some of the snapshot: nothing left
                    n = 0
                n -= len(recs)
                items = [d for d in map(convert, recs) if d is not None]
                if items:
                    self._deliver(http, path, items, resend=True)

    def _event_dict(self, rec: tuple[Any, ...]) -> dict[str, Any] | None:
        ev: dict[str, Any] = {"model": self.model, "id": rec[0]}
        if self.version is not None:
            ev["version"] = self.version
        bad = None
        for i, key, conv in _EVENT_FIELDS:
            v = rec[i]
            if v is None:
                continue
            try:
                v = conv(v)
            except Exception:
                v = _BAD
            if v is _BAD:
                bad = [*(bad or ()), key]
            else:
                ev[key] = v
        if bad:
            self._note_invalid("event", f"dropped invalid field(s) {bad} of event {rec[0]}")
        return ev

    def _feedback_dict(self, rec: tuple[Any, ...]) -> dict[str, Any] | None:
        id_, label, conv, rev = rec
        fb: dict[str, Any] = {"model": self.model, "id": id_}
        ok = [_put(fb, k, v, f) for k, v, f in
              (("label", label, _scalar), ("converted", conv, _bool), ("revenue", rev, _number))
              if v is not None]  # fmt: skip
        if not any(ok):
            self._note_invalid("feedback", f"feedback for {id_} has no valid label/outcome")
            return None
        return fb

    def _encode(self, items: list[dict[str, Any]]) -> tuple[bytes, list[dict[str, Any]]]:
        try:
            return orjson.dumps(items, default=_json_default, option=_OPTS), items
        except Exception:  # e.g. an int beyond 64 bits: find and drop only the culprits
            keep, parts = [], []
            for it in items:
                try:
                    if isinstance(it.get("features"), dict):  # e.g. 2**80: slow path makes it text
                        it["features"] = {k: _feature_value(x) for k, x in it["features"].items()}
                    parts.append(orjson.dumps(it, default=_json_default, option=_OPTS))
                    keep.append(it)
                except Exception as exc:
                    self._note_invalid("event", f"cannot encode item {it.get('id')}: {exc}")
            return b"[" + b",".join(parts) + b"]", keep

    def _deliver(
        self, http: httpx.Client, path: str, items: list[dict[str, Any]], resend: bool
    ) -> None:
        body, items = self._encode(items)
        if not items:
            return
        resp, why = self._post(http, path, body)
        if resp is None:
            self._failed += len(items)
            self._warn("failed", f"gave up on {len(items)} item(s) for {path}: {why}")
            return
        st = resp.status_code
        if 200 <= st < 300:
            self._sent += len(items)
            return
        if st == 413 and len(items) > 1:  # too big: halves are sent on their own
            mid = len(items) // 2
            self._deliver(http, path, items[:mid], resend)
            self._deliver(http, path, items[mid:], resend)
            return
        if st == 422 and resend:  # drop only the events the server named, resend the rest once
            bad = _bad_indices(resp, len(items))
            if bad and len(bad) < len(items):
                self._rejected += len(bad)
                self._warn("rejected", f"server refused {len(bad)} item(s): {_reason(resp)}")
                rest = [it for i, it in enumerate(items) if i not in bad]
                self._deliver(http, path, rest, resend=False)
                return
        self._rejected += len(items)
        self._warn("rejected", f"server refused {len(items)} item(s), HTTP {st}: {_reason(resp)}")

    def _post(
        self, http: httpx.Client, path: str, body: bytes
    ) -> tuple[httpx.Response | None, str]:
        why = ""
        for attempt in range(self._max_retries + 1):
            retry_after = None
            try:
                resp = http.post(self.url + path, content=body)
            except httpx.TransportError as exc:  # refused, reset, timeouts: worth retrying
                why = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # e.g. an invalid URL: retrying cannot help
                return None, repr(exc)
            else:
                if resp.status_code not in RETRY_STATUSES:
                    return resp, ""
                why = f"HTTP {resp.status_code}"
                retry_after = _retry_after(resp.headers.get("retry-after"))
            if attempt == self._max_retries or self._stop.is_set():
                break
            if retry_after is not None:  # small jitter so many clients do not return in step
                delay = min(retry_after, self._backoff_cap) * random.uniform(1.0, 1.1)
            else:  # full jitter
                delay = random.uniform(0, min(self._backoff_cap, self._backoff_base * 2**attempt))
            self._retries += 1
            self._report_drops()  # while this batch waits, the queue may be overflowing
            if self._stop.wait(delay):  # close() ran out of time
                break
        return None, why


class Timer:
    """Context manager returned by :meth:`Client.timer`."""

    def __init__(self, client: Client, fields: dict[str, Any]) -> None:
        self._client, self._fields = client, fields
        self._t0 = perf_counter()
        self.id: str | None = None

    def __enter__(self) -> Timer:
        self._t0 = perf_counter()
        return self

    @property
    def elapsed_ms(self) -> float:
        """Milliseconds since the block was entered."""
        return (perf_counter() - self._t0) * 1000.0

    def log(self, **fields: Any) -> str:
        """Log with ``latency_ms`` = time since entering the block (unless given)."""
        merged = {"latency_ms": self.elapsed_ms, **self._fields, **fields}
        self.id = self._client.log(**merged)
        return self.id

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, Exception) and self.id is None:
            self.log(error=repr(exc))
        # returning None: the caller's exception propagates untouched


# ---- conversions (sender thread): each returns _BAD when the value cannot be used ---------------


def _put(d: dict[str, Any], key: str, value: Any, conv: Callable[[Any], Any]) -> bool:
    try:
        v = conv(value)
    except Exception:
        v = _BAD
    if v is _BAD:
        return False
    d[key] = v
    return True


def _scalar(v: Any) -> Any:
    cls = v.__class__
    if cls is str or cls is int or cls is bool:
        return v
    if cls is float:
        return v if math.isfinite(v) else _BAD
    item = getattr(v, "item", None)  # numpy scalars (even float64, a float subclass), 1-el arrays
    if callable(item) and getattr(v, "size", 1) == 1:
        return _scalar(item())
    for base in (bool, int, float, str):  # other subclasses, e.g. enums: plain values for orjson
        if isinstance(v, base):
            return _scalar(base(v))
    return _BAD


def _feature_value(v: Any) -> Any:
    if v is None or isinstance(v, str | bool):
        return v
    s = _scalar(v)
    if s is _BAD:
        return None if isinstance(v, float) else str(v)  # NaN -> null; odd objects -> text
    return s if not isinstance(s, int) or -(2**63) <= s < 2**63 else str(s)


def _features(v: Any) -> Any:
    # Fast path (C-level type scans): plain values go out as they are; orjson writes NaN as null.
    if (
        v.__class__ is dict
        and _PLAIN.issuperset(map(type, v.values()))
        and _STR.issuperset(map(type, v))
    ):
        return v
    return {str(k): _feature_value(x) for k, x in v.items()} if isinstance(v, Mapping) else _BAD


def _tags(v: Any) -> Any:
    return {str(k): str(x)[:256] for k, x in v.items()} if isinstance(v, Mapping) else _BAD


def _score(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): float(x) for k, x in v.items()}
    return _number(v)


def _number(v: Any, low: float = -math.inf) -> Any:
    f = float(v)
    return f if math.isfinite(f) and f >= low else _BAD


def _bool(v: Any) -> Any:
    s = _scalar(v)
    return bool(s) if isinstance(s, int) else _BAD  # bool is an int; "yes" is not a bool


def _text(v: Any, limit: int = 256) -> str:
    return str(v)[:limit]  # the server's limits: 256 for names and tags, 4096 for errors


def _timestamp(v: Any) -> Any:
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).isoformat()
    if isinstance(v, str):
        return v
    return _number(v)


_PLAIN = frozenset({str, int, float, bool, type(None)})
_STR = frozenset({str})
# (index in the caller's record tuple, wire name, converter)
_EVENT_FIELDS: tuple[tuple[int, str, Callable[[Any], Any]], ...] = (
    (1, "timestamp", _timestamp), (2, "prediction", _scalar), (3, "score", _score),
    (4, "label", _scalar), (5, "features", _features), (6, "tags", _tags),
    (7, "latency_ms", functools.partial(_number, low=0.0)),
    (8, "error", functools.partial(_text, limit=4096)), (9, "group", _text),
    (10, "converted", _bool), (11, "revenue", _number),
)  # fmt: skip


def _json_default(obj: Any) -> Any:
    s = _scalar(obj)
    return str(obj) if s is _BAD else s


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - _now())


def _bad_indices(resp: httpx.Response, n: int) -> set[int]:
    try:
        errors = resp.json()["detail"]["errors"]
        return {int(e["index"]) for e in errors if 0 <= int(e["index"]) < n}
    except Exception:
        return set()


def _reason(resp: httpx.Response) -> str:
    try:
        detail = resp.json().get("detail", resp.text)
        if isinstance(detail, dict):
            errs = "; ".join(
                f"[{e.get('index')}] {e.get('field')}: {e.get('reason')}"
                for e in detail.get("errors", [])[:5]
            )
            return f"{detail.get('message', '')} {errs}".strip()
        return str(detail)[:500]
    except Exception:
        return resp.text[:500]


def _after_fork_in_child() -> None:
    # The child must not reuse the parent's ids, locks (maybe held at fork time), queue (the
    # parent sends those events) or thread (it does not exist in the child); it starts afresh.
    global _ID_PREFIX, _ID_SEQ
    _ID_PREFIX, _ID_SEQ = secrets.token_hex(8), itertools.count()
    for client in list(_clients):
        client._reset()


def _close_all_at_exit() -> None:
    for client in list(_clients):
        client.close(timeout=client._exit_timeout)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_all_at_exit)
