"""Outcomes: what counts as converting, churning and coming back. One spec shared by every view that needs one.

- *conversion*: one or more goal touchpoints (``goals``);
- *churn*: explicit churn touchpoints (``churn_touchpoints``, e.g. ``account_closed``), or else inactivity: no
  event for ``inactivity_days`` days. Left unset, the inactivity threshold is the larger of 30 days and the p90
  of the gaps between purchase days (:func:`inactivity_threshold`), shown on screen so people can change it;
- *return event* for retention: any event (``returns`` empty) or the chosen touchpoints.

Churn is censored honestly (:func:`churn_status`): a customer whose last event is less than N days before the
data's end has not been gone long enough to know, and is "active (not yet known)", never churned.

The spec round-trips through the URL (:meth:`Outcomes.to_params`, keys ``og``, ``ct``, ``cin``, ``ret``, only
non-default values) and the command line (:func:`add_outcome_args`, :func:`outcomes_from`).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeys.errors import QueryError, unknown

ChurnMode = Literal["explicit", "inactivity"]
#: the floor of the default inactivity threshold, and the share of purchase gaps it must cover
INACTIVITY_FLOOR_DAYS = 30
GAP_QUANTILE = 0.9
INACTIVITY_MAX_DAYS = 3660
CHURNED, ACTIVE = "churned", "active (not yet known)"
STATUSES = (CHURNED, ACTIVE)
#: the URL keys of the spec, in the order they are written
URL_KEYS = ("og", "ct", "cin", "ret")
STATUS_COLUMNS = ["customer_id", "first_ts", "last_ts", "status", "churn_ts"]


@dataclass(frozen=True, slots=True)
class Outcomes:
    """What counts as converting (``goals``), churning (``churn_touchpoints``, else ``inactivity_days`` without an
    event; None = the default of :func:`inactivity_threshold`) and returning (``returns``; empty = any event)."""

    goals: tuple[str, ...] = ()
    churn_touchpoints: tuple[str, ...] = ()
    inactivity_days: int | None = None
    returns: tuple[str, ...] = ()

    @property
    def churn_mode(self) -> ChurnMode:
        return "explicit" if self.churn_touchpoints else "inactivity"

    @property
    def purchases(self) -> tuple[str, ...]:
        """The touchpoints whose gaps set the default inactivity threshold: the goals, else the return events."""
        return self.goals or self.returns

    def validate(self, known: Iterable[str] | None = None) -> None:
        """Sentences for impossible settings; with ``known`` touchpoints, unknown names get a did-you-mean."""
        if self.churn_touchpoints and self.inactivity_days is not None:
            raise QueryError("Churn is either explicit touchpoints or inactivity, not both: pick one.")
        if self.inactivity_days is not None and not 1 <= self.inactivity_days <= INACTIVITY_MAX_DAYS:
            raise QueryError(f"The inactivity threshold must be 1 to {INACTIVITY_MAX_DAYS} days, "
                             f"not {self.inactivity_days}.")
        if known is not None:
            pool = sorted(set(known))
            for kind, names in (("goal touchpoint", self.goals), ("churn touchpoint", self.churn_touchpoints),
                                ("return touchpoint", self.returns)):
                for name in names:
                    if name not in pool:
                        raise unknown(kind, name, pool)

    def describe(self, inactivity_days: int | None = None) -> str:
        """``churned = no event for 45 days`` or ``churned = did account_closed``; for captions and reports."""
        if self.churn_mode == "explicit":
            return "churned = did " + " or ".join(self.churn_touchpoints)
        days = self.inactivity_days or inactivity_days
        return f"churned = no event for {days} days" if days else "churned = no event for the default threshold"

    # ---- URL codec ------------------------------------------------------------------------------
    def to_params(self) -> dict[str, str]:
        """Only non-default values: ``og=purchase,upgrade``, ``ct=account_closed``, ``cin=45``, ``ret=purchase``."""
        out = {"og": ",".join(self.goals), "ct": ",".join(self.churn_touchpoints),
               "cin": "" if self.inactivity_days is None else str(self.inactivity_days), "ret": ",".join(self.returns)}
        return {k: v for k, v in out.items() if v}

    @classmethod
    def from_params(cls, params: Mapping[str, Sequence[str]]) -> tuple[Outcomes, list[str]]:
        """Read the keys of :data:`URL_KEYS`; a value that cannot be used is a sentence and its default applies."""
        def one(key: str) -> str:
            vals = params.get(key) or []
            return vals[-1].strip() if vals else ""

        problems: list[str] = []
        days: int | None = None
        if one("cin"):
            try:
                days = _days(one("cin"))
            except QueryError as err:
                problems.append(f"The link's inactivity threshold could not be used ({err.message.rstrip('.')}); "
                                "the default threshold applies.")
        spec = cls(goals=_names(one("og")), churn_touchpoints=_names(one("ct")), inactivity_days=days,
                   returns=_names(one("ret")))
        if spec.churn_touchpoints and spec.inactivity_days is not None:
            problems.append("The link sets both churn touchpoints and an inactivity threshold; "
                            "the churn touchpoints are used.")
            spec = cls(spec.goals, spec.churn_touchpoints, None, spec.returns)
        return spec, problems


def _names(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))


def _days(text: str) -> int:
    """``45``, ``45d`` or ``6w`` -> days."""
    raw = text.strip().lower()
    factor = 7 if raw.endswith("w") else 1
    digits = raw.rstrip("dw").strip()
    if not digits.isdigit():
        raise QueryError(f"'{text}' is not a number of days.", hint="Use e.g. 45, 60d or 8w.")
    days = int(digits) * factor
    if not 1 <= days <= INACTIVITY_MAX_DAYS:
        raise QueryError(f"The inactivity threshold must be 1 to {INACTIVITY_MAX_DAYS} days, not {days}.")
    return days


# ---- the command line ---------------------------------------------------------------------------

def add_outcome_args(parser: argparse.ArgumentParser) -> None:
    """``--conversion a,b``, ``--churn-touchpoints a,b`` or ``--inactive 60d``, ``--return a,b``."""
    g = parser.add_argument_group("outcomes")
    g.add_argument("--conversion", metavar="TOUCHPOINTS", default="",
                   help="conversion goal touchpoints, comma-separated (default: --goal when given)")
    churn = g.add_mutually_exclusive_group()
    churn.add_argument("--churn-touchpoints", metavar="TOUCHPOINTS", default="",
                       help="churn is doing one of these (e.g. account_closed,unsubscribe)")
    churn.add_argument("--inactive", metavar="DAYS", default="",
                       help="churn is no event for this long, e.g. 60d or 8w "
                            f"(default: max({INACTIVITY_FLOOR_DAYS}d, p90 of the gaps between purchase days))")
    g.add_argument("--return", dest="returns", metavar="TOUCHPOINTS", default="",
                   help="what counts as coming back for retention (default: any event)")


def outcomes_from(args: argparse.Namespace) -> Outcomes:
    """The spec from :func:`add_outcome_args`' flags; a shaping ``--goal`` is the conversion goal by default."""
    goals = _names(getattr(args, "conversion", "") or "") or _names(getattr(args, "goal", None) or "")
    inactive = getattr(args, "inactive", "") or ""
    spec = Outcomes(goals=goals, churn_touchpoints=_names(getattr(args, "churn_touchpoints", "") or ""),
                    inactivity_days=_days(inactive) if inactive else None,
                    returns=_names(getattr(args, "returns", "") or ""))
    spec.validate()
    return spec


