"""modeltower: self-hosted monitoring for machine-learning models in production."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Client", "Timer", "__version__"]

if TYPE_CHECKING:
    from modeltower.sdk import Client, Timer


def __getattr__(name: str) -> Any:
    # The SDK is imported on first use so that the server does not load the client stack.
    if name in ("Client", "Timer"):
        from modeltower import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'modeltower' has no attribute {name!r}")
