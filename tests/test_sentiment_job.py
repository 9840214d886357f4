"""The background sentiment backfill: the same values as the CLI's, exact progress counts, and a clean stop
when the store closes or the dataset is deleted."""

from __future__ import annotations

import threading

import pytest

import journeys.io.sentiment as sentiment
from journeys.engine.store import Store
from journeys.io.sentiment import SentimentScorer
from journeys.io.sentiment_job import BackfillProgress, ensure_backfill, has_pending

# 9 texts, 5 distinct; 2 scored inline (the most frequent, ties by text: "Great service" x3, "Friendly agent" x2),
# so 4 rows of 3 distinct texts wait
TEXTS = (["Great service"] * 3 + ["Still not resolved"] * 2 + ["Friendly agent"] * 2
         + ["Still waiting", "Waited 40 minutes on hold"])
MAP = {"customer": "customer", "timestamp": "time", "touchpoint": "event", "text": "comment"}
WAIT_S = 60  # a bound for waits on events, never an assertion on time


@pytest.fixture
def csv(tmp_path, monkeypatch):
    monkeypatch.setattr(sentiment, "INLINE_DISTINCT", 2)
    path = tmp_path / "e.csv"
    path.write_text("customer,time,event,comment\n" + "".join(
        f"c{i},2025-01-01T00:00:{i:02d}Z,chat,{t}\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def scorer():
    return SentimentScorer()


def _stored(store, dataset):
    got = store.table(dataset).to_pandas().sort_values("ts")
    return list(zip(got.text, got.sentiment, got.sentiment_band, got.language, strict=True))


class Gated(SentimentScorer):
    """A scorer that waits for ``gate`` before each chunk, telling ``entered`` it got there."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.gate = threading.Event(), threading.Event()

    def frame(self, texts):  # type: ignore[override]
        self.entered.set()
        assert self.gate.wait(WAIT_S)
        return super().frame(texts)


def test_job_scores_what_the_cli_backfill_scores_with_exact_progress(tmp_path, csv, scorer):
    cli = Store(tmp_path / "cli")
    ds_cli = cli.ingest(csv, overrides=MAP).dataset_id
    assert sentiment.backfill_dataset(cli, ds_cli, scorer) == 3
    expected = _stored(cli, ds_cli)
    cli.close()
    # the reference by hand: every text scored text by text
    assert [(t, s, b, lang) for t, s, b, lang in expected] == [(t, *_value(scorer, t)) for t in TEXTS]

    store = Store(tmp_path / "job")
    ds = store.ingest(csv, overrides=MAP).dataset_id
    assert has_pending(store, ds)
    seen: list[BackfillProgress] = []
    job = ensure_backfill(store, ds, scorer=scorer, chunk=2, listener=seen.append)
    assert job is not None
    final = job.join(WAIT_S)
    assert _stored(store, ds) == expected
    # pending in text order: "Still not resolved" (2 rows), "Still waiting" (1); then "Waited 40 minutes on hold" (1)
    assert [(p.scored, p.distinct_done, p.distinct_left, p.version) for p in seen] == [(8, 2, 1, 1), (9, 3, 0, 2)]
    assert (final.state, final.texts, final.scored, final.distinct_left) == ("done", 9, 9, 0)
    assert final.sentence() == "Sentiment: all 9 texts scored (the last 3 distinct texts in the background)."
    assert not has_pending(store, ds)
    assert ensure_backfill(store, ds) is job  # one job per dataset: nothing new to do, the same job answers
    store.close()


def _value(scorer, text):
    lang, value, band = scorer.score(text)
    return value, band, lang


def test_journeys_the_store_kept_are_shaped_again_after_the_backfill(tmp_path, csv, scorer):
    from journeys.analyses import summary
    from journeys.analyses.base import journeys_for
    from journeys.shaping import Shaping

    store = Store(tmp_path / "home")
    ds = store.ingest(csv, overrides=MAP).dataset_id
    sessions = Shaping(scope="session")  # reshaped journeys are kept in the store (journeys.engine.derived)
    before = journeys_for(store.table(ds), sessions).to_pandas()
    assert (before.language == "pending").sum() == 4
    kept = summary.prepare(store.table(ds))  # journey summaries hold no sentiment: they stay
    derived = "SELECT holds FROM derived WHERE dataset_id = ? ORDER BY holds"
    assert len(store.cursor().execute(derived, [ds]).fetchall()) == len(kept) + 1
    job = ensure_backfill(store, ds, scorer=scorer)
    assert job is not None and job.join(WAIT_S).state == "done"
    assert [r[0] for r in store.cursor().execute(derived, [ds]).fetchall()] == sorted(kept)
    after = journeys_for(store.table(ds), sessions).to_pandas().sort_values("ts")
    assert list(zip(after.text, after.sentiment, strict=True)) == [(t, _value(scorer, t)[0]) for t in TEXTS]
    store.close()


def test_a_new_load_with_pending_texts_starts_a_new_job(tmp_path, csv, scorer):
    store = Store(tmp_path / "home")
    ds = store.ingest(csv, overrides=MAP).dataset_id
    first = ensure_backfill(store, ds, scorer=scorer)
    assert first is not None and first.join(WAIT_S).state == "done"
    more = tmp_path / "more.csv"
    more.write_text("customer,time,event,comment\n" + "".join(
        f"d{i},2025-01-02T00:00:{i:02d}Z,chat,{t}\n" for i, t in enumerate(["Nice", "Nice", "Rude agent", "Slow"])),
        encoding="utf-8")
    store.ingest(more, overrides=MAP, into=ds)  # "Nice" and "Rude agent" (ties go by text) are scored at load
    second = ensure_backfill(store, ds, scorer=scorer)
    assert second is not None and second is not first
    final = second.join(WAIT_S)
    assert (final.state, final.texts, final.scored, final.distinct_done) == ("done", 13, 13, 1)
    store.close()


def _blocked_job(home):
    """A store, its dataset, and a job blocked in its first chunk's scoring (until ``gated.gate`` is set)."""
    store = Store(home)
    ds = store.ingest(home.parent / "e.csv", overrides=MAP).dataset_id
    gated = Gated()
    job = ensure_backfill(store, ds, scorer=gated, chunk=1)
    assert job is not None and gated.entered.wait(WAIT_S)
    return store, ds, gated, job


def test_closing_the_store_stops_the_job_before_it_writes(tmp_path, csv):
    store, ds, gated, job = _blocked_job(tmp_path / "home")
    closer = threading.Thread(target=store.close)
    closer.start()
    assert job._stop.wait(WAIT_S)  # close asked the job to stop, and waits for it
    gated.gate.set()
    closer.join(WAIT_S)
    final = job.progress()
    assert (final.state, final.reason, final.version, final.scored) == ("stopped", "the store was closed", 0, 5)
    assert "scoring in the background stopped (the store was closed)" in final.sentence()
    again = Store(tmp_path / "home", read_only=True)
    assert again.cursor().execute(f"SELECT count(*) FROM ev_{ds} WHERE language = 'pending'").fetchone() == (4,)
    again.close()


def test_deleting_the_dataset_stops_the_job_with_a_reason(tmp_path, csv):
    store, ds, gated, job = _blocked_job(tmp_path / "home")
    store.delete(ds)
    gated.gate.set()
    final = job.join(WAIT_S)
    assert (final.state, final.reason) == ("stopped", "the dataset was deleted")
    assert final.sentence() == ("Sentiment: 5 of 9 texts scored; scoring in the background stopped (the dataset was "
                                "deleted). Figures cover only the scored texts; journeys sentiment --dataset NAME "
                                "scores the rest when the dashboard is stopped.")
    store.close()


def test_progress_sentence_while_running():
    p = BackfillProgress("x", 1_000_000, 340_000, distinct_done=240_000, distinct_left=660_000, seconds=240.0)
    # 1,000 distinct texts a second, 660,000 left: 660 s, 11 min
    assert p.sentence() == ("Sentiment: 340,000 of 1,000,000 texts scored; the rest are being scored in the "
                            "background (about 11 min left).")
    assert BackfillProgress("x", 10, 4).sentence() == ("Sentiment: 4 of 10 texts scored; the rest are being scored "
                                                       "in the background (estimating the time left).")


def test_read_only_store_starts_no_job(tmp_path, csv):
    store = Store(tmp_path / "home")
    ds = store.ingest(csv, overrides=MAP).dataset_id
    store.close()
    reader = Store(tmp_path / "home", read_only=True)
    assert ensure_backfill(reader, ds) is None
    reader.close()


def test_cli_backfill_beside_the_dashboard_says_the_dashboard_scores_them(tmp_path, csv):
    import subprocess
    import sys
    from pathlib import Path

    store = Store(tmp_path / "home")  # this process holds the store, as the dashboard does
    store.ingest(csv, overrides=MAP, name="chats")
    try:
        out = subprocess.run([sys.executable, "-m", "journeys", "sentiment", "--dataset", "chats"], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parents[1],
                             env={"JOURNEYS_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"})
    finally:
        store.close()
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "If it is the dashboard, it scores the texts a load left pending in the background by itself" in out.stderr
