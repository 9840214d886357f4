"""Drivers: what goes with conversion or churn, as odds ratios with intervals, q-values and honest floors."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from app import state
from app.ui import (
    chart,
    echo,
    empty_state,
    explained,
    link_problem,
    md,
    pick,
    run,
    seed,
    set_view,
    stop,
    table,
    view,
)
from journeys.analyses.drivers import KINDS, LAST_K, MIN_CELL, MIN_EXPOSED, Q_MAX, TOP, segment_for
from journeys.charts_drivers import forest_figure
from journeys.segments import Segment

KIND_NAMES = {"touchpoint": "did X", "count": "did X 2+ / 3+ times", "transition": "X -> Y", "attribute": "attribute value",
              "first": "first touchpoint / channel", "last": "last before the outcome"}
SHOWN = ["label", "kind", "reach", "rate_with", "rate_without", "lift", "odds_ratio", "ci_low", "ci_high", "p_value",
         "q_value", "badge"]
NAMES = {"label": "driver", "rate_with": "rate with", "rate_without": "rate without", "odds_ratio": "odds ratio",
         "ci_low": "95% CI low", "ci_high": "95% CI high", "p_value": "p", "q_value": "q (BH)", "badge": ""}

st.title("Drivers")
v = view()
d = v.drivers
c1, c2, c3 = st.columns([1, 1, 3])
seed("d_outcome", d.outcome)
outcome = c1.radio("Outcome", ["conversion", "churn"], key="d_outcome", horizontal=True)
seed("d_window", "all" if d.window_days is None else str(d.window_days))
window = c2.selectbox("Observed from entry", ["7", "14", "30", "60", "90", "all"], key="d_window",
                      format_func=lambda w: "whole journey" if w == "all" else f"{w} days")
seed("d_kinds", list(d.kinds), list(KINDS))
kinds = c3.multiselect("Candidates", list(KINDS), key="d_kinds", format_func=KIND_NAMES.__getitem__)
set_view(replace(v, drivers=replace(d, outcome=outcome, window_days=None if window == "all" else int(window),
                                    kinds=tuple(k for k in KINDS if k in kinds))))
v = view()
goals = v.outcomes.goals or ((v.shaping.goal,) if v.shaping.goal else ())
query = replace(v.drivers, outcomes=replace(v.outcomes, goals=goals))
if outcome == "conversion" and not goals:
    empty_state("Pick a goal touchpoint in the sidebar: drivers of conversion explain who reaches it.")
    stop()
if not kinds:
    empty_state("Pick at least one kind of candidate.")
    stop()
with explained():
    query.validate(state.touchpoints(v))
result = run("Testing every candidate…", lambda: state.drivers(v, v.segment, query))
what = result.describe_outcome()
lead = f"Outcome: {what}." if outcome == "conversion" or not what.endswith(".") else what
a, b, c = st.columns(3)
a.metric("Customers", f"{result.customers:,}")
b.metric("With the outcome", f"{result.with_outcome:,}", f"{result.with_outcome / result.customers:.1%}",
         delta_color="off", delta_arrow="off")
c.metric("Candidates tested", f"{result.tested:,}", f"{result.held_back:,} held back (too few customers)",
         delta_color="off", delta_arrow="off")
st.caption(md(f"{lead} Customers are observed {'over their whole journey' if window == 'all' else f'for {window} days from their first event'}, "
              "and only before their first outcome event, so nothing after the outcome leaks in. A candidate needs "
              f"{MIN_EXPOSED} exposed customers and {MIN_CELL} in every cell of its 2x2 table to be ranked; "
              "q-values are Benjamini-Hochberg over the candidates ranked."))
if result.skew_warning():
    st.warning(md(result.skew_warning() or ""), icon=":material/balance:")
for col, n in result.skipped_attributes:
    st.caption(md(f"Attribute {col} has {n:,} values, too many to test each as yes/no; it was left out."))
ranked = result.table[result.table.ranked]
if ranked.empty:
    empty_state(f"No candidate reaches the floors ({MIN_EXPOSED} exposed, {MIN_CELL} per cell): "
                f"{result.held_back:,} were held back.")
else:
    left, right = st.columns([3, 2])
    with left:
        st.subheader(f"Top {TOP} positive and negative drivers", anchor=False)
        if result.top("positive").empty and result.top("negative").empty:
            empty_state(f"No ranked candidate has a q-value below {Q_MAX:g}: nothing stands out.")
        else:
            st.caption(f"Ranked candidates with q < {Q_MAX:g}, lowest q first; whiskers are 95% intervals.")
            chart(forest_figure(result), name="drivers_forest", key="forest")
    with right:
        st.subheader("Open a driver as a segment", anchor=False)
        shown = [f"{label} (OR {odds:.2g})" for label, odds in zip(ranked.label, ranked.odds_ratio, strict=True)]
        if v.driver_pick and "d_pick_name" not in st.session_state:  # from a link: that driver, if ranked
            st.session_state["d_pick_name"] = v.driver_pick
            if v.driver_pick not in set(ranked.label):
                link_problem(f"The link's driver '{echo(v.driver_pick)}' is not among the ranked drivers; the first "
                             "is picked.")
        chosen = pick("Driver", list(ranked.label), shown, key="d_pick")
        set_view(replace(view(), driver_pick=None if chosen == 0 else str(ranked.label.iloc[chosen])))
        seg = segment_for(ranked.iloc[chosen].to_dict())
        st.text("Segment: " + seg.describe(goals[0] if goals else None))  # user data: plain text
        st.caption("A segment looks at whole journeys, not the driver's observation window, so it can hold more "
                   "customers than the driver reached.")
        if st.button("Open as segment", key="d_open", icon=":material/filter_alt:"):
            set_view(replace(v, segment=seg))
            st.rerun()
        if st.button("Compare with everyone else", key="d_compare", icon=":material/compare:"):
            set_view(replace(v, segment=seg, segment_b=Segment(), compare="funnel"))  # B = everyone else
            st.switch_page("screens/compare.py")
st.subheader("Every candidate", anchor=False)
table(result.table, name="drivers", key="drivers", columns=SHOWN, names=NAMES)
if outcome == "conversion":
    st.subheader(f"Key touchpoints just before {' or '.join(goals)} (last {LAST_K})", anchor=False)
    key = run("Reading the last touchpoints…", lambda: state.key_drivers(v, v.segment, query))
    table(key.table, name="key_touchpoints", key="keytp",
          columns=["label", "share_with", "share_without", "odds_ratio", "ci_low", "ci_high", "q_value", "badge"],
          names={**NAMES, "share_with": "% of converters", "share_without": "% of the others"})
    st.subheader("Graph drivers: P(goal) once a customer reaches a touchpoint", anchor=False)
    graph = run("Solving the absorbing chain…", lambda: state.graph_driver_table(v, v.segment, query))
    if len(graph) and key.customers:
        st.caption(f"The chain estimates P(goal) from the start at {graph.p_goal_start.iloc[0]:.1%}; "
                   f"{key.with_outcome / key.customers:.1%} of these customers actually reached it. A first-order "
                   "chain remembers only the touchpoint a customer is at, so read the change a touchpoint makes, "
                   "not the level.")
    table(graph, name="graph_drivers", key="graphd",
          names={"p_goal_start": "P(goal) from the start", "p_goal_from": "P(goal) from here", "change": "change (points)"})
