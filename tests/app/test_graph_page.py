"""Transition graph page: pruning is reported; the segment survives the URL round trip."""

from __future__ import annotations

import json

from journeys.analyses.base import journeys_for
from journeys.analyses.transitions import GraphQuery, compute_transitions
from journeys.segments import Filter, Segment
from journeys.shaping import Shaping
from tests.app.conftest import _store, app, texts


def test_transition_graph_reports_what_it_hides(sample_id):
    at = app("screens/graph.py", ds=sample_id, minw="100")
    assert not at.exception
    r = compute_transitions(journeys_for(_store().table(sample_id), Shaping(goal="purchase")), GraphQuery(min_weight=100),
                            goal="purchase")
    assert any(f"{r.hidden_edges:,} edges carrying {r.hidden_transitions:,} transitions" in c for c in texts(at, "caption"))
    nodes = next(d.value for d in at.dataframe if "pagerank" in d.value.columns)
    assert list(nodes.touchpoint) == list(r.nodes.touchpoint)


def test_segment_url_round_trip(sample_id):
    seg = Segment((Filter("did", ("chat",)), Filter("did_not", ("purchase",))), "and")
    at = app("screens/graph.py", ds=sample_id, seg=seg.to_param())
    assert not at.exception
    assert json.loads(at.query_params["seg"]) == json.loads(seg.to_param())
    assert "Customers who did chat and did not do purchase" in " ".join(texts(at, "caption")).replace("\\\\", "")


def test_shaping_and_dates_from_the_link_reach_every_number(sample_id):
    from datetime import date, timedelta

    from journeys.views import filter_dates

    params = {"scope": "session", "gap": "45m", "collapse": "1", "node": "touchpoint_channel", "goal": "purchase",
              "cut": "1", "from": "2025-03-01", "to": "2025-06-30", "rule": "^email_=email", "excl": "^ad_impression$"}
    at = app("screens/graph.py", ds=sample_id, **params)
    assert not at.exception
    shaping = Shaping(scope="session", session_gap=timedelta(minutes=45), collapse_repeats=True,
                      node="touchpoint_channel", goal="purchase", cut_at_goal=True, rules=(("^email_", "email"),),
                      exclude=("^ad_impression$",))
    events = filter_dates(_store().table(sample_id), date(2025, 3, 1), date(2025, 6, 30))
    r = compute_transitions(journeys_for(events, shaping), goal="purchase")
    assert any(c.startswith(f"{r.journeys:,} journeys, {r.transitions:,} transitions") for c in texts(at, "caption"))
    assert at.selectbox(key="sb_node").value == "touchpoint_channel"
    assert at.checkbox(key="sb_cut").value is True
    nodes = next(d.value for d in at.dataframe if "pagerank" in d.value.columns)
    assert "email · email" in set(nodes.touchpoint)
