"""Funnels: ordered steps, a conversion window, three ordering modes, exclusions, breakdowns, trends.

Counting rule: a journey (a customer, or a session when counting by session) counts at the furthest
step reached in any *attempt*. An attempt starts at an occurrence of step 1 and must complete each
further step within the window measured from that occurrence (and within a step's own window from the
previous step, when one is set). "After" means later in ``(ts, seq)`` order.

- ``sequential``: each step is the first occurrence of its touchpoints after the previous step (other
  events may happen in between). Taking the earliest occurrence is optimal, so one pass suffices.
- ``strict``: each step must be the very next event of the journey.
- ``any``: steps 2..n may happen in any order after the step-1 event; the journey reaches step k
  when steps 2..k all happened within the window.
- Exclusions: an attempt in which an exclusion touchpoint happens after step i and before step j
  stops at step j - 1.

Of the attempts reaching the furthest step, the earliest one gives the times to convert, the breakdown
value (the attribute on its step-1 event), the entry date, and what the journey did after its last step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeys.analyses import funnel_asof
from journeys.analyses import funnel_windows as fw
from journeys.analyses.base import OTHER, materialize, to_frame
from journeys.errors import QueryError, unknown

Order = Literal["strict", "sequential", "any"]
MAX_STEPS = 10
WINDOW_DEFAULT = timedelta(days=7)
WINDOW_MAX = timedelta(days=366)
BREAKDOWN_TOP = 200
GAP_FLOOR = 30  # journeys at the previous step before a value's step conversion is compared (DESIGN floors)
ENDED = "(journey ended)"
TIME_BUCKETS: tuple[tuple[str, int], ...] = (
    ("< 1 min", 60), ("1-10 min", 600), ("10-60 min", 3600), ("1-6 h", 6 * 3600), ("6-24 h", 86400),
    ("1-3 days", 3 * 86400), ("3-7 days", 7 * 86400), ("> 7 days", 10**12),
)


@dataclass(frozen=True, slots=True)
class Exclusion:
    """Disqualify an attempt from step ``before`` on if any of ``touchpoints`` happens after step ``after``."""

    touchpoints: tuple[str, ...]
    after: int = 1
    before: int = 2


@dataclass(frozen=True, slots=True)
class FunnelQuery:
    """A funnel. Each step is a set of touchpoints (any of them completes the step)."""

    steps: tuple[tuple[str, ...], ...]
    window: timedelta = WINDOW_DEFAULT
    step_windows: tuple[timedelta | None, ...] = ()
    order: Order = "sequential"
    exclusions: tuple[Exclusion, ...] = ()
    count_by: Literal["customer", "session"] = "customer"
    breakdown: str | None = None
    trend: Literal["day", "week", "month"] | None = None

    def validate(self) -> None:
        n = len(self.steps)
        if n < 1:
            raise QueryError("A funnel needs at least one step.")
        if n > MAX_STEPS:
            raise QueryError(f"A funnel has at most {MAX_STEPS} steps, not {n}.")
        if any(not s for s in self.steps):
            raise QueryError("Every funnel step needs at least one touchpoint.")
        if not timedelta(0) < self.window <= WINDOW_MAX:
            raise QueryError(f"The conversion window must be between 1 second and 366 days, not {self.window}.")
        if self.order not in ("strict", "sequential", "any"):
            raise QueryError(f"Unknown funnel order '{self.order}'.", hint="Use strict, sequential or any.")
        if len(self.step_windows) > n:
            raise QueryError("There are more step windows than steps.")
        for ex in self.exclusions:
            if not (1 <= ex.after < ex.before <= n) or not ex.touchpoints:
                raise QueryError(f"An exclusion must name touchpoints and steps 1 <= after < before <= {n}.")

    @property
    def labels(self) -> list[str]:
        return [" or ".join(s) for s in self.steps]


@dataclass(frozen=True, slots=True)
class FunnelResult:
    """``steps``: step, label, customers, conversion_from_start, conversion_from_previous, drop_off,
    median_s, p25_s, p75_s, p90_s (time from step 1). ``time_buckets``: step, bucket, customers.
    ``next_after_drop``: step, next_touchpoint, customers (what journeys that stopped after ``step`` did next).
    ``breakdown``: value, step, customers, conversion_from_start, conversion_from_previous. ``trend``: period, entered, converted, conversion_rate."""

    query: FunnelQuery
    steps: pd.DataFrame
    time_buckets: pd.DataFrame
    next_after_drop: pd.DataFrame
    breakdown: pd.DataFrame | None
    trend: pd.DataFrame | None

    @property
    def entered(self) -> int:
        return int(self.steps.customers.iloc[0]) if len(self.steps) else 0


def best_attempts(journeys: ir.Table, q: FunnelQuery, also_by: tuple[str, ...] = ()) -> ir.Table:
    """One row per journey that did step 1: ``reached`` (1..n), ``t1``..``tn`` (epoch s), ``after`` (next
    touchpoint after the last reached step), ``entry`` timestamp and the breakdown value ``bd``; with
    ``also_by``, ``bd0``, ``bd1``... hold those columns' values too (which attempt is best never depends on
    the breakdown, so one pass serves several)."""
    # only events of some step or exclusion matter: positions (``step``) and ``next_touchpoint`` keep
    # the full journey's order, so strict "very next event" checks still see the events dropped here
    wanted = sorted({t for s in q.steps for t in s} | {t for ex in q.exclusions for t in ex.touchpoints})
    keep = ["journey_id", "customer_id", "step", "ts", "touchpoint", "next_touchpoint", "next_ts"]
    for col in (q.breakdown, *also_by):
        if col and col not in keep:
            keep.append(col)
    journeys = journeys.filter(journeys.touchpoint.isin(wanted)).select(*keep)  # narrow rows through the windows
    window = int(q.window.total_seconds())
    if funnel_asof.can_use(journeys, q):
        e = journeys.mutate(tsec=journeys.ts.epoch_seconds())
        a = funnel_asof.sequential_attempts(e, fw.starts(e, q, also_by, []), q, window)
        return _best(a, q, also_by)
    return _best(fw.window_attempts(journeys, q, also_by, window), q, also_by)


def _best(a: ir.Table, q: FunnelQuery, also_by: tuple[str, ...]) -> ir.Table:
    """Each journey's best attempt: the furthest step, then the earliest start."""
    n = len(q.steps)
    # furthest step: the first missing step ends the attempt; exclusions cap it
    reached = ibis.literal(1)
    for k in range(2, n + 1):
        reached = ibis.ifelse((reached == k - 1) & a[f"p{k}"].notnull(), k, reached)
    for i, ex in enumerate(q.exclusions):
        hit = a[f"ex{i}_{ex.after}"].notnull() & a[f"p{ex.before}"].notnull() & (a[f"ex{i}_{ex.after}"] < a[f"p{ex.before}"])
        reached = ibis.ifelse(hit & (reached >= ex.before), ex.before - 1, reached)
    a = a.mutate(reached=reached)
    after = ibis.cases(*[(a.reached == k, a[f"after{k}"]) for k in range(1, n + 1)], else_=ibis.null("string"))
    a = a.mutate(after=after)
    carried = ["customer_id", "entry", "after", "bd", *[f"bd{i}" for i in range(len(also_by))],
               *[f"t{k}" for k in range(1, n + 1)]]
    w = ibis.window(group_by=a.journey_id, order_by=[ibis.desc(a.reached), a.p1])
    a = a.mutate(_rank=ibis.row_number().over(w))
    return a.filter(a._rank == 0).select("journey_id", "reached", *carried)


