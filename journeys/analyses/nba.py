"""Next best action: for each open journey, the actions the company can trigger ranked by the change they bring
to P(goal) (or to P(not churning)), with their support, a 95% interval and a seeded control group.

For a customer in chain state ``s`` (their last ``k`` touchpoints) and an action ``a``:
``p_now`` = P(goal | s) and ``p_after`` = P(goal | next = a, s) = P(goal | the state after ``s`` and ``a``), both
from the order-k chain with back-off (:mod:`journeys.analyses.state_chain`); ``uplift = p_after - p_now``. The
interval is the 2.5-97.5 percentile of the uplift over 200 chains whose rows are redrawn from their Dirichlet
posteriors. ``support`` counts the customers who took ``a`` right after the longest suffix of ``s`` that has at
least 30 of them; under 30 at every length, or when no supported action raises the chance, there is no
recommendation.

This is observational evidence, not proof of cause: every action list carries a control group (10% by
default, seeded per customer, see :func:`journeys.audiences.control_flags`) so that later data measures the
real uplift (:func:`measure`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from journeys.analyses.base import check_touchpoints, known_touchpoints, to_frame
from journeys.analyses.predict_features import STATE_SEP, Target, fetch, labelled, plan_features, states
from journeys.analyses.state_chain import MIN_ROW, StateChain
from journeys.audiences import CONTROL_SEED, CONTROL_SHARE, control_flags
from journeys.errors import QueryError
from journeys.outcomes import Outcomes, inactivity_threshold
from journeys.stats import newcombe_diff

DRAWS = 200
NBA_COLUMNS = ["customer_id", "state", "action", "p_now", "p_after", "uplift", "ci_low", "ci_high", "support", "control"]
NO_RECOMMENDATION = ""


@dataclass(frozen=True, slots=True)
class NBAQuery:
    """Rank ``actions`` for every open journey by the change in P(goal) (``target`` conversion) or in
    P(not churning) (``target`` churn)."""

    actions: tuple[str, ...]
    target: Target = "conversion"
    outcomes: Outcomes = field(default_factory=Outcomes)
    order: int = 2
    horizon: timedelta = timedelta(days=28)
    control_share: float = CONTROL_SHARE
    seed: int = CONTROL_SEED

    def validate(self, known: list[str]) -> None:
        if not self.actions:
            raise QueryError("Name at least one action touchpoint the company can trigger.",
                             hint="E.g. --actions email_open,call_centre.")
        check_touchpoints(self.actions, known)
        if self.target == "conversion" and not self.outcomes.goals:
            raise QueryError("Next best action for conversion needs a goal touchpoint.", hint="Name one with --goal.")
        if not 1 <= self.order <= 4:
            raise QueryError(f"The chain order must be 1 to 4, not {self.order}.")
        if not 0 <= self.control_share < 1:
            raise QueryError(f"The control group share must be at least 0 and below 1, not {self.control_share}.")
        self.outcomes.validate(known)

    def to_dict(self) -> dict[str, Any]:
        return {"actions": list(self.actions), "target": self.target, "outcomes": self.outcomes.to_params(),
                "order": self.order, "horizon_days": self.horizon.days, "control_share": self.control_share,
                "seed": self.seed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NBAQuery:
        outcomes, _ = Outcomes.from_params({k: [v] for k, v in (d.get("outcomes") or {}).items()})
        return cls(actions=tuple(d["actions"]), target=d.get("target", "conversion"), outcomes=outcomes,
                   order=int(d.get("order", 2)), horizon=timedelta(days=int(d.get("horizon_days", 28))),
                   control_share=float(d.get("control_share", CONTROL_SHARE)), seed=int(d.get("seed", CONTROL_SEED)))


@dataclass(frozen=True, slots=True)
class NBAResult:
    """``options``: every (state, action) with p_now, p_after, uplift, ci_low, ci_high, support, support_state,
    recommendable. ``customers``: one row per open journey (``NBA_COLUMNS``), best action first by uplift;
    ``action`` is empty where no action has the support."""

    query: NBAQuery
    options: pd.DataFrame
    customers: pd.DataFrame
    scoring_cutoff: datetime

    @property
    def recommended(self) -> int:
        return int((self.customers["action"] != NO_RECOMMENDATION).sum())


def compute_nba(events: ir.Table, query: NBAQuery, *, as_of: date | None = None, end: Any = None) -> NBAResult:
    """Recommendations for every journey open just after the data's last event (``end``: the dataset's, when
    ``events`` are a segment's), or at the midnight that ends ``as_of``."""
    from journeys.analyses.predict import PredictQuery, outcome_chain
    from journeys.analyses.predict_features import scoring_cutoff

    known = known_touchpoints(events)
    query.validate(known)
    last = to_frame(events.aggregate(last=events.ts.max()))["last"].iloc[0] if end is None else end
    if pd.isna(last):
        raise QueryError("The data has no events.")
    scoring = scoring_cutoff(as_of, last)
    seen = events.filter(events.ts < pd.Timestamp(scoring).to_pydatetime())
    pq = PredictQuery(target=query.target, outcomes=query.outcomes, horizon=query.horizon, order=query.order)
    chain = outcome_chain(seen, scoring, pq, actions=query.actions)
    options = rank_options(chain, query)
    inactivity = inactivity_threshold(seen, Outcomes(goals=query.outcomes.goals), end=scoring).days
    plan = plan_features(seen.select("customer_id", "ts", "seq", "touchpoint"), query.order)
    now = fetch(labelled(seen, plan, scoring, query.horizon, query.target, query.outcomes, inactivity,
                         with_label=False).select("customer_id", *[f"_s{k}" for k in range(query.order)]))
    return NBAResult(query, options, recommend(chain, options, now, query), scoring)


