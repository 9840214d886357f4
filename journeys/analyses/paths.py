"""Sankey path maps and top path variants.

Nodes are keyed by step and touchpoint (``3:cart``), so loops never break the chart. Each step shows
its top N touchpoints plus an ``Other`` node, and a ``(journey ends)`` node collects journeys that stop.
Every link carries journeys, % of the start and % of the previous step; the result says what share of
journeys and of transitions the picture covers. Counting happens in the engine; Python only relabels
the small per-step aggregates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeys.analyses import summary
from journeys.analyses.base import ENDS_LABEL, OTHER, to_frame
from journeys.errors import QueryError

Anchor = Literal["start", "from", "to", "between"]
DEPTH_DEFAULT, DEPTH_MAX = 5, 20
TOP_DEFAULT, TOP_MAX = 5, 20
NODE_CUSTOMERS_MAX = 50_000  # a node's customer list holds at most this many ids (sorted)
VARIANTS_DEFAULT = 10
AUTO_MULTI_STEP_SHARE = 0.2
ARROW = " > "
MORE = "…"


@dataclass(frozen=True, slots=True)
class PathQuery:
    """``start``: from each journey's first event; ``from``: from the first ``start`` touchpoint;
    ``to``: backwards from the first ``end`` touchpoint; ``between``: from the first ``start`` to the first
    ``end`` after it (journeys that never get there are not drawn)."""

    anchor: Anchor = "start"
    start: str | None = None
    end: str | None = None
    depth: int = DEPTH_DEFAULT
    top: int = TOP_DEFAULT
    variants: int = VARIANTS_DEFAULT
    # variants of journeys with at least this many steps; None: 2 when one-step journeys are a fifth or more
    # (each is a one-word path, so even a fifth of journeys fills the top of the list)
    min_steps: int | None = None

    def validate(self) -> None:
        if self.anchor not in ("start", "from", "to", "between"):
            raise QueryError(f"Unknown path anchor '{self.anchor}'.", hint="Use start, from, to or between.")
        if not 1 <= self.depth <= DEPTH_MAX:
            raise QueryError(f"Path depth must be between 1 and {DEPTH_MAX}, not {self.depth}.")
        if not 1 <= self.top <= TOP_MAX:
            raise QueryError(f"Nodes per step must be between 1 and {TOP_MAX}, not {self.top}.")
        if self.anchor in ("from", "between") and not self.start:
            raise QueryError(f"Paths '{self.anchor}' a touchpoint need a start touchpoint.")
        if self.anchor in ("to", "between") and not self.end:
            raise QueryError(f"Paths '{self.anchor}' a touchpoint need an end touchpoint.")
        if self.variants < 1:
            raise QueryError("The number of path variants must be at least 1.")
        if self.min_steps is not None and not 1 <= self.min_steps <= 2:
            raise QueryError(f"Path variants can keep journeys of 1+ or 2+ steps, not {self.min_steps}+.")


@dataclass(frozen=True, slots=True)
class PathsResult:
    """``nodes``: key, step, label, customers. ``links``: source, target (node keys), customers,
    pct_of_start, pct_of_prev. ``variants``: path, customers, share, conversion_rate, median_duration_s,
    revenue, of journeys with at least ``min_steps`` steps (``set_aside`` one-step journeys are not listed).
    Counts are journeys (customers in person scope, sessions in session scope)."""

    query: PathQuery
    nodes: pd.DataFrame
    links: pd.DataFrame
    variants: pd.DataFrame
    journeys_total: int
    journeys_covered: int
    transitions_total: int
    transitions_shown: int
    min_steps: int = 1
    set_aside: int = 0

    @property
    def coverage(self) -> float:
        """Share of the segment's journeys drawn."""
        return self.journeys_covered / self.journeys_total if self.journeys_total else 0.0

    @property
    def transition_coverage(self) -> float:
        """Share of the drawn journeys' transitions (from the anchor on) drawn between named nodes."""
        return self.transitions_shown / self.transitions_total if self.transitions_total else 0.0

    @property
    def is_empty(self) -> bool:
        return self.journeys_covered == 0


