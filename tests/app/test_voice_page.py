"""Voice of the customer page: the planted service problem shows, and the page equals the CLI."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.app.conftest import ROOT, app, texts

PAGE = "screens/voice.py"


def _cli(home, dataset: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "journeys", "voice", dataset, *args, "--format", "json"], cwd=ROOT,
                         env={"JOURNEYS_HOME": str(home), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_planted_service_problem_and_page_equals_cli(home, sample_id):
    at = app(PAGE, ds=sample_id, goal="purchase")
    assert not at.exception
    warnings = texts(at, "warning")
    # the sample plants churn after a low-CSAT call: the page leads with it, in numbers
    assert any("low score at call_centre: churn" in w for w in warnings), warnings
    cli = _cli(home, sample_id, "--goal", "purchase")
    assert cli["findings"] and any("call_centre" in f for f in cli["findings"])
    for finding in cli["findings"]:
        assert any(finding[1:] in w for w in warnings)  # same sentence, same numbers
    captions = " ".join(texts(at, "caption"))
    assert cli["coverage"]["sentence"] in captions
    # the touchpoint table shows what the CLI says
    frames = [e.value for e in at.dataframe]
    tp = next(f for f in frames if "% negative" in f.columns and "touchpoint" in f.columns)
    chat = next(r for r in cli["touchpoints"] if r["touchpoint"] == "chat")
    row = tp[tp["touchpoint"] == "chat"].iloc[0]
    assert int(row["texts"]) == chat["texts"] and int(row["negative"]) == chat["negative"]


def test_snippets_are_plain_text_and_follow_the_link(home, sample_id):
    at = app(PAGE, ds=sample_id, vtp="call_centre")
    assert not at.exception
    assert at.selectbox(key="voice_tp").value == "call_centre"
    shown = [t.value for t in at.text]
    cli = _cli(home, sample_id, "--touchpoint", "call_centre")
    assert cli["snippets"]
    for s in cli["snippets"]:
        assert f"{s['sentiment']:+.2f}  ×{s['times']:,}  {s['text']}" in shown


def test_bad_scale_in_link_is_reported(sample_id):
    at = app(PAGE, ds=sample_id, vsc="five")
    assert not at.exception
    assert at.selectbox(key="voice_scale").value == "auto"


def test_journey_map_draws_the_same_emotion_curve(home, sample_id):
    at = app("screens/journey_map.py", ds=sample_id)
    assert not at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    curve = next(s for s in specs if any(t.get("name") == "average sentiment" for t in s["data"]))
    trace = next(t for t in curve["data"] if t.get("name") == "average sentiment")
    cli = {r["stage"].capitalize(): r for r in _cli(home, sample_id)["curve"]}
    y = trace["y"]
    if isinstance(y, dict):  # plotly sends numbers as a typed array
        y = np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]).tolist()
    values = dict(zip(trace["x"], y, strict=True))
    assert values["Retention"] == pytest.approx(cli["Retention"]["avg_sentiment"])
    assert all(x in cli for x in trace["x"])


def test_open_had_a_negative_chat_as_segment(sample_id):
    at = app(PAGE, ds=sample_id, vtp="chat")
    assert "Segment: customers who had a negative chat" in [t.value for t in at.text]
    before = _chat_row(at)
    at.button(key="voice_seg").click().run()
    assert not at.exception
    seg = at.query_params["seg"]
    assert json.loads(seg if isinstance(seg, str) else seg[0]) == {"c": "and", "i": [{"k": "felt", "v": ["negative", "chat"]}]}
    # the segment holds: every text row left belongs to customers who had a negative chat
    chat = _chat_row(at)
    assert int(chat["negative"]) == int(before["negative"])  # the same negative chats, now among fewer texts
    assert int(chat["texts"]) < int(before["texts"])


def _chat_row(at):
    frames = [e.value for e in at.dataframe]
    tp = next(f for f in frames if "% negative" in f.columns and "touchpoint" in f.columns)
    return tp[tp["touchpoint"] == "chat"].iloc[0]


def test_a_lone_stage_on_the_curve_is_explained_and_the_score_axis_is_whole(sample_id):
    at = app(PAGE, ds=sample_id)
    assert not at.exception
    assert any("Only one stage (Retention)" in c for c in texts(at, "caption"))
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    curve = next(s for s in specs if any(t.get("name") == "average sentiment" for t in s["data"]))
    assert curve["layout"]["yaxis2"]["dtick"] == 1 and curve["layout"]["yaxis2"]["tickformat"] == "d"


def test_scores_off_every_known_scale_and_no_text_ask_for_the_scale(home, sample_id, tmp_path):
    """Scores from -3 to 11 fit no known scale: the page asks for it (it used to say there was no score column)."""
    from app import state

    rows = ["customer,ts,touchpoint,csat"] + [f"c{i},2025-03-01 10:{i % 60:02d}:00,chat,{(i % 15) - 3}" for i in range(60)]
    path = tmp_path / "scores_only.csv"
    path.write_text("\n".join(rows) + "\n")
    store = state.store()
    dataset = store.ingest(path, overrides={"customer": "customer", "timestamp": "ts", "touchpoint": "touchpoint",
                                            "score": "csat"}, name="scores only").dataset_id
    at = app(PAGE, ds=dataset)
    assert not at.exception
    assert any("has scores but no text" in c for c in texts(at, "caption"))
    assert at.text_input(key="voice_custom") is not None and not any("no score column" in i for i in texts(at, "info"))
    at.selectbox(key="voice_scale").set_value("0-10").run()  # NPS 0-10: the 3 negative values are off it
    assert [m.value for m in at.metric if m.label == "Responses"] == ["44"]  # -3..11, four times each: 16 off 0-10
    assert any(c.startswith("16 scores off the 0-10 scale were left out") for c in texts(at, "caption"))


def test_a_confirmed_scale_outside_the_presets_shows_as_itself(sample_id):
    """A link with vsc=1-10 (a scale people confirm by hand) once crashed the scale picker's labels."""
    at = app("screens/voice.py", ds=sample_id, vsc="1-10")
    assert not at.exception
    assert at.selectbox(key="voice_scale").value == "1-10"
