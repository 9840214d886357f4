"""Funnels page: steps from the URL, numbers equal the core's, drop-off drill-down, bad steps explained."""

from __future__ import annotations

from datetime import timedelta

from journeys.analyses.base import journeys_for
from journeys.analyses.funnels import FunnelQuery, compute_funnel
from journeys.segments import Filter, Segment
from journeys.shaping import Shaping
from tests.app.conftest import _store, app, texts

STEPS = "product_view,add_to_cart,checkout,purchase"


def _expected(ds, segment=None, **kw):
    q = FunnelQuery(steps=tuple((s,) for s in STEPS.split(",")), **kw)
    return compute_funnel(journeys_for(_store().table(ds), Shaping(goal="purchase"), segment), q)


def test_funnel_from_link_matches_the_core(sample_id):
    at = app("screens/funnels.py", ds=sample_id, steps=STEPS, window="3d")
    assert not at.exception
    expected = _expected(sample_id, window=timedelta(days=3))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Entered"] == f"{expected.entered:,}"
    assert metrics["Converted"] == f"{int(expected.steps.customers.iloc[-1]):,}"
    assert at.number_input(key="f_window").value == 3
    assert at.query_params["steps"] == STEPS


def test_segment_and_drop_off_drill_down(sample_id):
    seg = Segment((Filter("attribute", ("mobile",), column="device"),))
    at = app("screens/funnels.py", ds=sample_id, steps=STEPS, seg=seg.to_param())
    assert not at.exception
    expected = _expected(sample_id, seg)
    assert {m.label: m.value for m in at.metric}["Entered"] == f"{expected.entered:,}"
    at.selectbox(key="f_drop").set_value(3).run()
    nxt = expected.next_after_drop[expected.next_after_drop.step == 3]
    shown = next(d.value for d in at.dataframe if "next_touchpoint" in d.value.columns)
    assert list(shown.next_touchpoint) == list(nxt.next_touchpoint)
    assert list(shown.customers) == list(nxt.customers)
    label = next(b.label for b in at.get("download_button") if "customer ids" in b.label)
    assert label == f"Download {int(expected.steps.drop_off.iloc[2]):,} customer ids"


def test_unknown_step_in_link_is_explained(sample_id):
    at = app("screens/funnels.py", ds=sample_id, steps="product_vew,add_to_cart")
    assert not at.exception
    assert any("step 1 touchpoint 'product_vew'" in w and "Did you mean 'product_view'" in w for w in texts(at, "warning"))
    assert any("Pick at least one touchpoint" in i for i in texts(at, "info"))


def test_breakdown_and_trend(sample_id):
    at = app("screens/funnels.py", ds=sample_id, steps=STEPS, bd="device", trend="month")
    assert not at.exception
    expected = _expected(sample_id, breakdown="device", trend="month")
    subheaders = texts(at, "subheader")
    assert "By device" in subheaders and "Conversion by month of entry" in subheaders
    tables = [d.value for d in at.dataframe]
    bd = next(t for t in tables if "value" in t.columns)
    assert list(bd.customers) == list(expected.breakdown.customers)


def test_per_step_window_from_the_link(sample_id):
    at = app("screens/funnels.py", ds=sample_id, steps=STEPS, sw="-,-,-,2m")
    assert not at.exception
    expected = _expected(sample_id, step_windows=(None, None, None, timedelta(minutes=2)))
    assert int(expected.steps.customers.iloc[-1]) < int(_expected(sample_id).steps.customers.iloc[-1])
    assert {m.label: m.value for m in at.metric}["Converted"] == f"{int(expected.steps.customers.iloc[-1]):,}"
    assert at.number_input(key="f_sw_4").value == 2
    assert at.query_params["sw"] == "-,-,-,2m"
