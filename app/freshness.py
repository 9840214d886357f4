"""Noticing a dataset that changed under an open view (``journeys watch`` or another person's load).

The sidebar checks the dataset's event count every few seconds without rerunning the page. When it grew,
it says how many events arrived since the view was opened and offers Refresh; with auto-refresh on, the
page reruns by itself. The view state lives in the session, so nothing the person chose is lost, and
cached results are keyed by the dataset's fingerprint, so a refresh computes on the new data.

The same check shows how far the background sentiment scoring of a big load has got (figures that read
sentiment are keyed by its progress too), and offers Refresh once it is done.
"""

from __future__ import annotations

import streamlit as st

from app import state
from app.ui import md, view

CHECK_EVERY_S = 5


def _baseline(dataset: str, rows: int, *, reset: bool = False) -> int:
    seen: dict[str, int] = st.session_state.setdefault("rows_seen", {})
    if reset or dataset not in seen:
        seen[dataset] = rows
    return seen[dataset]


def new_data_notice() -> None:
    """Sidebar notice "new data: N events since you opened this view", Refresh, and an auto-refresh toggle."""
    dataset = view().dataset
    if not dataset:
        return
    _baseline(dataset, state.store().get(dataset).rows)
    auto = st.sidebar.toggle("Auto-refresh on new data", key="auto_refresh")
    if (p := state.sentiment_progress(dataset)) is not None:  # this whole run computes figures at this progress
        st.session_state.setdefault("sentiment_seen", {})[dataset] = p.version

    @st.fragment(run_every=CHECK_EVERY_S)
    def check() -> None:
        sentiment_notice(dataset)
        now = state.store().get(dataset).rows
        then = _baseline(dataset, now)
        if now == then:
            return
        if auto:
            _baseline(dataset, now, reset=True)
            st.rerun(scope="app")
        st.info(f"New data: {now - then:+,} events since you opened this view.", icon=":material/update:")
        if st.button("Refresh", key="fresh_refresh", icon=":material/refresh:"):
            _baseline(dataset, now, reset=True)
            st.rerun(scope="app")

    with st.sidebar:
        check()


def sentiment_notice(dataset: str) -> None:
    """"Sentiment: 340,000 of 1,000,000 texts scored; the rest are being scored in the background (about 3 min
    left)." while a job runs or after it stopped; once it is done, a Refresh for pages computed before."""
    p = state.sentiment_progress(dataset)
    if p is None:
        return
    seen: dict[str, int] = st.session_state.setdefault("sentiment_seen", {})
    if p.state != "done":
        st.caption(md(p.sentence()))
    elif seen.get(dataset, p.version) < p.version:  # finished since the page ran: its figures are partial
        st.info(md(p.sentence()), icon=":material/sentiment_satisfied:")
        if st.button("Refresh", key="sentiment_refresh", icon=":material/refresh:"):
            seen[dataset] = p.version
            st.rerun(scope="app")
