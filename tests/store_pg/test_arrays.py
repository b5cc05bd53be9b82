"""Integer columns read as binary bigint[] and parsed by numpy (store/pg_arrays.py), against
psycopg's own conversion of the same values, on a real PostgreSQL server."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from modeltower.store import pg_arrays


def test_bigint_arrays_equal_the_values_psycopg_reads(pg_url: str) -> None:
    rng = np.random.default_rng(5)
    values = rng.integers(-(2**62), 2**62, 5_000)
    values[:4] = [0, -1, 2**63 - 1, -(2**63)]
    with psycopg.connect(pg_url, autocommit=True) as con:
        sql = (
            "SELECT array_agg(v ORDER BY i), array_agg(v / 2 ORDER BY i), array_agg(i::bigint) "
            "FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(v, i) WHERE i > 3 OR v <> 0"
        )
        got = pg_arrays.bigint_arrays(con, sql, [values.tolist()])
        plain = con.execute(sql, [values.tolist()]).fetchone()
        assert plain is not None
        assert [g.dtype for g in got] == [np.dtype(np.int64)] * 3
        for g, p in zip(got, plain, strict=True):
            assert g.tolist() == p
        assert got[0].tolist() == values[1:].tolist()  # the first, a 0 at i = 1, filtered
        # no rows: array_agg is NULL, read as empty
        empty = pg_arrays.bigint_arrays(con, "SELECT array_agg(1::bigint) WHERE false", [])
        assert [e.size for e in empty] == [0]
        # a NULL element is refused, not read as a number
        with pytest.raises(ValueError, match="NULL"):
            pg_arrays.bigint_arrays(con, "SELECT ARRAY[1, NULL, 3]::bigint[]", [])
        with pytest.raises(ValueError, match="dimensions"):
            pg_arrays.bigint_arrays(con, "SELECT ARRAY[[1, 2], [3, 4]]::bigint[]", [])
