"""A big load's texts are scored in the background while the dashboard runs: the Voice page and the sidebar say how
far it has got and that the figures cover only the scored texts; once done, the figures cover every text."""

from __future__ import annotations

import journeys.io.sentiment as sentiment
import journeys.io.sentiment_job as sentiment_job
from journeys.io.sentiment_job import ensure_backfill
from tests.app.conftest import _store, app, texts
from tests.test_sentiment_job import MAP, TEXTS, WAIT_S, Gated

PAGE = "screens/voice.py"


def test_voice_page_shows_background_progress_then_all_texts(sample_id, write, monkeypatch):
    monkeypatch.setattr(sentiment, "INLINE_DISTINCT", 2)  # 5 of 9 texts scored at load, 4 (3 distinct) left
    store = _store()
    path = write("chats.csv", "customer,time,event,comment\n" + "".join(
        f"c{i},2025-01-01T00:00:{i:02d}Z,chat,{t}\n" for i, t in enumerate(TEXTS)))
    gated = Gated()  # the job's scorer: held before its first write
    monkeypatch.setattr(sentiment_job, "default_scorer", lambda: gated)
    ds = store.ingest(path, overrides=MAP, name="chats").dataset_id
    try:
        assert gated.entered.wait(WAIT_S)  # the dashboard's store started the job after the load, by itself
        job = ensure_backfill(store, ds)  # the one job of the dataset
        assert job is not None and job.running
        at = app(PAGE, ds=ds)
        assert not at.exception
        running = ("Sentiment: 5 of 9 texts scored; the rest are being scored in the background "
                   "(estimating the time left).")
        assert running in texts(at.main, "info")
        assert running in texts(at.sidebar, "caption")
        assert any("Sentiment scored for 56% of 9 texts (English 56%); 44% not scored yet, so the figures cover only "
                   "the scored texts (they are being scored in the background)." in c for c in texts(at, "caption"))
        jm = app("screens/journey_map.py", ds=ds)  # the emotion curve under the stages says so too
        assert not jm.exception
        assert running + " The emotion curve covers only the scored texts." in texts(jm.main, "caption")
        gated.gate.set()
        assert job.join(WAIT_S).state == "done"
        at.run()
        assert not at.exception
        assert not [t for t in texts(at.main, "info") if t.startswith("Sentiment:")]
        assert any(c.startswith("Sentiment scored for 100% of 9 texts (English 100%).") for c in texts(at, "caption"))
        # the page ran again on every text: the sidebar has no progress and no Refresh to offer
        assert not [t for t in texts(at.sidebar, "info") + texts(at.sidebar, "caption") if t.startswith("Sentiment:")]
    finally:
        gated.gate.set()
        store.delete(ds)
