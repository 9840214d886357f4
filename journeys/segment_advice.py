"""Why a segment matched no customer, as one sentence: the values it names that no event has, the
values that exist instead, and the closest one.

An empty result must say why (``device is 'martian'`` is a typo, not a finding). This looks only at
the values a segment names, so it is cheap, and it is asked only once a result came back empty.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from journeys.errors import did_you_mean
from journeys.segments import START, Filter, Segment

#: how many known values a sentence lists before "and N more", and how many are searched for a near miss
LISTED_VALUES = 12
SUGGESTION_POOL = 200
TOUCHPOINT_KINDS = ("did", "did_not", "then", "at_least", "at_step", "converted", "not_converted")


def _leaves(segment: Segment) -> list[Filter]:
    out: list[Filter] = []
    for item in segment.items:
        out.extend(_leaves(item) if isinstance(item, Segment) else [item])
    return out


def _listing(values: list[str], total: int) -> str:
    shown = ", ".join(values[:LISTED_VALUES])
    return shown + (f" and {total - LISTED_VALUES:,} more" if total > LISTED_VALUES else "")


def _absent(events: ir.Table, column: str, wanted: tuple[str, ...]) -> tuple[list[str], list[str], int]:
    """(wanted values no event has, the most frequent values (up to 200), how many distinct values there are)."""
    text = events[column].cast("string")
    present = set(events.filter(text.isin(list(wanted))).select(v=text).distinct().to_pandas().v.dropna().astype(str))
    missing = [v for v in wanted if v not in present]
    if not missing:
        return [], [], 0
    rows = events.select(v=text).filter(lambda t: t.v.notnull())
    counted = rows.group_by("v").aggregate(n=rows.count())
    top = counted.order_by([ibis.desc("n"), "v"]).limit(SUGGESTION_POOL).to_pandas()
    return missing, [str(v) for v in top.v], int(counted.count().to_pandas())


def explain_no_match(events: ir.Table, segment: Segment, *, goal: str | None = None) -> str:
    """``No customer matched the segment (customers who have device martian): no event has device
    'martian'. Known values of device: desktop, mobile, tablet.``

    ``events`` are the events the segment was evaluated on (after cleaning rules and node level).
    """
    head = f"No customer matched the segment ({segment.describe(goal)})"
    reasons: list[str] = []
    for leaf in _leaves(segment):
        if leaf.kind == "attribute" and leaf.op in ("in", "not_in") and leaf.column in events.columns:
            column, wanted = leaf.column, leaf.values
        elif leaf.kind in TOUCHPOINT_KINDS:
            column, wanted = "touchpoint", tuple(v for v in leaf.values if v != START) or ((goal,) if goal else ())
        else:
            continue
        if not wanted:
            continue
        missing, known, total = _absent(events, column, wanted)
        if not missing:
            continue
        named = " or ".join(f"'{v}'" for v in missing)
        reasons.append(f"no event has {column} {named}. Known values of {column}: {_listing(known, total)}."
                       f"{did_you_mean(missing[0], known)}")
    if not reasons:
        every = "all its conditions" if segment.combine == "and" else "its conditions"
        return f"{head}: every value it names exists, but no customer meets {every}."
    return f"{head}: " + " Also, ".join(reasons)
