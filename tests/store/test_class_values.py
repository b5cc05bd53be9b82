"""The confusion counts leave out numbers with a fraction (store/class_values.py): the rule is the
same in pyarrow, DuckDB and PostgreSQL; a regression model adds no confusion rows; whole numbers
stay classes; the migration removes what older writers added."""

from __future__ import annotations

import time
from typing import Any

import duckdb
import numpy as np
import psycopg
import pyarrow as pa
import pytest
from sklearn.metrics import confusion_matrix
from tests import pg
from tests.inprocess import MakeApi
from tests.store.test_rollups import HOUR, S, compare_windows, load

from modeltower.store import class_values
from modeltower.store.base import PART_CONFUSION, EventFilter
from modeltower.store.duckdb_store import DuckDBStore

pytestmark = pytest.mark.anyio

# (text, reads as a number with a fraction)
KNOWN = [
    ("3.7", True),
    ("-0.25", True),
    ("1e-05", True),  # Python's repr of 0.00001
    ("1.5E-7", True),
    ("007.5", True),
    ("0.1", True),
    ("3", False),
    ("3.0", False),
    ("-0", False),
    ("2.5e+16", False),  # a whole number written with a fraction and an exponent
    ("12345678901234567.5", False),  # the nearest double is whole
    ("churn", False),
    ("true", False),
    ("", False),
    (".5", False),  # not the plain decimal form: text, so a class
    ("1e999", False),  # three exponent digits: outside the pattern (it would overflow)
    ("1.5e-100", False),
    ("١.٥", False),  # Arabic-Indic digits are not [0-9]
    ("3.7 ", False),
]


def _texts() -> list[str]:
    rng = np.random.default_rng(11)
    floats = [repr(float(x)) for x in rng.normal(0, 1e3, 300)]
    tiny = [repr(float(x)) for x in 10.0 ** rng.uniform(-99, 20, 200)]
    whole = [str(int(x)) for x in rng.integers(-(10**12), 10**12, 100)]
    return [t for t, _ in KNOWN] + floats + tiny + whole + [repr(float(n)) for n in range(50)]


def test_the_rule_is_the_same_in_pyarrow_duckdb_and_postgres() -> None:
    texts = _texts()
    mine = [bool(x) for x in class_values.fraction_flags(pa.array(texts))]
    assert mine[: len(KNOWN)] == [want for _, want in KNOWN]
    # the random floats: a fraction exactly when Python says the value is not whole
    for t, got in zip(texts[len(KNOWN) :], mine[len(KNOWN) :], strict=True):
        assert got == (not float(t).is_integer()), t
    assert 200 < sum(mine) < len(texts) - 100
    # the reads' filter: rows whose label and prediction are both classes
    rows = [(i, t, u, 1) for i, (t, u) in enumerate(zip(texts, reversed(texts), strict=True))]
    kept = class_values.class_rows(rows, 1, 2)
    fraction = dict(zip(texts, mine, strict=True))
    assert kept == [r for r in rows if not fraction[r[1]] and not fraction[r[2]]]
    assert 0 < len(kept) < len(rows)

    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, x VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(texts)))
    rows = con.execute(f"SELECT {class_values.duckdb_fraction('x')} FROM t ORDER BY i").fetchall()
    assert [bool(r[0]) for r in rows] == mine

    server = pg.server()
    url = server.create_database()
    try:
        with psycopg.connect(url, autocommit=True) as pcon:
            pcon.execute('CREATE TABLE t (i INTEGER, x TEXT COLLATE "C")')
            with pcon.cursor() as cur:
                cur.executemany("INSERT INTO t VALUES (%s, %s)", list(enumerate(texts)))
            got = pcon.execute(
                f"SELECT {class_values.pg_fraction('x')} FROM t ORDER BY i"
            ).fetchall()
        assert [bool(r[0]) for r in got] == mine
    finally:
        server.drop_database(url)


def _confusion_rows(store: Any, model: str) -> list[tuple[str, str, int]]:
    """The stored confusion rows of ``model`` (DuckDB: the deltas not folded in too)."""
    duck = isinstance(store, DuckDBStore)
    out: list[tuple[str, str, int]] = []
    for table in ("rollup_confusion", "rollup_hour_confusion"):
        src = f"(SELECT model, lab, pred, n FROM {table}"
        if duck:
            src += f" UNION ALL SELECT model, lab, pred, n FROM rollup_delta WHERE tbl = '{table}'"
        mark = "?" if duck else "%s"
        sql = f"SELECT lab, pred, sum(n) FROM {src}) t WHERE model = {mark} GROUP BY 1, 2"
        with store.reader() as cur:
            out += [(r[0], r[1], int(r[2])) for r in cur.execute(sql, [model]).fetchall()]
    return out


