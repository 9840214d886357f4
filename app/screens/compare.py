"""Compare: any analysis for segment A (the sidebar's) and segment B, side by side (paths: one above the other)."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from app import state
from app.sidebar import segment_builder
from app.tables import NODE_COLUMNS, STEP_COLUMNS, VARIANT_COLUMNS
from app.ui import chart, default_funnel_steps, empty_state, md, run, seed, set_view, stop, table, view
from journeys import charts

st.title("Compare segments")
v = view()
seed("c_kind", v.compare)
kind = st.radio("Analysis", ["funnel", "paths", "graph"], horizontal=True, key="c_kind",
                format_func={"funnel": "Funnel", "paths": "Paths", "graph": "Transition graph"}.__getitem__)
st.caption("Segment A is the sidebar's segment. Segment B is everyone else until you build it here. The funnel "
           "uses the steps of the Funnels page, paths the settings of the Paths page.")
with st.container(border=True):
    st.markdown("**Segment B**")
    seg_b = segment_builder("sb", v.segment_b, where=st)
if seg_b != v.segment_b:
    set_view(replace(v, segment_b=seg_b))
    st.rerun()
set_view(replace(v, compare=kind))
v = view()
goal = v.shaping.goal
segment_b = v.segment_b if not v.segment_b.is_empty else v.segment.complement()
if v.segment.is_empty and segment_b.is_empty:
    empty_state("Both segments are all customers. Add a filter to segment A in the sidebar, or build segment B "
                "above, to compare two groups.")
    stop()
colours = charts.touchpoint_colours(state.touchpoints(v))
funnel = v.funnel() or replace(v, funnel_steps=default_funnel_steps(v, state.touchpoints(v))).funnel()
if kind == "funnel" and funnel is None:
    empty_state("This dataset has too few touchpoints for a funnel.")
    stop()

segments = (v.segment, segment_b)
graphs = {}
colour_range: tuple[float | None, float | None] = (None, None)
if kind == "graph":
    # both sides share one P(goal) colour range so a colour means the same probability on each
    graphs = {name: run("Counting…", lambda seg=seg: state.transitions(v, seg)) for name, seg in zip("AB", segments, strict=True)}
    colour_range = charts.graph_colour_range(*(g for g in graphs.values() if not g.is_empty))
# half-width Sankeys crowd their labels at the later steps, so paths stack A above B at full width
places = [st.container(), st.container()] if kind == "paths" else st.columns(2)
for col, name, seg in zip(places, ("A", "B"), segments, strict=True):
    with col:
        st.subheader(f"Segment {name}")
        st.caption(md(seg.describe(goal).capitalize()))
        if kind == "funnel" and funnel is not None:
            f = run("Counting…", lambda seg=seg: state.funnel(v, seg, funnel))
            if f.entered == 0:
                empty_state("Nobody in this segment entered the funnel.")
                continue
            st.metric("Converted", f"{f.steps.conversion_from_start.iloc[-1]:.1%}", f"{f.entered:,} entered",
                      delta_color="off", delta_arrow="off")
            chart(charts.funnel_figure(f), name=f"funnel_{name}", key=f"cf_{name}")
            table(f.steps, name=f"funnel_{name}", key=f"cft_{name}", columns=STEP_COLUMNS)
        elif kind == "paths":
            p = run("Tracing…", lambda seg=seg: state.paths(v, seg))
            if p.is_empty:
                empty_state("No journeys in this segment.")
                continue
            st.caption(f"{p.journeys_covered:,} journeys ({p.coverage:.1%} of the segment)")
            chart(charts.sankey_figure(p, pct=v.pct, height=480, colours=colours), name=f"paths_{name}", key=f"cp_{name}")
            table(p.variants, name=f"variants_{name}", key=f"cpt_{name}", columns=VARIANT_COLUMNS)
        else:
            g = graphs[name]
            if g.is_empty:
                empty_state("No journeys in this segment.")
                continue
            st.caption(f"{g.journeys:,} journeys, {g.transitions:,} transitions")
            chart(charts.graph_figure(g, cmin=colour_range[0], cmax=colour_range[1]), name=f"graph_{name}", key=f"cg_{name}")
            table(g.nodes, name=f"touchpoints_{name}", key=f"cgt_{name}", columns=NODE_COLUMNS)
