"""Funnels: step builder, window, ordering, exclusions, breakdown, trend, and drop-off drill-down."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import streamlit as st

from app import state
from app.tables import STEP_COLUMNS, step_table
from app.ui import (
    chart,
    customer_list,
    default_funnel_steps,
    empty_state,
    explained,
    link_problem,
    md,
    run,
    seed,
    set_view,
    stop,
    table,
    view,
)
from journeys import charts
from journeys.analyses.base import check_touchpoints
from journeys.analyses.funnels import GAP_FLOOR, MAX_STEPS, Exclusion, step_gaps
from journeys.durations import format_duration, humanize_seconds

st.title("Funnels")
v = view()
tps = state.touchpoints(v)
defaults = default_funnel_steps(v, tps)
guessed = default_funnel_steps(replace(v, funnel_steps=()), tps)
seed("f_n", len(defaults))
n = st.number_input("Steps", min_value=1, max_value=MAX_STEPS, key="f_n")
cols = st.columns(min(int(n), 5))
steps = []
for k in range(int(n)):
    seed(f"f_step_{k}", list(defaults[k]) if k < len(defaults) else [], tps, what=f"step {k + 1} touchpoint",
         fallback=list(guessed[k]) if k < len(guessed) else tps[:1])
    pick = cols[k % len(cols)].multiselect(f"Step {k + 1}", tps, key=f"f_step_{k}", placeholder="touchpoint(s)")
    steps.append(tuple(pick))
c1, c2, c3, c4 = st.columns(4)
days = v.funnel_window.total_seconds() / 86400
if "f_window" not in st.session_state and days != int(days):  # the page counts whole days; a link may say 1h
    whole = max(1, round(days))
    link_problem(f"The conversion window {format_duration(v.funnel_window)} is not a whole number of days: this page "
                 f"uses {whole} day{'s' if whole != 1 else ''}. The command line takes any length "
                 f"(journeys funnel --window {format_duration(v.funnel_window)}).")
seed("f_window", max(1, round(days)))
window = c1.number_input("Conversion window (days)", min_value=1, max_value=366, key="f_window")
seed("f_order", v.funnel_order)
order = c2.selectbox("Order", ["sequential", "strict", "any"], key="f_order",
                     format_func={"sequential": "in order, others between", "strict": "strictly next",
                                  "any": "any order"}.__getitem__)
info = state.store().get(v.dataset or "")
bd_options = ["", "channel", *info.attributes]
seed("f_bd", v.breakdown or "", bd_options, what="breakdown column", fallback="")
breakdown = c3.selectbox("Breakdown", bd_options, key="f_bd", format_func=lambda c: c or "(none)")
seed("f_trend", v.trend or "")
trend = c4.selectbox("Trend by entry", ["", "day", "week", "month"], key="f_trend", format_func=lambda c: c or "(none)")
with st.expander("Exclusion"):
    ex0 = v.funnel_exclusions[0] if v.funnel_exclusions else None
    seed("f_ex_tps", list(ex0.touchpoints) if ex0 else [], tps)
    ex_tps = st.multiselect("Disqualify if any of these happens…", tps, key="f_ex_tps")
    seed("f_ex_between", (ex0.after, ex0.before) if ex0 else (1, max(2, int(n))))
    between = st.slider("…between steps", 1, max(2, int(n)), key="f_ex_between", disabled=int(n) < 2)
exclusions = (Exclusion(tuple(ex_tps), between[0], between[1]),) if ex_tps and between[0] < between[1] else ()
with st.expander("Per-step windows"):
    st.caption("Optionally require a step within some minutes of the previous one (0 = only the overall window).")
    sw_cols = st.columns(4)
    step_windows: list[timedelta | None] = [None]
    for k in range(2, int(n) + 1):
        old = v.funnel_step_windows[k - 1] if k - 1 < len(v.funnel_step_windows) else None
        seed(f"f_sw_{k}", max(1, int(old.total_seconds() // 60)) if old else 0)
        minutes = sw_cols[(k - 2) % 4].number_input(f"Step {k} within (minutes)", min_value=0,
                                                     max_value=366 * 24 * 60, key=f"f_sw_{k}")
        step_windows.append(timedelta(minutes=int(minutes)) if minutes else None)

if any(not s for s in steps):
    empty_state("Pick at least one touchpoint for every step.")
    stop()
set_view(replace(v, funnel_steps=tuple(steps), funnel_window=timedelta(days=int(window)), funnel_order=order,
                 funnel_exclusions=exclusions, breakdown=breakdown or None, trend=trend or None,
                 funnel_step_windows=tuple(step_windows) if any(step_windows) else ()))
v = view()
query = v.funnel()
assert query is not None
with explained():
    check_touchpoints([t for s in steps for t in s], tps)
    query.validate()
result = run("Counting the funnel…", lambda: state.funnel(v, v.segment, query))
if result.entered == 0:
    empty_state(f"No journey in this segment did {query.labels[0]} in the date range, so nobody entered the funnel.")
    stop()

last = result.steps.iloc[-1]
a, b, c = st.columns(3)
a.metric("Entered", f"{result.entered:,}")
b.metric("Converted", f"{int(last.customers):,}", f"{last.conversion_from_start:.1%} of entered", delta_color="off", delta_arrow="off")
c.metric("Median time to convert", humanize_seconds(last.median_s if len(result.steps) > 1 else None))
st.caption("A journey counts at the furthest step of any attempt that starts at step 1 and completes within the "
           f"window ({int(window)} day{'s' if int(window) != 1 else ''}). Click a bar, or pick a step below, to see what dropped-off journeys did next.")
event = chart(charts.funnel_figure(result), name="funnel", key="funnel", on_select="rerun", selection_mode="points")
if result.breakdown is not None:
    st.subheader("Each step by " + md(breakdown), anchor=False)
    gaps = step_gaps(result)
    if gaps:
        st.warning(md(gaps[0].sentence(limit=60)), icon=":material/compare_arrows:")
    else:
        st.caption(f"No step has two {md(breakdown)} values with {GAP_FLOOR}+ journeys to compare.")
    chart(charts.breakdown_figure(result), name="breakdown", key="bd")
    table(step_table(result), name="funnel_breakdown_by_step", key="bdsteps")

picked = None
points = (event.get("selection", {}) or {}).get("points", []) if event else []
if points:
    picked = int(points[0].get("point_index", points[0].get("point_number", 0))) + 1
stop_steps = list(range(1, len(steps)))
if stop_steps:
    if picked in stop_steps:
        st.session_state["f_drop"] = picked
    biggest = max(stop_steps, key=lambda k: (int(result.steps.drop_off.iloc[k - 1]), -k))
    seed("f_drop", v.funnel_drop if v.funnel_drop in stop_steps else biggest, stop_steps)
    drop = st.selectbox("Dropped after step", stop_steps, key="f_drop",
                        format_func=lambda k: f"{k}. {query.labels[k - 1]} ({int(result.steps.drop_off.iloc[k - 1]):,} dropped)")
    set_view(replace(view(), funnel_drop=None if drop == biggest else int(drop)))  # the link reopens this step
    nxt = result.next_after_drop[result.next_after_drop.step == drop]
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**What journeys that stopped after this step did next**")
        st.text(f"{drop}. {query.labels[drop - 1]}")  # user data: plain text
        table(nxt[["next_touchpoint", "customers"]], name=f"next_after_step_{drop}", key="next")
    with right:
        ids = run("Listing customers…", lambda: state.dropped(v, v.segment, query, drop))
        customer_list(ids, name=f"dropped_after_step_{drop}", key="dropped")

st.subheader("Steps")
table(result.steps, name="funnel_steps", key="steps", columns=STEP_COLUMNS)
st.subheader("Time to convert")
chart(charts.time_figure(result), name="time_to_convert", key="time")
if result.trend is not None:
    st.subheader(f"Conversion by {trend} of entry")
    chart(charts.trend_figure(result), name="trend", key="trend")
    table(result.trend, name="funnel_trend", key="trendt")
if result.breakdown is not None:
    with st.expander(f"Breakdown as a long table ({len(result.breakdown):,} rows)"):
        table(result.breakdown, name="funnel_breakdown", key="bdt")
