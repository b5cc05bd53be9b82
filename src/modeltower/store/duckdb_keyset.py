"""Which event keys the DuckDB store holds: the writer's duplicate check without an index.

A primary key on events.k (and on feedback.k) made DuckDB keep an ART index in memory that
could not be evicted under a memory limit: about 45 bytes per event and 65 per feedback row,
730 MB at 10M events once ingestion had touched it, and a memory limit below that made writes
and even the replay of the WAL fail. The tables have no primary key since schema version 11;
instead the writer keeps the low 64 bits of every stored key in sorted numpy arrays (8 bytes
per event) and asks them first. A batch without a hit (nearly all: a hit is a client retry, or
about one false match in 10^12 at 10M events) is inserted without touching the table; only
the rows with a hit are checked against events.k exactly, by one scan.

The array is derived state: built from the table at open (and again once retention has deleted
a fifth of it), extended only after a transaction that inserted events has committed.
"""

from __future__ import annotations

from hashlib import md5
from itertools import pairwise

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

# the low 64 bits of a key (k is md5_number(model || chr(0) || id), a UHUGEINT)
FINGERPRINT = "(k & 18446744073709551615::UHUGEINT)::UBIGINT"
BATCH_FINGERPRINT = "(md5_number(model || chr(0) || id) & 18446744073709551615::UHUGEINT)::UBIGINT"

Fingerprints = npt.NDArray[np.uint64]
_LOAD_ROWS = 1 << 20
# Up to this many rows a batch's fingerprints are computed here (hashlib): a DuckDB statement
# costs about 0.7 ms however few its rows, hashlib about 0.75 µs a row; past it, DuckDB is
# faster, and gives up the GIL while it hashes.
PYTHON_MAX_ROWS = 1024


# The large sorted array is kept in PARTS pieces by the top bits of the fingerprint, so that
# folding the recent ones in copies one piece at a time: as one array, the fold copied all of
# it (80 MB at 10M events) while the old copy was still held, once every 312k new events.
_PART_BITS = 4
PARTS = 1 << _PART_BITS
_PART_SHIFT = np.uint64(64 - _PART_BITS)
_PART_STARTS = np.arange(1, PARTS, dtype=np.uint64) << _PART_SHIFT
_PART_SIZES = (
    f"SELECT ({FINGERPRINT} >> {64 - _PART_BITS})::INTEGER AS p, count(*) FROM events GROUP BY p"
)


