"""Voice of the customer: the emotion curve, touchpoints by negative share, the text explorer, and what
customers did after a negative against a positive interaction."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from app import state
from app.ui import chart, empty_state, explained, md, run, seed, set_view, stop, table, view
from journeys import charts_voice
from journeys.analyses.scores import parse_scale
from journeys.analyses.voice import TEXT_FLOOR, VoicePage, default_query
from journeys.io.sentiment import BAND_CUT
from journeys.segments import Filter, Segment

st.title("Voice of the customer")
v = view()
tps = state.touchpoints(v)
info = state.store().get(v.dataset or "")
c1, c2 = st.columns(2)
seed("voice_tp", v.voice.touchpoint or "", ["", *tps], what="text explorer touchpoint", fallback="")
focus = c1.selectbox("Text explorer: touchpoint", ["", *tps], key="voice_tp", format_func=lambda t: t or "(every touchpoint)")
SCALE_NAMES = {"auto": "detect", "1-5": "CSAT 1-5", "1-7": "CSAT 1-7", "0-10": "NPS 0-10"}
scales = ["auto", "1-5", "1-7", "0-10"] + ([v.voice.scale] if v.voice.scale not in ("auto", "1-5", "1-7", "0-10") else [])
seed("voice_scale", v.voice.scale, scales)
scale = c2.selectbox("Score scale", scales, key="voice_scale",
                     format_func=lambda x: SCALE_NAMES.get(x, f"scores {x}"))  # a confirmed LO-HI shows as itself
set_view(replace(v, voice=VoicePage(touchpoint=focus or None, scale=scale)))
v = view()
query = default_query(tps, v.shaping.goal, outcomes=v.outcomes, stages=v.stages(tps), touchpoint=v.voice.touchpoint,
                      scale=v.voice.scale)
progress = state.sentiment_progress(info.id)  # a big load's texts are scored in the background
result = run("Listening to customers…", lambda: state.voice(v, v.segment, query))


def confirm_scale(problem: str) -> None:
    """Scores on no known scale: say so, and let the user give the scale."""
    st.warning(md(problem), icon=":material/straighten:")
    custom = st.text_input("Confirm the score scale (LO-HI)", key="voice_custom", placeholder="e.g. 1-10")
    if custom and st.button("Use this scale", key="voice_custom_go"):
        with explained():
            parse_scale(custom)
        set_view(replace(v, voice=VoicePage(touchpoint=v.voice.touchpoint, scale=custom.strip())))
        st.session_state.pop("voice_scale", None)
        st.rerun()


if not result.has_text and result.scores is None and result.scores_problem:  # scores, on a scale to confirm
    st.caption(md(f"The dataset '{info.name}' has scores but no text: pick their scale above, or confirm it here."))
    confirm_scale(result.scores_problem)
    stop()
if not result.has_text and result.scores is None:
    empty_state(f"The dataset '{info.name}' has no text (feedback, chat or call transcripts) and no score column, so "
                "there is nothing customers said to show. Load the file again on the Data page and map its text column "
                "to the 'text' role (and a CSAT or NPS column to 'score'); on the command line: journeys ingest FILE "
                "--map text=COLUMN --map score=COLUMN. Sentiment is scored when the file is loaded.")
    stop()
if progress is not None and progress.state != "done":
    st.info(md(progress.sentence()), icon=":material/hourglass_top:")
background = progress is not None and progress.state == "running"
st.caption(md(result.coverage.sentence(background=background)) + f" Bands follow VADER: compound ≥ {BAND_CUT} "
           f"positive, ≤ -{BAND_CUT} negative. Touchpoints and stages with fewer than {TEXT_FLOOR} texts get no average "
           "or rank.")

st.subheader("Emotion curve", anchor=False)
score_name = result.scores.name if result.scores is not None else "score"
score_range = (result.scores.lo, result.scores.hi) if result.scores is not None else None
if note := charts_voice.curve_note(result.curve):
    st.caption(note + " Stages are guessed from touchpoint names; correct them on the Journey map page (the link "
               "carries the corrections here and into the report).")
chart(charts_voice.emotion_curve_figure(result.curve, score_name=score_name, score_range=score_range),
      name="emotion_curve", key="curve")
table(result.curve, name="emotion_curve", key="curvet")

findings = result.findings()
st.subheader("What customers did after a negative interaction", anchor=False)
st.caption(f"Per touchpoint: customers whose first rated interaction there was negative (or a low score) against "
           f"those whose first was positive (or top-2-box); conversion = {' or '.join(query.outcomes.goals) or 'no goal set'}"
           f" after it; {md(result.churn if result.churn.startswith('churn is not') else result.churn + ' after it')}."
           " Odds ratios with 95% intervals; comparisons with fewer than 30 "
           "customers a side or 5 in a cell are hidden.")
for sentence in findings:
    st.warning(md(sentence[0].upper() + sentence[1:]), icon=":material/sentiment_dissatisfied:")
hidden = int((~result.behaviour.shown).sum())
if not findings and hidden and not result.behaviour.shown.any():
    st.info("Too few customers to tell: every comparison has fewer than 30 customers a side or 5 in a cell.")
elif not findings:
    st.info("No touchpoint shows a negative interaction followed by clearly more churn or less conversion.")
if hidden:
    st.caption(f"{hidden} {'comparison' if hidden == 1 else 'comparisons'} hidden (too few customers); "
               f"{'it is' if hidden == 1 else 'they are'} in the CSV.")
table(result.behaviour[result.behaviour.shown], name="voice_behaviour", key="beh",  # fits the page; the CSV has all
      columns=["touchpoint", "signal", "outcome", "exposed_rate", "baseline_rate", "odds_ratio", "ci_low", "ci_high",
               "p_value"],
      names={"exposed_rate": "rate after it", "baseline_rate": "rate otherwise", "ci_low": "CI low",
             "ci_high": "CI high", "p_value": "p"})

if result.has_text:
    st.subheader("Touchpoints by negative share", anchor=False)
    if result.touchpoints.shown.any():
        chart(charts_voice.negative_share_figure(result.touchpoints), name="negative_share", key="neg")
    table(result.touchpoints, name="voice_touchpoints", key="tpt")
    felt = Segment((Filter("felt", ("negative", *([focus] if focus else []))),))
    seg_row = st.container(horizontal=True)
    seg_row.text("Segment: " + felt.describe())  # user data: plain text
    if seg_row.button("Open as segment", key="voice_seg", icon=":material/filter_alt:"):
        set_view(replace(v, segment=felt))
        st.rerun()
    if seg_row.button("Compare with everyone else", key="voice_cmp", icon=":material/compare:"):
        set_view(replace(v, segment=felt, segment_b=Segment(), compare="funnel"))
        st.switch_page("screens/compare.py")
    st.subheader("Text explorer" + (f": {md(focus)}" if focus else ""), anchor=False)
    left, right = st.columns(2)
    with left:
        st.markdown("**Most negative texts** (as written; how often)")
        if result.snippets.empty:
            st.caption("No negative text here.")
        for r in result.snippets.itertuples():
            st.text(f"{r.sentiment:+.2f}  ×{r.times:,}  {r.text}")  # user text: plain, never Markdown or HTML
    with right:
        st.markdown("**Words and phrases over-represented in negative texts**")
        if result.terms_texts_capped:
            st.caption("Read from the 200,000 most frequent distinct texts.")
        # four columns fit half the page; the CSV keeps the shares too
        table(result.terms, name="negative_terms", key="terms", rows_shown=len(result.terms),
              columns=["term", "negative_texts", "other_texts", "negative_share"],
              names={"negative_share": "% of negative texts"})

if result.scores_problem:
    confirm_scale(result.scores_problem)
if result.scores is not None:
    s = result.scores
    st.subheader(f"Scores ({s.name})", anchor=False)
    m1, m2, m3 = st.columns(3)
    m1.metric("Responses", f"{s.responses:,}")
    m2.metric("Average", f"{s.average:.2f}" if s.average is not None else "–")
    m3.metric("NPS" if s.is_nps else "Top-2-box", f"{s.nps:+.0f}" if s.nps is not None else
              (f"{s.top2_share:.1%}" if s.top2_share is not None else "–"))
    for sentence in s.sentences():
        st.caption(md(sentence))
    for label, frame, key in (("touchpoint", s.by_touchpoint, "st"), ("stage", s.by_stage, "ss"),
                              ("channel", s.by_channel, "sc")):
        st.markdown(f"**By {label}**")
        table(frame.rename(columns={"group": label}), name=f"scores_by_{label}", key=key)