# ---- the engine -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Inactivity:
    """The inactivity threshold in ``days``, and where it came from: the user (``chosen``) or the default
    max(30, ``p90_days``) over ``gaps`` gaps between purchase days (``p90_days`` None when there were none)."""

    days: int
    chosen: bool
    p90_days: int | None
    gaps: int
    purchases: bool = True  # False: no purchase touchpoints were named, the gaps are between active days

    def sentence(self) -> str:
        if self.chosen:
            return f"Churned means no event for {self.days} days (chosen)."
        if self.p90_days is None:
            did = "bought" if self.purchases else "was active"
            return (f"Churned means no event for {self.days} days: the default floor, as no customer {did} on "
                    "two different days.")
        between = "purchase days" if self.purchases else "active days (no purchase touchpoint is set)"
        return (f"Churned means no event for {self.days} days: the larger of {INACTIVITY_FLOOR_DAYS} days and the "
                f"p90 of {self.gaps:,} gaps between {between} ({self.p90_days} days).")


def data_end(events: ir.Table) -> datetime:
    """The last event's timestamp: where the data, and every observation window, ends."""
    last = events.aggregate(last=events.ts.max()).to_pandas()["last"].iloc[0]
    if pd.isna(last):
        raise QueryError("The data has no events.")
    return pd.Timestamp(last).to_pydatetime()


def purchase_gaps(events: ir.Table, purchases: Sequence[str]) -> pd.DataFrame:
    """How many gaps of each length (``gap_days``, ``gaps``) lie between a customer's consecutive purchase days
    (UTC dates; with no purchases named, between their active days). Aggregated in the engine."""
    from journeys.analyses import summary  # the whole dataset's counts are kept in the store

    counted = summary.gaps_for(events, purchases)
    frame = (gap_counts(events, purchases) if counted is None else counted).to_pandas()
    return frame.astype("int64").sort_values("gap_days").reset_index(drop=True)


