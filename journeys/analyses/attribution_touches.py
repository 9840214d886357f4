"""Attribution's aggregates off one stored row per journey: the fast way for a stored dataset's journeys.

A stored dataset keeps, per ``by`` column, one row per journey holding its whole sequence as text, one character
per event: ``tps`` (the touchpoints) and ``items`` (the ``by`` values, :data:`MISSING` where there is none), with
the events' times ``ts`` and values ``vals`` as lists; and, for the default lookback, the path of the journey if it
does not reach the goal (its items within the lookback before its *last* event: it does not depend on the goal)
with how many of those touches have no item. Characters are :data:`BASE` + the rank of the value among the
dataset's distinct ones (a small derived table per column, the same for every segment).

A query reads the journeys without the goal's touchpoints as they are stored (another lookback cuts their
sequences), and cuts each converting journey's sequence at its first goal character and the lookback before it:
the path that :func:`journeys.analyses.attribution._journey_touches` gives from its events. No event is read, and
the same aggregates come out as the generic way. The tables name a column after ``by``, so a backfill of that
column drops them (:func:`journeys.engine.derived.drop_changed_column`).
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

#: decimals (precision, scale) kept where the engine adds money values and time-decay shares (at most 1): decimal
#: sums are exact, so a sum does not depend on the order the engine adds rows in (threads, query plans), and both
#: ways agree to the last digit
VALUE, SHARE = (38, 15), (18, 15)
#: value codes are characters from BASE up (below the UTF-16 surrogates); an event without a value is MISSING
BASE, MISSING, MAX_CODES = 0x100, "\u00ff", 0xD800 - 0x100
#: the lookback whose paths of journeys without the goal are stored (the Attribution page's default); another one
#: cuts their sequences per query (0.5 s at 10M, rather than a table per lookback)
LOOKBACK_DEFAULT = timedelta(days=30)
#: columns of the stored table besides the one named after ``by`` (the other journeys' paths)
_OWN = ("journey_id", "customer_id", "key", "tps", "items", "ts", "vals", "missing", "code")


@ibis.udf.scalar.builtin(name="chr")  # type: ignore[untyped-decorator]
def _chr(code: int) -> str:  # type: ignore[empty-body]
    """DuckDB's ``chr``: the character with this code point."""


def codes_key(by: str) -> str:
    return f"attribution codes of {by} v1"


def sequences_key(by: str) -> str:
    return f"attribution sequences of {by} v4"


def build_codes(journeys: ir.Table, by: str) -> ir.Table:
    """The distinct values (``by`` as text, in a column named ``by``) and their ``code``: 0, 1, ... in sorted order."""
    items = journeys.select(_item=journeys[by].cast("string")).distinct()
    items = items.filter(items._item.notnull())
    return items.select(**{by: items._item}, code=ibis.dense_rank().over(order_by=items._item).cast("int64"))


