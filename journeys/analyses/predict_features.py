"""Per-customer features and labels for prediction, computed in the engine (DuckDB or Spark alike).

A *snapshot* at a cutoff ``c`` describes each customer by their events strictly before ``c`` (nothing at or
after ``c`` can leak in) and, when asked, labels them by what happened in ``[c, c + H)``. Only the
one-row-per-customer result reaches Python.

Features (names are stable keys; :class:`Feature` holds how to say each in words):

- ``n7:<t>``, ``n30:<t>``: events of touchpoint ``t`` in the 7 and 30 days before ``c`` (the 24 most
  frequent touchpoints);
- ``recency``, ``tenure`` (days since the last and the first event), ``frequency`` (events in all);
- ``share:<ch>``: the share of the customer's events in channel ``ch`` (channel mix, the 8 largest);
- ``value``, ``value30``: summed value in all and in the last 30 days;
- ``score_min30``, ``score_mean``, ``scored30``: the lowest score (CSAT, NPS...) in 30 days, the mean score,
  and how many scored events in 30 days; ``sentiment`` (mean) when the data has sentiment;
- ``last:<t>``: the last touchpoint before ``c`` is ``t``; ``attr:<col>=<v>``: the customer's attribute value
  (string attributes with at most 30 values; the alphabetically largest when a customer has several).

The chain state (the last ``k`` touchpoints, oldest first) rides along for the Markov baseline and NBA.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from journeys.analyses.base import to_frame
from journeys.outcomes import ACTIVE, CHURNED, Outcomes, churn_status
from journeys.schema import RESERVED

Target = Literal["conversion", "churn"]
TOP_TOUCHPOINTS = 24
TOP_CHANNELS = 8
ATTRIBUTE_MAX_VALUES = 30
#: columns added at ingest or by shaping that are not customer attributes
NOT_ATTRIBUTES = frozenset({*RESERVED, "sentiment", "sentiment_band", "language", "journey_id", "raw_customer_id"})
STATE_SEP = " > "


@dataclass(frozen=True, slots=True)
class Feature:
    """One model input: its column ``key``, its ``kind`` and the touchpoint, channel or attribute it is about."""

    key: str
    kind: Literal["n7", "n30", "recency", "tenure", "frequency", "share", "value", "value30", "score_min30",
                  "score_mean", "scored30", "sentiment", "last", "attr"]
    about: str = ""
    value: str = ""

    def words(self, x: float) -> str:
        """The feature's value in words: ``3 × call_centre in 7 days``, ``no event for 41 days``."""
        n = round(x)
        return {
            "n7": f"{n} × {self.about} in 7 days", "n30": f"{n} × {self.about} in 30 days",
            "recency": f"no event for {n} days" if n >= 2 else "active in the last 2 days",
            "tenure": f"first seen {n} days ago", "frequency": f"{n} event{'s' if n != 1 else ''} in all",
            "share": f"{x:.0%} of events via {self.about}", "value": f"value {x:,.2f} in all",
            "value30": f"value {x:,.2f} in 30 days", "score_min30": f"lowest score {x:g} in 30 days",
            "score_mean": f"mean score {x:.1f}", "scored30": f"{n} scored contacts in 30 days",
            "sentiment": f"mean sentiment {x:+.2f}", "last": f"last touchpoint {self.about}",
            "attr": f"{self.about} = {self.value}",
        }[self.kind]

    @property
    def indicator(self) -> bool:
        """One-hot features speak only when present (``last touchpoint chat``, never ``not chat``)."""
        return self.kind in ("last", "attr")


@dataclass(frozen=True, slots=True)
class FeaturePlan:
    """Which features a dataset gets, fixed once so every snapshot has the same columns."""

    touchpoints: tuple[str, ...]
    channels: tuple[str, ...]
    attributes: tuple[tuple[str, tuple[str, ...]], ...]
    has_value: bool
    has_score: bool
    has_sentiment: bool
    order: int

    @property
    def features(self) -> list[Feature]:
        out = [Feature(f"n7:{t}", "n7", t) for t in self.touchpoints]
        out += [Feature(f"n30:{t}", "n30", t) for t in self.touchpoints]
        out += [Feature("recency", "recency"), Feature("tenure", "tenure"), Feature("frequency", "frequency")]
        out += [Feature(f"share:{c}", "share", c) for c in self.channels]
        if self.has_value:
            out += [Feature("value", "value"), Feature("value30", "value30")]
        if self.has_score:
            out += [Feature("score_min30", "score_min30"), Feature("score_mean", "score_mean"),
                    Feature("scored30", "scored30")]
        if self.has_sentiment:
            out.append(Feature("sentiment", "sentiment"))
        out += [Feature(f"last:{t}", "last", t) for t in self.touchpoints]
        out += [Feature(f"attr:{col}={v}", "attr", col, v) for col, values in self.attributes for v in values]
        return out


