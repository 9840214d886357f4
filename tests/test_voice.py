"""Voice of the customer on a hand-made log: negative share, curve, snippets, terms, and behaviour after a
negative against a positive chat (counts and odds ratios worked out by hand)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import ibis
import pandas as pd
import pytest

from journeys.analyses.journey_map import infer_stages
from journeys.analyses.voice import VoicePage, compute_voice, default_query, voice_journeys
from journeys.errors import QueryError
from journeys.io.sentiment import SentimentScorer
from journeys.outcomes import Outcomes
from journeys.segments import Filter, Segment, matching_customers
from journeys.shaping import Shaping

NEG, POS = "Still not resolved", "Great service"
T0 = datetime(2025, 3, 1)


def _log() -> pd.DataFrame:
    rows: list[tuple[str, str, float | None, str | None]] = []

    def customer(cid: str, *events: tuple[str, float | None, str | None]) -> None:
        rows.extend((cid, tp, score, text) for tp, score, text in events)

    for i in range(40):  # negative chat: half close their account after it, half buy
        customer(f"n{i}", ("home", None, None), ("chat", 1.0, NEG), ("account_closed" if i < 20 else "purchase", None, None))
    for i in range(3):  # closed the account *before* the negative chat: not churn after it
        customer(f"b{i}", ("account_closed", None, None), ("chat", 1.0, NEG))
    for i in range(40):  # positive chat: 5 close, 35 buy
        customer(f"p{i}", ("home", None, None), ("chat", 5.0, POS), ("account_closed" if i < 5 else "purchase", None, None))
    customer("m0", ("chat", 5.0, POS), ("chat", 1.0, NEG))  # first rated chat is positive: counts there
    frame = pd.DataFrame(rows, columns=["customer_id", "touchpoint", "score", "text"])
    frame["ts"] = [T0 + timedelta(hours=k) for k in range(len(frame))]
    frame["seq"] = range(len(frame))
    frame["channel"] = "web"
    return frame


@pytest.fixture(scope="module")
def result():
    events = ibis.memtable(_log())
    tps = sorted(_log().touchpoint.unique())
    q = default_query(tps, "purchase", touchpoint="chat")
    return compute_voice(voice_journeys(events, Shaping(goal="purchase")), q)


def test_defaults_from_names():
    q = default_query(["home", "chat", "account_closed", "purchase"], "purchase")
    assert q.outcomes == Outcomes(goals=("purchase",), churn_touchpoints=("account_closed",))
    assert dict(q.stages) == dict(infer_stages(["home", "chat", "account_closed", "purchase"]))


def test_negative_share_and_curve(result):
    s = SentimentScorer()
    neg, pos = s.score(NEG)[1], s.score(POS)[1]
    chat = result.touchpoints.set_index("touchpoint").loc["chat"]
    assert (chat.texts, chat.negative, chat.positive, chat.neutral) == (85, 44, 41, 0)
    assert chat.negative_share == pytest.approx(44 / 85)
    assert chat.avg_sentiment == pytest.approx((44 * neg + 41 * pos) / 85)
    curve = result.curve.set_index("stage")
    assert curve.loc["retention"].texts == 85 and curve.loc["retention"].avg_sentiment == pytest.approx(chat.avg_sentiment)
    assert curve.loc["retention"].responses == 85 and curve.loc["retention"].avg_score == pytest.approx((44 * 1 + 41 * 5) / 85)
    assert math.isnan(curve.loc["purchase"].avg_sentiment)  # no text there: a gap, not a zero
    assert result.coverage.sentence() == "Sentiment scored for 100% of 85 texts (English 100%)."


def test_snippets_and_terms(result):
    assert result.snippets.to_dict("records") == [{"text": NEG, "sentiment": SentimentScorer().score(NEG)[1], "times": 44}]
    # 'resolved' only ever appears inside 'not resolved' (same counts): the phrase says it
    assert result.terms.term.tolist() == ["not resolved"]
    row = result.terms.iloc[0]
    assert (row.negative_texts, row.other_texts, row.negative_share) == (44, 0, 1.0)
    assert row.ratio == pytest.approx((44.5 / 45) / (0.5 / 42))


def _or_ci(a: int, b: int, c: int, d: int) -> tuple[float, float, float]:
    odds = a * d / (b * c)
    se = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    return odds, odds * math.exp(-1.959964 * se), odds * math.exp(1.959964 * se)


def test_behaviour_after_negative_against_positive(result):
    b = result.behaviour.set_index(["signal", "outcome"]).loc[("negative text", "churn")]
    # negative first: 40 + 3 (closed before: not after) = 43, 20 closed after; positive first: 40 + m0 = 41, 5 closed
    assert (b.exposed, b.baseline) == (43, 41)
    assert b.exposed_rate == pytest.approx(20 / 43) and b.baseline_rate == pytest.approx(5 / 41)
    odds, low, high = _or_ci(20, 23, 5, 36)
    assert (b.odds_ratio, b.ci_low, b.ci_high) == pytest.approx((odds, low, high), rel=1e-5)
    assert b.shown
    conv = result.behaviour.set_index(["signal", "outcome"]).loc[("negative text", "conversion")]
    assert conv.exposed_rate == pytest.approx(20 / 43) and conv.baseline_rate == pytest.approx(35 / 41)
    # the scores split the same customers the same way (1 = low, 5 = top-2-box)
    low_score = result.behaviour.set_index(["signal", "outcome"]).loc[("low score", "churn")]
    assert (low_score.exposed, low_score.baseline, low_score.odds_ratio) == (43, 41, pytest.approx(odds))
    assert result.findings()[0].startswith(f"customers with a negative text at chat: churn {20 / 43:.0%} vs {5 / 41:.0%} after "
                                           f"a positive one, OR {odds:.1f} [{low:.1f}, {high:.1f}]")


def test_unknown_touchpoint_is_a_sentence():
    events = ibis.memtable(_log())
    with pytest.raises(QueryError, match="Did you mean 'chat'"):
        compute_voice(voice_journeys(events, Shaping()), default_query(["chat"], None, touchpoint="chatt"))


def test_segment_had_a_negative_chat():
    events = voice_journeys(ibis.memtable(_log()), Shaping())
    seg = Segment((Filter("felt", ("negative", "chat")),))
    ids = set(matching_customers(events, seg).to_pandas().customer_id)
    assert ids == {f"n{i}" for i in range(40)} | {f"b{i}" for i in range(3)} | {"m0"}
    assert seg.describe() == "customers who had a negative chat"
    with pytest.raises(QueryError, match="starts with a band"):
        Filter("felt", ("angry",)).validate()


def test_page_state_round_trip():
    page, problems = VoicePage.from_params({"vtp": ["chat"], "vsc": ["0-10"]})
    assert page == VoicePage("chat", "0-10") and not problems
    assert page.to_params() == {"vtp": "chat", "vsc": "0-10"} and VoicePage().to_params() == {}


def test_no_text_and_no_score_is_an_explicit_empty_result():
    frame = _log().drop(columns=["text", "score"])
    r = compute_voice(voice_journeys(ibis.memtable(frame), Shaping()), default_query(["chat"], None))
    assert not r.has_text and r.scores is None
    assert r.coverage.sentence() == "No event has a text, so there is no sentiment to report."
    assert r.snippets.empty and r.terms.empty and r.touchpoints.empty and r.behaviour.empty
    assert r.churn.startswith("churn is not compared: the inactivity threshold (30 days) is longer")


def test_figures_show_only_ranked_touchpoints_and_escape_names():
    from journeys.charts_voice import emotion_curve_figure, negative_share_figure

    tps = pd.DataFrame({"touchpoint": ["<b>chat</b>", "call"], "stage": ["retention"] * 2, "texts": [40, 10],
                        "negative": [10, 5], "neutral": [0, 0], "positive": [30, 5], "negative_share": [0.25, None],
                        "avg_sentiment": [0.3, None], "shown": [True, False]})
    bar = negative_share_figure(tps).data[0]
    assert list(bar.y) == ["&lt;b&gt;chat&lt;/b&gt;"] and list(bar.x) == [0.25]
    curve = pd.DataFrame({"stage": ["purchase", "retention"], "texts": [0, 40], "avg_sentiment": [math.nan, 0.3],
                          "negative_share": [math.nan, 0.25], "responses": [0, 35], "avg_score": [math.nan, 3.5]})
    fig = emotion_curve_figure(curve, score_name="CSAT 1-5", score_range=(1, 5))
    assert [t.name for t in fig.data] == ["average sentiment", "average CSAT 1-5"]
    # the CSAT axis spans the scale with a little room at the ends, and ticks on whole numbers
    assert list(fig.layout.yaxis2.range) == pytest.approx([0.9, 5.1]) and fig.layout.yaxis2.dtick == 1
    assert list(fig.data[0].x) == ["Purchase", "Retention"]


def test_scores_on_an_unknown_scale_wait_for_confirmation():
    frame = _log()
    frame["score"] = frame.score.map({1.0: 20.0, 5.0: 95.0})  # a 0-100 satisfaction score
    events = ibis.memtable(frame)
    r = compute_voice(voice_journeys(events, Shaping()), default_query(sorted(frame.touchpoint.unique()), None))
    assert r.scores is None and r.scores_problem.startswith("Scores run from 20 to 95 and fit no known scale")
    assert r.has_text and not r.touchpoints.empty  # the texts are still read
    confirmed = compute_voice(voice_journeys(events, Shaping()),
                              default_query(sorted(frame.touchpoint.unique()), None, scale="0-100"))
    assert confirmed.scores is not None and confirmed.scores.name == "scores 0-100"
    assert confirmed.scores.average == pytest.approx((44 * 20 + 41 * 95) / 85)


def test_a_segment_without_the_goal_or_churn_touchpoints_still_has_a_voice():
    """The goal and churn touchpoints are the dataset's: a segment whose customers never bought or closed (the
    segment 'Open as segment' makes from a negative chat can be such) is not a typo; an empty one is a sentence."""
    events = ibis.memtable(_log())
    tps = sorted(_log().touchpoint.unique())
    q = default_query(tps, "purchase", touchpoint="chat")
    never = Segment((Filter("did_not", ("purchase",)), Filter("did_not", ("account_closed",))))
    r = compute_voice(voice_journeys(events, Shaping(goal="purchase"), never), q, known=tps)
    assert r.coverage.texts == 2 and r.snippets.text.iloc[0] == NEG  # m0 alone: a positive, then a negative chat
    with pytest.raises(QueryError, match="Unknown goal touchpoint 'purchase'"):  # without the dataset's, it reads as one
        compute_voice(voice_journeys(events, Shaping(goal="purchase"), never), q)
    nobody = Segment((Filter("did", ("purchase",)), Filter("did_not", ("home",)), Filter("did_not", ("chat",))))
    with pytest.raises(QueryError, match="^No customer matched the segment"):
        compute_voice(voice_journeys(events, Shaping(goal="purchase"), nobody), q, known=tps)