def build_sequences(journeys: ir.Table, by: str, lookback: timedelta = LOOKBACK_DEFAULT) -> ir.Table:
    """Per journey (and customer, and an integer ``key``) its events in step order: ``tps``, ``items``, ``ts``,
    ``vals``; and the codes of its touches' items within ``lookback`` before its last event as text named ``by``
    (null when none has an item), with ``missing``: its touches there without one."""
    j = journeys
    e = j.select("journey_id", "customer_id", "step", "ts", _v=j.value.cast("float64"), _tp=j.touchpoint,
                 _item=j[by].cast("string"))
    ends = j.group_by(_j="journey_id").aggregate(_end=j.ts.max())
    e = e.join(ends, e.journey_id == ends._j).drop("_j")
    codes = build_codes(j, by)
    codes = codes.select(_iv=codes[by], _ic=codes.code)
    e = e.left_join(codes, e._item == codes._iv).drop("_iv")
    tps = build_codes(j, "touchpoint")
    tps = tps.select(_tv=tps.touchpoint, _tc=tps.code)
    e = e.left_join(tps, e._tp == tps._tv).drop("_tv")
    inside = e.ts >= e._end - ibis.interval(seconds=int(lookback.total_seconds()))
    # collected unordered and sorted by step (an ordered aggregate per column was four times slower at 10M)
    touch = ibis.struct({"s": e.step, "tc": e._tc, "ic": e._ic, "ts": e.ts, "v": e._v, "inside": inside})
    per = e.group_by("journey_id").aggregate(customer_id=e.customer_id.arbitrary(), _l=touch.collect())
    per = per.select("journey_id", "customer_id", _l=per._l.sort())
    seq, shown = per._l, per._l.filter(lambda x: x.inside)
    return per.select(
        "journey_id", "customer_id",
        tps=seq.map(lambda x: ibis.coalesce(_char(x.tc), MISSING)).join(""),
        items=seq.map(lambda x: ibis.coalesce(_char(x.ic), MISSING)).join(""),
        ts=seq.map(lambda x: x.ts), vals=seq.map(lambda x: x.v),
        **{by: shown.filter(lambda x: x.ic.notnull()).map(lambda x: _char(x.ic)).join("").nullif("")},
        missing=shown.filter(lambda x: x.ic.isnull()).length().cast("int64"),
        key=ibis.row_number().over())  # an integer id: queries group and join on it, not on the text


def _char(code: ir.IntegerValue) -> ir.StringValue:
    return _chr((code + BASE).cast("int32"))


def stored_aggregates(journeys: ir.Table, q: AttributionQuery) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]] | None:
    """What :func:`journeys.analyses.attribution._aggregates` returns, read off the stored sequences; None when
    ``journeys`` have none (then the events are grouped)."""
    if q.by in _OWN:
        return None
    codes = summary.journeys_table_for(journeys, codes_key(q.by), partial(build_codes, by=q.by), whole=True)
    tps = summary.journeys_table_for(journeys, codes_key("touchpoint"), partial(build_codes, by="touchpoint"),
                                     whole=True) if codes is not None else None
    if codes is None or tps is None:
        return None
    names, touchpoints = _names(codes, q.by), _names(tps, "touchpoint")
    if max(len(names), len(touchpoints)) > MAX_CODES:
        return None
    seq = summary.journeys_table_for(journeys, sequences_key(q.by), partial(build_sequences, by=q.by))
    if seq is None:
        return None
    decode = {chr(BASE + i): n for i, n in enumerate(names)}
    goals = [chr(BASE + touchpoints.index(g)) for g in q.goals if g in touchpoints]
    conv = _converters(seq, goals, q)
    lost = to_frame(_others(seq, goals, q))
    credited = conv.filter(conv.path.notnull())
    won = to_frame(credited.group_by("path").aggregate(
        conversions=credited.count(), value=exact_sum(credited.cvalue.fill_null(0.0), VALUE)))
    counts = to_frame(conv.aggregate(
        conversions=conv.count(), valued=conv.cvalue.notnull().cast("int64").sum(),
        value=exact_sum(conv.cvalue.fill_null(0.0), VALUE), missing=conv.missing.sum().cast("int64"),
        credited=conv.path.notnull().cast("int64").sum())).iloc[0]
    table = _merge(won, lost, decode)
    out = {k: float(v or 0) for k, v in counts.items()}
    out["journeys"] = out["conversions"] + float(lost.nulls.sum())
    out["missing"] += float(lost.missing.sum())
    decay = pd.DataFrame({"path": [], "item": [], "credit": [], "value": []})
    if "time_decay" in q.models:
        decay = to_frame(_decay_of_sequences(credited, q))
        decay = decay.assign(path=[tuple(decode[c] for c in p) for p in decay.path],
                             item=[decode[c] for c in decay["item"]])
    return table, decay, out


def exact_sum(x: ir.NumericValue, kind: tuple[int, int], *, where: ir.BooleanValue | None = None) -> ir.FloatingValue:
    """The sum of ``x`` (where ``where``) rounded to a decimal of ``kind`` (precision, scale), added exactly, as a
    float (null when no row counts)."""
    return x.cast(dt.Decimal(*kind)).sum(where=where).cast("float64")


