"""``modeltower backup`` and ``modeltower restore`` for the embedded DuckDB store.

A backup is a directory: ``modeltower.duckdb`` (plus ``modeltower.duckdb.wal`` when the copy
needs it) and ``manifest.json`` with the schema version, the row count of every table and the
sha256 of every file. A running server takes it on its writer thread between two commits
(``POST /v1/admin/backup`` streams it as a tar archive), so the copy is one committed state
while clients keep writing; without a server, ``--db FILE`` copies the file directly.

A restore checks the manifest (checksums, counts, schema version), refuses to overwrite an
existing database unless forced, and moves the verified copy into place in one rename.
PostgreSQL databases are backed up with PostgreSQL's own tools (see the README).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tarfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modeltower import __version__
from modeltower.store import duckdb_backup
from modeltower.store.duckdb_backup import DB_NAME, FileFacts

MANIFEST = "manifest.json"
FORMAT = 1
PG_MESSAGE = (
    "this server stores in PostgreSQL: back it up with PostgreSQL's own tools, e.g. "
    "`pg_dump --format=custom --file=modeltower.dump DATABASE_URL` and restore with "
    "`pg_restore --clean --if-exists --no-owner --dbname=DATABASE_URL modeltower.dump`"
)


class BackupError(Exception):
    """A backup cannot be taken, or a directory is not a backup that may be restored."""


def manifest_of(facts: FileFacts, source: str) -> dict[str, Any]:
    """The manifest of a copy."""
    return {
        "format": FORMAT,
        "modeltower_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
        "schema_version": facts.schema_version,
        "counts": facts.counts,
        "files": facts.files,
    }


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` last: a directory without it is an unfinished backup."""
    tmp = out_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, out_dir / MANIFEST)


def prepare_out(out: str | Path) -> Path:
    """The output directory, created; an existing non-empty one is refused."""
    path = Path(out)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(f"{path} exists and is not an empty directory")
    path.mkdir(parents=True, exist_ok=True)
    return path


def backup_file(db_path: str, out: str | Path) -> dict[str, Any]:
    """Offline backup of a database file that no server has open."""
    if not os.path.exists(db_path):
        raise BackupError(f"no database file {db_path}")
    out_dir = prepare_out(out)
    try:
        facts = duckdb_backup.snapshot_file(db_path, str(out_dir))
    except Exception as exc:  # e.g. the file is locked by a running server
        raise BackupError(
            f"cannot read {db_path}: {exc}. A running server is backed up with --url"
        ) from exc
    manifest = manifest_of(facts, os.path.abspath(db_path))
    write_manifest(out_dir, manifest)
    return manifest


def tar_stream(directory: str, cleanup: bool = True) -> Iterator[bytes]:
    """The backup directory as an uncompressed tar archive, in chunks (a database file is never
    held in memory); the manifest is the last member. Removes ``directory`` afterwards."""
    try:
        names = [*sorted(n for n in os.listdir(directory) if n != MANIFEST), MANIFEST]
        for name in names:
            path = os.path.join(directory, name)
            size = os.path.getsize(path)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = size, 0o644, int(time.time())
            yield info.tobuf(format=tarfile.PAX_FORMAT)
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk
            if size % 512:
                yield b"\0" * (512 - size % 512)
        yield b"\0" * 1024
    finally:
        if cleanup:
            shutil.rmtree(directory, ignore_errors=True)


