"""Lifecycle: who is new, returning, resurrecting and dormant in each period (PostHog's definitions).

A customer is active in a calendar period when they have a return event in it (any event, or the return
touchpoints of the Outcomes spec). In period p an active customer is *new* (first active ever), *returning*
(active in p - 1 too) or *resurrecting* (inactive in p - 1, active before); a customer active in p - 1 but not
in p is *dormant* in p. The quick ratio is (new + resurrecting) / dormant: above 1 the active base grows.

The first period has only new customers (the data starts there) and the last may be incomplete (its
dormant count is then premature): both are flagged, not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeys.analyses import periods, summary
from journeys.analyses.base import check_touchpoints, known_touchpoints, to_frame
from journeys.analyses.periods import PERIODS, Period
from journeys.errors import QueryError, unknown
from journeys.outcomes import data_end

INTERVAL_DEFAULT: Period = "week"
STATES = ("new", "returning", "resurrecting", "dormant")
COLUMNS = ["period", *STATES, "active", "quick_ratio", "complete"]


@dataclass(frozen=True, slots=True)
class LifecycleQuery:
    interval: Period = INTERVAL_DEFAULT
    returns: tuple[str, ...] = ()

    def validate(self) -> None:
        if self.interval not in PERIODS:
            raise unknown("lifecycle interval", self.interval, PERIODS)


@dataclass(frozen=True, slots=True)
class LifecycleResult:
    """``periods``: one row per calendar period from the first to the last (:data:`COLUMNS`; ``dormant`` is a
    count, drawn below zero; ``quick_ratio`` null when nobody went dormant; ``complete`` False for a period that
    had not ended at the data's end)."""

    query: LifecycleQuery
    periods: pd.DataFrame
    end: datetime

    def quick_ratio(self) -> float | None:
        """Over the complete periods after the first: (new + resurrecting) / dormant."""
        body = self.periods.iloc[1:]
        body = body[body.complete]
        dormant = int(body.dormant.sum())
        return None if dormant == 0 else float((body.new.sum() + body.resurrecting.sum()) / dormant)


def compute_lifecycle(events: ir.Table, query: LifecycleQuery | None = None, *,
                      end: datetime | None = None) -> LifecycleResult:
    q = query or LifecycleQuery()
    q.validate()
    check_touchpoints(q.returns, known_touchpoints(events))
    end = end or data_end(events)
    rows = events.filter(events.touchpoint.isin(list(q.returns))) if q.returns else events
    stored = None if q.returns else summary.calendar_activity_for(events, q.interval)  # any event: kept per period
    act = stored if stored is not None else rows.select("customer_id", p=periods.index(rows.ts, q.interval)).distinct()
    w = ibis.window(group_by="customer_id", order_by="p")
    act = act.mutate(prev=act.p.lag().over(w))
    state = ibis.cases((act.prev.isnull(), "new"), (act.prev == act.p - 1, "returning"), else_="resurrecting")
    counted = to_frame(act.group_by(p=act.p, state=state).aggregate(n=act.count()))
    if counted.empty:
        raise QueryError("No customer did a return event: there is no lifecycle to show.")
    first = int(counted.p.min())
    last = periods.index_of(end, q.interval)
    data_start = pd.Timestamp(to_frame(events.aggregate(t=events.ts.min()))["t"].iloc[0]).to_pydatetime()
    if last - periods.index_of(data_start, q.interval) < 1:
        raise QueryError(f"The data spans less than two {q.interval}s: the lifecycle needs at least two periods.",
                         hint="Choose a shorter interval.")
    table = counted.pivot_table(index="p", columns="state", values="n", aggfunc="sum", fill_value=0)
    table = table.reindex(index=range(first, last + 1), columns=list(STATES[:3]), fill_value=0)
    table = table.fillna(0).astype("int64")
    # dormant in p: active in p - 1 but not in p, i.e. everyone active in p - 1 except those returning in p
    active = table.new + table.returning + table.resurrecting
    table["dormant"] = (active.shift(1, fill_value=0) - table.returning).astype("int64")
    table.columns.name = None
    table["active"] = table.new + table.returning + table.resurrecting
    table["quick_ratio"] = ((table.new + table.resurrecting) / table.dormant.where(table.dormant > 0)).astype("Float64")
    table["complete"] = [periods.start_moment(p + 1, q.interval) <= end for p in table.index]
    table["period"] = [pd.Timestamp(periods.start_of(int(p), q.interval)) for p in table.index]
    return LifecycleResult(query=q, periods=table.reset_index(drop=True)[COLUMNS], end=end)
