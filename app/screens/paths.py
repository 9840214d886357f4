"""Paths: a Sankey of how journeys unfold, with anchors, coverage, top variants and node drill-down."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from app import state
from app.tables import VARIANT_COLUMNS
from app.ui import chart, customer_list, empty_state, explained, md, run, seed, set_view, stop, table, view
from journeys import charts
from journeys.analyses.base import check_touchpoints
from journeys.analyses.paths import DEPTH_MAX, NODE_CUSTOMERS_MAX, TOP_MAX, PathQuery
from journeys.segments import Filter, Segment

st.title("Paths")
v = view()
tps = state.touchpoints(v)
q = v.paths
anchors = {"start": "from journey start", "from": "from a touchpoint", "to": "ending at a touchpoint",
           "between": "between two touchpoints"}
c1, c2, c3, c4, c5 = st.columns([2, 2, 2, 1, 1])
seed("p_anchor", q.anchor)
anchor = c1.selectbox("Paths", list(anchors), format_func=anchors.__getitem__, key="p_anchor")
start = end = None
if anchor in ("from", "between"):
    seed("p_start", q.start or (tps[0] if tps else None), tps, what="start touchpoint")
    start = c2.selectbox("Start touchpoint", tps, key="p_start")
if anchor in ("to", "between"):
    seed("p_end", q.end or v.shaping.goal or (tps[-1] if tps else None), tps, what="end touchpoint")
    end = c3.selectbox("End touchpoint", tps, key="p_end")
seed("p_depth", q.depth)
depth = c4.number_input("Steps", min_value=1, max_value=DEPTH_MAX, key="p_depth")
seed("p_top", q.top)
top = c5.number_input("Nodes/step", min_value=1, max_value=TOP_MAX, key="p_top")
o1, o2 = st.columns([1, 2])
seed("p_pct", v.pct)
pct = o1.radio("Link share", ["start", "prev"], horizontal=True, key="p_pct",
               format_func={"start": "% of start", "prev": "% of previous step"}.__getitem__)
seed("p_ms", {None: "auto", 1: "all", 2: "multi"}[q.min_steps])
ms = o2.radio("Path variants of", ["auto", "multi", "all"], horizontal=True, key="p_ms",
              format_func={"auto": "2+ steps if a fifth of journeys have one", "multi": "journeys with 2+ steps",
                           "all": "all journeys"}.__getitem__)
query = PathQuery(anchor=anchor, start=start, end=end, depth=int(depth), top=int(top),
                  min_steps={"auto": None, "all": 1, "multi": 2}[ms])
set_view(replace(v, paths=query, pct=pct))
v = view()
with explained():
    check_touchpoints([query.start, query.end], tps)
result = run("Tracing paths…", lambda: state.paths(v, v.segment))

if result.is_empty:
    where = {"start": "", "from": f" that reach '{start}'", "to": f" that reach '{end}'",
             "between": f" that go from '{start}' to '{end}'"}[anchor]
    empty_state(f"No journeys{where} in this segment and date range ({v.segment.describe(v.shaping.goal)}).")
    stop()

st.caption(f"Covers {result.journeys_covered:,} of {result.journeys_total:,} journeys ({result.coverage:.1%}); "
           f"{result.transition_coverage:.1%} of their transitions run between named nodes, the rest through "
           f"'Other' (touchpoints outside the top {query.top} of a step). Hover a link for % of start and of the previous step.")
chart(charts.sankey_figure(result, pct=pct, colours=charts.touchpoint_colours(tps)), name="paths", key="sankey")

st.subheader("Drill into a node")
nodes = list(result.nodes.key)
seed("p_node", nodes[0], nodes)
node = st.selectbox("Node", nodes, key="p_node",
                    format_func=lambda k: f"step {k.split(':', 1)[0]}: {k.split(':', 1)[1]} "
                    f"({int(result.nodes.set_index('key').customers[k]):,})")
step_text, _, label = node.partition(":")
left, right = st.columns(2)
with left:
    if v.shaping.scope == "person" and not v.shaping.cut_at_goal:
        # a journey per customer: the node's journeys are its customers, so the list waits for a click
        through = int(result.nodes.set_index("key").customers[node])
        customer_list(lambda: state.customers_through(v, v.segment, node), count=min(through, NODE_CUSTOMERS_MAX),
                      name=f"customers_{step_text}_{label}", key="node")
        if through > NODE_CUSTOMERS_MAX:
            st.caption(f"The list holds the first {NODE_CUSTOMERS_MAX:,} of {through:,} customers, by id.")
    else:
        ids = run("Finding customers…", lambda: state.customers_through(v, v.segment, node))
        customer_list(ids, name=f"customers_{step_text}_{label}", key="node")
exact = anchor == "start" and v.shaping.scope == "person" and not v.shaping.collapse_repeats and label not in ("Other", "(journey ends)")
if label not in ("Other", "(journey ends)"):
    flt = Filter("at_step", (label,), times=int(step_text)) if exact else Filter("did", (label,))
    if right.button(md(f"Show customers who {flt.describe()}"), key="p_apply"):
        set_view(replace(v, segment=Segment((*v.segment.items, flt), v.segment.combine)))
        st.rerun()
    if not exact:
        right.caption("With this anchor or shaping, the segment is the broader 'did' filter; the download is exact.")

st.subheader("Top path variants")
if result.set_aside:
    st.caption(f"{result.set_aside:,} journeys with a single step ({result.set_aside / result.journeys_covered:.0%}) "
               "are set aside here, so the list shows paths that go somewhere. Shares are of all journeys drawn.")
shown = [c for c in VARIANT_COLUMNS if (v.shaping.goal or c != "conversion_rate")
         and (c != "revenue" or result.variants.revenue.sum() != 0)]  # no value column: no revenue column
table(result.variants, name="path_variants", key="variants", columns=shown)
with st.expander("Links as a table"):
    table(result.links, name="path_links", key="links")