def rank_options(chain: StateChain, q: NBAQuery) -> pd.DataFrame:
    """Every known state x action with its estimate, interval and support."""
    sign = 1.0 if q.target == "conversion" else -1.0  # churn: the chain gives P(churn); report P(not churn)
    draws = chain.sample_probabilities(DRAWS, seed=q.seed) if chain.states else np.zeros((DRAWS, 0))
    success = set(q.outcomes.goals if q.target == "conversion" else q.outcomes.churn_touchpoints)
    failure = set(q.outcomes.churn_touchpoints if q.target == "conversion" else ())
    rows = []
    for i, s in enumerate(chain.states):
        for a in q.actions:
            if a in success or a in failure:
                after_p, after_d = (1.0, np.ones(DRAWS)) if a in success else (0.0, np.zeros(DRAWS))
            else:
                nxt = chain.state_of((*s, a))
                if nxt is None:
                    continue
                j = chain.index[nxt]
                after_p, after_d = float(chain.p[j]), draws[:, j]
            now_p, now_d = float(chain.p[i]), draws[:, i]
            diff = sign * (after_d - now_d)
            support, at = chain.support(s, a)
            p_now = now_p if sign > 0 else 1 - now_p
            p_after = after_p if sign > 0 else 1 - after_p
            rows.append({"state": STATE_SEP.join(s), "action": a, "p_now": p_now, "p_after": p_after,
                         "uplift": p_after - p_now, "ci_low": float(np.percentile(diff, 2.5)),
                         "ci_high": float(np.percentile(diff, 97.5)), "support": support,
                         "support_state": STATE_SEP.join(at), "recommendable": support >= MIN_ROW})
    cols = ["state", "action", "p_now", "p_after", "uplift", "ci_low", "ci_high", "support", "support_state",
            "recommendable"]
    return pd.DataFrame(rows, columns=cols)


def recommend(chain: StateChain, options: pd.DataFrame, now: pd.DataFrame, q: NBAQuery) -> pd.DataFrame:
    """One row per open customer: the supported action with the largest positive uplift (ties: larger support,
    then name); none where no supported action raises the chance."""
    good = options[options["recommendable"] & (options["uplift"] > 0)].sort_values(["state", "uplift", "support", "action"],
                                                         ascending=[True, False, False, True], kind="stable")
    best = good.drop_duplicates("state").set_index("state")
    cust_states = [chain.state_of(s) for s in states(now, q.order)]
    keys = [STATE_SEP.join(s) if s else "" for s in cust_states]
    own = [STATE_SEP.join(s) for s in states(now, q.order)]
    frame = pd.DataFrame({"customer_id": now["customer_id"].astype(str), "state": own, "_key": keys})
    picked = best.reindex(frame["_key"])
    frame["action"] = picked["action"].fillna(NO_RECOMMENDATION).astype(str).to_numpy()
    for col in ("p_now", "p_after", "uplift", "ci_low", "ci_high"):
        frame[col] = picked[col].to_numpy("float64")
    support = options.groupby("state")["support"].max() if len(options) else pd.Series(dtype="int64")
    frame["support"] = np.where(frame["action"] != NO_RECOMMENDATION, picked["support"].fillna(0).to_numpy(),
                                support.reindex(frame["_key"]).fillna(0).to_numpy()).astype("int64")
    frame["control"] = control_flags(frame["customer_id"], share=q.control_share, seed=q.seed)
    return frame[NBA_COLUMNS].sort_values(["uplift", "customer_id"], ascending=[False, True],
                                          na_position="last", kind="stable").reset_index(drop=True)


