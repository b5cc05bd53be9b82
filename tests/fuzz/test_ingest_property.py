"""Property: ingestion answers a clear 4xx, or stores exactly what was sent, never anything between.

Hypothesis builds events and feedback of random shape (missing, extra and mistyped fields, nested
junk, any unicode but surrogates, emoji, NUL, long strings, huge, tiny and negative-zero floats,
NaN and infinities as JSON tokens and as strings, integers beyond 2^63, empty lists and objects)
and posts them to the real application in-process. Every answer must be either

* a 4xx whose body names the offending field (or the body) and the reason, or
* a 2xx, and then the event read back through the Parquet export carries exactly the values sent
  (strings byte for byte, numbers equal), in the export's documented form: labels and predictions
  as their class text (``true``, ``1`` for ``1.0``), timestamps in microseconds (UTC), one column
  per feature and tag.
"""

from __future__ import annotations

import io
import json
import math
import os
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import anyio.from_thread
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.inprocess import Api, MakeApi

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))  # more for a deeper local run
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same bodies on every run: a CI failure reproduces locally
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ---- values ------------------------------------------------------------------------------------
_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"]),  # JSON text cannot carry lone surrogates
    max_size=40,
)
_edge_text = st.sampled_from(
    ["", " ", "\x00", "a\x00b", "NaN", "Infinity", "-Infinity", "null", "true", "1", "1.0",
     "é", "e\u0301", "🦆", "👩‍👩‍👧", "\u200b", "\ufeff", "\U0010ffff", "x" * 256, "x" * 257,
     "y" * 5000, "\\u0000", "\\", '"', "\n\r\t"]
)  # fmt: skip
TEXT = st.one_of(_text, _edge_text)
_edge_float = st.sampled_from(
    [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e300, -1e300, 1e301, 1.7976931348623157e308,
     0.1, 1.0, 1e-300, 0.5, 1 - 1e-16, 1e16, 2.0**53, 2.0**53 + 2]
)  # fmt: skip
FLOAT = st.one_of(st.floats(allow_nan=True, allow_infinity=True), _edge_float)
_edge_int = st.sampled_from(
    [0, -1, 2**31, 2**53, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64,
     10**30, -(10**30)]
)  # fmt: skip
INT = st.one_of(st.integers(), _edge_int)
SCALAR = st.one_of(st.none(), st.booleans(), INT, FLOAT, TEXT)
JUNK = st.recursive(
    SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)  # fmt: skip
LABEL = st.one_of(st.booleans(), INT, FLOAT, TEXT)
_t0 = datetime(2026, 1, 1, tzinfo=UTC)
TIMESTAMP = st.one_of(
    st.floats(min_value=0, max_value=7.2e9),
    st.integers(min_value=-10, max_value=8_000_000_000),
    st.datetimes(
        min_value=datetime(1969, 12, 31), max_value=datetime(2201, 1, 1), timezones=st.just(UTC)
    ).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)).map(
        lambda d: (_t0 - d).isoformat()
    ),
)
NAME = st.one_of(
    st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=12), TEXT
)


_plain = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))
GOOD_TEXT = st.one_of(
    _plain.filter(lambda t: len(t) <= 256),
    _edge_text.filter(lambda t: len(t) <= 256),  # NUL too: refused, or stored on every backend
)
# A model named with "/" or a dot segment ("." or "..") is refused (no /v1/models/{model}/...
# URL could name it; tests/api/test_ingest_errors.py): left out of the names meant to be stored.
GOOD_NAME = st.one_of(NAME, GOOD_TEXT).filter(
    lambda t: 1 <= len(t) <= 256 and "\x00" not in t and "/" not in t and t not in (".", "..")
)
GOOD_FLOAT = st.one_of(
    st.floats(min_value=-1e300, max_value=1e300), _edge_float.filter(lambda f: abs(f) <= 1e300)
)
GOOD_LABEL = st.one_of(st.booleans(), INT, GOOD_FLOAT, GOOD_TEXT)
UNIT = st.one_of(st.floats(min_value=0.0, max_value=1.0), st.sampled_from([0.0, -0.0, 1.0, 5e-324]))
GOOD_TIMESTAMP = st.one_of(
    st.floats(min_value=0, max_value=7.25e9),
    st.integers(min_value=0, max_value=7_000_000_000),
    st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(2199, 12, 31), timezones=st.just(UTC)
    ).map(lambda d: d.isoformat().replace("+00:00", "Z")),
)
GOOD_FEATURE = st.one_of(st.none(), st.booleans(), INT, GOOD_FLOAT, GOOD_TEXT)

