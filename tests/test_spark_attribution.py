"""Attribution on Spark (local mode) returns exactly what DuckDB returns: credits, bands, counts, paths."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from journeys.analyses.attribution import AttributionQuery, compute_attribution
from journeys.analyses.base import journeys_for
from journeys.shaping import Shaping
from tests.test_spark import _both, shop  # noqa: F401 (the module's fixture)

pytestmark = pytest.mark.spark


@pytest.mark.parametrize("query", [
    AttributionQuery(goals=("purchase",), bootstrap=20),
    AttributionQuery(goals=("purchase",), by="touchpoint", lookback=None, order=2, bootstrap=0,
                     half_life=timedelta(hours=6), position=(0.2, 0.2, 0.6)),
    AttributionQuery(goals=("purchase", "checkout"), by="device", lookback=timedelta(days=7), bootstrap=0),
], ids=["channel-bands", "touchpoint-order2", "attribute-two-goals"])
def test_attribution_identical(duck, spark, shop, query):  # noqa: F811
    d, s = _both(duck, spark, shop)
    a = compute_attribution(journeys_for(d, Shaping()), query)
    b = compute_attribution(journeys_for(s, Shaping()), query)
    pd.testing.assert_frame_equal(a.credits, b.credits, check_exact=False, rtol=1e-9, atol=1e-9)
    assert (a.journeys, a.conversions, a.uncredited, a.touches_without_item) == \
           (b.journeys, b.conversions, b.uncredited, b.touches_without_item)
    assert a.value == pytest.approx(b.value)
    assert a.paths.path.tolist() == b.paths.path.tolist() or sorted(a.paths.path) == sorted(b.paths.path)
    assert a.warnings == b.warnings
    assert a.conversions > 50
