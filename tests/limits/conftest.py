"""Fixtures of the limits tests: the real app in-process (tests/inprocess.py), both backends."""

from __future__ import annotations

from tests.alerts.receivers import receiver
from tests.inprocess import Api, MakeApi

__all__ = ["Api", "MakeApi", "receiver"]
