"""Administration: a consistent backup of the embedded store while the server runs."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from modeltower import backup
from modeltower.api.responses import JSON
from modeltower.ingest.writer import Writer
from modeltower.store.availability import StoreUnavailable
from modeltower.store.duckdb_store import DuckDBStore

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post(
    "/backup",
    summary="A consistent copy of the DuckDB database, as a tar archive",
    description=(
        "Taken on the writer thread between two commits: writes wait while the file is copied, "
        "none is lost, and the copy is one committed state. The archive holds modeltower.duckdb "
        "(and its WAL when needed) and manifest.json (schema version, row counts, sha256). "
        "`modeltower backup --out DIR` calls this and checks the result. On PostgreSQL: 501, "
        "use pg_dump."
    ),
    response_model=None,
    responses={200: {"content": {"application/x-tar": {}}}, 501: {"description": "PostgreSQL"}},
)
async def create_backup(request: Request) -> StreamingResponse | JSON:
    store = request.app.state.store
    writer: Writer = request.app.state.writer
    if not isinstance(store, DuckDBStore):
        return JSON({"detail": {"message": backup.PG_MESSAGE}}, status_code=501)
    # Next to the database: the copy needs as much room as the file, often more than /tmp has.
    tmp = tempfile.mkdtemp(prefix=".modeltower-backup-", dir=str(Path(store.path).parent))
    try:
        facts = await writer.exclusive(lambda: store.backup_to(tmp))
        backup.write_manifest(Path(tmp), backup.manifest_of(facts, str(Path(store.path).resolve())))
    except OSError as exc:  # e.g. no room for the copy next to the database
        shutil.rmtree(tmp, ignore_errors=True)
        raise StoreUnavailable(f"cannot write the backup copy: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return StreamingResponse(
        backup.tar_stream(tmp),  # removes the directory when the archive has been sent
        media_type="application/x-tar",
        headers={"Content-Disposition": 'attachment; filename="modeltower-backup.tar"'},
    )