def _materialized_best(journeys: ir.Table, q: FunnelQuery, also_by: tuple[str, ...] = ()) -> ir.Table:
    """:func:`best_attempts` computed once, without the ids (the aggregates count rows, so the ids are not kept)."""
    return materialize(best_attempts(journeys, q, also_by).drop("journey_id", "customer_id"))


def compute_funnel(journeys: ir.Table, query: FunnelQuery) -> FunnelResult:
    """Per-step counts, conversion, drop-off and time to convert, plus breakdown and trend if asked."""
    query.validate()
    _check_breakdown(journeys, query.breakdown)
    return _result(_materialized_best(journeys, query), query)  # one heavy pass, then small aggregates


def compute_funnel_and_by(journeys: ir.Table, query: FunnelQuery, columns: tuple[str, ...]
                          ) -> tuple[FunnelResult, dict[str, FunnelResult]]:
    """:func:`compute_funnel` of ``query`` and the funnel broken down by each of ``columns``, from one matching
    pass (which attempt is best never depends on the breakdown)."""
    query.validate()
    for col in (query.breakdown, *columns):
        _check_breakdown(journeys, col)
    every = tuple(dict.fromkeys(c for c in (*columns, query.breakdown) if c))
    best = _materialized_best(journeys, replace(query, breakdown=None), also_by=every)
    bd = {col: best[f"bd{i}"] for i, col in enumerate(every)}
    whole = _result(best.mutate(bd=bd[query.breakdown] if query.breakdown else ibis.null("string")), query)
    return whole, {col: _result(best.mutate(bd=bd[col]), replace(query, breakdown=col)) for col in columns}


