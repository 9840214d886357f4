"""Transition graph: touchpoints as a network, edges by volume, nodes coloured by P(reaching the goal)."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from app import state
from app.tables import EDGE_COLUMNS, NODE_COLUMNS
from app.ui import chart, empty_state, md, run, seed, set_view, stop, table, view
from journeys import charts
from journeys.analyses.base import START
from journeys.analyses.transitions import GraphQuery
from journeys.views import GRAPH_TOP_DEFAULT

ENDS = {"END": "(journey end)", "END (converted)": "(journey end, converted)",
        "END (not converted)": "(journey end, not converted)"}

st.title("Transition graph")
v = view()
c1, c2, c3 = st.columns([2, 1, 1])
steps = sorted({1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 50_000, 100_000, v.graph.min_weight})
seed("g_minw", v.graph.min_weight, steps)
min_weight = c1.select_slider("Hide edges with fewer transitions than", options=steps, key="g_minw")
seed("g_all", v.graph.top_k is None)
show_all = c3.toggle("Show all edges", key="g_all", help="Every edge, however small: busy on real data.")
seed("g_topk", v.graph.top_k or GRAPH_TOP_DEFAULT)
top_k = c2.number_input("Heaviest edges drawn", min_value=1, max_value=10_000, key="g_topk", disabled=show_all)
set_view(replace(v, graph=GraphQuery(min_weight=int(min_weight), top_k=None if show_all else int(top_k))))
v = view()
result = run("Counting transitions…", lambda: state.transitions(v, v.segment))
if result.is_empty:
    empty_state(f"No journeys for {v.segment.describe(v.shaping.goal)} in this date range.")
    stop()
goal_note = (f" Node colour: probability of eventually reaching '{md(v.shaping.goal)}' (absorbing Markov chain)."
             if v.shaping.goal else " Set a goal touchpoint in Journey shaping to colour nodes by P(goal).")
drawn = result.transitions - result.hidden_transitions
hidden = (f"Hidden: {result.hidden_edges:,} smaller {'edge' if result.hidden_edges == 1 else 'edges'} carrying "
          f"{result.hidden_transitions:,} {'transition' if result.hidden_transitions == 1 else 'transitions'} "
          f"({result.hidden_transitions / max(result.transitions, 1):.1%}); switch on 'Show all edges' to draw them."
          if result.hidden_edges else "Every edge is drawn.")
st.caption(f"{result.journeys:,} journeys, {result.transitions:,} transitions between touchpoints; the edges drawn carry "
           f"{drawn:,} ({drawn / max(result.transitions, 1):.1%}). {hidden} Touchpoints sit on a circle in journey "
           f"order (clockwise from the top); repeats of the same touchpoint are in the table.{goal_note}")
chart(charts.graph_figure(result), name="transition_graph", key="graph")
st.subheader("Touchpoints")
table(result.nodes, name="touchpoints", key="nodes", columns=NODE_COLUMNS)
st.subheader("Transitions")
st.caption("'(journey start)' and '(journey end …)' rows count how journeys begin and finish; they have no time gap.")
edges = result.edges.assign(
    source=result.edges.source.replace({START: "(journey start)"}),
    target=result.edges.target.map(lambda t: ENDS.get(t, t)))
table(edges, name="transitions", key="edges", columns=EDGE_COLUMNS,
      names={"share": "% of transitions", "customers": "customers"})  # distinct customers, also with sessions
