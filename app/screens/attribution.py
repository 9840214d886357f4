"""Attribution: who gets the credit for the goal, by rule-based models and the exact Markov removal effect."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import streamlit as st

from app import state
from app.ui import chart, empty_state, explained, md, run, seed, set_view, stop, table, view
from journeys.analyses.attribution import MODEL_NAMES, MODELS, STATE_NAMES
from journeys.analyses.attribution_rules import (
    POSITION_PRESETS,
    format_position,
    normalised,
    transition_matrix,
)
from journeys.analyses.base import check_touchpoints
from journeys.charts_attribution import attribution_figure

LOOKBACKS = ["7", "14", "30", "60", "90", "all", "custom"]
SHAPES = {"U": "U-shaped 40/20/40", "J": "J-shaped 20/20/60", "inverse_J": "inverse J 60/20/20", "custom": "custom"}
SHOWN = ["model", "item", "conversions", "ci_low", "ci_high", "share", "value", "value_ci_low", "value_ci_high",
         "removal_effect", "value_removal_effect"]
NAMES = {"ci_low": "95% band low", "ci_high": "95% band high", "value_ci_low": "value band low",
         "value_ci_high": "value band high", "removal_effect": "removal effect", "value_removal_effect": "value removal effect",
         "share": "% of conversions"}

st.title("Attribution")
v = view()
a = v.attribution
info = state.store().get(v.dataset or "")
c1, c2, c3 = st.columns([1, 1, 3])
by_options = ["channel", "touchpoint", *info.attributes]
seed("a_by", a.by, by_options, what="attribution column", fallback="channel")
by = c1.selectbox("Credit", by_options, key="a_by")
days = None if a.lookback is None else a.lookback.total_seconds() / 86400
seed("a_lb", "all" if days is None else f"{days:g}" if f"{days:g}" in LOOKBACKS else "custom")
lookback = c2.selectbox("Lookback before the conversion", LOOKBACKS, key="a_lb",
                        format_func=lambda x: {"all": "whole journey", "custom": "custom…"}.get(x, f"{x} days"))
seed("a_models", list(a.models), list(MODELS))
models = c3.multiselect("Models", list(MODELS), key="a_models", format_func=MODEL_NAMES.__getitem__)
with st.expander("Model settings"):
    s1, s2, s3, s4 = st.columns(4)
    seed("a_lb_days", max(1, round(days or 30)))
    custom_days = s1.number_input("Custom lookback (days)", min_value=1, max_value=3660, key="a_lb_days",
                                  disabled=lookback != "custom")
    seed("a_hl", max(1, round(a.half_life.total_seconds() / 86400)))
    half_life = s2.number_input("Time-decay half-life (days)", min_value=1, max_value=365, key="a_hl")
    seed("a_order", a.order)
    order = s3.selectbox("Markov order", [1, 2, 3, 4], key="a_order")
    seed("a_boot", a.bootstrap)
    boot = s4.number_input("Bootstrap resamples (0 = no bands)", min_value=0, max_value=2000, step=50, key="a_boot")
    shape_name = format_position(a.position)
    seed("a_pos", shape_name if shape_name in POSITION_PRESETS else "custom")
    shape = st.radio("Position-based", list(SHAPES), key="a_pos", format_func=SHAPES.__getitem__, horizontal=True)
    w1, w2, w3 = st.columns(3)
    for col, key, label, w in zip((w1, w2, w3), ("a_w1", "a_w2", "a_w3"), ("first %", "middle %", "last %"),
                                  normalised(a.position), strict=True):
        seed(key, round(100 * w))
        col.number_input(label, min_value=0, max_value=100, key=key, disabled=shape != "custom")
weights = ((st.session_state.a_w1, st.session_state.a_w2, st.session_state.a_w3) if shape == "custom"
           else POSITION_PRESETS[shape])
goals = v.outcomes.goals or ((v.shaping.goal,) if v.shaping.goal else ())
if not goals:
    empty_state("Pick a goal touchpoint in the sidebar: attribution shares out the credit for reaching it.")
    stop()
if not models:
    empty_state("Pick at least one model.")
    stop()
if sum(weights) <= 0:
    empty_state("Give the position-based model some weight (first, middle or last).")
    stop()
span = None if lookback == "all" else timedelta(days=int(custom_days if lookback == "custom" else lookback))
set_view(replace(v, attribution=replace(a, by=by, lookback=span, models=tuple(m for m in MODELS if m in models),
                                        half_life=timedelta(days=int(half_life)), order=int(order),
                                        bootstrap=int(boot), position=normalised(weights))))
v = view()
query = replace(v.attribution, goals=goals)
with explained():
    check_touchpoints(goals, state.touchpoints(v))
    query.validate()
result = run("Sharing out the credit…", lambda: state.attribution(v, v.segment, query))
m1, m2, m3, m4 = st.columns(4)
m1.metric("Journeys", f"{result.journeys:,}")
m2.metric("Conversions", f"{result.conversions:,}", f"{result.uncredited:,} without a touch to credit",
          delta_color="off", delta_arrow="off")
m3.metric("Value", "—" if result.value is None else f"{result.value:,.2f}")
m4.metric("P(conversion), Markov chain", "—" if result.p_conversion is None else f"{result.p_conversion:.2%}",
          f"{result.conversions / result.journeys:.2%} of journeys converted" if result.journeys else None,
          delta_color="off", delta_arrow="off",
          help="The chain's estimate over the journeys with a touch to credit in the lookback; the share below "
               "counts every journey.")
window = "over the whole journey" if span is None else f"in the {span.days} days before it"
st.caption(md(f"Credit for reaching {' or '.join(goals)} by {by}: touches strictly before a journey's first goal event, "
              f"{window}. Markov: exact removal effects of an order-{order} chain (linear algebra, no simulation). "
              + (f"Whiskers: 95% bands from {boot} bootstrap resamples of journeys." if boot else "No bands (0 resamples).")))
for w in result.warnings:
    st.warning(md(w), icon=":material/warning:")
seed("a_what", v.attribution_show, ["conversions", "value"])
what = st.radio("Show", ["conversions", "value"], key="a_what", horizontal=True,
                disabled=result.value is None, format_func=lambda x: f"{x} credited")
set_view(replace(view(), attribution_show=what))  # the link reopens the same chart
chart(attribution_figure(result, what if result.value is not None else "conversions"), name="attribution", key="bars")
st.subheader(f"Conversions credited per {by} and model", anchor=False)
wide = result.wide("conversions").rename(columns=MODEL_NAMES).reset_index().rename(columns={"item": by})
table(wide, name="attribution_by_model", key="wide")
with st.expander(f"Every (model, {by}) row with bands ({len(result.credits):,} rows)"):
    table(result.credits.assign(model=result.credits.model.map(MODEL_NAMES)), name="attribution", key="long",
          columns=SHOWN, names=NAMES)
st.subheader("The Markov chain", anchor=False)
st.caption("Transition probabilities between the states, weighted by journeys (ChannelAttribution's conventions: "
           "consecutive repeats merged, converting and non-converting journeys as weights).")
chain = transition_matrix(result)
chain[["from", "to"]] = chain[["from", "to"]].replace(STATE_NAMES)  # absorbing states in words, not "(null)"
table(chain, name="markov_transitions", key="chain", names={"journeys": "journeys (weight)"})
if by in ("channel", "touchpoint") and st.button(f"Open the transition graph by {by}", key="a_graph",
                                                    icon=":material/hub:"):
    set_view(replace(v, shaping=replace(v.shaping, node=by)))
    st.switch_page("screens/graph.py")
