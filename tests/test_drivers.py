"""Drivers by hand on a tiny log (windows, ties, leakage), a planted driver on generated data, bad input, links."""

from __future__ import annotations

import io
import json
import math
from contextlib import redirect_stdout
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from journeys.analyses.base import journeys_for
from journeys.analyses.drivers import (
    Q_MAX,
    DriversQuery,
    compute_drivers,
    graph_drivers,
    parse_window,
    segment_for,
)
from journeys.charts_drivers import forest_figure, forest_rows
from journeys.cli import run as cli
from journeys.errors import QueryError
from journeys.outcomes import Outcomes
from journeys.segments import Filter, Segment
from journeys.shaping import Shaping
from journeys.views import ViewState
from tests.conftest import frame

DAY = 24 * 60
GOAL = Outcomes(goals=("goal",))
ROWS = [
    ("u1", 0, "a", "web"), ("u1", 10, "b"), ("u1", 20, "goal"), ("u1", 30, "c"),  # c after the goal never counts
    ("u2", 0, "a"), ("u2", 10, "c"), ("u2", 20, "c"),
    ("u3", 0, "b"), ("u3", 0, "goal"),  # same timestamp: seq puts b first, so b is before the goal
    ("u4", 0, "goal"), ("u4", 5, "a"),  # converts at entry: nothing observed
    ("u5", 0, "c"), ("u5", 31 * DAY, "a"),  # a is 31 days after entry: outside a 30-day window
    ("u6", 0, "a"), ("u6", 5, "b"), ("u6", 40 * DAY, "goal"),  # converts late: still a converter
]


@pytest.fixture
def tiny(duck):
    return journeys_for(duck.table(frame(ROWS)), Shaping())


def _counts(result) -> dict[tuple[str, str], tuple[int, int]]:
    t = result.table
    return {(k, i): (a + b, a) for k, i, a, b in zip(t.kind, t.item, t.exposed_converted, t.exposed_not, strict=True)}


def test_counts_by_hand_with_a_30_day_window(tiny):
    r = compute_drivers(tiny, DriversQuery(outcomes=GOAL))
    assert (r.customers, r.with_outcome) == (6, 4)
    assert _counts(r) == {
        ("touchpoint", "a"): (3, 2), ("touchpoint", "b"): (3, 3), ("touchpoint", "c"): (2, 0),
        ("count", "c >= 2"): (1, 0),
        ("transition", "a -> b"): (2, 2), ("transition", "a -> c"): (1, 0), ("transition", "c -> c"): (1, 0),
        ("first", "a"): (3, 2), ("first", "b"): (1, 1), ("first", "c"): (1, 0), ("first", "channel = web"): (1, 1),
        ("last", "b"): (3, 3), ("last", "c"): (2, 0),
    }
    assert r.tested == 0 and r.held_back == 13 and set(r.table.badge) == {"too few customers"}
    a = r.table[(r.table.kind == "touchpoint") & (r.table.item == "a")].iloc[0]
    # [[2, 1], [2, 1]]: odds ratio 1, Fisher p 1
    assert (a.odds_ratio, a.p_value, a.rate_with, a.rate_without) == pytest.approx((1.0, 1.0, 2 / 3, 2 / 3))
    b = r.table[(r.table.kind == "touchpoint") & (r.table.item == "b")].iloc[0]
    # [[3, 0], [1, 2]] has a zero: Haldane 3.5 * 2.5 / (0.5 * 1.5)
    assert b.odds_ratio == pytest.approx(3.5 * 2.5 / (0.5 * 1.5))
    assert math.isnan(b.q_value)  # held back: not among the candidates tested


def test_whole_journeys_see_later_events(tiny):
    r = compute_drivers(tiny, DriversQuery(outcomes=GOAL, window_days=None, kinds=("touchpoint", "transition", "last")))
    c = _counts(r)
    assert c[("touchpoint", "a")] == (4, 2) and c[("transition", "c -> a")] == (1, 0)
    assert c[("last", "a")] == (1, 0) and c[("last", "c")] == (1, 0)


def test_a_window_of_one_day_and_the_goal_never_a_candidate(tiny):
    r = compute_drivers(tiny, DriversQuery(outcomes=GOAL, window_days=1))
    assert not any("goal" in i for i in r.table.item)
    assert _counts(r)[("touchpoint", "b")] == (3, 3)  # u6's b is 5 minutes after entry


