"""Churn: how many customers leave, when, what they were worth, and what they did last.

Churn follows the Outcomes spec (explicit churn touchpoints, or inactivity for N days) and its honest
censoring (:func:`journeys.outcomes.churn_status`). Three parts, each one engine query that returns aggregates:

- rates: churned / customers by first-seen cohort and by attribute value (Wilson 95% interval), the churn rate
  per period (churned in the period / customers still there at its start; null where a period is too recent to
  know), the time from first event to churn in weeks, and the revenue lost (``value`` churned customers brought
  in the REVENUE_WINDOW_DAYS up to their churn);
- paths: the last K touchpoints before churn (the churn event itself and anything after it left out) against the
  last K of customers still active, as step-indexed Sankey links ending at CHURNED or STILL ACTIVE;
- over-representation: per touchpoint, customers with it among their last K, churned or not, as a 2x2 table
  (lift, odds ratio with its interval, Benjamini-Hochberg q-values; below the floors a badge, not a rank).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeys.analyses import periods, summary
from journeys.analyses.base import OTHER, known_touchpoints, materialize, one_journey_per_customer, to_frame
from journeys.analyses.churn_frames import (  # re-exported: pages, charts and tests name them from here
    ACTIVE_NODE as ACTIVE_NODE,
)
from journeys.analyses.churn_frames import (
    CHURNED_NODE as CHURNED_NODE,
)
from journeys.analyses.churn_frames import (
    combos_of,
    exposed_of,
    links_of,
    nodes_and_steps,
    overrepresentation,
    top_paths,
)
from journeys.analyses.periods import PERIODS, Period
from journeys.analyses.retention import first_values
from journeys.errors import QueryError, unknown
from journeys.outcomes import (
    ACTIVE,
    CHURNED,
    Inactivity,
    Outcomes,
    churn_status,
    data_end,
    inactivity_threshold,
)
from journeys.segments import START
from journeys.stats import wilson

LAST_K_DEFAULT, LAST_K_MAX = 5, 10
REVENUE_WINDOW_DAYS = summary.REVENUE_WINDOW_DAYS
GROUPS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class ChurnQuery:
    """``outcomes`` says what churn is; ``interval`` the period of the rate over time and the cohorts;
    ``last_k`` how many touchpoints before churn the paths show; ``breakdown`` an attribute to compare."""

    outcomes: Outcomes = field(default_factory=Outcomes)
    interval: Period = "month"
    last_k: int = LAST_K_DEFAULT
    breakdown: str | None = None

    def validate(self) -> None:
        self.outcomes.validate()
        if self.interval not in PERIODS:
            raise unknown("churn interval", self.interval, PERIODS)
        if not 1 <= self.last_k <= LAST_K_MAX:
            raise QueryError(f"Churn paths show the last 1 to {LAST_K_MAX} touchpoints, not {self.last_k}.")


@dataclass(frozen=True, slots=True)
class ChurnResult:
    """Counts of churned and still-active ("active (not yet known)") customers, and the frames described in the
    module docstring. ``inactivity`` is the threshold used (None for explicit churn)."""

    query: ChurnQuery
    inactivity: Inactivity | None
    customers: int
    churned: int
    by_cohort: pd.DataFrame
    over_time: pd.DataFrame
    by_group: pd.DataFrame | None
    time_to_churn: pd.DataFrame
    revenue_lost: float | None
    revenue_customers: int
    links: pd.DataFrame
    overrepresented: pd.DataFrame
    no_history: int
    end: datetime
    paths: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def active(self) -> int:
        return self.customers - self.churned

    @property
    def rate(self) -> float:
        return self.churned / self.customers if self.customers else math.nan

    def definition(self) -> str:
        return self.query.outcomes.describe(self.inactivity.days if self.inactivity else None)


def compute_churn(events: ir.Table, query: ChurnQuery | None = None, *, end: datetime | None = None,
                  whole: ir.Table | None = None) -> ChurnResult:
    """Churn of the customers in ``events``; ``end`` is the data's end and ``whole`` the dataset's events (pass
    both when ``events`` is a segment: censoring is relative to the end, and the default inactivity threshold
    comes from everyone's purchase gaps, so a segment keeps the view's definition of churn)."""
    q = query or ChurnQuery()
    q.validate()
    o = q.outcomes
    named = o.goals or o.churn_touchpoints or o.returns  # checked against the dataset: a segment may lack them
    q.outcomes.validate(known_touchpoints(events if whole is None else whole) if named else None)
    if q.breakdown and q.breakdown not in events.columns:
        raise unknown("column", q.breakdown, [c for c in events.columns if c not in {"ts", "seq", "customer_id"}])
    end = end or data_end(events)
    inactivity = None if q.outcomes.churn_mode == "explicit" else \
        inactivity_threshold(events if whole is None else whole, q.outcomes, end=end)
    # inactivity churn: churned = last event on or before the cut-off, so the stored per-customer tails carry it
    cutoff = end - timedelta(days=inactivity.days) if inactivity else None
    tails = summary.tails_for(events) if cutoff is not None else None
    status = None
    if tails is None or q.breakdown:
        status = materialize(churn_status(events, q.outcomes, end=end,
                                          inactivity_days=inactivity.days if inactivity else None))
    grid = _grid(status, q.interval) if tails is None or cutoff is None else _stored_grid(tails, cutoff, q.interval)
    total = int(grid.n.sum())
    churned = int(grid.loc[grid.status == CHURNED, "n"].sum())
    if total == 0:
        raise QueryError("There are no customers to measure churn on.")
    links, over, with_history, paths = churn_paths(events, status, q, tails=tails, cutoff=cutoff)
    if tails is not None:  # stored per-customer sums of their last 30 days' values
        lost = None if "value" not in events.columns else round(float(grid.paid.sum()), 9)  # order never shows
        lost_customers = int(grid.payers.sum()) if lost is not None else 0
    else:
        lost, lost_customers = _revenue_lost(events, status)
    return ChurnResult(
        query=q, inactivity=inactivity, customers=total, churned=churned,
        by_cohort=_by_cohort(grid, q, end, inactivity), over_time=_over_time(grid, q, end, inactivity),
        by_group=_by_group(events, status, q) if q.breakdown and status is not None else None,
        time_to_churn=_time_to_churn(grid), revenue_lost=lost, revenue_customers=lost_customers, links=links,
        overrepresented=over, no_history=churned - with_history, end=end, paths=paths)


def _grid(status: ir.Table, interval: Period) -> pd.DataFrame:
    """Customers counted by first-seen period ``cohort``, period they ``left`` and whole ``weeks`` from their first
    event to churn (both null while active) and ``status``: every count below is read off these few rows."""
    weeks = (periods.seconds(status.churn_ts) - periods.seconds(status.first_ts)) // (7 * 86_400)
    return to_frame(status.group_by(
        cohort=periods.index(status.first_ts, interval), left=periods.index(status.churn_ts, interval),
        weeks=weeks.cast("int64"), status=status.status).aggregate(n=status.count()))


def _stored_grid(tails: ir.Table, cutoff: datetime, interval: Period) -> pd.DataFrame:
    """:func:`_grid` for inactivity churn from the stored tails (leaving = the last event), with ``paid``/``payers``:
    the churned customers' values in their last REVENUE_WINDOW_DAYS and how many of them paid."""
    gone = _churned(tails, cutoff)
    churn_ts = ibis.cases((gone, tails.last_ts), else_=ibis.null("timestamp"))
    weeks = (periods.seconds(churn_ts) - periods.seconds(tails.first_ts)) // (7 * 86_400)
    return to_frame(tails.group_by(
        cohort=periods.index(tails.first_ts, interval), left=periods.index(churn_ts, interval),
        weeks=weeks.cast("int64"), status=ibis.ifelse(gone, ibis.literal(CHURNED), ibis.literal(ACTIVE))).aggregate(
        n=tails.count(), paid=ibis.cases((gone, tails.paid), else_=ibis.null("float64")).sum(),
        payers=(gone & (tails.paid_n > 0)).cast("int64").sum()))


