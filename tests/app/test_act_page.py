"""Act page: next best action equals the core's, an action list saved as an audience, pushed to a local webhook
and measured against its control group; the Predict page's band saved as an audience too."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace as dc_replace
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from journeys.analyses.nba import Measurement, NBAQuery, compute_nba
from journeys.audiences import Audiences
from journeys.outcomes import Outcomes
from tests.app.conftest import app, texts

ACTIONS = ["store_visit", "chat", "email_open"]


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


def _frame(at, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_nba_save_push_and_measure(home, sample_id, hook):
    from app import state

    at = app("screens/act.py", ds=sample_id, acts=",".join(ACTIONS), og="purchase")
    assert not at.exception, at.exception
    expected = compute_nba(state.store().table(sample_id), NBAQuery(actions=tuple(ACTIONS), outcomes=Outcomes(goals=("purchase",))))
    shown = _frame(at, "uplift")
    rec = expected.customers[expected.customers.action != ""]
    assert len(shown) == min(400, len(rec)) and list(shown.customer_id[:20]) == list(rec.customer_id[:20])
    assert shown.uplift.to_numpy()[:20] == pytest.approx(rec.uplift.to_numpy()[:20])
    assert set(shown.action) <= set(ACTIONS) and (shown.support >= 30).all()
    assert at.get("plotly_chart")
    at.text_input(key="act_aud_name").set_value("Store invite")
    at.button(key="act_save_btn").click().run()
    assert not at.exception
    assert any("Saved 'Store invite'" in s for s in texts(at, "success"))
    a = Audiences(home).get("Store invite")
    assert a.size == len(rec) and a.control == int(rec.control.sum()) and a.kind == "nba"
    # the caption counts the control group the audience holds, not the control among every open journey
    assert any(f"{a.control:,} of them are in the seeded 10% control group" in c for c in texts(at, "caption"))
    url, got = hook
    at.text_input(key="act_url").set_value(url).run()
    at.button(key="act_push").click().run()
    assert not at.exception
    assert any(s.startswith(f"Pushed {a.size - a.control:,} members") for s in texts(at, "success"))
    assert got and got[0]["action"] == "members" and got[0]["parameters"]["audience_name"] == "Store invite"
    assert Audiences(home).get("Store invite").last_push
    listed = _frame(at, "last push (UTC)")  # the push ran before the page: its list shows it at once
    assert listed.loc[listed.audience == "Store invite", "last push (UTC)"].iloc[0] != "never"
    at.multiselect(key="act_mgoal").set_value(["purchase"]).run()
    assert not at.exception
    # measured from the save date (today), which is after the sample's last event: one sentence says so, and no
    # "+0.0 pp" stands beside it
    pushed = Audiences(home).get("Store invite")
    assert pushed.handed_over == pushed.last_push  # measured from the push: when the list left for the tools
    assert at.date_input(key="act_since").value == datetime.fromisoformat(pushed.last_push).date()
    end = state.store().table(sample_id).ts.max().execute()
    assert f"The data ends on {end.date()}, before {a.refreshed[:10]}" in " ".join(texts(at, "warning"))
    assert not any(m.label == "Actioned minus control" for m in at.metric)
    assert not any("actioned customers did purchase" in c for c in texts(at, "caption"))
    at.date_input(key="act_since").set_value(date(2025, 6, 1)).run()
    assert any(m.label == "Actioned minus control" for m in at.metric)
    # before the push nobody acted: the difference is shown, and said to be a pre-period one
    assert texts(at, "warning") == [Measurement(datetime(2025, 6, 1), ("purchase",), 0, 0, 0, 0, 0, 0, 0,
                                                             handed_over=datetime.fromisoformat(pushed.last_push)).early()]
    assert any(c.startswith("Since 2025-06-01") and "actioned customers did purchase" in c
               for c in texts(at, "caption"))


def test_a_bad_webhook_is_a_sentence(home, sample_id):
    Audiences(home).list() or pytest.skip("needs an audience from the previous test")
    at = app("screens/act.py", ds=sample_id)
    at.text_input(key="act_url").set_value("ftp://nowhere").run()
    at.button(key="act_push").click().run()
    assert not at.exception
    assert any("must start with http:// or https://" in e for e in texts(at, "error"))


def test_predict_band_saved_as_audience(home, sample_id):
    at = app("screens/predict.py", ds=sample_id, band="0.9:1")
    shown = _frame(at, "reasons")
    at.text_input(key="pr_aud_name").set_value("Churn risk")
    at.button(key="pr_save_btn").click().run()
    assert not at.exception
    a = Audiences(home).get("Churn risk")
    members = Audiences(home).members(a)
    assert a.kind == "score_band" and a.definition["low"] == 0.9 and a.size >= len(shown)
    assert members.score.min() >= 0.9 and (members.reason != "").all()


def test_a_name_that_cannot_name_an_audience_is_a_sentence_not_a_traceback(home, sample_id):
    at = app("screens/predict.py", ds=sample_id, band="0.9:1")
    at.text_input(key="pr_aud_name").set_value("Nov: at risk!")
    at.button(key="pr_save_btn").click().run()
    assert not at.exception
    assert any("cannot name an audience" in e for e in texts(at, "error"))
    assert at.get("plotly_chart")  # the rest of the page is still there
    at = app("screens/act.py", ds=sample_id, acts=",".join(ACTIONS), og="purchase")
    at.text_input(key="act_aud_name").set_value("Store/invite?")
    at.button(key="act_save_btn").click().run()
    assert not at.exception
    assert any("cannot name an audience" in e for e in texts(at, "error"))
    at.text_input(key="act_aud_name").set_value("  ")  # blank: asked for, not ignored
    at.button(key="act_save_btn").click().run()
    assert any(e.startswith("Give the audience a name.") for e in texts(at, "error"))


def test_a_taken_name_is_replaced_only_when_ticked(home, sample_id):
    before = Audiences(home).get("Churn risk")  # saved by test_predict_band_saved_as_audience
    at = app("screens/predict.py", ds=sample_id, band="0.95:1")
    at.text_input(key="pr_aud_name").set_value("Churn risk")
    at.button(key="pr_save_btn").click().run()
    assert not at.exception
    assert any(e.startswith("An audience named 'Churn risk' exists already") for e in texts(at, "error"))
    assert Audiences(home).get("Churn risk") == before
    at.text_input(key="pr_aud_name").set_value("Churn risk")
    at.checkbox(key="pr_aud_replace").check()
    at.button(key="pr_save_btn").click().run()
    after = Audiences(home).get("Churn risk")
    assert after.id == before.id and after.definition["low"] == 0.95 and after.size <= before.size
    assert any(s.startswith("Saved 'Churn risk'") for s in texts(at, "success"))


def test_refresh_runs_before_the_page_so_the_list_shows_it(home, sample_id):
    from app.act_ui import utc_minute

    Audiences(home).list() or pytest.skip("needs an audience from the earlier tests")
    at = app("screens/act.py", ds=sample_id)
    name = at.selectbox(key="act_aud").value
    book = Audiences(home)
    old = book.get(name)  # as if refreshed long ago: the list must show the new time, not this one
    (book.root / old.id / "audience.json").write_text(dc_replace(old, refreshed="2020-01-01T00:00:00+00:00").to_json())
    at.button(key="act_refresh").click().run()
    assert not at.exception
    a = Audiences(home).get(name)
    assert any(s == f"Refreshed: {a.size:,} members." for s in texts(at, "success"))
    listed = _frame(at, "refreshed (UTC)")
    assert listed.loc[listed.audience == name, "refreshed (UTC)"].iloc[0] == utc_minute(a.refreshed) != "2020-01-01 00:00"
