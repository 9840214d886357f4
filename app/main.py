"""Entry point: URL -> view state, the shared sidebar, navigation, and view state -> URL."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# a local file: a Material icon here makes the browser fetch the favicon from a font host (fails offline)
st.set_page_config(page_title="journeys", page_icon=str(Path(__file__).parent / "static" / "favicon.png"), layout="wide")
# A new session (a new tab) has not loaded the chart library yet: several MB of JavaScript that take the browser
# about 1.5 s to load. A blank 10 px chart sent first lets it load while Python imports and computes the page's
# first chart; it is removed when the page is done.
warm_up = st.empty()
if "view" not in st.session_state:
    warm_up.plotly_chart({"data": [{"type": "scatter", "x": [], "y": []}], "layout": {"height": 10, "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
                                                 "xaxis": {"visible": False}, "yaxis": {"visible": False}}},
                         config={"staticPlot": True, "displayModeBar": False})

from app import auth, sidebar, state  # noqa: E402  (after the warm-up, so the browser loads while these import)
from app.ui import PageDone, explained, link_banner, link_problem, view  # noqa: E402
from journeys.views import ViewState  # noqa: E402

auth.gate(on_halt=warm_up.empty)  # sign-in on a team server (or through an identity provider) before anything reads data

if "view" not in st.session_state:
    # the URL is read once per session: afterwards the session's state is the truth and the URL follows it
    params = {k: st.query_params.get_all(k) for k in st.query_params}
    st.session_state["view"], problems = ViewState.from_params(params)
    for problem in problems:
        link_problem(problem)
    st.session_state["guess_goal"] = "goal" not in params
banner = st.container()  # filled last, so it lists what every part of the page found wrong with the link

try:
    with explained():
        state.store()
except PageDone:
    warm_up.empty()
    st.stop()  # no store, nothing else to draw
here = Path(__file__).parent / "screens"
pages = [
    st.Page(here / "paths.py", title="Paths", icon=":material/account_tree:", default=True),
    st.Page(here / "funnels.py", title="Funnels", icon=":material/filter_alt:"),
    st.Page(here / "journey_map.py", title="Journey map", icon=":material/map:"),
    st.Page(here / "graph.py", title="Transition graph", icon=":material/hub:"),
    st.Page(here / "compare.py", title="Compare", icon=":material/compare:"),
    st.Page(here / "drivers.py", title="Drivers", icon=":material/insights:"),
    st.Page(here / "attribution.py", title="Attribution", icon=":material/pie_chart:"),
    st.Page(here / "retention.py", title="Retention", icon=":material/event_repeat:"),
    st.Page(here / "voice.py", title="Voice of the customer", icon=":material/sentiment_satisfied:"),
    *[st.Page(here / f"{n}.py", title=t, icon=i) for n, t, i in (("predict", "Predict", ":material/online_prediction:"), ("act", "Act", ":material/campaign:"), ("customer", "Customer", ":material/person:"))],
    st.Page(here / "report.py", title="Report", icon=":material/description:"),
    st.Page(here / "data.py", title="Data", icon=":material/database:"),
    *([st.Page(here / "admin.py", title="Admin", icon=":material/admin_panel_settings:")] if auth.allowed("manage_users") else []),
]
page = st.navigation(pages)
has_data = sidebar.render()
try:
    if has_data or page.url_path == "data":
        # a page that has drawn its empty state or error ends early; the banner, URL and Copy link still follow
        with contextlib.suppress(PageDone):
            page.run()
    else:
        st.title("Welcome to journeys")
        st.info(auth.no_datasets())
finally:  # also after a page stops early (empty state, user error): the URL always follows the view
    warm_up.empty()
    link_banner(banner)
    st.query_params.from_dict(view().to_params())
    if has_data:
        sidebar.copy_link()
