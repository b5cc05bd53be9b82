"""Bounded tag cardinality: at most ``limit`` distinct values per (model, tag key), and at most
``key_limit`` keys per model.

A tag is meant for segments (region, channel, plan). A client that puts a request id or a user
id into a tag would otherwise create one segment per event, and every filter list, rollup and
Prometheus label over tags with it. Values beyond the limit are stored as ``__other__`` and
counted per (model, key) (``GET /v1/models/{m}/limits``, ``modeltower_tag_values_folded_total``);
a key beyond the key limit is stored, with its value, as the tag ``__other__: __other__`` and
counted under the key ``__other__`` (a client putting ids into tag keys instead of values).

Which values are kept is decided by the database (store/tag_types.py): the first ``limit``
distinct values to arrive, in arrival order (events in batch order, tags in object order). This
process keeps a cache of the known values per model that is only ever a subset of the table
(and of the tags texts seen to hold known values only, so that a batch repeating them is
checked with one set operation); a value not in the cache asks
the writer once (one small op per batch that has new values), and a key whose cached set is
full folds new values without asking: the table then holds exactly the cached set, since it
never loses values. With several processes on one PostgreSQL database, admissions are
serialised by a database lock, so the limit holds exactly there too.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import msgspec

from modeltower.ingest.schema import EventColumns
from modeltower.ingest.writer import Writer
from modeltower.store.base import Store
from modeltower.store.tag_types import AdmitTagValues, CountFoldedTags

OTHER = "__other__"
MAX_CACHED_TEXTS = 10_000  # tags texts remembered per model for the fast path
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, str]).decode
_EMPTY: frozenset[str] = frozenset()


class TagCardinality:
    """Folds tag values beyond the limit into ``__other__`` before events are written."""

    def __init__(self, store: Store, writer: Writer, limit: int, key_limit: int = 100) -> None:
        self.store = store
        self.writer = writer
        self.limit = limit
        self.key_limit = key_limit
        # model -> tag key -> known values (a subset of the store's tag_values)
        self._known: dict[str, dict[str, set[str]]] = {}
        # model -> tag keys the store refused (the model had max_tag_keys keys already)
        self._refused_keys: dict[str, set[str]] = {}
        # model -> tags texts (JSON, as stored) holding known values only; None: no tags
        self._ok: dict[str, set[str | None]] = {}

    async def fold(self, cols: EventColumns) -> dict[tuple[str, str], int]:
        """Replace values beyond the limit in the tags of ``cols`` (their JSON texts); return
        the number of values folded per (model, key)."""
        # Fast path, without a loop in Python: one model, and every tags text of the batch is
        # one already seen to hold known values only (a batch of a serving process repeats a
        # few tag combinations).
        models = set(cols.model)
        if len(models) == 1:
            ok = self._ok.get(next(iter(models)))
            if ok is not None and ok.issuperset(cols.tags):
                return {}
        return await self._fold_slow(cols)

    async def _fold_slow(self, cols: EventColumns) -> dict[tuple[str, str], int]:
        # The tags objects, decoded again from their texts: the columns may come from a decode
        # worker process (ingest/decoding.py), without the decoded events.
        all_tags: list[dict[str, str] | None] = [
            None if t is None else _decode(t) for t in cols.tags
        ]
        for model in dict.fromkeys(cols.model):
            if model not in self._known:
                self._known[model] = await asyncio.to_thread(self.store.tag_values, model)
        limit = self.limit
        candidates: dict[tuple[str, str], dict[str, None]] = {}
        for model, tags in zip(cols.model, all_tags, strict=True):
            known = self._known[model]
            refused_keys = self._refused_keys.get(model, _EMPTY)
            for k, v in (tags or {}).items():
                vals = known.get(k, _EMPTY)
                if v == OTHER or k == OTHER or v in vals or len(vals) >= limit:
                    continue
                if k in refused_keys:  # refused for good: keys never leave the table
                    continue
                pending = candidates.setdefault((model, k), {})
                if len(vals) + len(pending) < limit:
                    pending[v] = None
        if candidates:
            now_us = int(time.time() * 1_000_000)
            op = AdmitTagValues(
                {mk: list(vs) for mk, vs in candidates.items()}, limit, now_us, self.key_limit
            )
            admitted: dict[tuple[str, str], set[str]] = await self.writer.write(op)
            for (model, key), values in admitted.items():
                # The database's answer includes values other processes admitted meanwhile.
                if values:
                    self._known.setdefault(model, {})[key] = values
                else:  # a key the model had no room for (max_tag_keys)
                    gone = self._refused_keys.setdefault(model, set())
                    if len(gone) >= MAX_CACHED_TEXTS:
                        gone.clear()
                    gone.add(key)
        folded: Counter[tuple[str, str]] = Counter()
        for i, (model, tags) in enumerate(zip(cols.model, all_tags, strict=True)):
            if tags:
                known = self._known[model]
                refused = [
                    k
                    for k, v in tags.items()
                    if v != OTHER and k != OTHER and v not in known.get(k, _EMPTY)
                ]
                for k in refused:
                    if k in known:  # a known key: its value goes
                        tags[k] = OTHER
                        folded[(model, k)] += 1
                    else:  # a key beyond max_tag_keys goes with its value
                        del tags[k]
                        tags[OTHER] = OTHER
                        folded[(model, OTHER)] += 1
                if refused:
                    cols.tags[i] = _encode(tags).decode()
            # This text now holds known values (or __other__) only: known values stay known.
            ok = self._ok.setdefault(model, {None})
            if len(ok) < MAX_CACHED_TEXTS:
                ok.add(cols.tags[i])
        return dict(folded)

    @staticmethod
    def count_op(folded: dict[tuple[str, str], int]) -> CountFoldedTags:
        """The write op that records ``folded`` (committed with the events it belongs to)."""
        return CountFoldedTags(folded, int(time.time() * 1_000_000))
