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
    r = compute_transitions(journeys_for(_store().table(sample_id), Shaping(goal="purchase")), GraphQuery(min_weight=100, top_k=30),
                            goal="purchase")
    assert any(f"{r.hidden_edges:,} smaller edges carrying {r.hidden_transitions:,} transitions" in c
               for c in texts(at, "caption"))
    nodes = next(d.value for d in at.dataframe if "PageRank" in d.value.columns)
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
    nodes = next(d.value for d in at.dataframe if "PageRank" in d.value.columns)
    assert "email · email" in set(nodes.touchpoint)


def test_default_view_draws_the_30_heaviest_edges_and_can_show_all(sample_id):
    at = app("screens/graph.py", ds=sample_id)
    assert not at.exception
    j = journeys_for(_store().table(sample_id), Shaping(goal="purchase"))
    top = compute_transitions(j, GraphQuery(top_k=30), goal="purchase")
    every = compute_transitions(j, goal="purchase")
    inner = top.edges[(top.edges.source != "START") & ~top.edges.target.str.startswith("END")]
    assert len(inner) == 30 and top.hidden_edges == len(every.edges) - len(top.edges) > 0
    caption = next(c for c in texts(at, "caption") if "transitions between touchpoints" in c)
    drawn = top.transitions - top.hidden_transitions
    assert f"the edges drawn carry {drawn:,} ({drawn / top.transitions:.1%})" in caption
    edges = next(d.value for d in at.dataframe if "transitions" in d.value.columns)
    assert len(edges) == len(top.edges)
    assert "(journey start)" in set(edges.source) and "None" not in edges.astype(str).to_numpy()
    at.toggle(key="g_all").set_value(True).run()
    assert at.query_params["topk"] == "all"
    edges = next(d.value for d in at.dataframe if "transitions" in d.value.columns)
    assert len(edges) == len(every.edges)
    assert any("Every edge is drawn." in c for c in texts(at, "caption"))
