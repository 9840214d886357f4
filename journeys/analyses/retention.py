"""Retention: of the customers who started in a period, how many came back k periods later.

A customer's start (anchor) is their first event, or their first ``start`` touchpoint. Cohorts are the day,
week or month of the start. Period k is the k-th calendar period after the start's (``calendar``), or the k-th
rolling span of 24-hour multiples from the start itself (a month is 30 days). A customer is retained at k when
a return event (any event, or the return touchpoints of the Outcomes spec) falls *on* period k, or *on or after*
it. Period k of a cohort counts only once it has ended for every member before the data's end: unobserved
periods are null, never a drop. Revenue is the ``value`` the cohort's customers brought in period k.

The engine counts customers per (cohort, group, k); only those aggregates reach Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeys.analyses import periods, summary
from journeys.analyses.base import check_touchpoints, known_touchpoints, one_journey_per_customer, to_frame
from journeys.analyses.periods import PERIODS, Period
from journeys.errors import QueryError, unknown

Mode = Literal["on", "on_or_after"]
MODES: tuple[Mode, ...] = ("on", "on_or_after")
PERIODS_DEFAULT = 8
PERIODS_MAX = 60
#: a breakdown shows the largest groups by customers and puts the rest in OTHER
GROUPS_SHOWN = 10
ALL, OTHER, NONE = "All customers", "Other", "(none)"
TABLE_COLUMNS = ["group", "cohort", "k", "size", "retained", "pct", "revenue"]


@dataclass(frozen=True, slots=True)
class RetentionQuery:
    """``cohort``: the start's period that groups customers; ``period``: the unit of k; ``periods``: k = 0..N;
    ``calendar``: calendar periods instead of rolling ones; ``start``: the start touchpoint (None: first event);
    ``returns``: return touchpoints (empty: any event); ``breakdown``: an attribute that splits every cohort."""

    cohort: Period = "week"
    period: Period = "week"
    periods: int = PERIODS_DEFAULT
    calendar: bool = False
    mode: Mode = "on"
    start: str | None = None
    returns: tuple[str, ...] = ()
    breakdown: str | None = None

    def validate(self) -> None:
        for name, value in (("cohort", self.cohort), ("period", self.period)):
            if value not in PERIODS:
                raise unknown(f"{name} unit", value, PERIODS)
        if self.mode not in MODES:
            raise unknown("retention mode", self.mode, MODES)
        if not 1 <= self.periods <= PERIODS_MAX:
            raise QueryError(f"Retention shows 1 to {PERIODS_MAX} periods, not {self.periods}.")


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """``table``: one row per (group, cohort, k) (:data:`TABLE_COLUMNS`; ``retained``, ``pct`` and ``revenue``
    null where period k is not observed yet); ``average``: per (group, k) the weighted average over the cohorts
    that observed k (``size`` is their customers). ``hidden_groups`` breakdown values went into Other."""

    query: RetentionQuery
    table: pd.DataFrame
    average: pd.DataFrame
    customers: int
    end: datetime
    has_revenue: bool
    hidden_groups: int

    def cohorts(self, group: str = ALL) -> list[dict[str, object]]:
        """The CLI's ``cohorts`` list: ``cohort`` (ISO date), ``size``, ``retained`` (k = 0..N, None where not
        observed) and, when ``value`` exists, ``revenue``."""
        out: list[dict[str, object]] = []
        rows = self.table[self.table.group == group]
        for cohort, part in rows.groupby("cohort", sort=True):
            part = part.sort_values("k")
            entry: dict[str, object] = {"cohort": pd.Timestamp(cohort).date().isoformat(), "size": int(part["size"].iloc[0]),
                                        "retained": [None if pd.isna(v) else int(v) for v in part.retained]}
            if self.has_revenue:
                entry["revenue"] = [None if pd.isna(v) else round(float(v), 6) for v in part.revenue]
            out.append(entry)
        return out


def compute_retention(events: ir.Table, query: RetentionQuery | None = None, *,
                      end: datetime | None = None) -> RetentionResult:
    """Cohort retention of the customers in ``events``. ``end`` is where observation stops (default: the last
    event of ``events``; pass the dataset's end when ``events`` is a segment)."""
    q = query or RetentionQuery()
    q.validate()
    if q.start or q.returns:
        check_touchpoints([q.start, *q.returns], known_touchpoints(events))
    if q.breakdown and q.breakdown not in events.columns:
        internal = {"customer_id", "ts", "seq", "step", "next_touchpoint", "next_ts", "journey_id"}
        raise unknown("column", q.breakdown, [c for c in events.columns if c not in internal])
    span = to_frame(events.aggregate(first=events.ts.min(), last=events.ts.max(),
                                     values=events.value.count() if "value" in events.columns else ibis.literal(0)))
    if pd.isna(span["first"].iloc[0]):
        raise QueryError("The data has no events.")
    end = end or pd.Timestamp(span["last"].iloc[0]).to_pydatetime()
    _check_span(pd.Timestamp(span["first"].iloc[0]).to_pydatetime(), q, end)
    has_values = int(span["values"].iloc[0]) > 0
    counts, sizes, revenue = _from_activity(events, q, has_values=has_values) or \
        _aggregates(events, _anchors(events, q), q, has_values=has_values)
    table, hidden = _shape(counts, sizes, revenue, q, end)
    has_revenue = revenue is not None
    return RetentionResult(query=q, table=table, average=weighted_average(table), customers=int(sizes["size"].sum()),
                           end=end, has_revenue=has_revenue, hidden_groups=hidden)


def _check_span(start: datetime, q: RetentionQuery, end: datetime) -> None:
    # with less, not even the first customer's period k = 1 has ended: nobody could be seen to come back
    if q.calendar:
        short = end < periods.start_moment(periods.index_of(start, q.period) + 2, q.period)
    else:
        short = (end - start).total_seconds() < 2 * periods.SECONDS[q.period]
    if short:
        raise QueryError(f"The data spans less than two {q.period}s ({start:%Y-%m-%d} to {end:%Y-%m-%d}): "
                         "retention needs at least two periods.", hint="Choose a shorter period.")


def _anchors(events: ir.Table, q: RetentionQuery) -> ir.Table:
    """One row per customer: start second, start timestamp, cohort number and breakdown group."""
    if q.start is None and "step" in events.columns and one_journey_per_customer(events):
        # a stored (or reshaped, person-scope) table numbers each customer's events: the first is step 1
        first = events.filter(events.step == 1)
        group = first[q.breakdown].cast("string").fill_null(NONE) if q.breakdown else ibis.literal(ALL)
        per = first.select("customer_id", a_ts=first.ts, group=group)
        return per.mutate(a_sec=periods.seconds(per.a_ts), cohort=periods.index(per.a_ts, q.cohort),
                          a_idx=periods.index(per.a_ts, q.period))
    rows = events.filter(events.touchpoint == q.start) if q.start else events
    if q.breakdown:
        per = first_values(rows, q.breakdown)
    else:
        per = rows.group_by("customer_id").aggregate(a_ts=rows.ts.min()).mutate(group=ibis.literal(ALL))
    return per.mutate(a_sec=periods.seconds(per.a_ts), cohort=periods.index(per.a_ts, q.cohort),
                      a_idx=periods.index(per.a_ts, q.period))


def first_values(events: ir.Table, column: str) -> ir.Table:
    """Per customer the first event's ``a_ts`` and its ``column`` value as the string ``group`` (null: "(none)")."""
    w = ibis.window(group_by="customer_id", order_by=["ts", "seq"])
    rows = events.mutate(_n=ibis.row_number().over(w))
    rows = rows.filter(rows._n == 0)
    return rows.select("customer_id", a_ts=rows.ts, group=rows[column].cast("string").fill_null(NONE))


def _k(ev: ir.Table, q: RetentionQuery) -> ir.IntegerValue:
    if q.calendar:
        return (periods.index(ev.ts, q.period) - ev.a_idx).cast("int64")
    return ((periods.seconds(ev.ts) - ev.a_sec) // periods.SECONDS[q.period]).cast("int64")


def _aggregates(events: ir.Table, anchors: ir.Table, q: RetentionQuery, *,
                has_values: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """Cohort sizes, customers retained per (group, cohort, k) and, with values, revenue per k. In "on" mode one
    pass over the events joined to their customer's start gives both the returns and the revenue."""
    keys = ["group", "cohort"]
    sizes = to_frame(anchors.group_by(keys).aggregate(size=anchors.count(), last_a=anchors.a_ts.max()))
    value = events.value if has_values else ibis.null("float64")
    ev = events.select("customer_id", "ts", value=value,
                       back=events.touchpoint.isin(list(q.returns)) if q.returns else ibis.literal(True))
    ev = ev.join(anchors, "customer_id")
    ev = ev.filter(ev.ts >= ev.a_ts)
    ev = ev.mutate(k=_k(ev, q))
    early = ev.filter(ev.k <= q.periods)
    per = early.group_by(["customer_id", *keys, "k"]).aggregate(hit=early.back.cast("int64").max(),
                                                                  paid=early.value.sum())
    cells = to_frame(per.group_by([*keys, "k"]).aggregate(retained=per.hit.sum(), revenue=per.paid.sum()))
    revenue = cells[[*keys, "k", "revenue"]].fillna({"revenue": 0.0}) if has_values else None
    if q.mode == "on":
        return cells[[*keys, "k", "retained"]], sizes, revenue
    back = ev.filter(ev.back)
    tops = back.group_by(["customer_id", *keys]).aggregate(top=back.k.max())
    return to_frame(tops.group_by([*keys, "top"]).aggregate(retained=tops.count())), sizes, revenue


def _from_activity(events: ir.Table, q: RetentionQuery, *,
                   has_values: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None] | None:
    """What :func:`_aggregates` gives, read from the stored rolling activity (one row per customer and period
    they were active in), for the default question: rolling periods from the first event, any return, "on"."""
    if q.calendar or q.start or q.returns or q.breakdown or q.mode != "on":
        return None
    act = summary.activity_for(events, q.period)
    if act is None:
        return None
    keys = ["group", "cohort"]
    act = act.mutate(group=ibis.literal(ALL), cohort=periods.index(act.first_ts, q.cohort))
    starts = act.filter(act.k == 0)  # everyone is active in the period of their first event
    sizes = to_frame(starts.group_by(keys).aggregate(size=starts.count(), last_a=starts.first_ts.max()))
    early = act.filter(act.k <= q.periods)
    cells = to_frame(early.group_by([*keys, "k"]).aggregate(retained=early.count(), revenue=early.paid.sum()))
    revenue = cells[[*keys, "k", "revenue"]].fillna({"revenue": 0.0}) if has_values else None
    return cells[[*keys, "k", "retained"]], sizes, revenue


def _observed_until(last_anchor: datetime, k: int, q: RetentionQuery) -> datetime:
    """When period k has ended for the cohort's latest starter."""
    if q.calendar:
        return periods.start_moment(periods.index_of(last_anchor, q.period) + k + 1, q.period)
    seconds = (last_anchor - datetime(1970, 1, 1)).total_seconds() // 1
    return datetime(1970, 1, 1) + timedelta(seconds=seconds + (k + 1) * periods.SECONDS[q.period])


def _shape(counts: pd.DataFrame, sizes: pd.DataFrame, revenue: pd.DataFrame | None, q: RetentionQuery,
           end: datetime) -> tuple[pd.DataFrame, int]:
    ks = list(range(q.periods + 1))
    sizes = sizes.assign(group=sizes["group"].astype(str), cohort=sizes["cohort"].astype("int64"))
    hidden = 0
    order = sizes.groupby("group")["size"].sum().sort_values(ascending=False, kind="stable")
    order = order.sort_index().sort_values(ascending=False, kind="stable")  # ties by name: deterministic
    if len(order) > GROUPS_SHOWN + 1:
        keep = set(order.index[:GROUPS_SHOWN])
        hidden = len(order) - GROUPS_SHOWN
    else:
        keep = set(order.index)

    def regroup(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(group=frame["group"].astype(str).where(frame["group"].astype(str).isin(keep), OTHER))

    sizes = regroup(sizes).groupby(["group", "cohort"], as_index=False).agg(size=("size", "sum"),
                                                                             last_a=("last_a", "max"))
    if q.mode == "on":
        c = regroup(counts).groupby(["group", "cohort", "k"], as_index=False)["retained"].sum()
    else:
        per_top = regroup(counts).assign(top=lambda f: f["top"].clip(upper=q.periods))
        per_top = per_top.groupby(["group", "cohort", "top"], as_index=False)["retained"].sum()
        rows = [(g, co, k, int(part.loc[part.top >= k, "retained"].sum()))
                for (g, co), part in per_top.groupby(["group", "cohort"]) for k in ks]
        c = pd.DataFrame(rows, columns=["group", "cohort", "k", "retained"])
    grid = sizes.merge(pd.DataFrame({"k": ks}), how="cross")
    grid = grid.merge(c.astype({"cohort": "int64", "k": "int64"}), on=["group", "cohort", "k"], how="left")
    grid["retained"] = grid["retained"].fillna(0).astype("int64")
    if revenue is not None:
        r = regroup(revenue).groupby(["group", "cohort", "k"], as_index=False)["revenue"].sum()
        grid = grid.merge(r.astype({"cohort": "int64", "k": "int64"}), on=["group", "cohort", "k"], how="left")
        # a sum of sums: rounded so the order the engine added them in (threads, stored activity) never shows
        grid["revenue"] = grid["revenue"].fillna(0.0).astype("float64").round(9)
    else:
        grid["revenue"] = float("nan")
    observed = [_observed_until(pd.Timestamp(la).to_pydatetime(), int(k), q) <= end
                for la, k in zip(grid["last_a"], grid["k"], strict=True)]
    grid["observed"] = observed
    grid["retained"] = grid["retained"].astype("Int64").where(grid["observed"], pd.NA)
    grid["revenue"] = grid["revenue"].where(grid["observed"])
    grid["pct"] = (grid["retained"].astype("Float64") / grid["size"]).astype("Float64")
    grid["cohort"] = [pd.Timestamp(periods.start_of(int(n), q.cohort)) for n in grid["cohort"]]
    grid["size"] = grid["size"].astype("int64")
    rank = {g: i for i, g in enumerate([*sorted(keep, key=lambda g: (-int(order[g]), g)), OTHER])}
    grid = grid.sort_values(["group", "cohort", "k"], key=lambda s: s.map(rank) if s.name == "group" else s)
    return grid[TABLE_COLUMNS].reset_index(drop=True), hidden


def weighted_average(table: pd.DataFrame) -> pd.DataFrame:
    """Per (group, k): retained and revenue summed over the cohorts that observed k, over their customers."""
    seen = table.retained.notna()
    parts = table.assign(size=table["size"].where(seen, 0), cohorts=seen.astype("int64"))
    out = parts.groupby(["group", "k"], sort=False, as_index=False).agg(
        size=("size", "sum"), retained=("retained", "sum"), revenue=("revenue", "sum"), cohorts=("cohorts", "sum"))
    none = out["size"] == 0
    out["retained"] = out["retained"].astype("Int64").mask(none)
    out["revenue"] = out["revenue"].astype("Float64").mask(none)
    out["pct"] = (out["retained"].astype("Float64") / out["size"].where(~none)).astype("Float64")
    return out[["group", "k", "size", "retained", "pct", "revenue", "cohorts"]]