class _ChunkReader:
    """A file-like ``read()`` over an iterator of byte chunks (for tarfile's stream mode)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            try:
                self._buf += next(self._chunks)
            except StopIteration:
                break
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out


def unpack(chunks: Iterator[bytes], out_dir: Path) -> None:
    """Extract a backup archive (only the files a backup has) into ``out_dir``."""
    allowed = {DB_NAME, DB_NAME + ".wal", MANIFEST}
    with tarfile.open(fileobj=_ChunkReader(chunks), mode="r|") as tar:  # type: ignore[call-overload]
        for member in tar:
            if member.name not in allowed or not member.isfile():
                raise BackupError(f"unexpected member {member.name!r} in the backup archive")
            tar.extract(member, out_dir, filter="data")


def backup_server(url: str, out: str | Path, api_key: str | None = None) -> dict[str, Any]:
    """Ask a running server for a consistent backup and store it in ``out``."""
    import httpx

    out_dir = prepare_out(out)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with (
            httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=600) as http,
            http.stream("POST", "/v1/admin/backup") as resp,
        ):
            if resp.status_code != 200:
                resp.read()
                raise BackupError(f"the server refused the backup: HTTP {resp.status_code} "
                                  f"{_detail(resp.text)}")  # fmt: skip
            unpack(resp.iter_bytes(1 << 20), out_dir)
    except httpx.HTTPError as exc:
        raise BackupError(f"cannot reach {url}: {exc}") from exc
    return verify(out_dir)


def _detail(text: str) -> str:
    with contextlib.suppress(Exception):
        detail = json.loads(text)["detail"]
        return str(detail.get("message", detail) if isinstance(detail, dict) else detail)
    return text[:500]


def verify(directory: str | Path) -> dict[str, Any]:
    """The manifest of a complete, intact backup; BackupError naming what is wrong otherwise."""
    from modeltower.store.duckdb_schema import MIGRATIONS

    d = Path(directory)
    try:
        manifest = json.loads((d / MANIFEST).read_text())
        files: dict[str, dict[str, Any]] = manifest["files"]
        counts: dict[str, int] = manifest["counts"]
        schema_version = int(manifest["schema_version"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{d} has no readable {MANIFEST}: {exc}") from exc
    if manifest.get("format") != FORMAT or DB_NAME not in files:
        raise BackupError(f"{d / MANIFEST} is not a modeltower backup manifest")
    for name, want in files.items():
        if name not in (DB_NAME, DB_NAME + ".wal"):
            raise BackupError(f"{MANIFEST} names an unexpected file {name!r}")
        try:
            sha, size = duckdb_backup.file_sha256(str(d / name))
        except OSError as exc:
            raise BackupError(f"{name} is missing: {exc}") from exc
        if size != want.get("size") or sha != want.get("sha256"):
            raise BackupError(
                f"{name} does not match the manifest (sha256 {sha[:12]}…, {size} bytes; the "
                f"manifest says {str(want.get('sha256'))[:12]}…, {want.get('size')} bytes): the "
                "backup is damaged"
            )
    newest = max(v for v, _ in MIGRATIONS)
    if schema_version > newest:
        raise BackupError(
            f"the backup has schema version {schema_version}; this modeltower knows up to "
            f"{newest}: restore it with a newer modeltower"
        )
    return manifest | {"counts": counts}


def restore(directory: str | Path, db_path: str | Path, *, force: bool = False) -> dict[str, Any]:
    """Verify the backup in ``directory`` and make it the database file ``db_path``."""
    d = Path(directory)
    manifest = verify(d)
    target = Path(db_path)
    wal = Path(str(target) + ".wal")
    if (target.exists() or wal.exists()) and not force:
        raise BackupError(f"{target} exists; restore over it with --force (stop the server first)")
    if target.exists() and (busy := duckdb_backup.in_use(str(target))):
        raise BackupError(f"{target} is in use (stop the server first): {busy}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.restoring"
    for leftover in (tmp, Path(str(tmp) + ".wal")):
        leftover.unlink(missing_ok=True)
    try:
        shutil.copyfile(d / DB_NAME, tmp)
        if (d / (DB_NAME + ".wal")).exists():
            shutil.copyfile(d / (DB_NAME + ".wal"), str(tmp) + ".wal")
        # The copy must open and hold what the manifest says, before it replaces anything;
        # opening it read-write also folds a copied WAL into the file.
        try:
            version, counts = duckdb_backup.merge_and_inspect(str(tmp))
        except Exception as exc:
            raise BackupError(f"the backup's database does not open: {exc}") from exc
        if counts != manifest["counts"] or version != manifest["schema_version"]:
            diff = {
                k: (counts.get(k), v) for k, v in manifest["counts"].items() if counts.get(k) != v
            }
            raise BackupError(f"the backup's tables do not hold what the manifest says: {diff}")
        # A WAL of the old database must not be replayed onto the restored one.
        wal.unlink(missing_ok=True)
        os.replace(tmp, target)
    finally:
        for leftover in (tmp, Path(str(tmp) + ".wal")):
            leftover.unlink(missing_ok=True)
    return manifest
