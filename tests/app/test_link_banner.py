"""Every problem with a link lands in one banner at the top, naming the value it fell back to."""

from __future__ import annotations

from tests.app.conftest import app, texts


def _banner(at) -> list[str]:
    return [t for t in texts(at, "text") if t.startswith("• ")]


def test_unknown_goal_is_in_the_banner_with_its_replacement(sample_id):
    at = app(ds=sample_id, goal="purchse")
    assert not at.exception
    assert _banner(at) == [("• The goal touchpoint 'purchse' is not in this dataset. Did you mean 'purchase'? "
                           "Using 'purchase' instead.")]
    assert at.query_params["goal"] == "purchase"


def test_unknown_breakdown_column_is_reported_not_dropped(sample_id):
    at = app("screens/funnels.py", ds=sample_id, bd="devise")
    assert not at.exception
    assert _banner(at) == [("• The breakdown column 'devise' is not in this dataset. Did you mean 'device'? "
                           "Using 'device' instead.")]


def test_unreadable_segment_says_so_without_parser_noise(sample_id):
    at = app(ds=sample_id, seg="{bad")
    assert not at.exception
    assert _banner(at) == ["• The segment in the link could not be read, so no segment is applied (all customers)."]
    assert "seg" not in at.query_params


def test_reversed_date_range_falls_back_to_the_whole_range(sample_id):
    at = app(ds=sample_id, **{"from": "2025-06-01", "to": "2025-02-01"})
    assert not at.exception
    assert _banner(at) == [("• The date range in the link ends (2025-02-01) before it starts (2025-06-01), so the whole "
                           "date range is shown.")]
    assert any(c.startswith("Covers ") for c in texts(at, "caption"))


def test_several_problems_share_one_banner_and_it_can_be_dismissed(sample_id):
    at = app(ds=sample_id, goal="nope", depth="99", zz="1")
    assert not at.exception
    assert len(_banner(at)) == 3
    assert [w for w in texts(at, "warning") if w.startswith("This link")] == [
        "This link could not be used exactly as it is (3 problems):"]
    at.button(key="link_dismiss").click().run()
    assert _banner(at) == []


def test_long_values_are_shortened_when_echoed(sample_id):
    at = app(ds=sample_id, depth="9" * 500)
    assert not at.exception
    (line,) = _banner(at)
    assert len(line) < 200 and "…" in line


def test_an_empty_page_still_shows_the_banner_and_follows_the_url(sample_id):
    from journeys.segments import Filter, Segment

    nobody = Segment((Filter("attribute", ("martian",), column="device"),))
    at = app(ds=sample_id, seg=nobody.to_param(), goal="purchse", foo="1")
    assert not at.exception
    assert any(i.startswith("No journeys") for i in texts(at, "info"))
    assert len(_banner(at)) == 2  # the goal typo and the unknown parameter
    assert at.query_params["goal"] == "purchase" and "foo" not in at.query_params


def test_a_link_without_a_dataset_keeps_its_dates_for_the_dataset_shown(sample_id):
    from datetime import date

    from journeys.analyses.base import journeys_for
    from journeys.analyses.paths import PathQuery, compute_paths
    from journeys.shaping import Shaping
    from journeys.views import filter_dates
    from tests.app.conftest import _store

    at = app(**{"from": "2025-03-01", "to": "2025-04-15"})
    assert not at.exception and _banner(at) == []
    assert (at.query_params["from"], at.query_params["to"]) == ("2025-03-01", "2025-04-15")
    shown = at.selectbox(key="sb_dataset").value
    events = filter_dates(_store().table(shown), date(2025, 3, 1), date(2025, 4, 15))
    r = compute_paths(journeys_for(events, Shaping(goal="purchase")), PathQuery(), goal="purchase")
    assert any(c.startswith(f"Covers {r.journeys_covered:,} of {r.journeys_total:,} journeys") for c in texts(at, "caption"))
