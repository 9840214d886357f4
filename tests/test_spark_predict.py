"""Predict's engine work on Spark (local mode) equals DuckDB's: feature snapshots, labels, chain transitions,
next-best-action supports and a customer's timeline."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from journeys import sample
from journeys.analyses.predict import customer_timeline
from journeys.analyses.predict_features import fetch, labelled, plan_features
from journeys.analyses.state_chain import transitions
from journeys.engine.connect import canonical_table
from journeys.outcomes import Outcomes
from journeys.schema import ColumnMapping

pytestmark = pytest.mark.spark

MAPPING = ColumnMapping(customer="customer_id", timestamp="ts", touchpoint="touchpoint", channel="channel",
                        session="session_id", value="revenue", score="csat", text="feedback")
CUTOFF = datetime(2025, 6, 1)


@pytest.fixture(scope="module")
def both(duck, spark):
    df = sample.generate(6000, seed=5).to_pandas()
    df["ts"] = pd.to_datetime(df.pop("timestamp").str.rstrip("Z")).astype("datetime64[us]")
    df["seq"] = range(len(df))
    return canonical_table(duck.table(df), MAPPING, seq="seq"), canonical_table(spark.table(df), MAPPING, seq="seq")


def _same(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> None:
    a = a.sort_values(keys).reset_index(drop=True)
    b = b.sort_values(keys).reset_index(drop=True)[list(a.columns)]
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-9)


@pytest.mark.parametrize(("target", "outcomes"), [
    ("conversion", Outcomes(goals=("purchase",))),
    ("churn", Outcomes(churn_touchpoints=("account_closed",))),
    ("churn", Outcomes(goals=("purchase",), inactivity_days=21)),
])
def test_labelled_snapshots_identical(both, target, outcomes):
    d, s = both
    plan_d, plan_s = plan_features(d, 2), plan_features(s, 2)
    assert plan_d == plan_s
    fd = fetch(labelled(d, plan_d, CUTOFF, timedelta(days=28), target, outcomes, 30, with_label=True))
    fs = fetch(labelled(s, plan_s, CUTOFF, timedelta(days=28), target, outcomes, 30, with_label=True))
    assert len(fd) > 50
    if outcomes.inactivity_days:  # the other outcomes are rare in 6,000 events
        assert 0 < fd.label.sum() < len(fd)
    _same(fd, fs, ["customer_id"])


def test_transitions_and_supports_identical(both):
    d, s = both
    kw = {"order": 2, "horizon": timedelta(days=28), "success": ("purchase",), "failure": ("account_closed",),
          "actions": ("chat", "store_visit", "email_open")}
    cd, sd = transitions(d, CUTOFF, **kw)
    cs, ss = transitions(s, CUTOFF, **kw)
    keys = ["h0", "h1", "next"]
    _same(cd.fillna("-"), cs.fillna("-"), keys)
    for m in (1, 2):
        _same(sd[m].assign(state=sd[m].state.map(str)), ss[m].assign(state=ss[m].state.map(str)), ["state", "next"])


def test_timeline_identical(both):
    d, s = both
    who = str(fetch(labelled(d, plan_features(d, 1), CUTOFF, timedelta(days=28), "conversion",
                             Outcomes(goals=("purchase",)), 30, with_label=False)).customer_id.iloc[0])
    (td, nd), (ts_, ns) = customer_timeline(d, who), customer_timeline(s, who)
    assert nd == ns and nd > 0
    pd.testing.assert_frame_equal(td, ts_, check_dtype=False)
