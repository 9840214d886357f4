"""One customer: their own journey as a timeline, their score with its reasons, and their next best action.
Opened from any customer list (``?cust=ID``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

import pandas as pd
import streamlit as st

from app import auth, state
from app.ui import empty_state, md, run, seed, set_view, stop, table, view
from journeys.analyses.nba import NO_RECOMMENDATION, NBAQuery
from journeys.analyses.predict import REASONS_NOTE, TIMELINE_ROWS, last_day_of
from journeys.errors import JourneyError
from journeys.segments import Segment

T = TypeVar("T")


def soft(label: str, fn: Callable[[], T]) -> T | None:
    """Like ``run``, but a user error (data too short for the model) is a note and the timeline still shows."""
    try:
        with st.spinner(label, show_time=True):
            return fn()
    except JourneyError as err:
        st.info(md(f"No score or next best action here: {err.message} On the Predict page, pick a shorter "
                   "'Within (days)' or a later 'As of' date."), icon=":material/info:")
        return None


st.title("Customer")
v = view()
seed("cu_id", v.act.customer or "")
customer = st.text_input("Customer id", key="cu_id", placeholder="paste an id, or open one from a list").strip()
set_view(replace(v, act=replace(v.act, customer=customer or None)))
v = view()
if not customer:
    empty_state("Open a customer from a list (Predict, Act, Funnels), or paste their id.")
    stop()
events, total = run("Reading the journey…", lambda: state.timeline(v, customer))
if not total:
    empty_state(f"No customer '{auth.shown_text(customer)}' in this dataset.")
    stop()
first, last = pd.Timestamp(events.ts.iloc[0]), pd.Timestamp(events.ts.iloc[-1])
st.subheader(md(auth.shown_text(customer)), anchor=False)  # an e-mail or phone id is masked for viewers
c1, c2, c3 = st.columns(3)
c1.metric("Events", f"{total:,}")
c2.metric("First seen", f"{first:%Y-%m-%d}" if total <= TIMELINE_ROWS else "—")
c3.metric("Last seen", f"{last:%Y-%m-%d}")

q = v.act.predict_query(v.effective_outcomes())  # the same churn definition as the Predict and Retention pages
if q.target == "conversion" and not q.outcomes.goals:
    st.caption("Pick a goal on the Predict page to see this customer's conversion score.")
else:
    r = soft("Scoring…", lambda: state.predict(v, Segment(), q))
    mine = r.scores[r.scores.customer_id == customer] if r is not None else pd.DataFrame()
    if r is None:
        pass  # said by soft()
    elif r.offered is None:
        st.caption(md(r.message))
    elif mine.empty:
        st.info(md(f"Not scored: at the end of {last_day_of(r.scoring_cutoff)} this journey is not open (churned, or silent for "
                   f"more than {r.inactivity_days} days)."))
    else:
        s = mine.iloc[0]
        rank = int(mine.index[0]) + 1
        st.metric(f"P({r.what})", f"{s.score:.1%}" if s.score < 0.999 else "over 99.9%", help=f"{r.offered}; rank {rank:,} of {len(r.scores):,}")
        said = [p for p in str(s.reasons).split("; ") if p]
        for reason in said:
            st.text("• " + reason)  # plain text: touchpoint names are user data
        if said:
            st.caption(REASONS_NOTE)
if v.act.actions and v.outcomes.goals:
    n = soft("Next best action…", lambda: state.nba(v, Segment(), NBAQuery(actions=v.act.actions,  # as the score
                                                                            outcomes=v.outcomes, order=v.act.order),
                                                    as_of=v.act.as_of))
    row = n.customers[n.customers.customer_id == customer] if n is not None else pd.DataFrame()
    if n is None:
        pass  # said by soft()
    elif not row.empty and row.iloc[0].action != NO_RECOMMENDATION:
        b = row.iloc[0]
        group = " (control group: do not act)" if b.control else ""
        st.text(f"Next best action: {b.action}{group}: {b.uplift * 100:+.1f} pp (95% {b.ci_low * 100:+.1f} to "
                f"{b.ci_high * 100:+.1f} pp; {int(b.support):,} customers took it from {b.state})")
    else:
        st.caption("No supported next best action for this journey.")

st.subheader("Timeline, newest first", anchor=False)
if total > TIMELINE_ROWS:
    st.caption(f"The last {TIMELINE_ROWS:,} of {total:,} events.")
table(events.iloc[::-1].reset_index(drop=True), name=f"customer_{customer}", key="cu_events")  # recent on top