def _first_step(j: ir.Table, touchpoint: str, *, after: ir.Value | None = None) -> ir.Value:
    cond = j.touchpoint == touchpoint
    if after is not None:
        cond &= j.step > after
    return ibis.cases((cond, j.step), else_=ibis.null("int64")).min().over(ibis.window(group_by=j.journey_id))


def anchored(j: ir.Table, q: PathQuery) -> ir.Table:
    """Journeys with ``rel`` (1 = anchor) and ``nxt`` (the following touchpoint in reading direction)."""
    if q.anchor == "start":
        return j.mutate(rel=j.step, nxt=j.next_touchpoint)
    if q.anchor == "to":
        b = _first_step(j, q.end or "")
        w = ibis.window(group_by=j.journey_id, order_by=[j.ts, j.seq])
        j = j.mutate(_b=b, _prev=j.touchpoint.lag().over(w))
        j = j.filter(j._b.notnull() & (j.step <= j._b))
        return j.mutate(rel=j._b - j.step + 1, nxt=j._prev)
    j = j.mutate(_a=_first_step(j, q.start or ""))
    j = j.filter(j._a.notnull() & (j.step >= j._a))
    if q.anchor == "from":
        return j.mutate(rel=j.step - j._a + 1, nxt=j.next_touchpoint)
    j = j.mutate(_b=_first_step(j, q.end or "", after=j._a))
    j = j.filter(j._b.notnull() & (j.step <= j._b))
    return j.mutate(rel=j.step - j._a + 1, nxt=ibis.ifelse(j.step == j._b, ibis.null("string"), j.next_touchpoint))


def _per_journey(a: ir.Table, q: PathQuery, goal: str | None) -> ir.Table:
    """One row per drawn journey: its first ``depth`` touchpoints, length, duration, conversion, value."""
    cols = [ibis.cases((a.rel == k, a.touchpoint), else_=ibis.null("string")).max().name(f"p{k}")
            for k in range(1, q.depth + 1)]
    value = a.value if "value" in a.columns else ibis.literal(0.0)
    return a.group_by("journey_id").aggregate(
        *cols, _len=a.rel.max(), _dur=a.ts.epoch_seconds().max() - a.ts.epoch_seconds().min(),
        _conv=(a.touchpoint == goal).any() if goal else ibis.literal(False), _rev=value.sum(),
    )


def _per_journey_summarized(journeys: ir.Table, q: PathQuery, goal: str | None) -> ir.Table | None:
    """The same rows read from the stored journey summaries (journeys from their start), or None."""
    if q.anchor != "start" or q.depth > summary.DEPTH:
        return None
    s = summary.summary_for(journeys)
    if s is None:
        return None
    per = s.select("journey_id", **{f"p{k}": s[f"p{k}"] for k in range(1, q.depth + 1)},
                   _len=s.n, _dur=s.last_ts.epoch_seconds() - s.first_ts.epoch_seconds(), _rev=s.value_sum,
                   _mask=s.tp_mask)
    if not goal:
        return per.mutate(_conv=ibis.literal(False)).drop("_mask")
    codes = summary.codes_for(journeys)
    if codes is not None and len(codes) <= summary.MASK_TOUCHPOINTS:  # the goal's bit: no pass over the events
        bit = 1 << codes.index(goal) if goal in codes else 0
        return per.mutate(_conv=((per._mask & bit) != 0) if bit else ibis.literal(False)).drop("_mask")
    per = per.drop("_mask")
    won = journeys.filter(journeys.touchpoint == goal).select(_won="journey_id").distinct()
    per = per.left_join(won, per.journey_id == won._won)
    return per.mutate(_conv=per._won.notnull()).drop("_won")


