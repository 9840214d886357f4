"""The engine half of drivers: who had the outcome, what each customer was observed doing, and per candidate the
number of exposed customers and exposed customers with the outcome. Only these counts leave the engine.

Observation window (no leakage):
- a customer with the outcome is observed strictly before their first outcome event, in ``(ts, seq)`` order
  (``step``); churn by inactivity has no outcome event, so churners are observed like everyone else;
- everyone is observed from their entry (first event) for ``window_days`` (None: the whole journey), so both
  groups get the same span.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Sequence
from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeys.analyses import drivers_items as di
from journeys.analyses.base import materialize, to_frame
from journeys.outcomes import CHURNED, Outcomes, churn_status, data_end, inactivity_threshold
from journeys.schema import RESERVED

#: columns that are never attributes: engine bookkeeping and precomputed per-event values; the sentiment band
#: (negative / neutral / positive, from voice of the customer) is a yes/no candidate like any attribute value
NOT_ATTRIBUTES = frozenset({*RESERVED, "journey_id", "source", "raw_id", "sentiment", "language", "_repeat"}
                           - {"sentiment_band"})
#: an attribute with more distinct values than this is not a yes/no candidate set (ids, free text, amounts)
ATTRIBUTE_VALUES_MAX = 50
#: occurrences kept per customer and touchpoint (``did X at least k times`` needs k up to this), and how many
#: journeys tables keep theirs
OCCURRENCES = 3
OCCURRENCE_TABLES = 2
COUNT_COLUMNS = ["kind", "item", "x", "y", "times", "exposed", "exposed_converted"]


class Population:
    """``per``: one row per customer (``customer_id``, ``outcome`` 0/1, ``cut`` step of the first outcome event or
    null, ``until`` end of the observation window or null), kept in the engine when first read; ``customers`` and
    ``with_outcome`` totals. For an outcome with events (conversion, explicit churn) ``targets`` names them and
    ``window_days`` is the observation window: enough for the stored occurrences, which carry each customer's
    entry and first occurrences, so ``per`` is never built for them."""

    def __init__(self, per: ir.Table, customers: int, with_outcome: int, outcome_sentence: str = "", *,
                 targets: tuple[str, ...] | None = None, window_days: int | None = None) -> None:
        self._per = per
        self._kept: ir.Table | None = None
        self.customers, self.with_outcome, self.outcome_sentence = customers, with_outcome, outcome_sentence
        self.targets, self.window_days = targets, window_days

    @property
    def per(self) -> ir.Table:
        if self._kept is None:
            self._kept = materialize(self._per)
        return self._kept


def attribute_columns(journeys: ir.Table) -> list[str]:
    """Columns of a journeys table that describe the customer or event (device, country, sentiment band...)."""
    return [c for c in journeys.columns if c not in NOT_ATTRIBUTES and not c.startswith("_")]


def population(journeys: ir.Table, outcome: str, outcomes: Outcomes, window_days: int | None, *,
               end: datetime | None = None, inactivity_days: int | None = None,
               whole: ir.Table | None = None) -> Population:
    """Who had the outcome (conversion: a goal; churn: the Outcomes spec) and where their observation stops.
    ``whole``: the dataset's events when ``journeys`` are a segment's (the default inactivity threshold is
    everyone's)."""
    j = journeys
    sentence = ""
    if outcome == "churn" and outcomes.churn_mode == "inactivity":
        if inactivity_days is None:
            found = inactivity_threshold(j if whole is None else whole, outcomes, end=end)
            inactivity_days, sentence = found.days, found.sentence()
        else:
            sentence = f"Churned means no event for {inactivity_days} days."
        end = end or data_end(j)
        status = churn_status(j, outcomes, end=end, inactivity_days=inactivity_days)
        # a customer first seen within the last N days cannot have been seen to churn yet: counting them as
        # non-churners would make "joined recently" the strongest driver of staying, so they are left out
        could = status.first_ts <= ibis.literal(pd.Timestamp(end - timedelta(days=inactivity_days)).to_pydatetime(),
                                                type="timestamp")
        recent = int(status.filter(~could).count().to_pandas())
        if recent:
            sentence += (f" {recent:,} customer{'s' if recent != 1 else ''} first seen in the last {inactivity_days} "
                         f"days {'are' if recent != 1 else 'is'} left out: too recent to have churned.")
        status = status.filter(could)
        per = status.select("customer_id", entry=status.first_ts,
                            outcome=(status.status == CHURNED).cast("int64"), cut=ibis.null("int64"))
    else:
        # steps number each customer's events from 1 in (ts, seq) order: entry is step 1's time, and the first
        # outcome event a small group-by over outcome rows only (no pass over every event)
        targets = list(outcomes.churn_touchpoints if outcome == "churn" else outcomes.goals)
        first = j.filter(j.step == 1).select("customer_id", entry=j.ts)
        hits = j.filter(j.touchpoint.isin(targets))
        cuts = hits.group_by(c_id=hits.customer_id).aggregate(cut=hits.step.min())
        joined = first.left_join(cuts, first.customer_id == cuts.c_id)
        per = joined.select("customer_id", "entry", "cut", outcome=joined.cut.notnull().cast("int64"))
        n = int(first.count().to_pandas())
        k = int(hits.customer_id.nunique().to_pandas()) if n else 0
        return Population(per.select("customer_id", "outcome", "cut", until=_until(per.entry, window_days)), n, k,
                          targets=tuple(targets), window_days=window_days)
    per = materialize(per.select("customer_id", "outcome", "cut", until=_until(per.entry, window_days)))
    totals = to_frame(per.aggregate(n=per.count(), k=per.outcome.sum()))
    n = int(totals.n.iloc[0])
    k = 0 if n == 0 or pd.isna(totals.k.iloc[0]) else int(totals.k.iloc[0])
    return Population(per, n, k, sentence)


def _until(entry: ir.TimestampValue, window_days: int | None) -> ir.TimestampValue:
    """The end of the observation window that starts at ``entry`` (null: the whole journey)."""
    return entry + ibis.interval(days=window_days) if window_days else ibis.null("timestamp")


def observed(journeys: ir.Table, pop: Population, columns: Sequence[str]) -> ir.Table:
    """The observed events with ``outcome``; ``nx`` is the next touchpoint when that event is observed too."""
    keep = ["customer_id", "step", "ts", "touchpoint", "next_touchpoint", "next_ts", *columns]
    e = journeys.select(*dict.fromkeys(keep)).join(pop.per, "customer_id")
    inside = (e.cut.isnull() | (e.step < e.cut)) & (e.until.isnull() | (e.ts < e.until))
    next_inside = (e.next_touchpoint.notnull() & (e.cut.isnull() | (e.step + 1 < e.cut))
                   & (e.until.isnull() | (e.next_ts < e.until)))
    e = e.filter(inside)
    return e.mutate(nx=ibis.ifelse(next_inside, e.next_touchpoint, ibis.null("string")))


def _tally(rows: ir.Table, kind: str, item: ir.Value, x: ir.Value, y: ir.Value, times: int = 1) -> ir.Table:
    """Distinct (customer, item) rows -> exposed customers and exposed customers with the outcome per item."""
    per = rows.select("customer_id", "outcome", item=item, x=x, y=y).distinct()
    return per.group_by("item", "x", "y").aggregate(exposed=per.count(), exposed_converted=per.outcome.sum()).mutate(
        kind=ibis.literal(kind), times=ibis.literal(times, type="int64"))


def occurrences(journeys: ir.Table, most: int = OCCURRENCES, *, reuse: Hashable | None = None) -> ir.Table:
    """Per customer and touchpoint, the step and time of its first ``most`` occurrences (``s1``, ``t1``, ...; null
    when fewer). It depends on neither the outcome nor the window: a stored dataset keeps it, with each customer's
    ``entry`` (first event; :func:`stored_occurrences`); otherwise, with ``reuse`` (a key that changes whenever the
    journeys do, such as the dataset fingerprint with the segment and dates) the last :data:`OCCURRENCE_TABLES`
    are kept on DuckDB and later drivers queries with the same key skip building it."""
    if most <= OCCURRENCES and (kept := stored_occurrences(journeys)) is not None:
        return kept
    backend = journeys.get_backend()
    cache: dict[Any, tuple[str, ir.Table]] = backend.__dict__.setdefault("_journeys_occurrences", {})
    if reuse is not None and (reuse, most) in cache:
        return cache[(reuse, most)][1]
    occ = build_occurrences(journeys, most, entry=False)
    if reuse is None or backend.name != "duckdb":
        return materialize(occ)
    name = f"_journeys_occurrences_{uuid.uuid4().hex}"
    backend.con.execute(f'CREATE TEMP TABLE "{name}" AS {ibis.to_sql(occ, dialect="duckdb")}')
    while len(cache) >= OCCURRENCE_TABLES:
        old, _ = cache.pop(next(iter(cache)))
        backend.con.execute(f'DROP TABLE IF EXISTS "{old}"')
    cache[(reuse, most)] = (name, backend.table(name))
    return cache[(reuse, most)][1]


OCCURRENCES_KEY = "touchpoint occurrences v3"


def stored_occurrences(journeys: ir.Table) -> ir.Table | None:
    """:func:`occurrences` with ``entry``, kept in the store for a stored dataset's journeys (None otherwise)."""
    from journeys.analyses import summary

    return summary.journeys_table_for(journeys, OCCURRENCES_KEY, build_occurrences)


def build_occurrences(journeys: ir.Table, most: int = OCCURRENCES, *, entry: bool = True) -> ir.Table:
    e = journeys.select("customer_id", "touchpoint", "step", "ts")
    e = e.mutate(k=ibis.row_number().over(ibis.window(group_by=[e.customer_id, e.touchpoint], order_by=e.step)))
    e = e.filter(e.k < most)
    occ = e.group_by("customer_id", "touchpoint").aggregate(**{
        f"{c}{i + 1}": ibis.cases((e.k == i, e[col]), else_=ibis.null(e[col].type())).max()
        for i in range(most) for c, col in (("s", "step"), ("t", "ts"))})
    if not entry:
        return occ
    first = journeys.filter(journeys.step == 1)
    # cid: an integer key per customer, numbered in customer_id order as the stored driver items number them
    first = first.select(f_id=first.customer_id, entry=first.ts, cid=ibis.row_number().over(order_by=first.customer_id))
    return occ.join(first, occ.customer_id == first.f_id).drop("f_id")


def _occurrence_counts(journeys: ir.Table, pop: Population, wanted: Sequence[int], reuse: Hashable | None,
                       ) -> ir.Table:
    """Per touchpoint: customers with at least k observed occurrences (``e{k}``) and those with the outcome
    (``c{k}``). Observation is a prefix of each journey, so the k-th occurrence decides: before the cut and
    the window's end."""
    occ = occurrences(journeys, max(OCCURRENCES, *wanted), reuse=reuse)  # one table serves touchpoints and counts
    if "entry" in occ.columns and pop.targets is not None:
        # the stored occurrences carry each customer's entry and integer key, and their first outcome event is
        # their first occurrence of a target touchpoint: the population comes from the same table
        hits = occ.filter(occ.touchpoint.isin(list(pop.targets)))
        cuts = hits.group_by(c_id=hits.cid).aggregate(cut=hits.s1.min())
        o = occ.left_join(cuts, occ.cid == cuts.c_id)
        o = o.mutate(outcome=o.cut.notnull().cast("int64"), until=_until(o.entry, pop.window_days))
    else:
        o = occ.join(pop.per, "customer_id")
    agg = {}
    for k in wanted:
        seen = ((o.cut.isnull() | (o[f"s{k}"] < o.cut)) & (o.until.isnull() | (o[f"t{k}"] < o.until))
                & o[f"s{k}"].notnull()).cast("int64")
        agg[f"e{k}"] = seen.sum()
        agg[f"c{k}"] = (seen * o.outcome).sum()
    return o.group_by("touchpoint").aggregate(**agg)


def count_candidates(journeys: ir.Table, pop: Population, kinds: Sequence[str], *, counts: Sequence[int] = (2, 3),
                     attributes: Sequence[str] = (), last_k: int = 3, reuse: Hashable | None = None) -> pd.DataFrame:
    """Per candidate (:data:`COUNT_COLUMNS`): ``x``/``y`` name the touchpoints or the column/value, ``times`` k."""
    string = ibis.null("string")
    columns = [c for c in ("channel", *attributes) if c in journeys.columns]
    # transitions, first touchpoints and attribute values from a stored dataset's first occurrences when it
    # keeps them (all of the asked attributes), the rest from the observed events
    items = di.stored_items(journeys) if set(kinds) & set(di.STORED_KINDS) else None
    from_items = [] if items is None else [k for k in di.STORED_KINDS if k in kinds and (
        k != "attribute" or set(attributes) <= di.kept_columns(items))]
    kinds = [k for k in kinds if k not in from_items]
    # the observed events (and the population they are joined to) only for the kinds that read them
    o = observed(journeys, pop, columns) if set(kinds) - {"touchpoint", "count"} else journeys
    parts: list[ir.Table] = []
    if {"touchpoint", "count"} & set(kinds):
        wanted = ([1] if "touchpoint" in kinds else []) + (list(counts) if "count" in kinds else [])
        frame = to_frame(_occurrence_counts(journeys, pop, wanted, reuse))
        for k in wanted:
            rows = frame[frame[f"e{k}"] > 0]
            parts.append(pd.DataFrame({
                "kind": "touchpoint" if k == 1 else "count", "item": rows.touchpoint if k == 1 else
                rows.touchpoint + f" >= {k}", "x": rows.touchpoint, "y": None, "times": k,
                "exposed": rows[f"e{k}"], "exposed_converted": rows[f"c{k}"]}))
    exprs: list[ir.Table] = []
    if "transition" in kinds:
        t = o.filter(o.nx.notnull())
        exprs.append(_tally(t, "transition", t.touchpoint.concat(" -> ", t.nx), t.touchpoint, t.nx))
    if "first" in kinds:
        f = o.filter(o.step == 1)
        exprs.append(_tally(f, "first", f.touchpoint, f.touchpoint, string))
        if "channel" in o.columns:
            f = f.filter(f.channel.notnull())
            exprs.append(_tally(f, "first", ibis.literal("channel = ").concat(f.channel), ibis.literal("channel"),
                                f.channel))
    if "last" in kinds:
        lst = o.filter(o.nx.isnull())
        exprs.append(_tally(lst, "last", lst.touchpoint, lst.touchpoint, string))
    if "lastk" in kinds:
        ends = o.filter(o.nx.isnull()).select(c_id="customer_id", last_step="step")
        tail = o.join(ends, o.customer_id == ends.c_id)
        tail = tail.filter(tail.step > tail.last_step - last_k)
        exprs.append(_tally(tail, "lastk", tail.touchpoint, tail.touchpoint, string, last_k))
    if "attribute" in kinds:
        for col in attributes:
            a = o.filter(o[col].notnull())
            value = a[col].cast("string")
            exprs.append(_tally(a, "attribute", ibis.literal(f"{col} = ").concat(value), ibis.literal(col), value))
    if items is not None and from_items:
        per = di.population_by_key(pop, items, stored_occurrences(journeys))
        exprs.append(di.item_counts(items, per, from_items, attributes))
    if exprs:
        union = exprs[0].union(*exprs[1:]) if len(exprs) > 1 else exprs[0]
        parts.append(to_frame(union))
    if not parts:
        return pd.DataFrame(columns=COUNT_COLUMNS)
    out = pd.concat([p[COUNT_COLUMNS] for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) \
        else pd.DataFrame(columns=COUNT_COLUMNS)
    for c in ("times", "exposed", "exposed_converted"):
        out[c] = out[c].fillna(0).astype("int64")
    return out


def attribute_cardinality(journeys: ir.Table, columns: Sequence[str]) -> dict[str, int]:
    """Distinct values of each attribute column (one aggregate)."""
    if not columns:
        return {}
    row = to_frame(journeys.aggregate(**{f"n{i}": journeys[c].nunique() for i, c in enumerate(columns)}))
    return {c: int(row[f"n{i}"].iloc[0]) for i, c in enumerate(columns)}