def planted(customers: int = 3000, seed: int = 11) -> pd.DataFrame:
    """Everyone browses; half see 'promo' (conversion 30% against 10%), half 'banner' (no effect); converters
    then get 'delivery', which a leaking analysis would call the strongest driver."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        promo, banner = rng.random() < 0.5, rng.random() < 0.5
        minute = 0
        rows.append((f"c{c}", minute, "browse"))
        for tp, on in (("promo", promo), ("banner", banner)):
            if on:
                minute += 5
                rows.append((f"c{c}", minute, tp))
        if rng.random() < (0.3 if promo else 0.1):
            rows += [(f"c{c}", minute + 10, "purchase"), (f"c{c}", minute + 2 * DAY, "delivery")]
    return frame(rows)


def test_planted_driver_is_found_and_the_non_driver_is_not(duck):
    r = compute_drivers(journeys_for(duck.table(planted()), Shaping()),
                        DriversQuery(outcomes=Outcomes(goals=("purchase",)), kinds=("touchpoint",)))
    significant = set(r.table[r.table.ranked & (r.table.q_value < 0.05)].item)
    assert significant == {"promo"}
    promo = r.table[r.table.item == "promo"].iloc[0]
    assert promo.ci_low > 2.5 and promo.odds_ratio > 3  # planted odds ratio (0.3/0.7) / (0.1/0.9) = 3.86
    assert "delivery" not in set(r.table.item)  # after the outcome: no leakage
    assert r.table[r.table.item == "browse"].ranked.tolist() == [False]  # everyone browsed: nothing to compare


def test_graph_drivers_by_hand(duck):
    # x -> goal twice, x -> y once; y never converts: P(goal | x) = 2/3, from the start 2/4
    rows = [("p", 0, "x"), ("p", 1, "goal"), ("q", 0, "x"), ("q", 1, "goal"), ("r", 0, "x"), ("r", 1, "y"),
            ("s", 0, "y")]
    g = graph_drivers(journeys_for(duck.table(frame(rows)), Shaping()), ["goal"]).set_index("touchpoint")
    assert g.loc["x", "p_goal_from"] == pytest.approx(2 / 3)
    assert g.loc["y", "p_goal_from"] == 0.0
    assert g.loc["x", "p_goal_start"] == pytest.approx(3 / 4 * 2 / 3)
    assert g.loc["x", "change"] == pytest.approx(2 / 3 - 0.5)


def test_bad_input_is_one_sentence(tiny):
    with pytest.raises(QueryError, match="No customer reached nowhere, so there is nothing to explain"):
        compute_drivers(tiny, DriversQuery(outcomes=Outcomes(goals=("nowhere",))))
    with pytest.raises(QueryError, match="Unknown candidate kind 'touchpoints'. Did you mean 'touchpoint'"):
        DriversQuery(outcomes=GOAL, kinds=("touchpoints",)).validate()
    with pytest.raises(QueryError, match="need a goal"):
        DriversQuery().validate()
    with pytest.raises(QueryError, match="not an observation window"):
        parse_window("0d")
    assert parse_window("all") is None and parse_window("45d") == 45


def test_rows_open_as_segments():
    assert segment_for({"kind": "touchpoint", "x": "a", "y": None, "times": 1}) == Segment((Filter("did", ("a",)),))
    assert segment_for({"kind": "count", "x": "a", "y": None, "times": 3}) == Segment(
        (Filter("at_least", ("a",), times=3),))
    assert segment_for({"kind": "transition", "x": "a", "y": "b", "times": 1}) == Segment((Filter("then", ("a", "b")),))
    assert segment_for({"kind": "attribute", "x": "device", "y": "mobile", "times": 1}) == Segment(
        (Filter("attribute", ("mobile",), column="device"),))
    assert segment_for({"kind": "first", "x": "channel", "y": "web", "times": 1}) == Segment(
        (Filter("attribute", ("web",), column="channel"),))
    assert segment_for({"kind": "first", "x": "home", "y": None, "times": 1}) == Segment(
        (Filter("at_step", ("home",), times=1),))


def test_link_round_trip_writes_only_non_defaults():
    v = ViewState()
    assert not {"dout", "dwin", "dk"} & set(v.to_params())
    v2 = replace(v, drivers=replace(v.drivers, outcome="churn", window_days=None, kinds=("touchpoint", "last")))
    params = v2.to_params()
    assert (params["dout"], params["dwin"], params["dk"]) == ("churn", "all", "touchpoint,last")
    back, problems = ViewState.from_params({k: [str(x)] for k, x in params.items()})
    assert back.drivers == v2.drivers and not problems
    bad, problems = ViewState.from_params({"dout": ["revenue"], "dwin": ["x"], "dk": ["touchpoint,nope"]})
    assert bad.drivers == replace(DriversQuery(), kinds=("touchpoint",)) and len(problems) == 3


def test_cli_errors_are_sentences(store, tmp_path, monkeypatch, capsys):
    path = tmp_path / "tiny.csv"
    frame(ROWS).rename(columns={"ts": "timestamp"})[["customer_id", "timestamp", "touchpoint", "channel"]].to_csv(
        path, index=False)
    monkeypatch.setenv("JOURNEYS_HOME", str(tmp_path / "home"))
    store.ingest(path, name="tiny")
    store.close()
    assert cli(["drivers", "tiny", "--goal", "gaol"]) == 2
    assert "Unknown touchpoint 'gaol'. Did you mean 'goal'?" in capsys.readouterr().err
    assert cli(["drivers", "tiny", "--goal", "goal", "--kinds", "first,nope"]) == 2
    assert "Unknown candidate kind 'nope'" in capsys.readouterr().err
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli(["drivers", "tiny", "--goal", "goal", "--format", "json", "--kinds", "touchpoint"]) == 0
    data = json.loads(out.getvalue())
    assert (data["customers"], data["with_outcome"], data["tested"], data["held_back"]) == (6, 4, 0, 3)
    assert data["elapsed_s"] >= 0 and data["drivers"][0]["kind"] == "touchpoint"


def test_churn_by_touchpoint_and_by_inactivity_by_hand(duck):
    rows = [("k1", 0, "a"), ("k1", 10, "b"), ("k1", 20, "cancel"), ("k1", 30, "a"),  # only a, b before cancelling
            ("k2", 0, "a"), ("k2", 10, "c"),
            ("k3", 0, "b"), ("k3", 60 * DAY, "c")]  # the data ends at day 60
    j = journeys_for(duck.table(frame(rows)), Shaping())
    r = compute_drivers(j, DriversQuery(outcome="churn", outcomes=Outcomes(churn_touchpoints=("cancel",)),
                                        window_days=None, kinds=("touchpoint",)))
    assert (r.customers, r.with_outcome) == (3, 1)
    assert _counts(r) == {("touchpoint", "a"): (2, 1), ("touchpoint", "b"): (2, 1), ("touchpoint", "c"): (2, 0)}
    # inactivity 30 days: k1 and k2 were last seen on day 0, k3 on day 60 (active, not yet known)
    r = compute_drivers(j, DriversQuery(outcome="churn", outcomes=Outcomes(inactivity_days=30), window_days=None,
                                        kinds=("touchpoint",)))
    assert (r.customers, r.with_outcome) == (3, 2)
    assert _counts(r) == {("touchpoint", "a"): (2, 2), ("touchpoint", "b"): (2, 1), ("touchpoint", "c"): (2, 1),
                          ("touchpoint", "cancel"): (1, 1)}
    # k4, first seen on day 50, could not have gone quiet for 30 days by day 60: left out, not a loyal customer
    j = journeys_for(duck.table(frame([*rows, ("k4", 50 * DAY, "a"), ("k4", 55 * DAY, "d")])), Shaping())
    r = compute_drivers(j, DriversQuery(outcome="churn", outcomes=Outcomes(inactivity_days=30), window_days=None,
                                        kinds=("touchpoint",)))
    assert (r.customers, r.with_outcome) == (3, 2) and ("touchpoint", "d") not in _counts(r)
    assert r.outcome_sentence.endswith("1 customer first seen in the last 30 days is left out: too recent to have "
                                       "churned.")


def test_forest_plot_draws_the_significant_top_drivers(duck):
    r = compute_drivers(journeys_for(duck.table(planted()), Shaping()),
                        DriversQuery(outcomes=Outcomes(goals=("purchase",)), kinds=("touchpoint",)))
    rows = forest_rows(r)
    assert list(rows.item) == ["promo"] and (rows.q_value < Q_MAX).all()
    fig = forest_figure(r)
    trace = fig.data[0]
    assert fig.layout.xaxis.type == "log" and list(trace.x) == list(rows.odds_ratio)
    assert list(trace.error_x.arrayminus) == pytest.approx(list(rows.odds_ratio - rows.ci_low))
    assert list(trace.y) == ["1. did promo"]


def test_kept_occurrences_give_the_same_answers(duck):
    t = duck.table(planted(400))
    j = journeys_for(t, Shaping())
    q = DriversQuery(outcomes=Outcomes(goals=("purchase",)), kinds=("touchpoint", "count"))
    fresh = compute_drivers(j, q)
    kept = t.get_backend().__dict__.setdefault("_journeys_occurrences", {})
    before = len(kept)
    assert compute_drivers(j, q, reuse="a").table.equals(fresh.table)
    assert compute_drivers(j, q, reuse="a").table.equals(fresh.table)
    whole = replace(q, window_days=None)
    assert compute_drivers(j, whole, reuse="a").table.equals(compute_drivers(j, whole).table)
    assert len(kept) == min(before + 1, 2)
    compute_drivers(j, q, reuse="b")
    compute_drivers(j, q, reuse="c")
    assert len(kept) == 2  # the oldest is dropped


def test_attribute_candidates_include_sentiment_bands_and_skip_wide_columns(duck):
    df = planted(120)
    n = len(df)
    df["sentiment_band"] = ["negative" if i % 3 == 0 else "positive" for i in range(n)]
    df["sentiment"] = [i / n for i in range(n)]  # per-event numbers: never a yes/no candidate
    df["language"] = "en"
    df["order_id"] = [f"o{i % 60}" for i in range(n)]  # 60 values: too many to test one by one
    r = compute_drivers(journeys_for(duck.table(df), Shaping()),
                        DriversQuery(outcomes=Outcomes(goals=("purchase",)), kinds=("attribute",)))
    assert set(r.table.x) == {"sentiment_band"}
    assert r.skipped_attributes == (("order_id", 60),)
