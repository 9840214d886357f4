"""What the Predict, Act and Customer pages share: customer lists that open a customer's own page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from app import auth, state
from app.ui import md, set_view, told, view
from journeys.audiences import Audience, Audiences
from journeys.export import TABLE_ROWS, safe_csv

CUSTOMER_PAGE = Path(__file__).parent / "screens" / "customer.py"


def customer_link(customer_id: str) -> str:
    """A relative link to the customer's page that keeps the rest of the view (never a secret in it)."""
    return "customer?" + urlencode({**view().to_params(), "cust": customer_id}, doseq=True)


def customer_table(frame: pd.DataFrame, *, name: str, key: str, names: dict[str, str] | None = None,
                   percent: tuple[str, ...] = ()) -> None:
    """Customers with an "open" link each (first 400 rows on screen), a CSV of every row (formula-safe), and a
    picker that opens one customer's page in this tab."""
    if len(frame) > TABLE_ROWS:
        st.caption(f"Showing the first {TABLE_ROWS:,} of {len(frame):,} customers; the download has them all.")
    shown = auth.shown(frame.head(TABLE_ROWS)).copy()  # personal data masked for viewers
    shown.insert(1, "open", [customer_link(str(c)) for c in shown["customer_id"]])
    config = {"open": st.column_config.LinkColumn("timeline", display_text="open")}
    for col in shown.columns:
        label = (names or {}).get(col, col.replace("_", " "))
        if col in percent:
            config[col] = st.column_config.NumberColumn(label, format="percent")
        elif col != "open":  # a state or reasons column needs room: its end is what matters
            config[col] = st.column_config.Column(label, width="large" if col in ("state", "reasons", "reason") else None)
    st.dataframe(shown, hide_index=True, key=f"df_{key}", column_config=config)
    row = st.container(horizontal=True)
    auth.customer_download(row, "Download CSV", lambda: safe_csv(frame, limit=max(1, len(frame))),
                           file_name=f"{name}.csv", key=f"dl_{key}", rows=len(frame), icon=":material/download:")
    ids = [str(c) for c in shown["customer_id"]]
    pick = row.selectbox("Customer", ids, index=None, key=f"pick_{key}", placeholder="open a customer…",
                         label_visibility="collapsed")
    if row.button("Open timeline", key=f"open_{key}", icon=":material/person:", disabled=pick is None) and pick:
        open_customer(pick)


def open_customer(customer_id: str) -> None:
    v = view()
    set_view(replace(v, act=replace(v.act, customer=customer_id)))
    st.switch_page(CUSTOMER_PAGE)


def save_audience_form(key: str, label: str, placeholder: str, save: Callable[[Audiences, str, bool], Audience],
                       *, caption: str = "") -> None:
    """A form that saves an audience: ``save(book, name, replace)`` computes its members and saves them. A blank
    or taken name, or a role that may not save, gets its sentence; a taken name is replaced only when ticked."""
    with st.form(f"{key}_save", border=True):
        if caption:
            st.caption(caption)
        name = st.text_input(label, key=f"{key}_aud_name", placeholder=placeholder)
        replace_it = st.checkbox("Replace an audience of this name", key=f"{key}_aud_replace")
        if not st.form_submit_button("Save as audience", icon=":material/group_add:", key=f"{key}_save_btn"):
            return
        if not auth.allowed("build_audience"):
            st.error(f"Your role ({auth.current().role}) cannot save audiences.")
            return
        book = Audiences(state.store().home)
        with told(), st.spinner("Saving…"):  # a name that cannot be used gets its sentence; the page stays
            book.check_name(name, replace_existing=replace_it)
            a = save(book, name, replace_it)
            st.success(md(f"Saved '{a.name}': {a.size:,} members, {a.control:,} in the control group."))


def utc_minute(iso: str) -> str:
    """A stored UTC time as a person reads it (2026-12-06 20:10); empty stays empty."""
    return iso[:16].replace("T", " ") if iso else ""


def refresh_audience(book: Audiences, name: str) -> None:
    """The Refresh button's callback: recompute before the page runs, so its list and preview show the new state;
    the outcome sentence waits in ``act_refreshed`` (an error starts with "!")."""
    from journeys.errors import JourneyError

    try:
        a = book.refresh(name, state.store())
        st.session_state["act_refreshed"] = f"Refreshed: {a.size:,} members."
    except JourneyError as err:
        st.session_state["act_refreshed"] = "!" + str(err)


def push_audience(book: Audiences, name: str) -> None:
    """The Push button's callback (to the URL typed in ``act_url``): push before the page runs, so the list shows
    the push; the outcome sentence waits in ``act_pushed`` (an error starts with "!"). Each push is audited."""
    from journeys.auth import audit
    from journeys.errors import JourneyError
    from journeys.webhook import destination_label

    url = str(st.session_state.get("act_url") or "")
    try:
        done = book.push(name, url)
        a = book.get(name)
        audit.record("push_audience", a.name, user=auth.current().name,
                     detail={"destination": destination_label(url), "members": a.size - a.control})
        st.session_state["act_pushed"] = done.sentence()
    except JourneyError as err:
        st.session_state["act_pushed"] = "!" + str(err)
