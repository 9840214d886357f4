"""What every analysis starts from: shaped journeys of the customers in a segment."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import ibis.expr.types as ir
import pandas as pd

from journeys.errors import unknown
from journeys.segments import Segment, apply_segment
from journeys.shaping import Shaping, shape

START, END = "START", "END"
END_CONVERTED, END_NOT_CONVERTED = "END (converted)", "END (not converted)"
OTHER = "Other"
ENDS_LABEL = "(journey ends)"


def journeys_for(events: ir.Table, shaping: Shaping, segment: Segment | None = None) -> ir.Table:
    """Shaped journeys (see :func:`journeys.shaping.shape`) restricted to the segment's customers.

    The segment is evaluated per customer on the events after cleaning rules and node level, before
    sessions and collapsing, so "did X" means the same whatever the journey scope.
    """
    shaped = shape(events, shaping)
    if segment is None or segment.is_empty:
        return shaped
    person = replace(shaping, scope="person", collapse_repeats=False, cut_at_goal=False)
    customer_events = shaped if person == shaping else shape(events, person)
    return apply_segment(shaped, customer_events, segment, goal=shaping.goal)


def to_frame(expr: ir.Table) -> pd.DataFrame:
    """Execute a small aggregate expression. Only aggregates come back to Python, never raw events."""
    return expr.to_pandas()


@contextmanager
def timer() -> Iterator[list[float]]:
    """``with timer() as t: ...`` then ``t[0]`` is the elapsed seconds."""
    box: list[float] = []
    started = time.perf_counter()
    try:
        yield box
    finally:
        box.append(round(time.perf_counter() - started, 4))


def known_touchpoints(journeys: ir.Table) -> list[str]:
    """Distinct touchpoints (for validation and pickers)."""
    return sorted(to_frame(journeys.select("touchpoint").distinct())["touchpoint"].dropna().astype(str))


def check_touchpoints(names: Iterable[str | None], known: list[str]) -> None:
    """Raise ``Unknown touchpoint 'chekout'. Did you mean 'checkout'?`` for the first name not in ``known``."""
    pool = set(known)
    for name in names:
        if name and name not in pool:
            raise unknown("touchpoint", name, known)
