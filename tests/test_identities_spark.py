"""Stitching on Spark: the same label propagation gives the same persons as a plain union-find, and
stitched events give the same transitions as on DuckDB."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from journeys.analyses.base import journeys_for
from journeys.analyses.transitions import compute_transitions
from journeys.engine.identities import stitch
from journeys.shaping import Shaping
from tests.test_identities import EDGES, as_ids, components_on, split_files, union_find  # noqa: F401

pytestmark = pytest.mark.spark


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(EDGES)
def test_components_equal_union_find_on_spark(spark, edges):
    pairs = as_ids(edges)
    want = {k: v for k, v in union_find(pairs).items() if any(k in (a, b) for a, b in pairs if a != b)}
    assert components_on(spark, pairs) == want


def test_stitched_events_on_spark_equal_duckdb_and_the_unsplit_data(store, split_files, duck, spark):  # noqa: F811
    whole = store.ingest(split_files["whole"], name="whole").dataset_id
    ds = store.ingest(split_files["web"], name="split").dataset_id
    store.ingest(split_files["other"], into=ds)
    store.add_identities(ds, split_files["crm"], ["cookie", "email"])
    raw = store.table(ds).drop("step", "next_touchpoint", "next_ts").to_pandas()
    raw["customer_id"] = raw["raw_id"]
    raw = raw[["customer_id", "ts", "seq", "touchpoint", "channel", "session_id", "value", "score", "text", "raw_id"]]
    links = pd.read_csv(split_files["crm"]).rename(columns={"cookie": "a", "email": "b"})
    from journeys.engine.identities import connected_components

    got = {}
    for engine in (duck, spark):
        persons = connected_components(engine.table(links))
        t = stitch(engine.table(raw), persons)
        got[engine.name] = compute_transitions(journeys_for(t, Shaping(goal="purchase")), goal="purchase")
    want = compute_transitions(journeys_for(store.table(whole), Shaping(goal="purchase")), goal="purchase")
    for r in got.values():
        pd.testing.assert_frame_equal(r.edges.sort_values(["source", "target"]).reset_index(drop=True),
                                      want.edges.sort_values(["source", "target"]).reset_index(drop=True),
                                      check_dtype=False)
        assert (r.journeys, r.transitions) == (want.journeys, want.transitions)
