"""Journey map page: stage columns, pain points from the core's numbers."""

from __future__ import annotations

from journeys.analyses.base import journeys_for
from journeys.analyses.journey_map import compute_journey_map, infer_stages
from journeys.shaping import Shaping
from tests.app.conftest import _store, app, texts


def test_journey_map(sample_id):
    at = app("screens/journey_map.py", ds=sample_id)
    assert not at.exception
    j = journeys_for(_store().table(sample_id), Shaping(goal="purchase"))
    tps = sorted(j.touchpoint.to_pandas().unique())
    expected = compute_journey_map(j, infer_stages(tps), goal="purchase")
    pain = expected.touchpoints[expected.touchpoints.pain_point]
    captions = " ".join(texts(at, "caption"))
    for row in pain.itertuples():
        assert f"{row.drop_offs:,} journeys end here unconverted" in captions
    assert f"{expected.journeys:,} journeys." in captions
