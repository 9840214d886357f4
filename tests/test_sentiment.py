"""Sentiment: bands, VADER's arithmetic by hand, the service supplement, other languages, user lexicons,
coverage, the ingest hook (each distinct text scored once) and the CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import duckdb
import ibis
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from journeys.errors import InputError
from journeys.io.language import detect_language
from journeys.io.sentiment import (
    Coverage,
    SentimentScorer,
    add_sentiment,
    backfill_sentiment,
    band,
    read_lexicon,
    with_sentiment,
)

ROOT = Path(__file__).resolve().parents[1]
PLAIN = SentimentIntensityAnalyzer()


def vader_norm(total: float) -> float:
    """VADER's compound: x / sqrt(x^2 + 15), rounded to 4 places."""
    return round(total / math.sqrt(total * total + 15), 4)


@pytest.fixture(scope="module")
def scorer() -> SentimentScorer:
    return SentimentScorer()


def test_bands_follow_vader_cut_points():
    assert band(0.05) == "positive" and band(-0.05) == "negative"
    assert band(0.0499) == band(-0.0499) == band(0.0) == "neutral"
    assert band(None) is None and band(float("nan")) is None


def test_english_without_service_terms_is_plain_vader(scorer):
    for text in ("I love this shop!!", "Not bad at all", "The worst experience ever :(", "It is a product."):
        assert scorer.score(text)[1] == PLAIN.polarity_scores(text)["compound"]


def test_service_supplement_by_hand(scorer):
    # plain VADER: 'support' +1.7 and 'useless' -1.8 nearly cancel: neutral
    text = "The delivery was late and support was useless."
    assert band(PLAIN.polarity_scores(text)["compound"]) == "neutral"
    # supplement: late -1.5, so -1.5 + 1.7 - 1.8 = -1.6
    assert scorer.score(text) == ("en", vader_norm(-1.6), "negative")
    # a phrase is one term: waited -1.0, 'on hold' -1.3
    assert scorer.score("Waited 40 minutes on hold") == ("en", vader_norm(-2.3), "negative")
    # 'solved my problem' +2.0 replaces VADER's solved +1.1 / problem -1.7
    assert scorer.score("Solved my problem in minutes") == ("en", vader_norm(2.0), "positive")
    assert SentimentScorer(domain=False).score(text)[1] == PLAIN.polarity_scores(text)["compound"]


@pytest.mark.parametrize(("text", "language"), [
    ("Der Service war leider schrecklich und sehr langsam", "de"),
    ("Le service client était vraiment très mauvais", "fr"),
    ("Geen antwoord van de klantenservice, heel slecht", "nl"),
    ("Это ужасный сервис, никто мне не помог", "ru"),
    ("配送が遅れた", "ja"),
    ("Friendly agent", "en"),
    ("Still not resolved", "en"),
    (":) :)", "und"),
    ("@anonymous :-)", "und"),
])
def test_language_detection(text, language):
    assert detect_language(text) == language


def test_other_languages_use_their_lexicon_and_negation(scorer):
    # de.csv: gut 3.0; 'nicht' flips it with VADER's -0.74
    assert scorer.score("Das war gut")[1] == vader_norm(3.0)
    assert scorer.score("Das war nicht gut")[1] == vader_norm(3.0 * -0.74)
    lang, value, b = scorer.score("Это ужасный сервис, никто мне не помог")
    assert (lang, value, b) == ("ru", None, None)  # no Russian lexicon: unscored, not neutral
    # emoticons read the same in every language (VADER's ':)' is 2.0)
    assert scorer.score("Доставка пришла :)") == ("ru", vader_norm(2.0), "positive")


def test_user_lexicon_adds_a_language(tmp_path):
    path = tmp_path / "es.csv"
    path.write_text("term,score\nmalo,-2.5\nlento,-1\n,2\nbueno,x\nfatal,-9\n", encoding="utf-8")
    lex = read_lexicon(path)
    assert lex.terms == {"malo": -2.5, "lento": -1.0}
    assert lex.rejected == {"empty term": 1, "score not a number": 1, "score outside -4..4": 1}
    es = SentimentScorer({"es": lex.terms})
    assert es.score("El servicio fue malo y muy lento") == ("es", vader_norm(-3.5), "negative")
    assert SentimentScorer().score("El servicio fue malo y muy lento")[1] is None
    with pytest.raises(InputError, match="header row 'term,score'"):
        read_lexicon("x.csv", text="malo,-2\n")


