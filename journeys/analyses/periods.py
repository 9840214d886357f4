"""Integer period numbers for days, ISO weeks and months, the same in every engine and in Python.

Retention, lifecycle and churn count periods as integers (days since 1970-01-01, Monday-weeks since then,
months since year 0), computed in the engine from whole UTC seconds, and turn them back into dates only for
display. Rolling periods are multiples of 24 hours from a customer's own start (a "month" is 30 days).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

import ibis.expr.types as ir

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")
SECONDS: dict[Period, int] = {"day": 86_400, "week": 7 * 86_400, "month": 30 * 86_400}
EPOCH = date(1970, 1, 1)
#: 1970-01-01 was a Thursday: shifting day numbers by 3 makes weeks start on Monday
WEEK_SHIFT = 3


def seconds(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Whole UTC seconds since 1970 (floored in DuckDB and Spark alike)."""
    return ts.epoch_seconds().cast("int64")


def index(ts: ir.TimestampValue, unit: Period) -> ir.IntegerValue:
    """The calendar period number of a timestamp."""
    if unit == "month":
        return (ts.year().cast("int64") * 12 + ts.month().cast("int64") - 1).cast("int64")
    day = seconds(ts) // 86_400
    return (day if unit == "day" else (day + WEEK_SHIFT) // 7).cast("int64")


def index_of(moment: datetime, unit: Period) -> int:
    """:func:`index` in Python."""
    if unit == "month":
        return moment.year * 12 + moment.month - 1
    day = int((moment - datetime(1970, 1, 1)).total_seconds() // 86_400)
    return day if unit == "day" else (day + WEEK_SHIFT) // 7


def start_of(number: int, unit: Period) -> date:
    """The first day of calendar period ``number``."""
    if unit == "month":
        return date(number // 12, number % 12 + 1, 1)
    return EPOCH + timedelta(days=number if unit == "day" else 7 * number - WEEK_SHIFT)


def start_moment(number: int, unit: Period) -> datetime:
    d = start_of(number, unit)
    return datetime(d.year, d.month, d.day)