# Each field: a value of its documented type and range (so that many events are stored), or
# anything at all.
VALID_EVENT: dict[str, st.SearchStrategy[Any]] = {
    "model": GOOD_NAME,
    "version": GOOD_TEXT,
    "id": st.one_of(GOOD_NAME, INT),
    "timestamp": GOOD_TIMESTAMP,
    "prediction": GOOD_LABEL,
    "score": st.one_of(UNIT, st.dictionaries(GOOD_TEXT, UNIT, max_size=3)),
    "label": GOOD_LABEL,
    "latency_ms": st.one_of(
        st.floats(min_value=0, max_value=1e12), st.sampled_from([0.0, -0.0, 5e-324])
    ),
    "error": GOOD_TEXT,
    "features": st.dictionaries(GOOD_TEXT, GOOD_FEATURE, max_size=4),
    "tags": st.dictionaries(GOOD_TEXT, GOOD_TEXT, max_size=3),
    "group": GOOD_TEXT,
    "converted": st.booleans(),
    "revenue": GOOD_FLOAT,
    "input_hash": GOOD_TEXT,
}
VALID_FEEDBACK: dict[str, st.SearchStrategy[Any]] = {
    "model": GOOD_NAME,
    "id": st.one_of(GOOD_NAME, INT),
    "label": GOOD_LABEL,
    "converted": st.booleans(),
    "revenue": GOOD_FLOAT,
}
EVENT_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    **{k: st.one_of(v, JUNK) for k, v in VALID_EVENT.items()},
    "timestamp": st.one_of(TIMESTAMP, JUNK),
    "ground_truth": st.one_of(GOOD_LABEL, JUNK),
}
FEEDBACK_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    **{k: st.one_of(v, JUNK) for k, v in VALID_FEEDBACK.items()},
    "ground_truth": st.one_of(GOOD_LABEL, JUNK),
}


