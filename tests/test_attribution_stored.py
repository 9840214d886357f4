"""Attribution read off the stored paths (journeys without the goal from one row per journey, converting journeys
from their events) gives exactly what grouping every journey's events gives."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pyarrow.csv as pacsv
import pytest

from journeys.analyses import attribution_touches, summary
from journeys.analyses.attribution import AttributionQuery, AttributionResult, compute_attribution
from journeys.analyses.base import journeys_for
from journeys.engine import derived
from journeys.engine.store import Store
from journeys.errors import QueryError
from journeys.sample import generate
from journeys.segments import Filter, Segment
from journeys.shaping import Shaping

GOAL = "purchase"
SEGMENT = Segment((Filter("did", ("add_to_cart",)),))
PERSON, SESSIONS = Shaping(goal=GOAL), Shaping(goal=GOAL, scope="session")
LOOKBACKS = [AttributionQuery().lookback, None, timedelta(days=7)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("attribution")
    pacsv.write_csv(generate(6000, seed=5), tmp / "shop.csv")
    s = Store(tmp / "home")
    s.ingest(tmp / "shop.csv")
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _segments_use_the_stored_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every segment here reads the derived tables (by default only one with 40%+ of the customers does)."""
    monkeypatch.setattr(summary, "SEGMENT_SHARE_MIN", 0.0)


def _run(store: Store, q: AttributionQuery, shaping: Shaping, segment: Segment | None) -> AttributionResult | str:
    table = store.table(store.datasets()[0].id)
    try:
        return compute_attribution(journeys_for(table, shaping, segment), q, span=timedelta(days=365))
    except QueryError as err:
        return err.message


def _both(store: Store, monkeypatch: pytest.MonkeyPatch, q: AttributionQuery, shaping: Shaping = PERSON,
          segment: Segment | None = None) -> tuple[AttributionResult | str, AttributionResult | str]:
    seen: list[bool] = []
    real = attribution_touches.stored_aggregates

    def spy(journeys, query):
        out = real(journeys, query)
        seen.append(out is not None)
        return out

    with monkeypatch.context() as m:
        m.setattr(attribution_touches, "stored_aggregates", spy)
        m.setattr("journeys.analyses.attribution.stored_aggregates", spy)
        fast = _run(store, q, shaping, segment)
    assert seen == [True]  # the stored paths answered
    with monkeypatch.context() as m:
        m.setattr("journeys.analyses.attribution.stored_aggregates", lambda _journeys, _q: None)
        slow = _run(store, q, shaping, segment)
    return fast, slow


def _same(fast: AttributionResult | str, slow: AttributionResult | str) -> None:
    if isinstance(slow, str):
        assert fast == slow
        return
    assert isinstance(fast, AttributionResult)
    pd.testing.assert_frame_equal(fast.credits, slow.credits, check_exact=True)
    pd.testing.assert_frame_equal(fast.paths, slow.paths, check_exact=True)
    for name in ("journeys", "conversions", "uncredited", "value", "touches_without_item", "p_conversion", "warnings"):
        assert getattr(fast, name) == getattr(slow, name), name


@pytest.mark.parametrize("lookback", LOOKBACKS, ids=["30d", "all", "7d"])
@pytest.mark.parametrize("by", ["channel", "touchpoint"])
@pytest.mark.parametrize("segment", [None, SEGMENT], ids=["everyone", "segment"])
def test_stored_paths_give_what_the_events_give(store, monkeypatch, by, lookback, segment) -> None:
    fast, slow = _both(store, monkeypatch, AttributionQuery(goals=(GOAL,), by=by, lookback=lookback, bootstrap=20),
                       segment=segment)
    assert isinstance(slow, AttributionResult) and slow.conversions > 0
    _same(fast, slow)


@pytest.mark.parametrize("segment", [None, SEGMENT], ids=["everyone", "segment"])
def test_reshaped_journeys_read_their_own_stored_paths(store, monkeypatch, segment) -> None:
    q = AttributionQuery(goals=(GOAL, "checkout"), lookback=timedelta(days=7), bootstrap=0)
    fast, slow = _both(store, monkeypatch, q, SESSIONS, segment)
    customers = int(journeys_for(store.table(store.datasets()[0].id), SESSIONS, segment).customer_id.nunique().to_pandas())
    assert isinstance(slow, AttributionResult) and slow.journeys > customers  # sessions, not customers
    _same(fast, slow)


def test_missing_items_and_values_are_counted_the_same(store, monkeypatch) -> None:
    """``score`` (csat) is a number on few events: most touches have no item, and the items are numbers as text."""
    fast, slow = _both(store, monkeypatch, AttributionQuery(goals=(GOAL,), by="score", lookback=None, bootstrap=0))
    _same(fast, slow)
    if isinstance(slow, AttributionResult):
        assert slow.touches_without_item > 0


def test_built_once_per_column_and_lookback_then_read(store, monkeypatch) -> None:
    q = AttributionQuery(goals=(GOAL,), by="device", bootstrap=0)
    derived.LAST_BUILT.clear()
    _both(store, monkeypatch, q)
    built = {b.holds for b in derived.LAST_BUILT}
    # (the touchpoints' codes serve every column: an earlier test may have built them)
    assert built - {attribution_touches.codes_key("touchpoint")} == {attribution_touches.codes_key("device"), attribution_touches.sequences_key("device")}
    derived.LAST_BUILT.clear()
    _both(store, monkeypatch, AttributionQuery(goals=("checkout",), by="device", bootstrap=0))
    assert derived.LAST_BUILT == []  # another goal reads the same tables


def test_a_goal_nobody_reached_says_so_both_ways(store, monkeypatch) -> None:
    fast, slow = _both(store, monkeypatch, AttributionQuery(goals=("no_such_step",), bootstrap=0))
    assert isinstance(slow, str) and slow.startswith("Nobody reached the goal 'no_such_step'")
    assert fast == slow


def test_a_backfill_of_the_column_drops_its_tables(store, monkeypatch) -> None:
    """The stored sequences copy the column's values: a change in place (a sentiment backfill) must drop them."""
    q = AttributionQuery(goals=(GOAL,), by="country", bootstrap=0)
    _both(store, monkeypatch, q)
    keys = {attribution_touches.codes_key("country"), attribution_touches.sequences_key("country")}
    dataset = store.datasets()[0].id

    def held() -> set[str]:
        return {h for (h,) in store.cursor().execute("SELECT holds FROM derived").fetchall()}

    assert keys <= held()
    derived.drop_changed_column(store.cursor(), dataset, "country")
    assert not keys & held()


@pytest.mark.parametrize("q", [
    AttributionQuery(goals=(GOAL,), by="touchpoint", lookback=None, half_life=timedelta(minutes=10), order=2,
                     position=(0.2, 0.2, 0.6), bootstrap=0),
    AttributionQuery(goals=(GOAL, "checkout"), by="device", lookback=timedelta(days=7), bootstrap=0),
], ids=["old-touches-weigh-almost-nothing", "two-goals-by-attribute"])
def test_other_settings_give_what_the_events_give(store, monkeypatch, q) -> None:
    fast, slow = _both(store, monkeypatch, q)
    _same(fast, slow)
