"""Retention, lifecycle, churn and the Outcomes engine step on Spark (local mode) equal DuckDB's and the
plain-Python references exactly."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeys.analyses.churn import ChurnQuery, compute_churn
from journeys.analyses.lifecycle import LifecycleQuery, compute_lifecycle
from journeys.analyses.retention import RetentionQuery, compute_retention
from journeys.outcomes import Outcomes, churn_status, inactivity_threshold, purchase_gaps
from tests.conftest import records
from tests.test_drivers_reference import shop_frame
from tests.test_lifecycle import reference as lifecycle_reference
from tests.test_retention import EVENT, QUERY, as_dict, close, log_of, reference

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def shop() -> pd.DataFrame:
    return shop_frame(4000, seed=11)


def _same(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> None:
    pd.testing.assert_frame_equal(a.sort_values(keys).reset_index(drop=True), b.sort_values(keys).reset_index(drop=True),
                                  check_dtype=False, check_exact=False, rtol=1e-12)


RETENTION = [RetentionQuery(), RetentionQuery(cohort="month", period="day", periods=10, calendar=True),
             RetentionQuery(mode="on_or_after", start="product_view", returns=("purchase",), breakdown="device")]


@pytest.mark.parametrize("query", RETENTION)
def test_retention_identical(duck, spark, shop, query):
    d, s = compute_retention(duck.table(shop), query), compute_retention(spark.table(shop), query)
    _same(d.table, s.table, ["group", "cohort", "k"])
    _same(d.average, s.average, ["group", "k"])


@pytest.mark.parametrize("query", [LifecycleQuery(), LifecycleQuery(interval="day", returns=("purchase",))])
def test_lifecycle_identical(duck, spark, shop, query):
    _same(compute_lifecycle(duck.table(shop), query).periods, compute_lifecycle(spark.table(shop), query).periods,
          ["period"])


CHURN = [ChurnQuery(outcomes=Outcomes(goals=("purchase",)), breakdown="country"),
         ChurnQuery(outcomes=Outcomes(churn_touchpoints=("account_closed", "unsubscribe")), interval="week", last_k=4)]


@pytest.mark.parametrize("query", CHURN)
def test_churn_identical(duck, spark, shop, query):
    d, s = compute_churn(duck.table(shop), query), compute_churn(spark.table(shop), query)
    assert (d.customers, d.churned, d.revenue_lost, d.revenue_customers, d.no_history) == (
        s.customers, s.churned, s.revenue_lost, s.revenue_customers, s.no_history)
    _same(d.by_cohort, s.by_cohort, ["cohort"])
    _same(d.over_time, s.over_time, ["period"])
    _same(d.time_to_churn, s.time_to_churn, ["weeks"])
    _same(d.links, s.links, ["source", "target", "status"])
    _same(d.overrepresented, s.overrepresented, ["touchpoint"])
    _same(d.paths.assign(path=d.paths.path.map(" > ".join)), s.paths.assign(path=s.paths.path.map(" > ".join)),
          ["path"])
    if query.breakdown:
        _same(d.by_group, s.by_group, ["group"])


def test_outcomes_engine_step_identical(duck, spark, shop):
    spec = Outcomes(goals=("purchase",))
    assert inactivity_threshold(duck.table(shop), spec) == inactivity_threshold(spark.table(shop), spec)
    _same(purchase_gaps(duck.table(shop), ("purchase",)), purchase_gaps(spark.table(shop), ("purchase",)), ["gap_days"])
    for o in (spec, Outcomes(churn_touchpoints=("account_closed",)), Outcomes(inactivity_days=20)):
        stamps = dict.fromkeys(["first_ts", "last_ts", "churn_ts"], "datetime64[us]")  # Spark hands back ns
        _same(churn_status(duck.table(shop), o).to_pandas().astype(stamps),
              churn_status(spark.table(shop), o).to_pandas().astype(stamps), ["customer_id"])


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(evs=st.lists(EVENT, min_size=1, max_size=25), q=QUERY)
def test_retention_matches_the_reference_on_spark(spark, evs, q):
    df = log_of(evs)
    close(as_dict(compute_retention(spark.table(df), q)), reference(records(df), q))


def test_lifecycle_matches_the_reference_on_spark(spark, shop):
    for q in (LifecycleQuery(), LifecycleQuery(interval="day", returns=("purchase",))):
        got = compute_lifecycle(spark.table(shop), q).periods
        want = lifecycle_reference(records(shop), q)
        states = [tuple(int(x) for x in row) for row in got[["new", "returning", "resurrecting", "dormant"]].to_numpy()]
        assert states == [want[p] for p in sorted(want)]