def plan_features(events: ir.Table, order: int) -> FeaturePlan:
    """Pick the touchpoints, channels and attribute values once, from the whole table (a few small aggregates)."""
    tps = to_frame(events.group_by("touchpoint").aggregate(n=events.count()))
    tps = tps.dropna().sort_values(["n", "touchpoint"], ascending=[False, True]).head(TOP_TOUCHPOINTS)
    chans: list[str] = []
    if "channel" in events.columns:
        ch = to_frame(events.group_by("channel").aggregate(n=events.count())).dropna()
        chans = list(ch.sort_values(["n", "channel"], ascending=[False, True]).head(TOP_CHANNELS)["channel"].astype(str))
    candidates = [c for c in events.columns if c not in NOT_ATTRIBUTES and events[c].type().is_string()]
    attributes: list[tuple[str, tuple[str, ...]]] = []
    if candidates:
        sizes = to_frame(events.aggregate(**{f"a{i}": events[c].nunique() for i, c in enumerate(candidates)})).iloc[0]
        for i, col in enumerate(candidates):
            if 1 < int(sizes[f"a{i}"]) <= ATTRIBUTE_MAX_VALUES:
                vals = to_frame(events.select(v=events[col]).distinct())["v"].dropna().astype(str)
                attributes.append((col, tuple(sorted(vals))))
    flags = to_frame(events.aggregate(
        v=events.value.notnull().any() if "value" in events.columns else ibis.literal(False),
        s=events.score.notnull().any() if "score" in events.columns else ibis.literal(False),
        m=events.sentiment.notnull().any() if "sentiment" in events.columns else ibis.literal(False),
    )).iloc[0]
    return FeaturePlan(touchpoints=tuple(tps["touchpoint"].astype(str)), channels=tuple(chans),
                       attributes=tuple(attributes), has_value=bool(flags["v"]), has_score=bool(flags["s"]),
                       has_sentiment=bool(flags["m"]), order=order)


def _ts(value: datetime) -> ir.Value:
    return ibis.literal(pd.Timestamp(value).to_pydatetime(), type="timestamp")


def ordered(events: ir.Table) -> ir.Table:
    """Events with ``rn``: 0 for the customer's last event by ``(ts, seq)``, 1 for the one before, ..."""
    desc = ibis.window(group_by=events.customer_id, order_by=[ibis.desc(events.ts), ibis.desc(events.seq)])
    return events.mutate(rn=ibis.row_number().over(desc))


def snapshot(events: ir.Table, plan: FeaturePlan, cutoff: datetime) -> ir.Table:
    """One row per customer seen before ``cutoff``: ``customer_id``, ``state`` and every feature column."""
    e = events.filter(events.ts < _ts(cutoff))
    e = ordered(e.select(*[c for c in e.columns if c in _NEEDED or c in {a for a, _ in plan.attributes}]))
    c7, c30 = _ts(cutoff - timedelta(days=7)), _ts(cutoff - timedelta(days=30))
    in7, in30 = e.ts >= c7, e.ts >= c30
    aggs: dict[str, ir.Value] = {}
    for t in plan.touchpoints:
        aggs[f"n7:{t}"] = e.count(where=in7 & (e.touchpoint == t))
        aggs[f"n30:{t}"] = e.count(where=in30 & (e.touchpoint == t))
    aggs["_last_ts"] = e.ts.max()
    aggs["_first_ts"] = e.ts.min()
    aggs["frequency"] = e.count()
    for ch in plan.channels:
        aggs[f"_ch:{ch}"] = e.count(where=e.channel == ch)
    if plan.has_value:
        aggs["value"] = e.value.sum().fill_null(0.0)
        aggs["value30"] = e.value.sum(where=in30).fill_null(0.0)
    if plan.has_score:
        aggs["score_min30"] = e.score.min(where=in30)
        aggs["score_mean"] = e.score.mean()
        aggs["scored30"] = e.count(where=in30 & e.score.notnull())
    if plan.has_sentiment:
        aggs["sentiment"] = e.sentiment.mean()
    for k in range(plan.order):
        aggs[f"_s{k}"] = e.touchpoint.max(where=e.rn == k)
    for col, _ in plan.attributes:
        aggs[f"_a:{col}"] = e[col].max()
    per = e.group_by("customer_id").aggregate(**aggs)
    cut = _ts(cutoff)
    day = ibis.literal(86400.0, type="float64")  # a double on every engine (Spark typed the division float32)
    return per.mutate(recency=(cut.epoch_seconds() - per._last_ts.epoch_seconds()).cast("float64") / day,
                      tenure=(cut.epoch_seconds() - per._first_ts.epoch_seconds()).cast("float64") / day)


_NEEDED = {"customer_id", "ts", "seq", "touchpoint", "channel", "value", "score", "sentiment"}