@st.composite
def valid_objects(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    """An object of valid fields: the required ones and a random subset of the others."""
    required = ["model", "prediction"] if "prediction" in fields else ["model", "id", "label"]
    names = set(required) | draw(st.sets(st.sampled_from(sorted(fields)), max_size=len(fields)))
    return {name: draw(fields[name]) for name in sorted(names)}


@st.composite
def objects(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    """An object with a random subset of the known fields, sometimes with an unknown one."""
    names = draw(st.sets(st.sampled_from(sorted(fields)), max_size=len(fields)))
    if draw(st.booleans()):  # the fields an event needs, so that some are stored
        names |= {"model", "prediction"} if "prediction" in fields else {"model", "id", "label"}
    obj = {name: draw(fields[name]) for name in sorted(names)}
    if draw(st.integers(0, 9)) == 0:
        obj[draw(TEXT)] = draw(JUNK)
    return obj


def bodies(
    valid: dict[str, st.SearchStrategy[Any]], fields: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[tuple[Any, bytes]]:
    """(value, JSON text): one object or a list of them, mostly valid; NaN and infinities written
    as JSON tokens, any character escaped or not."""
    one = st.one_of(valid_objects(valid), valid_objects(valid), objects(fields))
    value = st.one_of(one, one, st.lists(one, max_size=3), JUNK)
    return st.tuples(value, st.booleans()).map(
        lambda v: (v[0], json.dumps(v[0], ensure_ascii=v[1]).encode("utf-8"))
    )


# ---- the running application -------------------------------------------------------------------
@pytest.fixture
def api(make_api: MakeApi) -> Iterator[tuple[anyio.from_thread.BlockingPortal, Api]]:
    """One application for all examples, its event loop in a thread (hypothesis runs sync)."""
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(make_api()) as running,
    ):
        yield portal, running


def _post(portal: anyio.from_thread.BlockingPortal, api: Api, path: str, body: bytes) -> Any:
    headers = {"content-type": "application/json"}
    return portal.call(lambda: api.client.post(path, content=body, headers=headers))


def _export(portal: anyio.from_thread.BlockingPortal, api: Api, model: str) -> pa.Table:
    url = f"/v1/models/{quote(model, safe='')}/export"
    r = portal.call(lambda: api.client.get(url, params={"format": "parquet"}))
    assert r.status_code == 200, r.text
    return pq.read_table(io.BytesIO(r.content))


def _assert_clear_4xx(r: Any) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    detail = r.json()["detail"]
    assert isinstance(detail["message"], str) and detail["message"], detail
    if r.status_code == 422 and "errors" in detail:
        assert detail["errors"], detail
        for e in detail["errors"]:
            assert isinstance(e["field"], str) and e["reason"], e
            # A field is named, or the item as a whole is wrong (not an object).
            assert e["field"] or any(
                words in e["reason"] for words in ("expected an object", "unknown field ''")
            ), e
    elif r.status_code == 422:
        assert detail.get("field"), detail


# ---- what the export must show -----------------------------------------------------------------
def _same_class(exported: str | None, sent: Any) -> None:
    """A prediction or label: booleans as true/false, numbers as numbers, text exactly."""
    if isinstance(sent, bool):
        assert exported == ("true" if sent else "false")
    elif isinstance(sent, int):
        assert exported is not None and int(exported) == sent, (exported, sent)
    elif isinstance(sent, float):
        assert exported is not None and float(exported) == sent, (exported, sent)
    else:
        assert exported == sent


def _same_number(exported: Any, sent: Any) -> None:
    assert exported == sent and math.copysign(1, exported) == math.copysign(1, sent), (
        exported,
        sent,
    )


def _micros(ts: Any) -> float:
    if isinstance(ts, str):
        d = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        d = d if d.tzinfo else d.replace(tzinfo=UTC)
        return (d - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)
    return float(ts) * 1_000_000


def _same_feature(exported: Any, sent: Any, numeric_column: bool) -> None:
    if sent is None:
        assert exported is None
    elif numeric_column:
        # Numeric feature columns are doubles: the sent number, as a double.
        assert not isinstance(sent, bool | str)
        assert exported == float(sent), (exported, sent)
    elif isinstance(sent, bool):
        assert exported == ("true" if sent else "false")
    elif isinstance(sent, int | float):
        assert exported is not None and float(exported) == sent, (exported, sent)
    else:
        assert exported == sent


def _assert_stored_as_sent(row: dict[str, Any], table: pa.Table, ev: dict[str, Any]) -> None:
    assert row["version"] == ev.get("version")
    if "timestamp" in ev:
        stored = datetime.strptime(row["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        stored_us = (stored - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)
        assert abs(stored_us - _micros(ev["timestamp"])) <= 0.5 + 1e-6 * abs(stored_us) * 1e-9
    for name in ("prediction", "label"):
        sent = ev.get(name, ev.get("ground_truth") if name == "label" else None)
        if sent is None:
            assert row[name] is None
        else:
            _same_class(row[name], sent)
    score = ev.get("score")
    if isinstance(score, dict):
        assert json.loads(row["scores"]) == score and row["score"] is None
    elif score is not None:
        _same_number(row["score"], score)
    for name in ("latency_ms", "revenue"):
        if ev.get(name) is None:
            assert row[name] is None
        else:
            _same_number(row[name], ev[name])
    assert row["error"] == ev.get("error")
    assert row["group"] == ev.get("group")
    assert row["converted"] == ev.get("converted")
    for key, value in (ev.get("features") or {}).items():
        column = table.schema.field(f"feature.{key}")
        _same_feature(row[column.name], value, pa.types.is_floating(column.type))
    for key, value in (ev.get("tags") or {}).items():
        assert row[f"tag.{key}"] == value


# ---- the properties ----------------------------------------------------------------------------
def test_events_are_refused_clearly_or_stored_exactly(api: tuple[Any, Api]) -> None:
    portal, app = api
    first: dict[tuple[str, str], dict[str, Any]] = {}  # the event stored under each key

    @SETTINGS
    @given(bodies(VALID_EVENT, EVENT_FIELDS))
    def check(sent: tuple[Any, bytes]) -> None:
        value, body = sent
        r = _post(portal, app, "/v1/events", body)
        assert r.status_code < 500, (r.status_code, r.text)
        if r.status_code >= 300:
            _assert_clear_4xx(r)
            return
        assert r.status_code == 200, r.text
        events = value if isinstance(value, list) else [value]
        ids = r.json()["ids"]
        assert len(ids) == len(events)
        for ev, stored_id in zip(events, ids, strict=True):
            if "id" in ev:
                assert stored_id == str(ev["id"])
            kept = first.setdefault((ev["model"], stored_id), ev)  # a duplicate keeps the first
            table = _export(portal, app, ev["model"])
            rows = [row for row in table.to_pylist() if row["id"] == stored_id]
            assert len(rows) == 1, (stored_id, rows)
            _assert_stored_as_sent(rows[0], table, kept)

    check()


def test_feedback_is_refused_clearly_or_accepted(api: tuple[Any, Api]) -> None:
    portal, app = api

    @SETTINGS
    @given(bodies(VALID_FEEDBACK, FEEDBACK_FIELDS))
    def check(sent: tuple[Any, bytes]) -> None:
        value, body = sent
        r = _post(portal, app, "/v1/feedback", body)
        assert r.status_code < 500, (r.status_code, r.text)
        if r.status_code >= 300:
            _assert_clear_4xx(r)
            return
        assert r.status_code == 200, r.text
        items = value if isinstance(value, list) else [value]
        assert r.json()["accepted"] == len(items)
        # The feedback is applied to its event when that arrives: send one and read it back.
        fb = items[-1]
        if "/" in fb["model"] or fb["model"] in (".", ".."):
            return  # its event would be refused (see GOOD_NAME)
        event = {"model": fb["model"], "id": fb["id"], "prediction": "p"}
        r = _post(portal, app, "/v1/events", json.dumps(event).encode())
        assert r.status_code == 200, r.text
        if r.json()["duplicates"]:
            return  # an earlier example stored this event already, with other feedback
        latest: dict[str, Any] = {}  # later items override the earlier ones' values
        for item in items:
            if item["model"] == fb["model"] and str(item["id"]) == str(fb["id"]):
                lab = item.get("label", item.get("ground_truth"))
                merged = {
                    "label": lab,
                    "converted": item.get("converted"),
                    "revenue": item.get("revenue"),
                }
                latest.update({k: v for k, v in merged.items() if v is not None})
        row = next(
            row
            for row in _export(portal, app, fb["model"]).to_pylist()
            if row["id"] == str(fb["id"])
        )
        if "label" in latest:
            _same_class(row["label"], latest["label"])
        if "converted" in latest:
            assert row["converted"] == latest["converted"]
        if "revenue" in latest:
            _same_number(row["revenue"], latest["revenue"])

    check()