def nba_members(store: Any, dataset: str, definition: dict[str, Any], share: float, seed: int) -> pd.DataFrame:
    """Audience members of an action list: ``definition`` = {"nba": NBAQuery.to_dict()}; customers without a
    supported action are left out."""
    from journeys.analyses.predict_features import definition_events
    from journeys.audiences import members_frame
    from journeys.outcomes import data_end

    q = NBAQuery.from_dict(definition["nba"])
    r = compute_nba(definition_events(store, dataset, definition), q, end=data_end(store.table(dataset)))
    rows = r.customers[r.customers["action"] != NO_RECOMMENDATION]
    reason = [f"after {s}: {a} {u * 100:+.1f} pp (95% {lo * 100:+.1f} to {hi * 100:+.1f} pp; {n:,} customers)"
              for s, a, u, lo, hi, n in rows[["state", "action", "uplift", "ci_low", "ci_high", "support"]]
              .itertuples(index=False)]
    return members_frame(rows["customer_id"], score=rows["uplift"], reason=reason, action=rows["action"],
                         share=share, seed=seed)


@dataclass(frozen=True, slots=True)
class Measurement:
    """Actioned vs control conversion since ``since``: rates, their difference and its 95% Newcombe interval."""

    since: datetime
    goals: tuple[str, ...]
    actioned: int
    actioned_converted: int
    control: int
    control_converted: int
    difference: float
    low: float
    high: float
    data_end: datetime | None = None  # the dataset's last event, to say when ``since`` is after it
    handed_over: datetime | None = None  # when the list left for the tools that act (its last push or refresh)

    def early(self) -> str:
        """A sentence when the measurement starts before the list was handed over, else ''."""
        if self.handed_over is None or self.since.replace(tzinfo=None) >= _day(self.handed_over):
            return ""
        return (f"The list was handed over on {self.handed_over.date()}; before that nobody had acted on it, so a "
                f"difference since {self.since.date()} is how the two groups differed anyway, not the action's effect.")

    def stale(self) -> str:
        """A sentence when the measurement starts after the data ends (nothing can have happened yet), else ''."""
        if self.data_end is None or self.since.replace(tzinfo=None) <= self.data_end:
            return ""
        return (f"The data ends on {self.data_end.date()}, before {self.since.date()}, so nobody can have converted "
                "since then yet: load newer events or measure from an earlier date.")

    def sentence(self) -> str:
        if not self.control or not self.actioned:
            return "There is no control group (or no actioned member) to compare with."
        a = self.actioned_converted / self.actioned
        c = self.control_converted / self.control
        return (f"Since {self.since.date()}, {a:.1%} of {self.actioned:,} actioned customers did "
                f"{' or '.join(self.goals)} against {c:.1%} of {self.control:,} in the control group: "
                f"{self.difference * 100:+.1f} pp (95% interval {self.low * 100:+.1f} to {self.high * 100:+.1f} pp).")


def _day(t: datetime) -> datetime:
    return datetime.combine(t.date(), datetime.min.time())


def measure(events: ir.Table, members: pd.DataFrame, goals: tuple[str, ...], since: datetime, *,
            handed_over: datetime | None = None) -> Measurement:
    """Who of the list did a goal touchpoint after ``since`` (the export), actioned against control; ``handed_over``
    (naive UTC) says when acting could start."""
    check_touchpoints(goals, known_touchpoints(events))
    if not goals:
        raise QueryError("Measuring an action needs a goal touchpoint.")
    after = events.filter((events.ts >= ibis.literal(pd.Timestamp(since).to_pydatetime(), type="timestamp"))
                          & events.touchpoint.isin(list(goals)))
    did = set(to_frame(after.select("customer_id").distinct())["customer_id"].astype(str))
    flags = members["control"].astype(bool).to_numpy()
    hit = members["customer_id"].astype(str).isin(did).to_numpy()
    n_a, k_a = int((~flags).sum()), int((hit & ~flags).sum())
    n_c, k_c = int(flags.sum()), int((hit & flags).sum())
    diff, low, high = newcombe_diff(k_a, n_a, k_c, n_c)
    end = to_frame(events.aggregate(end=events.ts.max()))["end"].iloc[0]
    data_end = None if pd.isna(end) else pd.Timestamp(end).tz_localize(None).to_pydatetime()
    return Measurement(since, goals, n_a, k_a, n_c, k_c, diff, low, high, data_end,
                       None if handed_over is None else handed_over.replace(tzinfo=None))
