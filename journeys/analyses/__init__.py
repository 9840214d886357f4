"""Headless analyses: ``(events table, spec) -> small typed result``. Each runs inside the engine."""

from __future__ import annotations

from journeys.analyses.base import journeys_for

__all__ = ["journeys_for"]