class KeySet:
    """The fingerprints of the stored events: a large sorted array (in :data:`PARTS` pieces)
    plus a small sorted one of recent additions, folded into the large one when it has grown
    past a share of it (so that adding stays cheap and a lookup is a few binary searches)."""

    def __init__(self) -> None:
        self._parts: list[Fingerprints] = [np.empty(0, np.uint64) for _ in range(PARTS)]
        self._recent: Fingerprints = np.empty(0, np.uint64)
        self._stale = 0  # fingerprints of events that retention has deleted since the last load

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts) + len(self._recent)

    @property
    def nbytes(self) -> int:
        return int(sum(p.nbytes for p in self._parts) + self._recent.nbytes)

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        """Read every stored event's fingerprint."""
        # Each part is allocated once at its size and filled from the streamed rows: the
        # whole result at once (in DuckDB, then in numpy, then sorted) was three copies, 240 MB
        # at 10M events, and pieces gathered per batch left the freed heap 70 MB larger.
        sizes = dict(con.execute(_PART_SIZES).fetchall())
        parts = [np.empty(int(sizes.get(p, 0)), np.uint64) for p in range(PARTS)]
        filled = [0] * PARTS
        reader = con.sql(f"SELECT {FINGERPRINT} AS f FROM events").to_arrow_reader(_LOAD_ROWS)
        # The count and the rows agree: this runs on the writer's connection (at open, or
        # from the writer thread after retention), so no insert comes between them.
        for batch in reader:
            fps = np.sort(np.asarray(batch.column(0).to_numpy(), dtype=np.uint64))
            for p, piece in enumerate(_split(fps)):
                parts[p][filled[p] : filled[p] + len(piece)] = piece
                filled[p] += len(piece)
        for part in parts:
            part.sort(kind="stable")  # sorted runs, one per batch: a merge (timsort)
        self._parts = parts
        self._recent = np.empty(0, np.uint64)
        self._stale = 0

    def expired(self, con: duckdb.DuckDBPyConnection, deleted: int) -> None:
        """Retention deleted ``deleted`` events. Their fingerprints stay (a hit on one costs an
        exact check, and the event is then stored) until they are a fifth of the set; then it
        is read again. An hourly retention pass deletes an hour of events, so the set is read
        again about once a week instead of every hour."""
        self._stale += deleted
        if self._stale * 5 > len(self):
            self.load(con)

    def contains(self, fps: Fingerprints) -> npt.NDArray[np.bool_]:
        """Per fingerprint: whether a stored event may have its key."""
        found = _member(self._recent, fps)
        # Sorted, the probes split into the parts' ranges by two binary searches per part
        # (masks per part took twice as long).
        order = np.argsort(fps, kind="stable")
        in_parts = np.zeros(len(fps), dtype=np.bool_)
        pos = 0
        for part, piece in zip(self._parts, _split(fps[order]), strict=True):
            if len(piece):
                in_parts[pos : pos + len(piece)] = _member(part, piece)
            pos += len(piece)
        found[order] |= in_parts
        return found

    def add(self, fps: Fingerprints) -> None:
        """Fingerprints of events that were just committed."""
        if not len(fps):
            return
        # Merged into the sorted arrays, not sorted again with them: sorting the recent ones
        # anew cost 2.5 ms a commit at 65k of them, and 15 ms at 10M stored events (312k).
        recent = _merge(self._recent, np.sort(fps))
        if len(recent) > max(65_536, len(self) // 32):
            for part, piece in enumerate(_split(recent)):
                if len(piece):
                    self._parts[part] = _merge(self._parts[part], piece)
            recent = np.empty(0, np.uint64)
        self._recent = recent


def _split(sorted_fps: Fingerprints) -> list[Fingerprints]:
    """A sorted array cut into the :data:`PARTS` ranges of the top bits (views)."""
    cuts = [0, *np.searchsorted(sorted_fps, _PART_STARTS).tolist(), len(sorted_fps)]
    return [sorted_fps[a:b] for a, b in pairwise(cuts)]


def _merge(sorted_a: Fingerprints, sorted_b: Fingerprints) -> Fingerprints:
    """The sorted union (with repeats) of two sorted arrays, in one pass over both."""
    if not len(sorted_a):
        return sorted_b.copy()
    merged: Fingerprints = np.insert(sorted_a, np.searchsorted(sorted_a, sorted_b), sorted_b)
    return merged


def _member(sorted_fps: Fingerprints, fps: Fingerprints) -> npt.NDArray[np.bool_]:
    if not len(sorted_fps):
        return np.zeros(len(fps), dtype=np.bool_)
    at = np.searchsorted(sorted_fps, fps)
    at[at == len(sorted_fps)] = 0
    found: npt.NDArray[np.bool_] = sorted_fps[at] == fps
    return found


def batch_fingerprints(
    con: duckdb.DuckDBPyConnection, batch: pa.Table, models: list[str], ids: list[str]
) -> Fingerprints:
    """The fingerprints of the rows of ``batch`` (model and id columns, also given as the
    lists ``models`` and ``ids``), in row order."""
    if batch.num_rows <= PYTHON_MAX_ROWS:
        return fingerprints(models, ids)
    # ``batch`` is read by its variable's name (a replacement scan: no view to register)
    got = con.execute(f"SELECT {BATCH_FINGERPRINT} AS f FROM batch").fetchnumpy()["f"]
    return np.asarray(got, dtype=np.uint64)


def fingerprints(models: list[str], ids: list[str]) -> Fingerprints:
    """:data:`BATCH_FINGERPRINT` of each (model, id), computed here: the low 64 bits of
    DuckDB's ``md5_number`` are the first eight bytes of the MD5 digest, little-endian."""
    digests = b"".join(
        [
            md5(f"{m}\0{i}".encode(), usedforsecurity=False).digest()[:8]
            for m, i in zip(models, ids, strict=True)
        ]
    )
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


def first_occurrences(
    fps: Fingerprints, models: list[str], ids: list[str]
) -> npt.NDArray[np.bool_]:
    """Per row of a batch: whether it is the first (in row order) with its (model, id).

    Rows are compared by fingerprint first; only those sharing one with another row (a
    client that sent an event twice, or a 64-bit collision) are compared by their keys."""
    keep = np.ones(len(fps), dtype=np.bool_)
    order = np.argsort(fps, kind="stable")
    ranked = fps[order]
    same = ranked[1:] == ranked[:-1]
    if not same.any():
        return keep
    shared = np.zeros(len(fps), dtype=np.bool_)
    shared[order[1:][same]] = True
    shared[order[:-1][same]] = True
    seen: set[tuple[str, str]] = set()
    for i in np.flatnonzero(shared).tolist():  # in row order: the first one stays
        key = (models[i], ids[i])
        if key in seen:
            keep[i] = False
        else:
            seen.add(key)
    return keep