def test_coverage_sentence():
    langs = pd.DataFrame({"language": ["en", "ru", "de"], "texts": [79, 18, 3], "scored": [79, 0, 3]})
    assert Coverage(100, 82, langs).sentence() == (
        "Sentiment scored for 82% of 100 texts (English 79%, German 3%); 18% in languages without a lexicon (Russian).")
    assert Coverage(0, 0, langs.head(0)).sentence().startswith("No event has a text")


WORDS = ["great", "late", "useless", "support", "on", "hold", "nicht", "gut", "the", "thanks", ":)", "waited", "not"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORDS), min_size=0, max_size=6), min_size=1, max_size=40))
def test_ingest_hook_equals_scoring_each_row(scorer, rows):
    """The hook scores distinct texts once; every row must still get its own text's score."""
    texts = [" ".join(r) or None for r in rows]
    con = duckdb.connect()
    con.register("src", pd.DataFrame({"id": range(len(texts)), "text": pd.Series(texts, dtype=object)}))
    con.execute("CREATE TABLE ev AS SELECT * FROM src")
    done, distinct, covered = add_sentiment(con, "ev", scorer)
    got = con.execute("SELECT id, sentiment, sentiment_band, language FROM ev ORDER BY id").fetchall()
    assert done == distinct == len({t for t in texts if t is not None}) and covered == 1.0
    for (_i, value, b, lang), text in zip(got, texts, strict=True):
        want = scorer.score(text) if text is not None else (None, None, None)
        assert (lang, value, b) == (want[0], want[1], want[2])


def test_load_beyond_the_inline_limit_leaves_the_rare_texts_pending_then_backfills(scorer):
    texts = ["Great service"] * 5 + ["Still not resolved"] * 3 + ["Friendly agent", "Waited 40 minutes on hold"]
    con = duckdb.connect()
    con.register("src", pd.DataFrame({"id": range(len(texts)), "text": texts}))
    con.execute("CREATE TABLE ev AS SELECT * FROM src")
    assert add_sentiment(con, "ev", scorer, limit=2) == (2, 4, 0.8)  # the two most frequent: 8 of 10 texts
    pending = con.execute("SELECT text FROM ev WHERE language = 'pending' ORDER BY text").fetchall()
    assert [p[0] for p in pending] == ["Friendly agent", "Waited 40 minutes on hold"]
    seen: list[tuple[int, int]] = []
    assert backfill_sentiment(con, "ev", scorer, progress=lambda d, t: seen.append((d, t))) == 2
    assert seen == [(2, 2)]
    got = con.execute("SELECT text, sentiment, language FROM ev").fetchall()
    assert all((lang, value) == scorer.score(text)[:2] for text, value, lang in got)
    langs = pd.DataFrame({"language": ["en", "pending"], "texts": [8, 2], "scored": [8, 0]})
    assert Coverage(10, 8, langs).sentence().endswith(
        "; 20% not scored yet, so the figures cover only the scored texts (journeys sentiment --dataset NAME scores them).")
    assert Coverage(10, 8, langs).sentence(background=True).endswith(
        "; 20% not scored yet, so the figures cover only the scored texts (they are being scored in the background).")


def test_with_sentiment_scores_a_table_without_the_columns(scorer):
    frame = pd.DataFrame({"customer_id": ["a", "b", "c"], "text": ["Great service", None, "Still not resolved"]})
    out = with_sentiment(ibis.memtable(frame), scorer).to_pandas().sort_values("customer_id")
    assert list(out.sentiment_band.fillna("-")) == ["positive", "-", "negative"]
    assert out.sentiment.iloc[0] == scorer.score("Great service")[1]


