"""Client side of ``modeltower import`` and ``modeltower export``.

Import streams a CSV, Parquet or JSON-lines file to ``POST /v1/events`` in batches, never holding
the whole file in memory. The server refuses a batch whole when any event in it is invalid (422,
with the index, field and reason of every bad event); the bad rows are then reported with their
line number in the file and the rest of the batch is posted again, so good rows are never lost.
Posting is idempotent on the server (events are deduplicated by ``(model, id)``), which is what
makes retrying 429/503 and dropped connections safe.

Export streams ``GET /v1/models/{model}/export`` to a file.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import IO, Any, TextIO
from urllib.parse import quote

import httpx
import orjson
from tqdm import tqdm

__all__ = ["ImportReport", "TransferError", "detect_format", "run_export", "run_import"]

EVENT_FIELDS = frozenset(
    {"id", "version", "timestamp", "prediction", "score", "label", "ground_truth", "latency_ms",
     "error", "group", "converted", "revenue", "input_hash"}
)  # fmt: skip
_STRING_FIELDS = frozenset({"id", "version", "error", "group", "input_hash"})
_NUMBER_FIELDS = frozenset({"latency_ms", "revenue"})
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl",
               ".ndjson": "jsonl", ".json": "jsonl"}  # fmt: skip
_RETRY_STATUS = frozenset({429, 502, 503, 504})
_MAX_ATTEMPTS = 8

Row = tuple[int, dict[str, Any]]  # (line number in the file, event)


class TransferError(Exception):
    """Import or export cannot continue (bad file, server refused, server unreachable)."""


@dataclass
class ImportReport:
    """Outcome of an import. ``rejected`` holds (line, field, reason); a row may appear twice."""

    rows_read: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        """Number of distinct rows refused."""
        return len({line for line, _, _ in self.rejected})


def detect_format(path: str, fmt: str | None = None) -> str:
    """'csv', 'parquet' or 'jsonl' from ``fmt`` or the file extension (ignoring a trailing .gz)."""
    if fmt:
        fmt = {"ndjson": "jsonl", "json": "jsonl", "pq": "parquet"}.get(fmt.lower(), fmt.lower())
        if fmt not in ("csv", "parquet", "jsonl"):
            raise TransferError(f"unknown format {fmt!r} (use csv, parquet or jsonl)")
        return fmt
    name = path.lower().removesuffix(".gz")
    for ext, kind in _EXTENSIONS.items():
        if name.endswith(ext):
            return kind
    raise TransferError(f"cannot tell the format of {path!r} from its extension; pass a format")


# ---------------------------------------------------------------- reading files


def _open_text(path: str) -> IO[str]:
    # utf-8-sig drops the byte-order mark spreadsheet programs put in front of CSV exports.
    if path.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")  # closed by the caller


def _csv_rows(path: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(first physical line of the record, {column: text}) or (line, error message)."""
    with _open_text(path) as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        previous_end = reader.line_num
        for cells in reader:
            line = previous_end + 1  # a quoted field may span lines; report where the row starts
            previous_end = reader.line_num
            if not cells:
                continue
            if len(cells) != len(header):
                yield line, f"expected {len(header)} columns, found {len(cells)}"
                continue
            # Empty cells are missing values, never empty strings.
            yield line, {k: (v if v != "" else None) for k, v in zip(header, cells, strict=True)}


