"""Churn: rates, revenue lost, time to churn, churn paths and the 'ends with a churn path' segment, by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from journeys.analyses.base import journeys_for
from journeys.analyses.churn import ACTIVE_NODE, CHURNED_NODE, ChurnQuery, compute_churn, customers_on_path
from journeys.errors import QueryError
from journeys.outcomes import Outcomes
from journeys.segments import Filter, Segment, matching_customers
from journeys.shaping import Shaping
from tests.conftest import frame

DAY = 24 * 60
# BASE is 2025-03-01 09:00; the data ends on day 41 (April 11).
LOG = [
    ("A", 0, "home", None, 50.0), ("A", 20 * DAY, "chat", None, 10.0), ("A", 25 * DAY, "call_centre"),
    ("A", 40 * DAY, "account_closed"), ("A", 41 * DAY, "home"),
    ("B", 5 * DAY, "home"), ("B", 6 * DAY, "chat"), ("B", 7 * DAY, "purchase", None, 30.0),
    ("C", 10 * DAY, "account_closed"),
    ("D", 1 * DAY, "home", None, 7.0), ("D", 2 * DAY, "call_centre"), ("D", 3 * DAY, "account_closed"),
    ("E", 35 * DAY, "home"), ("E", 36 * DAY, "purchase"),
]
EXPLICIT = ChurnQuery(outcomes=Outcomes(churn_touchpoints=("account_closed",)), last_k=2)


@pytest.fixture
def events(duck):
    return duck.table(frame(LOG))


def test_explicit_churn_rates_revenue_and_time(events):
    r = compute_churn(events, EXPLICIT)
    assert (r.customers, r.churned, r.active) == (5, 3, 2)
    assert r.definition() == "churned = did account_closed"
    cohorts = {str(c.date()): (n, k) for c, n, k in zip(r.by_cohort.cohort, r.by_cohort.customers, r.by_cohort.churned,
                                                         strict=True)}
    assert cohorts == {"2025-03-01": (4, 3), "2025-04-01": (1, 0)}
    # March: 4 customers there, C and D leave (1/2); April: 5 - 2 = 3 there, A leaves, but April has not ended
    t = r.over_time
    assert list(t.customers) == [4, 3] and list(t.churned) == [2, 1] and list(t.known) == [True, False]
    assert t.rate.iloc[0] == 0.5 and pd.isna(t.rate.iloc[1])
    # the 30 days up to churn: A's chat (10; the home 40 days before is out), D's home (7)
    assert (r.revenue_lost, r.revenue_customers) == (17.0, 2)
    # A 40 days after its first event (week 5), C at once, D after 2 days
    assert dict(zip(r.time_to_churn.weeks, r.time_to_churn.churned, strict=True)) == {0: 2, 5: 1}


def test_churn_paths_end_at_churned_and_leave_out_the_churn_event(events):
    r = compute_churn(events, EXPLICIT)
    links = {(s, t, n) for s, t, n in zip(r.links.source, r.links.target, r.links.customers, strict=True)}
    assert links == {
        ("-1 · call_centre", CHURNED_NODE, 2), ("-1 · purchase", ACTIVE_NODE, 2),
        ("-2 · chat", "-1 · call_centre", 1), ("-2 · home", "-1 · call_centre", 1),
        ("-2 · chat", "-1 · purchase", 1), ("-2 · home", "-1 · purchase", 1),
    }
    assert r.no_history == 1  # C closed the account as its first event
    over = r.overrepresented.set_index("touchpoint")
    assert over.loc["call_centre", ["churned_with", "active_with"]].tolist() == [2, 0]
    assert over.loc["purchase", ["churned_with", "active_with"]].tolist() == [0, 2]
    assert over.loc["chat", "churned_share"] == 0.5 and over.loc["chat", "lift"] == 1.0
    assert math.isinf(over.loc["call_centre", "lift"])
    assert not over.ranked.any()  # four customers are far below the floors: badges, not ranks
    assert over.badge.str.startswith("too few customers to rank").all()


def test_inactivity_churn_is_censored(events):
    r = compute_churn(events, ChurnQuery(outcomes=Outcomes(inactivity_days=30), last_k=2))
    # the data ends on day 41: B (day 7), C (day 10) and D (day 3) have been silent for 30+ days; A and E not
    assert (r.churned, r.active) == (3, 2)
    assert r.inactivity is not None and r.inactivity.chosen
    # March and April end later than 30 days before the data's end: too recent to know, so no rate
    assert r.over_time.rate.isna().all()
    links = {(s, t, n) for s, t, n in zip(r.links.source, r.links.target, r.links.customers, strict=True)}
    assert ("-1 · account_closed", CHURNED_NODE, 2) in links  # C and D: silence after the close counts
    assert ("-1 · home", ACTIVE_NODE, 1) in links  # A's last event


def test_breakdown_by_attribute(duck):
    df = frame(LOG, extra={"device": ["m" if r[0] in "AB" else "d" for r in LOG]})
    r = compute_churn(duck.table(df), ChurnQuery(outcomes=EXPLICIT.outcomes, breakdown="device"))
    assert r.by_group is not None
    got = {g: (n, k) for g, n, k in zip(r.by_group.group, r.by_group.customers, r.by_group.churned, strict=True)}
    assert got == {"d": (3, 2), "m": (2, 1)}
    low, high = r.by_group.set_index("group").loc["m", ["rate_low", "rate_high"]]
    assert low < 0.5 < high


def test_bad_input(events):
    with pytest.raises(QueryError, match="Unknown churn touchpoint 'acount_closed'. Did you mean 'account_closed'"):
        compute_churn(events, ChurnQuery(outcomes=Outcomes(churn_touchpoints=("acount_closed",))))
    with pytest.raises(QueryError, match=r"inactivity threshold \(60 days\) is longer than the data spans"):
        compute_churn(events, ChurnQuery(outcomes=Outcomes(inactivity_days=60)))
    with pytest.raises(QueryError, match="last 1 to 10 touchpoints"):
        compute_churn(events, ChurnQuery(last_k=11))


def test_segment_of_customers_ending_with_a_churn_path(events):
    person = journeys_for(events, Shaping())
    seg = Segment((Filter("ends_with", ("chat", "purchase")),))
    assert sorted(matching_customers(person, seg).to_pandas().customer_id) == ["B"]
    one = Segment((Filter("ends_with", ("purchase",)),))
    assert sorted(matching_customers(person, one).to_pandas().customer_id) == ["B", "E"]
    assert seg.describe() == "customers who ended with chat > purchase"
    assert Segment.from_param(seg.to_param()) == seg
    with pytest.raises(QueryError, match="needs at least one touchpoint"):
        Segment((Filter("ends_with", ()),)).validate()


def test_top_churn_paths_and_who_follows_them_today(events):
    r = compute_churn(events, EXPLICIT)
    paths = {p: (c, a) for p, c, a in zip(r.paths.path, r.paths.churned, r.paths.active, strict=True)}
    assert paths == {("chat", "call_centre"): (1, 0), ("home", "call_centre"): (1, 0)}
    assert customers_on_path(events, EXPLICIT, ("purchase",)) == ["B", "E"]
    assert customers_on_path(events, EXPLICIT, ("chat", "purchase")) == ["B"]
    assert customers_on_path(events, EXPLICIT, ("call_centre",)) == []  # A and D already churned


def test_a_cohort_first_seen_within_the_inactivity_window_has_no_rate(events):
    # data ends April 11 09:00; with 30 days of inactivity the cut-off is March 12 09:00: a customer first seen
    # after it cannot have been seen to churn, so neither the April cohort (E) nor March (whose period runs to
    # April 1, partly after the cut-off) has a rate, though their counts stand: B (last seen March 8), C (March 11)
    # and D (March 4) churned, A (April 11) did not
    r = compute_churn(events, ChurnQuery(outcomes=Outcomes(inactivity_days=30), interval="month"))
    rows = {str(c.date()): (n, k, rate) for c, n, k, rate in
            zip(r.by_cohort.cohort, r.by_cohort.customers, r.by_cohort.churned, r.by_cohort.rate, strict=True)}
    assert rows["2025-03-01"][:2] == (4, 3) and math.isnan(rows["2025-03-01"][2])
    assert rows["2025-04-01"][:2] == (1, 0) and math.isnan(rows["2025-04-01"][2])
    assert r.by_cohort.rate_low.isna().tolist() == [True, True]
    # with 5 days the cut-off is April 6 09:00: March is wholly known (3 of 4 churned), April is not
    r = compute_churn(events, ChurnQuery(outcomes=Outcomes(inactivity_days=5), interval="month"))
    assert r.by_cohort.rate.iloc[0] == 0.75 and r.by_cohort.rate_low.isna().tolist() == [False, True]
    known = r.over_time.set_index("period").known  # the churn-rate chart marks the same periods
    assert bool(known[pd.Timestamp("2025-03-01")]) and not bool(known[pd.Timestamp("2025-04-01")])


def test_a_segment_keeps_everyones_default_inactivity_threshold(duck):
    # X buys on days 0 and 36 (one 36-day gap), Y on days 0 to 9 (nine 1-day gaps): everyone's p90 is 1 day, so
    # the threshold is the 30-day floor; X's own p90 would be 36 days
    rows = [("X", 0, "purchase"), ("X", 36 * DAY, "purchase"), ("X", 40 * DAY, "home")]
    rows += [("Y", d * DAY, "purchase") for d in range(10)]
    events = duck.table(frame(rows))
    q = ChurnQuery(outcomes=Outcomes(goals=("purchase",)))
    x = journeys_for(events, Shaping(), Segment((Filter("did", ("home",)),)))
    assert compute_churn(events, q).inactivity.days == 30
    assert compute_churn(x, q).inactivity.days == 36  # the segment alone
    kept = compute_churn(x, q, whole=events)
    assert kept.inactivity.days == 30 and kept.customers == 1 and kept.churned == 0  # X was seen 0 days before the end
    assert customers_on_path(x, q, ("home",), whole=events) == ["X"]


def test_a_path_shorter_than_k_is_a_whole_history(events):
    from journeys.segments import START

    # B: home > chat > purchase; E: home > purchase (both still active with explicit churn)
    assert customers_on_path(events, EXPLICIT, ("home", "purchase")) == ["E"]
    assert customers_on_path(events, EXPLICIT, (START, "home", "purchase")) == ["E"]
    assert customers_on_path(events, EXPLICIT, (START, "purchase")) == []  # both did something before
    assert customers_on_path(events, EXPLICIT, (START, "home", "chat", "purchase")) == ["B"]
    whole = Segment((Filter("ends_with", (START, "home", "purchase")),))
    j = journeys_for(events, Shaping())
    assert sorted(matching_customers(j, whole).to_pandas().customer_id) == ["E"]
    assert sorted(matching_customers(j, Segment((Filter("ends_with", ("purchase",)),))).to_pandas()
                  .customer_id) == ["B", "E"]
    assert whole.describe() == "customers who did only home > purchase (their whole journey)"
    with pytest.raises(QueryError, match="at least one touchpoint after its start"):
        Filter("ends_with", (START,)).validate()


def test_who_follows_each_top_path_today_is_its_still_active_count(tmp_path):
    import pyarrow.csv as pacsv

    from journeys.engine.store import Store
    from journeys.sample import generate
    from journeys.segments import START

    pacsv.write_csv(generate(6000, seed=4), tmp_path / "shop.csv")
    store = Store(tmp_path / "home")
    j = journeys_for(store.table(store.ingest(tmp_path / "shop.csv").dataset_id), Shaping())
    short = 0
    for query in (ChurnQuery(outcomes=Outcomes(goals=("purchase",)), last_k=3), EXPLICIT):
        top = compute_churn(j, query).paths
        short += int((top.path.map(len) < query.last_k).sum())
        for path, active in zip(top.path, top.active, strict=True):
            named = path if len(path) >= query.last_k else (START, *path)
            assert len(customers_on_path(j, query, named)) == active, (path, active)
    assert short > 0  # whole short histories were among them


def test_a_segment_without_the_goal_is_measured_not_refused(duck):
    from journeys.analyses.palive import PAliveQuery, compute_palive

    rows = [("X", 0, "purchase"), ("X", 36 * DAY, "purchase"), ("X", 40 * DAY, "home")]
    rows += [("Y", d * DAY, "purchase") for d in range(10)] + [("Z", 0, "email_open")]
    events = duck.table(frame(rows))
    z = journeys_for(events, Shaping(), Segment((Filter("did", ("email_open",)),)))  # Z never bought
    q = ChurnQuery(outcomes=Outcomes(goals=("purchase",)))
    with pytest.raises(QueryError, match="Unknown goal touchpoint 'purchase'"):
        compute_churn(z, q)  # on its own the segment does not know the goal
    from journeys.outcomes import data_end

    r = compute_churn(z, q, whole=events, end=data_end(events))
    assert (r.customers, r.churned, r.inactivity.days) == (1, 1, 30)  # silent since day 0 of 40: churned
    with pytest.raises(QueryError, match="No customer did 'purchase'"):
        compute_palive(z, PAliveQuery(), whole=events)
    # drivers of churn in a segment keep everyone's threshold too (the segment alone has no purchase gaps)
    from journeys.analyses.drivers_candidates import population

    x = journeys_for(events, Shaping(), Segment((Filter("did", ("home",)),)))
    o = Outcomes(goals=("purchase",))
    assert population(x, "churn", o, None, end=data_end(events)).outcome_sentence.startswith(
        "Churned means no event for 36 days")
    assert population(x, "churn", o, None, end=data_end(events), whole=events).outcome_sentence.startswith(
        "Churned means no event for 30 days")
