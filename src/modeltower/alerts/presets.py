"""Ready-made rules a user switches on for a model in one step.

Each preset is a rule spec built for one model; the rule is named ``<model>:<preset>`` so that
switching a preset on again replaces it instead of adding a twin.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modeltower.store.base import ModelInfo, ReferenceRecord


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    applies: Callable[[ModelInfo], bool]
    build: Callable[[ModelInfo, ReferenceRecord | None], dict[str, Any]]


def _performance_baseline(ref: ReferenceRecord | None) -> dict[str, Any]:
    # A reference window has labels to compare with; a reference dataset does not, so the
    # preset falls back to the model's own previous week.
    if ref is not None and ref.kind == "window":
        return {"source": "reference"}
    return {"source": "trailing", "window": "7d"}


def _accuracy_drop(info: ModelInfo, ref: ReferenceRecord | None) -> dict[str, Any]:
    if info.task == "regression":
        return {
            "metric": "mae",
            "window": "1h",
            "baseline": _performance_baseline(ref),
            "change": "relative",
            "op": ">",
            "threshold": 0.2,
            "for": "10m",
            "min_samples": 100,
            "severity": "critical",
            "description": "Mean absolute error 20 % above the baseline for 10 minutes.",
        }
    return {
        "metric": "accuracy",
        "window": "1h",
        "baseline": _performance_baseline(ref),
        "change": "absolute",
        "op": "<",
        "threshold": -0.05,
        "for": "10m",
        "min_samples": 100,
        "severity": "critical",
        "description": "Accuracy 5 points below the baseline for 10 minutes.",
    }


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "accuracy_drop",
            "Accuracy (MAE for regression) worse than the reference window, or than the "
            "previous 7 days when the reference has no labels.",
            lambda info: info.task in ("classification", "regression"),
            _accuracy_drop,
        ),
        Preset(
            "latency_p99_spike",
            "p99 latency over 5 minutes at least twice that of the previous hour.",
            lambda info: True,
            lambda info, ref: {
                "metric": "latency_p99",
                "window": "5m",
                "baseline": {"source": "trailing", "window": "1h"},
                "change": "relative",
                "op": ">=",
                "threshold": 1.0,
                "for": "5m",
                "min_samples": 50,
                "severity": "warning",
                "description": "p99 latency doubled against the previous hour for 5 minutes.",
            },
        ),
        Preset(
            "error_rate_rise",
            "More than 5 % of predictions failing over 5 minutes.",
            lambda info: True,
            lambda info, ref: {
                "metric": "error_rate",
                "window": "5m",
                "op": ">",
                "threshold": 0.05,
                "for": "5m",
                "min_samples": 50,
                "severity": "critical",
                "description": "Error rate above 5 % for 5 minutes.",
            },
        ),
        Preset(
            "no_data",
            "No prediction received for 15 minutes.",
            lambda info: True,
            lambda info, ref: {
                "metric": "count",
                "window": "15m",
                "op": "<",
                "threshold": 1,
                "severity": "warning",
                "description": "The model sent no predictions for 15 minutes.",
            },
        ),
        Preset(
            "dataset_drift",
            "The share of drifted features over 1 hour reaches the reference's drift share, "
            "for 30 minutes.",
            lambda info: True,
            lambda info, ref: {
                "metric": "dataset_drift",
                "window": "1h",
                "op": ">=",
                "threshold": 1,
                "for": "30m",
                "min_samples": 100,
                "severity": "warning",
                "description": "Dataset drift against the reference for 30 minutes.",
            },
        ),
    )
}


def preset_rule_name(model: str, preset: str) -> str:
    """``<model>:<preset>``; a model name with characters a rule name cannot hold is folded
    into one that can, with a hash of the original so that two such models never collide."""
    slug = re.sub(r"[^A-Za-z0-9_.@-]+", "-", model).strip("-.")[:80]
    if slug != model:
        digest = hashlib.sha256(model.encode()).hexdigest()[:8]
        slug = f"{slug or 'model'}-{digest}"
    return f"{slug}:{preset}"


def preset_rule(
    preset: Preset, info: ModelInfo, ref: ReferenceRecord | None, channels: list[str]
) -> dict[str, Any]:
    """The rule spec of ``preset`` for the model ``info``."""
    spec = preset.build(info, ref)
    return {
        "name": preset_rule_name(info.name, preset.name),
        "model": info.name,
        "channels": channels,
        "labels": {"preset": preset.name},
        **spec,
    }
