"""Reshaped journeys kept in the store per (fingerprint, shaping) give exactly what reshaping in memory gives,
are built once, follow every change to the dataset, and are read (never built) by a read-only store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow.csv as pacsv
import pytest

from journeys.analyses import base, summary
from journeys.analyses.base import journeys_for
from journeys.analyses.funnels import FunnelQuery, compute_funnel
from journeys.analyses.journey_map import MOVES_KEY, compute_journey_map, infer_stages
from journeys.analyses.paths import PathQuery, compute_paths
from journeys.analyses.transitions import compute_transitions
from journeys.engine import derived
from journeys.engine.store import Store
from journeys.sample import generate
from journeys.segments import Filter, Segment
from journeys.shaping import Shaping

GOAL = "purchase"
SHAPINGS = [
    Shaping(goal=GOAL, scope="session", collapse_repeats=True),
    Shaping(goal=GOAL, scope="session", session_gap=timedelta(minutes=5)),
    Shaping(goal=GOAL, collapse_repeats=True),
    Shaping(goal=GOAL, cut_at_goal=True),
    Shaping(goal=GOAL, exclude=("home",)),
]
SEGMENT = Segment((Filter("did", ("add_to_cart",)),))


def _write_sample(path: Path, events: int, seed: int) -> Path:
    pacsv.write_csv(generate(events, seed=seed), path)
    return path


@pytest.fixture(autouse=True)
def _segments_use_the_summaries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every segment here reads the derived tables (by default only one with 40%+ of the customers does), so
    the comparisons below cover that path."""
    monkeypatch.setattr(summary, "SEGMENT_SHARE_MIN", 0.0)


@pytest.fixture
def loaded(tmp_path: Path) -> tuple[Store, str, Path]:
    store = Store(tmp_path / "home")
    first = _write_sample(tmp_path / "shop.csv", 3000, seed=11)
    dataset = store.ingest(first).dataset_id
    yield store, dataset, tmp_path
    store.close()


def _results(journeys, stages):
    return {
        "transitions": compute_transitions(journeys, goal=GOAL).edges,
        "paths": compute_paths(journeys, PathQuery(), goal=GOAL).links,
        "funnel": compute_funnel(journeys, FunnelQuery(steps=(("product_view",), ("add_to_cart",), (GOAL,)))).steps,
        "map": compute_journey_map(journeys, stages, goal=GOAL).touchpoints,
    }