def _check_breakdown(journeys: ir.Table, column: str | None) -> None:
    if column and column not in journeys.columns:
        raise unknown("breakdown column", column, [c for c in journeys.columns if c not in ("journey_id",)])


def _result(best: ir.Table, q: FunnelQuery) -> FunnelResult:
    n = len(q.steps)
    metrics = {}
    for k in range(1, n + 1):
        at = best.reached >= k
        metrics[f"n{k}"] = best.count(where=at)
        if k > 1:
            dt = best[f"t{k}"] - best.t1
            metrics |= {f"q{k}_{p}": dt.quantile(p / 100, where=at).cast("float64") for p in (25, 50, 75, 90)}
    counts = to_frame(best.aggregate(**metrics)).iloc[0]
    rows = []
    for k in range(1, n + 1):
        c = int(counts[f"n{k}"])
        first = int(counts["n1"])
        prev = int(counts[f"n{k - 1}"]) if k > 1 else c
        nxt = int(counts[f"n{k + 1}"]) if k < n else c
        rows.append({
            "step": k, "label": q.labels[k - 1], "customers": c,
            "conversion_from_start": c / first if first else 0.0,
            "conversion_from_previous": c / prev if prev else 0.0,
            "drop_off": c - nxt if k < n else 0,
            **{f"{name}_s": (float(counts[f"q{k}_{p}"]) if k > 1 and c else (0.0 if c else None))
               for name, p in (("p25", 25), ("median", 50), ("p75", 75), ("p90", 90))},
        })
    steps = pd.DataFrame(rows)
    return FunnelResult(query=q, steps=steps, time_buckets=_time_buckets(best, n),
                        next_after_drop=_next_after_drop(best, n),
                        breakdown=_breakdown(best, n) if q.breakdown else None,
                        trend=_trend(best, n, q.trend) if q.trend else None)


def _time_buckets(best: ir.Table, n: int) -> pd.DataFrame:
    parts = []
    for k in range(2, n + 1):
        sub = best.filter(best.reached >= k)
        dt = sub[f"t{k}"] - sub.t1
        label = ibis.cases(*[(dt < limit, ibis.literal(name)) for name, limit in TIME_BUCKETS])
        parts.append(sub.group_by(bucket=label).aggregate(customers=sub.count()).mutate(step=ibis.literal(k)))
    if not parts:
        return pd.DataFrame(columns=["step", "bucket", "customers"])
    union = parts[0]
    for p in parts[1:]:
        union = union.union(p, distinct=False)
    frame = to_frame(union)
    order = {name: i for i, (name, _) in enumerate(TIME_BUCKETS)}
    frame["_o"] = frame.bucket.map(order)
    return frame.sort_values(["step", "_o"])[["step", "bucket", "customers"]].reset_index(drop=True)


def _next_after_drop(best: ir.Table, n: int) -> pd.DataFrame:
    dropped = best.filter(best.reached < n)
    frame = to_frame(dropped.group_by(step=dropped.reached, next_touchpoint=dropped.after.fill_null(ENDED))
                     .aggregate(customers=dropped.count()))
    return frame.sort_values(["step", "customers", "next_touchpoint"], ascending=[True, False, True]).reset_index(drop=True)


