"""Drivers page: the numbers equal the CLI's, the mobile checkout problem shows as a negative driver with its
interval, settings ride in the link, a driver opens as a segment, bad goals are sentences."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pandas as pd

from journeys.cli import run as cli
from journeys.segments import Filter, Segment
from tests.app.conftest import app, texts


def _cli(*args: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli(["drivers", *args]) == 0
    return out.getvalue()


def _drivers_table(at) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "driver" in d.value.columns and "odds ratio" in d.value.columns)


def test_page_equals_cli_and_shows_the_mobile_checkout_problem(sample_id):
    at = app("screens/drivers.py", ds=sample_id, goal="purchase")
    assert not at.exception
    cli_json = json.loads(_cli(sample_id, "--goal", "purchase", "--format", "json", "--no-extras"))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Customers"] == f"{cli_json['customers']:,}"
    assert metrics["With the outcome"] == f"{cli_json['with_outcome']:,}"
    assert metrics["Candidates tested"] == f"{cli_json['tested']:,}"
    shown = _drivers_table(at)
    csv = pd.read_csv(io.StringIO(_cli(sample_id, "--goal", "purchase", "--format", "csv")))
    assert len(shown) == len(csv) == cli_json["tested"] + cli_json["held_back"]
    assert list(shown["odds ratio"].round(9)) == list(csv.odds_ratio.round(9))
    mobile = csv[csv.item == "device = mobile"].iloc[0]
    assert mobile.ranked and mobile.odds_ratio < 1 and mobile.ci_high < 1 and mobile.q_value < 0.001
    assert any("skewed than 10:1" in t for t in texts(at, "warning"))


def test_settings_ride_in_the_link(sample_id):
    at = app("screens/drivers.py", ds=sample_id, goal="purchase", dwin="all", dk="touchpoint,attribute")
    assert not at.exception
    assert at.selectbox(key="d_window").value == "all"
    assert at.multiselect(key="d_kinds").value == ["touchpoint", "attribute"]
    assert set(_drivers_table(at).kind) <= {"touchpoint", "attribute"}
    at.radio(key="d_outcome").set_value("churn").run()
    assert not at.exception
    assert at.query_params["dout"] == "churn" and at.query_params["dwin"] == "all"


def test_a_driver_opens_as_a_segment(sample_id):
    at = app("screens/drivers.py", ds=sample_id, goal="purchase", dk="attribute")
    picks = at.selectbox(key="d_pick")
    index = next(i for i in picks.options if str(i).startswith("device = mobile"))
    picks.set_value(picks.options.index(index)).run()
    assert "Segment: customers who have device mobile" in texts(at, "text")
    at.button(key="d_open").click().run()
    assert not at.exception
    seg = Segment.from_param(at.query_params["seg"])
    assert seg == Segment((Filter("attribute", ("mobile",), column="device"),))


def test_bad_goal_and_bad_window_are_sentences(sample_id):
    at = app("screens/drivers.py", ds=sample_id, og="purchse")
    assert not at.exception
    assert any("Unknown goal touchpoint 'purchse'. Did you mean 'purchase'?" in t for t in texts(at, "error"))
    at = app("screens/drivers.py", ds=sample_id, goal="purchase", dwin="12x")
    assert not at.exception
    assert any("drivers window could not be used" in t for t in texts(at, "text"))
    assert at.selectbox(key="d_window").value == "30"


def test_a_driver_feeds_compare(sample_id):
    at = app("screens/drivers.py", ds=sample_id, goal="purchase", dk="attribute")
    picks = at.selectbox(key="d_pick")
    picks.set_value(next(i for i, o in enumerate(picks.options) if str(o).startswith("device = mobile"))).run()
    at.button(key="d_compare").click().run()
    assert not at.exception
    assert at.title[0].value == "Compare segments"
    assert Segment.from_param(at.query_params["seg"]) == Segment((Filter("attribute", ("mobile",), column="device"),))
    assert "segb" not in at.query_params  # B is everyone else


def test_churn_by_inactivity_says_its_threshold(sample_id):
    at = app("screens/drivers.py", ds=sample_id, goal="purchase", dout="churn", cin="45", dk="touchpoint")
    assert not at.exception
    assert any("Churned means no event for 45 days (chosen)." in t for t in texts(at, "caption"))
    data = json.loads(_cli(sample_id, "--churn", "--inactive", "45d", "--kinds", "touchpoint", "--format", "json",
                           "--no-extras"))
    assert data["outcome_rule"].startswith("Churned means no event for 45 days (chosen). ")
    assert data["outcome_rule"].endswith("customers first seen in the last 45 days are left out: too recent to have "
                                         "churned.")
    assert any(data["outcome_rule"] in t for t in texts(at, "caption"))  # the page says the same
    assert {m.label: m.value for m in at.metric}["With the outcome"].startswith(f"{data['with_outcome']:,}")
    assert list(_drivers_table(at)["odds ratio"].round(9)) == [round(d["odds_ratio"], 9) for d in data["drivers"]]


def _picked(at) -> str:
    picks = at.selectbox(key="d_pick")
    return str(picks.options[picks.index]).split(" (OR ")[0]


def test_the_driver_picker_follows_the_outcome(sample_id):
    """After switching the outcome the picker shows a driver of the new result, and the one it shows is the one
    the segment line and the buttons use (the old label used to linger while another driver was applied)."""
    at = app("screens/drivers.py", ds=sample_id, goal="purchase", dk="attribute")
    picks = at.selectbox(key="d_pick")
    picks.set_value(next(i for i, o in enumerate(picks.options) if str(o).startswith("device = mobile"))).run()
    assert _picked(at) == "device = mobile"
    before = list(at.selectbox(key="d_pick").options)
    at.radio(key="d_outcome").set_value("churn").run()
    assert not at.exception
    after = at.selectbox(key="d_pick")
    assert list(after.options) != before and at.session_state["d_pick_for"] == list(after.options)
    labels = [str(o).split(" (OR ")[0] for o in after.options]
    assert _picked(at) == ("device = mobile" if "device = mobile" in labels else labels[0])
    column, value = _picked(at).split(" = ")
    assert f"Segment: customers who have {column} {value}" in texts(at, "text")
    at.button(key="d_open").click().run()
    assert Segment.from_param(at.query_params["seg"]) == Segment((Filter("attribute", (value,), column=column),))


def test_the_graph_drivers_say_the_chains_level_beside_the_actual_rate(sample_id):
    from app import state
    from journeys.analyses.base import journeys_for
    from journeys.analyses.drivers import graph_drivers
    from journeys.shaping import Shaping

    at = app("screens/drivers.py", ds=sample_id, goal="purchase")
    j = journeys_for(state.store().table(sample_id), Shaping(goal="purchase"))
    chain = graph_drivers(j, ("purchase",)).p_goal_start.iloc[0]
    frame = j.select("customer_id", "touchpoint").to_pandas()
    actual = frame[frame.touchpoint == "purchase"].customer_id.nunique() / frame.customer_id.nunique()
    line = next(c for c in texts(at, "caption") if c.startswith("The chain estimates"))
    assert f"at {chain:.1%}; {actual:.1%} of these customers actually reached it" in line


def test_the_picked_driver_lives_in_the_link(sample_id):
    at = app("screens/drivers.py", ds=sample_id, goal="purchase", dk="attribute")
    assert "dpick" not in at.query_params  # the first ranked driver is the default
    at.selectbox(key="d_pick").set_value(1).run()
    second = _picked(at)
    assert at.query_params["dpick"] == second
    again = app("screens/drivers.py", ds=sample_id, goal="purchase", dk="attribute", dpick=second)
    assert not again.exception and _picked(again) == second and again.selectbox(key="d_pick").value == 1
    assert any("looks at whole journeys" in c for c in texts(again, "caption"))


def test_a_linked_driver_that_is_not_ranked_is_said(sample_id):
    at = app("screens/drivers.py", ds=sample_id, goal="purchase", dk="attribute", dpick="device = martian")
    assert not at.exception and at.selectbox(key="d_pick").value == 0
    assert any("The link's driver 'device = martian' is not among the ranked drivers" in t for t in texts(at, "text"))