def _in_memory(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(derived, "shaped", lambda _events, _shaping: None)


def _catalogue(store: Store) -> list[tuple[str, str]]:
    return store.cursor().execute("SELECT dataset_id, holds FROM derived ORDER BY holds").fetchall()


def _reshaped(store: Store) -> list[str]:
    """The stored reshaped journeys (not the summaries built from them)."""
    return [h for _, h in _catalogue(store) if h.startswith("Shaping(")]


@pytest.mark.parametrize("shaping", SHAPINGS, ids=lambda s: s.scope + ("-collapse" if s.collapse_repeats else "")
                         + ("-cut" if s.cut_at_goal else "") + ("-exclude" if s.exclude else "")
                         + (f"-{int(s.session_gap.total_seconds())}s" if s.scope == "session" else ""))
@pytest.mark.parametrize("segment", [None, SEGMENT], ids=["everyone", "segment"])
def test_stored_journeys_equal_reshaping_in_memory(loaded, monkeypatch, shaping, segment):
    store, dataset, _ = loaded
    table = store.table(dataset)
    stages = infer_stages(base.known_touchpoints(table))
    got = _results(journeys_for(table, shaping, segment), stages)
    assert _reshaped(store) == [derived.shaping_key(shaping)]
    # their summaries, moves and touchpoints are kept beside them, under the shaping's name
    assert {h for _, h in _catalogue(store) if not h.startswith(derived.SEGMENT)} - set(_reshaped(store)) == {
        f"{k} of {derived.shaping_key(shaping)}" for k in (summary.KEY, summary.EDGES_KEY, summary.CODES_KEY,
                                                            *([MOVES_KEY] if segment is None else []))}
    with monkeypatch.context() as m:
        _in_memory(m)
        want = _results(journeys_for(table, shaping, segment), stages)
    for name in got:
        assert got[name].reset_index(drop=True).equals(want[name].reset_index(drop=True)), name


def test_built_once_then_read(loaded):
    store, dataset, _ = loaded
    shaping = SHAPINGS[0]
    derived.LAST_BUILT.clear()
    first = journeys_for(store.table(dataset), shaping)
    assert len(derived.LAST_BUILT) == 1
    derived.LAST_BUILT.clear()
    again = journeys_for(store.table(dataset), shaping, SEGMENT)
    # the segment reads the same stored journeys (only its customers are new)
    assert [b.holds.startswith(derived.SEGMENT) for b in derived.LAST_BUILT] == [True]
    assert again.count().execute() < first.count().execute()
    derived.LAST_BUILT.clear()
    # the goal does not change journeys unless they are cut at it: one table serves every goal
    journeys_for(store.table(dataset), Shaping(goal="checkout", scope="session", collapse_repeats=True))
    assert derived.LAST_BUILT == [] and len(_reshaped(store)) == 1
    # the default shaping is the stored table itself: nothing is derived
    journeys_for(store.table(dataset), Shaping(goal=GOAL))
    assert len(_reshaped(store)) == 1 and derived.LAST_BUILT == []


def test_a_change_to_the_dataset_drops_its_tables_and_the_next_view_sees_it(loaded, monkeypatch):
    store, dataset, tmp = loaded
    shaping = SHAPINGS[0]
    before = compute_transitions(journeys_for(store.table(dataset), shaping), goal=GOAL)
    assert len(_reshaped(store)) == 1
    more = _write_sample(tmp / "more.csv", 800, seed=12)
    store.ingest(more, into=dataset, as_source="more")
    assert _catalogue(store) == []
    after = compute_transitions(journeys_for(store.table(dataset), shaping), goal=GOAL)
    with monkeypatch.context() as m:
        _in_memory(m)
        want = compute_transitions(journeys_for(store.table(dataset), shaping), goal=GOAL)
    assert after.edges.equals(want.edges)
    assert after.journeys > before.journeys
    store.remove_source(dataset, "more")
    assert _catalogue(store) == []
    journeys_for(store.table(dataset), shaping)
    store.delete(dataset)
    assert _catalogue(store) == []
    names = {r[0] for r in store.cursor().execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert not [n for n in names if n.startswith("dv_")]


def test_at_most_a_few_tables_per_dataset_the_least_used_go_first(loaded, monkeypatch):
    store, dataset, _ = loaded
    monkeypatch.setattr(derived, "KEEP_PER_DATASET", 2)
    table = store.table(dataset)
    for shaping in SHAPINGS[:3]:
        journeys_for(table, shaping)
    kept = {s for _, s in _catalogue(store)}
    assert kept == {derived.shaping_key(SHAPINGS[1]), derived.shaping_key(SHAPINGS[2])}
    names = {r[0] for r in store.cursor().execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert len([n for n in names if n.startswith("dv_")]) == 2


def test_a_read_only_store_reads_stored_journeys_and_builds_none(loaded, monkeypatch):
    store, dataset, tmp = loaded
    shaping, other = SHAPINGS[0], SHAPINGS[2]
    stages = infer_stages(base.known_touchpoints(store.table(dataset)))
    journeys_for(store.table(dataset), shaping)
    store.close()
    reader = Store(tmp / "home", read_only=True)
    try:
        derived.LAST_BUILT.clear()
        table = reader.table(dataset)
        got = {s: _results(journeys_for(table, s, SEGMENT), stages) for s in (shaping, other)}
        assert derived.LAST_BUILT == []
        assert derived.shaped(table, shaping) is not None and derived.shaped(table, other) is None
        with monkeypatch.context() as m:
            _in_memory(m)
            for s in (shaping, other):
                want = _results(journeys_for(table, s, SEGMENT), stages)
                assert all(got[s][k].equals(want[k]) for k in want)
    finally:
        reader.close()


def test_only_stored_tables_are_derived(loaded):
    store, dataset, _ = loaded
    table = store.table(dataset)
    assert derived.stored_dataset(table) == dataset
    assert derived.stored_dataset(table.filter(table.touchpoint != "home")) is None
    assert derived.stored_dataset(table.select("customer_id", "ts")) is None


def _slow(monkeypatch: pytest.MonkeyPatch):
    from journeys.analyses import summary

    monkeypatch.setattr(summary, "summary_for", lambda _journeys, **_: None)
    monkeypatch.setattr(summary, "edges_for", lambda _journeys: None)
    monkeypatch.setattr(summary, "gaps_for", lambda _journeys, _purchases: None)
    monkeypatch.setattr(summary, "whole_for", lambda _journeys, _key, _make: None)


@pytest.mark.parametrize("segment", [None, SEGMENT], ids=["everyone", "segment"])
@pytest.mark.parametrize("goal", [GOAL, None], ids=["goal", "no-goal"])
def test_journey_summaries_answer_exactly_what_the_events_answer(loaded, monkeypatch, segment, goal):
    store, dataset, _ = loaded
    table = store.table(dataset)
    stages = infer_stages(base.known_touchpoints(table))
    queries = [PathQuery(), PathQuery(depth=10, variants=30), PathQuery(depth=12), PathQuery(anchor="from", start="home")]

    def run():
        j = journeys_for(table, Shaping(goal=goal), segment)
        out = [compute_transitions(j, goal=goal).edges, compute_journey_map(j, stages, goal=goal).touchpoints,
               compute_journey_map(j, stages, goal=goal).stages]
        for q in queries:
            p = compute_paths(j, q, goal=goal)
            out += [p.nodes, p.links, p.variants]
        return out

    got = run()
    kinds = {h for _, h in _catalogue(store) if not h.startswith(derived.SEGMENT)}
    # the journey map's moves are an aggregate of everyone: kept for the whole dataset, never cut to a segment
    assert kinds == {summary.KEY, summary.EDGES_KEY, summary.CODES_KEY, *([MOVES_KEY] if segment is None else [])}
    with monkeypatch.context() as m:
        _slow(m)
        want = run()
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.reset_index(drop=True).equals(w.reset_index(drop=True)), (i, g.compare(w) if g.shape == w.shape else g)


def test_summaries_follow_the_dataset_and_are_not_used_for_date_ranges(loaded, monkeypatch):
    from journeys.analyses import summary
    from journeys.views import filter_dates

    store, dataset, tmp = loaded
    table = store.table(dataset)
    j = journeys_for(table, Shaping(goal=GOAL))
    assert summary.summary_for(j) is not None and summary.edges_for(j) is not None
    ranged = journeys_for(filter_dates(table, None, __import__("datetime").date(2030, 1, 1)), Shaping(goal=GOAL))
    assert summary.summary_for(ranged) is None
    store.ingest(_write_sample(tmp / "more.csv", 500, seed=13), into=dataset, as_source="more")
    assert _catalogue(store) == []
    table = store.table(dataset)
    got = compute_paths(journeys_for(table, Shaping(goal=GOAL)), goal=GOAL).variants
    with monkeypatch.context() as m:
        _slow(m)
        want = compute_paths(journeys_for(table, Shaping(goal=GOAL)), goal=GOAL).variants
    assert got.equals(want)


@pytest.mark.parametrize("segment", [None, SEGMENT], ids=["everyone", "segment"])
@pytest.mark.parametrize("explicit", [False, True], ids=["inactivity", "explicit"])
def test_churn_from_journey_summaries_equals_churn_from_events(loaded, monkeypatch, segment, explicit):
    from journeys.analyses.churn import ChurnQuery, compute_churn
    from journeys.outcomes import Outcomes

    store, dataset, _ = loaded
    table = store.table(dataset)
    outcomes = Outcomes(goals=(GOAL,), churn_touchpoints=("account_closed",)) if explicit else Outcomes(goals=(GOAL,))
    end = __import__("journeys.outcomes", fromlist=["data_end"]).data_end(table)

    def run():
        r = compute_churn(journeys_for(table, Shaping(goal=GOAL), segment), ChurnQuery(outcomes=outcomes, last_k=4),
                          end=end)
        return (r.customers, r.churned, r.revenue_lost, r.revenue_customers, r.no_history, r.inactivity), \
            [r.links, r.overrepresented, r.paths, r.by_cohort, r.over_time, r.time_to_churn]

    got = run()
    if not explicit:
        assert summary.TAILS_KEY in {h for _, h in _catalogue(store)}
    with monkeypatch.context() as m:
        _slow(m)
        m.setattr(summary, "tails_for", lambda _journeys: None)
        want = run()
    assert got[0] == want[0] and got[0][3] > 0  # customers who paid in their last 30 days are counted
    for i, (g, w) in enumerate(zip(got[1], want[1], strict=True)):
        assert g.reset_index(drop=True).equals(w.reset_index(drop=True)), (i, g, w)


def _defaults(table) -> list[str]:
    """What preparing a dataset builds: the summaries, the journey map's moves, drivers' occurrences and first
    items, attribution's channel sequences."""
    from journeys.analyses import attribution_touches as at
    from journeys.analyses.drivers_candidates import OCCURRENCES_KEY
    from journeys.analyses.drivers_items import ITEMS_KEY

    return [*(k for k, _ in summary.BUILDERS), MOVES_KEY, OCCURRENCES_KEY, ITEMS_KEY, at.codes_key("touchpoint"),
            at.codes_key("channel"), at.sequences_key("channel")]


def test_a_load_can_prepare_the_default_views_in_the_background(tmp_path):
    store = Store(tmp_path / "home")
    threads = []
    store.after_load.append(lambda d: threads.append(summary.prepare_in_background(lambda: store.table(d))))
    try:
        dataset = store.ingest(_write_sample(tmp_path / "shop.csv", 1500, seed=5)).dataset_id
        assert len(threads) == 1
        threads[0].join(timeout=120)
        assert not threads[0].is_alive()
        table = store.table(dataset)
        assert {h for _, h in _catalogue(store)} == set(_defaults(table))
        derived.LAST_BUILT.clear()
        j = journeys_for(table, Shaping(goal=GOAL))
        compute_transitions(j, goal=GOAL)
        compute_paths(j, goal=GOAL)
        compute_journey_map(j, infer_stages(base.known_touchpoints(table)), goal=GOAL)
        from journeys.analyses.attribution import AttributionQuery, compute_attribution
        from journeys.analyses.drivers import DriversQuery, compute_drivers
        from journeys.outcomes import Outcomes

        compute_drivers(j, DriversQuery(outcomes=Outcomes(goals=(GOAL,)), kinds=("touchpoint", "count")))
        compute_attribution(j, AttributionQuery(goals=(GOAL,)))
        assert derived.LAST_BUILT == []  # the first views found everything built
        stop = __import__("threading").Event()
        stop.set()
        assert summary.prepare(table, stop=stop) == []
        assert summary.prepare(table) == _defaults(table)
    finally:
        store.close()


def test_a_load_from_the_command_line_prepares_the_default_views_for_later_read_only_commands(tmp_path, monkeypatch):
    from journeys.watch import load

    monkeypatch.delenv("JOURNEYS_MEMORY_LIMIT", raising=False)
    limits, told, prepare = [], [], summary.prepare

    def watched(table, **kw):  # the preparation is part of the load: it runs under the load's memory limit
        limits.append(table.get_backend().con.execute("SELECT current_setting('memory_limit')").fetchone()[0])
        return prepare(table, **kw)

    monkeypatch.setattr(summary, "prepare", watched)
    report = load(tmp_path / "home", _write_sample(tmp_path / "shop.csv", 1200, seed=6), tell=told.append)
    assert report is not None
    assert limits == ["1.8 GiB"]  # DuckDB's spelling of 2GB
    assert told[0].startswith("Loaded. Preparing the default views") and told[1].startswith("Prepared in ")
    reader = Store(tmp_path / "home", read_only=True)
    try:
        table = reader.table(report.dataset_id)
        assert {h for _, h in _catalogue(reader)} == set(_defaults(table))
        derived.LAST_BUILT.clear()
        compute_paths(journeys_for(table, Shaping(goal=GOAL)), goal=GOAL)
        assert derived.LAST_BUILT == []
        assert summary.summary_for(journeys_for(table, Shaping(goal=GOAL))) is not None
    finally:
        reader.close()


@pytest.mark.parametrize("order", ["sequential", "strict", "any"])
def test_one_matching_pass_gives_every_breakdown_of_the_funnel(loaded, order):
    from dataclasses import replace

    from journeys.analyses.funnels import compute_funnel_and_by

    store, dataset, _ = loaded
    j = journeys_for(store.table(dataset), Shaping(goal=GOAL), SEGMENT)
    q = FunnelQuery(steps=(("product_view",), ("add_to_cart",), (GOAL,)), order=order)
    columns = ("device", "country", "channel")
    together = compute_funnel_and_by(j, q, columns)[1]
    assert list(together) == list(columns)
    for col in columns:
        alone = compute_funnel(j, replace(q, breakdown=col))
        got = together[col]
        assert got.query == alone.query
        for name in ("steps", "time_buckets", "next_after_drop", "breakdown"):
            assert getattr(got, name).equals(getattr(alone, name)), (col, name)
    for view_breakdown in (None, "device"):  # the funnel itself comes out of the same pass
        q2 = replace(q, breakdown=view_breakdown)
        whole, by = compute_funnel_and_by(j, q2, columns)
        alone = compute_funnel(j, q2)
        assert whole.query == alone.query and list(by) == list(columns)
        for name in ("steps", "time_buckets", "next_after_drop"):
            assert getattr(whole, name).equals(getattr(alone, name)), name
        assert (whole.breakdown is None) if view_breakdown is None else whole.breakdown.equals(alone.breakdown)


@pytest.mark.parametrize("segment", [None, SEGMENT], ids=["everyone", "segment"])
@pytest.mark.parametrize(("cohort", "period"), [("week", "week"), ("month", "week"), ("day", "day"), ("week", "month")])
def test_retention_from_stored_activity_equals_retention_from_events(loaded, monkeypatch, segment, cohort, period):
    from journeys.analyses.retention import RetentionQuery, compute_retention
    from journeys.outcomes import data_end

    store, dataset, _ = loaded
    table = store.table(dataset)
    q = RetentionQuery(cohort=cohort, period=period, periods=6)

    def run():
        return compute_retention(journeys_for(table, Shaping(goal=GOAL), segment), q, end=data_end(table))

    got = run()
    assert f"activity by {period} v1" in {h for _, h in _catalogue(store)}
    with monkeypatch.context() as m:
        m.setattr(summary, "activity_for", lambda _journeys, _period: None)
        want = run()
    assert got.customers == want.customers and got.has_revenue == want.has_revenue
    assert got.table.equals(want.table), got.table.compare(want.table) if got.table.shape == want.table.shape else 0
    assert got.average.equals(want.average)
    assert got.cohorts() == want.cohorts()


@pytest.mark.parametrize("segment", [None, SEGMENT], ids=["everyone", "segment"])
@pytest.mark.parametrize("interval", ["day", "week", "month"])
def test_lifecycle_from_stored_activity_equals_lifecycle_from_events(loaded, monkeypatch, segment, interval):
    from journeys.analyses.lifecycle import LifecycleQuery, compute_lifecycle
    from journeys.outcomes import data_end

    store, dataset, _ = loaded
    table = store.table(dataset)

    def run():
        return compute_lifecycle(journeys_for(table, Shaping(goal=GOAL), segment), LifecycleQuery(interval=interval),
                                 end=data_end(table)).periods

    got = run()
    assert f"calendar activity by {interval} v1" in {h for _, h in _catalogue(store)}
    with monkeypatch.context() as m:
        m.setattr(summary, "calendar_activity_for", lambda _journeys, _unit: None)
        want = run()
    assert got.equals(want)


def test_a_segments_customers_are_kept_once_per_dataset_and_pruned_apart(loaded, monkeypatch):
    store, dataset, _ = loaded
    table = store.table(dataset)
    sh = Shaping(goal=GOAL)
    derived.LAST_BUILT.clear()
    first = compute_transitions(journeys_for(table, sh, SEGMENT), goal=GOAL).edges
    segments = [h for _, h in _catalogue(store) if h.startswith(derived.SEGMENT)]
    assert len(segments) == 1 and SEGMENT.to_param() in segments[0]
    derived.LAST_BUILT.clear()
    again = compute_transitions(journeys_for(table, sh, SEGMENT), goal=GOAL).edges
    assert derived.LAST_BUILT == [] and again.equals(first)  # the second view reads the kept customers
    with monkeypatch.context() as m:  # what a read-only store computes in a temp table
        m.setattr(derived, "stored", lambda _events, _key, _build: None)
        assert compute_transitions(journeys_for(table, sh, SEGMENT), goal=GOAL).edges.equals(first)
    monkeypatch.setattr(derived, "KEEP_SEGMENTS", 2)
    others = {h for _, h in _catalogue(store) if not h.startswith(derived.SEGMENT)}
    for tp in ("home", "checkout", "search"):
        journeys_for(table, sh, Segment((Filter("did", (tp,)),)))
    kept = [h for _, h in _catalogue(store) if h.startswith(derived.SEGMENT)]
    assert len(kept) == 2 and all("search" in h or "checkout" in h for h in kept)
    assert {h for _, h in _catalogue(store) if not h.startswith(derived.SEGMENT)} == others


def test_a_small_segment_reads_its_own_events_a_large_one_the_summaries(loaded, monkeypatch):
    store, dataset, _ = loaded
    monkeypatch.setattr(summary, "SEGMENT_SHARE_MIN", 0.4)
    table = store.table(dataset)
    customers = int(table.select("customer_id").distinct().count().to_pandas())
    small, large = Segment((Filter("did", ("checkout",)),)), Segment((Filter("did_not", ("checkout",)),))
    shares = {}
    for seg in (small, large):
        j = journeys_for(table, Shaping(goal=GOAL), seg)
        shares[seg] = int(j.select("customer_id").distinct().count().to_pandas()) / customers
        assert (summary.summary_for(j) is None) == (shares[seg] < 0.4)
    assert shares[small] < 0.4 <= shares[large]


def test_a_column_changed_in_place_drops_the_tables_that_copied_it_and_the_segments(loaded):
    store, dataset, _ = loaded
    table = store.table(dataset)
    journeys_for(table, SHAPINGS[0])  # reshaped journeys copy every column, seq included
    compute_paths(journeys_for(table, Shaping(goal=GOAL), SEGMENT), goal=GOAL)  # a segment and the summaries
    before = {h for _, h in _catalogue(store)}
    assert derived.drop_changed_column(store.cursor(), dataset, "seq") == 2
    after = {h for _, h in _catalogue(store)}
    assert before - after == {derived.shaping_key(SHAPINGS[0])} | {h for h in before if h.startswith(derived.SEGMENT)}
    assert summary.KEY in after


@pytest.mark.parametrize("purchases", [(GOAL,), (GOAL, "add_to_cart"), ()], ids=["goal", "two", "any-event"])
def test_purchase_gaps_are_kept_per_choice_and_pruned_with_the_small_tables(loaded, monkeypatch, purchases):
    from journeys.outcomes import purchase_gaps

    store, dataset, _ = loaded
    table = store.table(dataset)
    summary.prepare(table)  # the default views' tables
    journeys = journeys_for(table, Shaping(goal=GOAL))
    others = {h for _, h in _catalogue(store)}
    got = purchase_gaps(journeys, purchases)
    gaps = [h for _, h in _catalogue(store) if h.startswith(derived.GAPS)]
    assert len(gaps) == 1 and (", ".join(sorted(purchases)) or "any event") in gaps[0]
    with monkeypatch.context() as m:
        _slow(m)
        want = purchase_gaps(journeys, purchases)
    assert got.equals(want) and int(want.gaps.sum()) > 0
    purchase_gaps(journeys_for(table, Shaping(goal=GOAL), SEGMENT), purchases)
    assert [h for _, h in _catalogue(store) if h.startswith(derived.GAPS)] == gaps  # a segment counts its own
    monkeypatch.setattr(derived, "KEEP_SEGMENTS", 1)
    monkeypatch.setattr(derived, "KEEP_PER_DATASET", len(others))
    purchase_gaps(journeys, ("checkout",))  # a new choice pushes out the older gap count, never a summary
    kept = {h for _, h in _catalogue(store)}
    assert [h for h in kept if h.startswith(derived.GAPS)] == [f"{derived.GAPS}of checkout v1"]
    assert {h for h in kept if not h.startswith(derived.GAPS)} == others
