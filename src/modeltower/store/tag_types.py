"""Write ops and reads of bounded tag cardinality (services/tag_limits.py), for both stores.

Each (model, tag key) keeps at most ``limit`` distinct values. The set of known values lives in
the database (``tag_values``, schema version 9) so that it survives restarts and is shared by
every process on one PostgreSQL database; values beyond it are stored as ``__other__`` and
counted in ``tag_overflow``.
"""

from __future__ import annotations

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
