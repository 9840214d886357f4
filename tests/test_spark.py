"""The same analyses on Spark (local mode) return exactly what DuckDB returns."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from journeys import sample
from journeys.analyses.base import journeys_for
from journeys.analyses.funnels import Exclusion, FunnelQuery, compute_funnel
from journeys.analyses.paths import PathQuery, compute_paths
from journeys.analyses.transitions import compute_transitions
from journeys.engine.connect import canonical_table
from journeys.schema import ColumnMapping
from journeys.segments import Filter, Segment
from journeys.shaping import Shaping

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def shop() -> pd.DataFrame:
    """3,000 generated events as a source table (not canonical): the connected-dataset path."""
    df = sample.generate(3000, seed=5).to_pandas()
    df["ts"] = pd.to_datetime(df.pop("timestamp").str.rstrip("Z")).astype("datetime64[us]")
    df["seq"] = range(len(df))
    return df


MAPPING = ColumnMapping(customer="customer_id", timestamp="ts", touchpoint="touchpoint", channel="channel",
                        session="session_id", value="revenue", score="csat", text="feedback")


def _both(duck, spark, shop):
    d = canonical_table(duck.table(shop), MAPPING, seq="seq")
    s = canonical_table(spark.table(shop), MAPPING, seq="seq")
    return d, s


def _same(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> None:
    a = a.sort_values(keys).reset_index(drop=True)
    b = b.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-12)


SEGMENT = Segment((Filter("attribute", ("mobile",), column="device"), Filter("did", ("add_to_cart",))))
SHAPINGS = [Shaping(goal="purchase"), Shaping(scope="session", collapse_repeats=True, goal="purchase"),
            Shaping(node="touchpoint_channel", rules=(("^email_", "email"),), exclude=("^ad_impression$",))]


@pytest.mark.parametrize("shaping", SHAPINGS)
def test_transitions_identical(duck, spark, shop, shaping):
    d, s = _both(duck, spark, shop)
    for seg in (None, SEGMENT):
        rd = compute_transitions(journeys_for(d, shaping, seg), goal=shaping.goal)
        rs = compute_transitions(journeys_for(s, shaping, seg), goal=shaping.goal)
        _same(rd.edges, rs.edges, ["source", "target"])
        _same(rd.nodes, rs.nodes, ["touchpoint"])
        assert (rd.journeys, rd.transitions) == (rs.journeys, rs.transitions)


@pytest.mark.parametrize("query", [PathQuery(), PathQuery(anchor="from", start="product_view", depth=4, top=3),
                                   PathQuery(anchor="to", end="purchase"), PathQuery(anchor="between", start="home", end="checkout")])
def test_paths_identical(duck, spark, shop, query):
    d, s = _both(duck, spark, shop)
    shaping = Shaping(goal="purchase")
    rd = compute_paths(journeys_for(d, shaping, SEGMENT), query, goal="purchase")
    rs = compute_paths(journeys_for(s, shaping, SEGMENT), query, goal="purchase")
    _same(rd.nodes, rs.nodes, ["key"])
    _same(rd.links, rs.links, ["source", "target"])
    _same(rd.variants, rs.variants, ["path"])
    assert rd.coverage == rs.coverage and rd.transition_coverage == rs.transition_coverage


@pytest.mark.parametrize("order", ["sequential", "strict", "any"])
def test_funnels_identical(duck, spark, shop, order):
    d, s = _both(duck, spark, shop)
    q = FunnelQuery(steps=(("product_view",), ("add_to_cart",), ("checkout",), ("purchase",)), order=order,
                    window=timedelta(days=7), exclusions=(Exclusion(("chat",), 3, 4),), breakdown="device", trend="week")
    rd = compute_funnel(journeys_for(d, Shaping()), q)
    rs = compute_funnel(journeys_for(s, Shaping()), q)
    _same(rd.steps, rs.steps, ["step"])
    _same(rd.time_buckets, rs.time_buckets, ["step", "bucket"])
    _same(rd.next_after_drop, rs.next_after_drop, ["step", "next_touchpoint"])
    _same(rd.breakdown, rs.breakdown, ["value", "step"])
    _same(rd.trend, rs.trend, ["period"])
