"""Paths page: URL in, Sankey and numbers out, errors as sentences."""

from __future__ import annotations

import json

from journeys.analyses.base import journeys_for
from journeys.analyses.paths import PathQuery, compute_paths
from journeys.shaping import Shaping
from tests.app.conftest import _store, app, texts


def _expected(ds, query, goal="purchase"):
    return compute_paths(journeys_for(_store().table(ds), Shaping(goal=goal)), query, goal=goal)


def test_default_view_draws_the_sankey_with_coverage(sample_id):
    at = app(ds=sample_id)
    assert not at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    sankey = spec["data"][0]
    assert sankey["type"] == "sankey"
    expected = _expected(sample_id, PathQuery())
    assert sum(sankey["link"]["value"]) == int(expected.links.customers.sum())
    assert any(f"Covers {expected.journeys_covered:,} of {expected.journeys_total:,} journeys" in c for c in texts(at, "caption"))
    assert at.query_params["goal"] == "purchase"  # a fresh visit starts from the obvious goal


def test_anchor_from_a_touchpoint_via_url(sample_id):
    at = app(ds=sample_id, anchor="from", start="checkout", depth="3", top="3")
    assert not at.exception
    expected = _expected(sample_id, PathQuery(anchor="from", start="checkout", depth=3, top=3))
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert [c[3] for c in spec["node"]["customdata"]] == list(expected.nodes.label)
    # thin nodes (under 3% of their step) go unlabelled so labels never pile up; the rest read "name share"
    share = expected.nodes.customers / expected.nodes.groupby("step").customers.transform("sum")
    labelled = [lbl.rsplit(" ", 1)[0] if lbl else "" for lbl in spec["node"]["label"]]
    assert labelled == [lbl if s >= 0.03 else "" for lbl, s in zip(expected.nodes.label, share, strict=True)]
    assert "" in labelled and "checkout" in labelled
    assert at.selectbox(key="p_anchor").value == "from"
    assert at.number_input(key="p_depth").value == 3


def test_bad_and_unknown_parameters_explain_and_fall_back(sample_id):
    at = app(ds=sample_id, depth="99", colour="red")
    assert not at.exception
    banner = " ".join(texts(at, "text"))
    assert "depth='99' could not be used" in banner and "'colour' is not known" in banner
    assert any(w == "This link could not be used exactly as it is (2 problems):" for w in texts(at, "warning"))
    assert at.number_input(key="p_depth").value == 5


def test_unknown_touchpoint_is_a_sentence(sample_id):
    at = app(ds=sample_id, anchor="from", start="chekout")
    assert not at.exception
    assert ("• The start touchpoint 'chekout' is not in this dataset. Did you mean 'checkout'? Using 'checkout' "
            "instead.") in texts(at, "text")
    assert at.selectbox(key="p_start").value == "checkout"


def test_deleted_dataset_link_says_so(sample_id):
    at = app(ds="0123456789abcdef" * 1250)  # 20,000 characters
    assert not at.exception
    banner = [t for t in texts(at, "text") if t.startswith("• The dataset")]
    assert banner == ["• The dataset '" + ("0123456789abcdef" * 4)[:59] + "…' in this link does not exist (it may have "
                      "been deleted). Showing 'Sample shop' instead."]
    assert at.query_params["ds"] == sample_id


def test_node_drill_down_applies_a_segment(sample_id):
    at = app(ds=sample_id)
    at.selectbox(key="p_node").set_value("2:product_view").run()
    button = at.button(key="p_apply")
    assert button.label.replace("\\", "") == "Show customers who had product_view as step 2"
    button.click().run()
    assert not at.exception
    seg = json.loads(at.query_params["seg"])
    assert seg["i"] == [{"k": "at_step", "v": ["product_view"], "n": 2}]


def test_a_nodes_customer_list_is_counted_before_it_is_made_and_says_when_it_is_cut(sample_id, monkeypatch):
    # the list is made when the button is clicked: its label counts the node's journeys (a journey per customer)
    from journeys.analyses import paths

    expected = _expected(sample_id, PathQuery())
    first = expected.nodes.key.iloc[0]
    ids = paths.node_customers(journeys_for(_store().table(sample_id), Shaping(goal="purchase")), PathQuery(), first)
    at = app(ds=sample_id)
    label = next(b.proto.label for b in at.get("download_button") if b.proto.id.endswith("cust_node"))
    assert label == f"Download {len(ids):,} customer ids" and len(ids) == int(expected.nodes.customers.iloc[0])
    assert not any("The list holds the first" in c for c in texts(at, "caption"))
    monkeypatch.setattr(paths, "NODE_CUSTOMERS_MAX", 10)
    at = app(ds=sample_id)
    label = next(b.proto.label for b in at.get("download_button") if b.proto.id.endswith("cust_node"))
    assert label == "Download 10 customer ids"
    assert f"The list holds the first 10 of {len(ids):,} customers, by id." in texts(at, "caption")