def _rate_frame(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """``key, customers, churned, active, rate, rate_low, rate_high`` from (key, status, n) counts."""
    wide = frame.pivot_table(index=key, columns="status", values="n", aggfunc="sum", fill_value=0)
    churned = wide[CHURNED] if CHURNED in wide.columns else pd.Series(0, index=wide.index)
    out = pd.DataFrame({key: wide.index, "customers": wide.sum(axis=1).astype("int64").to_numpy(),
                        "churned": churned.astype("int64").to_numpy()})
    out["active"] = out.customers - out.churned
    out["rate"] = out.churned / out.customers
    bounds = [wilson(int(k), int(n)) for k, n in zip(out.churned, out.customers, strict=True)]
    out["rate_low"] = [b[0] for b in bounds]
    out["rate_high"] = [b[1] for b in bounds]
    return out.reset_index(drop=True)


def _by_cohort(grid: pd.DataFrame, q: ChurnQuery, end: datetime, inactivity: Inactivity | None) -> pd.DataFrame:
    """Churn per first-seen cohort. With inactivity churn, only a customer first seen at least N days before the
    data's end can have been seen to churn: a cohort whose period ends later than that (wholly or partly too
    recent) has a null rate and interval (too recent to know), never a low rate that reads as loyalty; the
    churn-rate chart marks the same periods."""
    counted = grid.groupby(["cohort", "status"], as_index=False)["n"].sum()
    out = _rate_frame(counted, "cohort").sort_values("cohort").reset_index(drop=True)
    if inactivity is not None:
        known_until = end - timedelta(days=inactivity.days)
        recent = [periods.start_moment(int(c) + 1, q.interval) > known_until for c in out.cohort]
        out.loc[recent, ["rate", "rate_low", "rate_high"]] = math.nan
    out["cohort"] = [pd.Timestamp(periods.start_of(int(c), q.interval)) for c in out.cohort]
    return out.reset_index(drop=True)


def _over_time(grid: pd.DataFrame, q: ChurnQuery, end: datetime, inactivity: Inactivity | None) -> pd.DataFrame:
    """Per period: customers present at its start or arriving in it and not churned before it, churned in it."""
    firsts = grid.groupby("cohort")["n"].sum()
    gone = grid[grid.left.notna()]
    lefts = gone.groupby(gone.left.astype("int64"))["n"].sum()
    first_p, last_p = int(firsts.index.min()), periods.index_of(end, q.interval)
    arrived = firsts.reindex(range(first_p, last_p + 1), fill_value=0)
    left = lefts.reindex(range(first_p, last_p + 1), fill_value=0)
    at_risk = arrived.cumsum() - left.cumsum().shift(1, fill_value=0)
    # a period is known once it ended, and (inactivity) its last day lies N days before the data's end
    known_until = end - pd.Timedelta(days=inactivity.days) if inactivity else end
    known = [periods.start_moment(p + 1, q.interval) <= known_until for p in arrived.index]
    out = pd.DataFrame({"period": [pd.Timestamp(periods.start_of(int(p), q.interval)) for p in arrived.index],
                        "customers": at_risk.astype("int64").to_numpy(), "churned": left.astype("int64").to_numpy(),
                        "known": known})
    out["rate"] = (out.churned / out.customers.where(out.customers > 0)).where(out.known).astype("Float64")
    return out


def _by_group(events: ir.Table, status: ir.Table, q: ChurnQuery) -> pd.DataFrame:
    groups = first_values(events, q.breakdown or "")
    joined = status.join(groups, "customer_id")
    counted = to_frame(joined.group_by(["group", "status"]).aggregate(n=joined.count()))
    out = _rate_frame(counted, "group").sort_values(["customers", "group"], ascending=[False, True])
    if len(out) > GROUPS_SHOWN + 1:
        rest = out.iloc[GROUPS_SHOWN:]
        other = pd.DataFrame({"group": [OTHER], "customers": [rest.customers.sum()], "churned": [rest.churned.sum()]})
        out = pd.concat([out.iloc[:GROUPS_SHOWN, :3], other], ignore_index=True)
        out = _rate_frame(pd.concat([
            out.assign(status=CHURNED, n=out.churned)[["group", "status", "n"]],
            out.assign(status="rest", n=out.customers - out.churned)[["group", "status", "n"]]]), "group")
        out = out.sort_values(["customers", "group"], ascending=[False, True])
    return out.reset_index(drop=True)


def _time_to_churn(grid: pd.DataFrame) -> pd.DataFrame:
    gone = grid[grid.weeks.notna()]
    out = gone.groupby(gone.weeks.astype("int64"), as_index=False)["n"].sum().rename(columns={"n": "churned"})
    return out.astype("int64").sort_values("weeks").reset_index(drop=True)


def _churned(tails: ir.Table, cutoff: datetime) -> ir.BooleanValue:
    """Inactivity churn from a customer's last event, as :func:`journeys.outcomes.churn_status` decides it."""
    return tails.last_ts <= ibis.literal(pd.Timestamp(cutoff).to_pydatetime(), type="timestamp")


def _revenue_lost(events: ir.Table, status: ir.Table) -> tuple[float | None, int]:
    if "value" not in events.columns:
        return None, 0
    gone = status.filter(status.churn_ts.notnull()).select("customer_id", "churn_ts")
    paid = events.filter(events.value.notnull()).select("customer_id", "ts", "value").join(gone, "customer_id")
    paid = paid.filter((paid.ts <= paid.churn_ts)
                       & (periods.seconds(paid.ts) > periods.seconds(paid.churn_ts) - REVENUE_WINDOW_DAYS * 86_400))
    row = to_frame(paid.aggregate(total=paid.value.sum(), customers=paid.customer_id.nunique())).iloc[0]
    return (0.0 if pd.isna(row.total) else round(float(row.total), 9)), int(row.customers)


# ---- churn paths ------------------------------------------------------------------------------------

def last_touchpoints(events: ir.Table, status: ir.Table, q: ChurnQuery) -> ir.Table:
    """Per customer their last K events before churn (``back`` 1 = the last), with ``status``. For explicit churn
    the history ends before the first churn touchpoint; otherwise it is every event (by ``(ts, seq)``)."""
    stored = {"step", "next_touchpoint"} <= set(events.columns) and one_journey_per_customer(events)
    if stored:
        # stored steps are 1-based by (ts, seq) and contiguous; the last event is the one without a next: its
        # step is the customer's event count, found by a filter instead of a group-by over every event
        ev = events.select("customer_id", "touchpoint", pos=events.step)
        lasts = events.filter(events.next_touchpoint.isnull())
        counts = lasts.select("customer_id", n=lasts.step)
    else:
        w = ibis.window(group_by="customer_id", order_by=["ts", "seq"])
        ev = events.select("customer_id", "touchpoint", pos=ibis.row_number().over(w) + 1)
        counts = ev.group_by("customer_id").aggregate(n=ev.pos.max())
    if q.outcomes.churn_mode == "explicit":
        hits = ev.filter(ev.touchpoint.isin(list(q.outcomes.churn_touchpoints)))
        first_hit = hits.group_by("customer_id").aggregate(cp=hits.pos.min())
        joined = counts.left_join(first_hit, "customer_id")
        per = joined.select(customer_id=joined.customer_id, hist=joined.cp.fill_null(joined.n + 1) - 1)
    else:
        per = counts.select("customer_id", hist=counts.n)
    per = per.join(status.select("customer_id", "status"), "customer_id")
    tail = ev.join(per, "customer_id")
    tail = tail.mutate(back=tail.hist - tail.pos + 1)
    return tail.filter((tail.back >= 1) & (tail.back <= q.last_k)).select("customer_id", "touchpoint", "back", "status")


def churn_paths(events: ir.Table, status: ir.Table | None, q: ChurnQuery, *, tails: ir.Table | None = None,
                cutoff: datetime | None = None) -> tuple[pd.DataFrame, pd.DataFrame, int, pd.DataFrame]:
    """Sankey links (``source, target, status, customers``; nodes are ``-b · touchpoint``, step-indexed, the top
    NODES_PER_STEP per step and Other), the over-representation table, how many churned customers had an event
    before churning, and the most common whole last-K paths of churned customers (:func:`top_paths`). ``status``
    (:func:`journeys.outcomes.churn_status`) may be None with ``tails`` and ``cutoff``."""
    k = q.last_k
    # one row per customer with a history: status and the touchpoints t1 (the last) ... tK, counted once per
    # (status, t1..tK); every frame below is read off those few rows
    if tails is not None and cutoff is not None:  # the stored last touchpoints: every customer has a history
        status_of = ibis.ifelse(_churned(tails, cutoff), ibis.literal(CHURNED), ibis.literal(ACTIVE))
        per = tails.select("customer_id", status=status_of, **{f"t{b}": tails[f"l{b}"] for b in range(1, k + 1)})
    else:
        assert status is not None, "churn paths need the status, or the stored tails and a cut-off"
        tail = last_touchpoints(events, status, q)
        cols = {f"t{b}": ibis.cases((tail.back == b, tail.touchpoint)).max() for b in range(1, k + 1)}
        per = tail.group_by(["customer_id", "status"]).aggregate(**cols)
    combos = combos_of(per, k)
    nodes, steps = nodes_and_steps(combos, k)
    exposed = exposed_of(combos, k)
    with_history = combos.groupby("status", as_index=False)["n"].sum()
    churned_hist = int(with_history.loc[with_history.status == CHURNED, "n"].sum())
    return links_of(nodes, steps), overrepresentation(exposed, with_history), churned_hist, top_paths(combos, k)


def customers_on_path(events: ir.Table, query: ChurnQuery, path: tuple[str, ...], *,
                      end: datetime | None = None, whole: ir.Table | None = None) -> list[str]:
    """Still-active customers whose last touchpoints (before the last K cut) are exactly ``path``: the people
    following a likely churn path today, to reach before they go (``end``, ``whole`` as in :func:`compute_churn`).
    A path starting with :data:`journeys.segments.START` is a whole history (a top path shorter than K)."""
    end = end or data_end(events)
    inactivity = None if query.outcomes.churn_mode == "explicit" else \
        inactivity_threshold(events if whole is None else whole, query.outcomes, end=end)
    status = churn_status(events, query.outcomes, end=end, inactivity_days=inactivity.days if inactivity else None)
    anchored, path = path[:1] == (START,), path[1:] if path[:1] == (START,) else path
    m = len(path)
    q = replace(query, last_k=min(LAST_K_MAX, m + 1) if anchored else max(1, m))
    tail = last_touchpoints(events, status, q)
    tail = tail.filter(tail.status != CHURNED)
    fits = ibis.or_(*[(tail.back == m - i) & (tail.touchpoint == tp) for i, tp in enumerate(path)])
    hits = tail.filter(fits)
    counted = hits.group_by("customer_id").aggregate(n=hits.count())
    found = counted.filter(counted.n == m).select("customer_id")
    if anchored:  # nothing before the path
        found = found.anti_join(tail.filter(tail.back == m + 1), "customer_id")
    return sorted(to_frame(found)["customer_id"].astype(str))
