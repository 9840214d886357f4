"""Drivers ("what drives it"): which yes/no facts about a customer go with conversion or churn, with honest statistics.

Candidates, each a yes/no per customer over the observation window of :mod:`drivers_candidates` (no leakage):
did touchpoint X; did X at least k times (k = 2, 3); the transition X -> Y; an attribute value (device = mobile);
the first touchpoint or channel; the last touchpoint before the outcome. The outcome's own touchpoints are never
candidates. Per candidate: reach, the outcome rate with and without it, lift, the odds ratio with its Wald 95%
interval, a p-value (Fisher or chi-square, :mod:`journeys.stats`) and Benjamini-Hochberg q-values over the
candidates tested. A candidate below the floors (30 exposed, 5 in every cell) is held back: shown with a badge,
never ranked or counted in the q-values.

Also here: key touchpoints just before the outcome (the last K observed events) and graph drivers (P(goal) from
the absorbing chain of :func:`journeys.analyses.transitions.goal_probability`, from the start against from X).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeys import stats
from journeys.analyses.base import START
from journeys.analyses.drivers_candidates import (
    ATTRIBUTE_VALUES_MAX,
    attribute_cardinality,
    attribute_columns,
    count_candidates,
    population,
)
from journeys.analyses.transitions import compute_transitions, goal_probability
from journeys.errors import QueryError, unknown
from journeys.outcomes import Outcomes
from journeys.segments import Filter, Segment

Outcome = Literal["conversion", "churn"]
KINDS: tuple[str, ...] = ("touchpoint", "count", "transition", "attribute", "first", "last")
WINDOW_DAYS_DEFAULT = 30
WINDOW_DAYS_MAX = 3660
COUNTS = (2, 3)
MIN_EXPOSED, MIN_CELL = 30, 5
TOP = 10
SKEW_MAX = 10.0
#: a driver in the top lists has a q-value below this (5% false discovery rate)
Q_MAX = 0.05
LAST_K = 3
COLUMNS = ["kind", "item", "exposed_converted", "exposed_not", "unexposed_converted", "unexposed_not", "rate_with",
           "rate_without", "lift", "odds_ratio", "ci_low", "ci_high", "p_value", "q_value", "ranked"]
#: URL keys of the drivers settings (the outcome spec itself rides in the Outcomes keys)
URL_KEYS = ("dout", "dwin", "dk")


@dataclass(frozen=True, slots=True)
class DriversQuery:
    """What to explain (``outcome``: conversion to ``outcomes.goals`` or churn as ``outcomes`` says), over which
    window from entry (days; None = whole journeys), with which candidate ``kinds``."""

    outcome: Outcome = "conversion"
    outcomes: Outcomes = field(default_factory=Outcomes)
    window_days: int | None = WINDOW_DAYS_DEFAULT
    kinds: tuple[str, ...] = KINDS
    attributes: tuple[str, ...] | None = None  # None: every attribute with at most 50 values

    @property
    def outcome_touchpoints(self) -> tuple[str, ...]:
        return self.outcomes.churn_touchpoints if self.outcome == "churn" else self.outcomes.goals

    def validate(self, known: Sequence[str] | None = None) -> None:
        if self.outcome not in ("conversion", "churn"):
            raise unknown("outcome", self.outcome, ("conversion", "churn"))
        if self.outcome == "conversion" and not self.outcomes.goals:
            raise QueryError("Drivers of conversion need a goal touchpoint.", hint="Pick the goal (e.g. purchase).")
        for kind in self.kinds:
            if kind not in (*KINDS, "lastk"):
                raise unknown("candidate kind", kind, KINDS)
        if not self.kinds:
            raise QueryError("Pick at least one kind of candidate.", hint=f"Kinds: {', '.join(KINDS)}.")
        if self.window_days is not None and not 1 <= self.window_days <= WINDOW_DAYS_MAX:
            raise QueryError(f"The observation window must be 1 to {WINDOW_DAYS_MAX} days, not {self.window_days}.")
        self.outcomes.validate(known)

    # ---- URL codec (only non-default values) ------------------------------------------------------
    def to_params(self) -> dict[str, str]:
        out = {"dout": self.outcome if self.outcome != "conversion" else "",
               "dwin": "" if self.window_days == WINDOW_DAYS_DEFAULT else (
                   "all" if self.window_days is None else f"{self.window_days}d"),
               "dk": "" if self.kinds == KINDS else ",".join(self.kinds)}
        return {k: v for k, v in out.items() if v}

    @classmethod
    def from_params(cls, params: Mapping[str, Sequence[str]], outcomes: Outcomes) -> tuple[DriversQuery, list[str]]:
        def one(key: str) -> str:
            vals = params.get(key) or []
            return vals[-1].strip() if vals else ""

        q, problems = cls(outcomes=outcomes), []
        if one("dout"):
            if one("dout") in ("conversion", "churn"):
                q = replace(q, outcome=one("dout"))  # type: ignore[arg-type]
            else:
                problems.append(f"The link's drivers outcome '{one('dout')[:40]}' is not conversion or churn; "
                                "conversion is used.")
        if one("dwin"):
            try:
                q = replace(q, window_days=parse_window(one("dwin")))
            except QueryError as err:
                problems.append(f"The link's drivers window could not be used ({err.message}); 30 days are used.")
        if one("dk"):
            kinds = tuple(k for k in KINDS if k in one("dk").split(","))
            bad = [k for k in one("dk").split(",") if k and k not in KINDS]
            if bad:
                problems.append(f"The link's candidate kind '{bad[0][:40]}' is not known and was ignored.")
            q = replace(q, kinds=kinds or KINDS)
        return q, problems


def parse_window(text: str) -> int | None:
    """``30d`` / ``30`` -> 30 days, ``all`` -> None (whole journeys)."""
    raw = text.strip().lower()
    if raw == "all":
        return None
    digits = raw[:-1] if raw.endswith("d") else raw
    if not digits.isdigit() or not 1 <= int(digits) <= WINDOW_DAYS_MAX:
        raise QueryError(f"'{text}' is not an observation window.", hint="Use a number of days such as 30d, or all.")
    return int(digits)


@dataclass(frozen=True, slots=True)
class DriversResult:
    """``table``: one row per candidate (:data:`COLUMNS` plus ``x``, ``y``, ``times``, ``reach``, ``label``, ``badge``),
    ranked rows first by q-value. ``customers`` observed, ``with_outcome`` of them had it."""

    query: DriversQuery
    table: pd.DataFrame
    customers: int
    with_outcome: int
    skipped_attributes: tuple[tuple[str, int], ...] = ()
    outcome_sentence: str = ""

    def describe_outcome(self) -> str:
        """``reached purchase`` or the churn rule (with the inactivity threshold that was used)."""
        q = self.query
        if q.outcome == "conversion":
            return f"reached {' or '.join(q.outcomes.goals)}"
        return self.outcome_sentence or q.outcomes.describe()

    @property
    def tested(self) -> int:
        return int(self.table.ranked.sum()) if len(self.table) else 0

    @property
    def held_back(self) -> int:
        return len(self.table) - self.tested

    @property
    def skew(self) -> float:
        """Larger outcome group / smaller one (inf when one group is empty)."""
        small = min(self.with_outcome, self.customers - self.with_outcome)
        return math.inf if small == 0 else max(self.with_outcome, self.customers - self.with_outcome) / small

    def skew_warning(self) -> str | None:
        if self.customers == 0 or self.skew <= SKEW_MAX:
            return None
        few_had = self.with_outcome <= self.customers - self.with_outcome
        verbs = {"conversion": ("converted", "did not convert"), "churn": ("churned", "did not churn")}
        what = verbs[self.query.outcome][0 if few_had else 1]
        minority = min(self.with_outcome, self.customers - self.with_outcome)
        return (f"Only {minority:,} of {self.customers:,} customers {what}: the split is more skewed than "
                f"{SKEW_MAX:.0f}:1, so the odds ratios rest on few customers on one side.")

    def top(self, sign: Literal["positive", "negative"], n: int = TOP) -> pd.DataFrame:
        """The ``n`` ranked candidates with the lowest q-values (below :data:`Q_MAX`) whose odds ratio is above
        (below) 1."""
        t = self.table[self.table.ranked & (self.table.q_value < Q_MAX)]
        t = t[t.odds_ratio > 1] if sign == "positive" else t[t.odds_ratio < 1]
        return t.head(n).reset_index(drop=True)


def _label(kind: str, x: str, y: str | None, times: int) -> str:
    if kind == "touchpoint":
        return f"did {x}"
    if kind == "count":
        return f"did {x} at least {times} times"
    if kind == "transition":
        return f"went {x} -> {y}"
    if kind == "attribute":
        return f"{x} = {y}"
    if kind == "first":
        return f"first channel {y}" if x == "channel" and y is not None else f"started at {x}"
    if kind == "last":
        return f"last did {x}"
    return f"did {x} in the last {times}"


def score(counts: pd.DataFrame, customers: int, with_outcome: int) -> pd.DataFrame:
    """Every statistic per candidate from its exposure counts, then floors, q-values and the order."""
    rows = []
    for r in counts.itertuples(index=False):
        a, exposed = int(r.exposed_converted), int(r.exposed)
        b, c = exposed - a, with_outcome - a
        d = customers - with_outcome - b
        t = stats.two_by_two(a, b, c, d)
        y = None if r.y is None or (isinstance(r.y, float) and math.isnan(r.y)) else str(r.y)
        ranked = exposed >= MIN_EXPOSED and min(a, b, c, d) >= MIN_CELL
        rows.append({"kind": r.kind, "item": r.item, "exposed_converted": a, "exposed_not": b, "unexposed_converted": c,
                     "unexposed_not": d, "rate_with": t.rate_with, "rate_without": t.rate_without, "lift": t.lift,
                     "odds_ratio": t.odds_ratio, "ci_low": t.ci_low, "ci_high": t.ci_high, "p_value": t.p_value,
                     "q_value": math.nan, "ranked": ranked, "x": str(r.x), "y": y, "times": int(r.times),
                     "reach": exposed / customers if customers else math.nan,
                     "label": _label(r.kind, str(r.x), y, int(r.times)),
                     "badge": "" if ranked else "too few customers"})
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "x", "y", "times", "reach", "label", "badge"])
    if frame.empty:
        return frame
    tested = frame.index[frame.ranked & frame.odds_ratio.notna()]
    frame.loc[tested, "q_value"] = stats.bh_qvalues(list(frame.loc[tested, "p_value"]))
    frame.loc[frame.odds_ratio.isna(), "ranked"] = False
    frame["_effect"] = -frame.odds_ratio.map(lambda v: abs(math.log(v)) if v and v > 0 and math.isfinite(v) else 0.0)
    frame = frame.sort_values(["ranked", "q_value", "p_value", "_effect", "kind", "item"],
                              ascending=[False, True, True, True, True, True], na_position="last")
    return frame.drop(columns="_effect").reset_index(drop=True)


def _excluded(counts: pd.DataFrame, outcome_tps: Sequence[str]) -> pd.DataFrame:
    """The outcome's own touchpoints are never candidates (nor transitions touching them)."""
    if not outcome_tps or counts.empty:
        return counts
    touch = counts.kind != "attribute"
    bad = touch & (counts.x.isin(outcome_tps) | ((counts.kind == "transition") & counts.y.isin(outcome_tps)))
    return counts[~bad].reset_index(drop=True)


