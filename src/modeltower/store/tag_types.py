"""Write ops and reads of bounded tag cardinality (services/tag_limits.py), for both stores.

Each (model, tag key) keeps at most ``limit`` distinct values. The set of known values lives in
the database (``tag_values``, schema version 9) so that it survives restarts and is shared by
every process on one PostgreSQL database; values beyond it are stored as ``__other__`` and
counted in ``tag_overflow``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class AdmitTagValues:
    """Write op: admit new values while their key has room (first come, first admitted).

    ``values`` maps (model, key) to candidate values in arrival order. The result maps each
    (model, key) to every value known for it after the op (admitted now or earlier, by any
    process), so the caller folds exactly the values the database refused."""

    values: dict[tuple[str, str], list[str]]
    limit: int
    now_us: int
    # A key the model does not have yet is admitted (with its values) only while the model has
    # fewer keys than this; a refused key maps to no values.
    key_limit: int = 100


@dataclass(frozen=True)
class CountFoldedTags:
    """Write op: add to the count of values folded into ``__other__`` per (model, key)."""

    counts: dict[tuple[str, str], int]
    now_us: int


TagOp = AdmitTagValues | CountFoldedTags
TAG_OPS = (AdmitTagValues, CountFoldedTags)


@dataclass(frozen=True)
class TagKeyStats:
    """One tag key of a model: distinct values known, and occurrences folded into __other__."""

    key: str
    distinct_values: int
    folded: int


def admit(
    op: AdmitTagValues,
    known_values: Callable[[str, str], set[str]],
    key_count: Callable[[str], int],
    insert: Callable[[str, str, list[str]], None],
) -> dict[tuple[str, str], set[str]]:
    """:class:`AdmitTagValues` over a store's statements (inside the writer's transaction):
    ``known_values(model, key)``, ``key_count(model)`` (distinct keys stored) and
    ``insert(model, key, values)``."""
    out: dict[tuple[str, str], set[str]] = {}
    keys: dict[str, int] = {}  # model -> keys stored, counted once per op
    for (model, key), candidates in op.values.items():
        known = known_values(model, key)
        if not known:  # a new key: only while the model has room for one
            if model not in keys:
                keys[model] = key_count(model)
            if keys[model] >= op.key_limit:
                out[(model, key)] = set()
                continue
        room = op.limit - len(known)
        new = [v for v in dict.fromkeys(candidates) if v not in known][: max(room, 0)]
        if new:
            insert(model, key, new)
            if not known:
                keys[model] += 1
        out[(model, key)] = known | set(new)
    return out
