"""``GET /v1/models/{model}/limits``: the configured limits and the model's tag cardinality."""

from __future__ import annotations

from fastapi import APIRouter, Request

from modeltower.api import deps
from modeltower.api.error_docs import errors
from modeltower.api.params import ModelName
from modeltower.api.responses import JSON
from modeltower.services.tag_limits import OTHER

router = APIRouter(prefix="/v1/models", tags=["models"], responses=errors(404, 422))

#: Settings that limit what one request may hold, shown as they are configured.
LIMIT_SETTINGS = (
    "max_body_bytes",
    "max_events_per_request",
    "max_name_length",
    "max_feature_string_length",
    "max_features_per_event",
    "max_tags_per_event",
    "max_tag_values",
    "max_tag_keys",
)


@router.get(
    "/{model}/limits",
    summary="Limits and tag cardinality",
    description=(
        "The ingestion limits in force and, per tag key of the model, how many distinct values "
        f"are known and how many values were stored as `{OTHER}` because the key had reached "
        f"`max_tag_values`; tags whose key came after the model had `max_tag_keys` keys are "
        f"counted under the key `{OTHER}`."
    ),
)
def get_limits(model: ModelName, request: Request) -> JSON:
    qs = deps.query_service(request)
    qs.model(model)  # 404 for a model never seen
    settings = deps.settings(request)
    limit = settings.max_tag_values
    stats = qs.store.tag_stats(model)
    tags = [
        {
            "key": st.key,
            "distinct_values": st.distinct_values,
            "folded": st.folded,
            "full": st.distinct_values >= limit,
        }
        for _, st in stats
    ]
    return JSON(
        {
            "model": model,
            "limits": {name: getattr(settings, name) for name in LIMIT_SETTINGS},
            "tags": tags,
            "folded_total": sum(st.folded for _, st in stats),
        }
    )