def _jsonl_rows(path: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """One JSON object per physical line (blank lines are skipped but counted)."""
    with _open_text(path) as f:
        for n, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                item = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                yield n, f"invalid JSON: {exc}"
                continue
            yield (n, item) if isinstance(item, dict) else (n, "expected a JSON object")


def _parquet_rows(path: str) -> tuple[int, Iterator[tuple[int, dict[str, Any] | str]]]:
    """(row count, rows numbered from 1), read one record batch at a time."""
    import pyarrow.parquet as pq  # imported lazily: only Parquet needs it and it is slow to load

    pf = pq.ParquetFile(path)

    def rows() -> Iterator[tuple[int, dict[str, Any] | str]]:
        n = 0
        for batch in pf.iter_batches(batch_size=10_000):
            for item in batch.to_pylist():
                n += 1
                yield n, item

    return pf.metadata.num_rows, rows()


# ---------------------------------------------------------------- rows to events


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _infer(text: str) -> Any:
    """Type of a CSV cell: int, float, bool or the text itself."""
    num = _number(text)
    if num is not None:
        return num
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    return text


def _epoch(value: Any) -> Any:
    """Timestamps as epoch seconds: numbers stay, ISO strings and datetimes are converted
    (naive ones are UTC, like the server does). Anything else is left for the server to reject."""
    if isinstance(value, str):
        num = _number(value)
        if num is not None:
            return num
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return value


def _plain(value: Any) -> Any:
    """Python values from Parquet that JSON cannot carry, made JSON-friendly."""
    if isinstance(value, float) and not math.isfinite(value):
        return None  # pandas writes missing numbers as NaN
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _feature(value: Any, from_text: bool) -> Any:
    """A feature value; nulls are kept (they count towards the feature's missing rate)."""
    if value is None:
        return None
    return _infer(value) if from_text else _plain(value)


def _event_value(name: str, value: Any, from_text: bool) -> Any:
    """Convert one value destined for event field ``name``."""
    if name == "timestamp":
        return _epoch(value)
    if not from_text:
        return _plain(value)
    if name in _STRING_FIELDS:
        return value
    if name in _NUMBER_FIELDS:
        num = _number(value)
        return value if num is None else num  # unparseable: the server names the field
    if name == "converted":
        low = value.strip().lower()
        return True if low in _TRUE else False if low in _FALSE else value
    if name == "score" and value.lstrip().startswith("{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return _infer(value)


def _to_event(
    raw: dict[str, Any], *, from_text: bool, model: str, version: str | None
) -> dict[str, Any] | tuple[str, str]:
    """Map one row to an event, or return (field, reason) when the row cannot be used."""
    event: dict[str, Any] = {"model": model}
    features: dict[str, Any] = {}
    tags: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "model":
            if value is not None and str(value) != model:
                return "model", f"row is for model {value!r}, but the import is for {model!r}"
        elif key.startswith("tag."):
            if value is not None:
                tags[key[4:]] = value if isinstance(value, str) else str(_plain(value))
        elif key.startswith("feature."):
            features[key[8:]] = _feature(value, from_text)
        elif key == "scores":
            # ``modeltower export`` writes multiclass scores as a JSON object in this column.
            scores = orjson.loads(value) if isinstance(value, str) and value else value
            if scores is not None:
                event["score"] = scores
        elif key in ("features", "tags") and isinstance(value, dict):
            (features if key == "features" else tags).update(value)
        elif key in EVENT_FIELDS:
            converted = None if value is None else _event_value(key, value, from_text)
            if converted is not None:  # nulls are omitted, the server's defaults apply
                event[key] = converted
        else:
            features[key] = _feature(value, from_text)
    if version is not None and "version" not in event:
        event["version"] = version
    if features:
        event["features"] = features
    if tags:
        event["tags"] = tags
    return event


# ---------------------------------------------------------------- posting


def _post(client: httpx.Client, report: ImportReport, rows: list[Row]) -> None:
    """Post ``rows``; on 422 record the rows the server named and post the rest again."""
    while rows:
        resp = _request(client, "POST", "/v1/events", content=orjson.dumps([e for _, e in rows]))
        body = _json(resp)
        if resp.is_success:
            dup = int(body.get("duplicates", 0)) if isinstance(body, dict) else 0
            acc = body.get("accepted") if isinstance(body, dict) else None
            report.duplicates += dup
            report.accepted += int(acc) if acc is not None else len(rows) - dup
            return
        if resp.status_code == 413 and len(rows) > 1:
            # Body or batch too large for the server: halve it until it fits.
            _post(client, report, rows[: len(rows) // 2])
            _post(client, report, rows[len(rows) // 2 :])
            return
        if resp.status_code != 422:
            raise TransferError(f"POST /v1/events failed: {_describe(resp)}")
        detail = body.get("detail") if isinstance(body, dict) else None
        errors = detail.get("errors") if isinstance(detail, dict) else None
        bad: set[int] = set()
        for err in errors if isinstance(errors, list) else []:
            index = err.get("index") if isinstance(err, dict) else None
            if isinstance(index, int) and 0 <= index < len(rows):
                bad.add(index)
                report.rejected.append(
                    (rows[index][0], str(err.get("field")), str(err.get("reason")))
                )
        if not bad:
            # Nothing we can attribute to a row: give up on the batch rather than loop forever.
            report.rejected += [(line, "", _describe(resp)) for line, _ in rows]
            return
        rows = [r for i, r in enumerate(rows) if i not in bad]


def _request(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """Send with retries on overload (429/503) and on dropped connections; safe because the
    server deduplicates events by id."""
    delay = 0.5
    for attempt in range(1, _MAX_ATTEMPTS + 1):
        try:
            resp = client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            if attempt == _MAX_ATTEMPTS:
                raise TransferError(f"cannot reach {client.base_url}: {exc}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        if resp.status_code not in _RETRY_STATUS or attempt == _MAX_ATTEMPTS:
            return resp
        retry_after = resp.headers.get("retry-after", "")
        time.sleep(float(retry_after) if retry_after.replace(".", "", 1).isdigit() else delay)
        delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _describe(resp: httpx.Response) -> str:
    """'HTTP 401: <the server's message>' from FastAPI-style or plain error bodies."""
    body = _json(resp)
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, dict):
        fld = detail.get("field")
        detail = f"{fld}: {detail.get('message')}" if fld else detail.get("message", detail)
    text = detail if isinstance(detail, str) else (resp.text if detail is None else str(detail))
    return f"HTTP {resp.status_code}: {text.strip()[:500] or resp.reason_phrase}"


def _client(url: str, api_key: str | None, timeout: float = 60.0) -> httpx.Client:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)


# ---------------------------------------------------------------- public API


def run_import(
    path: str,
    *,
    model: str,
    url: str,
    version: str | None = None,
    batch_size: int = 1000,
    api_key: str | None = None,
    progress: bool = True,
    out: TextIO = sys.stderr,
    fmt: str | None = None,
) -> ImportReport:
    """Import the events in ``path`` for ``model`` and report what happened to every row.

    ``fmt`` overrides the format guessed from the extension. ``version`` fills rows that carry no
    version of their own. Only the progress bar is written to ``out``; rejected rows (with their
    line numbers) are in the returned report. Raises TransferError when the server refuses the
    import as a whole (unreachable, 401, 5xx after retries).
    """
    kind = detect_format(path, fmt)
    if not os.path.exists(path):
        raise TransferError(f"{path}: no such file")
    total: int | None = None
    if kind == "parquet":
        total, rows = _parquet_rows(path)
    else:
        rows = _csv_rows(path) if kind == "csv" else _jsonl_rows(path)
    report = ImportReport()
    with (
        _client(url, api_key) as client,
        tqdm(total=total, unit="row", file=out, disable=not progress, dynamic_ncols=True) as bar,
    ):
        batch: list[Row] = []
        for line, raw in rows:
            report.rows_read += 1
            bar.update(1)
            # Rejections are only recorded: the caller prints them once the progress bar is gone.
            if isinstance(raw, str):
                report.rejected.append((line, "", raw))
                continue
            event = _to_event(raw, from_text=kind == "csv", model=model, version=version)
            if isinstance(event, tuple):
                report.rejected.append((line, *event))
                continue
            batch.append((line, event))
            if len(batch) >= batch_size:
                _post(client, report, batch)
                batch = []
        _post(client, report, batch)
    return report


def run_export(
    *,
    model: str,
    url: str,
    fmt: str,
    out_path: str,
    window: str | None = None,
    start: str | None = None,
    end: str | None = None,
    version: str | None = None,
    api_key: str | None = None,
    daily: bool = False,
) -> int:
    """Download ``model``'s events (or with ``daily`` its daily health table) as CSV or Parquet
    to ``out_path``; return the bytes written.

    The file appears only once complete (written to a temporary name, then renamed), so a failed
    export never leaves a truncated file that looks valid.
    """
    if fmt not in ("csv", "parquet"):
        raise TransferError(f"unknown export format {fmt!r} (use csv or parquet)")
    params = {"format": fmt, "window": window, "start": start, "end": end, "version": version}
    query = {k: v for k, v in params.items() if v is not None}
    path = f"/v1/models/{quote(model, safe='')}/{'daily' if daily else 'export'}"
    tmp = f"{out_path}.part"
    try:
        with _client(url, api_key, timeout=300.0) as client:
            written = _download(client, path, query, tmp, model)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    os.replace(tmp, out_path)
    return written


def _download(client: httpx.Client, path: str, query: dict[str, str], tmp: str, model: str) -> int:
    """Stream one GET to ``tmp``, retrying while the server is overloaded."""
    delay = 0.5
    for attempt in range(1, _MAX_ATTEMPTS + 1):
        try:
            with client.stream("GET", path, params=query) as resp:
                if resp.status_code in _RETRY_STATUS and attempt < _MAX_ATTEMPTS:
                    time.sleep(delay)
                    delay = min(delay * 2, 10.0)
                    continue
                if not resp.is_success:
                    resp.read()
                    raise TransferError(f"export of {model!r} failed: {_describe(resp)}")
                written = 0
                with open(tmp, "wb") as f:
                    for chunk in resp.iter_bytes(1 << 20):
                        f.write(chunk)
                        written += len(chunk)
                return written
        except httpx.TransportError as exc:
            raise TransferError(f"export of {model!r} failed: {exc}") from exc
    raise AssertionError("unreachable")
