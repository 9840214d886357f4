"""The transition graph: touchpoint -> touchpoint counts, probabilities and timings, plus node metrics.

Edges are aggregated in the engine; the ``networkx`` graph is built from those aggregates (never from
raw events). Synthetic START and END nodes frame every journey; with a goal, END is split into
converted / not converted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from journeys.analyses import summary
from journeys.analyses.base import (
    END,
    END_CONVERTED,
    END_NOT_CONVERTED,
    START,
    one_journey_per_customer,
    to_frame,
)
from journeys.errors import QueryError

if TYPE_CHECKING:
    import networkx as nx

EDGE_COLUMNS = ["source", "target", "count", "customers", "share", "probability", "median_s", "p90_s"]


@dataclass(frozen=True, slots=True)
class GraphQuery:
    """``min_weight`` hides edges with fewer transitions; ``top_k`` keeps only the K heaviest touchpoint ->
    touchpoint edges (START and END edges are not counted, and kept unless ``with_ends`` is off)."""

    min_weight: int = 1
    top_k: int | None = None
    with_ends: bool = True

    def validate(self) -> None:
        if self.min_weight < 1:
            raise QueryError("The minimum edge weight must be at least 1.")
        if self.top_k is not None and self.top_k < 1:
            raise QueryError("Top-K edges must be at least 1.")


@dataclass(frozen=True, slots=True)
class TransitionsResult:
    """``edges`` (shown), ``nodes`` metrics, and what pruning hid (touchpoint -> touchpoint edges and
    their transitions; START/END edges hidden by ``with_ends=False`` are not counted as hidden)."""

    edges: pd.DataFrame
    nodes: pd.DataFrame
    journeys: int
    transitions: int
    hidden_edges: int
    hidden_transitions: int
    goal: str | None

    @property
    def is_empty(self) -> bool:
        return self.journeys == 0


def _edge_aggregates(j: ir.Table, goal: str | None) -> ir.Table:
    """Raw edges with START/END, computed in one pass over the journeys."""
    inner = j.filter(j.next_touchpoint.notnull())
    gap = inner.next_ts.epoch_seconds() - inner.ts.epoch_seconds()
    quantiles = gap.quantile([0.5, 0.9])  # both from one sort of each move's gaps
    moves = summary.edges_for(j)
    if moves is None:
        inner = inner.group_by(source=inner.touchpoint, target=inner.next_touchpoint).aggregate(
            count=inner.count(), customers=inner.customer_id.nunique(), _q=quantiles)
    else:  # one row per journey and move: its journeys are its rows
        counted = moves.group_by(source=moves.touchpoint, target=moves.next_touchpoint).aggregate(
            count=moves.n.sum(), customers=moves.count())
        timed = inner.group_by(_s=inner.touchpoint, _t=inner.next_touchpoint).aggregate(_q=quantiles)
        inner = counted.join(timed, [counted.source == timed._s, counted.target == timed._t]).drop("_s", "_t")
    inner = inner.mutate(median_s=inner._q[0].cast("float64"), p90_s=inner._q[1].cast("float64")).drop("_q")
    starts, ends = _starts_and_ends(j, goal)
    typed = [e.mutate(median_s=ibis.null("float64"), p90_s=ibis.null("float64")) for e in (starts, ends)]
    return inner.union(typed[0]).union(typed[1])


def _starts_and_ends(j: ir.Table, goal: str | None) -> tuple[ir.Table, ir.Table]:
    """START -> first touchpoint and last touchpoint -> END edges: from the stored journey summaries (first and
    last touchpoint, the touchpoints' bits for the goal) when there are some, else from the events."""
    # a journey has one first and one last event: with a journey per customer, customers = journeys
    person = one_journey_per_customer(j)
    s = summary.summary_for(j)
    codes = summary.codes_for(j) if s is not None else None
    if s is not None and codes is not None and len(codes) <= summary.MASK_TOUCHPOINTS:
        bit = 1 << codes.index(goal) if goal and goal in codes else 0
        won = ((s.tp_mask & bit) != 0) if bit else ibis.literal(False)
        label = (ibis.ifelse(won, ibis.literal(END_CONVERTED), ibis.literal(END_NOT_CONVERTED)) if goal
                 else ibis.literal(END))
        return tuple(s.group_by(source=src, target=dst).aggregate(
            count=s.count(), customers=s.count() if person else s.customer_id.nunique())
            for src, dst in ((ibis.literal(START), s.p1), (s.last_tp, label)))
    starts = j.filter(j.step == 1)
    starts = starts.group_by(source=ibis.literal(START), target=starts.touchpoint).aggregate(
        count=starts.count(), customers=starts.count() if person else starts.customer_id.nunique())
    ends = j.filter(j.next_touchpoint.isnull())
    if goal:
        # journeys that reached the goal: a filtered distinct, far cheaper than a group-by over every event
        won = j.filter(j.touchpoint == goal).select("journey_id").distinct().mutate(_won=ibis.literal(True))
        ends = ends.left_join(won, "journey_id")
        end_label = ibis.ifelse(ends._won.notnull(), ibis.literal(END_CONVERTED), ibis.literal(END_NOT_CONVERTED))
    else:
        end_label = ibis.literal(END)
    ends = ends.group_by(source=ends.touchpoint, target=end_label).aggregate(
        count=ends.count(), customers=ends.count() if person else ends.customer_id.nunique())
    return starts, ends


def compute_transitions(journeys: ir.Table, query: GraphQuery | None = None, *, goal: str | None = None) -> TransitionsResult:
    """All transitions of the (shaped, segmented) journeys, pruned as ``query`` says, with node metrics."""
    query = query or GraphQuery()
    query.validate()
    edges = to_frame(_edge_aggregates(journeys, goal))
    edges["count"] = edges["count"].astype("int64")
    edges["customers"] = edges["customers"].astype("int64")
    n_journeys = int(edges.loc[edges.source == START, "count"].sum())
    is_inner = ~edges.source.eq(START) & ~edges.target.isin([END, END_CONVERTED, END_NOT_CONVERTED])
    total = int(edges.loc[is_inner, "count"].sum())
    edges["probability"] = edges["count"] / edges.groupby("source")["count"].transform("sum")
    edges["share"] = (edges["count"] / max(total, 1)).where(is_inner)
    edges["_inner"] = is_inner
    edges = edges.sort_values(["count", "source", "target"], ascending=[False, True, True]).reset_index(drop=True)
    nodes = node_metrics(edges, goal)
    keep = edges["count"] >= query.min_weight
    if not query.with_ends:
        keep &= edges["_inner"]
    if query.top_k is not None:
        ranked = keep & edges["_inner"]
        keep &= ~edges["_inner"] | (ranked.cumsum() <= query.top_k)
    hidden = edges[~keep & edges["_inner"]]
    return TransitionsResult(
        edges=edges.loc[keep, EDGE_COLUMNS].reset_index(drop=True), nodes=nodes, journeys=n_journeys,
        transitions=total, hidden_edges=len(hidden), hidden_transitions=int(hidden["count"].sum()), goal=goal,
    )


def build_graph(edges: pd.DataFrame) -> nx.DiGraph:
    """A weighted DiGraph from aggregated edges (``weight`` = transitions, ``probability`` on each edge)."""
    import networkx as nx  # loads with the graph page, not with every page

    g = nx.DiGraph()
    for row in edges.itertuples(index=False):
        g.add_edge(row.source, row.target, weight=int(row.count), probability=float(row.probability))
    return g


def goal_probability(edges: pd.DataFrame, goal: str) -> dict[str, float]:
    """P(eventually reaching ``goal``) from each node: an absorbing Markov chain on the edge probabilities.

    The goal and every END node absorb. Solves ``(I - Q) x = r`` where ``Q`` is transient -> transient
    and ``r`` is transient -> goal.
    """
    probs = edges[edges.source != goal]
    nodes = sorted((set(probs.source) | set(probs.target)) - {goal, END, END_CONVERTED, END_NOT_CONVERTED})
    index = {n: i for i, n in enumerate(nodes)}
    q = np.zeros((len(nodes), len(nodes)))
    r = np.zeros(len(nodes))
    for row in probs.itertuples(index=False):
        if row.source not in index:
            continue
        if row.target == goal:
            r[index[row.source]] += row.probability
        elif row.target in index:
            q[index[row.source], index[row.target]] += row.probability
    x = np.linalg.lstsq(np.eye(len(nodes)) - q, r, rcond=None)[0] if nodes else np.array([])
    out = {n: round(float(np.clip(x[i], 0.0, 1.0)), 12) for n, i in index.items()}
    out[goal] = 1.0
    return out


def node_metrics(edges: pd.DataFrame, goal: str | None) -> pd.DataFrame:
    """Per touchpoint: volume (events), entries, exits, entry and exit rate, PageRank, P(goal)."""
    ends = {END, END_CONVERTED, END_NOT_CONVERTED}
    real = edges[edges.source != START]
    volume = real.groupby("source")["count"].sum()
    entries = edges[edges.source == START].groupby("target")["count"].sum()
    exits = edges[edges.target.isin(ends)].groupby("source")["count"].sum()
    frame = pd.DataFrame({"volume": volume}).fillna(0)
    frame["entries"] = entries.reindex(frame.index).fillna(0).astype("int64")
    frame["exits"] = exits.reindex(frame.index).fillna(0).astype("int64")
    frame["volume"] = frame["volume"].astype("int64")
    frame["entry_rate"] = frame["entries"] / frame["volume"]
    frame["exit_rate"] = frame["exits"] / frame["volume"]
    inner = edges[(edges.source != START) & ~edges.target.isin(ends)]
    import networkx as nx  # loads with the graph, not with every page

    graph = build_graph(inner) if len(inner) else nx.DiGraph()
    graph.add_nodes_from(frame.index)
    rank = nx.pagerank(graph, weight="weight") if graph.number_of_nodes() else {}
    frame["pagerank"] = pd.Series(rank).reindex(frame.index)
    if goal:
        frame["p_goal"] = pd.Series(goal_probability(edges, goal)).reindex(frame.index)
    frame.index.name = "touchpoint"
    return frame.sort_values(["volume"], ascending=False).reset_index()
