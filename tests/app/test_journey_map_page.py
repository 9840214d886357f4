"""Journey map page: stage columns, pain points from the core's numbers."""

from __future__ import annotations

from journeys.analyses.base import journeys_for
from journeys.analyses.journey_map import compute_journey_map, infer_stages
from journeys.shaping import Shaping
from tests.app.conftest import _store, app, texts


def test_journey_map(sample_id):
    at = app("screens/journey_map.py", ds=sample_id)
    assert not at.exception
    j = journeys_for(_store().table(sample_id), Shaping(goal="purchase"))
    tps = sorted(j.touchpoint.to_pandas().unique())
    expected = compute_journey_map(j, infer_stages(tps), goal="purchase")
    pain = expected.touchpoints[expected.touchpoints.pain_point]
    captions = " ".join(texts(at, "caption"))
    flagged = [t for t in texts(at, "markdown") if "Pain point" in t]
    assert sorted(flagged) == sorted(f":red[**Pain point** · {row.drop_offs:,} journeys end here unconverted]"
                                     for row in pain.itertuples())
    assert f"{expected.journeys:,} journeys." in captions
    cards = [t for t in texts(at, "text") if "reach ·" in t]
    assert len(cards) == len(expected.touchpoints)
    tp = expected.touchpoints.set_index("touchpoint")
    pv = tp.loc["product_view"]
    card = next(t for t in cards if t.startswith(f"{pv.reach:.0%} reach · {pv.journeys:,} journeys"))
    assert f"then {pv.top_next} ({pv.top_next_share:.0%})" in card
    assert f"{pv.conversion_onward:.0%} convert after" in card
    assert not any(" - " in c or "None" in c or "nan" in c for c in cards)  # no empty values printed


def test_without_a_goal_nothing_is_a_pain_point(sample_id):
    at = app("screens/journey_map.py", ds=sample_id, goal="")
    at.selectbox(key="sb_goal").set_value("").run()
    assert not at.exception
    assert not [t for t in texts(at, "markdown") if "Pain point" in t]
    assert any("to flag pain points" in i for i in texts(at, "info"))


def test_emotion_curve_has_whole_score_ticks_and_explains_a_lone_stage(sample_id):
    import json

    at = app("screens/journey_map.py", ds=sample_id)
    assert not at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    curve = next(s for s in specs if any(t.get("name") == "average sentiment" for t in s["data"]))
    axis = curve["layout"]["yaxis2"]
    assert axis["dtick"] == 1 and axis["tickformat"] == "d"  # 1, 2, 3 ... never 2.496
    assert axis["range"] == [0.9, 5.1]  # the sample's scores sit on the CSAT 1-5 scale
    # on the sample chat and call_centre are both guessed as retention: one point, said in words
    assert any("Only one stage (Retention)" in c for c in texts(at, "caption"))


def test_stage_edits_from_a_link_shape_the_map_and_the_voice_page(sample_id):
    """chat is guessed as retention; the link moves it to purchase. The map, its reach and the VoC page's emotion
    curve then use the edited stage, as the CLI's --stage does."""
    from journeys.analyses.journey_map import edited_stages

    at = app("screens/journey_map.py", ds=sample_id, stg="chat=purchase")
    assert not at.exception
    j = journeys_for(_store().table(sample_id), Shaping(goal="purchase"))
    tps = sorted(j.touchpoint.to_pandas().unique())
    stages = edited_stages(tps, (("chat", "purchase"),))
    assert dict(stages)["chat"] == "purchase" and dict(infer_stages(tps))["chat"] == "retention"
    expected = compute_journey_map(j, stages, goal="purchase")
    purchase = float(expected.stages.set_index("stage").reach["purchase"])
    assert f"{purchase:.0%} of journeys" in texts(at, "caption")
    assert "Stages: 1 edited; the link keeps it." in texts(at, "caption")
    assert at.query_params["stg"] == "chat=purchase"
    # guessed, all feedback (chat, call_centre) sits in retention: one point; edited, chat's own stage fills in
    for link, lone in (("", True), ("chat=purchase", False)):
        voice = app("screens/voice.py", ds=sample_id, **({"stg": link} if link else {}))
        assert not voice.exception
        assert any("Only one stage (Retention)" in c for c in texts(voice, "caption")) is lone