def gap_counts(events: ir.Table, purchases: Sequence[str]) -> ir.Table:
    """:func:`purchase_gaps` as an engine expression."""
    rows = events.filter(events.touchpoint.isin(list(purchases))) if purchases else events
    days = rows.select("customer_id", day=rows.ts.date()).distinct()
    w = ibis.window(group_by="customer_id", order_by="day")
    lagged = days.mutate(prev=days.day.lag().over(w))
    gaps = lagged.filter(lagged.prev.notnull())
    gaps = gaps.select(gap_days=gaps.day.delta(gaps.prev, unit="day"))
    return gaps.group_by("gap_days").aggregate(gaps=gaps.count())


def gap_quantile(gaps: pd.DataFrame, q: float = GAP_QUANTILE) -> int | None:
    """The smallest gap length that at least ``q`` of all gaps do not exceed (exact, from the counts)."""
    if gaps.empty or int(gaps["gaps"].sum()) == 0:
        return None
    share = gaps["gaps"].cumsum() / gaps["gaps"].sum()
    return int(gaps["gap_days"][share >= q - 1e-12].iloc[0])


def inactivity_threshold(events: ir.Table, outcomes: Outcomes, *, end: datetime | None = None) -> Inactivity:
    """The threshold churn by inactivity uses: the chosen one, or max(30 days, p90 of purchase-day gaps).
    A threshold longer than the data's span is refused with a sentence: nobody could ever be seen to churn."""
    start = events.aggregate(first=events.ts.min()).to_pandas()["first"].iloc[0]
    if pd.isna(start):
        raise QueryError("The data has no events.")
    end = end or data_end(events)
    span_days = (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds() / 86400
    if outcomes.inactivity_days is not None:
        found = Inactivity(outcomes.inactivity_days, chosen=True, p90_days=None, gaps=0)
    else:
        gaps = purchase_gaps(events, outcomes.purchases)
        p90 = gap_quantile(gaps)
        found = Inactivity(max(INACTIVITY_FLOOR_DAYS, p90 or 0), chosen=False, p90_days=p90,
                           gaps=int(gaps["gaps"].sum()) if not gaps.empty else 0, purchases=bool(outcomes.purchases))
    if found.days >= span_days:
        raise QueryError(f"The inactivity threshold ({found.days} days) is longer than the data spans "
                         f"({math.floor(span_days)} days): no customer could be seen to churn.",
                         hint="Choose a shorter threshold, or churn touchpoints.")
    return found


def churn_status(events: ir.Table, outcomes: Outcomes, *, end: datetime | None = None,
                 inactivity_days: int | None = None) -> ir.Table:
    """One row per customer (:data:`STATUS_COLUMNS`), as an engine expression:

    - explicit churn: ``churned`` at their first churn touchpoint (``churn_ts``); everyone else is
      ``active (not yet known)``;
    - inactivity: ``churned`` when their last event is at least N days before ``end`` (default: the last event
      in ``events``; pass the dataset's end when ``events`` is a segment), with ``churn_ts`` their last event
      (when they left); a customer seen within the last N days is ``active (not yet known)``, never churned.

    ``inactivity_days`` overrides the spec's threshold (pass :func:`inactivity_threshold`'s ``days`` to use the
    default without computing it twice).

    Examples:
        >>> churn_status(events, Outcomes(churn_touchpoints=("account_closed",)))  # doctest: +SKIP
    """
    from journeys.analyses import summary  # the stored journey summaries hold each customer's first and last

    stored = summary.summary_for(events, per_customer=True)
    per = stored.select("customer_id", "first_ts", "last_ts") if stored is not None else \
        events.group_by("customer_id").aggregate(first_ts=events.ts.min(), last_ts=events.ts.max())
    if outcomes.churn_mode == "explicit":
        hit = events.filter(events.touchpoint.isin(list(outcomes.churn_touchpoints)))
        first_hit = hit.group_by("customer_id").aggregate(churn_ts=hit.ts.min())
        joined = per.left_join(first_hit, "customer_id")
        churn_ts = joined.churn_ts
    else:
        end = end or data_end(events)
        days = inactivity_days or outcomes.inactivity_days or inactivity_threshold(events, outcomes, end=end).days
        joined = per
        cutoff = ibis.literal(pd.Timestamp(end - timedelta(days=days)).to_pydatetime(), type="timestamp")
        churn_ts = ibis.cases((per.last_ts <= cutoff, per.last_ts), else_=ibis.null("timestamp"))
    status = ibis.cases((churn_ts.notnull(), ibis.literal(CHURNED)), else_=ibis.literal(ACTIVE))
    return joined.select(customer_id=joined.customer_id, first_ts=joined.first_ts, last_ts=joined.last_ts,
                         status=status, churn_ts=churn_ts)
