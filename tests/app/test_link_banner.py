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
