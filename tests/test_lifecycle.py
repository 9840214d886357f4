"""Lifecycle: PostHog's new / returning / resurrecting / dormant by hand and against a plain-Python reference."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeys.analyses.lifecycle import STATES, LifecycleQuery, compute_lifecycle
from journeys.errors import QueryError
from tests.conftest import frame, records

DAY = 24 * 60
# BASE is Saturday 2025-03-01: week 0 is Mon Feb 24, week 1 Mar 3, week 2 Mar 10, week 3 Mar 17, week 4 Mar 24
LOG = [
    ("A", 0, "home"), ("A", 3 * DAY, "purchase"), ("A", 17 * DAY, "home"),  # weeks 0, 1, 3
    ("B", 3 * DAY, "home"), ("B", 10 * DAY, "home"),                         # weeks 1, 2
    ("C", 10 * DAY, "purchase"), ("C", 24 * DAY, "home"),                    # weeks 2, 4 (Wed Mar 26: the end)
]


def test_weekly_lifecycle_by_hand(duck):
    r = compute_lifecycle(duck.table(frame(LOG)))
    got = r.periods.set_index(r.periods.period.dt.date)
    rows = {d.isoformat(): tuple(int(got.loc[d, s]) for s in STATES) for d in got.index}
    assert rows == {
        "2025-02-24": (1, 0, 0, 0),  # A new
        "2025-03-03": (1, 1, 0, 0),  # B new, A returning
        "2025-03-10": (1, 1, 0, 1),  # C new, B returning, A dormant
        "2025-03-17": (0, 0, 1, 2),  # A resurrecting; B and C dormant
        "2025-03-24": (0, 0, 1, 1),  # C resurrecting; A dormant (in a week not over yet)
    }
    assert list(got.complete) == [True, True, True, True, False]
    assert list(got.quick_ratio.astype(object).where(got.quick_ratio.notna(), None)) == [None, None, 1.0, 0.5, 1.0]
    # over the complete weeks after the first: (new 1 + 1 + 0 + resurrecting 0 + 0 + 1) / dormant (0 + 1 + 2)
    assert r.quick_ratio() == 1.0


def test_return_events_and_bad_input(duck):
    events = duck.table(frame(LOG))
    r = compute_lifecycle(events, LifecycleQuery(returns=("purchase",)))
    # periods start at the first purchase (week 1): A buys in week 1, C in week 2, neither again
    assert [int(x) for x in r.periods.new] == [1, 1, 0, 0]
    assert [int(x) for x in r.periods.dormant] == [0, 1, 1, 0]
    with pytest.raises(QueryError, match="Unknown touchpoint 'hom'. Did you mean 'home'"):
        compute_lifecycle(events, LifecycleQuery(returns=("hom",)))
    with pytest.raises(QueryError, match="less than two months"):
        compute_lifecycle(events, LifecycleQuery(interval="month"))


def _index(d: date, unit: str) -> int:
    if unit == "month":
        return d.year * 12 + d.month - 1
    days = (d - date(1970, 1, 1)).days
    return days if unit == "day" else (days + 3) // 7


def reference(rows: list[dict[str, Any]], q: LifecycleQuery) -> dict[int, tuple[int, int, int, int]]:
    """period number -> (new, returning, resurrecting, dormant), customer by customer."""
    active: dict[str, set[int]] = defaultdict(set)
    for r in rows:
        if not q.returns or r["touchpoint"] in q.returns:
            active[r["customer_id"]].add(_index(r["ts"].date(), q.interval))
    last = _index(max(r["ts"] for r in rows).date(), q.interval)
    first = min(min(ps) for ps in active.values())
    out = {}
    for p in range(first, last + 1):
        counts = [0, 0, 0, 0]
        for ps in active.values():
            if p in ps:
                counts[0 if min(ps) == p else 1 if p - 1 in ps else 2] += 1
            elif p - 1 in ps:
                counts[3] += 1
        out[p] = tuple(counts)
    return out


EVENT = st.tuples(st.sampled_from("pqrstu"), st.integers(0, 70), st.sampled_from(["a", "b"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(evs=st.lists(EVENT, min_size=1, max_size=30), interval=st.sampled_from(["day", "week"]),
       returns=st.sampled_from([(), ("b",)]))
def test_matches_the_reference_on_duckdb(duck, evs, interval, returns):
    df = frame([("Z", 0, "a"), ("Z", 71 * DAY, "b")] + [(c, d * DAY + 7, tp) for c, d, tp in evs])
    q = LifecycleQuery(interval=interval, returns=returns)
    r = compute_lifecycle(duck.table(df), q)
    want = reference(records(df), q)
    got = {_index(pd.Timestamp(p).date(), interval): tuple(int(getattr(row, s)) for s in STATES)
           for p, row in zip(r.periods.period, r.periods.itertuples(), strict=True)}
    assert got == want


def test_reference_weeks_start_on_monday():
    assert _index(date(2025, 2, 24), "week") == _index(date(2025, 3, 2), "week") != _index(date(2025, 3, 3), "week")
