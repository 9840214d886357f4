"""Scores: scale detection, averages, top-2-box and NPS by touchpoint/stage/channel, floors, off-scale counts."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeys.analyses.scores import RESPONSE_FLOOR, ScoresQuery, compute_scores, parse_scale
from journeys.errors import QueryError


def events(rows: list[tuple[str, str, float | None]]) -> ibis.Table:
    """(touchpoint, channel, score) rows as an events table."""
    return ibis.memtable(pd.DataFrame(rows, columns=["touchpoint", "channel", "score"]).astype({"score": "float64"}))


def test_csat_by_hand():
    # chat: 30 responses: 10 x 5, 5 x 4, 15 x 1 -> average (50 + 20 + 15) / 30, top-2-box 15/30
    # call: 20 responses of 3 -> below the floor: hidden, still counted
    rows = [("chat", "web", 5.0)] * 10 + [("chat", "app", 4.0)] * 5 + [("chat", "app", 1.0)] * 15
    rows += [("call", "phone", 3.0)] * 20 + [("home", "web", None)] * 7
    r = compute_scores(events(rows), ScoresQuery(stages=(("chat", "retention"), ("call", "retention"))))
    assert r is not None and (r.lo, r.hi, r.detected, r.name) == (1, 5, True, "CSAT 1-5")
    assert r.responses == 50 and r.out_of_scale == 0
    assert r.average == pytest.approx((50 + 20 + 15 + 60) / 50) and r.top2_share == pytest.approx(15 / 50)
    chat = r.by_touchpoint.set_index("group").loc["chat"]
    assert chat.responses == 30 and chat.average == pytest.approx(85 / 30) and chat.top2_share == pytest.approx(0.5)
    call = r.by_touchpoint.set_index("group").loc["call"]
    assert not call.shown and pd.isna(call.average) and call.responses == 20
    stage = r.by_stage.set_index("group").loc["retention"]
    assert stage.responses == 50 and stage.average == pytest.approx(145 / 50)
    ch = r.by_channel.set_index("group")
    assert not ch.loc["web"].shown and ch.loc["web"].responses == 10  # 10 < 30
    assert r.hidden() == 1 + 3  # call; web, app (20), phone (20)
    assert any("fewer than 30 responses" in s for s in r.sentences())


def test_off_scale_values_are_counted_and_left_out():
    rows = [("chat", "web", float(v)) for v in [1, 2, 3, 4, 5] * 40] + [("chat", "web", 9.0), ("chat", "web", 4.5)]
    r = compute_scores(events(rows))
    assert (r.lo, r.hi) == (1, 5) and r.responses == 200 and r.out_of_scale == 2
    assert set(r.out_of_scale_values) == {9.0, 4.5}
    assert "2 scores off the 1-5 scale were left out" in " ".join(r.sentences())


def test_detection_picks_the_smallest_scale_and_refuses_unknown_ranges():
    assert compute_scores(events([("a", "w", float(v)) for v in range(1, 8)] * 10)).name == "CSAT 1-7"
    assert compute_scores(events([("a", "w", float(v)) for v in range(11)] * 10)).name == "NPS 0-10"
    with pytest.raises(QueryError, match="fit no known scale"):
        compute_scores(events([("a", "w", float(v)) for v in range(10, 100, 7)]))
    r = compute_scores(events([("a", "w", float(v)) for v in range(10, 100, 7)]), ScoresQuery(scale="10-100"))
    assert r.name == "scores 10-100" and not r.detected and r.top2 == (99, 100)
    assert compute_scores(events([("a", "w", None)])) is None
    with pytest.raises(QueryError, match="not a range"):
        parse_scale("5-1")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["chat", "call"]), st.integers(0, 10)), min_size=1, max_size=120))
def test_nps_against_a_plain_reference(pairs):
    rows = [(tp, "web", float(v)) for tp, v in pairs]
    r = compute_scores(events(rows), ScoresQuery(scale="0-10"))
    values = [v for _, v in pairs]
    n = len(values)
    assert r.responses == n and r.average == pytest.approx(sum(values) / n)
    promoters, detractors = sum(v >= 9 for v in values), sum(v <= 6 for v in values)
    assert r.nps == pytest.approx(100 * (promoters - detractors) / n)
    assert r.top2_share == pytest.approx(promoters / n)  # top-2-box of 0-10 = the promoters
    for tp in ("chat", "call"):
        vals = [v for t, v in pairs if t == tp]
        got = r.by_touchpoint.set_index("group")
        if not vals:
            assert tp not in got.index
            continue
        row = got.loc[tp]
        assert row.responses == len(vals) and row.shown == (len(vals) >= RESPONSE_FLOOR)
        if row.shown:
            p, d = sum(v >= 9 for v in vals) / len(vals), sum(v <= 6 for v in vals) / len(vals)
            assert row.nps == pytest.approx(100 * (p - d)) and row.passives == pytest.approx(1 - p - d)


def shop_with_scores(write, extra: list[str]):
    """300 survey answers 1-5 (60 of each: average 3) after a visit, plus ``extra`` rows."""
    rows = ["customer,ts,touchpoint,score"]
    for i in range(300):
        rows += [f"c{i},2025-03-01 09:00:00,visit,", f"c{i},2025-03-01 10:00:00,survey,{i % 5 + 1}"]
    return write("s.csv", "\n".join(rows + extra) + "\n")


def test_scores_off_the_scale_are_counted_at_load_and_left_out_of_the_journey_map(store, write):
    from journeys.analyses.base import journeys_for
    from journeys.analyses.journey_map import compute_journey_map, infer_stages
    from journeys.shaping import Shaping

    path = shop_with_scores(write, ["x1,2025-03-01 10:00:00,survey,0", "x2,2025-03-01 10:00:00,survey,50",
                                       "x3,2025-03-01 10:00:00,survey,4.5", "x4,2025-03-01 10:00:00,survey,50"])
    report = store.ingest(path, overrides={"customer": "customer", "timestamp": "ts", "touchpoint": "touchpoint",
                                           "score": "score"}, name="s")
    assert report.warnings[-1] == ("4 of 304 scores are off the CSAT 1-5 scale (e.g. 50, 0, 4.5); score figures "
                                   "leave them out.")
    table = store.table(report.dataset_id)
    j = journeys_for(table, Shaping())
    jm = compute_journey_map(j, infer_stages(["visit", "survey"])).touchpoints.set_index("touchpoint")
    assert jm.avg_score["survey"] == 3.0 and pd.isna(jm.avg_score["visit"])  # the 0, 4.5 and 50s left out
    few = compute_journey_map(j.filter(j.customer_id.isin([f"c{i}" for i in range(29)])), ())
    assert pd.isna(few.touchpoints.set_index("touchpoint").avg_score["survey"])  # 29 responses: hidden, said
    assert few.score_note == "1 average is hidden: fewer than 30 responses."
    scores = compute_scores(table)
    assert scores is not None and scores.by_touchpoint.set_index("group").average["survey"] == 3.0
    # a scale given by hand is the one both use: on 0-50 the whole 0 and 50s count, 4.5 still is not whole
    wide = compute_journey_map(j, (), scale="0-50").touchpoints.set_index("touchpoint").avg_score["survey"]
    assert wide == pytest.approx((900 + 0 + 100) / 303)


def test_scores_that_fit_no_scale_are_one_load_warning_and_all_count(store, write):
    from journeys.analyses.base import journeys_for
    from journeys.analyses.journey_map import compute_journey_map
    from journeys.shaping import Shaping

    rows = ["customer,ts,touchpoint,score"] + [f"c{i},2025-03-01 10:00:00,survey,{i}" for i in range(101)]
    report = store.ingest(write("p.csv", "\n".join(rows) + "\n"), overrides={"score": "score"}, name="p")
    assert report.warnings[-1].startswith("Scores run from 0 to 100 and fit no known scale")
    j = journeys_for(store.table(report.dataset_id), Shaping())
    jm = compute_journey_map(j, ())  # as on the VoC page: no average until the scale is confirmed
    assert pd.isna(jm.touchpoints.avg_score.iloc[0]) and jm.score_note.startswith("Scores fit no known scale")
    assert compute_journey_map(j, (), scale="0-100").touchpoints.avg_score.iloc[0] == 50.0