def _variants(per: ir.Table, q: PathQuery, min_steps: int) -> ir.Table:
    order = range(q.depth, 0, -1) if q.anchor == "to" else range(1, q.depth + 1)
    path = ibis.literal(ARROW).join([per[f"p{k}"] for k in order])
    if q.anchor == "to":
        path = ibis.ifelse(per._len > q.depth, MORE + ARROW, "").concat(path)
    else:
        path = path.concat(ibis.ifelse(per._len > q.depth, ARROW + MORE, ""))
    per = per.mutate(path=path)
    by_path = per.group_by("path").aggregate(
        customers=per.count(), conversion_rate=per._conv.cast("float64").mean(),
        median_duration_s=per._dur.median().cast("float64"), revenue=per._rev.sum().cast("float64"),
        _len_sum=per._len.sum(), _short=(per._len < min_steps).any(),
    )
    whole = ibis.window()
    by_path = by_path.mutate(total_journeys=by_path.customers.sum().over(whole),
                             total_len=by_path._len_sum.sum().over(whole)).drop("_len_sum")
    # short journeys sort last, so the limit keeps the top long ones; Python drops any short ones after
    return by_path.order_by([by_path._short, ibis.desc("customers"), "path"]).limit(q.variants)


def compute_paths(journeys: ir.Table, query: PathQuery | None = None, *, goal: str | None = None) -> PathsResult:
    """Sankey nodes and links for ``query`` over the (shaped, segmented) journeys, plus top variants.

    Two queries: one group-by gives every node and link; one gives the top variants with, as window
    totals over all variants, the journeys drawn and their transitions (a journey of n events has n - 1).
    """
    q = query or PathQuery()
    q.validate()
    a = anchored(journeys, q)
    window = a.filter(a.rel <= q.depth)
    flows = to_frame(window.group_by(["rel", "touchpoint", "nxt"]).aggregate(customers=window.count()))
    flows = flows.astype({"rel": "int64", "customers": "int64"})
    nodes = flows.groupby(["rel", "touchpoint"], as_index=False)["customers"].sum()
    links = flows[flows.rel < q.depth]
    one_step = int(flows.loc[(flows.rel == 1) & flows.nxt.isna(), "customers"].sum())
    min_steps = q.min_steps or (2 if one_step >= AUTO_MULTI_STEP_SHARE * int(flows.loc[flows.rel == 1, "customers"].sum())
                                else 1)
    per = _per_journey_summarized(journeys, q, goal)
    variants = to_frame(_variants(_per_journey(a, q, goal) if per is None else per, q, min_steps))
    drawn = int(variants.total_journeys.iloc[0]) if len(variants) else 0
    moves = int(variants.total_len.iloc[0]) - drawn if len(variants) else 0
    if q.anchor == "start":
        total = drawn
    else:
        firsts = journeys.filter(journeys.step == 1)
        total = int(firsts.count().execute())
    variants = variants[~variants._short.astype(bool)].drop(columns=["total_journeys", "total_len", "_short"])
    result = _assemble(q, nodes, links, variants, journeys_total=total, transitions_total=moves)
    return replace(result, min_steps=min_steps, set_aside=one_step if min_steps == 2 else 0)


