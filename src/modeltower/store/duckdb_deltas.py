"""Rollup deltas of a batch of events, computed in memory for the DuckDB writer.

What a batch adds to each rollup table (store/duckdb_rollups.py) is a GROUP BY of the batch
over the table's key. DuckDB answered those GROUP BYs with upserts (``INSERT … ON CONFLICT DO
UPDATE``), and at a few milliseconds each — most of it the conflict handling, not the
arithmetic — seven of them cost more than inserting the events themselves. Here the same
aggregates come from numpy over the batch's Arrow columns (``np.unique`` for the groups,
``np.bincount`` for the sums), and the writer appends them to the ``*_delta`` tables without a
conflict check; :meth:`duckdb_rollups.Updater.compact` folds the deltas into the keyed tables
later, and reads sum both.

The arithmetic is that of the SQL in duckdb_rollups.py and duckdb_scores.py (their
``BIN_SQL``, the FILTER conditions, the clipping of scores), and tests/store/test_deltas.py
checks it against that SQL on the same rows. A pure function: no connection, no state.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from modeltower.metrics.score_sketch import EPS, MULTI_BIN, SCORE_BINS
from modeltower.store.class_values import fraction_flags
from modeltower.store.latency_sketch import LN_GAMMA, ZERO_BIN
from modeltower.store.rollup_plan import DAY_US, HOUR_US, MINUTE_US, NONE_KEY

# The columns of an effective row: an event with its feedback applied (label -> lab, ...).
EFFECTIVE = (
    "model",
    "version",
    "grp",
    "ts",
    "prediction",
    "prediction_num",
    "latency_ms",
    "error",
    "score",
    "scores",
    "lab",
    "labn",
    "conv",
    "rev",
)
_EPS_APE = float(np.finfo(np.float64).eps)

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


def effective_of_batch(table: pa.Table) -> pa.Table:
    """The effective rows of new events that no feedback applies to (their own columns)."""
    names = ["label", "label_num", "converted", "revenue"]
    picked = table.select([c for c in EFFECTIVE if c not in ("lab", "labn", "conv", "rev")])
    for old, new in zip(names, ("lab", "labn", "conv", "rev"), strict=True):
        picked = picked.append_column(new, table.column(old))
    return picked


def _dense(x: npt.NDArray[np.int64]) -> tuple[Ints, int]:
    """Codes 0..k-1 of the distinct values of ``x`` (in sorted order), and k."""
    uniq, inv = np.unique(x, return_inverse=True)
    return inv.astype(np.int64).reshape(-1), len(uniq)


def _combine(*parts: tuple[Ints, int]) -> tuple[Ints, int]:
    """Dense codes of the combinations of several dense code arrays."""
    code, card = parts[0]
    for c, k in parts[1:]:
        # both below the row count after each step, so the product never overflows
        code, card = _dense(code * k + c)
    return code, card


class _Batch:
    """The batch's columns as numpy arrays, and the masks the rollups filter on."""

    def __init__(self, rows: pa.Table) -> None:
        self.rows = rows
        self.n = rows.num_rows
        self.ts = _ints(rows, "ts")
        self.keys = {c: _text_codes(rows, c) for c in ("model", "version", "grp")}
        self.group = _combine(*(self.keys[c][0] for c in ("model", "version", "grp")))
        self.err_ok = ~_null(rows, "error")
        err_null = ~self.err_ok
        lab_ok = ~_null(rows, "lab")
        self.cls = lab_ok & ~_null(rows, "prediction") & err_null
        same = pc.fill_null(pc.equal(rows.column("lab"), rows.column("prediction")), False)
        self.match = self.cls & _bools(same)
        self.reg = ~_null(rows, "labn") & ~_null(rows, "prediction_num") & err_null
        self.lat_ok = ~_null(rows, "latency_ms")
        self.lat = _floats(rows, "latency_ms")
        self.labn = _floats(rows, "labn")
        self.pn = _floats(rows, "prediction_num")
        self.score_ok = ~_null(rows, "score")
        self.multi = ~_null(rows, "scores")
        self.score = _floats(rows, "score")
        self.conv_ok = ~_null(rows, "conv")
        self.conv = _bools(pc.fill_null(rows.column("conv"), False))
        self.rev_ok = ~_null(rows, "rev")
        self.rev = _floats(rows, "rev")
        self._units: dict[int, tuple[Ints, int]] = {}
        self._texts: dict[str, tuple[tuple[Ints, int], pa.Array]] = {}
        self._dicts: dict[str, pa.Array] = {}
        self._fractions: dict[str, Mask] = {}

    def text(self, name: str) -> tuple[tuple[Ints, int], pa.Array]:
        """:func:`_text_codes` of a column, computed once per batch (both levels use it)."""
        got = self._texts.get(name)
        if got is None:
            codes, col, self._dicts[name] = _encode(self.rows, name)
            got = self._texts[name] = codes, col
        return got

    def fraction(self, name: str) -> Mask:
        """Rows whose text in ``name`` reads as a number with a fraction (not a class:
        store/class_values.py), decided once per distinct value."""
        got = self._fractions.get(name)
        if got is None:
            (codes, _), _ = self.text(name)
            got = self._fractions[name] = fraction_flags(self._dicts[name])[codes]
        return got

    def unit(self, unit_us: int) -> tuple[Ints, int]:
        """Dense codes of (model, version, group, unit start) per row."""
        got = self._units.get(unit_us)
        if got is None:
            got = self._units[unit_us] = _combine(self.group, _dense(self.ts // unit_us))
        return got

    def key_columns(self, first: Ints, unit_us: int) -> dict[str, pa.Array]:
        """model, version, grp, minute of the rows at ``first`` (one per group)."""
        idx = pa.array(first)
        out = {c: self.keys[c][1].take(idx) for c in ("model", "version", "grp")}
        out["minute"] = pa.array(self.ts[first] // unit_us * unit_us, pa.int64())
        return out


def _null(rows: pa.Table, name: str) -> Mask:
    return _bools(rows.column(name).is_null())


def _bools(arr: pa.ChunkedArray | pa.Array) -> Mask:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.bool_)


def _ints(rows: pa.Table, name: str) -> Ints:
    return np.asarray(rows.column(name).to_numpy(zero_copy_only=False), dtype=np.int64)


def _floats(rows: pa.Table, name: str) -> Floats:
    col = pc.fill_null(rows.column(name), 0.0)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)


def _text_codes(rows: pa.Table, name: str) -> tuple[tuple[Ints, int], pa.Array]:
    """Dense codes of a text column (NULL as NONE_KEY, as in the key columns) and the values
    per row, to take the key values of each group from."""
    codes, col, _ = _encode(rows, name)
    return codes, col


def _encode(rows: pa.Table, name: str) -> tuple[tuple[Ints, int], pa.Array, pa.Array]:
    """:func:`_text_codes` and the distinct values the codes number."""
    col = pc.fill_null(rows.column(name).combine_chunks(), NONE_KEY)
    enc = pc.dictionary_encode(col)
    codes = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return (codes, len(enc.dictionary)), col, enc.dictionary


class _Groups:
    """Rows (a mask of them) grouped by dense codes: sums and counts per group."""

    def __init__(self, code: Ints, mask: Mask | None = None) -> None:
        self.idx = np.arange(len(code)) if mask is None else np.flatnonzero(mask)
        uniq, first, inv = np.unique(code[self.idx], return_index=True, return_inverse=True)
        self.inv, self.k = inv.astype(np.int64).reshape(-1), len(uniq)
        self.first = self.idx[first]  # a row of each group, in the batch

    def count(self, mask: Mask | None = None, sign: int = 1) -> Ints:
        inv = self.inv if mask is None else self.inv[mask[self.idx]]
        return sign * np.bincount(inv, minlength=self.k).astype(np.int64)

    def sum(self, values: Floats, mask: Mask | None = None, sign: int = 1) -> Floats:
        w = values[self.idx] if mask is None else np.where(mask[self.idx], values[self.idx], 0.0)
        out = np.bincount(self.inv, weights=w, minlength=self.k).astype(np.float64)
        return sign * out


def _ops(b: _Batch, unit_us: int, sign: int) -> pa.Table:
    g = _Groups(b.unit(unit_us)[0])
    reg = b.reg
    err = np.where(reg, b.labn - b.pn, 0.0)
    abs_err = np.abs(err)
    lat_n = g.count(b.lat_ok)
    if sign > 0:
        lat_max = np.full(g.k, -np.inf)
        sel = b.lat_ok[g.idx]
        np.maximum.at(lat_max, g.inv[sel], b.lat[g.idx][sel])
        lat_max_col = pa.array(lat_max, pa.float64(), mask=lat_n == 0)
    else:  # as the SQL: a subtraction never lowers the maximum
        lat_max_col = pa.nulls(g.k, pa.float64())
    cols = b.key_columns(g.first, unit_us)
    values: dict[str, npt.NDArray[np.int64] | Floats] = {
        "n": g.count(sign=sign),
        "errors": g.count(b.err_ok, sign),
        "lat_n": sign * lat_n,
        "lat_sum": g.sum(b.lat, b.lat_ok, sign),
    }
    cols.update({k: pa.array(v) for k, v in values.items()})
    cols["lat_max"] = lat_max_col
    more: dict[str, npt.NDArray[np.int64] | Floats] = {
        "cls_n": g.count(b.cls, sign),
        "cls_match": g.count(b.match, sign),
        "reg_n": g.count(reg, sign),
        "reg_abs": g.sum(abs_err, reg, sign),
        "reg_sq": g.sum(err * err, reg, sign),
        "reg_ape": g.sum(abs_err / np.maximum(np.abs(b.labn), _EPS_APE), reg, sign),
        "reg_y": g.sum(b.labn, reg, sign),
        "reg_y2": g.sum(b.labn * b.labn, reg, sign),
        "conv_n": g.count(b.conv & b.conv_ok, sign),
        "conv_known": g.count(b.conv_ok, sign),
        "rev_sum": g.sum(b.rev, b.rev_ok, sign),
        "rev_known": g.count(b.rev_ok, sign),
    }
    cols.update({k: pa.array(v) for k, v in more.items()})
    return pa.table(cols)


def _confusion(b: _Batch, unit_us: int, sign: int) -> pa.Table | None:
    if not b.cls.any():
        return None
    lab, pred = b.text("lab"), b.text("prediction")
    classes = b.cls & ~b.fraction("lab") & ~b.fraction("prediction")
    if not classes.any():
        return None
    g = _Groups(_combine(b.unit(unit_us), lab[0], pred[0])[0], classes)
    cols = b.key_columns(g.first, unit_us)
    idx = pa.array(g.first)
    cols.update(
        {"lab": lab[1].take(idx), "pred": pred[1].take(idx), "n": pa.array(g.count(sign=sign))}
    )
    return pa.table(cols)


def _scores(b: _Batch, unit_us: int, sign: int) -> pa.Table | None:
    scored = b.cls & (b.score_ok | b.multi)
    if not scored.any():
        return None
    bins = np.where(
        b.multi, MULTI_BIN, np.minimum(np.floor(b.score * SCORE_BINS), SCORE_BINS - 1)
    ).astype(np.int64)
    lab = b.text("lab")
    g = _Groups(_combine(b.unit(unit_us), lab[0], (bins - MULTI_BIN, SCORE_BINS + 1))[0], scored)
    has_p = b.score_ok  # ln(NULL) adds nothing to the SQL sums
    p = np.where(has_p, b.score, 0.5)
    ln_p = np.log(np.clip(p, EPS, 1 - EPS))
    ln_1mp = np.log(np.clip(1.0 - p, EPS, 1 - EPS))
    cols = b.key_columns(g.first, unit_us)
    cols["lab"] = lab[1].take(pa.array(g.first))
    cols["bin"] = pa.array(bins[g.first], pa.int32())
    cols["n"] = pa.array(g.count(sign=sign))
    cols["ln_p"] = pa.array(g.sum(ln_p, has_p, sign))
    cols["ln_1mp"] = pa.array(g.sum(ln_1mp, has_p, sign))
    return pa.table(cols)


def latency_bins(lat: Floats) -> Ints:
    """The sketch bin of each latency (``duckdb_rollups.BIN_SQL``)."""
    pos = lat > 0
    logs = np.log(np.where(pos, lat, 1.0)) / LN_GAMMA
    out: Ints = np.where(pos, np.maximum(np.ceil(logs), ZERO_BIN + 1), ZERO_BIN).astype(np.int64)
    return out


def _latency(b: _Batch, sign: int) -> pa.Table | None:
    if not b.lat_ok.any():
        return None
    bins = latency_bins(b.lat)
    g = _Groups(_combine(b.unit(HOUR_US), _dense(bins))[0], b.lat_ok)
    cols = b.key_columns(g.first, HOUR_US)
    cols["bin"] = pa.array(bins[g.first], pa.int32())
    cols["n"] = pa.array(g.count(sign=sign))
    return pa.table(cols)


def deltas(rows: pa.Table, sign: int, sketch: bool) -> dict[str, pa.Table]:
    """Per rollup table, the rows that add ``sign`` times the contributions of ``rows``
    (effective rows, :data:`EFFECTIVE`); ``sketch``: the latency sketch too (new events only:
    feedback never changes a latency)."""
    if rows.num_rows == 0:
        return {}
    b = _Batch(rows)
    s = int(sign)
    parts: dict[str, Callable[[], pa.Table | None]] = {
        "rollup_minute": lambda: _ops(b, MINUTE_US, s),
        "rollup_hour": lambda: _ops(b, HOUR_US, s),
        "rollup_confusion": lambda: _confusion(b, MINUTE_US, s),
        "rollup_hour_confusion": lambda: _confusion(b, HOUR_US, s),
        "rollup_score": lambda: _scores(b, HOUR_US, s),
        "rollup_score_day": lambda: _scores(b, DAY_US, s),
    }
    if sketch:
        parts["rollup_latency"] = lambda: _latency(b, s)
    out = {}
    for table, make in parts.items():
        got = make()
        if got is not None and got.num_rows:
            out[table] = got
    for table, wide in MODEL_WIDE.items():
        if table in out:
            out[wide] = model_wide(out[table])
    return out


# The sketch tables that have a model-wide copy (store/duckdb_rollups.py, MODEL_WIDE), named
# here to keep this module free of SQL.
MODEL_WIDE = {"rollup_latency": "rollup_latency_model"}
_KEY = ("model", "version", "grp", "minute")


def model_wide(rows: pa.Table) -> pa.Table:
    """Delta rows of a sketch table with version and group summed away (both NONE_KEY): the
    rows of its model-wide copy."""
    extra = [c for c in ("lab", "bin") if c in rows.column_names]
    values = [c for c in rows.column_names if c not in (*_KEY, *extra)]
    keys = ["model", "minute", *extra]
    # one thread: the float sums then come out the same for the same batch, every time
    got = rows.group_by(keys, use_threads=False).aggregate([(v, "sum") for v in values])
    none = pa.repeat(pa.scalar(NONE_KEY), got.num_rows)
    cols = {"model": got["model"], "version": none, "grp": none, "minute": got["minute"]}
    cols.update({c: got[c] for c in extra})
    cols.update({v: got[f"{v}_sum"].cast(rows.schema.field(v).type) for v in values})
    return pa.table(cols)
