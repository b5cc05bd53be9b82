"""Fixtures: the real app in-process (see tests/inprocess.py)."""

from __future__ import annotations

from tests.inprocess import Api, MakeApi, Params

__all__ = ["Api", "MakeApi", "Params"]