def _assemble(q: PathQuery, nodes: pd.DataFrame, links: pd.DataFrame, variants: pd.DataFrame, *,
              journeys_total: int, transitions_total: int) -> PathsResult:
    """Top-N relabelling, ``Other`` and ``(journey ends)`` nodes, percentages and coverage."""
    if nodes.empty:
        return PathsResult(
            query=q, nodes=pd.DataFrame(columns=["key", "step", "label", "customers"]),
            links=pd.DataFrame(columns=["source", "target", "customers", "pct_of_start", "pct_of_prev"]),
            variants=pd.DataFrame(columns=["path", "customers", "share", "conversion_rate", "median_duration_s", "revenue"]),
            journeys_total=journeys_total, journeys_covered=0, transitions_total=0, transitions_shown=0)
    nodes = nodes.astype({"rel": "int64", "customers": "int64"})
    nodes = nodes.sort_values(["rel", "customers", "touchpoint"], ascending=[True, False, True])
    nodes["rank"] = nodes.groupby("rel").cumcount()
    nodes["label"] = nodes["touchpoint"].where(nodes["rank"] < q.top, OTHER)
    label_of = {(int(r.rel), r.touchpoint): r.label for r in nodes.itertuples()}
    shown = nodes.groupby(["rel", "label"], as_index=False, sort=False)["customers"].sum()
    covered = int(shown.loc[shown.rel == 1, "customers"].sum())
    links = links.astype({"rel": "int64", "customers": "int64"})
    links["src"] = pd.Series([label_of[(r, t)] for r, t in zip(links.rel, links.touchpoint, strict=True)],
                             index=links.index, dtype="str")
    links["dst"] = pd.Series([label_of[(r + 1, n)] if isinstance(n, str) else ENDS_LABEL
                              for r, n in zip(links.rel, links.nxt, strict=True)], index=links.index, dtype="str")
    named = (links.src != OTHER) & (links.dst != OTHER) & (links.dst != ENDS_LABEL)
    transitions_shown = int(links.loc[named, "customers"].sum())
    links = links.groupby(["rel", "src", "dst"], as_index=False)["customers"].sum()
    ends = links[links.dst == ENDS_LABEL].groupby("rel", as_index=False)["customers"].sum()
    ends_nodes = pd.DataFrame({"rel": ends.rel + 1, "label": ENDS_LABEL, "customers": ends.customers})
    all_nodes = pd.concat([shown, ends_nodes], ignore_index=True)
    all_nodes["key"] = all_nodes.rel.astype(str) + ":" + all_nodes.label
    all_nodes["_kind"] = all_nodes.label.map({OTHER: 1, ENDS_LABEL: 2}).fillna(0)
    all_nodes = all_nodes.sort_values(["rel", "_kind", "customers", "label"], ascending=[True, True, False, True])
    src_total = dict(zip(shown.rel.astype(str) + ":" + shown.label, shown.customers, strict=True))
    out = pd.DataFrame({
        "source": links.rel.astype(str) + ":" + links.src,
        "target": (links.rel + 1).astype(str) + ":" + links.dst,
        "customers": links.customers,
    })
    out["pct_of_start"] = out.customers / covered if covered else 0.0
    out["pct_of_prev"] = pd.Series([c / src_total[k] for c, k in zip(out.customers, out.source, strict=True)],
                                   index=out.index, dtype="float64")
    out = out.sort_values(["source", "customers", "target"], ascending=[True, False, True]).reset_index(drop=True)
    variants = variants.head(q.variants).reset_index(drop=True)
    # a sum of sums: rounded so the order the engine added them in (threads, stored summaries) never shows
    variants["revenue"] = variants["revenue"].fillna(0.0).round(6)
    variants.insert(2, "share", variants.customers / covered if covered else 0.0)
    nodes_out = all_nodes.rename(columns={"rel": "step"})[["key", "step", "label", "customers"]].reset_index(drop=True)
    return PathsResult(query=q, nodes=nodes_out, links=out, variants=variants, journeys_total=journeys_total,
                       journeys_covered=covered, transitions_total=transitions_total,
                       transitions_shown=transitions_shown)


def node_customers(journeys: ir.Table, query: PathQuery, key: str, *, limit: int = NODE_CUSTOMERS_MAX) -> list[str]:
    """Customers whose journeys pass through Sankey node ``key`` (``"3:cart"``, ``"2:Other"``,
    ``"4:(journey ends)"``), sorted, at most ``limit``: for hand-off lists."""
    step_text, _, label = key.partition(":")
    try:
        step = int(step_text)
    except ValueError as err:
        raise QueryError(f"'{key}' is not a Sankey node (expected step:label).") from err
    q = query
    a = anchored(journeys, q)
    if label == ENDS_LABEL:
        hits = a.filter((a.rel == step - 1) & a.nxt.isnull())
    elif label == OTHER:
        at = a.filter(a.rel == step)
        counts = to_frame(at.group_by("touchpoint").aggregate(n=at.count()))
        named = counts.sort_values(["n", "touchpoint"], ascending=[False, True]).touchpoint.head(q.top).tolist()
        hits = at.filter(~at.touchpoint.isin(named))
    else:
        hits = a.filter((a.rel == step) & (a.touchpoint == label))
    out = hits.select("customer_id").distinct().order_by("customer_id").limit(limit)
    return [str(c) for c in to_frame(out).customer_id]