def decay_credit(rows: ir.Table, journeys: ir.Table, q: AttributionQuery) -> ir.Table:
    """Time-decay credit and value per (``path``, ``item``) from converters' touches with an item (``rows``:
    ``journey_id``, ``item``, ``end`` and ``t`` in epoch seconds) and the converters' ``path`` and ``cvalue``
    (``journeys``). A touch's weight halves every ``q.half_life`` before the goal, relative to the journey's latest
    touch (none underflows); an item's share of a journey is its weights' sum over the journey's, both exact
    decimal sums (15 decimals of weights of at most 1), so no engine order shows. :func:`_decay_of_sequences`
    does the same sums on the stored sequences."""
    age = (rows.end - rows.t).cast("float64")
    rows = rows.mutate(w=_weight(age, age.min().over(ibis.window(group_by=rows.journey_id)), q))
    per = rows.group_by(["journey_id", "item"]).aggregate(_w=rows.w.sum())
    per = per.mutate(_s=per._w.sum().over(ibis.window(group_by=per.journey_id)))
    return _credit(per.join(journeys, per.journey_id == journeys.journey_id))


def _weight(age: ir.FloatingValue, nearest: ir.FloatingValue, q: AttributionQuery) -> ir.DecimalValue:
    return ((age - nearest) * (-np.log(2) / q.half_life.total_seconds())).exp().cast(dt.Decimal(*SHARE))


def _credit(per: ir.Table) -> ir.Table:
    """Per (``path``, ``item``) the sums of the shares ``_w / _s`` (an item's weight in a journey over the
    journey's), and of the shares times the journey's ``cvalue``."""
    share = per._w.cast("float64") / per._s.cast("float64")
    return per.group_by(["path", "item"]).aggregate(
        credit=exact_sum(share, SHARE), value=exact_sum(share * per.cvalue.fill_null(0.0), VALUE))


def _decay_of_sequences(credited: ir.Table, q: AttributionQuery) -> ir.Table:
    """:func:`decay_credit` of the converters cut by :func:`_converters`: the smallest age is the ``latest`` touch's
    (ages grow back in time), and the (journey, item) sums are grouped by the integer ``key``."""
    c = credited
    end = c.end.epoch_seconds()
    rows = c.select("key", _end=end, _nearest=(end - c.latest.epoch_seconds()).cast("float64"),
                    item=c.seg.split("").unnest(), _t=c.times.unnest())
    rows = rows.filter(rows.item != MISSING)
    rows = rows.mutate(w=_weight((rows._end - rows._t.epoch_seconds()).cast("float64"), rows._nearest, q))
    per = rows.group_by(["key", "item"]).aggregate(_w=rows.w.sum())
    totals = per.group_by(_k="key").aggregate(_s=per._w.sum())
    per = per.join(totals, per.key == totals._k)
    paths = c.select(_p="key", path="path", cvalue="cvalue")
    return _credit(per.join(paths, per.key == paths._p))