def _check_split(customers: int, with_outcome: int, query: DriversQuery) -> None:
    """A goal nobody reached (or everybody) leaves nothing to compare: one sentence."""
    what = (f"reached {' or '.join(query.outcomes.goals)}" if query.outcome == "conversion"
            else f"churned ({query.outcomes.describe()})")
    if customers == 0:
        raise QueryError("There are no customers to compare in these journeys.")
    if with_outcome == 0:
        raise QueryError(f"No customer {what}, so there is nothing to explain.",
                         hint="Pick another goal or a wider date range.")
    if with_outcome == customers:
        raise QueryError(f"Every customer {what}, so there is no one to compare them with.")


def compute_drivers(journeys: ir.Table, query: DriversQuery, *, end: datetime | None = None,
                    inactivity_days: int | None = None, reuse: Hashable | None = None,
                    whole: ir.Table | None = None) -> DriversResult:
    """Drivers of the query's outcome among the (person-scope, segmented) journeys' customers.

    ``end`` is the data's end for churn by inactivity (default: the last event in ``journeys``), and
    ``inactivity_days`` overrides the spec's threshold. ``reuse`` keys the per-customer touchpoint occurrences
    kept between queries (see :func:`drivers_candidates.occurrences`); it must change whenever the journeys do.
    ``whole``: the dataset's events when ``journeys`` are a segment's, so churn keeps everyone's default threshold.
    """
    query.validate()
    pop = population(journeys, query.outcome, query.outcomes, query.window_days, end=end,
                     inactivity_days=inactivity_days, whole=whole)
    _check_split(pop.customers, pop.with_outcome, query)
    skipped: list[tuple[str, int]] = []
    attrs: list[str] = []
    if "attribute" in query.kinds:
        wanted = list(query.attributes) if query.attributes is not None else attribute_columns(journeys)
        for col in wanted:
            if col not in journeys.columns:
                raise unknown("attribute", col, attribute_columns(journeys))
        for col, n in attribute_cardinality(journeys, wanted).items():
            if n <= ATTRIBUTE_VALUES_MAX:
                attrs.append(col)
            else:
                skipped.append((col, n))
    counts = count_candidates(journeys, pop, query.kinds, counts=COUNTS, attributes=attrs, last_k=LAST_K,
                              reuse=reuse)
    counts = _excluded(counts, query.outcome_touchpoints)
    table = score(counts, pop.customers, pop.with_outcome)
    return DriversResult(query, table, pop.customers, pop.with_outcome, tuple(skipped), pop.outcome_sentence)


