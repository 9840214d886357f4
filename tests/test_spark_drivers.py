"""Drivers on Spark (local mode) equal DuckDB's and the plain-Python reference exactly."""

from __future__ import annotations

import pandas as pd
import pytest

from journeys.analyses.base import journeys_for
from journeys.analyses.drivers import COLUMNS, DriversQuery, compute_drivers, graph_drivers, key_touchpoints
from journeys.outcomes import Outcomes
from journeys.shaping import Shaping
from tests.conftest import records
from tests.test_drivers_reference import assert_matches, reference_counts, reference_table, shop_frame

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def shop() -> pd.DataFrame:
    return shop_frame(2000, seed=9)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    keys = ["kind", "item"]
    pd.testing.assert_frame_equal(a.sort_values(keys).reset_index(drop=True), b.sort_values(keys).reset_index(drop=True),
                                  check_dtype=False, check_exact=False, rtol=1e-12)


QUERIES = [
    DriversQuery(outcomes=Outcomes(goals=("purchase",)), attributes=("device", "country")),
    DriversQuery(outcomes=Outcomes(goals=("purchase",)), window_days=None, kinds=("touchpoint", "transition", "last")),
    DriversQuery(outcome="churn", outcomes=Outcomes(churn_touchpoints=("unsubscribe", "account_closed")),
                 kinds=("touchpoint", "count", "first")),
    DriversQuery(outcome="churn", outcomes=Outcomes(inactivity_days=45), kinds=("touchpoint", "attribute"),
                 attributes=("device",)),
]


@pytest.mark.parametrize("query", QUERIES)
def test_drivers_identical_on_spark(duck, spark, shop, query):
    rd = compute_drivers(journeys_for(duck.table(shop), Shaping()), query)
    rs = compute_drivers(journeys_for(spark.table(shop), Shaping()), query)
    assert (rd.customers, rd.with_outcome, rd.tested, rd.held_back) == (rs.customers, rs.with_outcome, rs.tested,
                                                                         rs.held_back)
    _same(rd.table[COLUMNS], rs.table[COLUMNS])
    if query.outcome == "conversion":
        counts, n, won = reference_counts(records(shop), query.outcomes.goals, query.window_days, query.kinds,
                                          query.attributes or ())
        assert_matches(rs.table, reference_table(counts, n, won))


def test_key_touchpoints_and_graph_drivers_identical_on_spark(duck, spark, shop):
    q = DriversQuery(outcomes=Outcomes(goals=("purchase",)))
    kd = key_touchpoints(journeys_for(duck.table(shop), Shaping()), q)
    ks = key_touchpoints(journeys_for(spark.table(shop), Shaping()), q)
    _same(kd.table, ks.table)
    gd = graph_drivers(journeys_for(duck.table(shop), Shaping()), ["purchase"])
    gs = graph_drivers(journeys_for(spark.table(shop), Shaping()), ["purchase"])
    pd.testing.assert_frame_equal(gd, gs, check_dtype=False, rtol=1e-12)
