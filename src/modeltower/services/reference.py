"""Drift references: setting one (an uploaded dataset or a window of the model's own events),
its settings, and the loaded reference data that drift and quality compare with.

Writes go through the single writer; the loaded :class:`ReferenceData` of the few most recently
used references is kept in memory (a reference is read once, not per request).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from modeltower.drift import check_method, get_stattest
from modeltower.ingest.writer import Writer
from modeltower.services.profile import (
    FEATURE_TYPES,
    ProfileColumn,
    ReferenceData,
    columns_from_profile,
    profile_columns,
    profile_json,
    ref_column,
)
from modeltower.services.queries import QueryService, UnknownModel
from modeltower.store.base import (
    ROLE_FEATURE,
    DeleteReference,
    FillReference,
    ReferenceRecord,
    ReferenceRows,
    ReferenceWindow,
    SetReference,
    Store,
    UpdateReference,
)
from modeltower.timewindow import BadParameter

DEFAULT_DRIFT_SHARE = 0.5
_CACHE_SIZE = 4


class NoReference(LookupError):
    """The model has no reference."""


@dataclass(frozen=True)
class WindowSpec:
    """A window reference as asked for: fixed bounds, or the first ``first_us`` after the model
    (or the version) was first seen."""

    start_us: int | None = None
    end_us: int | None = None
    first_us: int | None = None
    version: str | None = None
    first_text: str | None = None

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.first_text is not None:
            out["first"] = self.first_text
        else:
            out["start_us"], out["end_us"] = self.start_us, self.end_us
        if self.version is not None:
            out["version"] = self.version
        return out


def validate_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings in their stored shape; :class:`BadParameter` naming the field otherwise."""
    out: dict[str, Any] = {}
    share = settings.get("drift_share")
    if share is not None:
        if not isinstance(share, int | float) or isinstance(share, bool) or not 0 < share <= 1:
            raise BadParameter("drift_share", "must be a number in (0, 1]")
        out["drift_share"] = float(share)
    for section in ("features", "prediction", "score"):
        raw = settings.get(section)
        if raw is None:
            continue
        entries = raw if section == "features" else {section: raw}
        if not isinstance(entries, dict):
            raise BadParameter(section, "must be an object")
        checked: dict[str, Any] = {}
        for name, o in entries.items():
            field = f"{section}.{name}" if section == "features" else section
            if o is None:
                checked[name] = None  # PATCH: drop the override
                continue
            if not isinstance(o, dict) or set(o) - {"type", "method", "threshold"}:
                raise BadParameter(field, "expected an object with type, method and threshold")
            if section != "features" and "type" in o:
                raise BadParameter(f"{field}.type", "the type of the prediction and score is fixed")
            t, m, th = o.get("type"), o.get("method"), o.get("threshold")
            if t is not None and t not in FEATURE_TYPES:
                raise BadParameter(f"{field}.type", f"one of {', '.join(FEATURE_TYPES)}")
            if m is not None:
                try:
                    test = get_stattest(str(m))
                    if t is not None:
                        check_method(test.name, t)
                except ValueError as exc:
                    raise BadParameter(f"{field}.method", str(exc)) from None
                if th is not None and test.kind == "p_value" and not 0 < th < 1:
                    raise BadParameter(f"{field}.threshold", "a p-value threshold is in (0, 1)")
            if th is not None and (
                not isinstance(th, int | float) or isinstance(th, bool) or not th > 0
            ):
                raise BadParameter(f"{field}.threshold", "must be a positive number")
            checked[name] = {k: v for k, v in o.items() if v is not None}
        out[section] = checked
    return out


