"""Drivers read the touchpoint occurrences and first items a stored dataset keeps (with each customer's entry),
and give exactly what computing them from the events gives: every candidate kind, outcome, window, segment and
shaping."""

from __future__ import annotations

import pyarrow.csv as pacsv
import pytest

from journeys.analyses import drivers_candidates, drivers_items, summary
from journeys.analyses.base import journeys_for
from journeys.analyses.drivers import DriversQuery, compute_drivers, key_touchpoints
from journeys.engine import derived
from journeys.engine.store import Store
from journeys.outcomes import Outcomes
from journeys.sample import generate
from journeys.segments import Filter, Segment
from journeys.shaping import Shaping

GOAL = "purchase"
SEGMENT = Segment((Filter("did", ("add_to_cart",)),))
KINDS = ("touchpoint", "count", "transition", "first", "last", "attribute")


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("drivers")
    path = home / "shop.csv"
    pacsv.write_csv(generate(4000, seed=5), path)
    store = Store(home / "home")
    dataset = store.ingest(path).dataset_id
    yield store, dataset
    store.close()


def _run(table, shaping, segment, query):
    return compute_drivers(journeys_for(table, shaping, segment), query)


@pytest.mark.parametrize("segment", [None, SEGMENT], ids=["everyone", "segment"])
@pytest.mark.parametrize(("outcomes", "outcome"), [
    (Outcomes(goals=(GOAL,)), "conversion"),
    (Outcomes(goals=(GOAL,), churn_touchpoints=("account_closed",)), "churn"),
    (Outcomes(goals=(GOAL,)), "churn"),
], ids=["conversion", "explicit-churn", "inactivity-churn"])
@pytest.mark.parametrize("window", [30, None], ids=["30d", "all"])
@pytest.mark.parametrize("shaping", [Shaping(goal=GOAL), Shaping(goal=GOAL, collapse_repeats=True)],
                         ids=["default", "collapsed"])
def test_stored_occurrences_give_the_drivers_the_events_give(stored, monkeypatch, segment, outcomes, outcome,
                                                              window, shaping):
    monkeypatch.setattr(summary, "SEGMENT_SHARE_MIN", 0.0)  # the segment reads the stored tables too
    store, dataset = stored
    table = store.table(dataset)
    query = DriversQuery(outcome=outcome, outcomes=outcomes, window_days=window, kinds=KINDS)
    got = _run(table, shaping, segment, query)
    held = {h for (h,) in store.cursor().execute("SELECT holds FROM derived").fetchall()}
    assert any(h.startswith(drivers_candidates.OCCURRENCES_KEY) for h in held)
    assert any(h.startswith(drivers_items.ITEMS_KEY) for h in held)
    with monkeypatch.context() as m:
        m.setattr(drivers_candidates, "stored_occurrences", lambda _journeys: None)
        m.setattr(derived, "stored", lambda _events, _key, _build: None)
        want = _run(table, shaping, segment, query)
    assert (got.customers, got.with_outcome) == (want.customers, want.with_outcome) and got.with_outcome > 0
    g = got.table.sort_values(["kind", "item"]).reset_index(drop=True)
    w = want.table.sort_values(["kind", "item"]).reset_index(drop=True)
    assert len(g) > 10 and g.equals(w)


def test_key_touchpoints_read_the_same_counts(stored, monkeypatch):
    store, dataset = stored
    table = store.table(dataset)
    query = DriversQuery(outcomes=Outcomes(goals=(GOAL,)))
    got = key_touchpoints(journeys_for(table, Shaping(goal=GOAL)), query).table
    with monkeypatch.context() as m:
        m.setattr(drivers_candidates, "stored_occurrences", lambda _journeys: None)
        want = key_touchpoints(journeys_for(table, Shaping(goal=GOAL)), query).table
    assert got.sort_values("item").reset_index(drop=True).equals(want.sort_values("item").reset_index(drop=True))
