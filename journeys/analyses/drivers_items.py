"""The first occurrence of every transition, first touchpoint and attribute value per customer, kept for a stored
dataset's journeys so drivers count them without a pass over every event.

Observation is a prefix of each journey (steps before the first outcome event, times before the window's end),
so whether a customer was exposed to an item is decided by its first occurrence alone: for a transition
``a -> b`` the step of its first ``a`` followed by ``b`` (``s1``; the ``b`` is at ``s1 + 1``) and the time of that
``b`` (``t1``); for an attribute value the step and time of the first event with it; for the first touchpoint and
channel, step 1 and the entry. This gives exactly what :func:`drivers_candidates.observed` gives from the events.

One row per customer and item: ``customer_id``, ``cid`` (the customer's integer key, numbered in ``customer_id``
order as the stored touchpoint occurrences number them), ``kind``, ``item``, ``x``, ``y``, ``s1``, ``t1``. A row
of kind ``column`` (``cid`` -1) names each attribute column kept: those with at most ``ATTRIBUTE_VALUES_MAX``
values in the whole dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir

if TYPE_CHECKING:
    from journeys.analyses.drivers_candidates import Population

ITEMS_KEY = "driver items v1"
STORED_KINDS = ("transition", "first", "attribute")


def customer_keys(journeys: ir.Table) -> ir.Table:
    """``customer_id`` and its integer key ``cid`` (0, 1, ... in ``customer_id`` order), from the step-1 rows."""
    first = journeys.filter(journeys.step == 1)
    return first.select("customer_id", cid=ibis.row_number().over(order_by=first.customer_id))


def build_items(journeys: ir.Table) -> ir.Table:
    from journeys.analyses.drivers_candidates import (
        ATTRIBUTE_VALUES_MAX,
        attribute_cardinality,
        attribute_columns,
    )

    j = journeys
    string = ibis.null("string")
    moves = j.filter(j.next_touchpoint.notnull())
    parts = [moves.group_by("customer_id", x=moves.touchpoint, y=moves.next_touchpoint)
             .aggregate(s1=moves.step.min(), t1=moves.next_ts.min())
             .mutate(kind=ibis.literal("transition"))]
    first = j.filter(j.step == 1)
    parts.append(first.select("customer_id", x=first.touchpoint, y=string, s1=first.step, t1=first.ts,
                              kind=ibis.literal("first")))
    if "channel" in j.columns:
        f = first.filter(first.channel.notnull())
        parts.append(f.select("customer_id", x=ibis.literal("channel"), y=f.channel.cast("string"), s1=f.step,
                              t1=f.ts, kind=ibis.literal("first")))
    columns = [c for c, n in attribute_cardinality(j, attribute_columns(j)).items() if n <= ATTRIBUTE_VALUES_MAX]
    for col in columns:
        a = j.filter(j[col].notnull())
        parts.append(a.group_by("customer_id", x=ibis.literal(col), y=a[col].cast("string"))
                     .aggregate(s1=a.step.min(), t1=a.ts.min()).mutate(kind=ibis.literal("attribute")))
    cols = ["customer_id", "kind", "x", "y", "s1", "t1"]
    union = parts[0].select(*cols).union(*[p.select(*cols) for p in parts[1:]], distinct=False)
    keyed = union.join(customer_keys(j), "customer_id")
    item = ibis.cases((keyed.kind == "transition", keyed.x.concat(" -> ", keyed.y)),
                      ((keyed.kind == "first") & keyed.y.notnull(), ibis.literal("channel = ").concat(keyed.y)),
                      (keyed.kind == "attribute", keyed.x.concat(" = ", keyed.y)), else_=keyed.x)
    rows = keyed.select("customer_id", "cid", "kind", item=item, x="x", y="y", s1="s1", t1="t1")
    one = first.limit(1)  # a named column per kept attribute (a memtable would not survive the store's SQL)
    marks = [one.select(customer_id=string, cid=ibis.literal(-1, "int64"), kind=ibis.literal("column"), item=string,
                        x=ibis.literal(col), y=string, s1=ibis.null("int64"), t1=ibis.null("timestamp"))
             for col in columns]
    return rows.union(*[m.cast(rows.schema()) for m in marks], distinct=False) if marks else rows


def stored_items(journeys: ir.Table) -> ir.Table | None:
    """The items table of a stored dataset's journeys (narrowed to a segment's customers), or None."""
    from journeys.analyses import summary

    return summary.journeys_table_for(journeys, ITEMS_KEY, build_items)


def item_counts(items: ir.Table, per: ir.Table, kinds: Sequence[str], attributes: Sequence[str]) -> ir.Table:
    """Exposed customers and those with the outcome per item of ``kinds`` (of :data:`STORED_KINDS`), with
    ``per`` the population by ``cid`` (``outcome``, ``cut``, ``until``)."""
    wanted = items.kind.isin([k for k in kinds if k != "attribute"])
    if "attribute" in kinds and attributes:
        wanted |= (items.kind == "attribute") & items.x.isin(list(attributes))
    i = items.filter(wanted)
    o = i.join(per, i.cid == per.cid)
    last = o.s1 + ibis.ifelse(o.kind == "transition", 1, 0)  # a transition is seen when its second event is
    seen = ((o.cut.isnull() | (last < o.cut)) & (o.until.isnull() | (o.t1 < o.until))).cast("int64")
    out = o.group_by("kind", "item", "x", "y").aggregate(exposed=seen.sum(), exposed_converted=(seen * o.outcome).sum())
    return out.filter(out.exposed > 0).mutate(times=ibis.literal(1, "int64"))


def population_by_key(pop: Population, items: ir.Table, occurrences: ir.Table | None) -> ir.Table:
    """``pop`` by ``cid``: for an outcome with events, from the stored touchpoint occurrences (the first target
    occurrence is the cut; the first touchpoint's time the entry), so no pass over the events; else ``pop.per``."""
    from journeys.analyses.drivers_candidates import _until

    firsts = items.filter((items.kind == "first") & items.y.isnull())  # one per customer: its first touchpoint
    if occurrences is not None and "entry" in occurrences.columns and pop.targets is not None:
        hits = occurrences.filter(occurrences.touchpoint.isin(list(pop.targets)))
        cuts = hits.group_by(c_id=hits.cid).aggregate(cut=hits.s1.min())
        p = firsts.left_join(cuts, firsts.cid == cuts.c_id)
        return p.select("cid", outcome=p.cut.notnull().cast("int64"), cut=p.cut, until=_until(p.t1, pop.window_days))
    p = pop.per.join(firsts.select("customer_id", "cid"), "customer_id")
    return p.select("cid", "outcome", "cut", "until")


def kept_columns(items: ir.Table) -> set[str]:
    """The attribute columns the items table holds."""
    marks = items.filter(items.kind == "column")
    return set(marks.x.to_pandas().dropna())
