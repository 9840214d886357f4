"""The Outcomes spec: default inactivity threshold, honest censoring, the URL and the command line."""

from __future__ import annotations

import argparse
from datetime import timedelta

import pandas as pd
import pytest

from journeys.errors import QueryError
from journeys.outcomes import (
    ACTIVE,
    CHURNED,
    Outcomes,
    add_outcome_args,
    churn_status,
    gap_quantile,
    inactivity_threshold,
    outcomes_from,
    purchase_gaps,
)
from journeys.views import ViewState
from tests.conftest import BASE, frame

DAY = 24 * 60
# A buys on days 0, 10, 20 (twice on day 20: one purchase day); B buys on days 0 and 50 and browses on day 60;
# C only shows up on day 95 (the data's end); D closes the account on day 5 and looks once more on day 6.
LOG = [
    ("A", 0, "purchase"), ("A", 10 * DAY, "purchase"), ("A", 20 * DAY, "purchase"), ("A", 20 * DAY + 60, "purchase"),
    ("B", 0, "purchase"), ("B", 50 * DAY, "purchase"), ("B", 60 * DAY, "home"),
    ("C", 95 * DAY, "home"),
    ("D", 2 * DAY, "home"), ("D", 5 * DAY, "account_closed"), ("D", 6 * DAY, "home"),
]


@pytest.fixture
def events(duck):
    return duck.table(frame(LOG))


def _status(events, outcomes: Outcomes, **kw) -> dict[str, tuple[str, object]]:
    df = churn_status(events, outcomes, **kw).to_pandas()
    return {r.customer_id: (r.status, None if pd.isna(r.churn_ts) else r.churn_ts) for r in df.itertuples()}


def test_purchase_gaps_are_counted_between_purchase_days(events):
    gaps = purchase_gaps(events, ("purchase",))
    assert list(zip(gaps.gap_days, gaps.gaps, strict=True)) == [(10, 2), (50, 1)]
    assert gap_quantile(gaps) == 50  # 2 of 3 gaps are 10 days: two thirds is short of 0.9
    assert gap_quantile(pd.DataFrame({"gap_days": [1, 2], "gaps": [9, 1]})) == 1  # exactly 0.9 at 1 day
    assert gap_quantile(pd.DataFrame({"gap_days": [], "gaps": []})) is None


def test_default_threshold_is_p90_of_purchase_gaps_or_thirty_days(events):
    found = inactivity_threshold(events, Outcomes(goals=("purchase",)))
    assert (found.days, found.chosen, found.p90_days, found.gaps) == (50, False, 50, 3)
    assert "p90 of 3 gaps between purchase days (50 days)" in found.sentence()
    # without purchases named, gaps between active days: A 10, 10; B 50, 10; D 3, 1 -> p90 is 50
    active = inactivity_threshold(events, Outcomes())
    assert active.p90_days == 50 and "p90 of 6 gaps between active days (no purchase touchpoint is set)" in \
        active.sentence()
    floor = inactivity_threshold(events, Outcomes(goals=("account_closed",)))  # nobody closed twice
    assert (floor.days, floor.p90_days) == (30, None)


def test_inactivity_churn_is_censored_at_the_data_end(events):
    status = _status(events, Outcomes(goals=("purchase",)))  # 50 days: cutoff is day 45
    assert status == {"A": (CHURNED, BASE + timedelta(minutes=20 * DAY + 60)), "B": (ACTIVE, None),
                      "C": (ACTIVE, None), "D": (CHURNED, BASE + timedelta(days=6))}
    # exactly N days of silence is churn: B's last event is day 60, the data ends on day 95
    assert _status(events, Outcomes(inactivity_days=35))["B"] == (CHURNED, BASE + timedelta(days=60))
    assert _status(events, Outcomes(inactivity_days=36))["B"] == (ACTIVE, None)


def test_explicit_churn_is_the_first_churn_touchpoint(events):
    status = _status(events, Outcomes(churn_touchpoints=("account_closed",)))
    assert status == {"A": (ACTIVE, None), "B": (ACTIVE, None), "C": (ACTIVE, None),
                      "D": (CHURNED, BASE + timedelta(days=5))}


def test_bad_thresholds_are_sentences(events):
    with pytest.raises(QueryError, match=r"inactivity threshold \(96 days\) is longer than the data spans \(95 days\)"):
        inactivity_threshold(events, Outcomes(inactivity_days=96))
    with pytest.raises(QueryError, match="not both"):
        Outcomes(churn_touchpoints=("x",), inactivity_days=5).validate()
    with pytest.raises(QueryError, match="Unknown return touchpoint 'purchse'. Did you mean 'purchase'"):
        Outcomes(returns=("purchse",)).validate(["home", "purchase"])


def test_url_round_trip_writes_only_non_default_values():
    assert ViewState().to_params() == {}
    spec = Outcomes(goals=("purchase", "upgrade"), inactivity_days=45, returns=("purchase",))
    params = ViewState(outcomes=spec).to_params()
    assert params == {"og": "purchase,upgrade", "cin": "45", "ret": "purchase"}
    back, problems = ViewState.from_params({k: [v] for k, v in params.items()})
    assert back.outcomes == spec and problems == []
    explicit = ViewState(outcomes=Outcomes(churn_touchpoints=("account_closed",)))
    assert ViewState.from_params({"ct": ["account_closed"]})[0] == explicit


def test_bad_link_values_fall_back_with_a_sentence():
    view, problems = ViewState.from_params({"cin": ["soon"], "ret": ["purchase"]})
    assert view.outcomes == Outcomes(returns=("purchase",))
    assert problems == [("The link's inactivity threshold could not be used ('soon' is not a number of days); "
                         "the default threshold applies.")]
    view, problems = ViewState.from_params({"cin": ["40"], "ct": ["account_closed"]})
    assert view.outcomes == Outcomes(churn_touchpoints=("account_closed",))
    assert "the churn touchpoints are used" in problems[0]


def test_command_line_flags():
    parser = argparse.ArgumentParser()
    parser.add_argument("--goal")
    add_outcome_args(parser)
    args = parser.parse_args(["--goal", "purchase", "--inactive", "8w", "--return", "purchase,review"])
    assert outcomes_from(args) == Outcomes(goals=("purchase",), inactivity_days=56, returns=("purchase", "review"))
    args = parser.parse_args(["--conversion", "signup", "--churn-touchpoints", "account_closed,unsubscribe"])
    assert outcomes_from(args) == Outcomes(goals=("signup",), churn_touchpoints=("account_closed", "unsubscribe"))
    with pytest.raises(SystemExit):
        parser.parse_args(["--inactive", "60d", "--churn-touchpoints", "x"])
    with pytest.raises(QueryError, match="'sixty' is not a number of days"):
        outcomes_from(parser.parse_args(["--inactive", "sixty"]))