async def test_a_regression_model_adds_no_confusion_rows(make_api: MakeApi) -> None:
    t0 = (int(time.time() * S) - 4 * 24 * HOUR) // HOUR * HOUR
    async with make_api() as api:
        await load(api, t0)  # "reg": predictions and labels with two decimals, late labels
        store = api.app.state.store
        reg = _confusion_rows(store, "reg")
        # what remains are the rare values that happen to be whole (e.g. 97.0)
        assert all(
            not class_values.is_fraction(lab) and not class_values.is_fraction(pred)
            for lab, pred, _ in reg
        )
        assert sum(n for *_, n in reg) < 60
        # (both levels: each labeled classification event counts once per level)
        assert sum(n for *_, n in _confusion_rows(store, "clf")) > 2 * 3000
        # and the rollups still equal the raw computation (which leaves them out too)
        assert compare_windows(api, t0) > 150
        m = await api.metrics("reg", {"start": t0 / S, "end": (t0 + 72 * HOUR) / S})
        assert m["labeled_count"] > 2900 and m["regression"]["mae"] > 0


async def test_whole_numbers_are_classes_and_fractions_are_not(make_api: MakeApi) -> None:
    t0 = (int(time.time() * S) - 3 * HOUR) // HOUR * HOUR
    rng = np.random.default_rng(5)
    preds = rng.choice(["0", "1", "2.5"], 3000).tolist()
    labels = rng.choice(["0", "1", "2.5"], 3000).tolist()
    events = []
    for i, (p, y) in enumerate(zip(preds, labels, strict=True)):
        # as JSON numbers and as strings; 2.5 either way is a regression value
        pv: Any = float(p) if i % 2 else p
        events.append({"model": "bin", "id": str(i), "timestamp": (t0 + i * 2 * S) / S,
                       "prediction": pv, "label": y if i % 3 else float(y)})  # fmt: skip
    async with make_api() as api:
        await api.put_model("bin", task="classification", positive_label="1")
        for i in range(0, len(events), 500):
            await api.events(events[i : i + 500])
        store = api.app.state.store
        for span in (HOUR + 17 * S, 3 * HOUR + 17 * S):  # raw events; rollups with raw edges
            pairs = [
                (y, p)
                for i, (p, y) in enumerate(zip(preds, labels, strict=True))
                if i * 2 * S < span and "2.5" not in (p, y)
            ]
            cm = confusion_matrix([y for y, _ in pairs], [p for _, p in pairs], labels=["0", "1"])
            want = {(a, b): int(cm[i, j]) for i, a in enumerate("01") for j, b in enumerate("01")}
            flt = EventFilter("bin", t0, t0 + span)
            got = store.aggregate(flt, None, frozenset({PART_CONFUSION}))[0].confusion
            assert got == want, span
        keep = [(y, p) for p, y in zip(preds, labels, strict=True) if "2.5" not in (p, y)]
        m = await api.metrics("bin", {"start": t0 / S, "end": (t0 + 3 * HOUR) / S})
        c = m["classification"]
        assert c["accuracy"] == pytest.approx(sum(1 for y, p in keep if y == p) / len(keep))
        assert m["labeled_count"] == 3000  # the regression values are still labeled events


async def test_reads_leave_out_what_older_writers_added(make_api: MakeApi) -> None:
    t0 = (int(time.time() * S) - 4 * 24 * HOUR) // HOUR * HOUR
    async with make_api() as api:
        await load(api, t0)
        store = api.app.state.store
        duck = isinstance(store, DuckDBStore)
        frac = (class_values.duckdb_fraction if duck else class_values.pg_fraction)("prediction")
        none = "'\x00'" if duck else "'\x01'"  # NONE_KEY (PostgreSQL text cannot hold NUL)
        # what a writer of an earlier release added for the regression model: a row per
        # (minute, label, prediction) of its labeled events (those with a fraction here)
        minute = f"ts // {60 * S} * {60 * S}" if duck else f"ts / {60 * S} * {60 * S}"
        select = (
            f"SELECT model, coalesce(version, {none}), coalesce(grp, {none}), {minute}, label, "
            f"prediction, count(*) FROM events WHERE model = 'reg' AND label IS NOT NULL "
            f"AND {frac} GROUP BY 1, 2, 3, 4, 5, 6"
        )
        sqls = [f"INSERT INTO rollup_confusion {select} ON CONFLICT DO NOTHING"]
        if duck:  # and deltas not folded in yet
            sqls.append(
                "INSERT INTO rollup_delta (tbl, model, version, grp, minute, lab, pred, n) "
                f"SELECT 'rollup_hour_confusion', * FROM ({select}) t"
            )
            for sql in sqls:
                store._con.execute(sql)
        else:
            with psycopg.connect(store.url, autocommit=True) as con:
                for sql in sqls:
                    con.execute(sql)
        assert sum(n for *_, n in _confusion_rows(store, "reg")) > 2500
        # rollups with raw edges still equal the raw computation, which counts no fractions
        assert compare_windows(api, t0) > 150
        flt = EventFilter("reg", t0, t0 + 72 * HOUR)
        got = store.aggregate(flt, None, frozenset({PART_CONFUSION}))
        assert sum(sum(a.confusion.values()) for a in got.values()) < 60
