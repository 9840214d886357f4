"""Sentiment of the ``text`` role, offline: a score from -1 to 1 and a band, per language.

English is VADER (``vaderSentiment`` ships its lexicon) plus a small customer-service supplement;
German, French and Dutch use the bundled lexicons in ``lexicons/`` with VADER's rules; a user adds a
``term,score`` CSV per language in ``$JOURNEYS_HOME/lexicons/<language>.csv``. Texts in a language
without a lexicon keep their language and get no score (coverage says how many), unless they hold
emoticons (":)", ":-("), which read the same in every language and are then all that is scored.

Scoring runs once per *distinct* text (service texts repeat), at ingest, into the stored columns
``sentiment``, ``sentiment_band`` and ``language``. Bands follow VADER: compound >= 0.05 positive,
<= -0.05 negative, neutral between.
"""

from __future__ import annotations

import csv
import io
import os
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
from vaderSentiment.vaderSentiment import N_SCALAR, SentimentIntensityAnalyzer

from journeys.engine import derived
from journeys.errors import InputError
from journeys.io.language import detect_language, language_name, plain_text

Band = Literal["negative", "neutral", "positive"]
BANDS: tuple[Band, ...] = ("negative", "neutral", "positive")
BAND_CUT = 0.05
SCORE_RANGE = 4.0  # lexicon scores live on VADER's -4..4 scale
SENTIMENT_COLUMNS = ("sentiment", "sentiment_band", "language")
LEXICON_DIR = Path(__file__).parent / "lexicons"
BUNDLED = ("de", "fr", "nl")
#: negation words of the bundled languages (VADER's own list is English)
NEGATORS: dict[str, frozenset[str]] = {
    "de": frozenset(["nicht", "kein", "keine", "keinen", "keiner", "nie", "niemals", "nichts", "niemand"]),
    "fr": frozenset(["pas", "jamais", "rien", "personne", "aucun", "aucune", "sans"]),
    "nl": frozenset(["niet", "geen", "nooit", "niets", "niemand", "zonder"]),
}


def band(score: float | None) -> Band | None:
    """VADER's bands on the compound score."""
    if score is None or score != score:  # None or NaN
        return None
    return "positive" if score >= BAND_CUT else "negative" if score <= -BAND_CUT else "neutral"


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Terms of one language read from a CSV, and the rows that were rejected, by reason."""

    terms: dict[str, float]
    rejected: dict[str, int] = field(default_factory=dict)

    def sentence(self, name: str) -> str:
        bad = "; ".join(f"{reason}: {n:,}" for reason, n in self.rejected.items())
        return f"{name}: {len(self.terms):,} terms" + (f" ({bad} rejected)" if bad else "")


def read_lexicon(source: str | Path, *, text: str | None = None) -> Lexicon:
    """Read a ``term,score`` CSV (scores -4..4). Bad rows are counted by reason, not fatal."""
    name = str(source)
    if text is None:
        try:
            text = Path(source).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"The lexicon '{name}' could not be read ({err}).") from err
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["term", "score"]:
        raise InputError(f"The lexicon '{name}' needs a header row 'term,score'.", hint="E.g. 'useless,-1.8'.")
    terms: dict[str, float] = {}
    rejected: dict[str, int] = {}
    for row in rows[1:]:
        if not row or not any(c.strip() for c in row):
            continue
        term = " ".join(row[0].lower().split())
        reason = None
        try:
            score = float(row[1]) if len(row) > 1 else float("nan")
        except ValueError:
            score = float("nan")
        if not term:
            reason = "empty term"
        elif score != score:
            reason = "score not a number"
        elif abs(score) > SCORE_RANGE:
            reason = "score outside -4..4"
        if reason:
            rejected[reason] = rejected.get(reason, 0) + 1
        else:
            terms[term] = score
    return Lexicon(terms, rejected)


def user_lexicon_dir() -> Path:
    """Where a user's lexicons live: ``$JOURNEYS_HOME/lexicons`` (the store's home)."""
    return Path(os.environ.get("JOURNEYS_HOME", ".journeys")) / "lexicons"


class _Analyzer(SentimentIntensityAnalyzer):  # type: ignore[misc]
    """VADER's rules over a given lexicon; phrases (terms with spaces) become single tokens first."""

    def __init__(self, base: SentimentIntensityAnalyzer, terms: Mapping[str, float], negators: frozenset[str]) -> None:
        self.lexicon = {k: v for k, v in terms.items() if " " not in k}
        self.lexicon.update({k.replace(" ", "_"): v for k, v in terms.items() if " " in k})
        self.emojis = base.emojis
        self.negators = negators
        phrases = sorted((k for k in terms if " " in k), key=len, reverse=True)
        self.phrase_re = re.compile(r"\b(" + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in phrases) + r")\b",
                                    re.IGNORECASE) if phrases else None

    def compound(self, text: str) -> float:
        if self.phrase_re is not None:
            text = self.phrase_re.sub(lambda m: "_".join(m.group(0).lower().split()), text)
        return float(self.polarity_scores(text)["compound"])

    def _negation_check(self, valence: float, words_and_emoticons: list[str], start_i: int, i: int) -> float:
        if not self.negators:
            return float(super()._negation_check(valence, words_and_emoticons, start_i, i))
        back = words_and_emoticons[i - (start_i + 1)].lower() if i > start_i else ""
        return valence * N_SCALAR if back in self.negators else valence


