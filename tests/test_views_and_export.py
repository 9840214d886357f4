"""The link codec, CSV hand-off safety and chart exports."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from journeys.analyses.funnels import Exclusion
from journeys.analyses.paths import PathQuery
from journeys.analyses.transitions import GraphQuery
from journeys.export import safe_csv
from journeys.segments import Filter, Segment
from journeys.shaping import Shaping
from journeys.views import ViewState


def _params(view: ViewState) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in view.to_params().items()}


def test_every_setting_round_trips_through_the_url():
    view = ViewState(
        dataset="abcdef0123456789", date_from=date(2025, 2, 1), date_to=date(2025, 3, 31),
        segment=Segment((Filter("did", ("cart",)), Segment((Filter("attribute", ("DE", "FR"), column="country"),
                                                            Filter("entered", ("2025-01-01", ""))), "or"))),
        segment_b=Segment((Filter("at_least", ("chat",), times=2),), negate=True),
        shaping=Shaping(scope="session", session_gap=timedelta(minutes=45), collapse_repeats=True, goal="purchase",
                        cut_at_goal=True, node="touchpoint_channel", rules=(("^email_", "email"),), exclude=("^ad_",)),
        paths=PathQuery(anchor="between", start="home", end="purchase", depth=7, top=9, min_steps=2), pct="prev",
        funnel_steps=(("home", "search"), ("cart",)), funnel_window=timedelta(hours=12), funnel_order="strict",
        funnel_exclusions=(Exclusion(("chat",), 1, 2),), funnel_step_windows=(None, timedelta(hours=2)),
        breakdown="device", trend="week",
        graph=GraphQuery(min_weight=5, top_k=None), compare="paths",
        stage_edits=(("chat", "purchase"), ("a=b", "churn")),  # '=' in a touchpoint name: split on the last one
    )
    again, problems = ViewState.from_params(_params(view))
    assert problems == []
    assert again == view


def test_defaults_write_nothing():
    assert ViewState().to_params() == {}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"depth": ["0"]}, "depth='0' could not be used"),
        ({"scope": ["galaxy"]}, "expected one of person, session"),
        ({"steps": ["a,,b"]}, "a funnel step is empty"),
        ({"window": ["400d"]}, "366 days"),
        ({"seg": ["[1,2"]}, "segment in the link could not be read, so no segment is applied"),
        ({"from": ["yesterday"]}, "from='yesterday' could not be used"),
        ({"dept": ["3"]}, "Did you mean 'depth'"),
        ({"cut": ["1"]}, "shaping in the link was reset"),
        ({"stg": ["chat=buying"]}, "'buying' is not a stage.); the journey map's stages are guessed from names"),
    ],
)
def test_bad_links_explain_and_fall_back(params, fragment):
    view, problems = ViewState.from_params(params)
    assert any(fragment in p for p in problems), problems
    assert view.paths == PathQuery() and view.shaping == Shaping()


def test_csv_neutralises_formulas_and_caps_rows():
    frame = pd.DataFrame({"touchpoint": ["=HYPERLINK(\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "plain",
                                         "+4477000001860", "-12.5", "+44 (0)20 7946-0000", None],
                          "n": [1, 2, 3, 4, 5, 6, 7, 8, 9]})
    lines = safe_csv(frame).decode().splitlines()
    assert lines[1:9] == ['"\'=HYPERLINK(""x"")",1', "'+1+cmd|' /C calc'!A0,2", "'-2+3,3", "'@SUM(A1),4",
                          "plain,5", "+4477000001860,6", "-12.5,7", "+44 (0)20 7946-0000,8"]  # numbers stay numbers
    assert len(safe_csv(frame, limit=2).decode().splitlines()) == 3


def test_chart_exports(tmp_path):
    from journeys import charts
    from journeys.analyses.paths import PathsResult

    nodes = pd.DataFrame({"key": ["1:a", "2:b", "2:(journey ends)"], "step": [1, 2, 2], "label": ["a", "b", "(journey ends)"],
                          "customers": [3, 2, 1]})
    links = pd.DataFrame({"source": ["1:a", "1:a"], "target": ["2:b", "2:(journey ends)"], "customers": [2, 1],
                          "pct_of_start": [2 / 3, 1 / 3], "pct_of_prev": [2 / 3, 1 / 3]})
    result = PathsResult(PathQuery(depth=2), nodes, links, pd.DataFrame(), 3, 3, 2, 2)
    fig = charts.sankey_figure(result)
    html = charts.to_html(fig).decode()
    assert "<html>" in html[:40] and "plotly" in html and '"sankey"' in html
    assert fig.data[0].node.label == ("a 100%", "b 67%", "(journey ends) 33%")
    prev = charts.sankey_figure(result, pct="prev")
    assert prev.data[0].node.label == ("a 100%", "b 67%", "(journey ends) 33%")
    assert charts._plain("<b>x</b> & y") == "&lt;b&gt;x&lt;/b&gt; &amp; y"
