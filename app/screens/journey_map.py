"""Journey map: stages as columns, touchpoints under each, the biggest drop-offs flagged as pain points."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from app import state
from app.tables import MAP_COLUMNS
from app.ui import chart, echo, empty_state, md, run, set_view, stop, table, view
from journeys import charts, charts_voice
from journeys.analyses.journey_map import STAGE_ORDER, stage_edits
from journeys.analyses.scores import parse_scale

st.title("Journey map")
v = view()
tps = state.touchpoints(v)
unknown = [tp for tp, _ in v.stage_edits if tp not in set(tps)]
if unknown:
    st.caption("Stage edits for touchpoints not in this view were left out: " + md(", ".join(unknown)) + ".")
# the edits live in the view (the link's stg), so a shared link, the VoC page and the report use the same stages.
# The editor keeps one key while people edit (its edits pile up in its state); it starts over from the view only
# when the view's edits change from elsewhere (a link opened, another page)
base = f"jm_stages_{v.dataset}_{hash(v.shaping)}"
editor_key = f"{base}_editor_{st.session_state.get(f'{base}_gen', 0)}"
# an editor whose state Streamlit dropped (the page was left) would show its first table, not the edits since
if st.session_state.get(f"{base}_wrote") != v.stage_edits or editor_key not in st.session_state:
    st.session_state[f"{base}_gen"] = st.session_state.get(f"{base}_gen", 0) + 1
    st.session_state[f"{base}_frame"] = pd.DataFrame(v.stages(tps), columns=["touchpoint", "stage"])
    editor_key = f"{base}_editor_{st.session_state[f'{base}_gen']}"
# open when a link brings edits; then fixed, since a changed expander re-creates the editor under people's fingers
opened = st.session_state.setdefault(f"{base}_open", bool(v.stage_edits))
with st.expander("Stages of each touchpoint (guessed from names; edit to correct)", expanded=opened):
    edited = st.data_editor(st.session_state[f"{base}_frame"], hide_index=True, disabled=["touchpoint"], key=editor_key,
                            height=38 + 35 * min(len(tps), 30),  # every touchpoint without scrolling (up to 30)
                            column_config={"stage": st.column_config.SelectboxColumn(options=list(STAGE_ORDER), required=True)})
    stages = tuple((str(r.touchpoint), str(r.stage)) for r in edited.itertuples())
    edits = stage_edits(tps, stages)
    st.caption("Touchpoints in the churn stage are what the Voice of the customer page counts as churn, unless the "
               "outcomes say otherwise.")
if edits:  # outside the expander: seen when it is closed too
    st.caption(f"Stages: {len(edits):,} edited; the link keeps {'it' if len(edits) == 1 else 'them'}.")
if edits != v.stage_edits:
    set_view(replace(v, stage_edits=edits))
    v = view()
st.session_state[f"{base}_wrote"] = v.stage_edits
result = run("Mapping the journey…", lambda: state.journey_map(v, v.segment, stages))
if result.is_empty:
    empty_state(f"No journeys for {v.segment.describe(v.shaping.goal)} in this date range.")
    stop()
if not v.shaping.goal:
    st.info("Set a goal touchpoint in Journey shaping to see conversion onward from each touchpoint and to flag "
            "pain points (where unconverted journeys end).")

t = result.touchpoints
present = [s for s in STAGE_ORDER if s in set(t.stage)]
st.caption(f"{result.journeys:,} journeys. Reach = share of journeys that include the touchpoint; 'then' = the most "
           "common next touchpoint. Pain points (red): the touchpoints after awareness where the most unconverted "
           "journeys end. Time spent on each touchpoint (gaps under 30 minutes) is in the table below.")
if result.score_note:
    st.caption(md(result.score_note))
columns = st.columns(len(present))
for col, stage in zip(columns, present, strict=True):
    reach = result.stages.set_index("stage").reach.get(stage, 0.0)
    col.markdown(f"**{stage.capitalize()}**")
    col.caption(f"{reach:.0%} of journeys")
    for r in t[t.stage == stage].itertuples():
        box = col.container(border=True)
        box.text(echo(r.touchpoint))  # user data: plain text, never markdown or HTML; long names shortened
        lines = [f"{r.reach:.0%} reach · {r.journeys:,} journey{'s' if r.journeys != 1 else ''}"]
        if v.shaping.goal and pd.notna(r.conversion_onward):
            lines.append(f"{r.conversion_onward:.0%} convert after")
        if pd.notna(r.top_next):
            lines.append(f"then {r.top_next} ({r.top_next_share:.0%})")
        lines.append(f"{r.drop_off_rate:.0%} end here" + (" unconverted" if v.shaping.goal else ""))
        if pd.notna(r.avg_score):
            lines.append(f"score {r.avg_score:.2f}")
        box.text("\n".join(lines))
        if r.pain_point:
            box.markdown(f":red[**Pain point** · {r.drop_offs:,} journeys end here unconverted]")
curve = run("Reading how customers felt…", lambda: state.emotion_curve(v, v.segment, stages))
curve = curve[curve.stage.isin(present)]
if (curve.texts > 0).any() or (curve.responses > 0).any():  # the emotion curve under the stage columns
    st.caption("Emotion curve: average sentiment of texts (left) and average score (right) by stage; stages with "
               "fewer than 30 texts or responses are gaps. More on the Voice of the customer page.")
    if note := charts_voice.curve_note(curve):
        st.caption(note + " The stages are in 'Stages of each touchpoint' above.")
    if (progress := state.sentiment_progress(v.dataset or "")) is not None and progress.state != "done":
        st.caption(md(progress.sentence()) + " The emotion curve covers only the scored texts.")
    chart(charts_voice.emotion_curve_figure(curve, height=260, score_range=parse_scale(v.voice.scale)),
          name="emotion_curve", key="jm_curve")
st.subheader("Where to act", anchor=False)
st.caption("Each touchpoint by how many journeys reach it and " + ("how many convert after it" if v.shaping.goal else
           "how many end there") + ". Big bubbles low on the chart are the costly ones; red rings mark pain points.")
chart(charts.journey_map_figure(t, present, goal=v.shaping.goal), name="journey_map", key="jm")
table(t, name="journey_map", key="jmt", columns=MAP_COLUMNS)