@cache
def _vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


class SentimentScorer:
    """Scores texts per detected language. ``user`` maps a language code to extra terms (they win over
    bundled ones); ``domain`` adds the customer-service supplement to English."""

    def __init__(self, user: Mapping[str, Mapping[str, float]] | None = None, *, domain: bool = True) -> None:
        base = _vader()
        lexicons: dict[str, dict[str, float]] = {"en": dict(base.lexicon)}
        if domain:
            lexicons["en"].update(read_lexicon(LEXICON_DIR / "service_en.csv").terms)
        # emoticons (":)", "<3") read the same in every language: every lexicon starts with VADER's
        emoticons = {k: v for k, v in base.lexicon.items()
                     if sum(c.isalpha() for c in k) <= 1 and any(not c.isalnum() for c in k)}
        for lang in BUNDLED:
            lexicons[lang] = emoticons | read_lexicon(LEXICON_DIR / f"{lang}.csv").terms
        for lang, terms in (user or {}).items():
            lexicons.setdefault(lang, dict(emoticons)).update(terms)
        self.languages = tuple(sorted(lexicons))
        self._analyzers = {lang: _Analyzer(base, terms, NEGATORS.get(lang, frozenset()))
                           for lang, terms in lexicons.items()}
        self._emoticons = _Analyzer(base, emoticons, frozenset())
        self._english_words = frozenset(w for w in lexicons["en"] if w.isalpha())
        self._lexicon_words = {lang: frozenset(t) for lang, t in lexicons.items() if lang != "en"}

    def language(self, text: str) -> str:
        return detect_language(text, self._english_words, self._lexicon_words)

    def score(self, text: str) -> tuple[str, float | None, Band | None]:
        """(language, compound score or None when the language has no lexicon, band) of the text as read (an
        e-mail body's markup left out: "<b>Terrible</b> service" is "Terrible service")."""
        text = plain_text(text)
        lang = self.language(text)
        # no letters: emoticons and emoji read the same in every language, so VADER's English rules apply
        analyzer = self._analyzers.get("en" if lang == "und" else lang)
        if analyzer is None:
            # a language without a lexicon: only its emoticons (":)", ":-(") can be read
            if not any(tok.lower() in self._emoticons.lexicon for tok in text.split()):
                return lang, None, None
            analyzer = self._emoticons
        value = analyzer.compound(text)
        return lang, value, band(value)

    def frame(self, texts: Iterable[str]) -> pd.DataFrame:
        """``text, language, sentiment, sentiment_band`` for each distinct text."""
        distinct = list(dict.fromkeys(t for t in texts if isinstance(t, str)))
        rows = [self.score(t) for t in distinct]
        return pd.DataFrame({
            "text": pd.Series(distinct, dtype=object),
            "language": pd.Series([r[0] for r in rows], dtype=object),
            "sentiment": pd.Series([r[1] for r in rows], dtype="float64"),
            "sentiment_band": pd.Series([r[2] for r in rows], dtype=object),
        })


def load_user_lexicons(folder: Path | None = None, extra: Mapping[str, str | Path] | None = None) -> dict[str, Lexicon]:
    """User lexicons: every ``<language>.csv`` in ``folder`` (default :func:`user_lexicon_dir`), then ``extra``."""
    found: dict[str, Lexicon] = {}
    folder = folder or user_lexicon_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*.csv")):
            found[path.stem.lower()] = read_lexicon(path)
    for lang, given in (extra or {}).items():
        found[lang.lower()] = read_lexicon(given)
    return found


def _signature(folder: Path) -> tuple[tuple[str, float], ...]:
    if not folder.is_dir():
        return ()
    return tuple((p.name, p.stat().st_mtime) for p in sorted(folder.glob("*.csv")))


@cache
def _default_scorer(folder: str, signature: tuple[tuple[str, float], ...]) -> SentimentScorer:
    lexicons = load_user_lexicons(Path(folder))
    return SentimentScorer({lang: lex.terms for lang, lex in lexicons.items()})


