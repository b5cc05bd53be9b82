"""Configurable size limits of ingested events, enforced inside msgspec's decoder.

The limits are part of the decoded types themselves (``msgspec.Meta`` bounds on a subclass of
:class:`~modeltower.ingest.schema.EventIn` built for one :class:`Limits`), so a batch within the
limits costs nothing extra to check: msgspec compares lengths while it decodes. Only a refused
batch takes the slow path, which names every offending event, its field and the limit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated, Any, cast

import msgspec

from modeltower.ingest.schema import (
    MAX_ERROR_LEN,
    BatchInvalid,
    Decoders,
    EventColumns,
    EventIn,
    FeedbackIn,
    FieldError,
    Finite,
    Probability,
)

_json_decode = msgspec.json.decode


@dataclass(frozen=True)
class Limits:
    """What one event may hold. Names are the ``Settings`` fields that set them."""

    max_name_length: int = 256  # model, id, version, group, tag keys and values, feature names
    max_feature_string_length: int = 1024  # a categorical feature value
    max_features_per_event: int = 1000
    max_tags_per_event: int = 64

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        """The limits of a :class:`modeltower.config.Settings`."""
        return cls(**{f: getattr(settings, f) for f in cls.__dataclass_fields__})


def _s(max_length: int, min_length: int = 0) -> Any:
    return Annotated[str, msgspec.Meta(min_length=min_length, max_length=max_length)]


@functools.lru_cache(maxsize=8)
def decoders(limits: Limits) -> Decoders:
    """Decoders whose types enforce ``limits`` (cached: one set per distinct limits)."""
    name = _s(limits.max_name_length, 1)
    short = _s(limits.max_name_length)
    feature_value = _s(limits.max_feature_string_length) | int | Finite | bool | None
    # Feature and tag names are checked by check_key_lengths (a bound on dict keys costs
    # msgspec about as much as decoding the rest of a typical event).
    features = Annotated[
        dict[str, feature_value],  # type: ignore[valid-type]
        msgspec.Meta(max_length=limits.max_features_per_event),
    ]
    tags = Annotated[
        dict[str, short],  # type: ignore[valid-type]
        msgspec.Meta(max_length=limits.max_tags_per_event),
    ]
    event_fields: list[tuple[str, Any, Any]] = [
        ("model", name, msgspec.NODEFAULT),
        ("version", short | None, None),
        ("id", name | int | None, None),
        ("score", Probability | dict[short, Probability] | None, None),  # type: ignore[valid-type]
        ("error", _s(MAX_ERROR_LEN) | None, None),
        ("features", features | None, None),
        ("tags", tags | None, None),
        ("group", short | None, None),
        ("input_hash", short | None, None),
    ]
    # Subclasses keep isinstance(x, EventIn) and the field order; only the bounds differ.
    event = msgspec.defstruct(
        "EventIn", event_fields, bases=(EventIn,), forbid_unknown_fields=True, gc=False
    )
    feedback = msgspec.defstruct(
        "FeedbackIn",
        [("model", name, msgspec.NODEFAULT), ("id", name | int, msgspec.NODEFAULT)],
        bases=(FeedbackIn,),
        forbid_unknown_fields=True,
        gc=False,
    )
    return Decoders(
        event=cast(type[EventIn], event),
        events=msgspec.json.Decoder(list[event] | event),  # type: ignore[valid-type]
        feedback=cast(type[FeedbackIn], feedback),
        feedbacks=msgspec.json.Decoder(list[feedback] | feedback),  # type: ignore[valid-type]
    )


def check_key_lengths(cols: EventColumns, limit: int) -> None:
    """Refuse feature and tag names longer than ``limit`` (BatchInvalid naming each).

    A name is never longer than the JSON text of its object, so a batch whose longest features
    and tags texts are within the limit (nearly every batch) is checked without a loop in
    Python; only events with a longer text have their names looked at."""
    errors: list[FieldError] = []
    for field, column in (("features", cols.features), ("tags", cols.tags)):
        if max(map(len, filter(None, column)), default=0) <= limit:
            continue
        for i, text in enumerate(column):
            if text is None or len(text) <= limit:
                continue
            names: dict[str, Any] = _json_decode(text)
            if any(len(k) > limit for k in names):
                why = f"longer than {limit} characters (limit max_name_length={limit})"
                errors.append(FieldError(i, f"{field}[key]", why, limit))
    if errors:
        raise BatchInvalid(sorted(errors, key=lambda e: e.index))


def check_model_names(cols: EventColumns) -> None:
    """Refuse model names that no URL can address (BatchInvalid naming each event): a ``/``
    splits the ``/v1/models/{model}/…`` and dashboard paths, and ``.`` or ``..`` are path
    segments clients resolve away. Checked over the batch's distinct names only."""
    bad = {m for m in set(cols.model) if "/" in m or m in (".", "..")}
    if not bad:
        return
    errors = [
        FieldError(i, "model", "must not contain '/' nor be '.' or '..' (it names URL paths)")
        for i, m in enumerate(cols.model)
        if m in bad
    ]
    raise BatchInvalid(errors)
