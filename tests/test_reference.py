"""Random journeys (ties, repeats, loops, single events, empty segments) against the plain-Python reference."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeys.analyses import funnel_asof
from journeys.analyses.base import journeys_for
from journeys.analyses.funnels import Exclusion, FunnelQuery, compute_funnel
from journeys.analyses.paths import PathQuery, compute_paths
from journeys.analyses.transitions import compute_transitions
from journeys.segments import Filter, Segment, matching_customers
from journeys.shaping import Shaping
from tests import reference as ref
from tests.conftest import frame, records

TPS = "abcd"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def logs(draw, min_size=0):
    n = draw(st.integers(min_size, 28))
    rows = []
    for _ in range(n):
        rows.append((draw(st.sampled_from("PQRST")), draw(st.integers(0, 150)), draw(st.sampled_from(TPS)),
                     draw(st.sampled_from(["web", "app", None]))))
    return rows


shapings = st.builds(
    dict,
    scope=st.sampled_from(["person", "session"]),
    collapse=st.booleans(),
    rules=st.sampled_from([(), (("^[ab]$", "ab"),)]),
    exclude=st.sampled_from([(), ("^d$",)]),
    node=st.sampled_from(["touchpoint", "touchpoint_channel"]),
    cut=st.booleans(),
)


def _shaping(opts) -> Shaping:
    return Shaping(scope=opts["scope"], collapse_repeats=opts["collapse"], rules=opts["rules"], exclude=opts["exclude"],
                   node=opts["node"], goal="c" if opts["cut"] else None, cut_at_goal=opts["cut"])


def _ref_journeys(df, opts):
    return ref.shape(records(df), scope=opts["scope"], collapse=opts["collapse"], rules=opts["rules"],
                     exclude=opts["exclude"], node=opts["node"], goal="c", cut=opts["cut"])


@SETTINGS
@given(rows=logs(), opts=shapings, goal=st.sampled_from([None, "c"]))
def test_transitions_match_reference(duck, rows, opts, goal):
    df = frame(rows)
    result = compute_transitions(journeys_for(duck.table(df), _shaping(opts)), goal=goal)
    journeys = _ref_journeys(df, opts)
    got = {(r.source, r.target): int(r.count) for r in result.edges.itertuples()}
    assert got == ref.transitions(journeys, goal)
    assert result.journeys == len(journeys)  # START out-degree = journeys
    times = ref.transition_times(journeys)
    for r in result.edges.itertuples():
        if (r.source, r.target) in times:
            assert r.median_s == ref.quantile(times[(r.source, r.target)], 0.5)
            assert abs(r.p90_s - ref.quantile(times[(r.source, r.target)], 0.9)) < 1e-9


@SETTINGS
@given(rows=logs(), opts=shapings, anchor=st.sampled_from(["start", "from", "to", "between"]),
       depth=st.integers(1, 6), top=st.integers(1, 4), start=st.sampled_from(TPS), end=st.sampled_from(TPS))
def test_sankey_matches_reference(duck, rows, opts, anchor, depth, top, start, end):
    if opts["node"] != "touchpoint" or opts["rules"]:
        opts = {**opts, "node": "touchpoint", "rules": ()}
    df = frame(rows)
    q = PathQuery(anchor=anchor, start=start, end=end, depth=depth, top=top)
    result = compute_paths(journeys_for(duck.table(df), _shaping(opts)), q)
    nodes, links = ref.sankey(_ref_journeys(df, opts), anchor=anchor, start=start, end=end, depth=depth, top=top)
    assert dict(zip(result.nodes.key, result.nodes.customers, strict=True)) == nodes
    assert {(r.source, r.target): r.customers for r in result.links.itertuples()} == links
    # flows close: into a node = out of it + its journey ends, for every step before the last
    inflow, outflow = Counter(), Counter()
    for r in result.links.itertuples():
        outflow[r.source] += r.customers
        inflow[r.target] += r.customers
    for r in result.nodes.itertuples():
        if r.step < depth and not r.label.startswith("("):
            assert outflow[r.key] == r.customers
        if r.step > 1:
            assert inflow[r.key] == r.customers


@st.composite
def funnels(draw):
    n = draw(st.integers(1, 4))
    steps = tuple(tuple(sorted(set(draw(st.lists(st.sampled_from(TPS), min_size=1, max_size=2))))) for _ in range(n))
    exclusions = ()
    if n >= 2 and draw(st.booleans()):
        after = draw(st.integers(1, n - 1))
        exclusions = (Exclusion((draw(st.sampled_from(TPS)),), after, draw(st.integers(after + 1, n))),)
    step_windows = ()
    if n >= 2 and draw(st.booleans()):
        step_windows = tuple([None] + [draw(st.sampled_from([None, timedelta(minutes=5)])) for _ in range(n - 1)])
    return FunnelQuery(steps=steps, window=timedelta(minutes=draw(st.sampled_from([5, 30, 120, 10_000]))),
                       order=draw(st.sampled_from(["strict", "sequential", "any"])), exclusions=exclusions,
                       step_windows=step_windows)


@pytest.mark.parametrize("asof", [True, False], ids=["asof joins", "windows"])
@SETTINGS
@given(rows=logs(), q=funnels(), scope=st.sampled_from(["person", "session"]))
def test_funnel_matches_reference(duck, rows, q, scope, asof):
    # DuckDB matches sequential funnels by ASOF joins; the window path (Spark's) must agree on DuckDB too
    df = frame(rows)
    with mock.patch.object(funnel_asof, "can_use", funnel_asof.can_use if asof else lambda *_: False):
        result = compute_funnel(journeys_for(duck.table(df), Shaping(scope=scope)), q)
    journeys = ref.shape(records(df), scope=scope)
    counts, best = ref.funnel(
        journeys, [set(s) for s in q.steps], window_s=int(q.window.total_seconds()), order_mode=q.order,
        exclusions=tuple((set(e.touchpoints), e.after, e.before) for e in q.exclusions),
        step_windows=tuple(int(w.total_seconds()) if w else None for w in q.step_windows))
    assert list(result.steps.customers) == counts
    # step 1 equals journeys that did any step-1 touchpoint
    assert counts[0] == sum(1 for evs in journeys.values() if any(e["touchpoint"] in q.steps[0] for e in evs))
    for k in range(2, len(q.steps) + 1):
        times = [a.times[k - 1] - a.times[0] for a in best.values() if a.reached >= k]
        if times:
            assert result.steps.median_s.iloc[k - 1] == ref.quantile(times, 0.5)


filters = st.one_of(
    st.builds(Filter, kind=st.just("did"), values=st.tuples(st.sampled_from(TPS))),
    st.builds(Filter, kind=st.just("did_not"), values=st.tuples(st.sampled_from(TPS))),
    st.builds(Filter, kind=st.just("at_least"), values=st.tuples(st.sampled_from(TPS)), times=st.integers(1, 3)),
    st.builds(Filter, kind=st.just("then"), values=st.tuples(st.sampled_from(TPS), st.sampled_from(TPS)),
              within_days=st.sampled_from([None, 1])),
    st.builds(Filter, kind=st.just("attribute"), column=st.just("channel"), values=st.tuples(st.sampled_from(["web", "app"])),
              op=st.sampled_from(["in", "not_in", "contains"])),
    st.builds(Filter, kind=st.just("converted")),
    st.builds(Filter, kind=st.just("at_step"), values=st.tuples(st.sampled_from(TPS)), times=st.integers(1, 4)),
)


@SETTINGS
@given(rows=logs(), a=filters, b=filters, combine=st.sampled_from(["and", "or"]))
def test_segments_match_reference(duck, rows, a, b, combine):
    df = frame(rows)
    t = journeys_for(duck.table(df), Shaping())
    got = set(matching_customers(t, Segment((a, b), combine), goal="c").to_pandas().customer_id)
    events = records(df)
    sa, sb = ref.segment_customers(events, a, goal="c"), ref.segment_customers(events, b, goal="c")
    assert got == (sa & sb if combine == "and" else sa | sb)