def _breakdown(best: ir.Table, n: int) -> pd.DataFrame:
    frame = to_frame(best.group_by(value=best.bd.fill_null("(empty)"), reached=best.reached).aggregate(customers=best.count()))
    entered = frame.groupby("value")["customers"].sum().sort_values(ascending=False, kind="stable")
    top = set(entered.sort_index().sort_values(ascending=False, kind="stable").index[:BREAKDOWN_TOP])
    frame["value"] = frame["value"].where(frame["value"].isin(top), OTHER)
    rows = []
    for value, grp in frame.groupby("value", sort=False):
        for k in range(1, n + 1):
            rows.append({"value": value, "step": k, "customers": int(grp.loc[grp.reached >= k, "customers"].sum())})
    out = pd.DataFrame(rows, columns=["value", "step", "customers"])
    first = out[out.step == 1].set_index("value")["customers"]
    out["conversion_from_start"] = out.customers / out.value.map(first)
    prev = out.groupby("value", sort=False)["customers"].shift(1)
    out["conversion_from_previous"] = (out.customers / prev).where(out.step > 1, 1.0).where(prev != 0, 0.0)
    size = out.value.map(first)
    return out.assign(_s=size).sort_values(["_s", "value", "step"], ascending=[False, True, True]).drop(columns="_s").reset_index(drop=True)


@dataclass(frozen=True, slots=True)
class StepGap:
    """The widest difference in one step's conversion between breakdown values (each with enough journeys)."""

    step: int
    from_label: str
    to_label: str
    best_value: str
    best_rate: float
    worst_value: str
    worst_rate: float

    @property
    def gap(self) -> float:
        return self.best_rate - self.worst_rate

    def sentence(self, limit: int = 0) -> str:
        """``limit`` > 0 shortens each name and value to that many characters (for the screen)."""
        def cut(text: str) -> str:
            return text if not limit or len(text) <= limit else text[: limit - 1] + "…"
        return (f"Biggest gap: {cut(self.from_label)} → {cut(self.to_label)} converts {self.worst_rate:.1%} for "
                f"{cut(self.worst_value)} against {self.best_rate:.1%} for {cut(self.best_value)}.")


def step_gaps(result: FunnelResult, *, floor: int = GAP_FLOOR) -> list[StepGap]:
    """Per step (2..n), the best and worst breakdown value by conversion from the previous step, among
    values with at least ``floor`` journeys at the previous step; widest gap first. ``Other`` is left out."""
    b = result.breakdown
    if b is None or b.empty:
        return []
    labels = result.query.labels
    customers = b.set_index(["value", "step"])["customers"]
    gaps = []
    for k in range(2, len(labels) + 1):
        rows = b[(b.step == k) & (b.value != OTHER)]
        rows = rows[[int(customers.get((v, k - 1), 0)) >= floor for v in rows.value]]
        if len(rows) < 2:
            continue
        ranked = rows.sort_values(["conversion_from_previous", "value"], ascending=[False, True])
        hi, lo = ranked.iloc[0], ranked.iloc[-1]
        gaps.append(StepGap(k, labels[k - 2], labels[k - 1], str(hi.value), float(hi.conversion_from_previous),
                            str(lo.value), float(lo.conversion_from_previous)))
    return sorted(gaps, key=lambda g: (-g.gap, g.step))


def _trend(best: ir.Table, n: int, unit: str) -> pd.DataFrame:
    period = best.entry.truncate({"day": "D", "week": "W", "month": "M"}[unit])
    frame = to_frame(best.group_by(period=period).aggregate(entered=best.count(), converted=best.count(where=best.reached >= n)))
    frame["conversion_rate"] = frame.converted / frame.entered
    return frame.sort_values("period").reset_index(drop=True)


def dropped_customers(journeys: ir.Table, query: FunnelQuery, step: int) -> ir.Table:
    """Customers whose furthest step is ``step`` (they did not reach ``step + 1``): for hand-off lists."""
    best = best_attempts(journeys, query)
    return best.filter(best.reached == step).select("customer_id").distinct().order_by("customer_id")