def key_touchpoints(journeys: ir.Table, query: DriversQuery, *, k: int = LAST_K) -> DriversResult:
    """Touchpoints among the last ``k`` before the outcome (customers with it) or before the journey's end (the
    others), whole journeys, with the same statistics. ``rate_with`` etc. as in drivers; the shares of each group
    whose last k include X are ``exposed_converted / with_outcome`` and ``exposed_not / without``."""
    q = replace(query, window_days=None, kinds=("lastk",))
    q.validate()
    pop = population(journeys, q.outcome, q.outcomes, None)
    _check_split(pop.customers, pop.with_outcome, q)
    counts = _excluded(count_candidates(journeys, pop, ("lastk",), last_k=k), q.outcome_touchpoints)
    table = score(counts, pop.customers, pop.with_outcome)
    if len(table):
        table["share_with"] = table.exposed_converted / max(pop.with_outcome, 1)
        table["share_without"] = table.exposed_not / max(pop.customers - pop.with_outcome, 1)
    return DriversResult(q, table, pop.customers, pop.with_outcome)


GRAPH_COLUMNS = ["touchpoint", "p_goal_start", "p_goal_from", "change", "volume"]


def graph_drivers(journeys: ir.Table, goals: Sequence[str]) -> pd.DataFrame:
    """Per touchpoint: P(goal) from the journey's start against P(goal) once a customer reaches it, from the
    absorbing chain of the transition graph (several goal touchpoints count as one goal)."""
    if not goals:
        raise QueryError("Graph drivers need a goal touchpoint.")
    name = " or ".join(goals)
    j = journeys
    if len(goals) > 1:
        j = j.mutate(touchpoint=ibis.ifelse(j.touchpoint.isin(list(goals)), ibis.literal(name), j.touchpoint),
                     next_touchpoint=ibis.ifelse(j.next_touchpoint.isin(list(goals)), ibis.literal(name),
                                                 j.next_touchpoint))
    result = compute_transitions(j, goal=name)
    if result.is_empty:
        return pd.DataFrame(columns=GRAPH_COLUMNS)
    p = goal_probability(result.edges, name)
    base = p.get(START, math.nan)
    nodes = result.nodes[result.nodes.touchpoint != name]
    frame = pd.DataFrame({"touchpoint": nodes.touchpoint, "p_goal_start": base,
                          "p_goal_from": nodes.touchpoint.map(p), "volume": nodes.volume})
    frame["change"] = frame.p_goal_from - frame.p_goal_start
    return frame[GRAPH_COLUMNS].sort_values(["change", "touchpoint"], ascending=[False, True]).reset_index(drop=True)


def segment_for(row: Mapping[str, object]) -> Segment:
    """The customers a driver row describes, as a segment ("customers who did X"), for one-click segments.

    Segments look at whole journeys, not the observation window: "did X" is "did X at some time"; a transition
    becomes "did X then Y", a last touchpoint "did X"."""
    kind, x, y, times = str(row["kind"]), str(row["x"]), row.get("y"), int(str(row.get("times") or 1))
    if kind == "attribute" or (kind == "first" and x == "channel"):
        return Segment((Filter("attribute", (str(y),), column=x),))
    if kind == "count":
        return Segment((Filter("at_least", (x,), times=times),))
    if kind == "transition":
        return Segment((Filter("then", (x, str(y))),))
    if kind == "first":
        return Segment((Filter("at_step", (x,), times=1),))
    return Segment((Filter("did", (x,)),))