def default_scorer() -> SentimentScorer:
    """The scorer with the user's lexicons; rebuilt when a lexicon file changes."""
    folder = user_lexicon_dir()
    return _default_scorer(str(folder), _signature(folder))


#: distinct texts scored inside a load (~0.3 ms each on one core: about 30 s); the rest wait for a backfill
INLINE_DISTINCT = 100_000
PENDING = "pending"  # the language of a text the load left for the backfill
BACKFILL_CHUNK = 20_000


def sentiment_transform(con: Any, staged: Any) -> None:
    """Ingest hook (``journeys.engine.ingest.transform_staged``): the sentiment columns on ``_staged``, kept
    in the stored table as attributes. Beyond :data:`INLINE_DISTINCT` distinct texts, the most frequent ones
    are scored now and the load report says how the rest get scored (the dashboard's background job,
    :mod:`journeys.io.sentiment_job`, or ``journeys sentiment --dataset``)."""
    done, distinct, covered = add_sentiment(con, "_staged", limit=INLINE_DISTINCT)
    staged.attributes.extend(c for c in SENTIMENT_COLUMNS if c not in staged.attributes)
    if done < distinct:
        staged.warnings.append(
            f"Sentiment was scored at load for the {done:,} most frequent of {distinct:,} distinct texts "
            f"({covered:.0%} of all texts); the dashboard scores the rest in the background while it runs, "
            "or score them with: journeys sentiment --dataset NAME.")


def _quote(table: str) -> str:
    return '"' + table.replace('"', '""') + '"'


def _update(con: Any, t: str, texts: list[str], scorer: SentimentScorer) -> None:
    _write_scores(con, t, scorer.frame(texts))


def _write_scores(con: Any, t: str, frame: pd.DataFrame, *, only_pending: bool = False) -> int:
    """Set the sentiment columns of the rows whose text is in ``frame`` (see :meth:`SentimentScorer.frame`);
    returns the number of rows changed."""
    con.register("_journeys_sentiment", pa.Table.from_pandas(frame, preserve_index=False))
    try:
        # fetch every row: DuckDB 2 refuses other work on a connection with an unfinished result
        rows = con.execute(f"UPDATE {t} SET sentiment = s.sentiment, sentiment_band = s.sentiment_band, "
                           f"language = s.language FROM _journeys_sentiment s WHERE {t}.text = s.text"
                           + (f" AND {t}.language = '{PENDING}'" if only_pending else "")).fetchall()
    finally:
        con.unregister("_journeys_sentiment")
    return int(rows[0][0]) if rows else 0


def score_pending(con: Any, table: str, frame: pd.DataFrame) -> int:
    """Write scored texts (a :meth:`SentimentScorer.frame`) to the rows of ``table`` still pending; returns
    how many rows got their score. The background job's write (:mod:`journeys.io.sentiment_job`)."""
    return _write_scores(con, _quote(table), frame, only_pending=True)


def add_sentiment(con: Any, table: str, scorer: SentimentScorer | None = None, *,
                  limit: int | None = None) -> tuple[int, int, float]:
    """Add ``sentiment``, ``sentiment_band`` and ``language`` to a DuckDB table with a ``text`` column,
    scoring each distinct text once (the ``limit`` most frequent ones; the others get language ``pending``).
    Returns (distinct texts scored, distinct texts, share of all texts scored)."""
    t = _quote(table)
    con.execute(f"ALTER TABLE {t} ADD COLUMN sentiment DOUBLE")
    con.execute(f"ALTER TABLE {t} ADD COLUMN sentiment_band VARCHAR")
    con.execute(f"ALTER TABLE {t} ADD COLUMN language VARCHAR")
    counts = con.sql(f"SELECT text, count(*) AS n FROM {t} WHERE text IS NOT NULL GROUP BY text "
                     "ORDER BY n DESC, text").to_arrow_table()
    distinct = counts.num_rows
    if distinct == 0:
        return 0, 0, 1.0
    take = distinct if limit is None else min(limit, distinct)
    _update(con, t, counts.column("text").slice(0, take).to_pylist(), scorer or default_scorer())
    n = counts.column("n").to_pylist()
    if take < distinct:
        con.execute(f"UPDATE {t} SET language = '{PENDING}' WHERE text IS NOT NULL AND language IS NULL")
    return take, distinct, sum(n[:take]) / sum(n)


def backfill_sentiment(con: Any, table: str, scorer: SentimentScorer | None = None, *,
                       progress: Callable[[int, int], None] | None = None) -> int:
    """Score the texts a load left ``pending``, in chunks, reporting (done, total) distinct texts.
    Returns how many distinct texts were scored."""
    t = _quote(table)
    texts = con.sql(f"SELECT DISTINCT text FROM {t} WHERE language = '{PENDING}' ORDER BY text").to_arrow_table()
    total = texts.num_rows
    scorer = scorer or default_scorer()
    for start in range(0, total, BACKFILL_CHUNK):
        _update(con, t, texts.column("text").slice(start, BACKFILL_CHUNK).to_pylist(), scorer)
        if progress:
            progress(min(total, start + BACKFILL_CHUNK), total)
    return int(total)


