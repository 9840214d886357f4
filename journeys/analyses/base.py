"""What every analysis starts from: shaped journeys of the customers in a segment."""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeys.analyses import summary
from journeys.engine import derived
from journeys.errors import unknown
from journeys.segments import Segment, matching_customers
from journeys.shaping import Shaping, shape

START, END = "START", "END"
END_CONVERTED, END_NOT_CONVERTED = "END (converted)", "END (not converted)"
OTHER = "Other"
ENDS_LABEL = "(journey ends)"


def journeys_for(events: ir.Table, shaping: Shaping, segment: Segment | None = None) -> ir.Table:
    """Shaped journeys (see :func:`journeys.shaping.shape`) of the segment's customers.

    The segment is evaluated per customer on the events after cleaning rules and node level, before
    sessions and collapsing, so "did X" means the same whatever the journey scope. Its customers are
    picked first, so the costly reshaping only runs over their events.
    """
    reshaped = not shaping.is_default or shaping.cut_at_goal
    # a stored dataset's reshaped journeys are kept in the store per (fingerprint, shaping): built once
    stored = derived.shaped(events, shaping) if reshaped else None
    keep = None
    if segment is not None and not segment.is_empty:
        keep = segment_customers(events, shaping, segment)
    if stored is not None:  # shaping works per customer: a segment's journeys are its customers' ones
        out = stored if keep is None else stored.semi_join(keep, "customer_id")
        summary.remember(out, events, keep, shaped=stored, shaping=derived.shaping_key(shaping))
        return out
    shaped = shape(events if keep is None else events.semi_join(keep, "customer_id"), shaping)
    if reshaped:  # reshaped journeys recompute windows; every query of the analysis would redo them
        return materialize(shaped)
    summary.remember(shaped, events, keep)  # whole-journey questions can read one row per customer
    return shaped


def segment_customers(events: ir.Table, shaping: Shaping, segment: Segment) -> ir.Table:
    """The segment's customers (``customer_id``), computed once: kept in the store per dataset fingerprint (the
    next view with the same segment reads them), else in a temp table for this analysis."""
    person = replace(shaping, scope="person", collapse_repeats=False, cut_at_goal=False)

    def customers() -> ir.Table:
        return matching_customers(shape(events, person), segment, goal=shaping.goal)

    key = f"{derived.SEGMENT}{segment.to_param()} | goal {shaping.goal} | {derived.shaping_key(person)}"
    stored = derived.stored(events, key, customers)
    return stored if stored is not None else materialize(customers())


def one_journey_per_customer(journeys: ir.Table) -> bool:
    """True when the expression itself shows ``journey_id`` is the customer (person scope, as built by
    :func:`journeys.shaping.shape`). Then per-journey counts are per-customer counts and need no distinct;
    when it cannot tell (sessions, cut journeys, materialised tables) it says False: slower, never wrong."""
    values = getattr(journeys.op(), "values", None)
    if not values or "journey_id" not in values or "customer_id" not in values:
        return False
    return bool(values["journey_id"] == values["customer_id"])


SCRATCH_TABLES = 16


def materialize(expr: ir.Table) -> ir.Table:
    """Compute ``expr`` once in the engine so the several queries of one analysis reuse it.

    DuckDB: a temp table on this thread's connection; the oldest of the last 16 is dropped when a new
    one is made (Ibis' own ``cache()`` cannot drop its tables on DuckDB 2.0). Other backends use Ibis'
    ``cache()`` (Spark persists the frame); a backend that cannot cache gets the expression back.
    """
    backend = expr.get_backend()
    if backend.name != "duckdb":
        try:
            return expr.cache()
        except (NotImplementedError, AttributeError):
            return expr
    con = backend.con
    names: deque[str] = backend.__dict__.setdefault("_journeys_scratch", deque())  # lives and dies with the backend
    name = f"_journeys_scratch_{uuid.uuid4().hex}"
    con.execute(f'CREATE TEMP TABLE "{name}" AS {ibis.to_sql(expr, dialect="duckdb")}')
    names.append(name)
    while len(names) > SCRATCH_TABLES:
        con.execute(f'DROP TABLE IF EXISTS "{names.popleft()}"')
    return backend.table(name)


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
