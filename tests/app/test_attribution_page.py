"""Attribution page: the numbers (and bands) equal the CLI's, settings ride in the link, bad input is a sentence,
the chain links to the transition graph."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pandas as pd

from journeys.cli import run as cli
from tests.app.conftest import app, texts

PAGE = "screens/attribution.py"


def _cli(*args: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli(["attribution", *args]) == 0
    return out.getvalue()


def _frame(at, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_page_equals_cli(sample_id):
    at = app(PAGE, ds=sample_id, og="purchase")
    assert not at.exception
    doc = json.loads(_cli(sample_id, "--goal", "purchase", "--format", "json"))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Journeys"] == f"{doc['journeys']:,}"
    assert metrics["Conversions"] == f"{doc['conversions']:,}"
    assert metrics["Value"] == f"{doc['value']:,.2f}"
    assert metrics["P(conversion), Markov chain"] == f"{doc['p_conversion']:.2%}"
    csv = pd.read_csv(io.StringIO(_cli(sample_id, "--goal", "purchase", "--format", "csv")))
    assert list(csv.columns) == ["model", "item", "conversions", "value", "removal_effect", "ci_low", "ci_high"]
    long = _frame(at, "95% band low")
    assert len(long) == len(csv) == 6 * 8  # six models, eight channels in the sample
    assert list(long["conversions"].round(9)) == list(csv.conversions.round(9))
    assert list(long["95% band high"].round(9)) == list(csv.ci_high.round(9))
    wide = _frame(at, "Markov removal effect")
    markov = csv[csv.model == "markov"].set_index("item").conversions
    assert dict(zip(wide["channel"], wide["Markov removal effect"].round(9), strict=True)) == markov.round(9).to_dict()
    # every model shares out the same conversions
    assert (csv.groupby("model").conversions.sum().round(6) == doc["conversions"] - doc["uncredited"]).all()
    spec = at.get("plotly_chart")[0].proto.spec
    bars = json.loads(spec)["data"]
    assert [b["name"] for b in bars] == ["First touch", "Last touch", "Linear", "Position-based", "Time decay",
                                         "Markov removal effect"]
    assert all("error_y" in b for b in bars)


def test_settings_ride_in_the_link(sample_id):
    at = app(PAGE, ds=sample_id, og="purchase", aby="touchpoint", alb="all", am="linear,markov", aord="2", abs="0")
    assert not at.exception
    assert at.selectbox(key="a_by").value == "touchpoint"
    assert at.selectbox(key="a_lb").value == "all"
    assert at.multiselect(key="a_models").value == ["linear", "markov"]
    assert at.selectbox(key="a_order").value == 2
    assert set(_frame(at, "95% band low")["model"]) == {"Linear", "Markov removal effect"}
    csv = pd.read_csv(io.StringIO(_cli(sample_id, "--goal", "purchase", "--by", "touchpoint", "--lookback", "all",
                                       "--models", "linear,markov", "--order", "2", "--bootstrap", "0", "--format", "csv")))
    assert list(_frame(at, "95% band low")["conversions"].round(9)) == list(csv.conversions.round(9))
    at.selectbox(key="a_lb").set_value("7").run()
    assert not at.exception
    assert at.query_params["alb"] == "7d" and at.query_params["aord"] == "2"


def test_bad_input_is_a_sentence(sample_id):
    at = app(PAGE, ds=sample_id, og="purchse")
    assert not at.exception
    assert any("Unknown touchpoint 'purchse'. Did you mean 'purchase'?" in t for t in texts(at, "error"))
    at = app(PAGE, ds=sample_id, og="purchase", alb="900d", abs="0")
    assert not at.exception
    assert any("lookback of 900 days is longer than the data" in t for t in texts(at, "error"))
    at = app(PAGE, ds=sample_id, og="purchase", aby="signup_cohort", abs="0", am="markov", aord="9")
    assert not at.exception
    assert any("aord='9' could not be used" in t for t in texts(at, "text"))


def test_default_goal_and_no_model(sample_id):
    at = app(PAGE, ds=sample_id, abs="0")  # no goal in the link: the sidebar's guess from the names
    assert not at.exception
    assert any("Credit for reaching purchase by channel" in t for t in texts(at, "caption"))
    at.multiselect(key="a_models").set_value([]).run()
    assert not at.exception
    assert any("Pick at least one model." in t for t in texts(at, "info"))
    assert not at.get("plotly_chart")


def test_the_chain_opens_in_the_transition_graph(sample_id):
    at = app(PAGE, ds=sample_id, og="purchase", abs="0", am="markov")
    chain = _frame(at, "journeys (weight)")
    assert set(chain.groupby("from")["P(next)"].sum().round(9)) == {100.0}  # shown in percent
    assert {"(journey start)", "web"} <= set(chain["from"])
    # absorbing states read as words, never the raw "(null)" (issue: the trial saw "(null)" for not converted)
    assert {"(converted)", "(not converted)"} <= set(chain["to"])
    assert not {"(null)", "(start)", "(conversion)"} & (set(chain["from"]) | set(chain["to"]))
    at.button(key="a_graph").click().run()
    assert not at.exception
    assert at.query_params["node"] == "channel"
    assert any(t.value == "Transition graph" for t in at.title)


def test_the_value_view_lives_in_the_link(sample_id):
    at = app(PAGE, ds=sample_id, og="purchase")
    assert at.radio(key="a_what").value == "conversions" and "ashow" not in at.query_params
    at.radio(key="a_what").set_value("value").run()
    assert not at.exception and at.query_params["ashow"] == "value"
    again = app(PAGE, ds=sample_id, og="purchase", ashow="value")
    assert not again.exception and again.radio(key="a_what").value == "value"
