"""Large integer results read from PostgreSQL as arrays in the binary protocol, parsed by numpy.

A month of hourly latency-sketch bins is about 114,000 rows of three integers. Fetched as rows,
turning them into Python tuples and those into arrays took as long as the query itself (about
20 ms each). Aggregated into one ``bigint[]`` per column and fetched in binary, each column is
one buffer of fixed-width elements, which numpy reads in well under a millisecond.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg.adapt import Loader
from psycopg.pq import Format

Ints = npt.NDArray[np.int64]

_INT8_ARRAY_OID = 1016
_ELEMENT = np.dtype([("len", ">i4"), ("v", ">i8")])  # int32 length (8), big-endian value


def parse_int8_array(data: bytes | bytearray | memoryview) -> Ints:
    """The elements of a one-dimensional ``bigint[]`` in PostgreSQL's binary format (none of
    them NULL)."""
    buf = memoryview(data)
    ndim = int.from_bytes(buf[0:4], "big")
    if ndim == 0:
        return np.zeros(0, np.int64)
    if ndim != 1:
        raise ValueError(f"a bigint[] of {ndim} dimensions")
    size = int.from_bytes(buf[12:16], "big", signed=True)
    body = buf[20:]
    if len(body) != size * _ELEMENT.itemsize:
        raise ValueError("a bigint[] with NULL elements")
    elements = np.frombuffer(body, dtype=_ELEMENT)
    if (elements["len"] != 8).any():
        raise ValueError("a bigint[] with NULL elements")
    return elements["v"].astype(np.int64)


class _Int8ArrayLoader(Loader):
    format = Format.BINARY

    def load(self, data: Any) -> Ints:
        return parse_int8_array(data)


def bigint_arrays(con: psycopg.Connection, sql: str, params: list[Any]) -> list[Ints]:
    """The one row of ``sql``, whose columns are each a ``bigint[]`` without NULLs (an
    ``array_agg``), as int64 arrays; a NULL column (an aggregate of no rows) is empty."""
    with con.cursor(binary=True) as cur:
        cur.adapters.register_loader(_INT8_ARRAY_OID, _Int8ArrayLoader)
        row = cur.execute(sql, params).fetchone()
    if row is None:
        return []
    return [np.zeros(0, np.int64) if v is None else v for v in row]
