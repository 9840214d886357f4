"""Transition graph: touchpoints as a network, edges by volume, nodes coloured by P(reaching the goal)."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from app import state
from app.ui import chart, empty_state, run, seed, set_view, table, view
from journeys import charts
from journeys.analyses.transitions import GraphQuery

st.title("Transition graph")
v = view()
c1, c2 = st.columns(2)
steps = sorted({1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 50_000, 100_000, v.graph.min_weight})
seed("g_minw", v.graph.min_weight, steps)
min_weight = c1.select_slider("Hide edges with fewer transitions than", options=steps, key="g_minw")
seed("g_topk", v.graph.top_k or 0)
top_k = c2.number_input("Keep only the heaviest edges (0 = all)", min_value=0, max_value=10_000, key="g_topk")
set_view(replace(v, graph=GraphQuery(min_weight=int(min_weight), top_k=int(top_k) or None)))
v = view()
result = run("Counting transitions…", lambda: state.transitions(v, v.segment))
if result.is_empty:
    empty_state(f"No journeys for {v.segment.describe(v.shaping.goal)} in this date range.")
    st.stop()
goal_note = (f" Node colour: probability of eventually reaching '{v.shaping.goal}' (absorbing Markov chain)."
             if v.shaping.goal else " Set a goal touchpoint in Journey shaping to colour nodes by P(goal).")
st.caption(f"{result.journeys:,} journeys, {result.transitions:,} transitions. Hidden by the filters above: "
           f"{result.hidden_edges:,} edges carrying {result.hidden_transitions:,} transitions "
           f"({result.hidden_transitions / max(result.transitions, 1):.1%}).{goal_note}")
chart(charts.graph_figure(result), name="transition_graph", key="graph")
st.subheader("Touchpoints")
table(result.nodes, name="touchpoints", key="nodes",
      column_config={c: st.column_config.NumberColumn(format="percent") for c in ("entry_rate", "exit_rate", "p_goal")})
st.subheader("Transitions")
table(result.edges, name="transitions", key="edges",
      column_config={c: st.column_config.NumberColumn(format="percent") for c in ("share", "probability")})