def merge_settings(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out = dict(old)
    if "drift_share" in new:
        out["drift_share"] = new["drift_share"]
    for section in ("features", "prediction", "score"):
        if section not in new:
            continue
        merged = dict(out.get(section) or {})
        for name, o in new[section].items():
            if o is None:
                merged.pop(name, None)
            else:
                merged[name] = o
        out[section] = merged
    return out


def column_override(settings: dict[str, Any], col: ProfileColumn) -> dict[str, Any]:
    """The method/threshold override of one column ({} when none)."""
    if col.role == ROLE_FEATURE:
        return dict((settings.get("features") or {}).get(col.name) or {})
    return dict((settings.get(col.role) or {}).get(col.role) or {})


def _check_against_columns(settings: dict[str, Any], columns: list[ProfileColumn]) -> None:
    by_name = {c.name: c for c in columns if c.role == ROLE_FEATURE}
    for name, o in (settings.get("features") or {}).items():
        if name not in by_name:
            known = ", ".join(sorted(by_name)) or "none"
            raise BadParameter(
                f"features.{name}", f"the reference has no feature {name!r} (features: {known})"
            )
        if o.get("method"):
            try:
                check_method(o["method"], o.get("type") or by_name[name].type)
            except ValueError as exc:
                raise BadParameter(f"features.{name}.method", str(exc)) from None
    for col in columns:
        o = column_override(settings, col)
        if col.role != ROLE_FEATURE and o.get("method"):
            try:
                check_method(o["method"], col.type)
            except ValueError as exc:
                raise BadParameter(f"{col.role}.method", str(exc)) from None


class ReferenceService:
    """Sets, changes and loads references."""

    def __init__(self, store: Store, writer: Writer, queries: QueryService) -> None:
        self.store = store
        self.writer = writer
        self.queries = queries
        self._cache: OrderedDict[tuple[int, str], ReferenceData] = OrderedDict()
        self._lock = threading.Lock()

    # ---- reads -------------------------------------------------------------------------------
    def record(self, model: str) -> ReferenceRecord:
        rec = self.store.reference(model)
        if rec is None:
            raise NoReference(model)
        return rec

    def load(self, rec: ReferenceRecord) -> ReferenceData:
        """The reference's columns and samples (cached per reference and profile)."""
        if rec.profile is None:
            raise ValueError("the reference has no profile yet")
        key = (rec.ref_id, repr(rec.profile))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                # settings are not part of the key: the caller's record is the current one
                return dataclasses.replace(hit, record=rec)
        columns = columns_from_profile(rec.profile)
        data = self.store.reference_features(rec.ref_id, [c.spec for c in columns])
        loaded = ReferenceData(
            rec, data.rows, [ref_column(c, data.columns[c.key]) for c in columns]
        )
        with self._lock:
            self._cache[key] = loaded
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return loaded

    def _task(self, model: str) -> str | None:
        try:
            return self.queries.model(model).task
        except UnknownModel:
            return None

    # ---- writes ------------------------------------------------------------------------------
    async def set_dataset(
        self, model: str, table: Any, spec: dict[str, Any], settings: dict[str, Any]
    ) -> ReferenceRecord:
        rec = await self.writer.write(
            SetReference(model, "dataset", spec, settings, ReferenceRows(table))
        )
        return await self.prepare(rec)

    async def set_window(
        self, model: str, w: WindowSpec, settings: dict[str, Any], now_us: int
    ) -> ReferenceRecord:
        start, end = w.start_us, w.end_us
        if w.first_us is not None:
            info = self.queries.model(model)
            first = info.first_seen_us
            if w.version is not None:
                first = next(
                    (v["first_seen_us"] for v in info.versions if v["version"] == w.version), None
                )
                if first is None:
                    raise BadParameter("version", f"model {model!r} has no version {w.version!r}")
            if first is None:
                raise BadParameter("first", f"model {model!r} has no events yet")
            start, end = first, first + w.first_us
        assert start is not None and end is not None
        if start >= end:
            raise BadParameter("start", "must be before end")
        spec = {**w.json(), "start_us": start, "end_us": end}
        window = ReferenceWindow(start, end, w.version)
        source = window if end <= now_us else None
        rec = await self.writer.write(SetReference(model, "window", spec, settings, source))
        if source is None:
            return rec  # collecting: the drift job fills it when the window ends
        return await self.prepare(rec)

    async def fill(self, rec: ReferenceRecord) -> ReferenceRecord:
        """Give a collecting reference whose window has ended its rows and profile."""
        w = ReferenceWindow(rec.spec["start_us"], rec.spec["end_us"], rec.spec.get("version"))
        await self.writer.write(FillReference(rec.model, rec.ref_id, w))
        return await self.prepare(self.record(rec.model))

    async def prepare(self, rec: ReferenceRecord) -> ReferenceRecord:
        """Derive the columns and their types; refuse overrides of columns it does not have."""
        kinds = await asyncio.to_thread(self.store.reference_kinds, rec.ref_id)
        columns = profile_columns(kinds, self._task(rec.model), rec.settings)
        try:
            _check_against_columns(rec.settings, columns)
        except BadParameter:
            await self.writer.write(DeleteReference(rec.model))
            raise
        await self.writer.write(
            UpdateReference(rec.model, rec.ref_id, profile=profile_json(columns))
        )
        return self.record(rec.model)

    async def update_settings(self, model: str, changes: dict[str, Any]) -> ReferenceRecord:
        rec = self.record(model)
        settings = merge_settings(rec.settings, changes)
        if rec.profile is None:  # collecting: checked against the columns once it is filled
            await self.writer.write(UpdateReference(model, rec.ref_id, settings=settings))
            return self.record(model)
        kinds = await asyncio.to_thread(self.store.reference_kinds, rec.ref_id)
        columns = profile_columns(kinds, self._task(model), settings)
        _check_against_columns(settings, columns)
        old_types = {c.key: c.type for c in columns_from_profile(rec.profile)}
        retyped = any(old_types.get(c.key) != c.type for c in columns)
        await self.writer.write(
            UpdateReference(
                model,
                rec.ref_id,
                settings=settings,
                profile=profile_json(columns),
                new_ref_id=retyped,  # other bins: the trend's summaries start again
            )
        )
        return self.record(model)

    async def delete(self, model: str) -> bool:
        return bool(await self.writer.write(DeleteReference(model)))


def now_us() -> int:
    return int(time.time() * 1_000_000)
