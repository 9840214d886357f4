"""Retention: hand-checked cohorts, and exact agreement with a plain-Python reference (hypothesis)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeys.analyses.retention import ALL, RetentionQuery, compute_retention
from journeys.errors import QueryError
from tests.conftest import frame, records

DAY = 24 * 60
ROLL = {"day": 86_400, "week": 7 * 86_400, "month": 30 * 86_400}

# BASE is Saturday 2025-03-01 09:00. Weekly cohorts: A and B start in the week of Mon 2025-02-24, C in the next.
LOG = [
    ("A", 0, "home", None, 10.0), ("A", 7 * DAY + 1, "purchase", None, 5.0), ("A", 21 * DAY, "home"),
    ("B", 60, "home"), ("B", 6 * DAY, "home"),
    ("C", 3 * DAY, "home", None, 2.0), ("C", 10 * DAY, "purchase"),
    ("Z", 30 * DAY, "home"),  # the data ends on day 30 (Mon 2025-03-31 09:00)
]


def test_rolling_weekly_retention_by_hand(duck):
    r = compute_retention(duck.table(frame(LOG)), RetentionQuery(periods=4))
    got = {(c["cohort"], c["size"]): (c["retained"], c["revenue"]) for c in r.cohorts()}
    # A: k=0 (day 0), k=1 (day 7 + 1 min), k=3 (day 21); B: both events in k=0 (day 6 is still 6 x 24 h)
    # cohort of the 24th: latest start is B at 10:00 on day 0, so k=3 ends on day 28 10:00 (seen), k=4 on day 35
    assert got[("2025-02-24", 2)] == ([2, 1, 0, 1, None], [10.0, 5.0, 0.0, 0.0, None])
    # C starts on day 3 (Tue): k=3 ends on day 31, after the data's end: not observed, never a drop
    assert got[("2025-03-03", 1)] == ([1, 1, 0, None, None], [2.0, 0.0, 0.0, None, None])
    avg = r.average.set_index("k")
    # Z's cohort (day 30) has not even finished its first week: it counts nowhere, not as a drop
    assert got[("2025-03-31", 1)] == ([None] * 5, [None] * 5)
    assert list(avg.loc[[0, 1, 2, 3], "retained"]) == [3, 2, 0, 1]
    assert list(avg.loc[[0, 1, 2, 3], "size"]) == [3, 3, 3, 2]
    assert avg.loc[3, "pct"] == 0.5 and pd.isna(avg.loc[4, "retained"])


def test_on_or_after_calendar_and_return_event(duck):
    events = duck.table(frame(LOG))
    r = compute_retention(events, RetentionQuery(periods=3, mode="on_or_after", calendar=True,
                                                 returns=("purchase",)))
    got = {c["cohort"]: c["retained"] for c in r.cohorts()}
    # calendar weeks: A buys in the next week (k=1), so A counts on or after k=0 and k=1; B never buys;
    # C buys the week after its start (k=1); C's k=3 is the week of Mar 24-30, over before the data ends
    assert got["2025-02-24"] == [1, 1, 0, 0]
    assert got["2025-03-03"] == [1, 1, 0, 0]
    daily = compute_retention(events, RetentionQuery(cohort="month", period="day", periods=2, start="purchase"))
    # cohort by first purchase: A (day 7) and C (day 10), both in March; nobody comes back the next days
    assert daily.cohorts() == [{"cohort": "2025-03-01", "size": 2, "retained": [2, 0, 0],
                                "revenue": [5.0, 0.0, 0.0]}]


def test_bad_input_is_a_sentence(duck):
    events = duck.table(frame(LOG))
    with pytest.raises(QueryError, match="Unknown touchpoint 'purchse'. Did you mean 'purchase'"):
        compute_retention(events, RetentionQuery(returns=("purchse",)))
    with pytest.raises(QueryError, match="spans less than two months"):
        compute_retention(events, RetentionQuery(period="month", calendar=False, periods=2))
    with pytest.raises(QueryError, match="Unknown column 'devise'"):
        compute_retention(events, RetentionQuery(breakdown="devise"))


# ---- the plain-Python reference ---------------------------------------------------------------------

def _index(moment: datetime, unit: str) -> int:
    if unit == "month":
        return moment.year * 12 + moment.month - 1
    day = (moment.date() - date(1970, 1, 1)).days
    return day if unit == "day" else (day + 3) // 7


def _start(number: int, unit: str) -> datetime:
    if unit == "month":
        return datetime(number // 12, number % 12 + 1, 1)
    return datetime(1970, 1, 1) + timedelta(days=number if unit == "day" else 7 * number - 3)


def reference(rows: list[dict[str, Any]], q: RetentionQuery) -> dict[tuple[str, date, int], tuple[int, int | None, float | None]]:
    """(group, cohort, k) -> (size, retained or None, revenue or None), from the definitions, one customer at a time."""
    end = max(r["ts"] for r in rows)
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r["ts"], r["seq"])):
        by[r["customer_id"]].append(r)
    members: dict[tuple[str, int], list[tuple[datetime, set[int], dict[int, float]]]] = defaultdict(list)
    for evs in by.values():
        starts = [r for r in evs if q.start is None or r["touchpoint"] == q.start]
        if not starts:
            continue
        a = starts[0]
        group = str(a[q.breakdown]) if q.breakdown and a[q.breakdown] is not None else ("(none)" if q.breakdown else ALL)

        def k_of(ts: datetime, a_ts: datetime = a["ts"]) -> int:
            if q.calendar:
                return _index(ts, q.period) - _index(a_ts, q.period)
            return int((ts - a_ts).total_seconds() // ROLL[q.period])

        later = [r for r in evs if r["ts"] >= a["ts"]]
        ks = {k_of(r["ts"]) for r in later if not q.returns or r["touchpoint"] in q.returns}
        if q.mode == "on_or_after":
            ks = set(range(min(max(ks), q.periods) + 1)) if ks else set()
        revenue: dict[int, float] = defaultdict(float)
        for r in later:
            if r["value"] is not None:
                revenue[k_of(r["ts"])] += r["value"]
        members[(group, _index(a["ts"], q.cohort))].append((a["ts"], ks, revenue))
    out = {}
    for (group, cohort), people in members.items():
        last = max(p[0] for p in people)
        for k in range(q.periods + 1):
            if q.calendar:
                ends = _start(_index(last, q.period) + k + 1, q.period)
            else:
                ends = last + timedelta(seconds=(k + 1) * ROLL[q.period])
            seen = ends <= end
            out[(group, _start(cohort, q.cohort).date(), k)] = (
                len(people), sum(k in p[1] for p in people) if seen else None,
                sum(p[2].get(k, 0.0) for p in people) if seen else None)
    return out


def as_dict(result: Any) -> dict[tuple[str, date, int], tuple[int, int | None, float | None]]:
    return {(r.group, pd.Timestamp(r.cohort).date(), int(r.k)):
            (int(r.size), None if pd.isna(r.retained) else int(r.retained),
             None if pd.isna(r.revenue) else float(r.revenue)) for r in result.table.itertuples()}


def close(a: dict[Any, Any], b: dict[Any, Any]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        (sa, ra, va), (sb, rb, vb) = a[key], b[key]
        assert (sa, ra) == (sb, rb), key
        assert (va is None) == (vb is None) and (va is None or math.isclose(va, vb, abs_tol=1e-9)), key


MINUTES = st.sampled_from([0, 1, 60, 719, 1439, 1440, 1441])
EVENT = st.tuples(st.sampled_from("pqrst"), st.integers(0, 75), MINUTES, st.sampled_from(["a", "b", "c"]),
                  st.sampled_from([None, 1.0, 2.5]), st.sampled_from(["x", "y", None]))
QUERY = st.builds(RetentionQuery, cohort=st.sampled_from(["day", "week", "month"]),
                  period=st.sampled_from(["day", "week", "month"]), periods=st.integers(1, 5),
                  calendar=st.booleans(), mode=st.sampled_from(["on", "on_or_after"]),
                  start=st.sampled_from([None, "a"]), returns=st.sampled_from([(), ("b",), ("a", "c")]),
                  breakdown=st.sampled_from([None, "attr"]))


def log_of(evs: list[tuple[Any, ...]]) -> pd.DataFrame:
    # Z spans 100 days with every touchpoint, so every query has two periods and known touchpoints
    fixed = [("Z", 0, "a", None, None, "x"), ("Z", 100 * DAY, "b", None, 1.0, "y"), ("Z", 100 * DAY + 1, "c", None, None, "y")]
    rows = fixed + [(c, d * DAY + m, tp, None, v, attr) for c, d, m, tp, v, attr in evs]
    return frame([r[:5] for r in rows], extra={"attr": [r[5] for r in rows]})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(evs=st.lists(EVENT, min_size=1, max_size=30), q=QUERY)
def test_matches_the_reference_on_duckdb(duck, evs, q):
    df = log_of(evs)
    close(as_dict(compute_retention(duck.table(df), q)), reference(records(df), q))


def test_page_settings_round_trip_through_the_link():
    from dataclasses import replace

    from journeys.analyses.palive import PAliveQuery
    from journeys.retention_view import RetentionPage
    from journeys.views import ViewState

    page = RetentionPage(retention=RetentionQuery(cohort="month", period="day", periods=14, calendar=True,
                                                  mode="on_or_after", start="signup", breakdown="device"),
                         lifecycle_interval="month", churn_interval="week", last_k=3, churn_breakdown="country",
                         palive=PAliveQuery(purchases=("order",), until=date(2025, 6, 30), horizon_weeks=13),
                         holdout_weeks=8, band="active", measure="revenue", sankey_active=True, group="mobile",
                         churn_path=("email_open", "ad_impression"))
    params = ViewState(retention=page).to_params()
    assert params == {"rc": "month", "rp": "day", "rn": "14", "rcal": "1", "rm": "on_or_after", "rs": "signup",
                      "rbd": "device", "li": "month", "chi": "week", "chk": "3", "chbd": "country", "pp": "order",
                      "pu": "2025-06-30", "pah": "13", "pho": "8", "pb": "active", "rme": "revenue", "chb": "1",
                      "rg": "mobile", "chp": "email_open > ad_impression"}
    back, problems = ViewState.from_params({k: [v] for k, v in params.items()})
    assert back.retention == page and problems == []
    assert ViewState(retention=replace(page, measure="pct")).to_params().get("rme") is None
    _, problems = ViewState.from_params({"rm": ["after"], "pho": ["-1"]})
    assert problems == [("The link's retention mode 'after' could not be used (expected one of on, on_or_after); "
                        "the default applies."),
                        ("The link's hold-out '-1' could not be used (expected a positive number of weeks); "
                        "the default applies.")]


def test_no_two_pages_read_the_same_link_parameter():
    # Retention's P(alive) horizon in weeks once shared "ph" with Predict's horizon in days
    from journeys.act_view import URL_KEYS as ACT
    from journeys.analyses.attribution import URL_KEYS as ATTRIBUTION
    from journeys.analyses.drivers import URL_KEYS as DRIVERS
    from journeys.analyses.voice import URL_KEYS as VOICE
    from journeys.outcomes import URL_KEYS as OUTCOMES
    from journeys.retention_view import URL_KEYS as RETENTION

    pages = [ACT, ATTRIBUTION, DRIVERS, VOICE, OUTCOMES, RETENTION]
    every = [k for keys in pages for k in keys]
    assert len(every) == len(set(every)), sorted(k for k in set(every) if every.count(k) > 1)


def test_the_heat_map_top_row_is_an_average_of_percentages_and_a_total_of_counts(duck):
    from journeys.charts_retention import retention_heatmap

    r = compute_retention(duck.table(frame(LOG)), RetentionQuery(periods=4))
    pct = retention_heatmap(r, ALL, "pct").data[0]
    assert pct.y[0] == "Average (3)" and pct.z[0][3] == 0.5 and pct.zmax == 1.0  # C came back at k=1
    counts = retention_heatmap(r, ALL, "retained").data[0]
    assert counts.y[0] == "All cohorts (3)" and list(counts.z[0][:4]) == [3, 2, 0, 1]
    assert counts.zmax == 1  # the cohorts' largest return (A at k=1 and k=3), not the total's 2
    revenue = retention_heatmap(r, ALL, "revenue").data[0]
    assert revenue.y[0] == "All cohorts (3)" and revenue.zmax == 5.0