def test_ingest_stores_sentiment_columns(tmp_path):
    from journeys.engine.store import Store

    csv = tmp_path / "e.csv"
    csv.write_text("customer,time,event,comment\nc1,2025-01-01T00:00:00Z,chat,Great service\n"
                   "c1,2025-01-02T00:00:00Z,call,Waited 40 minutes on hold\nc2,2025-01-01T00:00:00Z,home,\n",
                   encoding="utf-8")
    store = Store(tmp_path / "home")
    report = store.ingest(csv, overrides={"customer": "customer", "timestamp": "time", "touchpoint": "event",
                                          "text": "comment"})
    got = store.table(report.dataset_id).order_by(["customer_id", "ts"]).to_pandas()
    assert list(got.sentiment_band.fillna("-")) == ["positive", "negative", "-"]
    assert got.sentiment.iloc[1] == vader_norm(-2.3)
    store.close()


def test_big_load_leaves_rare_texts_pending_until_the_dataset_backfill(tmp_path, monkeypatch):
    import journeys.io.sentiment as sentiment
    from journeys.engine.store import Store

    monkeypatch.setattr(sentiment, "INLINE_DISTINCT", 2)
    csv = tmp_path / "e.csv"
    texts = ["Great service"] * 3 + ["Still not resolved"] * 2 + ["Friendly agent", "Waited 40 minutes on hold"]
    csv.write_text("customer,time,event,comment\n" + "".join(
        f"c{i},2025-01-01T00:00:{i:02d}Z,chat,{t}\n" for i, t in enumerate(texts)), encoding="utf-8")
    store = Store(tmp_path / "home")
    report = store.ingest(csv, overrides={"customer": "customer", "timestamp": "time", "touchpoint": "event",
                                          "text": "comment"})
    assert any("scored at load for the 2 most frequent of 4 distinct texts (71% of all texts)" in w
               for w in report.warnings)
    got = store.table(report.dataset_id).to_pandas()
    assert sorted(got.text[got.language == "pending"]) == ["Friendly agent", "Waited 40 minutes on hold"]
    assert sentiment.backfill_dataset(store, report.dataset_id) == 2
    got = store.table(report.dataset_id).to_pandas()
    assert got.sentiment.notna().all() and (got.language == "en").all()
    store.close()
    with pytest.raises(InputError, match="reading only"):
        sentiment.backfill_dataset(Store(tmp_path / "home", read_only=True), report.dataset_id)


def test_cli_sentiment_csv_and_json(tmp_path):
    lex = tmp_path / "es.csv"
    lex.write_text("term,score\nmalo,-2.5\n", encoding="utf-8")
    stdin = "The delivery was late and support was useless.\n\nEl servicio fue muy malo, una experiencia terrible\n"
    cmd = [sys.executable, "-m", "journeys", "sentiment", "-", "--lexicon", f"es={lex}"]
    out = subprocess.run([*cmd, "--format", "csv"], input=stdin, capture_output=True, text=True, cwd=ROOT, check=True,
                         env={"JOURNEYS_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    lines = out.stdout.splitlines()
    assert lines[0] == "text,language,sentiment,band"
    assert lines[1] == f"The delivery was late and support was useless.,en,{vader_norm(-1.6)},negative"
    assert len(lines) == 3 and lines[2].split(",")[-2:] == [str(vader_norm(-2.5)), "negative"]
    js = subprocess.run([*cmd, "--format", "json"], input=stdin, capture_output=True, text=True, cwd=ROOT, check=True,
                        env={"JOURNEYS_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    data = json.loads(js.stdout)
    assert data["scored"] == 2 and data["texts"][1]["language"] == "es"
    bad = subprocess.run([sys.executable, "-m", "journeys", "sentiment", str(tmp_path / "none.txt")],
                         capture_output=True, text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin"})
    assert bad.returncode == 2 and "could not be read" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize(("html_text", "plain"), [
    ("<p>Terrible service</p>", "Terrible service"),
    ("<b>Terrible</b> service", "Terrible service"),
    ('<img src="x" onerror="alert(1)">Terrible <b>service</b>, nobody helped', "Terrible service , nobody helped"),
    ("Fish &amp; chips <br/>were <i>awful</i>", "Fish & chips were awful"),
])
def test_markup_is_read_as_the_text_it_wraps(scorer, html_text, plain):
    from journeys.io.language import plain_text

    assert plain_text(html_text) == plain
    assert scorer.score(html_text) == scorer.score(plain)


def test_text_without_tags_is_read_as_it_is():
    from journeys.io.language import plain_text

    for text in ("I love it <3", "a < b > c", "Fish &amp; chips", "2 < 3"):
        assert plain_text(text) == text
