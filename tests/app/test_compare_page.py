"""Compare page: two segments side by side with the core's numbers."""

from __future__ import annotations

from journeys.analyses.base import journeys_for
from journeys.segments import Filter, Segment
from journeys.shaping import Shaping
from tests.app.conftest import _store, app, texts


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


def test_compare_graph_mode_defaults_b_to_everyone_else(sample_id):
    from journeys.analyses.transitions import compute_transitions

    a = Segment((Filter("attribute", ("mobile",), column="device"),))
    at = app("screens/compare.py", ds=sample_id, cmp="graph", seg=a.to_param())
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2
    table = _store().table(sample_id)
    n = [compute_transitions(journeys_for(table, Shaping(goal="purchase"), s), goal="purchase").journeys
         for s in (a, a.complement())]
    everyone = compute_transitions(journeys_for(table, Shaping(goal="purchase")), goal="purchase").journeys
    assert n[0] + n[1] == everyone and n[1] > 0
    captions = texts(at, "caption")
    assert f"{n[1]:,} journeys" in " ".join(captions).replace(",", ",")
    assert any(c.startswith("Customers other than those who have device mobile") for c in captions)
    assert "segb" not in at.query_params  # the default B is not written into the link


def test_compare_with_two_unsegmented_sides_asks_for_a_segment(sample_id):
    at = app("screens/compare.py", ds=sample_id, cmp="graph")
    assert not at.exception
    assert not at.get("plotly_chart")
    assert any("Both segments are all customers" in i for i in texts(at, "info"))


def test_compare_graph_sides_share_one_colour_scale(sample_id):
    import json

    a = Segment((Filter("attribute", ("mobile",), column="device"),))
    at = app("screens/compare.py", ds=sample_id, cmp="graph", seg=a.to_param())
    assert not at.exception
    ranges = []
    for c in at.get("plotly_chart"):
        markers = [t["marker"] for t in json.loads(c.proto.spec)["data"] if t.get("mode") == "markers"]
        ranges.append((markers[0]["cmin"], markers[0]["cmax"]))
    assert len(ranges) == 2 and ranges[0] == ranges[1]
    assert 0 < ranges[0][1] <= 1


def test_compare_paths_stack_the_two_sankeys_full_width(sample_id):
    a = Segment((Filter("attribute", ("mobile",), column="device"),))
    at = app("screens/compare.py", ds=sample_id, cmp="paths", seg=a.to_param())
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2
    side_by_side = app("screens/compare.py", ds=sample_id, cmp="graph", seg=a.to_param())
    # side-by-side columns would halve each Sankey's width and crowd its labels: paths uses two fewer columns
    assert len(at.columns) == len(side_by_side.columns) - 2
