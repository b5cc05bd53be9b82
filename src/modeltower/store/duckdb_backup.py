"""A consistent copy of the DuckDB file, and the facts a manifest records about one.

The copy is taken on the writer's connection with no write running (the writer thread calls it
between two commits, or nothing else has the file open): ``CHECKPOINT`` moves the WAL into the
file, after which the file alone holds every committed row and nothing writes it until the
writer resumes. Copying a file is also what restores fastest: a restore is a file copy back.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import duckdb

_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class FileFacts:
    """What a manifest records about a copy: its files (name -> sha256 and size), schema version
    and row counts."""

    files: dict[str, dict[str, int | str]]
    schema_version: int
    counts: dict[str, int]  # rows per table


def table_counts(con: duckdb.DuckDBPyConnection) -> tuple[int, dict[str, int]]:
    """The schema version and the row count of every table of ``main``."""
    names = [
        str(r[0])
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY table_name"
        ).fetchall()
    ]
    counts: dict[str, int] = {}
    for name in names:
        ident = '"' + name.replace('"', '""') + '"'
        row = con.execute(f"SELECT count(*) FROM {ident}").fetchall()
        counts[name] = int(row[0][0])
    version = 0
    if "schema_migrations" in counts:
        row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()
        version = int(row[0][0])
    return version, counts


def copy_hashed(src: str, dest: str) -> tuple[str, int]:
    """Copy ``src`` to ``dest`` (fsynced); returns the copy's sha256 and size."""
    digest = hashlib.sha256()
    size = 0
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        while chunk := fin.read(_CHUNK):
            digest.update(chunk)
            fout.write(chunk)
            size += len(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    return digest.hexdigest(), size


def file_sha256(path: str) -> tuple[str, int]:
    """The sha256 and size of a file."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


DB_NAME = "modeltower.duckdb"


def snapshot(con: duckdb.DuckDBPyConnection, path: str, dest_dir: str) -> FileFacts:
    """Checkpoint ``con`` (open on ``path``, no write running) and copy the file to
    ``dest_dir``. A checkpoint can leave part of the WAL behind (a reader's open snapshot may
    still need old rows); the WAL is then copied too: with no write running, the file and its
    WAL are one consistent state, and DuckDB replays the WAL when the copy is opened."""
    con.execute("CHECKPOINT")
    version, counts = table_counts(con)
    files: dict[str, dict[str, int | str]] = {}
    for src, name in ((path, DB_NAME), (path + ".wal", DB_NAME + ".wal")):
        if os.path.exists(src) and (name == DB_NAME or os.path.getsize(src) > 0):
            sha, size = copy_hashed(src, os.path.join(dest_dir, name))
            files[name] = {"sha256": sha, "size": size}
    return FileFacts(files=files, schema_version=version, counts=counts)


def merge_and_inspect(path: str) -> tuple[int, dict[str, int]]:
    """Open a restored copy: its WAL (if any) is folded into the file, and its schema version
    and row counts are returned (raises if it is no database)."""
    con = duckdb.connect(path)
    try:
        con.execute("CHECKPOINT")
        return table_counts(con)
    finally:
        con.close()


def snapshot_file(path: str, dest_dir: str) -> FileFacts:
    """Offline: a copy of a database file no server has open."""
    con = duckdb.connect(path)
    try:
        return snapshot(con, path, dest_dir)
    finally:
        con.close()


def in_use(path: str) -> str | None:
    """Why the database file cannot be replaced now (a process has it open), or None."""
    try:
        con = duckdb.connect(path, read_only=True)
    except duckdb.Error as exc:
        if "lock" in str(exc).lower():
            return str(exc).splitlines()[0]
        return None  # not a database we could open: replacing it is what --force asks for
    con.close()
    return None
