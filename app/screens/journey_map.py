"""Journey map: stages as columns, touchpoints under each, the biggest drop-offs flagged as pain points."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import state
from app.ui import chart, empty_state, run, table, view
from journeys import charts
from journeys.analyses.journey_map import STAGE_ORDER, infer_stages
from journeys.durations import humanize_seconds

st.title("Journey map")
v = view()
tps = state.touchpoints(v)
key = f"jm_stages_{v.dataset}_{hash(v.shaping)}"
if key not in st.session_state:
    st.session_state[key] = pd.DataFrame(infer_stages(tps), columns=["touchpoint", "stage"])
with st.expander("Stages of each touchpoint (guessed from names; edit to correct)"):
    edited = st.data_editor(st.session_state[key], hide_index=True, key=f"{key}_editor", disabled=["touchpoint"],
                            column_config={"stage": st.column_config.SelectboxColumn(options=list(STAGE_ORDER), required=True)})
stages = tuple((str(r.touchpoint), str(r.stage)) for r in edited.itertuples())
result = run("Mapping the journey…", lambda: state.journey_map(v, v.segment, stages))
if result.is_empty:
    empty_state(f"No journeys for {v.segment.describe(v.shaping.goal)} in this date range.")
    st.stop()
if not v.shaping.goal:
    st.info("Set a goal touchpoint in Journey shaping to see conversion onward from each touchpoint.")

present = [s for s in STAGE_ORDER if s in set(result.touchpoints.stage)]
st.caption(f"{result.journeys:,} journeys. Reach = share of journeys that include the touchpoint. "
           "Pain points (red): the touchpoints after awareness where the most unconverted journeys end.")
columns = st.columns(len(present))
for col, stage in zip(columns, present, strict=True):
    reach = result.stages.set_index("stage").reach.get(stage, 0.0)
    col.markdown(f"**{stage.capitalize()}**")
    col.caption(f"{reach:.0%} of journeys")
    for r in result.touchpoints[result.touchpoints.stage == stage].itertuples():
        box = col.container(border=True)
        box.text(r.touchpoint)  # user data: plain text, never markdown or HTML
        lines = [f"{r.reach:.0%} reach · {r.journeys:,}", f"time {humanize_seconds(r.median_time_s)}"]
        if v.shaping.goal and r.conversion_onward == r.conversion_onward:
            lines.append(f"{r.conversion_onward:.0%} convert after")
        if r.avg_score == r.avg_score:
            lines.append(f"CSAT {r.avg_score:.1f}")
        box.caption(" · ".join(lines))
        if r.pain_point:
            box.caption(f":red[**Pain point:** {r.drop_offs:,} journeys end here unconverted]")
chart(charts.journey_map_figure(result.touchpoints, present), name="journey_map", key="jm")
table(result.touchpoints, name="journey_map", key="jmt",
      column_config={c: st.column_config.NumberColumn(format="percent") for c in ("reach", "conversion_onward", "drop_off_rate")})