def _converters(seq: ir.Table, goals: list[str], q: AttributionQuery) -> ir.Table:
    """Per converting journey: its ``key``, ``end`` (its first goal event's time) and ``cvalue`` (its value);
    ``seg``: the items of its events strictly before that goal and within the lookback before it, ``times`` their
    times; ``path``: ``seg`` without the events that have no item (null when none has one), ``missing``: how many
    have none; ``latest``: the time of the last touch with an item. Times are in step order, so the events before
    the window are a prefix.

    Written in SQL (the stored tables are DuckDB's): Ibis repeats the window's start, a filter over each list,
    in every expression that uses it (twice as slow at 10M)."""
    ts = seq.ts.type().value_type
    if not goals:
        return materialize(seq.filter(ibis.literal(False)).select(
            "key", end=ibis.null(ts), cvalue=ibis.null("float64"), seg=ibis.null("string"), times=seq.ts,
            path=ibis.null("string"), missing=ibis.literal(0, "int64"), latest=ibis.null(ts)))
    found = ", ".join(f"NULLIF(STRPOS(tps, '{g}'), 0)" for g in goals)  # codes are letters past U+00FF: no quote
    start = "0" if q.lookback is None else (
        f"LENGTH(LIST_FILTER(ts[1:goal_at - 1], lambda x: x < ts[goal_at] - INTERVAL {int(q.lookback.total_seconds())} SECOND))")
    cut = f"""
        SELECT key, ts[goal_at] AS "end", vals[goal_at] AS cvalue, SUBSTRING(items, st + 1, goal_at - 1 - st) AS seg,
               ts[st + 1:goal_at - 1] AS times
        FROM (SELECT *, {start} AS st
              FROM (SELECT key, ts, items, vals, LEAST({found}) AS goal_at
                    FROM ({ibis.to_sql(seq, dialect="duckdb")}) WHERE {" OR ".join(f"CONTAINS(tps, '{g}')" for g in goals)}))"""
    conv = seq.get_backend().sql(f"""
        SELECT key, "end", cvalue, seg, times, NULLIF(path, '') AS path,
               CAST(LENGTH(seg) - LENGTH(path) AS BIGINT) AS missing,
               CASE WHEN path <> '' THEN times[LENGTH(RTRIM(seg, '{MISSING}'))] END AS latest
        FROM (SELECT *, REPLACE(seg, '{MISSING}', '') AS path FROM ({cut}))""", schema={
        "key": "int64", "end": ts, "cvalue": "float64", "seg": "string", "times": seq.ts.type(), "path": "string",
        "missing": "int64", "latest": ts})
    return materialize(conv)


def _others(seq: ir.Table, goals: list[str], q: AttributionQuery) -> ir.Table:
    """Per path of the journeys without the goal (null: no touch with an item): how many (``nulls``) and their
    touches without an item (``missing``). Their window ends at their last event."""
    rest = seq
    for g in goals:
        rest = rest.filter(~rest.tps.contains(g))
    if q.lookback == LOOKBACK_DEFAULT:
        return rest.group_by(path=rest[q.by]).aggregate(nulls=rest.count(), missing=rest.missing.sum().cast("int64"))
    start = "0" if q.lookback is None else (
        f"LENGTH(LIST_FILTER(ts, lambda x: x < ts[-1] - INTERVAL {int(q.lookback.total_seconds())} SECOND))")
    return seq.get_backend().sql(f"""
        SELECT NULLIF(path, '') AS path, CAST(COUNT(*) AS BIGINT) AS nulls,
               CAST(SUM(LENGTH(seg) - LENGTH(path)) AS BIGINT) AS missing
        FROM (SELECT seg, REPLACE(seg, '{MISSING}', '') AS path
              FROM (SELECT SUBSTRING(items, 1 + {start}) AS seg FROM ({ibis.to_sql(rest, dialect="duckdb")})))
        GROUP BY 1""", schema={"path": "string", "nulls": "int64", "missing": "int64"})


def _names(codes: ir.Table, by: str) -> list[str]:
    """The values by code (codes are 0, 1, ... in order)."""
    frame = to_frame(codes).sort_values("code")
    return [str(x) for x in frame[by]]


def _merge(won: pd.DataFrame, lost: pd.DataFrame, decode: dict[str, str]) -> pd.DataFrame:
    """The distinct paths with their conversions and value (converters) and nulls (the others)."""
    table = won.merge(lost.loc[lost.path.notna(), ["path", "nulls"]], on="path", how="outer")
    return pd.DataFrame({"path": [tuple(decode[c] for c in p) for p in table.path],
                         "conversions": table.conversions.fillna(0).astype("int64"),
                         "nulls": table.nulls.fillna(0).astype("int64"), "value": table.value.fillna(0.0)})
