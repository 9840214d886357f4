"""Attribution's aggregates off a stored table of paths: the fast way for a stored dataset's journeys.

A journey that does not reach the goal contributes its path within the lookback before its *last* event, which
does not depend on the goal. So a stored dataset keeps, per (``by`` column, lookback), one row per journey: that
path as a string of item codes (``"3,0,7"``; touches without an item left out) and how many of its touches have
no item. A query then groups the rows of the journeys without the goal, and reads the events of the converting
journeys only (a few percent of them): their path ends at the goal, exactly as
:func:`journeys.analyses.attribution._journey_touches` cuts it. Both give the same aggregates as the generic way.

Codes are the ranks of the dataset's distinct items (a derived table too; the same for every segment). Both
tables name a column after the ``by`` column, so a backfill of that column drops them
(:func:`journeys.engine.derived.drop_changed_column`).
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from journeys.analyses import summary
from journeys.analyses.base import materialize, to_frame

if TYPE_CHECKING:
    from journeys.analyses.attribution import AttributionQuery

#: decimals (precision, scale) kept where the engine adds money values and time-decay shares (at most 1): decimal sums are exact, so a sum does
#: not depend on the order the engine adds rows in (threads, query plans), and both ways agree to the last digit
VALUE, SHARE = (38, 15), (18, 15)
#: columns of the stored tables besides the one named after ``by``
_OWN = ("journey_id", "customer_id", "code", "missing")
SEP = ","


def codes_key(by: str) -> str:
    return f"attribution codes of {by} v1"


def paths_key(by: str, lookback: timedelta | None) -> str:
    window = "all" if lookback is None else f"{int(lookback.total_seconds())}s"
    return f"attribution paths of {by} within {window} v1"


def build_codes(journeys: ir.Table, by: str) -> ir.Table:
    """The distinct items (``by`` as text, in a column named ``by``) and their ``code``: 0, 1, ... in sorted order."""
    items = journeys.select(_item=journeys[by].cast("string")).distinct()
    items = items.filter(items._item.notnull())
    return items.select(**{by: items._item}, code=ibis.dense_rank().over(order_by=items._item).cast("int64"))


def build_paths(journeys: ir.Table, by: str, lookback: timedelta | None) -> ir.Table:
    """Per journey (and customer) the codes of its touches' items within ``lookback`` before its last event, in
    step order, as a string named ``by`` (null when none has an item), and ``missing``: its touches without one."""
    j = journeys
    e = j.select("journey_id", "customer_id", "step", "ts", _item=j[by].cast("string"))
    if lookback is not None:
        ends = j.group_by(_j="journey_id").aggregate(_end=j.ts.max())
        e = e.join(ends, e.journey_id == ends._j)
        e = e.filter(e.ts >= e._end - ibis.interval(seconds=int(lookback.total_seconds())))
    codes = build_codes(j, by)
    e = e.left_join(codes, e._item == codes[by])
    return e.group_by(["journey_id", "customer_id"]).aggregate(**{
        by: e.code.cast("string").group_concat(SEP, where=e._item.notnull(), order_by=e.step)},
        missing=e._item.isnull().cast("int64").sum())


def stored_aggregates(journeys: ir.Table, q: AttributionQuery) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]] | None:
    """What :func:`journeys.analyses.attribution._aggregates` returns, read off the stored paths; None when
    ``journeys`` have no stored tables (then the events are grouped)."""
    if q.by in _OWN:
        return None
    stored = summary.journeys_table_for(journeys, paths_key(q.by, q.lookback),
                                        partial(build_paths, by=q.by, lookback=q.lookback))
    codes = summary.journeys_table_for(journeys, codes_key(q.by), partial(build_codes, by=q.by),
                                       whole=True) if stored is not None else None
    if codes is None or stored is None:
        return None
    conv = _converters(journeys, q)
    touches = _touches(journeys, conv, codes, q)
    walked = touches.group_by(_j="journey_id").aggregate(
        path=touches.code.collect(where=touches.item.notnull(), order_by=touches.step),
        missing=touches.item.isnull().cast("int64").sum())
    per = conv.left_join(walked, conv.journey_id == walked._j)
    has_path = per.path.notnull() & (per.path.length() > 0)
    per = materialize(per.select("journey_id", "cvalue", path=ibis.ifelse(has_path, per.path, ibis.null(per.path.type())),
                                 missing=per.missing.fill_null(0)))
    credited = per.filter(per.path.notnull())
    won = to_frame(credited.group_by("path").aggregate(
        conversions=credited.count(), value=exact_sum(credited.cvalue.fill_null(0.0), VALUE)))
    counts = to_frame(per.aggregate(
        conversions=per.count(), valued=per.cvalue.notnull().cast("int64").sum(),
        value=exact_sum(per.cvalue.fill_null(0.0), VALUE), missing=per.missing.sum(),
        credited=per.path.notnull().cast("int64").sum())).iloc[0]
    rest = stored.anti_join(conv, "journey_id")
    lost = to_frame(rest.group_by(path=rest[q.by]).aggregate(nulls=rest.count(), missing=rest.missing.sum()))
    names = _names(codes, q.by)
    table = _merge(won, lost, names)
    out = {k: float(v or 0) for k, v in counts.items()}
    out["journeys"] = out["conversions"] + float(lost.nulls.sum())
    out["missing"] += float(lost.missing.sum())
    decay = pd.DataFrame({"path": [], "item": [], "credit": [], "value": []})
    if "time_decay" in q.models:
        rows = touches.filter(touches.item.notnull())
        paths = per.select(_p="journey_id", path="path")
        rows = rows.join(paths, rows.journey_id == paths._p)
        decay = to_frame(decay_credit(rows.select("journey_id", "path", "cvalue", "end", "t", "item"), q))
        decay = decay.assign(path=[tuple(names[int(c)] for c in p) for p in decay.path])
    return table, decay, out


def exact_sum(x: ir.NumericValue, kind: tuple[int, int]) -> ir.FloatingValue:
    """The sum of ``x`` rounded to a decimal of ``kind`` (precision, scale), added exactly, as a float."""
    return x.cast(dt.Decimal(*kind)).sum().cast("float64")


def decay_credit(rows: ir.Table, q: AttributionQuery) -> ir.Table:
    """Time-decay credit and value per (``path``, ``item``) from converters' touches with an item (``journey_id``,
    ``path``, ``cvalue``, ``end`` and ``t`` in epoch seconds): a touch's share of its journey halves every
    ``q.half_life`` before the goal. Weights are taken relative to the journey's latest touch (the same shares):
    none underflows, and the exact sums keep 15 decimals of weights of at most 1."""
    age = (rows.end - rows.t).cast("float64")
    age = age - age.min().over(ibis.window(group_by=rows.journey_id))
    rows = rows.mutate(w=(age * (-np.log(2) / q.half_life.total_seconds())).exp())
    total = rows.group_by(_j="journey_id").aggregate(_s=exact_sum(rows.w, SHARE))
    per = rows.group_by(["journey_id", "path", "cvalue", "item"]).aggregate(_w=exact_sum(rows.w, SHARE))
    per = per.join(total, per.journey_id == total._j)
    share = per._w / per._s
    return per.group_by(["path", "item"]).aggregate(
        credit=exact_sum(share, SHARE), value=exact_sum(share * per.cvalue.fill_null(0.0), VALUE))


def _converters(journeys: ir.Table, q: AttributionQuery) -> ir.Table:
    """Per converting journey its first goal event's ``goal_step``, ``end`` (its ts) and ``cvalue`` (its value)."""
    goal = journeys.filter(journeys.touchpoint.isin(list(q.goals)))
    first = ibis.struct({"t": goal.ts, "v": goal.value.cast("float64")}).argmin(goal.step)
    g = goal.group_by("journey_id").aggregate(goal_step=goal.step.min(), _first=first)
    return materialize(g.select("journey_id", "goal_step", end=g._first.t, cvalue=g._first.v))


