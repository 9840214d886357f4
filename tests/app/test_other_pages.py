"""Journey map, transition graph, compare and data pages."""

from __future__ import annotations

import json

from journeys.analyses.base import journeys_for
from journeys.analyses.journey_map import compute_journey_map, infer_stages
from journeys.analyses.transitions import GraphQuery, compute_transitions
from journeys.segments import Filter, Segment
from journeys.shaping import Shaping
from tests.app.conftest import _store, app, texts


def test_journey_map(sample_id):
    at = app("screens/journey_map.py", ds=sample_id)
    assert not at.exception
    j = journeys_for(_store().table(sample_id), Shaping(goal="purchase"))
    tps = sorted(j.touchpoint.to_pandas().unique())
    expected = compute_journey_map(j, infer_stages(tps), goal="purchase")
    pain = expected.touchpoints[expected.touchpoints.pain_point]
    captions = " ".join(texts(at, "caption"))
    for row in pain.itertuples():
        assert f"{row.drop_offs:,} journeys end here unconverted" in captions
    assert f"{expected.journeys:,} journeys." in captions


def test_transition_graph_reports_what_it_hides(sample_id):
    at = app("screens/graph.py", ds=sample_id, minw="100")
    assert not at.exception
    r = compute_transitions(journeys_for(_store().table(sample_id), Shaping(goal="purchase")), GraphQuery(min_weight=100),
                            goal="purchase")
    assert any(f"{r.hidden_edges:,} edges carrying {r.hidden_transitions:,} transitions" in c for c in texts(at, "caption"))
    nodes = next(d.value for d in at.dataframe if "pagerank" in d.value.columns)
    assert list(nodes.touchpoint) == list(r.nodes.touchpoint)


def test_compare_two_segments(sample_id):
    a = Segment((Filter("attribute", ("mobile",), column="device"),))
    b = Segment((Filter("attribute", ("desktop",), column="device"),))
    at = app("screens/compare.py", ds=sample_id, seg=a.to_param(), segb=b.to_param(),
             steps="product_view,add_to_cart,checkout,purchase")
    assert not at.exception
    converted = [m.value for m in at.metric if m.label == "Converted"]
    from journeys.analyses.funnels import FunnelQuery, compute_funnel

    q = FunnelQuery(steps=(("product_view",), ("add_to_cart",), ("checkout",), ("purchase",)))
    exp = [compute_funnel(journeys_for(_store().table(sample_id), Shaping(goal="purchase"), s), q) for s in (a, b)]
    assert converted == [f"{e.steps.conversion_from_start.iloc[-1]:.1%}" for e in exp]
    assert "Customers who have device mobile" in texts(at, "caption")


def test_compare_graph_mode(sample_id):
    at = app("screens/compare.py", ds=sample_id, cmp="graph")
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2


def test_data_page_upload_map_and_load(sample_id):
    csv = "who;when;what;plan\n001;2024-03-01 10:00;signup;free\n001;2024-03-01 10:05;upgrade;pro\n002;soon;signup;free\n"
    at = app("screens/data.py", ds=sample_id)
    at.file_uploader(key="upload").set_value(("crm.csv", csv.encode(), "text/csv")).run()
    assert not at.exception
    at.selectbox(key="map_customer_crm.csv").set_value("who")
    at.selectbox(key="map_timestamp_crm.csv").set_value("when")
    at.selectbox(key="map_touchpoint_crm.csv").set_value("what").run()
    at.button(key="up_load").click().run()
    assert not at.exception
    text = " ".join(texts(at, "text"))
    assert "Rows read: 3; stored: 2; rejected: 1" in text and "unparseable timestamp: 1 (e.g. row 3)" in text
    info = next(d for d in _store().datasets() if d.name == "crm")
    assert info.attributes == ("plan",)
    _store().delete(info.id)


def test_data_page_bad_file_is_a_sentence(sample_id):
    at = app("screens/data.py", ds=sample_id)
    at.file_uploader(key="upload").set_value(("x.csv", b"%PDF-1.4 binary", "text/csv")).run()
    assert not at.exception
    assert any("is a PDF document" in e for e in texts(at, "error"))


def test_segment_url_round_trip(sample_id):
    seg = Segment((Filter("did", ("chat",)), Filter("did_not", ("purchase",))), "and")
    at = app("screens/graph.py", ds=sample_id, seg=seg.to_param())
    assert not at.exception
    assert json.loads(at.query_params["seg"]) == json.loads(seg.to_param())
    assert "Customers who did chat and did not do purchase" in " ".join(texts(at, "caption")).replace("\\\\", "")
