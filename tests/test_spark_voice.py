"""Voice of the customer on Spark (local mode) equals DuckDB's: sentiment joined from distinct texts,
scores, the curve, snippets, terms and the behaviour comparisons."""

from __future__ import annotations

import pandas as pd
import pytest

from journeys.analyses.voice import compute_voice, default_query, voice_journeys
from journeys.outcomes import Outcomes
from journeys.segments import Filter, Segment
from journeys.shaping import Shaping
from tests.test_drivers_reference import shop_frame

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def shop() -> pd.DataFrame:
    return shop_frame(6000, seed=11)


def _same(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> None:
    pd.testing.assert_frame_equal(a.sort_values(keys).reset_index(drop=True), b.sort_values(keys).reset_index(drop=True),
                                  check_dtype=False, check_exact=False, rtol=1e-12)


@pytest.mark.parametrize(("outcomes", "segment"), [
    (Outcomes(goals=("purchase",), churn_touchpoints=("account_closed",)), None),
    (Outcomes(goals=("purchase",), inactivity_days=40), Segment((Filter("felt", ("negative",)),))),
])
def test_voice_identical_on_spark(duck, spark, shop, outcomes, segment):
    tps = sorted(shop.touchpoint.unique())
    q = default_query(tps, "purchase", outcomes=outcomes, touchpoint="chat")
    rd = compute_voice(voice_journeys(duck.table(shop), Shaping(goal="purchase"), segment), q)
    rs = compute_voice(voice_journeys(spark.table(shop), Shaping(goal="purchase"), segment), q)
    assert rd.coverage.texts > 0 and (rd.coverage.texts, rd.coverage.scored) == (rs.coverage.texts, rs.coverage.scored)
    _same(rd.touchpoints, rs.touchpoints, ["touchpoint"])
    _same(rd.curve, rs.curve, ["stage"])
    _same(rd.snippets, rs.snippets, ["text"])
    _same(rd.terms, rs.terms, ["term"])
    _same(rd.behaviour, rs.behaviour, ["touchpoint", "signal", "outcome"])
    assert rd.scores is not None and rs.scores is not None
    _same(rd.scores.by_touchpoint, rs.scores.by_touchpoint, ["group"])
    _same(rd.scores.by_channel, rs.scores.by_channel, ["group"])
    assert rd.findings() == rs.findings()
