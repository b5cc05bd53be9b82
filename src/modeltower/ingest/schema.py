"""Wire format of events and feedback, their validation, and their canonical columnar form.

Decoding uses msgspec because ingestion is the hot path: a 1,000-event batch decodes and validates
in about a millisecond. When a batch is invalid, the slow path decodes each event on its own so the
422 answer names *every* bad event (index, field, reason), not just the first.
"""

from __future__ import annotations

import itertools
import json
import operator
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

# Bounds keep every number finite and storable; they also turn JSON's 1e999 (decoded as inf) into
# a clear "out of range" error instead of a silently stored infinity.
Finite = Annotated[float, msgspec.Meta(ge=-1e300, le=1e300)]
Probability = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
ShortText = Annotated[str, msgspec.Meta(max_length=256)]
Value = str | int | Finite | bool
FeatureValue = str | int | Finite | bool | None

MAX_ERROR_LEN = 4096
# Timestamps outside this range are almost always unit mistakes (ms or µs sent as seconds).
MIN_TS = datetime(1970, 1, 1, tzinfo=UTC).timestamp()
MAX_TS = datetime(2200, 1, 1, tzinfo=UTC).timestamp()


class EventIn(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One prediction as sent by a client (see the README for field meanings)."""

    model: Name
    version: ShortText | None = None
    id: Name | int | None = None
    timestamp: datetime | Finite | None = None
    prediction: Value | None = None
    score: Probability | dict[str, Probability] | None = None
    label: Value | None = None
    ground_truth: Value | None = None
    latency_ms: Annotated[float, msgspec.Meta(ge=0.0, le=1e12)] | None = None
    error: Annotated[str, msgspec.Meta(max_length=MAX_ERROR_LEN)] | None = None
    features: dict[str, FeatureValue] | None = None
    tags: dict[str, ShortText] | None = None
    group: ShortText | None = None
    converted: bool | None = None
    revenue: Finite | None = None
    input_hash: ShortText | None = None


class FeedbackIn(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """Ground truth or business outcome for an event, joined by ``(model, id)``."""

    model: Name
    id: Name | int
    label: Value | None = None
    ground_truth: Value | None = None
    converted: bool | None = None
    revenue: Finite | None = None


@dataclass(frozen=True)
class FieldError:
    """One reason an item of a batch was refused (``limit``: the bound it broke, if any)."""

    index: int
    field: str
    reason: str
    limit: int | None = None


class BatchInvalid(Exception):
    """A batch holds at least one invalid item; nothing of it is stored."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"{len(errors)} invalid item(s)")
        self.errors = errors


class MalformedBody(Exception):
    """The body is not parseable JSON / NDJSON at all."""


@dataclass(frozen=True)
class Decoders:
    """The types and decoders of one set of limits (see ingest/limits.py)."""

    event: type[EventIn]
    events: msgspec.json.Decoder[Any]
    feedback: type[FeedbackIn]
    feedbacks: msgspec.json.Decoder[Any]


# The built-in bounds only; the application decodes with the decoders of its configured limits.
_BUILTIN = Decoders(
    event=EventIn,
    events=msgspec.json.Decoder(list[EventIn] | EventIn),
    feedback=FeedbackIn,
    feedbacks=msgspec.json.Decoder(list[FeedbackIn] | FeedbackIn),
)
_raw_decoder = msgspec.json.Decoder()
_json_encoder = msgspec.json.Encoder()

_PATH_RE = re.compile(r" - at `\$(?:\[(\d+)\])?\.?([^`]*)`$")
_KEY_RE = re.compile(r" - at `key` in `\$(?:\[(\d+)\])?\.?([^`]*)`$")
_LENGTH_RE = re.compile(r"^Expected `(str|object|array)` of length <= (\d+)")
_UNKNOWN_RE = re.compile(r"Object contains unknown field `([^`]*)`")
_MISSING_RE = re.compile(r"Object missing required field `([^`]*)`")


def _split_msgspec_error(message: str) -> tuple[str, str]:
    """Turn msgspec's 'reason - at `$.field`' into (field, reason)."""
    unknown = _UNKNOWN_RE.search(message)
    if unknown:
        return unknown.group(1), f"unknown field {unknown.group(1)!r}"
    missing = _MISSING_RE.search(message)
    if missing:
        return missing.group(1), f"required field `{missing.group(1)}` is missing"
    key = _KEY_RE.search(message)
    if key:  # a bad dict key, e.g. a feature name that is too long
        return f"{key.group(2)}[key]", message[: key.start()]
    m = _PATH_RE.search(message)
    if not m:
        return "", message
    reason = message[: m.start()]
    path = m.group(2) or ""
    return path, reason


def _field_error(i: int, message: str) -> FieldError:
    """A msgspec validation message as a FieldError; length bounds name their limit setting."""
    fld, reason = _split_msgspec_error(message)
    m = _LENGTH_RE.match(reason)
    if not m:
        return FieldError(i, fld, reason)
    kind, limit = m.group(1), int(m.group(2))
    top = fld.split("[")[0].split(".")[0]
    if kind == "object" and top in ("features", "tags"):
        why = f"more than {limit} {top} in one event (limit max_{top}_per_event={limit})"
    elif top == "error":
        why = f"longer than {limit} characters (limit {limit})"
    elif top == "features" and fld.startswith("features[") and not fld.endswith("[key]"):
        why = f"longer than {limit} characters (limit max_feature_string_length={limit})"
    else:
        why = f"longer than {limit} characters (limit max_name_length={limit})"
    return FieldError(i, fld, why, limit)


def _collect_errors(items: list[Any], struct: type[msgspec.Struct]) -> list[FieldError]:
    """Validate each raw item separately so every bad one is reported."""
    errors: list[FieldError] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(FieldError(i, "", f"expected an object, got {type(item).__name__}"))
            continue
        try:
            converted = msgspec.convert(item, struct, strict=True)
        except msgspec.ValidationError as exc:
            errors.append(_field_error(i, str(exc)))
            continue
        # Rules across fields are checked too, so one answer names every bad item.
        if isinstance(converted, EventIn):
            errors.extend(_semantic_errors(i, converted))
    return errors


def _decode_raw(data: bytes) -> Any:
    """Parse JSON without a schema. A number too large for a float (1e999) is valid JSON that
    msgspec refuses outright; the standard parser reads it as inf, so the field checks can name it."""
    try:
        return _raw_decoder.decode(data)
    except msgspec.DecodeError as exc:
        if "out of range" not in str(exc):
            raise
        try:
            return json.loads(data)
        except ValueError:
            raise exc from None


def _raw_items(body: bytes, ndjson: bool) -> list[Any]:
    if ndjson:
        items: list[Any] = []
        for lineno, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append(_decode_raw(line))
            except msgspec.DecodeError as exc:
                raise MalformedBody(f"line {lineno}: {exc}") from None
        return items
    try:
        raw = _decode_raw(body)
    except msgspec.DecodeError as exc:
        raise MalformedBody(str(exc)) from None
    return raw if isinstance(raw, list) else [raw]


def decode_events(
    body: bytes, *, ndjson: bool = False, decoders: Decoders | None = None
) -> list[EventIn]:
    """Decode and validate a body of events; raise MalformedBody or BatchInvalid.

    ``decoders`` carry the configured limits (``ingest.limits.decoders``); default: built-in."""
    dec = decoders or _BUILTIN
    if not body.strip():
        raise MalformedBody("the body is empty")
    if not ndjson:
        try:
            decoded = dec.events.decode(body)
            events = decoded if isinstance(decoded, list) else [decoded]
        except msgspec.ValidationError:
            raise BatchInvalid(_collect_errors(_raw_items(body, False), dec.event)) from None
        except msgspec.DecodeError as exc:
            if "out of range" in str(exc):
                raise BatchInvalid(_collect_errors(_raw_items(body, False), dec.event)) from None
            raise MalformedBody(str(exc)) from None
    else:
        items = _raw_items(body, True)
        errors = _collect_errors(items, dec.event)
        if errors:
            raise BatchInvalid(errors)
        events = [msgspec.convert(item, dec.event, strict=True) for item in items]
    if not events:
        raise MalformedBody("the batch holds no events")
    if not _semantically_valid(events):
        errors = [e for i, ev in enumerate(events) for e in _semantic_errors(i, ev)]
        if errors:
            raise BatchInvalid(errors)
    return events


def decode_feedback(body: bytes, *, decoders: Decoders | None = None) -> list[FeedbackIn]:
    """Decode and validate a body of feedback items."""
    dec = decoders or _BUILTIN
    if not body.strip():
        raise MalformedBody("the body is empty")
    try:
        decoded = dec.feedbacks.decode(body)
    except msgspec.ValidationError:
        raise BatchInvalid(_collect_errors(_raw_items(body, False), dec.feedback)) from None
    except msgspec.DecodeError as exc:
        if "out of range" in str(exc):
            raise BatchInvalid(_collect_errors(_raw_items(body, False), dec.feedback)) from None
        raise MalformedBody(str(exc)) from None
    items = decoded if isinstance(decoded, list) else [decoded]
    if not items:
        raise MalformedBody("the batch holds no feedback")
    errors: list[FieldError] = []
    for i, fb in enumerate(items):
        errors += _value_errors(i, label=fb.label, ground_truth=fb.ground_truth)
        if fb.label is not None and fb.ground_truth is not None:
            errors.append(
                FieldError(i, "ground_truth", "give label or its alias ground_truth, not both")
            )
        if (
            fb.label is None
            and fb.ground_truth is None
            and fb.converted is None
            and fb.revenue is None
        ):
            errors.append(FieldError(i, "label", "feedback needs label, converted or revenue"))
    if errors:
        raise BatchInvalid(errors)
    return items


def events_from_objects(
    objects: list[dict[str, Any]], decoders: Decoders | None = None
) -> list[EventIn]:
    """Validate already-parsed event objects (used by the demo and the seed endpoint)."""
    dec = decoders or _BUILTIN
    errors = _collect_errors(objects, dec.event)
    if errors:
        raise BatchInvalid(errors)
    events = [msgspec.convert(o, dec.event, strict=True) for o in objects]
    errors = [e for i, ev in enumerate(events) for e in _semantic_errors(i, ev)]
    if errors:
        raise BatchInvalid(errors)
    return events


def feedback_from_objects(
    objects: list[dict[str, Any]], decoders: Decoders | None = None
) -> list[FeedbackIn]:
    """Validate already-parsed feedback objects."""
    return decode_feedback(_json_encoder.encode(objects), decoders=decoders)


# A number given as a prediction or label is also a regression value: metrics square and sum it,
# so its magnitude is bounded where squares stay finite and nonzero (PostgreSQL raises on float
# overflow and underflow, DuckDB would give inf). Integers beyond a double's range are refused too.
MIN_VALUE = 1e-100
MAX_VALUE = 1e100
VALUE_RANGE = f"numbers must be 0 or between {MIN_VALUE:g} and {MAX_VALUE:g} in magnitude"


def _value_errors(i: int, **values: Any) -> list[FieldError]:
    """The fields among ``values`` holding a number outside the regression range."""
    return [FieldError(i, name, VALUE_RANGE) for name, v in values.items() if not _in_range(v)]


def _in_range(v: Any) -> bool:
    """Not a number, 0, or a number within the regression range."""
    cls = v.__class__
    if cls is not float and cls is not int:  # bool is a subclass of int, not int itself
        return True
    a = abs(v)
    return a == 0 or MIN_VALUE <= a <= MAX_VALUE


def _timestamp_ok(ts: datetime | float) -> bool:
    """Within 1970–2200 (naive datetimes are UTC)."""
    if isinstance(ts, datetime):
        ts = (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp()
    return MIN_TS <= ts < MAX_TS


def _semantic_errors(i: int, ev: EventIn) -> list[FieldError]:
    """Rules that span fields or that msgspec's type system cannot express."""
    errs = _value_errors(i, prediction=ev.prediction, label=ev.label, ground_truth=ev.ground_truth)
    if ev.prediction is None and ev.error is None:
        errs.append(FieldError(i, "prediction", "required unless error is set"))
    if ev.label is not None and ev.ground_truth is not None:
        errs.append(FieldError(i, "ground_truth", "give label or its alias ground_truth, not both"))
    if ev.timestamp is not None and not _timestamp_ok(ev.timestamp):
        errs.append(FieldError(i, "timestamp", "must be between 1970 and 2200 (epoch seconds)"))
    return errs


def _semantically_valid(events: list[EventIn]) -> bool:
    """Whether no event breaks a rule of :func:`_semantic_errors`: the same rules, checked
    inline in one pass (the hot path of ingestion); a batch that fails is looked at again
    event by event to name every error."""
    for ev in events:
        p = ev.prediction
        if p is None:
            if ev.error is None:
                return False
        elif not _in_range(p):
            return False
        lab, gt = ev.label, ev.ground_truth
        if lab is not None:
            if gt is not None or not _in_range(lab):
                return False
        elif gt is not None and not _in_range(gt):
            return False
        ts = ev.timestamp
        if ts is not None and not _timestamp_ok(ts):
            return False
    return True


def canonical(value: Any) -> tuple[str | None, float | None]:
    """Canonical string form (classification) and numeric form (regression) of a value.

    Booleans become 'true'/'false'; integral numbers print without a fraction so that 1, 1.0 and
    "1" compare equal as class labels.
    """
    if value is None:
        return None, None
    if value is True:
        return "true", None
    if value is False:
        return "false", None
    if isinstance(value, int):
        return str(value), float(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value)), value
        return repr(value), value
    return str(value), None


_ID_PREFIX = secrets.token_hex(6)
_ID_COUNTER = itertools.count()


def new_id() -> str:
    """A server-assigned event id: unique across processes and restarts."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):010x}"


def to_micros(ts: datetime | float | None, now_us: int) -> int:
    """Epoch microseconds (UTC) of a timestamp; naive datetimes are taken as UTC."""
    if ts is None:
        return now_us
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return round(ts * 1_000_000)


@dataclass
class EventColumns:
    """Events in columnar form, ready for one bulk insert."""

    model: list[str] = field(default_factory=list)
    id: list[str] = field(default_factory=list)
    version: list[str | None] = field(default_factory=list)
    ts: list[int] = field(default_factory=list)
    prediction: list[str | None] = field(default_factory=list)
    prediction_num: list[float | None] = field(default_factory=list)
    score: list[float | None] = field(default_factory=list)
    scores: list[str | None] = field(default_factory=list)
    label: list[str | None] = field(default_factory=list)
    label_num: list[float | None] = field(default_factory=list)
    latency_ms: list[float | None] = field(default_factory=list)
    error: list[str | None] = field(default_factory=list)
    features: list[str | None] = field(default_factory=list)
    tags: list[str | None] = field(default_factory=list)
    grp: list[str | None] = field(default_factory=list)
    converted: list[bool | None] = field(default_factory=list)
    revenue: list[float | None] = field(default_factory=list)
    input_hash: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.model)

    def extend(self, other: EventColumns) -> None:
        for name in self.__dataclass_fields__:
            getattr(self, name).extend(getattr(other, name))


_FIELDS = (
    "model",
    "version",
    "id",
    "timestamp",
    "prediction",
    "score",
    "label",
    "ground_truth",
    "latency_ms",
    "error",
    "features",
    "tags",
    "group",
    "converted",
    "revenue",
    "input_hash",
)
_fields_of = operator.attrgetter(*_FIELDS)
_TEXT_OR_NONE = {str, type(None)}


def _canonical_column(values: tuple[Any, ...]) -> tuple[list[str | None], list[float | None]]:
    """:func:`canonical` of every value: (texts, numbers)."""
    if set(map(type, values)) <= _TEXT_OR_NONE:  # class names only: nothing to convert
        return list(values), [None] * len(values)
    pairs = [canonical(v) for v in values]
    return [t for t, _ in pairs], [x for _, x in pairs]


def to_columns(events: list[EventIn], now_us: int) -> EventColumns:
    """Canonicalise validated events into columns.

    The events are transposed into columns at C speed (``attrgetter`` and ``zip``); only the
    columns whose values need converting are looped over in Python, and a column of text
    predictions or labels (the common case) not even those."""
    cols = EventColumns()
    if not events:
        return cols
    (model, version, ids, ts, pred, score, label, truth, latency, error, feats, tags, grp,
     conv, rev, input_hash) = zip(*map(_fields_of, events), strict=True)  # fmt: skip
    n = len(events)
    enc = _json_encoder.encode
    cols.model = list(model)
    cols.id = [i if i.__class__ is str else new_id() if i is None else str(i) for i in ids]
    cols.version = list(version)
    cols.ts = [
        now_us
        if t is None
        else round(t * 1_000_000)
        if t.__class__ is float
        else to_micros(t, now_us)
        for t in ts
    ]
    cols.prediction, cols.prediction_num = _canonical_column(pred)
    if dict in set(map(type, score)):
        cols.score = [None if isinstance(sc, dict) else sc for sc in score]
        cols.scores = [enc(sc).decode() if isinstance(sc, dict) else None for sc in score]
    else:
        cols.score, cols.scores = list(score), [None] * n
    if truth.count(None) != n:  # ground_truth is an alias of label (never both: validated)
        label = tuple(lab if lab is not None else gt for lab, gt in zip(label, truth, strict=True))
    cols.label, cols.label_num = _canonical_column(label)
    cols.latency_ms = list(latency)
    cols.error = list(error)
    cols.features = [None if f is None else enc(f).decode() for f in feats]
    cols.tags = [None if t is None else enc(t).decode() for t in tags]
    cols.grp = list(grp)
    cols.converted = list(conv)
    cols.revenue = list(rev)
    cols.input_hash = list(input_hash)
    return cols


@dataclass
class FeedbackColumns:
    """Feedback in columnar form."""

    model: list[str] = field(default_factory=list)
    id: list[str] = field(default_factory=list)
    label: list[str | None] = field(default_factory=list)
    label_num: list[float | None] = field(default_factory=list)
    converted: list[bool | None] = field(default_factory=list)
    revenue: list[float | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.model)


def feedback_columns(items: list[FeedbackIn]) -> FeedbackColumns:
    """Canonicalise feedback; later items for the same event override earlier non-null fields."""
    merged: dict[tuple[str, str], list[Any]] = {}
    for fb in items:
        key = (fb.model, str(fb.id))
        lab, ln = canonical(fb.label if fb.label is not None else fb.ground_truth)
        row = merged.setdefault(key, [None, None, None, None])
        for j, v in enumerate((lab, ln, fb.converted, fb.revenue)):
            if v is not None:
                row[j] = v
    cols = FeedbackColumns()
    for (m, i), (lab, ln, conv, rev) in merged.items():
        cols.model.append(m)
        cols.id.append(i)
        cols.label.append(lab)
        cols.label_num.append(ln)
        cols.converted.append(conv)
        cols.revenue.append(rev)
    return cols