def backfill_dataset(store: Any, dataset: str, scorer: SentimentScorer | None = None, *,
                     progress: Callable[[int, int], None] | None = None) -> int:
    """:func:`backfill_sentiment` on a stored dataset (``journeys.engine.store.Store``), in one transaction."""
    if getattr(store, "read_only", False):
        raise InputError("The store is open for reading only: score the pending texts where it is writable "
                         "(stop the dashboard, then run journeys sentiment --dataset NAME).")
    table = store.get(dataset).table_name
    cur = store.cursor()
    with getattr(store, "_write_lock", None) or nullcontext():  # a background job or a load may write too
        cur.execute("BEGIN TRANSACTION")
        try:
            n = backfill_sentiment(cur, table, scorer, progress=progress)
            if n:
                derived.drop_changed_column(cur, store.get(dataset).id, "sentiment")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
    return n


@dataclass(frozen=True, slots=True)
class Coverage:
    """How many texts got a score, by language. ``languages``: language, texts, scored."""

    texts: int
    scored: int
    languages: pd.DataFrame

    @property
    def share(self) -> float:
        return self.scored / self.texts if self.texts else 0.0

    @property
    def pending(self) -> int:
        """Texts a load left for the backfill (not scored yet)."""
        return int(self.languages.texts[self.languages.language == PENDING].sum()) if len(self.languages) else 0

    def sentence(self, *, background: bool = False) -> str:
        """"Sentiment scored for 82% of texts (English 79%, German 3%); 18% in languages without a lexicon".
        Texts not scored yet are named with the way they get scored: ``background`` when a job of the
        process that holds the store scores them (the dashboard), else the command."""
        if not self.texts:
            return "No event has a text, so there is no sentiment to report."
        parts = [f"{language_name(str(r.language))} {r.scored / self.texts:.0%}"
                 for r in self.languages.itertuples() if r.scored]
        rows = list(self.languages.itertuples())
        pending = self.pending
        missing = self.texts - self.scored - pending
        tail = ""
        if missing:
            names = [language_name(str(r.language)) for r in rows if r.scored < r.texts and r.language != PENDING]
            tail = f"; {missing / self.texts:.0%} in languages without a lexicon ({', '.join(names[:5])})"
        if pending:
            how = "they are being scored in the background" if background else \
                "journeys sentiment --dataset NAME scores them"
            tail += f"; {pending / self.texts:.0%} not scored yet, so the figures cover only the scored texts ({how})"
        return (f"Sentiment scored for {self.share:.0%} of {self.texts:,} texts"
                + (f" ({', '.join(parts)})" if parts else "") + tail + ".")


def with_sentiment(events: Any, scorer: SentimentScorer | None = None) -> Any:
    """``events`` (an Ibis table) with the sentiment columns: as stored when ingest made them, else scored
    now from its distinct texts (a connected table, a Spark frame) and joined on ``text``."""
    if set(SENTIMENT_COLUMNS) <= set(events.columns):
        return events
    import ibis

    if "text" not in events.columns:
        return events.mutate(sentiment=ibis.null("float64"), sentiment_band=ibis.null("string"),
                             language=ibis.null("string"))
    texts = events.filter(events.text.notnull()).select("text").distinct().to_pandas()
    scored = (scorer or default_scorer()).frame(texts.text.tolist()).rename(columns={"text": "_s_text"})
    schema = {"_s_text": "string", "language": "string", "sentiment": "float64", "sentiment_band": "string"}
    # a real temp table (DuckDB) or view (Spark): later steps compile the expression to SQL for the raw
    # connection (materialised segments), which sees no memtable
    backend = events.get_backend()
    name = f"_journeys_sentiment_{uuid.uuid4().hex}"
    if texts.empty:
        return events.mutate(sentiment=ibis.null("float64"), sentiment_band=ibis.null("string"),
                             language=ibis.null("string"))
    if backend.name == "pyspark":
        session = backend._session
        session.createDataFrame(scored.astype({"sentiment": "float64"})).createOrReplaceTempView(name)
        lookup = backend.table(name)
    else:
        try:
            lookup = backend.create_table(name, ibis.memtable(scored, schema=schema), temp=True)
        except Exception:
            lookup = ibis.memtable(scored, schema=schema)
    base = events.drop(*[c for c in SENTIMENT_COLUMNS if c in events.columns])
    joined = base.left_join(lookup, base.text == lookup._s_text)
    return joined.drop("_s_text")