def labelled(events: ir.Table, plan: FeaturePlan, cutoff: datetime, horizon: timedelta, target: Target,
             outcomes: Outcomes, inactivity_days: int, *, with_label: bool) -> ir.Table:
    """The snapshot of the customers whose journey is open at ``cutoff`` (not churned by then, by the outcomes'
    churn rule, and seen in the last ``inactivity_days``), with ``label`` (1/0) when ``with_label``: for conversion a goal touchpoint in ``[c, c + H)``; for
    churn a churn touchpoint in that window, or (inactivity) churned by ``c + H`` with no event in the last N days."""
    before = events.filter(events.ts < _ts(cutoff))
    status = churn_status(before, outcomes, end=cutoff, inactivity_days=inactivity_days)
    # open: not churned by the outcomes' rule, and seen within the inactivity threshold (a customer silent for
    # longer is gone in all but name, even where churn is an explicit touchpoint)
    recent = status.last_ts > _ts(cutoff - timedelta(days=inactivity_days))
    open_ = status.filter((status.status == ACTIVE) & recent).select("customer_id")
    snap = snapshot(events.semi_join(open_, "customer_id"), plan, cutoff)  # only open customers' events
    if not with_label:
        return snap
    window = events.filter((events.ts >= _ts(cutoff)) & (events.ts < _ts(cutoff + horizon)))
    if target == "conversion" or outcomes.churn_mode == "explicit":
        wanted = outcomes.goals if target == "conversion" else outcomes.churn_touchpoints
        hits = window.filter(window.touchpoint.isin(list(wanted))).select("customer_id").distinct()
    else:
        upto = events.filter(events.ts < _ts(cutoff + horizon))
        later = churn_status(upto, outcomes, end=cutoff + horizon, inactivity_days=inactivity_days)
        hits = later.filter(later.status == CHURNED).select("customer_id")
    hits = hits.mutate(label=ibis.literal(1))
    joined = snap.left_join(hits, "customer_id")
    return joined.mutate(label=joined.label.fill_null(0)).drop("customer_id_right")


def to_matrix(frame: pd.DataFrame, plan: FeaturePlan) -> tuple[np.ndarray, list[Feature]]:
    """The feature matrix (float64, NaN where a customer has no score or sentiment) in ``plan.features`` order."""
    features = plan.features
    n = len(frame)
    cols: list[np.ndarray] = []
    total = frame["frequency"].to_numpy("float64") if n else np.zeros(0)
    last = frame["_s0"].astype("object").to_numpy() if n else np.zeros(0, dtype=object)
    for f in features:
        if f.kind == "share":
            cols.append(frame[f"_ch:{f.about}"].to_numpy("float64") / np.maximum(total, 1))
        elif f.kind == "last":
            cols.append((last == f.about).astype("float64"))
        elif f.kind == "attr":
            cols.append((frame[f"_a:{f.about}"].astype("object").to_numpy() == f.value).astype("float64"))
        else:
            cols.append(pd.to_numeric(frame[f.key], errors="coerce").to_numpy("float64"))
    return (np.column_stack(cols) if cols else np.zeros((n, 0))), features


def states(frame: pd.DataFrame, order: int) -> list[tuple[str, ...]]:
    """Each row's chain state: its last ``order`` touchpoints, oldest first (fewer for short histories)."""
    parts = [frame[f"_s{k}"].astype("object").to_numpy() for k in reversed(range(order))]
    out = []
    for row in zip(*parts, strict=True):
        out.append(tuple(str(x) for x in row if x is not None and not (isinstance(x, float) and np.isnan(x))))
    return out


def fetch(expr: ir.Table) -> pd.DataFrame:
    """Run a snapshot and sort it by customer, so every engine returns the same rows in the same order."""
    return to_frame(expr).sort_values("customer_id", kind="stable").reset_index(drop=True)


def definition_events(store: Any, dataset: str, definition: dict[str, Any]) -> ir.Table:
    """The events an audience definition covers: its segment's customers (``seg``), all without one."""
    from journeys.segments import Segment

    seg = Segment.from_param(definition["seg"]) if definition.get("seg") else None
    return segment_events(store.table(dataset), seg, definition.get("goal"))


def segment_events(events: ir.Table, segment: Any, goal: str | None = None) -> ir.Table:
    """The events of the segment's customers (all of them for an empty segment): what predict and NBA read."""
    from journeys.segments import matching_customers

    if segment is None or segment.is_empty:
        return events
    return events.semi_join(matching_customers(events, segment, goal=goal), "customer_id")


def midnight(d: date) -> datetime:
    return datetime.combine(d, time())


def last_day_of(cutoff: datetime) -> date:
    """The last day a cutoff's data covers (a midnight cutoff ends the day before it)."""
    return (cutoff - timedelta(microseconds=1)).date()


def scoring_cutoff(as_of: date | None, last: Any) -> datetime:
    """Where scoring stands: just after the data's ``last`` event, so that "open" means what Retention and churn
    mean by it (seen within the inactivity threshold before the last event), or the midnight that ends ``as_of``."""
    if as_of is None:
        return pd.Timestamp(last).to_pydatetime() + timedelta(microseconds=1)
    return midnight(as_of + timedelta(days=1))
