"""Durations as people type them (``7d``, ``12h``, ``30m``, ``90s``) and back."""

from __future__ import annotations

import re
from datetime import timedelta

from journeys.errors import QueryError

_DURATION = re.compile(r"^(\d+)\s*(s|m|min|h|d)?$")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``7d``, ``30m``, ``12h``, ``90s``; a bare number is days."""
    m = _DURATION.match(text.strip().lower())
    if not m:
        raise QueryError(f"'{text}' is not a duration.", hint="Use e.g. 7d, 12h, 30m or 90s.")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2) or "d"])


def format_duration(td: timedelta) -> str:
    secs = int(td.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def humanize_seconds(secs: float | None) -> str:
    """``95`` -> ``1.6 min``; for tables and chart labels."""
    if secs is None or secs != secs:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if secs >= size:
            return f"{secs / size:.1f} {unit}"
    return f"{secs:.0f} s"