def _touches(journeys: ir.Table, conv: ir.Table, codes: ir.Table, q: AttributionQuery) -> ir.Table:
    """The converting journeys' touches: their events strictly before the first goal and within the lookback
    before it, with ``t``/``end`` in epoch seconds, the ``item`` and its ``code`` and the journey's ``cvalue``."""
    j = journeys
    e = j.select(_j="journey_id", step="step", ts="ts", item=j[q.by].cast("string"))
    e = e.join(conv, e._j == conv.journey_id)
    keep = e.step < e.goal_step
    if q.lookback is not None:
        keep &= e.ts >= e.end - ibis.interval(seconds=int(q.lookback.total_seconds()))
    e = e.filter(keep)
    e = e.left_join(codes, e.item == codes[q.by])
    return materialize(e.select("journey_id", "step", "item", "code", "cvalue", t=e.ts.epoch_seconds(),
                                end=e.end.epoch_seconds()))


def _names(codes: ir.Table, by: str) -> list[str]:
    """The items by code (codes are 0, 1, ... in order)."""
    frame = to_frame(codes).sort_values("code")
    return [str(x) for x in frame[by]]


def _merge(won: pd.DataFrame, lost: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The distinct paths with their conversions and value (converters: codes as lists) and nulls (the others:
    codes as text)."""
    lost = lost[lost.path.notna()]
    lost = lost.assign(path=[tuple(names[int(c)] for c in p.split(SEP)) for p in lost.path])
    won = won.assign(path=[tuple(names[int(c)] for c in p) for p in won.path])
    table = won.merge(lost[["path", "nulls"]], on="path", how="outer")
    return table.assign(conversions=table.conversions.fillna(0).astype("int64"),
                        nulls=table.nulls.fillna(0).astype("int64"),
                        value=table.value.fillna(0.0))[["path", "conversions", "nulls", "value"]]
