"""Ingestion: validated events and feedback become write operations for the single writer."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from modeltower.ingest.decoding import DecodePool, events_to_columns
from modeltower.ingest.limits import Limits, decoders
from modeltower.ingest.schema import (
    EventColumns,
    EventIn,
    FeedbackIn,
    events_from_objects,
    feedback_columns,
    feedback_from_objects,
)
from modeltower.ingest.writer import Writer
from modeltower.services.tag_limits import TagCardinality
from modeltower.store.base import (
    InsertEvents,
    InsertResult,
    ModelSettings,
    PutModelSettings,
    UpsertFeedback,
)


@dataclass(frozen=True)
class IngestResult:
    """What a client learns after its events were committed."""

    accepted: int
    duplicates: int
    ids: list[str]


@dataclass(frozen=True)
class FeedbackResult:
    accepted: int
    matched: int


class IngestService:
    """Turns validated input into committed rows."""

    def __init__(
        self,
        writer: Writer,
        limits: Limits,
        tags: TagCardinality | None,
        decode: DecodePool,
    ) -> None:
        self.writer = writer
        self.limits = limits
        self.decoders = decoders(self.limits)  # msgspec types that enforce the limits
        self.tags = tags  # folds tag values beyond the per-key limit into __other__
        # request bodies into columns, large ones in worker processes
        self.decode = decode

    async def body(self, body: bytes, ndjson: bool) -> IngestResult:
        """Events as a request body (JSON or NDJSON): decoded, validated, committed."""
        return await self.columns(await self.decode.columns(body, ndjson))

    async def events(self, events: list[EventIn]) -> IngestResult:
        """Events already decoded and validated (``events_from_objects``)."""
        cols = events_to_columns(events, self.limits, int(time.time() * 1_000_000))
        return await self.columns(cols)

    async def columns(self, cols: EventColumns) -> IngestResult:
        """Commit validated columns (tag values beyond the limits folded first)."""
        folded = await self.tags.fold(cols) if self.tags is not None else None
        if folded:
            # Queued just before the events, so both usually share one commit.
            counted = self.writer.submit(TagCardinality.count_op(folded))
        res: InsertResult = await self.writer.write(InsertEvents(cols))
        if folded:
            await asyncio.wrap_future(counted)
        dups = sum(res.duplicate)
        return IngestResult(accepted=len(res.ids) - dups, duplicates=dups, ids=res.ids)

    async def feedback(self, items: list[FeedbackIn]) -> FeedbackResult:
        cols = feedback_columns(items)
        matched_keys: set[tuple[str, str]] = await self.writer.write(UpsertFeedback(cols))
        # Counted per item, like ``accepted``: two items for one stored event both matched.
        matched = sum((fb.model, str(fb.id)) in matched_keys for fb in items)
        return FeedbackResult(accepted=len(items), matched=matched)

    async def put_settings(self, model: str, settings: ModelSettings) -> None:
        await self.writer.write(PutModelSettings(model, settings))

    # In-process producers (the demo) validate exactly like HTTP clients.
    async def event_objects(self, objects: list[dict[str, Any]]) -> IngestResult:
        return await self.events(events_from_objects(objects, self.decoders))

    async def feedback_objects(self, objects: list[dict[str, Any]]) -> FeedbackResult:
        return await self.feedback(feedback_from_objects(objects, self.decoders))
